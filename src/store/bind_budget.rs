//! The budget of failed password binds per account (`web::budget` says what it is for), kept in
//! the store so that every `serve` on one store spends the same budget and a restart forgets
//! no failure.
//!
//! A row per key in `bind_budget`: the failures of its current chain, when the chain expires,
//! and the binds in flight. A reservation is taken by one conditional upsert (the row's lock
//! makes concurrent reservations on any instance queue: never past the budget) and recorded as
//! a row of `bind_reservations` in the same transaction; settling deletes that row. A
//! reservation nobody settles (its instance died) counts as in flight until
//! [`Store::sweep_bind_reservations`] turns it into the failure it may have been. Times in
//! milliseconds since the Unix epoch. Plain SQL with `?N` placeholders, for both backends.

use super::db::{OptionalExtension, params};

use super::{Store, StoreError, db};

/// How a reserved bind ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindEnd {
    Succeeded,
    Failed,
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Reserved,
    /// The budget is spent; the chain's end, when one is known (else all of it is in flight).
    Refused {
        chain_ends: Option<i64>,
    },
}

/// A chain whose end has passed counts no failure.
const LIVE_FAILURES: &str =
    "CASE WHEN bind_budget.expires_at IS NULL OR bind_budget.expires_at <= ?3 THEN 0 ELSE bind_budget.failures END";

impl Store {
    /// Reserves one bind for `key` (reservation `id`) at `now` when its live failures and the
    /// binds in flight are fewer than `allowed`; `window` is how long a failure counts (kept
    /// with the reservation for [`Store::sweep_bind_reservations`]).
    pub fn reserve_bind(
        &self,
        key: &str,
        id: &str,
        now: i64,
        allowed: i64,
        window: i64,
    ) -> Result<Reservation, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("reserve a bind"))?;
        let reserved = tx
            .query_row(
                &format!(
                    "INSERT INTO bind_budget (key, failures, expires_at, in_flight) VALUES (?1, 0, NULL, 1)
                     ON CONFLICT (key) DO UPDATE SET
                         failures = {LIVE_FAILURES},
                         expires_at = CASE WHEN bind_budget.expires_at <= ?3 THEN NULL ELSE bind_budget.expires_at END,
                         in_flight = bind_budget.in_flight + 1
                     WHERE {LIVE_FAILURES} + bind_budget.in_flight < ?2
                     RETURNING in_flight"
                ),
                params![key, allowed, now],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(db("reserve a bind"))?;
        if reserved.is_none() {
            let chain_ends = tx
                .query_row("SELECT expires_at FROM bind_budget WHERE key = ?1", params![key], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .map_err(db("read a bind budget"))?;
            return Ok(Reservation::Refused { chain_ends });
        }
        tx.execute(
            "INSERT INTO bind_reservations (id, key, reserved_at, window_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id, key, now, window],
        )
        .map_err(db("reserve a bind"))?;
        tx.commit().map_err(db("reserve a bind"))?;
        Ok(Reservation::Reserved)
    }

    /// Settles reservation `id` of `key`: a failure joins the chain (which then ends `window`
    /// ms after `now`), a success ends the chain. A reservation already swept was counted as a
    /// failure then: a failure adds nothing more, a success still ends the chain.
    pub fn settle_bind(&self, key: &str, id: &str, end: BindEnd, now: i64, window: i64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("settle a bind"))?;
        let held = tx
            .execute("DELETE FROM bind_reservations WHERE id = ?1", params![id])
            .map_err(db("settle a bind"))?;
        let released = i64::from(held == 1);
        match end {
            BindEnd::Failed if released == 1 => tx.execute(
                &format!(
                    "UPDATE bind_budget SET in_flight = in_flight - 1, failures = {LIVE_FAILURES} + 1,
                         expires_at = ?2 WHERE key = ?1"
                ),
                params![key, now + window, now],
            ),
            BindEnd::Failed => Ok(0),
            BindEnd::Succeeded => tx.execute(
                "UPDATE bind_budget SET in_flight = in_flight - ?2, failures = 0, expires_at = NULL WHERE key = ?1",
                params![key, released],
            ),
        }
        .map_err(db("settle a bind"))?;
        tx.execute(
            "DELETE FROM bind_budget WHERE key = ?1 AND in_flight <= 0 AND failures = 0",
            params![key],
        )
        .map_err(db("settle a bind"))?;
        tx.commit().map_err(db("settle a bind"))
    }

    /// Turns up to `batch` reservations made before `stale` into failures (their instance died
    /// or lost the store before settling: the bind may have reached the directory), each ending
    /// its window after it was made; and deletes up to `batch` chains ended by `now` with
    /// nothing in flight. Returns how many reservations were swept.
    pub fn sweep_bind_reservations(&self, now: i64, stale: i64, batch: i64) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("sweep bind reservations"))?;
        // A write first (see `insert_session`): the ended chains go.
        tx.execute(
            "DELETE FROM bind_budget WHERE key IN (SELECT key FROM bind_budget
                 WHERE in_flight <= 0 AND (expires_at IS NULL OR expires_at <= ?1) ORDER BY expires_at LIMIT ?2)",
            params![now, batch],
        )
        .map_err(db("prune bind budgets"))?;
        let old: Vec<(String, String, i64)> = {
            let mut q = tx
                .prepare(
                    "SELECT id, key, reserved_at + window_ms FROM bind_reservations WHERE reserved_at <= ?1
                     ORDER BY reserved_at LIMIT ?2",
                )
                .map_err(db("sweep bind reservations"))?;
            q.query_map(params![stale, batch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db("sweep bind reservations"))?
                .collect::<Result<_, _>>()
                .map_err(db("sweep bind reservations"))?
        };
        for (id, key, ends) in &old {
            tx.execute("DELETE FROM bind_reservations WHERE id = ?1", params![id])
                .map_err(db("sweep bind reservations"))?;
            tx.execute(
                &format!(
                    "UPDATE bind_budget SET in_flight = in_flight - 1, failures = {LIVE_FAILURES} + 1,
                         expires_at = CASE WHEN bind_budget.expires_at > ?2 THEN bind_budget.expires_at ELSE ?2 END
                     WHERE key = ?1"
                ),
                params![key, ends, now],
            )
            .map_err(db("sweep bind reservations"))?;
        }
        tx.commit().map_err(db("sweep bind reservations"))?;
        Ok(old.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    const WINDOW: i64 = 300_000;

    fn reserve(store: &Store, id: &str, now: i64, allowed: i64) -> Reservation {
        store.reserve_bind("k", id, now, allowed, WINDOW).unwrap()
    }

    fn fail(store: &Store, id: &str, now: i64) {
        assert_eq!(reserve(store, id, now, 3), Reservation::Reserved);
        store.settle_bind("k", id, BindEnd::Failed, now, WINDOW).unwrap();
    }

    fn failures_chain_and_a_success_forgets_them() {
        let (_d, store) = open();
        fail(&store, "1", 0);
        // 4 minutes later: the same chain.
        fail(&store, "2", 240_000);
        fail(&store, "3", 250_000);
        let refused = reserve(&store, "4", 260_000, 3);
        assert_eq!(
            refused,
            Reservation::Refused {
                chain_ends: Some(550_000)
            }
        );
        // A larger allowance (a link's) gets one more; its success ends the chain.
        assert_eq!(reserve(&store, "5", 260_000, 4), Reservation::Reserved);
        store
            .settle_bind("k", "5", BindEnd::Succeeded, 260_000, WINDOW)
            .unwrap();
        assert_eq!(reserve(&store, "6", 260_000, 1), Reservation::Reserved);
        store
            .settle_bind("k", "6", BindEnd::Succeeded, 260_000, WINDOW)
            .unwrap();
        // Idle: the row is gone.
        let rows: i64 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM bind_budget", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        // A window after the last failure the chain starts again.
        fail(&store, "7", 0);
        fail(&store, "8", 1);
        assert!(matches!(reserve(&store, "9", 2, 2), Reservation::Refused { .. }));
        assert_eq!(reserve(&store, "10", 1 + WINDOW, 2), Reservation::Reserved);
    }

    fn two_instances_at_once_never_pass_the_budget() {
        let (d, store) = open();
        let other = d.reopen();
        let reserved = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for (n, st) in [&store, &other, &store, &other].into_iter().enumerate() {
                let reserved = &reserved;
                s.spawn(move || {
                    for i in 0..25 {
                        let id = format!("{n}.{i}");
                        if st.reserve_bind("k", &id, 0, 2, WINDOW).unwrap() == Reservation::Reserved {
                            reserved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(reserved.into_inner(), 2);
    }

    fn reservations_in_flight_use_the_budget_and_stale_ones_become_failures() {
        let (_d, store) = open();
        assert_eq!(reserve(&store, "a", 0, 2), Reservation::Reserved);
        assert_eq!(reserve(&store, "b", 0, 2), Reservation::Reserved);
        assert_eq!(reserve(&store, "c", 0, 2), Reservation::Refused { chain_ends: None });
        // "a"'s instance died; "b" is still being bound. Only "a" is old enough to sweep.
        store.settle_bind("k", "b", BindEnd::Failed, 10, WINDOW).unwrap();
        assert_eq!(store.sweep_bind_reservations(20, 5, 10).unwrap(), 1);
        assert!(matches!(reserve(&store, "d", 20, 2), Reservation::Refused { .. }));
        // Settling a swept reservation as failed counts nothing more.
        store.settle_bind("k", "a", BindEnd::Failed, 30, WINDOW).unwrap();
        assert_eq!(reserve(&store, "e", 30, 3), Reservation::Reserved);
        assert!(matches!(reserve(&store, "f", 30, 3), Reservation::Refused { .. }));
        // Chains over and nothing in flight are pruned.
        store.settle_bind("k", "e", BindEnd::Failed, 40, WINDOW).unwrap();
        assert_eq!(store.sweep_bind_reservations(40 + WINDOW, 0, 10).unwrap(), 0);
        let rows: i64 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM bind_budget", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    on_both_backends!(
        failures_chain_and_a_success_forgets_them,
        two_instances_at_once_never_pass_the_budget,
        reservations_in_flight_use_the_budget_and_stale_ones_become_failures
    );
}
