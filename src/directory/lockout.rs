//! When a directory locks an account after failed binds, as its password policies say (each
//! flavour reads its own attributes: OpenLDAP `pwdMaxFailure`, Active Directory
//! `lockoutThreshold`, 389-DS `passwordMaxFailure`), and the budget pwresetd keeps below that.
//!
//! Pure (`remembered` keeps what was read). Never binds: reading a policy is a search as the service
//! account. What pwresetd does with the budget (counting failures per account, shared by every
//! flow that binds with a person's password) is the front ends' business (`web::budget`).

use std::time::Duration;

use super::{Directory, DirectoryError};

/// How many failed binds lock an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Locked on the n-th failure in a row.
    After(u32),
    /// The policy never locks (lockout off, or a threshold of 0).
    Never,
    /// The policy could not be read (the service account may not see it).
    Unknown,
}

/// The lockout rules of the password policy that applies to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub threshold: Threshold,
    /// How long a failure counts (ppolicy `pwdFailureCountInterval`, AD's observation window,
    /// 389's `passwordResetFailureCount`); `None`: until a successful bind resets the count.
    pub window: Option<Duration>,
    /// Where this was read, in words: the policy's DN and its attributes.
    pub source: String,
}

/// How long a failure is remembered when the directory never forgets one (no window).
pub const NO_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How far below the directory's threshold pwresetd stays: two, so that the person's own
/// next mistake at their desk still does not lock them out after pwresetd's failures.
pub const MARGIN: u32 = 2;

/// The threshold pwresetd counts with when the directory's cannot be read: the smallest that
/// leaves [`MARGIN`] (and 389-DS's own `passwordMaxFailure` default). Not knowing must not
/// make pwresetd the tool a stranger locks accounts with: it counts as if the directory were
/// that strict, and a failure is remembered until a successful bind (at most [`NO_WINDOW`]).
pub const ASSUMED_THRESHOLD: u32 = 3;

impl Lockout {
    pub fn unknown(source: String) -> Lockout {
        Lockout {
            threshold: Threshold::Unknown,
            window: None,
            source,
        }
    }

    /// The threshold the budget counts with: the directory's, [`ASSUMED_THRESHOLD`] when it
    /// cannot be read, `None` when the directory never locks.
    fn counted_threshold(&self) -> Option<u32> {
        match self.threshold {
            Threshold::After(n) => Some(n),
            Threshold::Unknown => Some(ASSUMED_THRESHOLD),
            Threshold::Never => None,
        }
    }

    /// The failed binds pwresetd may cause per account: the threshold − [`MARGIN`], at least 1;
    /// `None` when the directory never locks, where the front ends' own per-account rate limits
    /// are the only bound.
    pub fn budget(&self) -> Option<u32> {
        self.counted_threshold().map(|n| n.saturating_sub(MARGIN).max(1))
    }

    /// One more than [`budget`](Lockout::budget), still below the threshold: what a flow whose
    /// person already proved themselves another way (a valid one-time link) may use, so that
    /// strangers who spent the budget cannot block them.
    pub fn budget_with_proof(&self) -> Option<u32> {
        self.counted_threshold().map(|n| n.saturating_sub(1).max(1))
    }

    /// How long a failure counts against the budget.
    pub fn counting_window(&self) -> Duration {
        self.window.unwrap_or(NO_WINDOW)
    }

    /// The budget in force and why, in one line (for `check-config`, after `lockout budget: `).
    pub fn budget_line(&self) -> String {
        let window = humantime::format_duration(self.counting_window());
        match (self.threshold, self.budget()) {
            (Threshold::After(n), Some(b)) => {
                let counted = match self.window {
                    Some(_) => format!("within {window}"),
                    None => format!("until a successful bind (remembered {window})"),
                };
                format!(
                    "{b} failed password bind(s) per account {counted}, shared by the portal and the helpdesk \
                     sign-in; the directory locks on failure {n} ({}); pwresetd stays {} below",
                    self.source,
                    n.saturating_sub(b)
                )
            }
            (Threshold::Never, _) => format!(
                "none needed, the directory does not lock accounts ({}); the per-account rate limits apply",
                self.source
            ),
            (_, budget) => format!(
                "unknown, {}; counted as if the directory locked on failure {ASSUMED_THRESHOLD}: {} failed \
                 password bind(s) per account until a successful bind (remembered {window}), shared by the \
                 portal and the helpdesk sign-in",
                self.source,
                budget.unwrap_or(1)
            ),
        }
    }

    /// Whether pwresetd cannot stay [`MARGIN`] below the threshold (a directory that locks on
    /// the first or second failure).
    pub fn margin_too_small(&self) -> bool {
        matches!(self.threshold, Threshold::After(n) if n <= MARGIN)
    }
}

/// The line `check-config` prints about the budget for accounts under the default policy.
pub async fn budget_line(directory: &dyn Directory) -> Result<String, DirectoryError> {
    Ok(directory.lockout(None).await?.budget_line())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout(threshold: Threshold, window: Option<u64>) -> Lockout {
        Lockout {
            threshold,
            window: window.map(Duration::from_secs),
            source: "pwdMaxFailure of cn=default".into(),
        }
    }

    #[test]
    fn the_budget_stays_below_the_threshold() {
        // (threshold, budget, with proof)
        let table = [
            (Threshold::After(5), Some(3), Some(4)),
            (Threshold::After(3), Some(1), Some(2)),
            (Threshold::After(2), Some(1), Some(1)),
            (Threshold::After(1), Some(1), Some(1)),
            (Threshold::After(10), Some(8), Some(9)),
            (Threshold::Never, None, None),
            (Threshold::Unknown, Some(1), Some(2)),
        ];
        for (t, budget, proof) in table {
            let l = lockout(t, Some(300));
            assert_eq!((l.budget(), l.budget_with_proof()), (budget, proof), "{t:?}");
        }
    }

    #[test]
    fn the_line_says_what_and_why() {
        let line = lockout(Threshold::After(5), Some(300)).budget_line();
        assert!(
            line.contains("3 failed password bind(s) per account within 5m"),
            "{line}"
        );
        assert!(
            line.contains("locks on failure 5 (pwdMaxFailure of cn=default)"),
            "{line}"
        );
        let line = lockout(Threshold::After(5), None).budget_line();
        assert!(line.contains("until a successful bind (remembered 1day)"), "{line}");
        assert!(lockout(Threshold::Never, None).budget_line().contains("does not lock"));
        assert!(lockout(Threshold::Unknown, None).budget_line().contains("unknown"));
        let line = lockout(Threshold::After(2), Some(60)).budget_line();
        assert!(
            line.contains("1 failed password bind(s)") && line.contains("stays 1 below"),
            "{line}"
        );
        assert!(lockout(Threshold::After(2), None).margin_too_small());
        assert!(!lockout(Threshold::After(3), None).margin_too_small());
        assert!(!lockout(Threshold::Never, None).margin_too_small());
    }
}
