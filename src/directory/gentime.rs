//! LDAP GeneralizedTime values (`20261127224715Z`, `20261127224715.123Z`).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses a GeneralizedTime in UTC; `None` for anything else.
pub fn parse(value: &str) -> Option<DateTime<Utc>> {
    let v = value.strip_suffix('Z')?;
    let (main, frac) = match v.split_once(['.', ',']) {
        Some((m, f)) => (m, Some(f)),
        None => (v, None),
    };
    let main = match main.len() {
        14 => main.to_owned(),
        12 => format!("{main}00"),
        _ => return None,
    };
    let naive = NaiveDateTime::parse_from_str(&main, "%Y%m%d%H%M%S").ok()?;
    let mut t = naive.and_utc();
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
        t += chrono::Duration::nanoseconds(digits.parse::<i64>().ok()?);
    }
    Some(t)
}

/// Formats a time as GeneralizedTime (seconds precision).
pub fn format(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_generalized_time() {
        let cases = [
            ("20261127224715Z", Some("2026-11-27T22:47:15+00:00")),
            ("20261127224715.5Z", Some("2026-11-27T22:47:15.500+00:00")),
            ("202611272247Z", Some("2026-11-27T22:47:00+00:00")),
            ("20261127224715", None),
            ("20261327224715Z", None),
            ("20261127224715.Z", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse(input).map(|t| t.to_rfc3339()),
                want.map(|s| s.to_string()),
                "{input}"
            );
        }
        let t = parse("20261127224715Z").unwrap();
        assert_eq!(format(t), "20261127224715Z");
    }
}
