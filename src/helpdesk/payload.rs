//! What the helpdesk shows of a store row: the JSON of `/api/v1/…/accounts` (schema
//! `AccountRecord` in openapi.json) and the rows of the list pages. The store's own row type
//! stays free to change; this is the contract.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaign::state::AccountState;
use crate::store::AccountRecord;

/// One account of one campaign, as operators and API clients see it; borrowed from the row.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRow<'a> {
    pub campaign: &'a str,
    pub dn: &'a str,
    pub login: Option<&'a str>,
    pub mail: &'a [String],
    pub state: AccountState,
    pub prior_flagged: bool,
    pub excluded_reason: Option<&'a str>,
    pub last_error: Option<&'a str>,
    pub marked_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_via: Option<&'a str>,
    pub updated_at: DateTime<Utc>,
    pub display_name: Option<&'a str>,
    pub language: Option<&'a str>,
    /// The account's own deadline when it was extended; the campaign's applies otherwise.
    pub deadline: Option<DateTime<Utc>>,
}

impl<'a> From<&'a AccountRecord> for AccountRow<'a> {
    fn from(r: &'a AccountRecord) -> Self {
        AccountRow {
            campaign: &r.campaign,
            dn: &r.dn,
            login: r.login.as_deref(),
            mail: &r.mail,
            state: r.state,
            prior_flagged: r.prior_flagged,
            excluded_reason: r.excluded_reason.as_deref(),
            last_error: r.last_error.as_deref(),
            marked_at: r.marked_at,
            completed_at: r.completed_at,
            completed_via: r.completed_via.as_deref(),
            updated_at: r.updated_at,
            display_name: r.display_name.as_deref(),
            language: r.language.as_deref(),
            deadline: r.deadline,
        }
    }
}

/// The rows of a list, in order.
pub fn rows(records: &[AccountRecord]) -> Vec<AccountRow<'_>> {
    records.iter().map(AccountRow::from).collect()
}
