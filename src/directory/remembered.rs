//! What [`LdapDirectory`](super::common::LdapDirectory) remembers about password policies for
//! a short time, per policy DN (`None`: the directory's default policy): their lockout rules
//! (every password bind asks) and their password rules (every form page lists them).
//!
//! Only a clock and a map: never reads the directory itself (the caller reads and puts), and
//! never remembers anything about an account (which policy names an account is read each
//! time: a fine-grained policy may be assigned at any moment).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Lockout;
use crate::policy::DirectoryRules;

/// Values per policy, each for at most `ttl` after it was read.
#[derive(Debug)]
pub(crate) struct PolicyCache<T> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T: Clone> PolicyCache<T> {
    pub fn new(ttl: Duration) -> Self {
        PolicyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    // DNs compare case-insensitively: one policy named two ways is one entry.
    fn key(policy: Option<&str>) -> String {
        policy.map(str::to_lowercase).unwrap_or_default()
    }

    pub fn get(&self, policy: Option<&str>) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&Self::key(policy))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn put(&self, policy: Option<&str>, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // A handful of policies exist; more keys than that are old ones.
        if entries.len() > 256 {
            entries.clear();
        }
        entries.insert(Self::key(policy), (value, Instant::now()));
    }

    pub fn forget(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The value for `policy`: the remembered one when young enough and `reading` allows it,
    /// else what `read` returns, remembered (a fresh read refreshes what pages are shown).
    pub async fn get_or_read<E>(
        &self,
        policy: Option<&str>,
        reading: Reading,
        read: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if reading == Reading::Remembered
            && let Some(known) = self.get(policy)
        {
            return Ok(known);
        }
        let value = read.await?;
        self.put(policy, value.clone());
        Ok(value)
    }
}

/// Whether a value may come from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Read from the directory now (a check before a write).
    Fresh,
    /// Remembered when young enough (what a page shows).
    Remembered,
}

/// How long a policy's lockout rules are remembered before being read again.
const LOCKOUT_TTL: Duration = Duration::from_secs(300);

/// Both caches of one directory.
#[derive(Debug)]
pub(crate) struct Remembered {
    pub lockouts: PolicyCache<Lockout>,
    /// `None` values too: "this policy has no rules we can read" is as costly to learn again.
    pub rules: PolicyCache<Option<DirectoryRules>>,
}

impl Remembered {
    /// `rules_ttl`: `directory.rules_cache`; zero remembers nothing.
    pub fn new(rules_ttl: Duration) -> Self {
        Remembered {
            lockouts: PolicyCache::new(LOCKOUT_TTL),
            rules: PolicyCache::new(rules_ttl),
        }
    }

    /// After SIGHUP: the operator may have just changed a policy and expects to see it.
    pub fn forget(&self) {
        self.lockouts.forget();
        self.rules.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_keyed_case_insensitively_and_the_default_apart() {
        let c = PolicyCache::new(Duration::from_secs(60));
        assert_eq!(c.get(None), None::<u32>);
        c.put(Some("CN=Default"), 5);
        c.put(None, 7);
        assert_eq!(c.get(Some("cn=default")), Some(5));
        assert_eq!(c.get(None), Some(7));
        c.forget();
        assert_eq!(c.get(Some("cn=default")), None);
        assert_eq!(c.get(None), None);
    }

    #[test]
    fn a_value_expires_after_its_ttl_and_a_zero_ttl_remembers_nothing() {
        let c = PolicyCache::new(Duration::from_millis(30));
        c.put(None, 1);
        assert_eq!(c.get(None), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(None), None);
        let off = PolicyCache::new(Duration::ZERO);
        off.put(None, 1);
        assert_eq!(off.get(None), None);
    }
}
