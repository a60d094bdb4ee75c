//! Dates as people read them in a mail: "Friday 4 December 2026, 18:00 CET", "vendredi
//! 4 décembre 2026 à 18 h CET", in the configured time zone.
//!
//! chrono's localised formatting needs its `unstable-locales` feature; two languages do not
//! justify it, so the names live here. Other languages get the English form (templates can use
//! `deadline_iso` to do better). Pure: no clock, no I/O.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const FR_DAYS: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "Friday 4 December 2026" / "vendredi 4 décembre 2026" ("1er" on the first of the month).
pub fn date(t: DateTime<Utc>, tz: Tz, language: &str) -> String {
    let local = t.with_timezone(&tz);
    let weekday = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let (day, year) = (local.day(), local.year());
    if is_french(language) {
        let day = if day == 1 { "1er".to_owned() } else { day.to_string() };
        format!("{} {day} {} {year}", FR_DAYS[weekday], FR_MONTHS[month])
    } else {
        format!("{} {day} {} {year}", EN_DAYS[weekday], EN_MONTHS[month])
    }
}

/// "Friday 4 December 2026, 18:00 CET" / "vendredi 4 décembre 2026 à 18 h CET" (18 h 30).
pub fn date_time(t: DateTime<Utc>, tz: Tz, language: &str) -> String {
    let local = t.with_timezone(&tz);
    let zone = local.format("%Z");
    let (hour, minute) = (local.hour(), local.minute());
    let day = date(t, tz, language);
    if is_french(language) {
        let time = if minute == 0 {
            format!("{hour} h")
        } else {
            format!("{hour} h {minute:02}")
        };
        format!("{day} à {time} {zone}")
    } else {
        format!("{day}, {hour:02}:{minute:02} {zone}")
    }
}

/// Whole calendar days from `now` to `deadline` in `tz`: 0 on the deadline's day (and after it),
/// 1 the day before, whatever the hours.
pub fn days_left(now: DateTime<Utc>, deadline: DateTime<Utc>, tz: Tz) -> i64 {
    let today = now.with_timezone(&tz).date_naive();
    let last = deadline.with_timezone(&tz).date_naive();
    (last - today).num_days().max(0)
}

fn is_french(language: &str) -> bool {
    language == "fr" || language.starts_with("fr-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn check(utc: &str, tz: &str, language: &str, expected: &str) {
        let tz: Tz = tz.parse().unwrap();
        assert_eq!(date_time(at(utc), tz, language), expected, "{utc} {tz} {language}");
    }

    #[test]
    fn date_time_table() {
        check(
            "2026-12-04T17:00:00Z",
            "Europe/Paris",
            "en",
            "Friday 4 December 2026, 18:00 CET",
        );
        check(
            "2026-12-04T17:00:00Z",
            "Europe/Paris",
            "fr",
            "vendredi 4 décembre 2026 à 18 h CET",
        );
        check(
            "2026-12-04T17:30:00Z",
            "Europe/Paris",
            "fr-ca",
            "vendredi 4 décembre 2026 à 18 h 30 CET",
        );
        check(
            "2026-07-01T08:05:00Z",
            "Europe/Paris",
            "fr",
            "mercredi 1er juillet 2026 à 10 h 05 CEST",
        );
        check("2026-12-04T17:00:00Z", "UTC", "en", "Friday 4 December 2026, 17:00 UTC");
        // The day changes with the zone.
        check(
            "2026-12-05T02:00:00Z",
            "America/Montreal",
            "en",
            "Friday 4 December 2026, 21:00 EST",
        );
        check(
            "2026-08-15T12:00:00Z",
            "UTC",
            "de",
            "Saturday 15 August 2026, 12:00 UTC",
        );
    }

    #[test]
    fn days_left_counts_calendar_days_in_the_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let deadline = at("2026-12-04T17:00:00Z");
        for (now, expected) in [
            ("2026-12-04T16:00:00Z", 0),
            ("2026-12-05T16:00:00Z", 0),
            ("2026-12-03T23:30:00Z", 0), // already the 4th in Paris
            ("2026-12-03T22:30:00Z", 1),
            ("2026-12-03T06:00:00Z", 1),
            ("2026-11-27T09:00:00Z", 7),
        ] {
            assert_eq!(days_left(at(now), deadline, paris), expected, "{now}");
        }
    }
}
