//! What the helpdesk reads and writes: an operator's change to one account
//! (state, deadline, links and the audit record in one transaction, refused if the account moved
//! meanwhile), the newest audit records, campaign progress and account lists.

use super::db::{Behavior, OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{AccountRecord, AuditEntry, Store, StoreError, audit, db, parse_time, timestamp};
use crate::campaign::state::AccountState;

/// An operator's change to one account row.
#[derive(Debug, Clone)]
pub struct OperatorChange {
    pub account_id: i64,
    /// The state the decision was taken on: nothing is written if the account moved meanwhile.
    pub expected: AccountState,
    pub next: AccountState,
    /// `Some(d)`: the account's own deadline becomes `d` (`None` = the campaign's again).
    pub deadline: Option<Option<DateTime<Utc>>>,
    /// Revoke the account's live links (an exempted account has no use for them).
    pub revoke_links: bool,
    pub audit: AuditEntry,
}

/// The raw material of a campaign's progress view: every account's DN and state, and when each
/// completed account completed.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub accounts: Vec<(String, AccountState)>,
    pub completions: Vec<DateTime<Utc>>,
}

/// The account lists the helpdesk shows and exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountList {
    /// Still has to change its password (pending or marked).
    Pending,
    /// Could not be marked (the directory's reply is kept).
    Failed,
    /// Still has to change, and has no mail address.
    NoMail,
    /// Still has to change, and the last mail sent to it was refused.
    MailFailed,
}

impl AccountList {
    pub const ALL: [AccountList; 4] = [
        AccountList::Pending,
        AccountList::NoMail,
        AccountList::MailFailed,
        AccountList::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountList::Pending => "pending",
            AccountList::Failed => "failed",
            AccountList::NoMail => "no_mail",
            AccountList::MailFailed => "mail_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    fn condition(self) -> &'static str {
        match self {
            AccountList::Pending => "a.state IN ('pending', 'marked')",
            AccountList::Failed => "a.state = 'failed'",
            AccountList::NoMail => {
                "a.state IN ('pending', 'marked', 'failed') AND (a.mail = '[]' OR EXISTS
                 (SELECT 1 FROM notifications n WHERE n.account_id = a.id AND n.state = 'no_address'))"
            }
            AccountList::MailFailed => {
                "a.state IN ('pending', 'marked', 'failed') AND (SELECT n.state FROM notifications n
                 WHERE n.account_id = a.id AND n.kind != 'changed' ORDER BY n.id DESC LIMIT 1) = 'failed'"
            }
        }
    }
}

impl Store {
    /// Applies an operator's change in one transaction: the state (and `marked_at` when the
    /// account is marked anew), the deadline, the revoked links and the audit record.
    /// `Ok(Err(current))` when the account is no longer in `expected` (nothing written).
    pub fn operator_change(&self, c: &OperatorChange) -> Result<Result<(), AccountState>, StoreError> {
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's head is read and extended under the write lock.
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("operator change"))?;
        let n = tx
            .execute(
                "UPDATE accounts SET state = ?2, updated_at = ?3,
                     last_error = CASE WHEN ?2 IN ('exempted', 'marked') THEN NULL ELSE last_error END,
                     marked_at = CASE WHEN ?2 = 'marked' AND ?4 != 'marked' THEN ?3 ELSE marked_at END,
                     deadline = CASE WHEN ?5 THEN ?6 ELSE deadline END
                 WHERE id = ?1 AND state = ?4",
                params![
                    c.account_id,
                    c.next.as_str(),
                    now,
                    c.expected.as_str(),
                    c.deadline.is_some(),
                    c.deadline.flatten().map(timestamp),
                ],
            )
            .map_err(db("operator change"))?;
        if n == 0 {
            let current: Option<String> = tx
                .query_row("SELECT state FROM accounts WHERE id = ?1", [c.account_id], |r| r.get(0))
                .optional()
                .map_err(db("operator change"))?;
            let current = current
                .and_then(|s| AccountState::parse(&s))
                .unwrap_or(AccountState::Gone);
            return Ok(Err(current));
        }
        if c.revoke_links {
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE account_id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                params![c.account_id, now],
            )
            .map_err(db("revoke tokens"))?;
        }
        audit::append(&tx, &c.audit)?;
        tx.commit().map_err(db("operator change"))?;
        Ok(Ok(()))
    }

    /// The newest `limit` audit records about a campaign and/or an account, oldest first.
    pub fn audit_recent(
        &self,
        campaign: Option<&str>,
        account: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, actor, action, campaign, account, detail FROM (
                     SELECT id, at, actor, action, campaign, account, detail FROM audit
                     WHERE (CAST(?1 AS TEXT) IS NULL OR campaign = ?1) AND (CAST(?2 AS TEXT) IS NULL OR account = ?2)
                     ORDER BY id DESC LIMIT ?3) AS recent
                 ORDER BY id",
            )
            .map_err(db("read audit"))?;
        let rows = stmt
            .query_map(params![campaign, account, limit], |r| {
                Ok(AuditEntry {
                    at: parse_time(&r.get::<_, String>(0)?),
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    campaign: r.get(3)?,
                    account: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(db("read audit"))?;
        rows.collect::<Result<_, _>>().map_err(db("read audit"))
    }

    /// Every account's DN and state, and the completion times, of one campaign.
    pub fn progress(&self, campaign_id: i64) -> Result<Progress, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT dn, state, completed_at FROM accounts WHERE campaign_id = ?1")
            .map_err(db("read progress"))?;
        let rows = stmt
            .query_map([campaign_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(db("read progress"))?;
        let mut p = Progress::default();
        for row in rows {
            let (dn, state, completed_at) = row.map_err(db("read progress"))?;
            let state = AccountState::parse(&state).unwrap_or(AccountState::Pending);
            if let (AccountState::Completed, Some(at)) = (state, completed_at) {
                p.completions.push(parse_time(&at));
            }
            p.accounts.push((dn, state));
        }
        p.completions.sort();
        Ok(p)
    }

    /// The accounts of a campaign on `list`, in id order, at most `limit`.
    pub fn account_list(
        &self,
        campaign_id: i64,
        list: AccountList,
        limit: usize,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let condition = format!("a.campaign_id = ?1 AND {} ORDER BY a.id LIMIT ?2", list.condition());
        self.query_accounts(&condition, params![campaign_id, limit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ScanItem;
    use crate::store::MailOutcome;
    use crate::store::tests::{account, on_both_backends, open, spec};

    fn change(id: i64, expected: AccountState, next: AccountState) -> OperatorChange {
        OperatorChange {
            account_id: id,
            expected,
            next,
            deadline: None,
            revoke_links: next == AccountState::Exempted,
            audit: AuditEntry {
                at: Utc::now(),
                actor: "helpdesk:op".into(),
                action: "helpdesk.exempt".into(),
                campaign: Some("a".into()),
                account: Some("ann".into()),
                detail: Some("reason: on leave".into()),
            },
        }
    }

    fn operator_changes_are_guarded_and_audited() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store.insert_scanned(c.id, &[account("ann", true)]).unwrap();
        let ann = store.accounts_for("ann", None).unwrap().remove(0);
        let later = Utc::now() + chrono::Duration::hours(1);
        let id = store
            .begin_mail(ann.id, "notice", 0, "ann@example.org", Some(("tok", later)))
            .unwrap();
        store
            .finish_mail(
                id,
                &MailOutcome::Sent {
                    message_id: "<m>".into(),
                },
                Some("tok"),
            )
            .unwrap();
        assert!(store.live_link_expiry(ann.id, Utc::now()).unwrap().is_some());

        let exempt = change(ann.id, AccountState::Marked, AccountState::Exempted);
        assert_eq!(store.operator_change(&exempt).unwrap(), Ok(()));
        // The same decision taken on a state that is gone: refused, nothing written.
        assert_eq!(store.operator_change(&exempt).unwrap(), Err(AccountState::Exempted));
        let rec = store.account(ann.id).unwrap().unwrap();
        assert_eq!(rec.state, AccountState::Exempted);
        assert!(store.live_link_expiry(ann.id, Utc::now()).unwrap().is_none());
        assert_eq!(store.audit_recent(None, Some("ann"), 10).unwrap().len(), 1);

        // Marked again: a fresh marked_at; then a deadline of its own.
        let before = rec.marked_at;
        // Timestamps are stored to the millisecond: let one pass so "fresh" is visible.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut mark = change(ann.id, AccountState::Exempted, AccountState::Marked);
        mark.audit.action = "helpdesk.mark".into();
        store.operator_change(&mark).unwrap().unwrap();
        let rec = store.account(ann.id).unwrap().unwrap();
        assert_eq!(rec.state, AccountState::Marked);
        assert!(rec.marked_at > before);
        let new_deadline = rec.campaign_deadline + chrono::Duration::days(30);
        let mut extend = change(ann.id, AccountState::Marked, AccountState::Marked);
        extend.deadline = Some(Some(new_deadline));
        store.operator_change(&extend).unwrap().unwrap();
        let rec2 = store.account(ann.id).unwrap().unwrap();
        assert_eq!(rec2.effective_deadline(), new_deadline);
        assert_eq!(
            rec2.marked_at, rec.marked_at,
            "a repeated mark keeps the first mark time"
        );
        let trail = store.audit_recent(None, Some("ann"), 2).unwrap();
        assert_eq!(trail.len(), 2);
        assert_eq!(trail[0].action, "helpdesk.mark");
    }

    fn lists_and_progress() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let mut nomail = account("nomail", true);
        if let ScanItem::InScope(a) = &mut nomail {
            a.mail.clear();
        }
        store
            .insert_scanned(c.id, &[account("ann", true), account("bob", false), nomail])
            .unwrap();
        let bob = store.accounts_for("bob", None).unwrap().remove(0);
        store
            .record(&[crate::store::Update::new(
                bob.id,
                AccountState::Failed,
                Some("50 denied".into()),
            )])
            .unwrap();
        let ann = store.accounts_for("ann", None).unwrap().remove(0);
        let id = store.begin_mail(ann.id, "notice", 0, "ann@example.org", None).unwrap();
        store
            .finish_mail(
                id,
                &MailOutcome::Failed {
                    reply: "550 no such user".into(),
                },
                None,
            )
            .unwrap();
        let names = |l| -> Vec<String> {
            store
                .account_list(c.id, l, 100)
                .unwrap()
                .into_iter()
                .filter_map(|r| r.login)
                .collect()
        };
        assert_eq!(names(AccountList::Pending), ["ann", "nomail"]);
        assert_eq!(names(AccountList::Failed), ["bob"]);
        assert_eq!(names(AccountList::NoMail), ["nomail"]);
        assert_eq!(names(AccountList::MailFailed), ["ann"]);
        let p = store.progress(c.id).unwrap();
        assert_eq!(p.accounts.len(), 3);
        assert!(p.completions.is_empty());
        assert_eq!(AccountList::parse("no_mail"), Some(AccountList::NoMail));
    }

    on_both_backends!(operator_changes_are_guarded_and_audited, lists_and_progress);
}
