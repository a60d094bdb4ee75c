//! Enforcement: what the directory's current state means for a marked account. Pure: no I/O.
//!
//! A password changed after the account was marked completes it (via the directory); a flag
//! removed while the password did not change is put back (and audited: somebody removed it
//! outside pwresetd); an entry deleted or moved out of scope is recorded as gone.

use chrono::{DateTime, Timelike, Utc};

use super::state::Event;

/// What the directory shows about a marked account now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Deleted, or no longer under the base DN / matching the filters.
    Gone,
    Present {
        flagged: bool,
        password_changed_at: Option<DateTime<Utc>>,
    },
}

/// The event an observation calls for, if any.
///
/// The directory records change times to the second, pwresetd its marks to the millisecond: a
/// change in the same second as the mark counts as after it when the flag is gone (the user's
/// own change removed it), as before it when the flag is still there.
pub fn decide(marked_at: DateTime<Utc>, seen: Observation) -> Option<Event> {
    let Observation::Present {
        flagged,
        password_changed_at,
    } = seen
    else {
        return Some(Event::Vanished);
    };
    let mark_second = marked_at.with_nanosecond(0).unwrap_or(marked_at);
    let changed_after = password_changed_at.is_some_and(|t| t > marked_at || (!flagged && t >= mark_second));
    match (changed_after, flagged) {
        (true, _) => Some(Event::PasswordChanged),
        (false, false) => Some(Event::FlagMissing),
        (false, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn decisions() {
        let marked = t("2026-11-27T08:00:00.600Z");
        let same_second = Some(t("2026-11-27T08:00:00Z"));
        let before = Some(t("2026-01-01T00:00:00Z"));
        let after = Some(t("2026-11-27T09:00:00Z"));
        let p = |flagged, password_changed_at| Observation::Present {
            flagged,
            password_changed_at,
        };
        let table = [
            (Observation::Gone, Some(Event::Vanished)),
            (p(true, None), None),
            (p(true, before), None),
            (p(false, before), Some(Event::FlagMissing)),
            (p(false, None), Some(Event::FlagMissing)),
            (p(false, after), Some(Event::PasswordChanged)),
            (p(true, after), Some(Event::PasswordChanged)),
            (p(true, Some(marked)), None),
            (p(true, same_second), None),
            (p(false, same_second), Some(Event::PasswordChanged)),
        ];
        for (seen, expected) in table {
            assert_eq!(decide(marked, seen), expected, "{seen:?}");
        }
    }
}
