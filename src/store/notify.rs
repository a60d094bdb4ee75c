//! Notifications and one-time link tokens in the store.
//!
//! Sending is at-most-once per (account, kind, step) for a clean run: the intent row (`sending`)
//! is committed before the mail goes out and the result after. A row left `sending` by a killed
//! process is sent again on the next pass — only the mails in flight at the kill can repeat.

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::notify_batch::{Finished, Intent, record_intent, record_result};
use super::{Store, StoreError, db, parse_time, timestamp};
use crate::campaign::schedule::Sent;

/// The state of one notification row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Intent recorded; the result is not (yet) known.
    Sending,
    Sent,
    /// Refused permanently (5xx, invalid address): not retried.
    Failed,
    /// Transient failures exhausted the attempts of one pass: retried on the next pass.
    Retry,
    /// The account has no mail address.
    NoAddress,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Sending => "sending",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
            MailState::Retry => "retry",
            MailState::NoAddress => "no_address",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        [
            MailState::Sending,
            MailState::Sent,
            MailState::Failed,
            MailState::Retry,
            MailState::NoAddress,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A marked account with what it has been sent, for the scheduler.
#[derive(Debug, Clone)]
pub struct MailCandidate {
    pub account_id: i64,
    pub dn: String,
    pub login: String,
    pub mail: Vec<String>,
    pub display_name: Option<String>,
    pub language: Option<String>,
    /// The account's own deadline when extended, else `None` (the campaign's applies).
    pub deadline: Option<DateTime<Utc>>,
    pub sent: Sent,
    /// A (kind, step) whose result is unknown or that must be retried.
    pub unfinished: Option<(String, u32)>,
    pub no_address_recorded: bool,
    /// Locked (or being locked) at the deadline: its links do not work, no notice or reminder.
    pub locked: bool,
    /// The deadline's own lock is in place (not one found there before) and the `locked` mail
    /// has no row yet: it is due, once.
    pub locked_mail_due: bool,
}

/// One row of an account's mail history (helpdesk view).
#[derive(Debug, Clone, Serialize)]
pub struct MailRecord {
    pub kind: String,
    pub step: u32,
    pub state: MailState,
    pub recipient: Option<String>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a send ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent { message_id: String },
    Failed { reply: String },
    Retry { error: String },
}

/// What a token lookup finds.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub account_id: i64,
    pub campaign: String,
    pub dn: String,
    pub login: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const DONE_NOTICE: &str = "('sent', 'failed', 'no_address')";

/// The kind of a mail with a link that the person asked for on the portal, without proving
/// who they are.
pub const REQUESTED: &str = "requested";

impl Store {
    /// Marked accounts of a campaign after `after_id`, at most `limit`, with their mail history.
    pub fn mail_candidates(
        &self,
        campaign_id: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<MailCandidate>, StoreError> {
        let conn = self.lock();
        let sql = format!(
            "SELECT a.id, a.dn, a.login, a.mail, a.display_name, a.language, a.deadline,
                (SELECT finished_at FROM notifications n WHERE n.account_id = a.id AND n.kind = 'notice'
                    AND n.state IN {DONE_NOTICE}),
                (SELECT MAX(step) FROM notifications n WHERE n.account_id = a.id AND n.kind = 'reminder'
                    AND n.state IN ('sent', 'failed')),
                (SELECT MAX(point) FROM notifications n WHERE n.account_id = a.id AND n.kind = 'reminder'
                    AND n.state IN ('sent', 'failed')),
                (SELECT kind || ':' || step FROM notifications n WHERE n.account_id = a.id
                    AND n.state IN ('sending', 'retry') ORDER BY n.id LIMIT 1),
                EXISTS (SELECT 1 FROM notifications n WHERE n.account_id = a.id AND n.state = 'no_address'),
                COALESCE(a.lock_state IN ('locking', 'locked'), FALSE),
                a.lock_state = 'locked' AND a.prior_locked = 0
                    AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.account_id = a.id AND n.kind = 'locked')
             FROM accounts a WHERE a.campaign_id = ?1 AND a.state = 'marked' AND a.id > ?2
             ORDER BY a.id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db("read mail candidates"))?;
        let rows = stmt
            .query_map(params![campaign_id, after_id, limit], |r| {
                let mail: String = r.get(3)?;
                let unfinished: Option<String> = r.get(10)?;
                Ok(MailCandidate {
                    account_id: r.get(0)?,
                    dn: r.get(1)?,
                    login: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    mail: serde_json::from_str(&mail).unwrap_or_default(),
                    display_name: r.get(4)?,
                    language: r.get(5)?,
                    deadline: r.get::<_, Option<String>>(6)?.as_deref().map(parse_time),
                    sent: Sent {
                        notice_at: r.get::<_, Option<String>>(7)?.as_deref().map(parse_time),
                        last_reminder: r.get::<_, Option<u32>>(8)?.unwrap_or(0),
                        last_point: r.get::<_, Option<String>>(9)?.as_deref().map(parse_time),
                    },
                    unfinished: unfinished.and_then(|u| {
                        let (kind, step) = u.split_once(':')?;
                        Some((kind.to_owned(), step.parse().ok()?))
                    }),
                    no_address_recorded: r.get(11)?,
                    locked: r.get(12)?,
                    locked_mail_due: r.get::<_, Option<bool>>(13)?.unwrap_or(false),
                })
            })
            .map_err(db("read mail candidates"))?;
        rows.collect::<Result<_, _>>().map_err(db("read mail candidates"))
    }

    /// Records the intent to send (kind, step) to `recipient` and, when a link goes with it, the
    /// new token's hash — in one transaction, before anything is sent. Returns the row id.
    pub fn begin_mail(
        &self,
        account_id: i64,
        kind: &str,
        step: u32,
        recipient: &str,
        token: Option<(&str, DateTime<Utc>)>,
    ) -> Result<i64, StoreError> {
        self.begin_mail_for(account_id, (kind, step, None), recipient, token)
    }

    /// [`begin_mail`](Store::begin_mail) for (kind, step, point): a reminder records the point
    /// it is due for (kept when a retry records the intent again without one).
    pub fn begin_mail_for(
        &self,
        account_id: i64,
        (kind, step, point): (&str, u32, Option<DateTime<Utc>>),
        recipient: &str,
        token: Option<(&str, DateTime<Utc>)>,
    ) -> Result<i64, StoreError> {
        let now = timestamp(Utc::now());
        let intent = Intent {
            account_id,
            row: (kind, step, point),
            recipient,
            token,
            label: None,
        };
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record mail intent"))?;
        self.check_fence(&tx)?;
        let id = record_intent(&tx, intent, &now)?;
        tx.commit().map_err(db("record mail intent"))?;
        Ok(id)
    }

    /// Records how a send ended. A delivered link replaces the account's older links — except a
    /// link the person asked for anonymously ([`REQUESTED`]): anybody who knows a login can ask,
    /// so the older link stays valid until it expires or either is used (a completion revokes
    /// the rest). A link that was never delivered is revoked.
    pub fn finish_mail(&self, id: i64, outcome: &MailOutcome, token_hash: Option<&str>) -> Result<(), StoreError> {
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record mail result"))?;
        self.check_fence(&tx)?;
        record_result(
            &tx,
            Finished {
                id,
                outcome,
                token_hash,
            },
            &now,
        )?;
        tx.commit().map_err(db("record mail result"))
    }

    /// The next free step number for a mail kind sent on demand (e.g. `resend`).
    pub fn next_step(&self, account_id: i64, kind: &str) -> Result<u32, StoreError> {
        self.lock()
            .query_row(
                "SELECT COALESCE(MAX(step), 0) + 1 FROM notifications WHERE account_id = ?1 AND kind = ?2",
                params![account_id, kind],
                |r| r.get(0),
            )
            .map_err(db("read mail steps"))
    }

    /// Records, once, that an account has no mail address.
    pub fn record_no_address(&self, account_id: i64) -> Result<(), StoreError> {
        let now = timestamp(Utc::now());
        self.fenced_write("record missing address", |c| {
            c.execute(
                "INSERT INTO notifications (account_id, kind, step, state, created_at, finished_at)
                 VALUES (?1, 'notice', 0, 'no_address', ?2, ?2) ON CONFLICT DO NOTHING",
                params![account_id, now],
            )
            .map(drop)
            .map_err(db("record missing address"))
        })
    }

    /// The mail history of one account row, oldest first.
    pub fn mail_history(&self, account_id: i64) -> Result<Vec<MailRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT kind, step, state, recipient, message_id, error, created_at, finished_at
                 FROM notifications WHERE account_id = ?1 ORDER BY id",
            )
            .map_err(db("read mail history"))?;
        let rows = stmt
            .query_map([account_id], |r| {
                Ok(MailRecord {
                    kind: r.get(0)?,
                    step: r.get(1)?,
                    state: MailState::parse(&r.get::<_, String>(2)?).unwrap_or(MailState::Sending),
                    recipient: r.get(3)?,
                    message_id: r.get(4)?,
                    error: r.get(5)?,
                    created_at: parse_time(&r.get::<_, String>(6)?),
                    finished_at: r.get::<_, Option<String>>(7)?.as_deref().map(parse_time),
                })
            })
            .map_err(db("read mail history"))?;
        rows.collect::<Result<_, _>>().map_err(db("read mail history"))
    }

    /// Finds a token by its hash.
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT t.account_id, c.name, a.dn, a.login, t.expires_at, t.used_at, t.revoked_at
             FROM tokens t JOIN accounts a ON a.id = t.account_id JOIN campaigns c ON c.id = a.campaign_id
             WHERE t.hash = ?1",
            [hash],
            |r| {
                Ok(TokenRecord {
                    account_id: r.get(0)?,
                    campaign: r.get(1)?,
                    dn: r.get(2)?,
                    login: r.get(3)?,
                    expires_at: parse_time(&r.get::<_, String>(4)?),
                    used_at: r.get::<_, Option<String>>(5)?.as_deref().map(parse_time),
                    revoked_at: r.get::<_, Option<String>>(6)?.as_deref().map(parse_time),
                })
            },
        )
        .optional()
        .map_err(db("read token"))
    }

    /// The expiry of the account's live link, if it has one.
    pub fn live_link_expiry(&self, account_id: i64, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT MAX(expires_at) FROM tokens WHERE account_id = ?1 AND used_at IS NULL AND revoked_at IS NULL
             AND expires_at > ?2",
            params![account_id, timestamp(now)],
            |r| r.get::<_, Option<String>>(0),
        )
        .map(|v| v.as_deref().map(parse_time))
        .map_err(db("read tokens"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{account, on_both_backends, open, spec};

    fn intent_then_result_and_token_rotation() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store
            .insert_scanned(c.id, &[account("ann", true), account("bob", true)])
            .unwrap();
        let cands = store.mail_candidates(c.id, 0, 10).unwrap();
        assert_eq!(cands.len(), 2);
        let ann = &cands[0];
        assert_eq!(ann.sent, Sent::default());
        let later = Utc::now() + chrono::Duration::hours(72);

        let id = store
            .begin_mail(ann.account_id, "notice", 0, "ann@example.org", Some(("h1", later)))
            .unwrap();
        // Killed here: the candidate shows an unfinished notice.
        let c1 = &store.mail_candidates(c.id, 0, 10).unwrap()[0];
        assert_eq!(c1.unfinished, Some(("notice".into(), 0)));
        assert_eq!(c1.sent.notice_at, None);
        // Sent again after the restart: same row.
        let id2 = store
            .begin_mail(ann.account_id, "notice", 0, "ann@example.org", Some(("h2", later)))
            .unwrap();
        assert_eq!(id, id2);
        store
            .finish_mail(
                id2,
                &MailOutcome::Sent {
                    message_id: "<m1@x>".into(),
                },
                Some("h2"),
            )
            .unwrap();
        let c2 = &store.mail_candidates(c.id, 0, 10).unwrap()[0];
        assert!(c2.sent.notice_at.is_some());
        assert_eq!(c2.unfinished, None);
        // The delivered link is the only live one.
        assert!(store.token("h1").unwrap().unwrap().revoked_at.is_some());
        assert!(store.token("h2").unwrap().unwrap().revoked_at.is_none());
        assert!(store.live_link_expiry(ann.account_id, Utc::now()).unwrap().is_some());

        // A reminder refused permanently: recorded, its undelivered link revoked.
        let r = store
            .begin_mail(ann.account_id, "reminder", 1, "ann@example.org", Some(("h3", later)))
            .unwrap();
        store
            .finish_mail(
                r,
                &MailOutcome::Failed {
                    reply: "550 5.1.1 mailbox unavailable".into(),
                },
                Some("h3"),
            )
            .unwrap();
        assert!(store.token("h3").unwrap().unwrap().revoked_at.is_some());
        assert!(store.token("h2").unwrap().unwrap().revoked_at.is_none());
        let c3 = &store.mail_candidates(c.id, 0, 10).unwrap()[0];
        assert_eq!(c3.sent.last_reminder, 1);
        let history = store.mail_history(ann.account_id).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].error.as_deref(), Some("550 5.1.1 mailbox unavailable"));

        // A link asked for anonymously: delivered, it leaves the older one valid.
        let q = store
            .begin_mail(ann.account_id, REQUESTED, 1, "ann@example.org", Some(("h4", later)))
            .unwrap();
        let sent = MailOutcome::Sent {
            message_id: "<m4@x>".into(),
        };
        store.finish_mail(q, &sent, Some("h4")).unwrap();
        assert!(
            store.token("h2").unwrap().unwrap().revoked_at.is_none(),
            "the older link stays"
        );
        assert!(store.token("h4").unwrap().unwrap().revoked_at.is_none());

        store.record_no_address(cands[1].account_id).unwrap();
        store.record_no_address(cands[1].account_id).unwrap();
        let bob = &store.mail_candidates(c.id, 0, 10).unwrap()[1];
        assert!(bob.no_address_recorded);
        assert_eq!(store.mail_history(bob.account_id).unwrap().len(), 1);
    }

    fn the_locked_mail_is_due_once_per_lock_the_deadline_set() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store
            .insert_scanned(c.id, &[account("ann", true), account("bob", true)])
            .unwrap();
        let ids: Vec<i64> = store
            .mail_candidates(c.id, 0, 10)
            .unwrap()
            .iter()
            .map(|m| m.account_id)
            .collect();
        let due = |i: usize| {
            let m = &store.mail_candidates(c.id, 0, 10).unwrap()[i];
            (m.locked, m.locked_mail_due)
        };
        assert_eq!(due(0), (false, false));
        // ann: locked by the deadline; bob: found locked before, left so.
        for (id, prior) in [(ids[0], false), (ids[1], true)] {
            assert!(store.record_lock_prior(id, prior).unwrap());
            assert!(due(0).0, "being locked: no notice, no reminder");
            assert!(store.record_locked(id, "deadline", "at the deadline (lock)").unwrap());
        }
        assert_eq!(due(0), (true, true));
        assert_eq!(due(1), (true, false), "the deadline did not lock it: no mail says so");
        let row = store.begin_mail(ids[0], "locked", 0, "ann@example.org", None).unwrap();
        assert_eq!(due(0), (true, false), "recorded before it is sent: due once");
        let unfinished = &store.mail_candidates(c.id, 0, 10).unwrap()[0];
        assert_eq!(
            unfinished.unfinished,
            Some(("locked".into(), 0)),
            "a kill mid-send sends it again"
        );
        let sent = MailOutcome::Sent {
            message_id: "<l@x>".into(),
        };
        store.finish_mail(row, &sent, None).unwrap();
        assert_eq!(due(0), (true, false));
        assert!(
            store
                .record_unlocked(ids[0], "op1", "helpdesk.unlock", "unlocked")
                .unwrap()
        );
        assert_eq!(due(0), (false, false), "unlocked: the schedule decides again");
        let lock = store.lock_of(ids[0]).unwrap().unwrap();
        assert_eq!(lock.unlocked_by.as_deref(), Some("op1"));
        assert!(lock.unlocked_at.is_some());
        assert_eq!(
            store.lock_candidates(c.id, None, 0, 10).unwrap().len(),
            0,
            "never locked again"
        );
    }

    on_both_backends!(
        intent_then_result_and_token_rotation,
        the_locked_mail_is_due_once_per_lock_the_deadline_set
    );
}
