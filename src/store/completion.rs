//! Completing an account: the state, the spent link, the password history and the audit record,
//! written in one transaction so that none exists without the others.

use super::db::{Behavior, params};
use chrono::Utc;

use super::{AccountRecord, AuditEntry, Store, StoreError, audit, db, timestamp};
use crate::campaign::state::{AccountState, Event, Via, apply};

/// What to record when an account completes.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub account_id: i64,
    pub via: Via,
    /// The link used, now spent (portal link flow).
    pub token_hash: Option<&'a str>,
    /// The new password's argon2id PHC string and how many to keep (policy.history).
    pub history: Option<(&'a str, u32)>,
    pub audit: AuditEntry,
}

impl Store {
    /// Marks the account completed, spends its links, records the password hash and the audit
    /// entry. Refused (nothing written) when the account's state does not allow it.
    pub fn complete(&self, c: &Completion<'_>) -> Result<Result<(), String>, StoreError> {
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's head is read and extended under the write lock.
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("complete account"))?;
        let (state, dn): (String, String) = tx
            .query_row("SELECT state, dn FROM accounts WHERE id = ?1", [c.account_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(db("complete account"))?;
        let state = AccountState::parse(&state);
        if let Err(refused) = apply(state, Event::PasswordChanged) {
            return Ok(Err(refused.0));
        }
        tx.execute(
            "UPDATE accounts SET state = 'completed', completed_at = ?2, completed_via = ?3, updated_at = ?2,
                 last_error = NULL WHERE id = ?1",
            params![c.account_id, now, c.via.as_str()],
        )
        .map_err(db("complete account"))?;
        if let Some(hash) = c.token_hash {
            tx.execute("UPDATE tokens SET used_at = ?2 WHERE hash = ?1", params![hash, now])
                .map_err(db("spend token"))?;
        }
        tx.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE account_id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
            params![c.account_id, now],
        )
        .map_err(db("revoke tokens"))?;
        if let Some((phc, keep)) = c.history {
            let key = dn.to_lowercase();
            tx.execute(
                "INSERT INTO password_history (dn, phc, created_at) VALUES (?1, ?2, ?3)",
                params![key, phc, now],
            )
            .map_err(db("record password history"))?;
            tx.execute(
                "DELETE FROM password_history WHERE dn = ?1 AND id NOT IN
                     (SELECT id FROM password_history WHERE dn = ?1 ORDER BY id DESC LIMIT ?2)",
                params![key, keep],
            )
            .map_err(db("trim password history"))?;
        }
        audit::append(&tx, &c.audit)?;
        tx.commit().map_err(db("complete account"))?;
        Ok(Ok(()))
    }

    /// The argon2id hashes of the last `n` passwords set through pwresetd for `dn`, newest first.
    pub fn password_history(&self, dn: &str, n: u32) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT phc FROM password_history WHERE dn = ?1 ORDER BY id DESC LIMIT ?2")
            .map_err(db("read password history"))?;
        let rows = stmt
            .query_map(params![dn.to_lowercase(), n], |r| r.get(0))
            .map_err(db("read password history"))?;
        rows.collect::<Result<_, _>>().map_err(db("read password history"))
    }

    /// The account rows with this login that are still expected to change their password
    /// (pending, marked or failed, in a campaign that is marking or active).
    pub fn open_accounts_for_login(&self, login: &str) -> Result<Vec<AccountRecord>, StoreError> {
        self.query_accounts(
            "a.login = ?1 AND a.state IN ('pending', 'marked', 'failed') AND c.state IN ('marking', 'active')
             ORDER BY a.id",
            params![login],
        )
    }

    /// One account row by id.
    pub fn account(&self, account_id: i64) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self
            .query_accounts("a.id = ?1", params![account_id])?
            .into_iter()
            .next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{account, on_both_backends, open, spec};

    fn completion_is_atomic_and_history_trimmed() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store.insert_scanned(c.id, &[account("ann", true)]).unwrap();
        let ann = store.open_accounts_for_login("ann").unwrap().remove(0);
        let later = Utc::now() + chrono::Duration::hours(1);
        let id = store
            .begin_mail(ann.id, "notice", 0, "ann@example.org", Some(("tok", later)))
            .unwrap();
        store
            .finish_mail(
                id,
                &super::super::MailOutcome::Sent {
                    message_id: "<m>".into(),
                },
                Some("tok"),
            )
            .unwrap();
        let audit = AuditEntry {
            at: Utc::now(),
            actor: "portal".into(),
            action: "password.changed".into(),
            campaign: Some("a".into()),
            account: Some("ann".into()),
            detail: None,
        };
        for i in 0..4 {
            let phc = format!("phc{i}");
            let done = store.complete(&Completion {
                account_id: ann.id,
                via: Via::Portal,
                token_hash: Some("tok"),
                history: Some((&phc, 3)),
                audit: audit.clone(),
            });
            // Only the first completion is accepted; nothing is written for the others.
            assert_eq!(done.unwrap().is_ok(), i == 0, "attempt {i}");
        }
        let rec = store.account(ann.id).unwrap().unwrap();
        assert_eq!(rec.state, AccountState::Completed);
        assert_eq!(rec.completed_via.as_deref(), Some("portal"));
        assert!(store.token("tok").unwrap().unwrap().used_at.is_some());
        assert_eq!(
            store.password_history(&ann.dn.to_uppercase(), 5).unwrap(),
            vec!["phc0".to_string()]
        );
        assert!(store.open_accounts_for_login("ann").unwrap().is_empty());
        assert_eq!(store.audit_trail(None, Some("ann")).unwrap().len(), 1);
    }

    on_both_backends!(completion_is_atomic_and_history_trimmed);
}
