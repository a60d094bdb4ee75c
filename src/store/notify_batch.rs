//! A mail's rows in the store as statements on an open transaction, and the pass's one
//! transaction per mail slot: the result of a session's previous mail and the intent of its next
//! one, committed together.
//!
//! Why merged: a pass over 100k mails used to commit three times per mail (intent, labels,
//! result), each through its own trip to the blocking pool; the round trips, not the SQL, were
//! most of the store's share. Merging the result of mail *i* with the intent of mail *i + 1* of
//! the same session halves the trips without widening the at-most-in-flight window: after each
//! commit a session has exactly one row `sending` (its next mail), as before, and a kill repeats
//! at most one mail per session. The result of the session's last mail is recorded alone.
//!
//! Owns the SQL of a mail's intent (notification row, link token, labels) and result (state,
//! link revocation); `notify.rs`'s one-mail functions call it. Must not decide what is due, nor
//! send anything.

use super::db::{Conn, params};
use chrono::{DateTime, Utc};

use super::labels::insert_label;
use super::{MailLabel, MailOutcome, MailState, REQUESTED, Store, StoreError, db, timestamp};

/// The intent to send one mail, recorded before it goes out.
#[derive(Debug, Clone, Copy)]
pub struct Intent<'a> {
    pub account_id: i64,
    /// (kind, step, point): a reminder records the point it is due for (kept when a retry
    /// records the intent again without one).
    pub row: (&'a str, u32, Option<DateTime<Utc>>),
    pub recipient: &'a str,
    /// The new link's token hash and expiry, when a link goes with the mail.
    pub token: Option<(&'a str, DateTime<Utc>)>,
    /// The mail's labels (reference code, Message-ID), when it has been built.
    pub label: Option<&'a MailLabel>,
}

/// How a mail recorded as notification `id` ended.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub id: i64,
    pub outcome: &'a MailOutcome,
    /// The hash of the link the mail carried, if any.
    pub token_hash: Option<&'a str>,
}

impl Store {
    /// Records `done` (a session's previous mail) and `next` (its next one) in one transaction;
    /// returns the id of `next`'s row. Either may be absent (the first and the last mail of a
    /// session). Nothing is recorded when either fails.
    pub fn finish_then_begin(
        &self,
        done: Option<Finished<'_>>,
        next: Option<Intent<'_>>,
    ) -> Result<Option<i64>, StoreError> {
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record mail result and intent"))?;
        self.check_fence(&tx)?;
        if let Some(done) = done {
            record_result(&tx, done, &now)?;
        }
        let id = next.map(|next| record_intent(&tx, next, &now)).transpose()?;
        tx.commit().map_err(db("record mail result and intent"))?;
        Ok(id)
    }
}

/// Records the intent (and the link's token, and the labels) on an open transaction; returns the
/// notification's id. Statements are cached: a pass runs them once per mail.
pub(super) fn record_intent(conn: &Conn, i: Intent<'_>, now: &str) -> Result<i64, StoreError> {
    let (kind, step, point) = i.row;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO notifications (account_id, kind, step, state, recipient, created_at, point)
             VALUES (?1, ?2, ?3, 'sending', ?4, ?5, ?6)
             ON CONFLICT (account_id, kind, step) DO UPDATE SET state = 'sending', recipient = ?4, error = NULL,
                 point = COALESCE(?6, notifications.point)
             RETURNING id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![i.account_id, kind, step, i.recipient, now, point.map(timestamp)],
                |r| r.get(0),
            )
        })
        .map_err(db("record mail intent"))?;
    if let Some((hash, expires)) = i.token {
        conn.prepare_cached("INSERT INTO tokens (hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![hash, i.account_id, now, timestamp(expires)]))
            .map_err(db("record token"))?;
    }
    if let Some(label) = i.label {
        insert_label(conn, id, label, now)?;
    }
    Ok(id)
}

/// Records how a send ended, on an open transaction. A delivered link replaces the account's
/// older links — except a link the person asked for anonymously ([`REQUESTED`]): anybody who
/// knows a login can ask, so the older link stays valid until it expires or either is used (a
/// completion revokes the rest). A link that was never delivered is revoked.
pub(super) fn record_result(conn: &Conn, f: Finished<'_>, now: &str) -> Result<(), StoreError> {
    let (state, message_id, error) = match f.outcome {
        MailOutcome::Sent { message_id } => (MailState::Sent, Some(message_id.as_str()), None),
        MailOutcome::Failed { reply } => (MailState::Failed, None, Some(reply.as_str())),
        MailOutcome::Retry { error } => (MailState::Retry, None, Some(error.as_str())),
    };
    let kind: String = conn
        .prepare_cached(
            "UPDATE notifications SET state = ?2, message_id = ?3, error = ?4, finished_at = ?5 WHERE id = ?1
             RETURNING kind",
        )
        .and_then(|mut s| s.query_row(params![f.id, state.as_str(), message_id, error, now], |r| r.get(0)))
        .map_err(db("record mail result"))?;
    let Some(hash) = f
        .token_hash
        .filter(|_| !(state == MailState::Sent && kind == REQUESTED))
    else {
        return Ok(());
    };
    let revoke = match state {
        MailState::Sent => {
            "UPDATE tokens SET revoked_at = ?2 WHERE hash != ?1 AND revoked_at IS NULL AND used_at IS NULL
             AND account_id = (SELECT account_id FROM tokens WHERE hash = ?1)"
        }
        _ => "UPDATE tokens SET revoked_at = ?2 WHERE hash = ?1",
    };
    conn.prepare_cached(revoke)
        .and_then(|mut s| s.execute(params![hash, now]))
        .map(drop)
        .map_err(db("revoke tokens"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_both_backends;
    use crate::store::tests::{account, open, spec};

    fn label(n: u32) -> MailLabel {
        MailLabel {
            reference: format!("REF{n:09}"),
            message_id: format!("<pwresetd.{n}@example.org>"),
            token_hash: Some(format!("h{n}")),
        }
    }

    fn intent(account_id: i64, label: &MailLabel) -> Intent<'_> {
        Intent {
            account_id,
            row: ("notice", 0, None),
            recipient: "x@example.org",
            token: label
                .token_hash
                .as_deref()
                .map(|h| (h, Utc::now() + chrono::Duration::hours(1))),
            label: Some(label),
        }
    }

    fn states(store: &Store, login: &str) -> Vec<String> {
        let a = store.accounts_for(login, None).unwrap().remove(0);
        store
            .mail_history(a.id)
            .unwrap()
            .iter()
            .map(|m| m.state.as_str().to_owned())
            .collect()
    }

    fn a_result_and_the_next_intent_commit_together_or_not_at_all() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store
            .insert_scanned(c.id, &[account("ann", true), account("bob", true), account("cy", true)])
            .unwrap();
        let id_of = |login: &str| store.accounts_for(login, None).unwrap()[0].id;
        let (l1, l2) = (&label(1), &label(2));
        // First mail of a session: its intent alone.
        let first = store
            .finish_then_begin(None, Some(intent(id_of("ann"), l1)))
            .unwrap()
            .unwrap();
        assert_eq!(states(&store, "ann"), ["sending"]);
        // Its result with the next mail's intent: one `sending` row after the commit.
        let sent = MailOutcome::Sent {
            message_id: l1.message_id.clone(),
        };
        let done = Finished {
            id: first,
            outcome: &sent,
            token_hash: Some("h1"),
        };
        let second = store
            .finish_then_begin(Some(done), Some(intent(id_of("bob"), l2)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (states(&store, "ann"), states(&store, "bob")),
            (vec!["sent".into()], vec!["sending".into()])
        );
        let found = store.find_mail(Some(&l2.message_id), None, None, Utc::now()).unwrap();
        assert!(found.is_some(), "the labels go with the intent");
        // An intent that cannot be recorded (its token hash is taken): the result recorded with
        // it is rolled back too, so the session records it alone afterwards.
        let bob_sent = MailOutcome::Sent {
            message_id: l2.message_id.clone(),
        };
        let bob_done = Finished {
            id: second,
            outcome: &bob_sent,
            token_hash: Some("h2"),
        };
        let clash = store.finish_then_begin(Some(bob_done), Some(intent(id_of("cy"), l1)));
        assert!(clash.is_err());
        assert_eq!(
            (states(&store, "bob"), states(&store, "cy")),
            (vec!["sending".into()], vec![])
        );
        assert_eq!(store.finish_then_begin(Some(bob_done), None).unwrap(), None);
        assert_eq!(states(&store, "bob"), ["sent"]);
    }

    on_both_backends!(a_result_and_the_next_intent_commit_together_or_not_at_all);
}
