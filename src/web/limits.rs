//! Rate limits on form submissions (the portal's forms, the helpdesk's sign-in, its API tokens
//! and lookups), per client address and per account; and the three settings that configure them.
//!
//! Each key has a token bucket of `n` attempts refilled evenly over `window` (kept as one
//! instant per key, the GCRA "theoretical arrival time"): a person may use all `n` at once, then
//! gets one more every `window / n`. Keys: the client address (IPv6 by /64, see
//! [`super::client::bucket`]) and the account, as the login typed or the login a link belongs
//! to, lowercased, so unknown and known logins are counted alike.
//!
//! The buckets live in the store (`store::rate_limits`), so that every `serve` instance on one
//! store counts the same attempts and a restart forgets none; each attempt is one atomic
//! statement there, run on the blocking pool. This file owns the arithmetic (pure: [`Gcra`]) and
//! the keys. A key is stored as the SHA-256 of its limiter's name and the key, not in clear: the
//! table then holds no login or address for a reader of the database or a backup. Not keyed
//! (no HMAC): a key would have to be shared by every instance, and whoever reads the store can
//! already read every login (accounts) and the addresses in the audit trail, so a secret would
//! hide nothing more from them. Rows whose bucket is full again are deleted in bounded batches
//! every [`PRUNE_EVERY`] attempts, so the table holds at most the keys seen within one window.
//! If the store fails, the attempt is refused (fail closed) and the failure logged once until
//! the store answers again. Must not see passwords.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{ConfigError, parse_duration};
use crate::store::{RateBounds, RateTake, Store};

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

/// Every this many attempts an instance deletes up to [`PRUNE_BATCH`] expired keys: more than
/// the at most two keys each attempt can add, so the table cannot outgrow one window's keys.
pub const PRUNE_EVERY: u64 = 64;
pub const PRUNE_BATCH: i64 = 512;

/// One bucket's parameters, in milliseconds: the pure part of the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// One attempt's worth of time (window / burst).
    interval: i64,
    /// The whole bucket (interval × burst).
    capacity: i64,
}

impl Gcra {
    pub fn new(burst: u32, window: Duration) -> Gcra {
        let interval = (window / burst.max(1)).as_millis().clamp(1, i64::MAX as u128) as i64;
        Gcra {
            interval,
            capacity: interval.saturating_mul(i64::from(burst.max(1))),
        }
    }

    /// What the store needs to decide one attempt at `now`.
    pub fn bounds(&self, now: i64) -> RateBounds {
        RateBounds {
            now,
            interval: self.interval,
            limit: now + self.capacity - self.interval,
        }
    }

    /// What the store's answer means: allowed, or refused with the wait until the next
    /// attempt fits (the TAT was kept: it is one interval short of allowing one more).
    pub fn verdict(&self, now: i64, take: RateTake) -> Result<(), Limited> {
        if take.refusals == 0 {
            return Ok(());
        }
        let wait = take.tat.saturating_sub(self.bounds(now).limit).max(1);
        Err(Limited {
            retry_after: Duration::from_millis(wait as u64),
            first: take.refusals == 1,
        })
    }

    /// The answer when the store could not be asked: refused, try again in one interval.
    fn closed(&self) -> Limited {
        Limited {
            retry_after: Duration::from_millis(self.interval as u64),
            first: false,
        }
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

/// Which of a limiter's two buckets a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Address,
    Account,
}

pub struct Limiter {
    store: Store,
    /// Names this limiter's keys apart from the other limiters' in the shared table.
    name: &'static str,
    addresses: Gcra,
    accounts: Gcra,
    attempts: AtomicU64,
    failing: AtomicBool,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("addresses", &self.addresses)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter called `name` (unique per limiter: "portal", "helpdesk.sign_in", …).
    pub fn new(limit: &RateLimit, store: Store, name: &'static str) -> Limiter {
        Limiter {
            store,
            name,
            addresses: Gcra::new(limit.per_address, limit.window),
            accounts: Gcra::new(limit.per_account, limit.window),
            attempts: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Counts one submission from `address`.
    pub async fn address(&self, address: IpAddr) -> Result<(), Limited> {
        let key = super::client::bucket(address).to_string();
        self.take(Kind::Address, &key).await
    }

    /// Counts one submission for the account `login`.
    pub async fn account(&self, login: &str) -> Result<(), Limited> {
        self.take(Kind::Account, &account_key(login)).await
    }

    async fn take(&self, kind: Kind, key: &str) -> Result<(), Limited> {
        let gcra = match kind {
            Kind::Address => self.addresses,
            Kind::Account => self.accounts,
        };
        let hashed = stored_key(self.name, kind, key);
        let prune = self.attempts.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        let now = now_millis();
        let bounds = gcra.bounds(now);
        let answer = self
            .store
            .run(move |s| {
                let take = s.take_rate(&hashed, bounds)?;
                if prune {
                    s.prune_rate_limits(now, PRUNE_BATCH)?;
                }
                Ok(take)
            })
            .await;
        match answer {
            Ok(take) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(limiter = self.name, "rate limits: the store answers again");
                }
                gcra.verdict(now, take)
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(limiter = self.name, error = %e, "rate limits: the store failed; refusing attempts until it answers");
                }
                Err(gcra.closed())
            }
        }
    }
}

/// Milliseconds since the Unix epoch: wall-clock time, the one instances on several hosts share
/// (skew between them shifts a bucket by that much, no more).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The key as stored: the hex SHA-256 of the limiter's name, the bucket and the key.
fn stored_key(name: &str, kind: Kind, key: &str) -> String {
    let kind = match kind {
        Kind::Address => "address",
        Kind::Account => "account",
    };
    let digest = Sha256::digest(format!("{name}\0{kind}\0{key}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Logins compare case-insensitively in directories; long ones are cut (they are not real).
fn account_key(login: &str) -> String {
    login.trim().chars().take(256).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_verdicts() {
        // 3 attempts per 60 s: interval 20 s.
        let g = Gcra::new(3, Duration::from_secs(60));
        assert_eq!(
            g.bounds(1_000),
            RateBounds {
                now: 1_000,
                interval: 20_000,
                limit: 41_000
            }
        );
        let check = |tat: i64, refusals: i64, expected: Result<(), Limited>| {
            assert_eq!(
                g.verdict(1_000, RateTake { tat, refusals }),
                expected,
                "tat {tat}, refusals {refusals}"
            );
        };
        let refused = |ms: u64, first: bool| {
            Err(Limited {
                retry_after: Duration::from_millis(ms),
                first,
            })
        };
        check(61_000, 0, Ok(()));
        // Full bucket (TAT a whole capacity ahead): one interval's wait, first refusal reported.
        check(61_000, 1, refused(20_000, true));
        check(50_000, 2, refused(9_000, false));
        // Never a zero wait (the header says at least one second anyway).
        check(41_000, 1, refused(1, true));
        // Odd windows round to whole milliseconds, never to a zero interval.
        assert_eq!(Gcra::new(7, Duration::from_millis(3)).bounds(0).interval, 1);
        assert_eq!(g.closed().retry_after, Duration::from_secs(20));
    }

    #[test]
    fn keys_are_hashed_apart() {
        let k = stored_key("portal", Kind::Account, "jdoe");
        assert_eq!(k.len(), 64);
        assert!(!k.contains("jdoe"));
        assert_ne!(k, stored_key("portal", Kind::Address, "jdoe"));
        assert_ne!(k, stored_key("helpdesk.sign_in", Kind::Account, "jdoe"));
        assert_eq!(account_key(" JDoe"), "jdoe");
    }

    fn limiter(store: &Store, name: &'static str) -> Limiter {
        let limit = RateLimit {
            per_address: 3,
            per_account: 2,
            window: Duration::from_secs(600),
        };
        Limiter::new(&limit, store.clone(), name)
    }

    #[tokio::test]
    async fn limiters_on_one_store_share_their_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        // Two instances' limiters of the same name count together; another name apart.
        let (a, b, other) = (
            limiter(&store, "portal"),
            limiter(&store, "portal"),
            limiter(&store, "helpdesk"),
        );
        assert_eq!(a.account("JDoe").await, Ok(()));
        assert_eq!(b.account(" jdoe").await, Ok(()));
        let refused = a.account("jdoe").await.unwrap_err();
        assert!(
            refused.first && refused.retry_after > Duration::from_secs(290),
            "{refused:?}"
        );
        assert!(!b.account("jdoe").await.unwrap_err().first);
        assert_eq!(other.account("jdoe").await, Ok(()));
        // IPv6 by /64.
        let (x, y): (IpAddr, IpAddr) = (
            "2001:db8:0:1::1".parse().unwrap(),
            "2001:db8:0:1:ffff::2".parse().unwrap(),
        );
        for l in [&a, &b, &a] {
            assert_eq!(l.address(x).await, Ok(()));
        }
        assert!(b.address(y).await.is_err());
        // A reopened store (a restart) still remembers.
        drop((a, b, other, store));
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert!(limiter(&store, "portal").account("jdoe").await.is_err());
    }
}
