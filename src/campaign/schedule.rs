//! When each account is due for which email. Pure: no I/O.
//!
//! The first notice goes out as soon as the account is marked. Reminders are offsets before the
//! deadline (`["72h", "24h"]`), numbered from 1 in the order they fall. A reminder whose time had
//! already passed when the notice went out is skipped, and when several are overdue (the daemon
//! was down) only the latest is sent: nobody gets a burst of mails. Nothing is sent after the
//! deadline.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A mail that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Notice,
    /// Reminder number `n` (1-based, in time order).
    Reminder(u32),
}

impl Due {
    pub fn kind(self) -> &'static str {
        match self {
            Due::Notice => "notice",
            Due::Reminder(_) => "reminder",
        }
    }

    pub fn step(self) -> u32 {
        match self {
            Due::Notice => 0,
            Due::Reminder(n) => n,
        }
    }
}

/// What has been sent to an account so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// When the notice went out, if it did.
    pub notice_at: Option<DateTime<Utc>>,
    /// The highest reminder number sent.
    pub last_reminder: u32,
}

/// Reminder offsets sorted so that reminder 1 is the earliest (the largest offset).
pub fn ordered(offsets: &[Duration]) -> Vec<Duration> {
    let mut v = offsets.to_vec();
    v.sort_by(|a, b| b.cmp(a));
    v.dedup();
    v
}

/// The mail due now for an account, if any. `offsets` must come from [`ordered`].
pub fn due(now: DateTime<Utc>, deadline: DateTime<Utc>, offsets: &[Duration], sent: Sent) -> Option<Due> {
    if now >= deadline {
        return None;
    }
    let Some(notice_at) = sent.notice_at else {
        return Some(Due::Notice);
    };
    // Checked: an offset reaching before the calendar's start is simply never due.
    let time_of = |offset: &Duration| {
        chrono::Duration::from_std(*offset)
            .ok()
            .and_then(|d| deadline.checked_sub_signed(d))
    };
    let latest = offsets
        .iter()
        .enumerate()
        .filter_map(|(i, o)| time_of(o).map(|t| (i as u32 + 1, t)))
        .filter(|(_, t)| *t <= now && *t > notice_at)
        .map(|(n, _)| n)
        .max()?;
    (latest > sent.last_reminder).then_some(Due::Reminder(latest))
}

/// Whole days left before the deadline (rounded down; 0 on the last day).
pub fn days_left(now: DateTime<Utc>, deadline: DateTime<Utc>) -> i64 {
    (deadline - now).num_days().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const DEADLINE: &str = "2026-12-04T17:00:00Z";

    fn check(now: &str, notice_at: Option<&str>, last_reminder: u32, expected: Option<Due>) {
        let offsets = ordered(&[Duration::from_secs(24 * 3600), Duration::from_secs(72 * 3600)]);
        let sent = Sent {
            notice_at: notice_at.map(t),
            last_reminder,
        };
        assert_eq!(
            due(t(now), t(DEADLINE), &offsets, sent),
            expected,
            "now {now}, {sent:?}"
        );
    }

    #[test]
    fn schedule_table() {
        let start = "2026-11-27T08:00:00Z";
        // Nothing sent: the notice, any time before the deadline.
        check(start, None, 0, Some(Due::Notice));
        check("2026-12-04T16:59:59Z", None, 0, Some(Due::Notice));
        check(DEADLINE, None, 0, None);
        // Notice sent; before the 72h mark nothing is due.
        check("2026-11-30T12:00:00Z", Some(start), 0, None);
        // At 72h before: reminder 1; once sent, nothing until 24h before.
        check("2026-12-01T17:00:00Z", Some(start), 0, Some(Due::Reminder(1)));
        check("2026-12-02T10:00:00Z", Some(start), 1, None);
        check("2026-12-03T17:00:00Z", Some(start), 1, Some(Due::Reminder(2)));
        check("2026-12-03T18:00:00Z", Some(start), 2, None);
        // Both overdue (daemon down): only the latest.
        check("2026-12-03T18:00:00Z", Some(start), 0, Some(Due::Reminder(2)));
        // Notice sent late, after the 72h mark: reminder 1 is skipped, 2 still comes.
        let late = "2026-12-02T09:00:00Z";
        check("2026-12-02T10:00:00Z", Some(late), 0, None);
        check("2026-12-03T17:00:00Z", Some(late), 0, Some(Due::Reminder(2)));
        // After the deadline: silence.
        check("2026-12-05T00:00:00Z", Some(start), 1, None);
    }

    #[test]
    fn offsets_are_ordered_and_deduplicated() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(ordered(&[h(24), h(72), h(24)]), vec![h(72), h(24)]);
        assert_eq!(days_left(t("2026-12-01T17:00:01Z"), t(DEADLINE)), 2);
        assert_eq!(days_left(t("2026-12-05T00:00:00Z"), t(DEADLINE)), 0);
    }

    /// Regression: an offset reaching before the earliest representable time (a configured
    /// reminder of "300000y") made `deadline - offset` panic in the daemon's mail pass.
    #[test]
    fn offsets_beyond_the_calendar_are_never_due() {
        let years = |n: u64| Duration::from_secs(n * 365 * 86400);
        let offsets = ordered(&[years(300_000), Duration::MAX, Duration::from_secs(24 * 3600)]);
        let sent = Sent {
            notice_at: Some(t("2026-11-27T08:00:00Z")),
            last_reminder: 0,
        };
        assert_eq!(due(t("2026-12-01T00:00:00Z"), t(DEADLINE), &offsets, sent), None);
        assert_eq!(
            due(t("2026-12-03T18:00:00Z"), t(DEADLINE), &offsets, sent),
            Some(Due::Reminder(3))
        );
    }
}
