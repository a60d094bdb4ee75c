//! Enforcement: what the directory's current state means for a marked account. Pure: no I/O.
//!
//! A password changed after the account was marked completes it (via the directory); a flag
//! removed while the password did not change is put back (and audited: somebody removed it
//! outside pwresetd); an entry deleted or moved out of scope is recorded as gone.
//!
//! One change is told apart from the others: the portal's own administrative write, which some
//! flavours follow with a second operation taking off the mark the write raises (OpenLDAP's
//! ppolicy sets `pwdReset`, 389-DS `passwordExpirationTime`). A process killed (or cut off from
//! the directory) between the two leaves the new password *and* the flag. The store remembers
//! each such write from just before it is sent until its change is recorded
//! (`store/portal_writes.rs`), so a change that falls within it is the portal's own: the account
//! is completed and its flag cleared, as the portal would have. Any other change after marking
//! that leaves the flag (an administrator's reset under ppolicy) completes it as before, flag
//! left in place.

use chrono::{DateTime, Duration, Timelike, Utc};

use super::state::Event;

/// How long after it started a write of a process that died can have landed. A write lands
/// within the directory's time limit of an operation; this is far longer, and short enough that
/// an administrator's reset minutes later is not taken for the portal's.
pub const WRITE_WINDOW: Duration = Duration::minutes(5);

/// What the directory shows about a marked account now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Deleted, or no longer under the base DN / matching the filters.
    Gone,
    Present {
        flagged: bool,
        password_changed_at: Option<DateTime<Utc>>,
        /// The portal's last administrative write of this account's password that the store
        /// still remembers (read only when [`needs_portal_write`] says it matters).
        portal_write: Option<PortalWrite>,
    },
}

/// The portal's administrative write of an account's password, as the store remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalWrite {
    /// When the portal was about to send it.
    pub started_at: DateTime<Utc>,
    pub attempt: Attempt,
}

/// Where the attempt that made a [`PortalWrite`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Its process is alive and has not given up: it will clear the flag and record the change
    /// itself.
    InFlight,
    /// It ended without confirming the write (the directory failed after it was sent), at
    /// this time: the write, if it landed, landed before.
    Ended(DateTime<Utc>),
    /// Its process died (or has held it for longer than any change takes).
    Abandoned,
}

impl PortalWrite {
    /// Whether a password change at `changed` (to the second) can be this write.
    fn covers(self, changed: DateTime<Utc>) -> bool {
        let until = match self.attempt {
            Attempt::Ended(at) => at,
            Attempt::InFlight | Attempt::Abandoned => self.started_at + WRITE_WINDOW,
        };
        changed >= second(self.started_at) && changed <= until
    }
}

/// The event an observation calls for, if any.
///
/// The directory records change times to the second, pwresetd its marks to the millisecond: a
/// change in the same second as the mark counts as after it when the flag is gone (the user's
/// own change removed it), as before it when the flag is still there — unless it is the
/// portal's own write, started after the mark (which the store knows to the millisecond).
pub fn decide(marked_at: DateTime<Utc>, seen: Observation) -> Option<Event> {
    let Observation::Present {
        flagged,
        password_changed_at,
        portal_write,
    } = seen
    else {
        return Some(Event::Vanished);
    };
    let own = portal_write.filter(|w| w.started_at > marked_at && password_changed_at.is_some_and(|t| w.covers(t)));
    match own.map(|w| w.attempt) {
        // The portal is between its write and its clear: it finishes the change itself.
        Some(Attempt::InFlight) if flagged => return None,
        Some(_) if flagged => return Some(Event::PortalWriteInterrupted),
        _ => {}
    }
    let changed_after = password_changed_at.is_some_and(|t| t > marked_at || (!flagged && t >= second(marked_at)));
    match (changed_after, flagged) {
        (true, _) => Some(Event::PasswordChanged),
        (false, false) => Some(Event::FlagMissing),
        (false, true) => None,
    }
}

/// Whether [`decide`] needs the portal's write for this observation (a password changed after
/// the mark or in its second, flag still set): the store is read only then.
pub fn needs_portal_write(marked_at: DateTime<Utc>, seen: &Observation) -> bool {
    matches!(seen, Observation::Present { flagged: true, password_changed_at: Some(t), .. } if *t >= second(marked_at))
}

fn second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
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
            portal_write: None,
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
            let flagged_since_the_marks_second = matches!(
                seen,
                Observation::Present { flagged: true, password_changed_at: Some(t), .. } if t >= second(marked)
            );
            assert_eq!(
                needs_portal_write(marked, &seen),
                flagged_since_the_marks_second,
                "{seen:?}"
            );
        }
    }

    /// A change after the mark with the flag still set: the portal's own interrupted write (the
    /// flag is cleared and the account completed), the portal still at work (left to it), or
    /// somebody else's change (completed, the flag left as before).
    #[test]
    fn the_portals_own_write_is_told_from_other_changes() {
        let marked = t("2026-11-27T08:00:00.600Z");
        // The portal sent its write at 09:00:00.900; the directory says 09:00:00 or :01.
        let started = t("2026-11-27T09:00:00.900Z");
        let w = |attempt| PortalWrite {
            started_at: started,
            attempt,
        };
        let ended = Attempt::Ended(t("2026-11-27T09:00:02.100Z"));
        let seen = |changed: &str, flagged, portal_write| Observation::Present {
            flagged,
            password_changed_at: Some(t(changed)),
            portal_write,
        };
        let table = [
            // The process died between the write and the clear (the CI failure).
            (
                seen("2026-11-27T09:00:00Z", true, Some(w(Attempt::Abandoned))),
                Some(Event::PortalWriteInterrupted),
            ),
            (
                seen("2026-11-27T09:00:01Z", true, Some(w(Attempt::Abandoned))),
                Some(Event::PortalWriteInterrupted),
            ),
            (
                seen("2026-11-27T09:04:59Z", true, Some(w(Attempt::Abandoned))),
                Some(Event::PortalWriteInterrupted),
            ),
            // The write's answer or the clear was lost; the process lives on.
            (
                seen("2026-11-27T09:00:02Z", true, Some(w(ended))),
                Some(Event::PortalWriteInterrupted),
            ),
            // Still at work: it clears and records the change itself.
            (seen("2026-11-27T09:00:01Z", true, Some(w(Attempt::InFlight))), None),
            // An administrator's reset before the portal's write, or after its attempt ended
            // (or its window ran out): completed as before, flag left.
            (
                seen("2026-11-27T08:59:59Z", true, Some(w(Attempt::Abandoned))),
                Some(Event::PasswordChanged),
            ),
            (
                seen("2026-11-27T08:59:59Z", true, Some(w(Attempt::InFlight))),
                Some(Event::PasswordChanged),
            ),
            (
                seen("2026-11-27T09:00:03Z", true, Some(w(ended))),
                Some(Event::PasswordChanged),
            ),
            (
                seen("2026-11-27T09:05:01Z", true, Some(w(Attempt::Abandoned))),
                Some(Event::PasswordChanged),
            ),
            (seen("2026-11-27T09:00:01Z", true, None), Some(Event::PasswordChanged)),
            // Flag gone: the clear happened (or the user changed it): completed as before.
            (
                seen("2026-11-27T09:00:01Z", false, Some(w(Attempt::Abandoned))),
                Some(Event::PasswordChanged),
            ),
            (
                seen("2026-11-27T09:00:01Z", false, Some(w(Attempt::InFlight))),
                Some(Event::PasswordChanged),
            ),
            // A write that never landed (killed before it was sent): nothing changed.
            (seen("2026-01-01T00:00:00Z", true, Some(w(Attempt::Abandoned))), None),
        ];
        for (seen, expected) in table {
            assert_eq!(decide(marked, seen), expected, "{seen:?}");
        }
        // Marked, mailed and submitted within one second (a fast test): the change's second is
        // the mark's, yet a write started after the mark is the portal's own.
        let at = |started_at, attempt| PortalWrite { started_at, attempt };
        let quick = at(t("2026-11-27T08:00:00.700Z"), Attempt::Abandoned);
        assert_eq!(
            decide(marked, seen("2026-11-27T08:00:00Z", true, None)),
            None,
            "as before"
        );
        let seen_quick = seen("2026-11-27T08:00:00Z", true, Some(quick));
        assert!(needs_portal_write(marked, &seen_quick));
        assert_eq!(decide(marked, seen_quick), Some(Event::PortalWriteInterrupted));
        // A write remembered from before the mark (an earlier campaign's) is not this change.
        let earlier = at(t("2026-11-27T07:59:00Z"), Attempt::Abandoned);
        let seen_earlier = seen("2026-11-27T08:01:00Z", true, Some(earlier));
        assert_eq!(decide(marked, seen_earlier), Some(Event::PasswordChanged));
    }
}
