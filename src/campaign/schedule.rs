//! When each account is due for which email. Pure: no I/O.
//!
//! The first notice goes out as soon as the account is marked. Reminders are offsets before the
//! deadline (`["72h", "24h"]`), numbered from 1 in the order they fall. A reminder whose time had
//! already passed when the notice went out is skipped, and when several are overdue (the daemon
//! was down) only the latest is sent: nobody gets a burst of mails. Nothing is sent after the
//! deadline.
//!
//! Each reminder sent records the time it was due for (its *point*: deadline − offset). A
//! reminder is due when the latest point passed is later than the last point sent, so moving a
//! deadline later (the helpdesk's `extend`) re-arms the reminders relative to the new deadline:
//! each new point is sent once, even when the old deadline's reminders all went out. A
//! deadline moved earlier sends nothing twice. Reminders are numbered in the order they are
//! sent (a re-armed first reminder after two sent is reminder 3): the number keys the store's
//! record of it.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A mail that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Notice,
    /// A reminder: its number (1-based, in the order sent) and the point it is due for.
    Reminder {
        step: u32,
        point: DateTime<Utc>,
    },
}

impl Due {
    pub fn kind(self) -> &'static str {
        match self {
            Due::Notice => "notice",
            Due::Reminder { .. } => "reminder",
        }
    }

    pub fn step(self) -> u32 {
        match self {
            Due::Notice => 0,
            Due::Reminder { step, .. } => step,
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
    /// The latest point (deadline − offset) a sent reminder was due for; `None` when no
    /// reminder was sent, or only by a version that did not record points (then the numbers
    /// decide, as they did).
    pub last_point: Option<DateTime<Utc>>,
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
    let (n, point) = offsets
        .iter()
        .enumerate()
        .filter_map(|(i, o)| time_of(o).map(|t| (i as u32 + 1, t)))
        .filter(|(_, t)| *t <= now && *t > notice_at)
        .max_by_key(|(n, _)| *n)?;
    let fresh = match sent.last_point {
        Some(last) => point > last,
        None => n > sent.last_reminder,
    };
    fresh.then_some(Due::Reminder {
        step: n.max(sent.last_reminder + 1),
        point,
    })
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
    /// Two days later than [`DEADLINE`]: its points are 2026-12-03T17 and 2026-12-05T17.
    const EXTENDED: &str = "2026-12-06T17:00:00Z";
    const START: &str = "2026-11-27T08:00:00Z";
    /// [`DEADLINE`]'s points: 72 h and 24 h before it.
    const P1: &str = "2026-12-01T17:00:00Z";
    const P2: &str = "2026-12-03T17:00:00Z";

    /// Reminder `step`, due for `point`.
    fn r(step: u32, point: &str) -> Due {
        Due::Reminder { step, point: t(point) }
    }

    /// What is due at `now` for `deadline`, after the notice at `notice_at` and the reminders
    /// up to `last` (step and point; a point of "" is a reminder recorded without one).
    fn check(now: &str, deadline: &str, notice_at: Option<&str>, last: (u32, &str), expected: Option<Due>) {
        let offsets = ordered(&[Duration::from_secs(24 * 3600), Duration::from_secs(72 * 3600)]);
        let sent = Sent {
            notice_at: notice_at.map(t),
            last_reminder: last.0,
            last_point: (!last.1.is_empty()).then(|| t(last.1)),
        };
        assert_eq!(
            due(t(now), t(deadline), &offsets, sent),
            expected,
            "now {now}, deadline {deadline}, {sent:?}"
        );
    }

    #[test]
    fn schedule_table() {
        let none = (0, "");
        // Nothing sent: the notice, any time before the deadline.
        check(START, DEADLINE, None, none, Some(Due::Notice));
        check("2026-12-04T16:59:59Z", DEADLINE, None, none, Some(Due::Notice));
        check(DEADLINE, DEADLINE, None, none, None);
        // Notice sent; before the 72h mark nothing is due.
        check("2026-11-30T12:00:00Z", DEADLINE, Some(START), none, None);
        // At 72h before: reminder 1; once sent, nothing until 24h before.
        check(P1, DEADLINE, Some(START), none, Some(r(1, P1)));
        check("2026-12-02T10:00:00Z", DEADLINE, Some(START), (1, P1), None);
        check(P2, DEADLINE, Some(START), (1, P1), Some(r(2, P2)));
        check("2026-12-03T18:00:00Z", DEADLINE, Some(START), (2, P2), None);
        // Both overdue (daemon down): only the latest.
        check("2026-12-03T18:00:00Z", DEADLINE, Some(START), none, Some(r(2, P2)));
        // Notice sent late, after the 72h mark: reminder 1 is skipped, 2 still comes.
        let late = "2026-12-02T09:00:00Z";
        check("2026-12-02T10:00:00Z", DEADLINE, Some(late), none, None);
        check(P2, DEADLINE, Some(late), none, Some(r(2, P2)));
        // After the deadline: silence.
        check("2026-12-05T00:00:00Z", DEADLINE, Some(START), (1, P1), None);
    }

    /// A deadline moved later re-arms the reminders relative to it, each new point once; one
    /// moved earlier sends nothing twice.
    #[test]
    fn a_moved_deadline_re_arms_the_reminders() {
        let (new1, new2) = ("2026-12-03T17:00:00Z", "2026-12-05T17:00:00Z");
        // Both reminders of DEADLINE sent (the last for P2); extended at 2026-12-04T10:00.
        let after = "2026-12-04T10:00:00Z";
        check(after, EXTENDED, Some(START), (2, P2), None);
        check("2026-12-05T16:59:59Z", EXTENDED, Some(START), (2, P2), None);
        check(new2, EXTENDED, Some(START), (2, P2), Some(r(3, new2)));
        check("2026-12-05T18:00:00Z", EXTENDED, Some(START), (3, new2), None);
        check(EXTENDED, EXTENDED, Some(START), (3, new2), None);
        // Extended one day: its first point (2026-12-02T17) is before the last sent (P2), its
        // second (2026-12-04T17) after it.
        let one_day = "2026-12-05T17:00:00Z";
        check("2026-12-04T16:00:00Z", one_day, Some(START), (2, P2), None);
        check(DEADLINE, one_day, Some(START), (2, P2), Some(r(3, DEADLINE)));
        // Extended after reminder 1 only: the new points come as reminders 2 and 3.
        check(new1, EXTENDED, Some(START), (1, P1), Some(r(2, new1)));
        check(new2, EXTENDED, Some(START), (2, new1), Some(r(3, new2)));
        // Moved earlier: its points are before the last sent, nothing again.
        check(
            "2026-12-02T12:00:00Z",
            "2026-12-03T17:00:00Z",
            Some(START),
            (1, P1),
            None,
        );
        // Reminders recorded without their point (before points were recorded): the numbers
        // decide, as they did.
        check(P2, DEADLINE, Some(START), (1, ""), Some(r(2, P2)));
        check(P2, DEADLINE, Some(START), (2, ""), None);
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
            notice_at: Some(t(START)),
            last_reminder: 0,
            last_point: None,
        };
        assert_eq!(due(t("2026-12-01T00:00:00Z"), t(DEADLINE), &offsets, sent), None);
        assert_eq!(
            due(t("2026-12-03T18:00:00Z"), t(DEADLINE), &offsets, sent),
            Some(r(3, P2))
        );
    }
}
