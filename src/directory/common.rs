//! The [`Directory`] written once for every LDAP flavour: [`LdapDirectory`] holds the service
//! connections and the `[directory]` settings, and itself looks accounts and operators up,
//! reads, scans and locates them, remembers policies' rules (`remembered`) and answers liveness checks.
//! Each flavour supplies only what differs, through [`Quirks`]: its attributes, what "flagged"
//! and "excluded" mean for an entry, the details it can tell (lock state, failures, policy), how
//! it marks and clears, its password operations and bind-code decoding, its policy warnings and
//! lockout rules and, when it differs, group membership.
//!
//! This module must not name a flavour's marking attribute nor give a result code a meaning: both
//! stay in the flavour's own file (ARCHITECTURE.md, invariant 2).

use std::collections::BTreeSet;

use async_trait::async_trait;
use ldap3::{Scope, ldap_escape};
use tokio::sync::mpsc;

use super::conn::{Endpoint, Pool};
use super::remembered::{Reading, Remembered};
use super::search::{self, Entry};
pub(crate) use super::shared::Shared;
use super::userpassword::Stored;
use super::{
    Account, AccountDetails, AtDeadline, BindCheck, Directory, DirectoryError, ExclusionReason, LimitKind, Lockout,
    PasswordError, Presence, ScanItem, Warning, groups, scope,
};
use crate::directory::config::{DirectoryConfig, Flavor};
use crate::policy::DirectoryRules;
use crate::secret::Secret;

/// Whether a candidate is a stored password: `None` when the flavour cannot tell.
pub(crate) type Known = Result<Option<bool>, DirectoryError>;

/// The policies named by scanned accounts (`None`: the directory's default), as
/// [`Directory::policy_warnings`] takes them.
pub(crate) type PolicyNames = BTreeSet<Option<String>>;

/// What one directory flavour does its own way. Everything else [`LdapDirectory`] does the same
/// for all of them.
#[async_trait]
pub(crate) trait Quirks: Send + Sync {
    const FLAVOR: Flavor;
    /// The flavour's attributes read with every account, besides the configured ones: what
    /// [`flagged`](Quirks::flagged), [`exclusion`](Quirks::exclusion) and the policy need.
    const ACCOUNT_ATTRS: &'static [&'static str];
    /// Read as well when the account's [`details`](Quirks::details) are wanted.
    const DETAIL_ATTRS: &'static [&'static str];
    /// The attribute naming the password policy entry that governs an account.
    const POLICY_ATTR: &'static str;

    /// Whether the entry must change its password now.
    fn flagged(&self, e: &Entry) -> bool;

    /// Why an entry that has a login is still left out of the campaign, if it is.
    fn exclusion(&self, _e: &Entry) -> Option<ExclusionReason> {
        None
    }

    /// The filter finding `login` (already escaped) among accounts and operators.
    fn login_filter(&self, config: &DirectoryConfig, login: &str) -> String {
        format!("({}={login})", config.login_attribute)
    }

    /// What the administrator changes when the server stopped a scope search at `kind`: the
    /// flavour's own setting, for the service account where the flavour has per-account limits.
    fn limit_fix(&self, kind: LimitKind, config: &DirectoryConfig) -> String;

    /// The helpdesk's view of an account read with [`DETAIL_ATTRS`](Quirks::DETAIL_ATTRS).
    async fn details(&self, s: &Shared, e: &Entry, account: Account) -> Result<AccountDetails, DirectoryError>;

    /// What the flavour does when `locate` finds the entry (`None`: gone); nothing by default.
    async fn located(&self, _s: &Shared, _dn: &str, _entry: Option<&Entry>) -> Result<(), DirectoryError> {
        Ok(())
    }

    // The operations below are [`Directory`]'s, with the shared connections and settings at hand.

    async fn policy_warnings(&self, s: &Shared, policies: &PolicyNames) -> Result<Vec<Warning>, DirectoryError>;

    /// [`Directory::lockout`], read from the directory (the caller remembers it).
    async fn lockout(&self, s: &Shared, policy: Option<&str>) -> Result<Lockout, DirectoryError>;

    /// By default the flavour cannot tell who may write what without writing.
    async fn write_warnings(&self, _s: &Shared, _dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        Ok(None)
    }

    /// The rules of the policy named `policy` (`None`: the directory's default), as the policy
    /// engine's data; `None` when there is none or it is not readable.
    async fn rules(&self, s: &Shared, policy: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError>;

    async fn mark(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError>;

    async fn clear(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError>;

    async fn check_password(&self, s: &Shared, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError>;

    /// [`Directory::is_current_password`] and [`Directory::is_earlier_password`], from hashes the
    /// flavour can read; `None` where it cannot tell without a bind (which counts as a failure).
    async fn is_stored_password(&self, s: &Shared, dn: &str, pw: &Secret, which: Stored) -> Known;

    /// [`Directory::change_password_as_user`]: the user's own change.
    async fn change_password(&self, s: &Shared, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError>;

    /// [`Directory::set_password_as_admin`]: the service account's set, flag cleared.
    async fn set_password(&self, s: &Shared, dn: &str, new: &Secret) -> Result<(), PasswordError>;

    /// By default, walks up from the entry through the groups that list it (groupOfNames
    /// `member`, groupOfUniqueNames `uniqueMember`): no overlay or plugin needed, nested groups
    /// followed.
    async fn is_member(&self, s: &Shared, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        let base = groups::context_of(&s.pool, group_dn, &s.config.base_dn).await?;
        groups::walk_up(&s.pool, &base, dn, group_dn).await
    }

    /// The deadline's lock, the flavour's way (`lock.rs` beside the flavour's file): whether it
    /// is in place, setting it, undoing it, and why it would not take effect.
    async fn lock_state(&self, s: &Shared, dn: &str, action: AtDeadline) -> Result<Option<bool>, DirectoryError>;

    async fn lock(&self, s: &Shared, dn: &str, action: AtDeadline) -> Result<(), DirectoryError>;

    async fn unlock(&self, s: &Shared, dn: &str, action: AtDeadline) -> Result<(), DirectoryError>;

    async fn lock_warnings(&self, _: &Shared, _: &PolicyNames, _: AtDeadline) -> Result<Vec<Warning>, DirectoryError> {
        Ok(Vec::new())
    }
}

/// A [`Directory`] over LDAP, with flavour `Q`'s quirks.
pub(crate) struct LdapDirectory<Q> {
    shared: Shared,
    quirks: Q,
    remembered: Remembered,
}

impl<Q: Quirks> LdapDirectory<Q> {
    /// Sets up TLS and the (not yet connected) pool.
    pub fn new(config: &DirectoryConfig, quirks: Q) -> Result<Self, DirectoryError> {
        let endpoint = Endpoint::new(config)?;
        let shared = Shared {
            pool: Pool::new(endpoint, config),
            config: config.clone(),
        };
        Ok(LdapDirectory {
            shared,
            quirks,
            remembered: Remembered::new(config.rules_cache),
        })
    }

    fn account_attrs(&self) -> Vec<&str> {
        let c = &self.shared.config;
        let mut attrs = vec![
            c.login_attribute.as_str(),
            &c.mail_attribute,
            &c.display_name_attribute,
            &c.given_name_attribute,
            &c.surname_attribute,
            &c.language_attribute,
        ];
        attrs.extend(Q::ACCOUNT_ATTRS);
        attrs
    }

    fn detail_attrs(&self) -> Vec<&str> {
        let mut attrs = self.account_attrs();
        attrs.extend(Q::DETAIL_ATTRS);
        attrs
    }

    fn account(&self, e: &Entry) -> Account {
        e.account(&self.shared.config, self.quirks.flagged(e), e.first(Q::POLICY_ATTR))
    }

    async fn details(&self, e: &Entry) -> Result<AccountDetails, DirectoryError> {
        self.quirks.details(&self.shared, e, self.account(e)).await
    }

    /// Why an entry matching the scope filter is still not in the campaign, if it is not: no
    /// login (nobody could sign in to change the password), or the flavour's own reasons.
    fn exclusion(&self, e: &Entry) -> Option<ExclusionReason> {
        if e.first(&self.shared.config.login_attribute).is_none_or(str::is_empty) {
            Some(ExclusionReason::MissingLogin)
        } else {
            self.quirks.exclusion(e)
        }
    }

    /// Whether `dn`, read as `entry`, is under the base DN, matches the user filter and none of
    /// the exclusions.
    async fn in_scope(&self, dn: &str, entry: &Entry) -> Result<bool, DirectoryError> {
        let c = &self.shared.config;
        if !scope::is_under(dn, &c.base_dn) || self.exclusion(entry).is_some() {
            return Ok(false);
        }
        let filter = scope::scope_filter(c);
        let found = search::read(&self.shared.pool, dn, Scope::Base, &filter, &["1.1"]).await?;
        Ok(!found.is_empty())
    }

    /// [`Directory::password_rules`], the policy's taken from `remembered` if `reading` allows.
    async fn rules(&self, dn: Option<&str>, reading: Reading) -> Result<Option<DirectoryRules>, DirectoryError> {
        let policy = match dn {
            None => None,
            // Read again, by base search: a subtree search may not return the policy attribute
            // (constructed on AD, operational elsewhere). Never remembered: it may change any time.
            Some(dn) => match self.shared.entry(dn, &[Q::POLICY_ATTR]).await? {
                Some(e) => e.first(Q::POLICY_ATTR).map(str::to_owned),
                None => return Ok(None),
            },
        };
        let read = self.quirks.rules(&self.shared, policy.as_deref());
        let cache = &self.remembered.rules;
        cache.get_or_read(policy.as_deref(), reading, read).await
    }
}

#[async_trait]
impl<Q: Quirks> Directory for LdapDirectory<Q> {
    fn flavor(&self) -> Flavor {
        Q::FLAVOR
    }

    async fn check(&self) -> Result<Vec<Warning>, DirectoryError> {
        self.shared.pool.get().await?;
        self.policy_warnings(&BTreeSet::from([None])).await
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        search::ping(&self.shared.pool).await
    }

    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError> {
        let c = &self.shared.config;
        let attrs = self.account_attrs();
        search::scan_scope(&self.shared.pool, c, &attrs, &sink, |e| match self.exclusion(&e) {
            None => ScanItem::InScope(self.account(&e)),
            Some(reason) => ScanItem::Excluded {
                login: e.first(&c.login_attribute).map(str::to_owned),
                dn: e.dn,
                reason,
            },
        })
        .await
        .map_err(|e| e.at_limit(&c.bind_dn, |kind| self.quirks.limit_fix(kind, c)))
    }

    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        self.quirks.policy_warnings(&self.shared, policies).await
    }

    async fn write_warnings(&self, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        self.quirks.write_warnings(&self.shared, dn).await
    }

    async fn password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        self.rules(dn, Reading::Fresh).await
    }

    async fn policy_rules(&self, policy: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        let read = self.quirks.rules(&self.shared, policy);
        self.remembered.rules.get_or_read(policy, Reading::Fresh, read).await
    }

    async fn remembered_password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        self.rules(dn, Reading::Remembered).await
    }

    fn forget_policies(&self) {
        self.remembered.forget();
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let c = &self.shared.config;
        let who = self.quirks.login_filter(c, &ldap_escape(login));
        let filter = format!("(&{}{who})", c.user_filter);
        let attrs = self.detail_attrs();
        let entries = search::read(&self.shared.pool, &c.base_dn, Scope::Subtree, &filter, &attrs).await?;
        match entries.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(self.details(one).await?)),
            many => Err(DirectoryError::Operation {
                op: "lookup",
                dn: c.base_dn.clone(),
                rc: 0,
                text: format!("login {login:?} is ambiguous: {} entries have it", many.len()),
            }),
        }
    }

    async fn search_accounts(&self, text: &str, limit: i32) -> Result<(Vec<Account>, bool), DirectoryError> {
        let c = &self.shared.config;
        let x = ldap_escape(text);
        let filter = format!(
            "(&{}(|({}=*{x}*)({}=*{x}*)({}=*{x}*)))",
            c.user_filter, c.login_attribute, c.display_name_attribute, c.mail_attribute
        );
        let attrs = self.account_attrs();
        let (entries, more) = search::read_some(&self.shared.pool, &c.base_dn, &filter, &attrs, limit).await?;
        let accounts = entries
            .iter()
            .map(|e| self.account(e))
            .filter(|a| !a.login.is_empty())
            .collect();
        Ok((accounts, more))
    }

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        match self.shared.entry(dn, &self.detail_attrs()).await? {
            Some(e) => Ok(Some(self.details(&e).await?)),
            None => Ok(None),
        }
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        let Some(entry) = self.shared.entry(dn, &self.detail_attrs()).await? else {
            self.quirks.located(&self.shared, dn, None).await?;
            return Ok(Presence::Gone);
        };
        let details = Box::new(self.details(&entry).await?);
        self.quirks.located(&self.shared, dn, Some(&entry)).await?;
        Ok(if self.in_scope(dn, &entry).await? {
            Presence::InScope(details)
        } else {
            Presence::OutOfScope(details)
        })
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        self.quirks.mark(&self.shared, dn).await
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        self.quirks.clear(&self.shared, dn).await
    }

    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        self.quirks.check_password(&self.shared, dn, password).await
    }

    async fn is_current_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        let (quirks, s) = (&self.quirks, &self.shared);
        quirks.is_stored_password(s, dn, candidate, Stored::Current).await
    }

    async fn is_earlier_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        let (quirks, s) = (&self.quirks, &self.shared);
        quirks.is_stored_password(s, dn, candidate, Stored::Earlier).await
    }

    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        self.quirks.change_password(&self.shared, dn, old, new).await
    }

    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        self.quirks.set_password(&self.shared, dn, new).await
    }

    async fn find_operator(&self, login: &str, base_dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        if login.is_empty() {
            return Ok(None);
        }
        let filter = self.quirks.login_filter(&self.shared.config, &ldap_escape(login));
        let attrs = self.detail_attrs();
        let entries = search::read(&self.shared.pool, base_dn, Scope::Subtree, &filter, &attrs).await?;
        match entries.as_slice() {
            [one] => Ok(Some(self.details(one).await?)),
            // Unknown, or ambiguous: nobody can sign in with it (the same answer).
            _ => Ok(None),
        }
    }

    async fn lockout(&self, policy: Option<&str>) -> Result<Lockout, DirectoryError> {
        let read = self.quirks.lockout(&self.shared, policy);
        let cache = &self.remembered.lockouts;
        cache.get_or_read(policy, Reading::Remembered, read).await
    }

    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        self.quirks.is_member(&self.shared, dn, group_dn).await
    }

    async fn lock_state(&self, dn: &str, action: AtDeadline) -> Result<Option<bool>, DirectoryError> {
        self.quirks.lock_state(&self.shared, dn, action).await
    }

    async fn lock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError> {
        self.quirks.lock(&self.shared, dn, action).await
    }

    async fn unlock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError> {
        self.quirks.unlock(&self.shared, dn, action).await
    }

    async fn lock_warnings(&self, policies: &PolicyNames, action: AtDeadline) -> Result<Vec<Warning>, DirectoryError> {
        self.quirks.lock_warnings(&self.shared, policies, action).await
    }
}
