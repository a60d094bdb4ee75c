//! Moving a campaign's deadline (`campaign set NAME --deadline`): the new deadline, the accounts'
//! own deadlines it absorbs, and the audit record, in one fenced transaction.
//!
//! Must not decide whether a deadline may move (in the past, a reverted campaign): the CLI does.
//! It refuses only what it alone can see atomically: locks the deadline's action already set.

use chrono::{DateTime, Utc};

use super::db::{Behavior, OptionalExtension, params};
use super::{AuditEntry, Store, StoreError, db, parse_time, timestamp};

/// What moving a deadline did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineMove {
    Moved {
        old: DateTime<Utc>,
        /// Accounts whose own deadline (a helpdesk extension) is later than the new one: kept.
        kept: u64,
        /// Accounts whose own deadline is not later than the new one: cleared, the campaign's
        /// applies (an extension must never end up earlier than the campaign's deadline).
        absorbed: u64,
    },
    /// The deadline's action already locked (or is locking) this many accounts: nothing changed.
    Locked { accounts: u64 },
    /// No such campaign.
    Missing,
}

impl Store {
    /// Moves campaign `campaign_id`'s deadline to `deadline`, audited as `action` by `actor`.
    /// The reminders re-arm by themselves: each records the point it was due for
    /// (`campaign::schedule`).
    pub fn move_deadline(
        &self,
        campaign_id: i64,
        deadline: DateTime<Utc>,
        actor: &str,
        action: &str,
    ) -> Result<DeadlineMove, StoreError> {
        let op = "move deadline";
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's write lock first (see `set_enforcement`); it also keeps a
        // deadline run from locking between the check below and the update.
        let tx = conn.transaction_with_behavior(Behavior::Immediate).map_err(db(op))?;
        self.check_fence(&tx)?;
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT name, deadline FROM campaigns WHERE id = ?1",
                [campaign_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db(op))?;
        let Some((name, old)) = row else {
            return Ok(DeadlineMove::Missing);
        };
        let locked: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM accounts WHERE campaign_id = ?1 AND lock_state IN ('locking', 'locked')",
                [campaign_id],
                |r| r.get(0),
            )
            .map_err(db(op))?;
        if locked > 0 {
            return Ok(DeadlineMove::Locked {
                accounts: locked as u64,
            });
        }
        let new = timestamp(deadline);
        let now = timestamp(Utc::now());
        // Timestamps are fixed-width RFC 3339 UTC text: they compare as strings.
        let kept: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM accounts WHERE campaign_id = ?1 AND deadline IS NOT NULL AND deadline > ?2",
                params![campaign_id, new],
                |r| r.get(0),
            )
            .map_err(db(op))?;
        let kept = kept as u64;
        let absorbed = tx
            .execute(
                "UPDATE accounts SET deadline = NULL, updated_at = ?3
                 WHERE campaign_id = ?1 AND deadline IS NOT NULL AND deadline <= ?2",
                params![campaign_id, new, now],
            )
            .map_err(db(op))? as u64;
        tx.execute(
            "UPDATE campaigns SET deadline = ?2, updated_at = ?3 WHERE id = ?1",
            params![campaign_id, new, now],
        )
        .map_err(db(op))?;
        let old = parse_time(&old);
        let detail = format!(
            "deadline {} → {new}; own deadlines later than it kept: {kept}, cleared: {absorbed}",
            timestamp(old)
        );
        // Through the chain (`audit::append`), under the transaction's write lock.
        super::audit::append(
            &tx,
            &AuditEntry {
                at: Utc::now(),
                actor: actor.to_owned(),
                action: action.to_owned(),
                campaign: Some(name),
                account: None,
                detail: Some(detail),
            },
        )?;
        tx.commit().map_err(db(op))?;
        Ok(DeadlineMove::Moved { old, kept, absorbed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::state::AccountState;
    use crate::store::OperatorChange;
    use crate::store::tests::{account, on_both_backends, open, spec};

    /// Gives account `id` a deadline of its own, as the helpdesk's extend does.
    fn extend(store: &Store, id: i64, deadline: DateTime<Utc>) {
        let change = OperatorChange {
            account_id: id,
            expected: AccountState::Marked,
            next: AccountState::Marked,
            deadline: Some(Some(deadline)),
            revoke_links: false,
            audit: AuditEntry {
                at: Utc::now(),
                actor: "helpdesk:op".into(),
                action: "helpdesk.extend".into(),
                campaign: Some("a".into()),
                account: None,
                detail: None,
            },
        };
        store.operator_change(&change).unwrap().unwrap();
    }

    /// Own deadlines later than the new one are kept, the others cleared; audited; once the
    /// deadline's action has locked an account, nothing moves.
    fn a_moved_deadline_keeps_later_extensions_and_stops_at_locks() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let logins = ["ann", "bob", "cid"];
        store.insert_scanned(c.id, &logins.map(|l| account(l, true))).unwrap();
        let id = |login: &str| store.accounts_for(login, None).unwrap()[0].id;
        let days = |n: i64| c.deadline + chrono::Duration::days(n);
        extend(&store, id("bob"), days(10));
        extend(&store, id("cid"), days(1));

        let moved = store.move_deadline(c.id, days(5), "cli:root", "campaign.set").unwrap();
        assert_eq!(
            moved,
            DeadlineMove::Moved {
                old: c.deadline,
                kept: 1,
                absorbed: 1
            }
        );
        assert_eq!(store.campaign("a").unwrap().unwrap().deadline, days(5));
        let deadline_of = |login: &str| store.account(id(login)).unwrap().unwrap().effective_deadline();
        assert_eq!(logins.map(deadline_of), [days(5), days(10), days(5)]);
        let audit = store.audit_recent(Some("a"), None, 1).unwrap();
        assert_eq!(
            (audit[0].action.as_str(), audit[0].actor.as_str()),
            ("campaign.set", "cli:root")
        );
        let detail = audit[0].detail.as_deref().unwrap();
        assert!(detail.contains("kept: 1, cleared: 1"), "{detail}");

        assert!(store.record_lock_prior(id("ann"), false).unwrap());
        let refused = store.move_deadline(c.id, days(20), "cli:root", "campaign.set").unwrap();
        assert_eq!(refused, DeadlineMove::Locked { accounts: 1 });
        assert_eq!(store.campaign("a").unwrap().unwrap().deadline, days(5));
        assert_eq!(
            store.move_deadline(c.id + 1, days(20), "t", "t").unwrap(),
            DeadlineMove::Missing
        );
    }

    on_both_backends!(a_moved_deadline_keeps_later_extensions_and_stops_at_locks);
}
