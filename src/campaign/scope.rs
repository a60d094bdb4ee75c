//! What a scan of a campaign's scope finds: accounts in scope, and those left out with the
//! reason. Plain data shared by the directory (which produces it), the store (which records it)
//! and the dry run; no I/O.

use serde::Serialize;

/// An account as found in the directory's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub dn: String,
    pub login: String,
    pub mail: Vec<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub language: Option<String>,
    /// The "must change password" flag is set now.
    pub flagged: bool,
    /// The password policy object governing this account, when the entry names one.
    pub policy: Option<String>,
}

/// Why an account matching the user filter is not in the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// Matches `directory.exclude_filter`.
    ExcludeFilter,
    /// Has no value for `directory.login_attribute`: nobody could log in to change it.
    MissingLogin,
    /// Disabled in the directory (Active Directory `userAccountControl` ACCOUNTDISABLE, 389-DS
    /// `nsAccountLock`): nobody uses it, and mails to it would confuse.
    Disabled,
    /// Active Directory DONT_EXPIRE_PASSWORD, where the mark does nothing (usually a service
    /// account); included only with `directory.dont_expire_accounts = "clear-and-restore"`.
    PasswordNeverExpires,
}

impl ExclusionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionReason::ExcludeFilter => "exclude_filter",
            ExclusionReason::MissingLogin => "missing_login",
            ExclusionReason::Disabled => "disabled",
            ExclusionReason::PasswordNeverExpires => "password_never_expires",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ExclusionReason::ExcludeFilter,
            ExclusionReason::MissingLogin,
            ExclusionReason::Disabled,
            ExclusionReason::PasswordNeverExpires,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    pub fn describe(self) -> &'static str {
        match self {
            ExclusionReason::ExcludeFilter => "matches directory.exclude_filter",
            ExclusionReason::MissingLogin => "has no login attribute",
            ExclusionReason::Disabled => "disabled in the directory",
            ExclusionReason::PasswordNeverExpires => {
                "password never expires (DONT_EXPIRE_PASSWORD): the mark would do nothing; see \
                 directory.dont_expire_accounts"
            }
        }
    }
}

/// One result of a scope scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanItem {
    InScope(Account),
    Excluded {
        dn: String,
        login: Option<String>,
        reason: ExclusionReason,
    },
}
