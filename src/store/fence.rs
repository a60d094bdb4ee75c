//! Fencing: a write made on a campaign's behalf by the holder of its lease carries the lease's
//! epoch ([`Fence`]) and is refused, inside its own transaction, once the lease has passed to
//! another holder. A paused or partitioned worker whose lease expired and was taken over can
//! then no longer commit anything (no mail intent, so no new mail; no result, no lock).
//!
//! A [`Store`] handle made by [`Store::fenced`] checks its fence first in every campaign write
//! (`work`, `notify`, `lock`, campaign state); an unfenced handle (the portal, the helpdesk)
//! checks nothing. This file must not decide who holds a lease (`lease.rs` does).

use std::sync::Arc;

use super::db::{Conn, OptionalExtension, params};

use super::{Store, StoreError, db};

/// What a lease holder proves with each write: it still holds `campaign_id`'s lease at `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub campaign_id: i64,
    pub holder: String,
    pub epoch: i64,
}

impl Store {
    /// This store, whose campaign writes are refused ([`StoreError::Fenced`]) once `fence`'s
    /// lease has passed to another holder.
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            fence: Some(Arc::new(fence)),
            ..self.clone()
        }
    }

    /// The fence this handle's writes carry, if any.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_deref()
    }

    /// The epoch of `holder`'s lease on a campaign, when it holds one (even expired: nobody
    /// else took it meanwhile, so its writes are still the only ones).
    pub fn lease_epoch(&self, campaign_id: i64, holder: &str) -> Result<Option<i64>, StoreError> {
        self.lock()
            .query_row(
                "SELECT epoch FROM leases WHERE campaign_id = ?1 AND holder = ?2",
                params![campaign_id, holder],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("read lease epoch"))
    }

    /// Refuses the write about to be made in `conn`'s transaction when this handle's fence no
    /// longer holds. The check is a write (a no-op `UPDATE` of the lease row), not a `SELECT`:
    /// it takes the write lock (SQLite) or the row's lock (PostgreSQL) first, so a take-over
    /// either commits before it (and the check fails) or waits until this transaction commits.
    /// A `SELECT` would let a take-over commit between the check and the write.
    pub(super) fn check_fence(&self, conn: &Conn) -> Result<(), StoreError> {
        let Some(fence) = self.fence() else {
            return Ok(());
        };
        let held = conn
            .execute(
                "UPDATE leases SET epoch = epoch WHERE campaign_id = ?1 AND holder = ?2 AND epoch = ?3",
                params![fence.campaign_id, fence.holder, fence.epoch],
            )
            .map_err(db("check lease fence"))?;
        if held == 1 {
            #[cfg(debug_assertions)]
            test_hook::stop_if_asked();
            return Ok(());
        }
        Err(refusal(conn, fence)?)
    }

    /// A fenced handle's failed call, looked at again: a lost connection (the server ended a
    /// session stalled inside a transaction, see `store::config`) after the lease has passed
    /// on is [`StoreError::Fenced`], as the write would have been, so that the holder stops
    /// and says so. Other errors, and any while the lease is still this holder's, are kept.
    pub fn refenced(&self, error: StoreError) -> StoreError {
        let Some(fence) = self.fence() else {
            return error;
        };
        let StoreError::Database { source, .. } = &error else {
            return error;
        };
        if !source.is_connection_lost() {
            return error;
        }
        // The pool may hand the dead connection out once more (it learns that it is closed
        // only from a failed query, and then drops it): a few tries reach a live one.
        for _ in 0..3 {
            let conn = self.lock();
            let current = conn
                .query_row(
                    "SELECT epoch FROM leases WHERE campaign_id = ?1 AND holder = ?2",
                    params![fence.campaign_id, fence.holder],
                    |r| r.get::<_, i64>(0),
                )
                .optional();
            match current {
                Ok(Some(epoch)) if epoch == fence.epoch => return error,
                Ok(_) => return refusal(&conn, fence).unwrap_or(error),
                Err(_) => continue,
            }
        }
        error
    }

    /// Runs `write` in an immediate transaction after checking the fence (for writes that are
    /// one statement unfenced).
    pub(super) fn fenced_write<T>(
        &self,
        op: &'static str,
        write: impl FnOnce(&Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(super::db::Behavior::Immediate)
            .map_err(db(op))?;
        self.check_fence(&tx)?;
        let out = write(&tx)?;
        tx.commit().map_err(db(op))?;
        Ok(out)
    }
}

/// The refusal of `fence`'s write: whose lease it is now.
fn refusal(conn: &Conn, fence: &Fence) -> Result<StoreError, StoreError> {
    let (campaign, holder): (Option<String>, Option<String>) = conn
        .query_row(
            "SELECT (SELECT name FROM campaigns WHERE id = ?1), (SELECT holder FROM leases WHERE campaign_id = ?1)",
            params![fence.campaign_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db("check lease fence"))?;
    Ok(StoreError::Fenced {
        campaign: campaign.unwrap_or_else(|| fence.campaign_id.to_string()),
        holder: holder.unwrap_or_else(|| "nobody".into()),
        epoch: fence.epoch,
    })
}

/// A test-only hook (debug builds only: compiled out of release builds), for tests/ha.rs: when
/// `PWRESETD_TEST_STOP_IN_FENCED_WRITE` names a file and that file exists, the process removes
/// it and stops itself (SIGSTOP) right after a fence check, inside the write's transaction,
/// holding its lease row's lock — a stall at the worst moment, made deterministic.
#[cfg(debug_assertions)]
mod test_hook {
    pub(super) fn stop_if_asked() {
        static FILE: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
        let file = FILE.get_or_init(|| std::env::var_os("PWRESETD_TEST_STOP_IN_FENCED_WRITE"));
        if let Some(file) = file {
            if std::fs::remove_file(file).is_ok() {
                use rustix::process::{Signal, getpid, kill_process};
                let _ = kill_process(getpid(), Signal::STOP);
                // The stop is for the whole process and may reach another thread first: wait
                // here for it rather than run the transaction's next statements meanwhile.
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::on_both_backends;
    use std::time::Duration;

    use super::*;
    use crate::campaign::state::CampaignState;
    use crate::store::tests::{open, spec};

    fn the_epoch_rises_with_each_new_holder_and_a_stale_fence_is_refused() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let (long, id) = (Duration::from_secs(60), c.id);
        let epoch = |h: &str| store.lease_epoch(id, h).unwrap();

        assert!(store.acquire_lease(id, "a", long).unwrap());
        assert_eq!(epoch("a"), Some(1));
        assert!(store.acquire_lease(id, "a", long).unwrap());
        assert_eq!(epoch("a"), Some(1), "a renewal keeps the epoch");
        let a = store.fenced(Fence {
            campaign_id: id,
            holder: "a".into(),
            epoch: 1,
        });
        a.set_campaign_state(id, CampaignState::Active).unwrap();

        // Expiry then acquisition by another holder.
        assert!(store.acquire_lease(id, "a", Duration::from_millis(1)).unwrap());
        std::thread::sleep(Duration::from_millis(5));
        a.set_campaign_state(id, CampaignState::Active)
            .expect("expired but not taken: still the only writer");
        assert!(store.acquire_lease(id, "b", long).unwrap());
        assert_eq!(epoch("b"), Some(2));
        let refused = a.set_campaign_state(id, CampaignState::Reverting).unwrap_err();
        match &refused {
            StoreError::Fenced {
                campaign,
                holder,
                epoch,
            } => {
                assert_eq!((campaign.as_str(), holder.as_str(), *epoch), ("a", "b", 1));
            }
            other => panic!("{other}"),
        }
        assert_eq!(store.campaign("a").unwrap().unwrap().state, CampaignState::Active);
        assert!(!store.acquire_lease(id, "a", long).unwrap(), "a cannot renew b's lease");

        // Take-over, hand-over, release and re-acquisition.
        assert!(store.take_over_lease(id, "b", "c", long).unwrap());
        assert_eq!(epoch("c"), Some(3));
        store.request_lease(id, "c", "d", long).unwrap();
        assert_eq!(store.release_or_hand_over(id, "c", long).unwrap().as_deref(), Some("d"));
        assert_eq!(epoch("d"), Some(4));
        store.release_lease(id, "d").unwrap();
        assert_eq!(store.lease_holder(id).unwrap(), None);
        assert!(store.acquire_lease(id, "e", long).unwrap());
        assert_eq!(epoch("e"), Some(5), "a release keeps the epoch for the next holder");
        let e = store.fenced(Fence {
            campaign_id: id,
            holder: "e".into(),
            epoch: 5,
        });
        e.set_campaign_state(id, CampaignState::Reverting).unwrap();
        let d = store.fenced(Fence {
            campaign_id: id,
            holder: "d".into(),
            epoch: 4,
        });
        assert!(matches!(d.record_no_address(1), Err(StoreError::Fenced { .. })));
    }

    /// A fenced call whose connection was lost (PostgreSQL ended the session of a holder
    /// stalled inside a transaction) is `Fenced` once the lease has passed on, and kept as it
    /// is while the lease is still the holder's or when the statement, not the connection,
    /// failed.
    fn a_lost_connection_after_the_lease_passed_on_is_fenced() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let (long, id) = (Duration::from_secs(60), c.id);
        assert!(store.acquire_lease(id, "a", long).unwrap());
        let a = store.fenced(Fence {
            campaign_id: id,
            holder: "a".into(),
            epoch: 1,
        });
        let failed = StoreError::Database {
            op: "t",
            source: super::super::db::DbError::NoRows,
        };
        assert!(
            matches!(a.refenced(failed), StoreError::Database { .. }),
            "not the connection: kept"
        );
        if !store.is_shared() {
            return; // SQLite has no connection to lose.
        }
        // As in production: the server ends a session idle inside a transaction (25P03).
        let lost = || {
            let mut conn = a.lock();
            conn.execute_batch("SET idle_in_transaction_session_timeout = 100")
                .unwrap();
            let tx = conn.transaction().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let e = tx.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map_err(db("t"));
            let e = e.unwrap_err();
            assert!(
                matches!(&e, StoreError::Database { source, .. } if source.is_connection_lost()),
                "{e}"
            );
            e
        };
        assert!(
            matches!(a.refenced(lost()), StoreError::Database { .. }),
            "still a's lease: kept"
        );
        assert!(store.acquire_lease(id, "a", Duration::from_millis(1)).unwrap());
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.acquire_lease(id, "b", long).unwrap());
        match a.refenced(lost()) {
            StoreError::Fenced { holder, epoch, .. } => assert_eq!((holder.as_str(), epoch), ("b", 1)),
            other => panic!("{other}"),
        }
    }

    on_both_backends!(
        the_epoch_rises_with_each_new_holder_and_a_stale_fence_is_refused,
        a_lost_connection_after_the_lease_passed_on_is_fenced
    );
}
