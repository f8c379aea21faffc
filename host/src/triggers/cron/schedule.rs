//! Cron expressions: 5 fields (`minute hour day-of-month month weekday`,
//! as crontab) or 6 (seconds first), in UTC or an IANA time zone, on top of
//! the `cron` crate.
//!
//! The `cron` crate numbers weekdays 1 (Sunday) to 7 (Saturday) and ANDs
//! day-of-month with weekday; crontab numbers them 0 (Sunday) to 6, with 7
//! Sunday too, and fires when *either* restricted day field matches. So
//! the weekday field is translated (`1-5` is Monday to Friday, as in
//! crontab), and an expression restricting both day fields becomes two
//! schedules whose ticks are merged.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::str::FromStr;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Spec {
    schedules: Vec<cron::Schedule>,
    tz: Tz,
}

/// The longest expression accepted.
pub const MAX_LEN: usize = 256;

const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Parses `expr` in `timezone` (none: UTC); the error says what is wrong.
pub fn parse(expr: &str, timezone: Option<&str>) -> Result<Spec, String> {
    let tz = match timezone {
        None => Tz::UTC,
        Some(name) => Tz::from_str(name).map_err(|_| {
            format!(
                "unknown time zone `{}`: use an IANA name such as `Europe/Paris` or `UTC`",
                name.chars().take(64).collect::<String>()
            )
        })?,
    };
    if expr.len() > MAX_LEN {
        return Err(format!(
            "the cron expression is longer than {MAX_LEN} bytes"
        ));
    }
    let expr = expr.trim();
    let expanded = NICKNAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(expr))
        .map(|(_, e)| *e)
        .unwrap_or(expr);
    let mut fields: Vec<&str> = expanded.split_whitespace().collect();
    match fields.len() {
        5 => fields.insert(0, "0"),
        6 => {}
        n => {
            return Err(format!(
                "`{expr}` has {n} fields; a cron expression has 5 (minute hour day-of-month month \
                 weekday) or 6 (second first)"
            ))
        }
    }
    let weekdays = weekday_field(fields[5]).map_err(|e| format!("`{expr}`: weekday field: {e}"))?;
    let restricted = |f: &str| f != "*" && f != "?";
    let mut variants = Vec::new();
    if restricted(fields[3]) && restricted(fields[5]) {
        // crontab: either day field may match.
        variants.push((fields[3].to_string(), "*".to_string()));
        variants.push(("*".to_string(), weekdays));
    } else {
        variants.push((fields[3].to_string(), weekdays));
    }
    let schedules = variants
        .into_iter()
        .map(|(dom, dow)| {
            let text = format!(
                "{} {} {} {dom} {} {dow}",
                fields[0], fields[1], fields[2], fields[4]
            );
            cron::Schedule::from_str(&text)
                .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = Spec { schedules, tz };
    if spec.next_after(crate::store::now_ms()).is_none() {
        return Err(format!("`{expr}` never fires"));
    }
    Ok(spec)
}

/// Translates a crontab weekday field (0-7, Sunday = 0 or 7, names
/// `sun`…`sat`, lists, ranges, steps) into the `cron` crate's numbering
/// (1 = Sunday … 7 = Saturday), as an explicit list.
fn weekday_field(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>()
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| format!("bad step `{s}`"))?,
            ),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (day(a)?, day(b)?)
        } else {
            let d = day(range)?;
            (d, if item.contains('/') { 6 } else { d })
        };
        if lo > hi {
            return Err(format!("the range `{range}` runs backwards"));
        }
        for d in (lo..=hi).step_by(step) {
            days.insert(d % 7 + 1);
        }
    }
    Ok(days
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(","))
}

fn day(s: &str) -> Result<usize, String> {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    if let Ok(n) = s.parse::<usize>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!("`{s}` is not a weekday (0-7, Sunday = 0 or 7)"))
        };
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("`{s}` is not a weekday (0-7 or sun…sat)"))
}

impl Spec {
    fn at(&self, ms: i64) -> Option<DateTime<Tz>> {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&self.tz))
    }

    /// The first tick strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let t = self.at(ms)?;
        self.schedules
            .iter()
            .filter_map(|s| s.after(&t).next())
            .map(|t| t.timestamp_millis())
            .min()
    }

    /// The latest tick at or before `ms`.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        // Ticks fall on whole seconds.
        let second = ms.div_euclid(1000) * 1000;
        let t = self.at(second)?;
        self.schedules
            .iter()
            .filter_map(|s| {
                if s.includes(t) {
                    Some(second)
                } else {
                    s.after(&t).next_back().map(|p| p.timestamp_millis())
                }
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn five_fields_fire_on_the_minute_and_six_on_the_second() {
        let s = parse("0 8 * * *", None).unwrap();
        assert_eq!(
            s.next_after(ms("2026-03-10T07:59:59.500Z")),
            Some(ms("2026-03-10T08:00:00Z"))
        );
        assert_eq!(
            s.next_after(ms("2026-03-10T08:00:00Z")),
            Some(ms("2026-03-11T08:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ms("2026-03-10T08:00:00.700Z")),
            Some(ms("2026-03-10T08:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(ms("2026-03-10T07:59:59Z")),
            Some(ms("2026-03-09T08:00:00Z"))
        );
        let every = parse("* * * * * *", None).unwrap();
        assert_eq!(
            every.next_after(ms("2026-03-10T08:00:00.200Z")),
            Some(ms("2026-03-10T08:00:01Z"))
        );
        assert_eq!(
            every.latest_at_or_before(ms("2026-03-10T08:00:00.200Z")),
            Some(ms("2026-03-10T08:00:00Z"))
        );
    }

    #[test]
    fn weekdays_are_numbered_as_in_crontab() {
        // 2026-03-13 is a Friday.
        let weekdays = parse("0 9 * * 1-5", None).unwrap();
        assert_eq!(
            weekdays.next_after(ms("2026-03-13T10:00:00Z")),
            Some(ms("2026-03-16T09:00:00Z"))
        );
        let sunday = parse("0 9 * * 7", None).unwrap();
        assert_eq!(
            sunday.next_after(ms("2026-03-13T10:00:00Z")),
            Some(ms("2026-03-15T09:00:00Z"))
        );
        assert_eq!(weekday_field("sun,sat").unwrap(), "1,7");
        assert_eq!(weekday_field("*/2").unwrap(), "1,3,5,7");
        assert_eq!(weekday_field("5-7").unwrap(), "1,6,7");
        assert!(weekday_field("8").is_err());
        assert!(weekday_field("5-1").is_err());
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either() {
        // The 1st of the month or any Monday.
        let s = parse("0 0 1 * mon", None).unwrap();
        // From Friday 2026-03-13: Monday the 16th comes before April 1st.
        assert_eq!(
            s.next_after(ms("2026-03-13T00:00:00Z")),
            Some(ms("2026-03-16T00:00:00Z"))
        );
        // From Tuesday 2026-03-31: April 1st (a Wednesday) comes first.
        assert_eq!(
            s.next_after(ms("2026-03-31T00:00:00Z")),
            Some(ms("2026-04-01T00:00:00Z"))
        );
    }

    #[test]
    fn time_zones_shift_the_ticks() {
        let s = parse("0 8 * * *", Some("Europe/Paris")).unwrap();
        // Winter: UTC+1.
        assert_eq!(
            s.next_after(ms("2026-01-10T00:00:00Z")),
            Some(ms("2026-01-10T07:00:00Z"))
        );
        // Summer: UTC+2.
        assert_eq!(
            s.next_after(ms("2026-07-10T00:00:00Z")),
            Some(ms("2026-07-10T06:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        assert!(parse("* * * *", None).unwrap_err().contains("4 fields"));
        assert!(parse("61 * * * *", None).is_err());
        assert!(parse("0 8 * * *", Some("Mars/Olympus"))
            .unwrap_err()
            .contains("time zone"));
        assert!(parse("@daily", None).is_ok());
        assert!(parse("0 0 30 2 *", None).unwrap_err().contains("never"));
    }
}
