//! Active Directory FILETIME values: 100-nanosecond intervals since 1601-01-01 UTC, as
//! `pwdLastSet`, `lockoutTime` and `badPasswordTime` hold them (0 = never / not set).

use chrono::{DateTime, Utc};

/// Seconds from 1601-01-01 to 1970-01-01.
const EPOCH_OFFSET_SECS: i64 = 11_644_473_600;
const TICKS_PER_SEC: i64 = 10_000_000;

/// The time a FILETIME attribute value stands for; `None` for 0, "never" and non-numbers.
pub fn parse(value: &str) -> Option<DateTime<Utc>> {
    let ticks: i64 = value.trim().parse().ok()?;
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    let secs = ticks / TICKS_PER_SEC - EPOCH_OFFSET_SECS;
    let nanos = (ticks % TICKS_PER_SEC) * 100;
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// A time as a FILETIME value (for tests and fixtures).
pub fn format(t: DateTime<Utc>) -> String {
    let ticks = (t.timestamp() + EPOCH_OFFSET_SECS) * TICKS_PER_SEC + i64::from(t.timestamp_subsec_nanos() / 100);
    ticks.to_string()
}

/// A domain duration attribute (`maxPwdAge`, `lockoutDuration`: negative 100 ns intervals) in
/// whole seconds; `None` for "never" (the most negative value) and 0.
pub fn duration_secs(value: &str) -> Option<u64> {
    let ticks: i64 = value.trim().parse().ok()?;
    if ticks == i64::MIN || ticks == 0 {
        return None;
    }
    Some(ticks.unsigned_abs() / 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes() {
        let cases = [
            ("134402967458113320", Some("2026-11-27T23:45:45.811332+00:00")),
            ("116444736000000000", None), // exactly 1970: 0 s, valid
            ("0", None),
            ("9223372036854775807", None),
            ("-1", None),
            ("soon", None),
        ];
        for (v, want) in cases.into_iter().skip(2) {
            assert_eq!(parse(v).map(|t| t.to_rfc3339()), want.map(str::to_owned), "{v}");
        }
        let t = parse(cases[0].0).unwrap();
        assert_eq!(t.to_rfc3339(), cases[0].1.unwrap());
        assert_eq!(format(t), cases[0].0);
        assert_eq!(parse("116444736000000000").map(|t| t.timestamp()), Some(0));
        assert_eq!(duration_secs("-18000000000"), Some(1800));
        assert_eq!(duration_secs("-9223372036854775808"), None);
        assert_eq!(duration_secs("0"), None);
    }
}
