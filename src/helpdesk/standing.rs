//! Whether an operator's own password is in good standing. It is not when the directory flags
//! it (its "must change" flag, an expired password, or a bind that says so) or when an open
//! campaign still expects its change (pending, marked and not changed since, or failed to
//! mark). Such an operator cannot use the helpdesk: whoever holds the old, maybe stolen,
//! password must not control the campaign. Checked at sign-in and on every request of a
//! session (the store each time, the directory every [`DIRECTORY_RECHECK`]).
//!
//! The decision ([`decide`]) is pure; the reads are the store's and the directory's. Must not
//! log or keep a password.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::HelpdeskState;
use super::error::ApiError;
use crate::campaign::reconcile::{self, Observation};
use crate::campaign::state::{AccountState, CampaignState, Event};
use crate::directory::dn;
use crate::store::AccountRecord;

/// How long what the directory said about a session's operator is trusted before it is read
/// again (the store is read on every request).
pub const DIRECTORY_RECHECK: Duration = Duration::from_secs(5);

/// What the directory says about the operator's own password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    /// Flagged or expired now.
    pub flagged: bool,
    pub password_changed_at: Option<DateTime<Utc>>,
}

/// Why the operator must change their password before using the helpdesk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MustChange {
    /// The directory flags the password (or its bind says so).
    Directory,
    /// This campaign still expects the change.
    Campaign(String),
}

impl MustChange {
    /// For the audit trail and logs.
    pub fn reason(&self) -> String {
        match self {
            MustChange::Directory => "the directory says the password must change".to_owned(),
            MustChange::Campaign(c) => format!("campaign {c} expects a new password"),
        }
    }
}

/// The operator's standing from what the directory says and their campaign records.
pub fn decide(seen: Observed, records: &[(AccountRecord, CampaignState)]) -> Option<MustChange> {
    if seen.flagged {
        return Some(MustChange::Directory);
    }
    records
        .iter()
        .find(|(r, c)| c.accepts_operator_actions().is_ok() && expects_change(r, seen))
        .map(|(r, _)| MustChange::Campaign(r.campaign.clone()))
}

/// Whether the campaign still waits for this account's new password: not yet marked, not
/// markable, or marked and — as reconciliation would tell — not changed since.
fn expects_change(r: &AccountRecord, seen: Observed) -> bool {
    match (r.state, r.marked_at) {
        (AccountState::Pending | AccountState::Failed, _) | (AccountState::Marked, None) => true,
        (AccountState::Marked, Some(marked_at)) => {
            let now = Observation::Present {
                flagged: seen.flagged,
                password_changed_at: seen.password_changed_at,
                // Unflagged here (a flagged operator must change anyway): never asked.
                portal_write: None,
            };
            reconcile::decide(marked_at, now) != Some(Event::PasswordChanged)
        }
        _ => false,
    }
}

/// The operator's records in every campaign (by login and DN, compared canonically), with the
/// campaigns' states.
pub async fn records(
    state: &HelpdeskState,
    login: &str,
    operator_dn: &str,
) -> Result<Vec<(AccountRecord, CampaignState)>, ApiError> {
    let (login, wanted) = (login.to_owned(), operator_dn.to_owned());
    state
        .store()
        .run(move |s| {
            let mut out = Vec::new();
            for r in s.accounts_for(&login, Some(&wanted))? {
                if !dn::equal(&r.dn, &wanted) {
                    continue;
                }
                if let Some(c) = s.campaign(&r.campaign)? {
                    out.push((r, c.state));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| ApiError::store(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn record(state: AccountState, marked_at: Option<&str>) -> AccountRecord {
        AccountRecord {
            id: 1,
            campaign: "c1".into(),
            dn: "uid=op,dc=x".into(),
            login: Some("op".into()),
            mail: vec![],
            state,
            prior_flagged: false,
            excluded_reason: None,
            last_error: None,
            marked_at: marked_at.map(t),
            completed_at: None,
            completed_via: None,
            updated_at: t("2026-11-27T08:00:00Z"),
            display_name: None,
            language: None,
            deadline: None,
            campaign_deadline: t("2026-12-04T17:00:00Z"),
            campaign_reason: "Intrusion".into(),
        }
    }

    #[test]
    fn standing_from_the_directory_and_the_campaigns() {
        let free = Observed::default();
        let flagged = Observed {
            flagged: true,
            password_changed_at: None,
        };
        let changed_after = Observed {
            flagged: false,
            password_changed_at: Some(t("2026-11-27T09:00:00Z")),
        };
        let campaign = Some(MustChange::Campaign("c1".into()));
        let marked = Some("2026-11-27T08:00:00Z");
        use AccountState::*;
        use CampaignState::{Active, Marking, Reverted};
        let table = [
            (free, vec![], None),
            (flagged, vec![], Some(MustChange::Directory)),
            (free, vec![(Marked, marked, Active)], campaign.clone()),
            (free, vec![(Pending, None, Marking)], campaign.clone()),
            (free, vec![(Failed, None, Active)], campaign.clone()),
            // Changed elsewhere after the mark: reconciliation will complete it.
            (changed_after, vec![(Marked, marked, Active)], None),
            (free, vec![(Completed, marked, Active)], None),
            (free, vec![(Exempted, marked, Active)], None),
            (free, vec![(Excluded, None, Active)], None),
            // A campaign that no longer accepts actions does not hold anyone back.
            (free, vec![(Marked, marked, Reverted)], None),
        ];
        for (seen, rows, want) in table {
            let records: Vec<_> = rows.iter().map(|(s, m, c)| (record(*s, *m), *c)).collect();
            assert_eq!(decide(seen, &records), want, "{seen:?} {rows:?}");
        }
    }
}
