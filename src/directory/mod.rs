//! The directory: where accounts live and where the "must change password" flag is set.
//!
//! [`Directory`] is the one interface the rest of pwresetd uses. It is written once, in [`common`]
//! (look-ups, reads, scans, scope tests, operator sign-in); each flavour supplies only what differs
//! in its own file and keeps its quirks there (OpenLDAP: `pwdReset`; Active Directory:
//! `pwdLastSet`; 389-DS: `passwordExpirationTime`). Nothing outside the flavour's file knows which
//! attribute marks an account or what a result code means for it. Connections, TLS and paged
//! searches shared by the flavours live in [`conn`] and [`search`]; operations that keep the
//! server's whole answer, request/response controls, scope tests and nested-group walks in
//! [`ops`], [`controls`], [`scope`] and [`groups`]. Every filter and DN built from a value goes
//! through `ldap3::ldap_escape` / `ldap3::dn_escape`.

pub mod active_directory;
mod common;
pub mod config;
pub mod conn;
mod controls;
pub mod dn;
pub mod ds389;
mod earlier;
mod error;
pub mod filetime;
pub mod gentime;
mod groups;
mod ledger;
pub mod lockout;
pub mod openldap;
mod ops;
mod remembered;
mod scope;
mod search;
mod shared;
mod test_hook;
pub mod userpassword;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

pub use crate::campaign::deadline::AtDeadline;
pub use crate::campaign::scope::{Account, ExclusionReason, ScanItem};
use crate::directory::config::{DirectoryConfig, Flavor};
use crate::policy::DirectoryRules;
use crate::secret::Secret;
use common::LdapDirectory;
pub use error::{DirectoryError, LimitKind, PasswordError, Refusal};
pub use ledger::{Cleared, LedgerError, LedgerStore, key as ledger_key};
pub use lockout::{Lockout, Threshold};

/// Everything the directory says about one account, for the helpdesk view.
#[derive(Debug, Clone, Serialize)]
pub struct AccountDetails {
    #[serde(flatten)]
    pub account: Account,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub locked_at: Option<DateTime<Utc>>,
    pub failure_count: usize,
    /// The policy that applies (the entry's own, or the directory's default when known).
    pub effective_policy: Option<String>,
}

/// A problem with the directory's configuration that does not stop pwresetd but must be seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub message: String,
    pub impact: Impact,
}

/// What a [`Warning`] means for a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// The campaign works, but something is worse than it could be, or could not be checked
    /// (e.g. the service account may not read the policy).
    Advisory,
    /// The campaign cannot do its work as configured: the mark restricts nothing under this
    /// policy, or the service account may not write what marking or a password set needs.
    Blocking,
}

impl Warning {
    pub fn advisory(message: impl Into<String>) -> Self {
        Warning {
            message: message.into(),
            impact: Impact::Advisory,
        }
    }

    pub fn blocking(message: impl Into<String>) -> Self {
        Warning {
            message: message.into(),
            impact: Impact::Blocking,
        }
    }
}

/// The operations every directory flavour provides.
#[async_trait]
pub trait Directory: Send + Sync {
    fn flavor(&self) -> Flavor;

    /// Connects and binds as the service account; returns configuration warnings (e.g. a policy
    /// under which the flag restricts nothing).
    async fn check(&self) -> Result<Vec<Warning>, DirectoryError>;

    /// A cheap liveness check: a bound service connection answers a read of the root DSE.
    async fn ping(&self) -> Result<(), DirectoryError>;

    /// Streams every account matching the user filter under the base DN into `sink`, in scope or
    /// excluded with the reason. Memory stays bounded: the sink applies back-pressure. When the
    /// server stops the search at one of its limits the error is [`DirectoryError::Limit`], with
    /// the flavour's fix: the scope is never read in pieces to get round a limit.
    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError>;

    /// Warnings about the policies named by scanned accounts (`None` = the default policy).
    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError>;

    /// What stops the service account from marking `dn` (an account in scope) or setting its
    /// password, as far as the directory tells without a write; `None` when it cannot tell.
    async fn write_warnings(&self, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError>;

    /// The directory's own password rules for the account at `dn` (its fine-grained policy when
    /// one applies) or, with `None`, for accounts under the default policy, as data for the
    /// policy engine's floor. `None` when the directory has none or they are not readable (the
    /// flavour's [`Directory::policy_warnings`] say so).
    async fn password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError>;

    /// The rules of the policy entry `policy` (`None`: the default policy), read now: for an
    /// account already read by [`read`](Directory::read), whose `Account::policy` names it (a
    /// base search returns the attribute, even where it is constructed), one search fewer.
    async fn policy_rules(&self, policy: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError>;

    /// [`password_rules`](Directory::password_rules) for a page that only shows them: the
    /// policy's rules as read at most `directory.rules_cache` ago (which policy governs `dn` is
    /// still read). A check before a write uses `password_rules`, read at that moment.
    async fn remembered_password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        self.password_rules(dn).await
    }

    /// Forgets what was remembered about policies (SIGHUP: an operator who just changed one
    /// expects to see it).
    fn forget_policies(&self) {}

    /// Looks an account up by login (in scope of the user filter); `None` when unknown.
    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError>;

    /// At most `limit` accounts (in scope of the user filter) whose login, display name or mail
    /// address contains `text` (the directory's own matching rules: case-insensitive for the
    /// usual attributes), and whether more matched. The text is escaped: `*()\` are characters.
    async fn search_accounts(&self, text: &str, limit: i32) -> Result<(Vec<Account>, bool), DirectoryError>;

    /// Reads one account by DN; `None` when the entry no longer exists.
    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError>;

    /// Reads one account by DN and says whether it is still in the campaign scope (under the
    /// base DN, matching the user filter and not the exclusions).
    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError>;

    /// Sets the "must change password" flag. Idempotent.
    async fn mark(&self, dn: &str) -> Result<(), DirectoryError>;

    /// Removes the flag. Idempotent: clearing an unflagged account succeeds.
    async fn clear(&self, dn: &str) -> Result<(), DirectoryError>;

    /// Binds as the account with `password` and says what the bind allows.
    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError>;

    /// Whether `candidate` is the account's current password, when the directory lets pwresetd
    /// tell without a bind (which would count as a failure); `None` when it cannot tell.
    async fn is_current_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError>;

    /// Whether `candidate` is one of the account's earlier passwords that the directory keeps
    /// (OpenLDAP ppolicy's `pwdHistory`), told from the stored hashes without a bind: the
    /// service account's set skips the directory's own history check, so an earlier password
    /// (one an earlier campaign burnt) would be taken. `None` when the directory keeps none that
    /// pwresetd can read and verify (389-DS, Active Directory; a history the ACLs hide).
    async fn is_earlier_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError>;

    /// Changes the password as the user, proving the old one: the directory applies its own
    /// quality and history rules and clears the flag itself.
    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError>;

    /// Sets the password as the service account (the user proved themselves another way) and
    /// clears the flag, which an administrative set may have raised.
    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError>;

    /// Finds an operator's entry by `login` under `base_dn` (the campaign's user filter does not
    /// apply); `None` when no entry, or more than one, has that login. Binds as nobody: the
    /// sign-in checks the password with [`check_password`](Directory::check_password), whose
    /// `MustChange`, like the entry's own flag, means "change your password first".
    async fn find_operator(&self, login: &str, base_dn: &str) -> Result<Option<AccountDetails>, DirectoryError>;

    /// The lockout rules of the password policy `policy` (an account's `effective_policy`;
    /// `None`: the directory's default policy), remembered for a few minutes.
    async fn lockout(&self, policy: Option<&str>) -> Result<Lockout, DirectoryError>;

    /// Whether `dn` is a member of `group_dn`, directly or through nested groups (as far as the
    /// directory lets one tell).
    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError>;

    /// Whether the account is locked (or disabled) the way the deadline's `action` locks it,
    /// by pwresetd or anyone else; `None` when the entry no longer exists.
    async fn lock_state(&self, dn: &str, action: AtDeadline) -> Result<Option<bool>, DirectoryError>;

    /// Locks (or disables) the account the flavour's way for `action`. Idempotent.
    async fn lock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError>;

    /// Undoes [`lock`](Directory::lock). Idempotent.
    async fn unlock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError>;

    /// Why `action`'s lock would not take effect for accounts under `policies` (`None` = the
    /// default policy), as blocking warnings; empty when it would.
    async fn lock_warnings(
        &self,
        policies: &BTreeSet<Option<String>>,
        action: AtDeadline,
    ) -> Result<Vec<Warning>, DirectoryError>;
}

/// Where an account stands relative to the scope.
#[derive(Debug, Clone)]
pub enum Presence {
    /// Deleted (or renamed: the DN no longer exists).
    Gone,
    /// Still there, but no longer under the base DN or matching the filters.
    OutOfScope(Box<AccountDetails>),
    InScope(Box<AccountDetails>),
}

/// What a bind as the user shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindCheck {
    /// The bind succeeded and the account can read its own entry.
    Unrestricted,
    /// The bind succeeded (or was refused for that reason) but the account must change its
    /// password before anything else.
    MustChange,
    /// Wrong password (or an account that cannot bind: locked, disabled).
    Refused,
}

/// Builds the directory client for the configured flavour. Does not connect yet.
pub fn connect(config: &DirectoryConfig) -> Result<Arc<dyn Directory>, DirectoryError> {
    connect_with_ledger(config, None)
}

/// [`connect`], with where Active Directory's DONT_EXPIRE_PASSWORD ledger lives (the store,
/// shared by every instance). Without one, clear-and-restore refuses to clear or restore (a
/// command that opens no store has no business doing either).
pub fn connect_with_ledger(
    config: &DirectoryConfig,
    ledger: Option<Arc<dyn LedgerStore>>,
) -> Result<Arc<dyn Directory>, DirectoryError> {
    match config.flavor {
        Flavor::Openldap => Ok(Arc::new(LdapDirectory::new(config, openldap::OpenLdap)?)),
        Flavor::ActiveDirectory => {
            let quirks = active_directory::ActiveDirectory::new(config, ledger);
            Ok(Arc::new(LdapDirectory::new(config, quirks)?))
        }
        Flavor::Ds389 => Ok(Arc::new(LdapDirectory::new(config, ds389::Ds389)?)),
    }
}
