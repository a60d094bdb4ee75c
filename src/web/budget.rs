//! pwresetd's own budget of failed password binds per account, one for the whole process,
//! shared by every flow that binds with a person's password (the portal's current-password
//! checks, the helpdesk sign-in), kept below the directory's lockout threshold by the callers:
//! pwresetd must never be the tool that locks somebody out.
//!
//! A bind is *reserved* before it is made ([`Budget::reserve`]) and settled after: a success
//! forgets the account's failures (the directory resets its count then, too), a failure is
//! remembered; a reservation dropped unsettled (an error, a cancelled request) counts as a
//! failure, since the bind may have reached the directory. Concurrent attempts thus never go
//! past the budget. Failures count as a chain: each within `window` of the one before; once
//! `window` has passed since the last, the chain starts again. That is what Active Directory
//! does, and never less strict than ppolicy's sliding interval.
//!
//! Keys are the callers' (an account's DN, or the login typed when no account has it).
//! In memory, reset on restart, bounded like [`super::limits`]. Must not see passwords.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::limits::{Limited, MAX_KEYS};

/// The key of a known account: its DN, as the directory spells it, lower-cased (every flow
/// reads it from the directory).
pub fn account_key(dn: &str) -> String {
    format!("dn:{}", dn.to_lowercase())
}

/// The key of a typed login that matches no account: counted like an account's, so that the
/// answers do not tell which logins exist.
pub fn login_key(login: &str) -> String {
    let login: String = login.trim().chars().take(256).flat_map(char::to_lowercase).collect();
    format!("login:{login}")
}

/// Failures allowed per key: at most `failures` in a chain of failures each within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub failures: u32,
    pub window: Duration,
}

#[derive(Debug, Default)]
struct Chain {
    failures: u32,
    last: Option<Instant>,
    in_flight: u32,
}

impl Chain {
    /// Forgets a chain whose last failure is older than `window`.
    fn expire(&mut self, window: Duration, now: Instant) {
        if self.last.is_some_and(|t| now.duration_since(t) >= window) {
            self.failures = 0;
            self.last = None;
        }
    }

    fn idle(&self) -> bool {
        self.failures == 0 && self.in_flight == 0
    }
}

/// The failures of every account (see the module doc).
#[derive(Debug, Default)]
pub struct Budget {
    chains: Mutex<HashMap<String, (Chain, Duration)>>,
}

/// One reserved bind; settle it with [`Attempt::succeeded`] or [`Attempt::failed`].
#[derive(Debug)]
pub struct Attempt {
    budget: Option<Arc<Budget>>,
    key: String,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Chain, Duration)>> {
        // The table stays consistent whatever panicked while holding it.
        self.chains.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves one bind for `key`. `None`: no budget applies (the directory never locks, or
    /// cannot tell); the attempt is then only counted by the callers' rate limits.
    pub fn reserve(self: &Arc<Self>, key: &str, allowance: Option<Allowance>) -> Result<Attempt, Limited> {
        let Some(allowance) = allowance else {
            return Ok(Attempt {
                budget: None,
                key: String::new(),
            });
        };
        self.reserve_at(key, allowance, Instant::now())
    }

    fn reserve_at(self: &Arc<Self>, key: &str, allowance: Allowance, now: Instant) -> Result<Attempt, Limited> {
        let mut chains = self.lock();
        if !chains.contains_key(key) && chains.len() >= MAX_KEYS {
            chains.retain(|_, (c, window)| {
                c.expire(*window, now);
                !c.idle()
            });
            if chains.len() >= MAX_KEYS {
                return Err(Limited {
                    retry_after: allowance.window,
                    first: false,
                });
            }
        }
        let (chain, window) = chains.entry(key.to_owned()).or_default();
        *window = allowance.window;
        chain.expire(allowance.window, now);
        if chain.failures + chain.in_flight >= allowance.failures.max(1) {
            let since = chain.last.map_or(Duration::ZERO, |t| now.duration_since(t));
            return Err(Limited {
                retry_after: allowance.window.saturating_sub(since).max(Duration::from_secs(1)),
                // Every refusal is worth recording: the rate limits in front bound how many come.
                first: true,
            });
        }
        chain.in_flight += 1;
        Ok(Attempt {
            budget: Some(self.clone()),
            key: key.to_owned(),
        })
    }

    fn settle(&self, key: &str, failed: bool, now: Instant) {
        let mut chains = self.lock();
        let Some((chain, _)) = chains.get_mut(key) else { return };
        chain.in_flight = chain.in_flight.saturating_sub(1);
        if failed {
            chain.failures += 1;
            chain.last = Some(now);
        } else {
            chain.failures = 0;
            chain.last = None;
        }
        if chain.idle() {
            chains.remove(key);
        }
    }
}

impl Attempt {
    /// The bind succeeded: the directory forgot the account's failures, so does the budget.
    pub fn succeeded(self) {
        self.settle_at(false, Instant::now());
    }

    /// The password was wrong (or the account unknown).
    pub fn failed(self) {
        self.settle_at(true, Instant::now());
    }

    fn settle_at(mut self, failed: bool, now: Instant) {
        if let Some(b) = self.budget.take() {
            b.settle(&self.key, failed, now);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(b) = self.budget.take() {
            b.settle(&self.key, true, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    fn allow(failures: u32) -> Allowance {
        Allowance {
            failures,
            window: FIVE_MIN,
        }
    }

    #[test]
    fn failures_are_counted_and_a_success_forgets_them() {
        let b = Arc::new(Budget::default());
        let t0 = Instant::now();
        for _ in 0..3 {
            b.reserve_at("dn:a", allow(3), t0).unwrap().settle_at(true, t0);
        }
        let refused = b.reserve_at("dn:a", allow(3), t0).unwrap_err();
        assert_eq!(refused.retry_after, FIVE_MIN);
        // Another key has its own chain; a larger allowance (a link's) gets one more.
        assert!(b.reserve_at("dn:b", allow(3), t0).is_ok());
        let with_proof = b.reserve_at("dn:a", allow(4), t0).unwrap();
        with_proof.succeeded();
        assert!(
            b.reserve_at("dn:a", allow(3), t0).is_ok(),
            "a success forgets the failures"
        );
    }

    #[test]
    fn concurrent_reservations_never_pass_the_budget_and_unsettled_ones_count() {
        let b = Arc::new(Budget::default());
        let t0 = Instant::now();
        let first = b.reserve_at("k", allow(2), t0).unwrap();
        let second = b.reserve_at("k", allow(2), t0).unwrap();
        assert!(b.reserve_at("k", allow(2), t0).is_err(), "two in flight use the budget");
        drop(first);
        second.failed();
        assert!(
            b.reserve_at("k", allow(2), t0).is_err(),
            "a dropped reservation is a failure"
        );
    }

    #[test]
    fn the_chain_restarts_a_window_after_the_last_failure() {
        let b = Arc::new(Budget::default());
        let t0 = Instant::now();
        let fail = |at: Instant| b.reserve_at("k", allow(2), at).unwrap().settle_at(true, at);
        fail(t0);
        // 4 minutes later: still the same chain (Active Directory keeps counting).
        fail(t0 + Duration::from_secs(240));
        let refused = b.reserve_at("k", allow(2), t0 + Duration::from_secs(480)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(60));
        assert!(b.reserve_at("k", allow(2), t0 + Duration::from_secs(540)).is_ok());
    }

    #[test]
    fn no_allowance_means_no_budget() {
        let b = Arc::new(Budget::default());
        for _ in 0..10 {
            b.reserve("k", None).unwrap().failed();
        }
        assert!(b.lock().is_empty());
    }
}
