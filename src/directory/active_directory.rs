//! Active Directory (measured against Samba AD DC; see AD-FACTS.md).
//!
//! Mark = `pwdLastSet: 0`. Clear = `pwdLastSet: -1`, which AD turns into "now": the flag goes,
//! and the password's age restarts (a revert therefore also postpones the next age-based expiry).
//! Flagged = `pwdLastSet` 0, or `msDS-User-Account-Control-Computed` PASSWORD_EXPIRED; never for
//! a DONT_EXPIRE_PASSWORD account while the bit is set, since AD then ignores `pwdLastSet: 0`.
//!
//! Lockout: the domain's `lockoutThreshold` and observation window, or the user's PSO's.
//!
//! Scope: disabled accounts are excluded, and so are DONT_EXPIRE_PASSWORD accounts unless
//! `directory.dont_expire_accounts = "clear-and-restore"`: marking one then clears the bit, after
//! entering it in the ledger (`dont_expire.rs`); revert, exemption, the account's completed change, or
//! reconciliation seeing it changed (or unflagged) set the bit again and take it off the ledger.
//!
//! Searches are always paged (AD refuses unpaged ones past 1000 entries) and continuation
//! references are ignored; a search stopped at the LDAP policy's limits names the policy to
//! raise (`limits.rs`). TLS is required (config refuses `allow_insecure`). Whether a candidate
//! is the current password cannot be told: `unicodePwd` is never readable, and a bind would count
//! as a failure when wrong. Nor whether it is an earlier one: the history (`ntPwdHistory`) is
//! readable by no LDAP client, and an administrative reset never compares with it.

mod dont_expire;
mod limits;
mod lock;
mod password;
mod policy;
mod rights;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ldap3::{Mod, Scope, ldap_escape};
use tokio::sync::OnceCell;

use super::common::{Known, PolicyNames, Quirks, Shared};
use super::ledger::{Ledger, LedgerStore};
use super::search::{self, Entry};
use super::userpassword::Stored;
use super::{
    Account, AccountDetails, AtDeadline, BindCheck, DirectoryError, ExclusionReason, LimitKind, Lockout, PasswordError,
    Warning, dn, filetime, ops,
};
use crate::directory::config::{DirectoryConfig, DontExpire, Flavor};
use crate::policy::DirectoryRules;
use crate::secret::Secret;
use dont_expire::Restore;

const PWD_LAST_SET: &str = "pwdLastSet";
const UAC: &str = "userAccountControl";
const UAC_COMPUTED: &str = "msDS-User-Account-Control-Computed";
const RESULTANT_PSO: &str = "msDS-ResultantPSO";
const UPN: &str = "userPrincipalName";
/// What [`PwState`] is read from.
const STATE_ATTRS: &[&str] = &[UAC, PWD_LAST_SET, UAC_COMPUTED];

const ACCOUNTDISABLE: u32 = 0x2;
const DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;
const COMPUTED_LOCKOUT: u32 = 0x10;
const COMPUTED_PASSWORD_EXPIRED: u32 = 0x80_0000;

/// The password-related state of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct PwState {
    uac: u32,
    pwd_last_set: Option<i64>,
    computed: Option<u32>,
}

impl PwState {
    fn of(e: &Entry) -> Self {
        let num = |attr| e.first(attr).and_then(|v| v.trim().parse::<i64>().ok());
        PwState {
            // userAccountControl is a 32-bit flag set; some tools write it signed.
            uac: num(UAC).map_or(0, |v| v as u32),
            pwd_last_set: num(PWD_LAST_SET),
            computed: num(UAC_COMPUTED).map(|v| v as u32),
        }
    }

    fn never_expires(self) -> bool {
        self.uac & DONT_EXPIRE_PASSWORD != 0
    }

    fn disabled(self) -> bool {
        self.uac & ACCOUNTDISABLE != 0
    }

    /// Must change the password at the next logon.
    fn flagged(self) -> bool {
        !self.never_expires()
            && (self.pwd_last_set == Some(0) || self.computed.is_some_and(|c| c & COMPUTED_PASSWORD_EXPIRED != 0))
    }

    fn locked(self) -> bool {
        self.computed.is_some_and(|c| c & COMPUTED_LOCKOUT != 0)
    }
}

/// Active Directory's quirks, and the state they keep: the DONT_EXPIRE_PASSWORD ledger and the
/// domain's name. The rest of the work is [`LdapDirectory`](super::common::LdapDirectory)'s.
pub struct ActiveDirectory {
    /// With clear-and-restore: an earlier version's ledger file, imported on first use.
    ledger_path: Option<PathBuf>,
    /// Where the ledger lives (the store), when the caller gave one.
    ledger_store: Option<Arc<dyn LedgerStore>>,
    ledger: OnceCell<Ledger>,
    domain: OnceCell<String>,
}

impl ActiveDirectory {
    pub fn new(config: &DirectoryConfig, ledger_store: Option<Arc<dyn LedgerStore>>) -> Self {
        let ledger_path = match &config.dont_expire {
            DontExpire::Skip => None,
            DontExpire::ClearAndRestore { ledger } => Some(ledger.clone()),
        };
        ActiveDirectory {
            ledger_path,
            ledger_store,
            ledger: OnceCell::new(),
            domain: OnceCell::new(),
        }
    }

    /// The domain's naming context (the root DSE's `defaultNamingContext`), read once.
    async fn domain(&self, s: &Shared) -> Result<&str, DirectoryError> {
        let dn = self
            .domain
            .get_or_try_init(|| async {
                let root = s.entry("", &["defaultNamingContext"]).await?;
                Ok::<_, DirectoryError>(
                    root.as_ref()
                        .and_then(|e| e.first("defaultNamingContext"))
                        .map_or_else(|| s.config.base_dn.clone(), str::to_owned),
                )
            })
            .await?;
        Ok(dn)
    }
}

#[async_trait]
impl Quirks for ActiveDirectory {
    const FLAVOR: Flavor = Flavor::ActiveDirectory;
    const ACCOUNT_ATTRS: &'static [&'static str] = STATE_ATTRS;
    const DETAIL_ATTRS: &'static [&'static str] = &["lockoutTime", "badPwdCount", RESULTANT_PSO];
    const POLICY_ATTR: &'static str = RESULTANT_PSO;

    fn flagged(&self, e: &Entry) -> bool {
        PwState::of(e).flagged()
    }

    fn exclusion(&self, e: &Entry) -> Option<ExclusionReason> {
        let state = PwState::of(e);
        if state.disabled() {
            Some(ExclusionReason::Disabled)
        } else if state.never_expires() && self.ledger_path.is_none() {
            Some(ExclusionReason::PasswordNeverExpires)
        } else {
            None
        }
    }

    /// The UPN is accepted wherever a login is (users know it from signing in to Windows).
    fn login_filter(&self, config: &DirectoryConfig, login: &str) -> String {
        if config.login_attribute.eq_ignore_ascii_case(UPN) {
            format!("({UPN}={login})")
        } else {
            format!("(|({}={login})({UPN}={login}))", config.login_attribute)
        }
    }

    fn limit_fix(&self, kind: LimitKind, c: &DirectoryConfig) -> String {
        limits::fix(kind, c.page_size)
    }

    async fn details(&self, s: &Shared, e: &Entry, account: Account) -> Result<AccountDetails, DirectoryError> {
        let state = PwState::of(e);
        let effective_policy = match &account.policy {
            Some(pso) => pso.clone(),
            None => self.domain(s).await?.to_owned(),
        };
        Ok(AccountDetails {
            password_changed_at: e.first(PWD_LAST_SET).and_then(filetime::parse),
            locked_at: if state.locked() {
                e.first("lockoutTime").and_then(filetime::parse)
            } else {
                None
            },
            failure_count: e.first("badPwdCount").and_then(|v| v.parse().ok()).unwrap_or(0),
            effective_policy: Some(effective_policy),
            account,
        })
    }

    async fn located(&self, s: &Shared, dn: &str, entry: Option<&Entry>) -> Result<(), DirectoryError> {
        match entry {
            Some(entry) => self.settle(s, dn, entry).await,
            None => match self.ledger().await? {
                Some(ledger) => ledger.forget(dn).await,
                None => Ok(()),
            },
        }
    }

    async fn policy_warnings(&self, s: &Shared, policies: &PolicyNames) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        for p in policies {
            if self.rules(s, p.as_deref()).await?.is_none() {
                let name = match p {
                    Some(pso) => pso.as_str(),
                    None => self.domain(s).await?,
                };
                warnings.push(Warning::advisory(format!(
                    "the password policy of {name} is not readable by the service account: pwresetd \
                     cannot adopt its rules, so its accounts may pass the portal's checks and then see \
                     the directory refuse the password; let the service account read it"
                )));
            }
        }
        Ok(warnings)
    }

    async fn lockout(&self, s: &Shared, policy: Option<&str>) -> Result<Lockout, DirectoryError> {
        let domain = self.domain(s).await?;
        match policy.filter(|p| !dn::equal(p, domain)) {
            None => policy::domain_lockout(&s.pool, domain).await,
            Some(pso) => policy::pso_lockout(&s.pool, pso).await,
        }
    }

    async fn write_warnings(&self, s: &Shared, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        let mut attrs = vec![PWD_LAST_SET];
        if self.ledger_path.is_some() {
            // Clear-and-restore writes the DONT_EXPIRE_PASSWORD bit too.
            attrs.push(UAC);
        }
        rights::check(&s.pool, &s.config.bind_dn, dn, &attrs).await.map(Some)
    }

    async fn rules(&self, s: &Shared, policy: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        match policy {
            None => policy::domain_rules(&s.pool, self.domain(s).await?).await,
            Some(pso) => policy::pso_rules(&s.pool, pso).await,
        }
    }

    async fn mark(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        let mut mods = vec![Mod::Replace(PWD_LAST_SET.to_owned(), HashSet::from(["0".to_owned()]))];
        mods.extend(self.clear_bit_before_mark(s, dn).await?);
        ops::modify_ok(&s.pool, dn, "mark", mods).await
    }

    async fn clear(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        self.unflag(s, dn, Restore::PriorState).await
    }

    async fn check_password(&self, s: &Shared, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        password::check(s.pool.endpoint(), dn, password).await
    }

    async fn is_stored_password(&self, _: &Shared, _: &str, _: &Secret, _: Stored) -> Known {
        Ok(None)
    }

    async fn change_password(&self, s: &Shared, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        password::change_as_user(&s.pool, dn, old, new).await?;
        self.restore(s, dn, Restore::BitOnly).await?;
        Ok(())
    }

    async fn set_password(&self, s: &Shared, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        password::set_as_admin(&s.pool, dn, new).await?;
        self.unflag(s, dn, Restore::BitOnly).await?;
        Ok(())
    }

    async fn is_member(&self, s: &Shared, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        // LDAP_MATCHING_RULE_IN_CHAIN: the server follows nested groups.
        let filter = format!("(memberOf:1.2.840.113556.1.4.1941:={})", ldap_escape(group_dn));
        Ok(!search::read(&s.pool, dn, Scope::Base, &filter, &["1.1"])
            .await?
            .is_empty())
    }

    async fn lock_state(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<Option<bool>, DirectoryError> {
        lock::state(s, dn).await
    }

    async fn lock(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        lock::lock(s, dn).await
    }

    async fn unlock(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        lock::unlock(s, dn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagged_and_exclusions_from_the_entry_state() {
        let s = |uac, pwd_last_set, computed| PwState {
            uac,
            pwd_last_set,
            computed,
        };
        // (state, flagged, disabled, never_expires, locked)
        let table = [
            (
                s(512, Some(134_402_967_458_113_320), Some(0)),
                false,
                false,
                false,
                false,
            ),
            (s(512, Some(0), Some(0x80_0000)), true, false, false, false),
            (s(512, Some(0), None), true, false, false, false),
            // Expired by age: flagged, though pwdLastSet is a date.
            (
                s(512, Some(134_402_967_458_113_320), Some(0x80_0000)),
                true,
                false,
                false,
                false,
            ),
            // DONT_EXPIRE_PASSWORD: pwdLastSet 0 does nothing.
            (s(0x10200, Some(0), Some(0)), false, false, true, false),
            (s(514, Some(0), None), true, true, false, false),
            (s(512, Some(1), Some(0x10)), false, false, false, true),
            (s(0, None, None), false, false, false, false),
        ];
        for (state, flagged, disabled, never, locked) in table {
            assert_eq!(state.flagged(), flagged, "{state:?}");
            assert_eq!(state.disabled(), disabled, "{state:?}");
            assert_eq!(state.never_expires(), never, "{state:?}");
            assert_eq!(state.locked(), locked, "{state:?}");
        }
    }
}
