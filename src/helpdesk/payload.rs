//! What the helpdesk shows of a store row: the JSON of `/api/v1/…/accounts` (schema
//! `AccountRecord` in openapi.json) and the rows of the list pages. The store's own row type
//! stays free to change; this is the contract.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaign::state::AccountState;
use crate::store::AccountRecord;

/// One account of one campaign, as operators and API clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub campaign: String,
    pub dn: String,
    pub login: Option<String>,
    pub mail: Vec<String>,
    pub state: AccountState,
    pub prior_flagged: bool,
    pub excluded_reason: Option<String>,
    pub last_error: Option<String>,
    pub marked_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_via: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub display_name: Option<String>,
    pub language: Option<String>,
    /// The account's own deadline when it was extended; the campaign's applies otherwise.
    pub deadline: Option<DateTime<Utc>>,
}

impl From<AccountRecord> for AccountRow {
    fn from(r: AccountRecord) -> Self {
        AccountRow {
            campaign: r.campaign,
            dn: r.dn,
            login: r.login,
            mail: r.mail,
            state: r.state,
            prior_flagged: r.prior_flagged,
            excluded_reason: r.excluded_reason,
            last_error: r.last_error,
            marked_at: r.marked_at,
            completed_at: r.completed_at,
            completed_via: r.completed_via,
            updated_at: r.updated_at,
            display_name: r.display_name,
            language: r.language,
            deadline: r.deadline,
        }
    }
}

/// The rows of a list, in order.
pub fn rows(records: Vec<AccountRecord>) -> Vec<AccountRow> {
    records.into_iter().map(AccountRow::from).collect()
}
