//! Record and collection ids, and PocketBase's text timestamps.
//!
//! - A record id is PocketBase's: 15 characters of `[a-z0-9]`, random unless
//!   the client gives one (which must have the same form).
//! - Timestamps (`created`, `updated`, `date` fields) are text in
//!   PocketBase's format `YYYY-MM-DD HH:MM:SS.sssZ`, always UTC, so they sort
//!   and compare as text on both backends.

use rand::Rng;

/// Length of a record id.
pub const ID_LEN: usize = 15;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new random record id.
pub fn new_id() -> String {
    let mut rng = rand::thread_rng();
    (0..ID_LEN)
        .map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

/// Whether `id` has the form of a record id.
pub fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A new collection id, PocketBase-style (`pbc_` and 10 digits).
pub fn new_collection_id() -> String {
    format!(
        "pbc_{}",
        rand::thread_rng().gen_range(1_000_000_000u64..10_000_000_000)
    )
}

/// A new field id: the type name and 10 digits, as PocketBase makes them.
pub fn new_field_id(type_name: &str) -> String {
    format!(
        "{type_name}{}",
        rand::thread_rng().gen_range(1_000_000_000u64..10_000_000_000)
    )
}

/// The current time as PocketBase text.
pub fn now() -> String {
    format_ms(crate::store::now_ms())
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.sssZ` (the
/// filter compares dates in the same text form).
pub use super::filter::date::format_ms;
use super::filter::date::{days_from_civil, days_in_month};

/// Parses a date a client sends — PocketBase's format, RFC 3339 (`T` or a
/// space between date and time, `Z` or `±HH:MM`, optional fraction), or a
/// bare `YYYY-MM-DD` — into milliseconds since the epoch.
pub fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !(rest[0] == b'T' || rest[0] == b't' || rest[0] == b' ') || rest.len() < 9 {
        return None;
    }
    let time = &rest[1..];
    if time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (h, mi, s) = (num(&time[0..2])?, num(&time[3..5])?, num(&time[6..8])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + s.min(59)) * 1000;
    let mut tail = &time[8..];
    if tail.first() == Some(&b'.') {
        let digits = tail[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &tail[1..1 + digits];
        let mut milli = 0;
        for i in 0..3 {
            milli = milli * 10 + frac.get(i).map_or(0, |c| i64::from(c - b'0'));
        }
        ms += milli;
        tail = &tail[1 + digits..];
    }
    match tail {
        b"" | b"Z" | b"z" => Some(ms),
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let (oh, om) = (num(&[*oh1, *oh2])?, num(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = (oh * 60 + om) * 60_000;
            Some(if *sign == b'+' {
                ms - offset
            } else {
                ms + offset
            })
        }
        _ => None,
    }
}

/// A client's date in PocketBase's stored form, or none when it is not a date.
pub fn normalize_date(text: &str) -> Option<String> {
    let ms = parse_date(text)?;
    // Years 0000–9999 only, so the text keeps sorting as time does.
    (-62_167_219_200_000..=253_402_300_799_999)
        .contains(&ms)
        .then(|| format_ms(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_pocketbase_form() {
        for _ in 0..100 {
            let id = new_id();
            assert!(valid_id(&id), "{id}");
        }
        assert!(!valid_id("ABCDEFGHIJKLMNO"));
        assert!(!valid_id("abc"));
        assert!(!valid_id("abcdefghijklmn_"));
        assert!(valid_id("abcdefghijklm12"));
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(format_ms(1_709_251_200_123), "2024-03-01 00:00:00.123Z");
        for text in [
            "2024-02-29 13:14:15.678Z",
            "2024-02-29T13:14:15.678Z",
            "2024-02-29T15:14:15.678+02:00",
            "2024-02-29T13:14:15.678123Z",
        ] {
            assert_eq!(
                normalize_date(text).as_deref(),
                Some("2024-02-29 13:14:15.678Z"),
                "{text}"
            );
        }
        assert_eq!(
            normalize_date("2024-02-29").as_deref(),
            Some("2024-02-29 00:00:00.000Z")
        );
        assert_eq!(
            normalize_date("2024-01-01 00:00:00").as_deref(),
            Some("2024-01-01 00:00:00.000Z")
        );
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-01-01T25:00:00Z",
            "2024-01-01T10:00:00+5",
        ] {
            assert_eq!(normalize_date(bad), None, "{bad}");
        }
    }
}
