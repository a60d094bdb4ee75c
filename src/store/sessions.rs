//! Helpdesk operators' web sessions kept in the store, so that an operator signed in on one
//! `serve` is signed in on every instance on that store, and a restart signs nobody out.
//!
//! A row per session, keyed by the SHA-256 (hex) of the session id the cookie holds: the id
//! itself is never stored. Times are milliseconds since the Unix epoch; `expires_at` is the
//! earlier of the idle and the absolute end, moved on by every use ([`Store::touch_session`]),
//! so that a live session is one with `expires_at > now` and expired rows can be deleted in
//! bounded batches by index. What a session means (idle timeout, lifetime, rechecks) is
//! `helpdesk::session`'s; this file only keeps the rows. Plain SQL with `?N` placeholders,
//! for both backends. Must not see session ids or passwords.

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, db, parse_time, timestamp};

/// One session as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub login: String,
    pub dn: String,
    pub operator: bool,
    /// What the directory last said about the person's own password, and when it was read.
    pub flagged: bool,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub standing_checked: i64,
    /// When group membership was last checked.
    pub checked: i64,
    pub created: i64,
    pub last_seen: i64,
}

/// How long sessions last, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    pub idle: i64,
    pub max: i64,
}

const COLUMNS: &str =
    "login, dn, operator, flagged, password_changed_at, standing_checked, checked_at, created_at, last_seen";

fn row(r: &super::db::Row<'_>) -> super::db::DbResult<SessionRow> {
    Ok(SessionRow {
        login: r.get(0)?,
        dn: r.get(1)?,
        operator: r.get(2)?,
        flagged: r.get(3)?,
        password_changed_at: r.get::<_, Option<String>>(4)?.map(|t| parse_time(&t)),
        standing_checked: r.get(5)?,
        checked: r.get(6)?,
        created: r.get(7)?,
        last_seen: r.get(8)?,
    })
}

impl Store {
    /// Records a new session; when `max_sessions` are kept, the least recently used go first.
    pub fn insert_session(
        &self,
        hash: &str,
        s: &SessionRow,
        span: SessionSpan,
        max_sessions: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        // The write first: a transaction that read before writing could not take SQLite's write
        // lock once another process wrote meanwhile (WAL snapshot), busy timeout or not.
        let tx = conn.transaction().map_err(db("start a session"))?;
        let expires = (s.last_seen + span.idle).min(s.created + span.max);
        tx.execute(
            "INSERT INTO helpdesk_sessions (id_hash, login, dn, operator, flagged, password_changed_at,
                 standing_checked, checked_at, created_at, last_seen, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                hash,
                s.login,
                s.dn,
                s.operator,
                s.flagged,
                s.password_changed_at.map(timestamp),
                s.standing_checked,
                s.checked,
                s.created,
                s.last_seen,
                expires
            ],
        )
        .map_err(db("start a session"))?;
        let kept: i64 = tx
            .query_row("SELECT COUNT(*) FROM helpdesk_sessions", [], |r| r.get(0))
            .map_err(db("count sessions"))?;
        if kept > max_sessions {
            tx.execute(
                "DELETE FROM helpdesk_sessions WHERE id_hash IN
                     (SELECT id_hash FROM helpdesk_sessions ORDER BY last_seen LIMIT ?1)",
                params![kept - max_sessions],
            )
            .map_err(db("evict sessions"))?;
        }
        tx.commit().map_err(db("start a session"))
    }

    /// The live session `hash` names, marked used at `now` (its idle end moved on, never past
    /// its absolute end); `None` when there is none or it has expired (then its row goes).
    pub fn touch_session(&self, hash: &str, now: i64, span: SessionSpan) -> Result<Option<SessionRow>, StoreError> {
        let conn = self.lock();
        let found = conn
            .query_row(
                &format!(
                    "UPDATE helpdesk_sessions SET last_seen = ?2,
                         expires_at = CASE WHEN ?3 < created_at + ?4 THEN ?3 ELSE created_at + ?4 END
                     WHERE id_hash = ?1 AND expires_at > ?2
                     RETURNING {COLUMNS}"
                ),
                // The idle end computed here: PostgreSQL cannot type `$2 + $3` alone.
                params![hash, now, now + span.idle, span.max],
                row,
            )
            .optional()
            .map_err(db("read a session"))?;
        if found.is_none() {
            conn.execute(
                "DELETE FROM helpdesk_sessions WHERE id_hash = ?1 AND expires_at <= ?2",
                params![hash, now],
            )
            .map_err(db("end an expired session"))?;
        }
        Ok(found)
    }

    /// Records a fresh read of the person's own password's state.
    pub fn session_observed(
        &self,
        hash: &str,
        flagged: bool,
        password_changed_at: Option<DateTime<Utc>>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE helpdesk_sessions SET flagged = ?2, password_changed_at = ?3, standing_checked = ?4
                 WHERE id_hash = ?1",
                params![hash, flagged, password_changed_at.map(timestamp), now],
            )
            .map_err(db("record a session's standing"))?;
        Ok(())
    }

    /// Records a fresh membership check.
    pub fn session_checked(&self, hash: &str, operator: bool, now: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE helpdesk_sessions SET operator = ?2, checked_at = ?3 WHERE id_hash = ?1",
                params![hash, operator, now],
            )
            .map_err(db("record a membership check"))?;
        Ok(())
    }

    pub fn end_session(&self, hash: &str) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM helpdesk_sessions WHERE id_hash = ?1", params![hash])
            .map_err(db("end a session"))?;
        Ok(())
    }

    /// Leaves a message for the session's next page.
    pub fn set_session_flash(&self, hash: &str, message: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE helpdesk_sessions SET flash = ?2 WHERE id_hash = ?1",
                params![hash, message],
            )
            .map_err(db("leave a session message"))?;
        Ok(())
    }

    /// Takes the session's message: read, then cleared only if still the same, so that two
    /// pages at once (on two instances) show it once.
    pub fn take_session_flash(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        let Some(message) = conn
            .query_row(
                "SELECT flash FROM helpdesk_sessions WHERE id_hash = ?1",
                params![hash],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(db("read a session message"))?
            .flatten()
        else {
            return Ok(None);
        };
        let taken = conn
            .execute(
                "UPDATE helpdesk_sessions SET flash = NULL WHERE id_hash = ?1 AND flash = ?2",
                params![hash, message],
            )
            .map_err(db("take a session message"))?;
        Ok((taken == 1).then_some(message))
    }

    /// Deletes up to `batch` sessions expired by `now`; returns how many.
    pub fn prune_sessions(&self, now: i64, batch: i64) -> Result<usize, StoreError> {
        self.lock()
            .execute(
                "DELETE FROM helpdesk_sessions WHERE id_hash IN
                     (SELECT id_hash FROM helpdesk_sessions WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
                params![now, batch],
            )
            .map_err(db("prune sessions"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    const SPAN: SessionSpan = SessionSpan {
        idle: 1_000,
        max: 5_000,
    };

    fn session(login: &str, at: i64) -> SessionRow {
        SessionRow {
            login: login.into(),
            dn: format!("uid={login},dc=x"),
            operator: true,
            flagged: false,
            password_changed_at: None,
            standing_checked: at,
            checked: at,
            created: at,
            last_seen: at,
        }
    }

    fn lifecycle_idle_and_absolute_end() {
        let (_d, store) = open();
        store.insert_session("h", &session("op1", 0), SPAN, 10).unwrap();
        let seen = store.touch_session("h", 900, SPAN).unwrap().unwrap();
        assert_eq!((seen.login.as_str(), seen.last_seen), ("op1", 900));
        // Used within the idle time, again and again: alive until the absolute end.
        for t in [1_800, 2_700, 3_600, 4_500] {
            assert!(store.touch_session("h", t, SPAN).unwrap().is_some(), "at {t}");
        }
        assert_eq!(store.touch_session("h", 5_000, SPAN).unwrap(), None);
        // Idle too long.
        store.insert_session("i", &session("op2", 0), SPAN, 10).unwrap();
        assert_eq!(store.touch_session("i", 1_000, SPAN).unwrap(), None);
        assert_eq!(store.touch_session("nobody", 0, SPAN).unwrap(), None);
    }

    fn updates_flash_and_end() {
        let (_d, store) = open();
        store.insert_session("h", &session("op1", 0), SPAN, 10).unwrap();
        let changed = DateTime::parse_from_rfc3339("2026-11-30T10:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        store.session_observed("h", true, Some(changed), 10).unwrap();
        store.session_checked("h", false, 20).unwrap();
        let s = store.touch_session("h", 30, SPAN).unwrap().unwrap();
        assert_eq!(
            (
                s.flagged,
                s.password_changed_at,
                s.standing_checked,
                s.operator,
                s.checked
            ),
            (true, Some(changed), 10, false, 20)
        );
        assert_eq!(store.take_session_flash("h").unwrap(), None);
        store.set_session_flash("h", "Sent.").unwrap();
        assert_eq!(store.take_session_flash("h").unwrap().as_deref(), Some("Sent."));
        assert_eq!(store.take_session_flash("h").unwrap(), None);
        store.end_session("h").unwrap();
        assert_eq!(store.touch_session("h", 40, SPAN).unwrap(), None);
    }

    fn bounded_and_pruned() {
        let (_d, store) = open();
        for (i, h) in ["a", "b", "c"].iter().enumerate() {
            store.insert_session(h, &session(h, i as i64 * 100), SPAN, 3).unwrap();
        }
        store.touch_session("a", 300, SPAN).unwrap().unwrap();
        // At the bound, the least recently used ("b") goes.
        store.insert_session("d", &session("d", 400), SPAN, 3).unwrap();
        assert_eq!(store.touch_session("b", 450, SPAN).unwrap(), None);
        assert!(store.touch_session("c", 450, SPAN).unwrap().is_some());
        // c and d were used at 450 and 400; a at 300 (expires 1300).
        assert_eq!(store.prune_sessions(1_300, 10).unwrap(), 1);
        assert_eq!(store.prune_sessions(1_450, 1).unwrap(), 1);
        assert_eq!(store.prune_sessions(1_450, 1).unwrap(), 1);
        assert_eq!(store.prune_sessions(1_450, 1).unwrap(), 0);
    }

    on_both_backends!(
        lifecycle_idle_and_absolute_end,
        updates_flash_and_end,
        bounded_and_pruned
    );
}
