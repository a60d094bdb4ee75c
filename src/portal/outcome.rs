//! What a change attempt is made of and how it ends: the typed passwords, the flow it came
//! through and its [`Outcome`], shared by the flows (`change`), their common end (`commit`)
//! and the pages (`answers`).

use crate::directory::Refusal;
use crate::policy::{Advice, Password, RuleDescription, Violation};
use crate::store::StoreError;
use crate::web::limits::Limited;

/// How a change attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Written, verified and recorded (or written and verified, and the record failed: logged).
    Changed { login: String },
    /// The policy (`[policy]` with the directory's rules as a floor) refused the password:
    /// every violation, and the account's rules and advice to list again.
    Violations {
        violations: Vec<Violation>,
        rules: Vec<RuleDescription>,
        advice: Advice,
    },
    /// The directory's own rules refused it, for this reason.
    DirectoryRefused { reason: Refusal },
    /// Unknown login or wrong current password: one answer for both.
    WrongCredentials,
    /// The link is unknown, spent, expired, revoked, or its account is no longer expected to change.
    LinkGone,
    /// The current password is right but the account has nothing to do in any open campaign.
    NothingToDo,
    /// The current password is right and the account is in an open campaign: that password is
    /// the one the campaign burnt, so it chose nothing; a new link is on its way to the mailbox.
    BurntLinkSent,
    /// Another change for the same account is in flight.
    Busy,
    /// The account's budget of failed password binds is spent (no bind was made).
    Limited(Limited),
    /// The directory, the store or a policy resource is unavailable: try again later.
    Unavailable,
    /// Written, but the verification bind did not show an unrestricted account: not recorded.
    NotConfirmed,
}

/// Which flow a change came through (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Link,
    LinkAndCurrentPassword,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Link => "link",
            Flow::LinkAndCurrentPassword => "link_and_current_password",
        }
    }
}

/// What the person typed, checked for shape (non-empty, no control characters, confirmed).
pub struct Typed {
    pub current: Option<Password>,
    pub new: Password,
}

pub(super) fn directory_down(e: &crate::directory::DirectoryError) -> Outcome {
    tracing::error!(error = %e, "portal: directory operation failed");
    Outcome::Unavailable
}

pub(super) fn store_down(e: &StoreError) -> Outcome {
    tracing::error!(error = %e, "portal: store operation failed");
    Outcome::Unavailable
}
