//! What a campaign does at its deadline, decided without I/O: the action chosen when it started
//! ([`AtDeadline`]), when it falls due for an account ([`due`]), and the guard that refuses to
//! lock too large a share of the scope at once ([`Guard`]).
//!
//! Must not touch the directory or the store: `crate::engine::deadline` executes this.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happens, at deadline + grace, to an account still marked and not completed, exempted or
/// reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtDeadline {
    /// Nothing: reminders stop, the flag stays (the default).
    #[default]
    None,
    /// The directory's administrative lock (the flavour's own: see `crate::directory`).
    Lock,
    /// The account is disabled.
    Disable,
}

impl AtDeadline {
    pub const ALL: [AtDeadline; 3] = [AtDeadline::None, AtDeadline::Lock, AtDeadline::Disable];

    pub fn as_str(self) -> &'static str {
        match self {
            AtDeadline::None => "none",
            AtDeadline::Lock => "lock",
            AtDeadline::Disable => "disable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the deadline does anything to the directory.
    pub fn acts(self) -> bool {
        self != AtDeadline::None
    }
}

/// A campaign's enforcement: the action and the grace after the deadline before it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Enforcement {
    pub at_deadline: AtDeadline,
    #[serde(with = "secs")]
    pub grace: Duration,
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// Whether an account whose deadline is `deadline` is due for the action at `now`.
pub fn due(deadline: DateTime<Utc>, grace: Duration, now: DateTime<Utc>) -> bool {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    deadline.checked_add_signed(grace).is_some_and(|at| at <= now)
}

/// The latest deadline an account may have to be due at `now` (its deadline + grace ≤ now).
pub fn due_before(grace: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(grace).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The largest share of a campaign's scope one deadline run may lock (`campaign.max_lock_fraction`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    pub max_fraction: f64,
}

/// The guard refused: locking `would_lock` of `in_scope` exceeds the configured share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TooMany {
    pub would_lock: u64,
    pub in_scope: u64,
    pub max_fraction: f64,
}

impl Guard {
    /// Whether locking `would_lock` accounts of a scope of `in_scope` is allowed. 1.0 turns the
    /// guard off; an empty run is always allowed.
    pub fn check(self, would_lock: u64, in_scope: u64) -> Result<(), TooMany> {
        if would_lock == 0 || self.max_fraction >= 1.0 {
            return Ok(());
        }
        let share = would_lock as f64 / in_scope.max(1) as f64;
        if share > self.max_fraction {
            Err(TooMany {
                would_lock,
                in_scope,
                max_fraction: self.max_fraction,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_more_than_its_share() {
        let check = |max, n, of| Guard { max_fraction: max }.check(n, of).is_ok();
        let table = [
            (0.5, 0, 0, true),
            (0.5, 5, 10, true),
            (0.5, 6, 10, false),
            (0.5, 10, 10, false),
            (1.0, 10, 10, true),
            (0.0, 1, 10, false),
            (0.0, 0, 10, true),
        ];
        for (max, n, of, ok) in table {
            assert_eq!(check(max, n, of), ok, "{max} {n}/{of}");
        }
    }

    #[test]
    fn due_after_deadline_and_grace() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let deadline = t("2026-12-04T17:00:00Z");
        let two_hours = Duration::from_secs(7200);
        let table = [
            (Duration::ZERO, "2026-12-04T16:59:59Z", false),
            (Duration::ZERO, "2026-12-04T17:00:00Z", true),
            (two_hours, "2026-12-04T18:59:59Z", false),
            (two_hours, "2026-12-04T19:00:00Z", true),
        ];
        for (grace, now, want) in table {
            assert_eq!(due(deadline, grace, t(now)), want, "{grace:?} {now}");
            assert_eq!(deadline <= due_before(grace, t(now)), want, "{grace:?} {now}");
        }
    }

    #[test]
    fn names_round_trip() {
        for a in AtDeadline::ALL {
            assert_eq!(AtDeadline::parse(a.as_str()), Some(a));
        }
        assert_eq!(AtDeadline::parse("delete"), None);
    }
}
