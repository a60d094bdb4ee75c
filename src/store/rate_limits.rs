//! Rate-limit counters kept in the store, so that every `serve` on one store counts the same
//! attempts and a restart forgets none: one GCRA "theoretical arrival time" (TAT, milliseconds
//! since the Unix epoch) per key.
//!
//! One attempt is one statement ([`Store::take_rate`]): an `INSERT … ON CONFLICT DO UPDATE …
//! RETURNING` that decides and records in the same row lock, so two instances never both read
//! a bucket's last token. The arithmetic is the caller's (`web::limits` computes the bounds and
//! reads the answer); this file only applies it. Keys arrive already hashed: no login or address
//! is stored here. A key whose TAT has passed is a full bucket, the same as no row, so expired
//! rows are deleted in bounded batches ([`Store::prune_rate_limits`], by the `tat` index).
//! Plain SQL with `?N` placeholders, for both backends. Must not see passwords.

use super::db::params;

use super::{Store, StoreError, db};

/// What the store answers for one attempt on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateTake {
    /// The key's TAT after the attempt (unchanged when it was refused).
    pub tat: i64,
    /// Refusals since the key was last allowed: 0 when this attempt was allowed, 1 for the
    /// first refusal of a run.
    pub refusals: i64,
}

/// The bounds of one attempt, all in milliseconds since the Unix epoch (or a length in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBounds {
    pub now: i64,
    /// One attempt's worth of time (window / burst).
    pub interval: i64,
    /// The latest TAT at which one more attempt still fits: now + capacity − interval.
    pub limit: i64,
}

impl Store {
    /// Takes one attempt for `key`: allowed (TAT moves on by one interval from itself or now,
    /// whichever is later) unless the TAT is past `limit` (then it stays, and the refusal is
    /// counted). A key with no row is a full bucket.
    pub fn take_rate(&self, key: &str, b: RateBounds) -> Result<RateTake, StoreError> {
        self.lock()
            .query_row(
                "INSERT INTO rate_limits (key, tat, refusals) VALUES (?1, ?5, 0)
                 ON CONFLICT (key) DO UPDATE SET
                     tat = CASE WHEN rate_limits.tat > ?4 THEN rate_limits.tat
                                WHEN rate_limits.tat > ?2 THEN rate_limits.tat + ?3
                                ELSE ?5 END,
                     refusals = CASE WHEN rate_limits.tat > ?4 THEN rate_limits.refusals + 1 ELSE 0 END
                 RETURNING tat, refusals",
                // now + interval computed here: PostgreSQL cannot type `$2 + $3` alone.
                params![key, b.now, b.interval, b.limit, b.now + b.interval],
                |r| {
                    Ok(RateTake {
                        tat: r.get(0)?,
                        refusals: r.get(1)?,
                    })
                },
            )
            .map_err(db("take a rate-limit attempt"))
    }

    /// Deletes up to `batch` keys whose bucket is full again by `now`; returns how many.
    pub fn prune_rate_limits(&self, now: i64, batch: i64) -> Result<usize, StoreError> {
        self.lock()
            .execute(
                "DELETE FROM rate_limits WHERE key IN
                     (SELECT key FROM rate_limits WHERE tat <= ?1 ORDER BY tat LIMIT ?2)",
                params![now, batch],
            )
            .map_err(db("prune rate limits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    /// Burst 3 over 60 s: interval 20 s, capacity 60 s.
    fn bounds(now: i64) -> RateBounds {
        RateBounds {
            now,
            interval: 20_000,
            limit: now + 40_000,
        }
    }

    fn take(store: &Store, key: &str, now: i64) -> (i64, i64) {
        let t = store.take_rate(key, bounds(now)).unwrap();
        (t.tat, t.refusals)
    }

    fn burst_then_one_per_interval() {
        let (_d, store) = open();
        let t0 = 1_000_000;
        assert_eq!(take(&store, "k", t0), (t0 + 20_000, 0));
        assert_eq!(take(&store, "k", t0), (t0 + 40_000, 0));
        assert_eq!(take(&store, "k", t0), (t0 + 60_000, 0));
        // Empty: refused, TAT kept, refusals counted (the first is the one worth reporting).
        assert_eq!(take(&store, "k", t0), (t0 + 60_000, 1));
        assert_eq!(take(&store, "k", t0 + 19_999), (t0 + 60_000, 2));
        // One interval on, one more token; the refusal run is over.
        assert_eq!(take(&store, "k", t0 + 20_000), (t0 + 80_000, 0));
        assert_eq!(take(&store, "k", t0 + 20_001), (t0 + 80_000, 1));
        // Another key has its own bucket; a long pause refills from now, not from the old TAT.
        assert_eq!(take(&store, "other", t0), (t0 + 20_000, 0));
        assert_eq!(take(&store, "k", t0 + 500_000), (t0 + 520_000, 0));
    }

    fn two_instances_at_once_never_get_more_than_the_burst() {
        let (d, store) = open();
        let other = d.reopen();
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for st in [&store, &other, &store, &other] {
                let allowed = &allowed;
                s.spawn(move || {
                    for _ in 0..25 {
                        if st.take_rate("k", bounds(0)).unwrap().refusals == 0 {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 3);
    }

    fn expired_keys_are_pruned_in_batches() {
        let (_d, store) = open();
        for i in 0..5 {
            take(&store, &format!("k{i}"), 1_000 * i);
        }
        // TATs are 20_000 + 1_000·i: at 22_000 the first three are full again.
        assert_eq!(store.prune_rate_limits(22_000, 2).unwrap(), 2);
        assert_eq!(store.prune_rate_limits(22_000, 2).unwrap(), 1);
        assert_eq!(store.prune_rate_limits(22_000, 2).unwrap(), 0);
        // The live keys kept their state.
        assert_eq!(take(&store, "k4", 22_000), (44_000, 0));
    }

    on_both_backends!(
        burst_then_one_per_interval,
        two_instances_at_once_never_get_more_than_the_burst,
        expired_keys_are_pruned_in_batches
    );
}
