//! Leases: exactly one process (a `campaign start` or a daemon) works a campaign at a time. A
//! lease expires unless renewed, so a killed holder does not block the campaign for long.

use std::time::Duration;

use chrono::Utc;
use rusqlite::params;

use super::{Store, StoreError, db, timestamp};

impl Store {
    /// Takes or renews the lease on a campaign for `holder`; false when another holder's lease
    /// is still valid.
    pub fn acquire_lease(&self, campaign_id: i64, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(1));
        let conn = self.lock();
        let n = conn
            .execute(
                "INSERT INTO leases (campaign_id, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (campaign_id) DO UPDATE SET holder = ?2, expires_at = ?3
                 WHERE leases.holder = ?2 OR leases.expires_at < ?4",
                params![campaign_id, holder, timestamp(expires), timestamp(now)],
            )
            .map_err(db("acquire lease"))?;
        Ok(n == 1)
    }

    /// Takes the lease from `previous` (a holder known to be dead); false if it changed hands.
    pub fn take_over_lease(
        &self,
        campaign_id: i64,
        previous: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let expires = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(1));
        let n = self
            .lock()
            .execute(
                "UPDATE leases SET holder = ?3, expires_at = ?4 WHERE campaign_id = ?1 AND holder = ?2",
                params![campaign_id, previous, holder, timestamp(expires)],
            )
            .map_err(db("take over lease"))?;
        Ok(n == 1)
    }

    /// Gives the lease up (when `holder` holds it).
    pub fn release_lease(&self, campaign_id: i64, holder: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM leases WHERE campaign_id = ?1 AND holder = ?2",
                params![campaign_id, holder],
            )
            .map(drop)
            .map_err(db("release lease"))
    }

    /// Who holds the lease on a campaign now, if anyone.
    pub fn lease_holder(&self, campaign_id: i64) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        self.lock()
            .query_row(
                "SELECT holder FROM leases WHERE campaign_id = ?1 AND expires_at >= ?2",
                params![campaign_id, timestamp(Utc::now())],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("read lease"))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A name for this process as a lease holder: `role@host:pid:random`.
pub fn holder_name(role: &str) -> String {
    format!(
        "{role}@{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Whether `holder` names a process of this host that no longer exists (killed without
/// releasing its lease), so that its lease can be taken over at once.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((_, rest)) = holder.split_once('@') else {
        return false;
    };
    let mut parts = rest.rsplitn(3, ':');
    let (_random, pid, host) = (parts.next(), parts.next(), parts.next());
    match (host, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(host), Some(pid)) => host == hostname() && !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{open, spec};

    #[test]
    fn one_holder_at_a_time_until_expiry() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let long = Duration::from_secs(60);
        assert!(store.acquire_lease(c.id, "a", long).unwrap());
        assert!(store.acquire_lease(c.id, "a", long).unwrap(), "renewal");
        assert!(!store.acquire_lease(c.id, "b", long).unwrap());
        assert_eq!(store.lease_holder(c.id).unwrap().as_deref(), Some("a"));
        store.release_lease(c.id, "b").unwrap();
        assert!(
            !store.acquire_lease(c.id, "b", long).unwrap(),
            "b cannot release a's lease"
        );
        store.release_lease(c.id, "a").unwrap();
        assert!(store.acquire_lease(c.id, "b", Duration::from_millis(1)).unwrap());
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            store.acquire_lease(c.id, "a", long).unwrap(),
            "expired lease taken over"
        );
        assert!(store.take_over_lease(c.id, "a", "c", long).unwrap());
        assert!(
            !store.take_over_lease(c.id, "a", "d", long).unwrap(),
            "a no longer holds it"
        );
    }

    #[test]
    fn dead_holders_are_recognised() {
        let me = holder_name("cli");
        assert!(!holder_is_dead(&me), "{me}");
        let dead = format!("cli@{}:{}:0", hostname(), u32::MAX - 1);
        assert!(holder_is_dead(&dead), "{dead}");
        assert!(
            !holder_is_dead(&format!("cli@elsewhere:{}:0", u32::MAX - 1)),
            "other hosts are not judged"
        );
        assert!(!holder_is_dead("garbage"));
    }
}
