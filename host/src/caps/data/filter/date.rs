//! Dates as the filter sees them: text in PocketBase's stored format,
//! `YYYY-MM-DD HH:MM:SS.sssZ` (UTC), which sorts chronologically as text.
//!
//! A string compared with a `date` field is normalised to that format when
//! it is a full date-time in a common spelling (`2024-01-02T03:04:05Z`,
//! `2024-01-02 03:04`, `2024-01-02 03:04:05.5+02:00`, …), so it compares
//! correctly with the stored text; anything else (`2024-01-02`, `2024`) is
//! compared as written, which for a prefix means "sorts before that day's
//! first instant". Also here: PocketBase's `@now`, `@todayStart`, … macros.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(if m == 12 { y + 1 } else { y }, m % 12 + 1, 1) - days_from_civil(y, m, 1)
}

const DAY_MS: i64 = 86_400_000;

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS.sssZ`.
pub fn format_ms(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        t / 3_600_000,
        t / 60_000 % 60,
        t / 1000 % 60,
        t % 1000
    )
}

/// A full date-time (`YYYY-MM-DD`, then `T` or a space, `HH:MM`, optional
/// `:SS`, optional fraction, optional `Z` or `±HH:MM`/`±HHMM`) as ms since
/// the Unix epoch; `None` for anything else.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(at(4, b'-') && at(7, b'-') && (at(10, b'T') || at(10, b't') || at(10, b' '))) {
        return None;
    }
    let (hh, mm) = (num(11, 2)?, num(14, 2)?);
    if !at(13, b':') {
        return None;
    }
    let mut i = 16;
    let mut ss = 0;
    let mut frac_ms = 0;
    if at(i, b':') {
        ss = num(i + 1, 2)?;
        i += 3;
        if at(i, b'.') {
            i += 1;
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let padded = format!("{:0<3}", &s[i..i + digits.min(3)]);
            frac_ms = padded.parse::<i64>().ok()?;
            i += digits;
        }
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = if at(i + 3, b':') {
                (i + 6 == b.len()).then_some(())?;
                num(i + 4, 2)?
            } else {
                (i + 5 == b.len()).then_some(())?;
                num(i + 3, 2)?
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        Some(_) => return None,
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let ms = days_from_civil(y, m, d) * DAY_MS
        + ((hh * 60 + mm - offset_min) * 60 + ss) * 1000
        + frac_ms;
    Some(ms)
}

/// `s` in the stored format when it is a full date-time, else `s` as is.
pub fn normalize(s: &str) -> String {
    match parse_datetime(s) {
        Some(ms) => format_ms(ms),
        None => s.to_string(),
    }
}

/// A date-time macro's value at `now_ms`: a number for `@second` …
/// `@year` and `@weekday` (0 = Sunday), a date-time string for the others.
pub enum MacroValue {
    Int(i64),
    Text(String),
}

/// PocketBase's date-time macros (UTC), `None` for another name.
pub fn macro_value(name: &str, now_ms: i64) -> Option<MacroValue> {
    let day = now_ms.div_euclid(DAY_MS);
    let t = now_ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(day);
    let date = |y: i64, m: i64, d: i64, end: bool| {
        let time = if end { "23:59:59.999" } else { "00:00:00.000" };
        MacroValue::Text(format!("{y:04}-{m:02}-{d:02} {time}Z"))
    };
    Some(match name {
        "@now" => MacroValue::Text(format_ms(now_ms)),
        "@yesterday" => MacroValue::Text(format_ms(now_ms - DAY_MS)),
        "@tomorrow" => MacroValue::Text(format_ms(now_ms + DAY_MS)),
        "@second" => MacroValue::Int(t / 1000 % 60),
        "@minute" => MacroValue::Int(t / 60_000 % 60),
        "@hour" => MacroValue::Int(t / 3_600_000),
        "@day" => MacroValue::Int(d),
        "@month" => MacroValue::Int(m),
        "@year" => MacroValue::Int(y),
        "@weekday" => MacroValue::Int((day + 4).rem_euclid(7)),
        "@todayStart" => date(y, m, d, false),
        "@todayEnd" => date(y, m, d, true),
        "@monthStart" => date(y, m, 1, false),
        "@monthEnd" => date(y, m, days_in_month(y, m), true),
        "@yearStart" => date(y, 1, 1, false),
        "@yearEnd" => date(y, 12, 31, true),
        _ => return None,
    })
}
