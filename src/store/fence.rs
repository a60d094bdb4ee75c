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
            return Ok(());
        }
        let (campaign, holder): (Option<String>, Option<String>) = conn
            .query_row(
                "SELECT (SELECT name FROM campaigns WHERE id = ?1), (SELECT holder FROM leases WHERE campaign_id = ?1)",
                params![fence.campaign_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db("check lease fence"))?;
        Err(StoreError::Fenced {
            campaign: campaign.unwrap_or_else(|| fence.campaign_id.to_string()),
            holder: holder.unwrap_or_else(|| "nobody".into()),
            epoch: fence.epoch,
        })
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

    on_both_backends!(the_epoch_rises_with_each_new_holder_and_a_stale_fence_is_refused);
}
