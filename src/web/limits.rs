//! Rate limits on form submissions (the portal's forms, the helpdesk's sign-in), per client
//! address and per account, in memory; and the three settings that configure them.
//!
//! Each key has a token bucket of `n` attempts refilled evenly over `window` (kept as one
//! instant per key, the GCRA "theoretical arrival time"): a person may use all `n` at once, then
//! gets one more every `window / n`. Keys: the client address (IPv6 by /64, see
//! [`super::client::bucket`]) and the account, as the login typed or the login a link belongs
//! to, lowercased, so unknown and known logins are counted alike. Memory is bounded: at
//! [`MAX_KEYS`] keys the refilled ones are dropped; if none can be, new keys are refused (fail
//! closed) until some refill. Limits reset on restart. Must not see passwords.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, parse_duration};

/// Attempts allowed per key within a window (a token bucket refilled over the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_address: u32,
    pub per_account: u32,
    pub window: Duration,
}

impl RateLimit {
    /// Checks the settings `{prefix}_per_address`, `{prefix}_per_account` (1 to 100000) and
    /// `{prefix}_window` (1s to 24h); errors name the key.
    pub fn validate(prefix: &str, per_address: u32, per_account: u32, window: &str) -> Result<RateLimit, ConfigError> {
        for (key, value) in [("per_address", per_address), ("per_account", per_account)] {
            if !(1..=100_000).contains(&value) {
                return Err(ConfigError::invalid(
                    &format!("{prefix}_{key}"),
                    "must be between 1 and 100000",
                ));
            }
        }
        let key = format!("{prefix}_window");
        let window = parse_duration(&key, window)?;
        if window < Duration::from_secs(1) || window > Duration::from_secs(86400) {
            return Err(ConfigError::invalid(&key, "must be between 1s and 24h"));
        }
        Ok(RateLimit {
            per_address,
            per_account,
            window,
        })
    }
}

/// Keys remembered per table before pruning.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
struct Table {
    burst: u32,
    interval: Duration,
    /// Key → the instant at which its bucket is full again, and whether a refusal was already
    /// reported since the key was last allowed.
    full_at: HashMap<String, (Instant, bool)>,
}

impl Table {
    fn new(burst: u32, window: Duration) -> Table {
        Table {
            burst,
            interval: window / burst.max(1),
            full_at: HashMap::new(),
        }
    }

    /// Takes one attempt for `key`; `Err` with the wait when none is left.
    fn take(&mut self, key: &str, now: Instant) -> Result<(), Limited> {
        let capacity = self.interval * self.burst;
        if !self.full_at.contains_key(key) && self.full_at.len() >= MAX_KEYS {
            self.full_at.retain(|_, (full, _)| *full > now);
            if self.full_at.len() >= MAX_KEYS {
                return Err(Limited {
                    retry_after: self.interval,
                    first: false,
                });
            }
        }
        let (full, reported) = self.full_at.get(key).copied().unwrap_or((now, false));
        let next = full.max(now) + self.interval;
        // Allowed while the bucket, after this attempt, holds at most `burst` attempts' worth.
        if next.duration_since(now) > capacity {
            self.full_at.insert(key.to_owned(), (full, true));
            return Err(Limited {
                retry_after: next.duration_since(now) - capacity,
                first: !reported,
            });
        }
        self.full_at.insert(key.to_owned(), (next, false));
        Ok(())
    }
}

/// What was refused, and how long until one more attempt is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
    /// The first refusal of this key since it was last allowed: the one worth recording (the
    /// rest of a burst would only flood the audit trail).
    pub first: bool,
}

#[derive(Debug)]
pub struct Limiter {
    addresses: Mutex<Table>,
    accounts: Mutex<Table>,
}

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    // The table stays consistent whatever panicked while holding it.
    table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Limiter {
    pub fn new(limit: &RateLimit) -> Limiter {
        Limiter {
            addresses: Mutex::new(Table::new(limit.per_address, limit.window)),
            accounts: Mutex::new(Table::new(limit.per_account, limit.window)),
        }
    }

    /// Counts one submission from `address`.
    pub fn address(&self, address: IpAddr) -> Result<(), Limited> {
        self.address_at(address, Instant::now())
    }

    fn address_at(&self, address: IpAddr, now: Instant) -> Result<(), Limited> {
        let key = super::client::bucket(address).to_string();
        lock(&self.addresses).take(&key, now)
    }

    /// Counts one submission for the account `login`.
    pub fn account(&self, login: &str) -> Result<(), Limited> {
        self.account_at(login, Instant::now())
    }

    fn account_at(&self, login: &str, now: Instant) -> Result<(), Limited> {
        lock(&self.accounts).take(&account_key(login), now)
    }
}

/// Logins compare case-insensitively in directories; long ones are cut (they are not real).
fn account_key(login: &str) -> String {
    login.trim().chars().take(256).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_address: u32, per_account: u32, window_secs: u64) -> Limiter {
        Limiter::new(&RateLimit {
            per_address,
            per_account,
            window: Duration::from_secs(window_secs),
        })
    }

    #[test]
    fn burst_then_one_per_interval() {
        let l = limiter(3, 2, 60);
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..3 {
            assert_eq!(l.address_at(ip, t0), Ok(()), "attempt {i}");
        }
        let refused = l.address_at(ip, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert!(refused.first, "the first refusal is reported");
        let again = l.address_at(ip, t0 + Duration::from_secs(19)).unwrap_err();
        assert!(!again.first, "the rest of the burst is not");
        assert_eq!(l.address_at(ip, t0 + Duration::from_secs(20)), Ok(()));
        assert!(
            l.address_at(ip, t0 + Duration::from_secs(21)).unwrap_err().first,
            "allowed in between"
        );
        // Another address has its own bucket; after a whole window the bucket is full again.
        assert_eq!(l.address_at("192.0.2.2".parse().unwrap(), t0), Ok(()));
        for _ in 0..3 {
            assert_eq!(l.address_at(ip, t0 + Duration::from_secs(200)), Ok(()));
        }
    }

    #[test]
    fn accounts_are_case_insensitive_and_v6_grouped() {
        let l = limiter(2, 2, 60);
        let t0 = Instant::now();
        assert_eq!(l.account_at("JDoe", t0), Ok(()));
        assert_eq!(l.account_at(" jdoe", t0), Ok(()));
        assert!(l.account_at("jdoe", t0).is_err());
        assert_eq!(l.account_at("ann", t0), Ok(()));
        let a: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1:ffff::2".parse().unwrap();
        assert_eq!(l.address_at(a, t0), Ok(()));
        assert_eq!(l.address_at(b, t0), Ok(()));
        assert!(l.address_at(a, t0).is_err());
    }

    #[test]
    fn table_is_bounded_and_prunes_refilled_keys() {
        let mut t = Table::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..MAX_KEYS {
            t.take(&i.to_string(), t0).unwrap();
        }
        // Full of live keys: a new key is refused (fail closed)...
        assert!(t.take("new", t0).is_err());
        // ...until they have refilled, when they are dropped.
        assert_eq!(t.take("new", t0 + Duration::from_secs(11)), Ok(()));
        assert_eq!(t.full_at.len(), 1);
    }
}
