//! Leases: exactly one process (a `campaign start` or a daemon) works a campaign at a time. A
//! lease expires unless renewed, so a killed holder does not block the campaign for long.
//!
//! A foreground command that meets the service's lease asks for it ([`Store::request_lease`]);
//! the service sees the request, stops its pass at the next account and hands the lease over
//! ([`Store::release_or_hand_over`]) instead of releasing it, so that nobody can slip in
//! between. One request at a time: a second command meets the first one's and is refused.

use std::time::Duration;

use super::db::params;
use chrono::Utc;

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
                "INSERT INTO leases (campaign_id, holder, expires_at, epoch) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (campaign_id) DO UPDATE SET holder = ?2, expires_at = ?3,
                     epoch = CASE WHEN leases.holder = ?2 THEN leases.epoch ELSE leases.epoch + 1 END,
                     wanted_by = CASE WHEN leases.holder = ?2 THEN leases.wanted_by END,
                     wanted_until = CASE WHEN leases.holder = ?2 THEN leases.wanted_until END
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
                "UPDATE leases SET holder = ?3, expires_at = ?4, wanted_by = NULL, wanted_until = NULL,
                     epoch = epoch + 1
                 WHERE campaign_id = ?1 AND holder = ?2",
                params![campaign_id, previous, holder, timestamp(expires)],
            )
            .map_err(db("take over lease"))?;
        Ok(n == 1)
    }

    /// Renews `holder`'s lease of `epoch` for `ttl`; false when it is no longer that holder's:
    /// taken over (another holder, a higher epoch) or released. A released lease is not taken
    /// back: a renewal already under way when its guard released the lease (at shutdown) would
    /// otherwise hold the campaign, up to `ttl`, for a process that is gone. One that only ran
    /// out, nobody having taken it since, is renewed (same epoch: the holder's work goes on).
    pub fn renew_lease(&self, campaign_id: i64, holder: &str, epoch: i64, ttl: Duration) -> Result<bool, StoreError> {
        let expires = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(1));
        let n = self
            .lock()
            .execute(
                "UPDATE leases SET expires_at = ?4
                 WHERE campaign_id = ?1 AND holder = ?2 AND epoch = ?3 AND expires_at <> ?5",
                params![campaign_id, holder, epoch, timestamp(expires), released()],
            )
            .map_err(db("renew lease"))?;
        Ok(n == 1)
    }

    /// Gives the lease up (when `holder` holds it). The row stays, expired, so that the next
    /// holder's epoch is higher than every earlier one (store/fence.rs).
    pub fn release_lease(&self, campaign_id: i64, holder: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(RELEASE, params![campaign_id, holder, released()])
            .map(drop)
            .map_err(db("release lease"))
    }

    /// Asks `holder`'s lease on a campaign for `waiter`, valid for `ttl` (renewed while the
    /// waiter waits, so a killed waiter's request lapses). `Ok(None)`: asked (or already
    /// asked by `waiter`); `Ok(Some(other))`: another waiter asked first; nothing changes.
    /// When `holder` no longer holds the lease, nothing is asked and `Ok(None)` is returned:
    /// the waiter's next attempt to take it tells.
    pub fn request_lease(
        &self,
        campaign_id: i64,
        holder: &str,
        waiter: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        use super::db::OptionalExtension;
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(10));
        let conn = self.lock();
        conn.execute(
            "UPDATE leases SET wanted_by = ?3, wanted_until = ?4
             WHERE campaign_id = ?1 AND holder = ?2
                 AND (wanted_by IS NULL OR wanted_by = ?3 OR wanted_until < ?5)",
            params![campaign_id, holder, waiter, timestamp(until), timestamp(now)],
        )
        .map_err(db("request lease"))?;
        let wanted: Option<Option<String>> = conn
            .query_row(
                "SELECT wanted_by FROM leases WHERE campaign_id = ?1 AND holder = ?2",
                params![campaign_id, holder],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("request lease"))?;
        Ok(wanted.flatten().filter(|w| w != waiter))
    }

    /// Withdraws `waiter`'s request (it stopped waiting).
    pub fn withdraw_lease_request(&self, campaign_id: i64, waiter: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE leases SET wanted_by = NULL, wanted_until = NULL WHERE campaign_id = ?1 AND wanted_by = ?2",
                params![campaign_id, waiter],
            )
            .map(drop)
            .map_err(db("withdraw lease request"))
    }

    /// Whether somebody waits for `holder`'s lease on a campaign (a request still valid).
    pub fn lease_wanted(&self, campaign_id: i64, holder: &str) -> Result<bool, StoreError> {
        self.lock()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE campaign_id = ?1 AND holder = ?2
                     AND wanted_by IS NOT NULL AND wanted_until >= ?3)",
                params![campaign_id, holder, timestamp(Utc::now())],
                |r| r.get(0),
            )
            .map_err(db("read lease request"))
    }

    /// Gives the lease up (when `holder` holds it): to the waiter whose request is still valid,
    /// for `ttl`, else to nobody. Returns the waiter it went to.
    pub fn release_or_hand_over(
        &self,
        campaign_id: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        use super::db::OptionalExtension;
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(1));
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("release lease"))?;
        let waiter: Option<String> = tx
            .query_row(
                "UPDATE leases SET holder = wanted_by, expires_at = ?3, wanted_by = NULL, wanted_until = NULL,
                     epoch = epoch + 1
                 WHERE campaign_id = ?1 AND holder = ?2 AND wanted_by IS NOT NULL AND wanted_until >= ?4
                 RETURNING holder",
                params![campaign_id, holder, timestamp(expires), timestamp(now)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("hand over lease"))?;
        if waiter.is_none() {
            tx.execute(RELEASE, params![campaign_id, holder, released()])
                .map_err(db("release lease"))?;
        }
        tx.commit().map_err(db("release lease"))?;
        Ok(waiter)
    }

    /// Who holds the lease on a campaign now, if anyone.
    pub fn lease_holder(&self, campaign_id: i64) -> Result<Option<String>, StoreError> {
        use super::db::OptionalExtension;
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

/// A released lease: expired, its holder and epoch kept.
const RELEASE: &str = "UPDATE leases SET expires_at = ?3, wanted_by = NULL, wanted_until = NULL
     WHERE campaign_id = ?1 AND holder = ?2";

/// The expiry of a released lease: long past.
fn released() -> String {
    timestamp(chrono::DateTime::UNIX_EPOCH)
}

/// Who holds a campaign's lease and whether it is current (the helpdesk and `/metrics` show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub holder: String,
    pub epoch: i64,
    pub expires_at: chrono::DateTime<Utc>,
    /// Not expired (nor released).
    pub current: bool,
}

impl Store {
    /// The lease row of a campaign, current or not; `None` when nobody ever held it.
    pub fn lease_info(&self, campaign_id: i64) -> Result<Option<LeaseInfo>, StoreError> {
        use super::db::OptionalExtension;
        let now = Utc::now();
        self.lock()
            .query_row(
                "SELECT holder, epoch, expires_at FROM leases WHERE campaign_id = ?1",
                params![campaign_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()
            .map_err(db("read lease"))
            .map(|row| {
                row.map(|(holder, epoch, expires)| {
                    let expires_at = super::parse_time(&expires);
                    LeaseInfo {
                        holder,
                        epoch,
                        expires_at,
                        current: expires_at >= now,
                    }
                })
            })
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
    use crate::store::tests::{on_both_backends, open, spec};

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

    fn a_requested_lease_is_handed_over_not_released() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let (long, id) = (Duration::from_secs(60), c.id);
        assert!(store.acquire_lease(id, "daemon", long).unwrap());
        assert!(!store.lease_wanted(id, "daemon").unwrap());
        assert_eq!(store.request_lease(id, "daemon", "cli1", long).unwrap(), None);
        assert_eq!(
            store.request_lease(id, "daemon", "cli1", long).unwrap(),
            None,
            "asked again"
        );
        assert_eq!(
            store.request_lease(id, "daemon", "cli2", long).unwrap().as_deref(),
            Some("cli1"),
            "one waiter at a time"
        );
        assert!(store.lease_wanted(id, "daemon").unwrap());
        assert!(
            store.acquire_lease(id, "daemon", long).unwrap(),
            "renewal keeps the request"
        );
        assert!(store.lease_wanted(id, "daemon").unwrap());
        assert_eq!(
            store.release_or_hand_over(id, "daemon", long).unwrap().as_deref(),
            Some("cli1")
        );
        assert_eq!(store.lease_holder(id).unwrap().as_deref(), Some("cli1"));
        assert!(!store.acquire_lease(id, "daemon", long).unwrap(), "no slipping in");
        assert!(!store.lease_wanted(id, "cli1").unwrap(), "the request is used up");
        assert_eq!(store.release_or_hand_over(id, "cli1", long).unwrap(), None);
        assert_eq!(store.lease_holder(id).unwrap(), None);

        // A withdrawn or lapsed request: released, not handed over.
        assert!(store.acquire_lease(id, "daemon", long).unwrap());
        store.request_lease(id, "daemon", "cli1", long).unwrap();
        store.withdraw_lease_request(id, "cli1").unwrap();
        assert!(!store.lease_wanted(id, "daemon").unwrap());
        store
            .request_lease(id, "daemon", "cli2", Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!store.lease_wanted(id, "daemon").unwrap());
        assert_eq!(
            store.request_lease(id, "daemon", "cli3", long).unwrap(),
            None,
            "a lapsed request does not block the next"
        );
        store.withdraw_lease_request(id, "cli3").unwrap();
        assert_eq!(store.release_or_hand_over(id, "daemon", long).unwrap(), None);
        assert_eq!(store.lease_holder(id).unwrap(), None);
    }

    fn a_renewal_keeps_a_lease_that_ran_out_but_not_one_released_or_taken_over() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let (long, gone) = (Duration::from_secs(60), Duration::ZERO);
        assert!(store.acquire_lease(c.id, "a", gone).unwrap());
        let epoch = store.lease_epoch(c.id, "a").unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.lease_holder(c.id).unwrap(), None, "ran out");
        assert!(
            store.renew_lease(c.id, "a", epoch, long).unwrap(),
            "nobody took it: renewed"
        );
        assert_eq!(store.lease_holder(c.id).unwrap().as_deref(), Some("a"));
        assert!(!store.renew_lease(c.id, "a", epoch + 1, long).unwrap(), "another epoch");
        // Released (the guard dropped) while a renewal was under way: the renewal that lands
        // after the release must not take the lease back.
        store.release_or_hand_over(c.id, "a", long).unwrap();
        assert!(!store.renew_lease(c.id, "a", epoch, long).unwrap());
        assert_eq!(store.lease_holder(c.id).unwrap(), None, "still released");
        assert!(store.acquire_lease(c.id, "b", long).unwrap(), "free for the other");
        let taken = store.lease_epoch(c.id, "b").unwrap().unwrap();
        assert!(!store.renew_lease(c.id, "a", epoch, long).unwrap(), "taken over");
        assert!(store.renew_lease(c.id, "b", taken, long).unwrap());
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

    on_both_backends!(
        one_holder_at_a_time_until_expiry,
        a_requested_lease_is_handed_over_not_released,
        a_renewal_keeps_a_lease_that_ran_out_but_not_one_released_or_taken_over
    );
}
