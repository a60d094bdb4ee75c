//! Active Directory (measured against Samba AD DC; see AD-FACTS.md).
//!
//! Mark = `pwdLastSet: 0`. Clear = `pwdLastSet: -1`, which AD turns into "now": the flag goes,
//! and the password's age restarts (a revert therefore also postpones the next age-based expiry).
//! Flagged = `pwdLastSet` 0, or `msDS-User-Account-Control-Computed` PASSWORD_EXPIRED; never for
//! a DONT_EXPIRE_PASSWORD account while the bit is set, since AD then ignores `pwdLastSet: 0`.
//!
//! Scope: disabled accounts are excluded, and so are DONT_EXPIRE_PASSWORD accounts unless
//! `directory.dont_expire_accounts = "clear-and-restore"`: marking one then clears the bit, after
//! entering it in the ledger (`dont_expire.rs`); revert, exemption, the account's completed change, or
//! reconciliation seeing it changed (or unflagged) set the bit again and take it off the ledger.
//!
//! Searches are always paged (AD refuses unpaged ones past 1000 entries) and continuation
//! references are ignored. TLS is required (config refuses `allow_insecure`).

mod dont_expire;
mod password;
mod policy;

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use async_trait::async_trait;
use ldap3::{Mod, Scope, ldap_escape};
use tokio::sync::{OnceCell, mpsc};

use super::conn::{Endpoint, Pool};
use super::ledger::Ledger;
use super::search::{self, Entry};
use super::{
    Account, AccountDetails, BindCheck, Directory, DirectoryError, ExclusionReason, PasswordError, Presence, ScanItem,
    Warning, filetime, ops, scope,
};
use crate::directory::config::{DirectoryConfig, DontExpire, Flavor};
use crate::secret::Secret;
use dont_expire::Restore;

const PWD_LAST_SET: &str = "pwdLastSet";
const UAC: &str = "userAccountControl";
const UAC_COMPUTED: &str = "msDS-User-Account-Control-Computed";
const RESULTANT_PSO: &str = "msDS-ResultantPSO";
const UPN: &str = "userPrincipalName";

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

pub struct ActiveDirectory {
    pool: Pool,
    config: DirectoryConfig,
    ledger_path: Option<PathBuf>,
    ledger: OnceCell<Ledger>,
    domain: OnceCell<String>,
}

impl ActiveDirectory {
    pub fn new(config: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let endpoint = Endpoint::new(config)?;
        let ledger_path = match &config.dont_expire {
            DontExpire::Skip => None,
            DontExpire::ClearAndRestore { ledger } => Some(ledger.clone()),
        };
        Ok(ActiveDirectory {
            pool: Pool::new(endpoint, config),
            config: config.clone(),
            ledger_path,
            ledger: OnceCell::new(),
            domain: OnceCell::new(),
        })
    }

    /// The domain's naming context (the root DSE's `defaultNamingContext`), read once.
    async fn domain(&self) -> Result<&str, DirectoryError> {
        let dn = self
            .domain
            .get_or_try_init(|| async {
                let root = search::read(
                    &self.pool,
                    "",
                    Scope::Base,
                    "(objectClass=*)",
                    &["defaultNamingContext"],
                )
                .await?;
                Ok::<_, DirectoryError>(
                    root.first()
                        .and_then(|e| e.first("defaultNamingContext"))
                        .map_or_else(|| self.config.base_dn.clone(), str::to_owned),
                )
            })
            .await?;
        Ok(dn)
    }

    fn account_attrs(&self) -> Vec<&str> {
        let c = &self.config;
        vec![
            &c.login_attribute,
            &c.mail_attribute,
            &c.display_name_attribute,
            &c.given_name_attribute,
            &c.surname_attribute,
            &c.language_attribute,
            UAC,
            PWD_LAST_SET,
            UAC_COMPUTED,
        ]
    }

    fn detail_attrs(&self) -> Vec<&str> {
        let mut attrs = self.account_attrs();
        attrs.extend(["lockoutTime", "badPwdCount", RESULTANT_PSO]);
        attrs
    }

    fn account(&self, e: &Entry) -> Account {
        e.account(&self.config, PwState::of(e).flagged(), e.first(RESULTANT_PSO))
    }

    async fn details(&self, e: &Entry) -> Result<AccountDetails, DirectoryError> {
        let state = PwState::of(e);
        let account = self.account(e);
        let effective_policy = match &account.policy {
            Some(pso) => pso.clone(),
            None => self.domain().await?.to_owned(),
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

    /// Why an entry matching the scope filter is still not in the campaign, if it is not.
    fn exclusion(&self, e: &Entry) -> Option<ExclusionReason> {
        let state = PwState::of(e);
        if e.first(&self.config.login_attribute).is_none_or(str::is_empty) {
            Some(ExclusionReason::MissingLogin)
        } else if state.disabled() {
            Some(ExclusionReason::Disabled)
        } else if state.never_expires() && self.ledger_path.is_none() {
            Some(ExclusionReason::PasswordNeverExpires)
        } else {
            None
        }
    }

    async fn read_entry(&self, dn: &str) -> Result<Option<Entry>, DirectoryError> {
        let attrs = self.detail_attrs();
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", &attrs).await?;
        Ok(entries.into_iter().next())
    }
}

#[async_trait]
impl Directory for ActiveDirectory {
    fn flavor(&self) -> Flavor {
        Flavor::ActiveDirectory
    }

    async fn check(&self) -> Result<Vec<Warning>, DirectoryError> {
        self.pool.get().await?;
        self.policy_warnings(&BTreeSet::from([None])).await
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        search::ping(&self.pool).await
    }

    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError> {
        let attrs = self.account_attrs();
        search::scan_scope(&self.pool, &self.config, &attrs, &sink, |e| match self.exclusion(&e) {
            None => ScanItem::InScope(self.account(&e)),
            Some(reason) => ScanItem::Excluded {
                login: e.first(&self.config.login_attribute).map(str::to_owned),
                dn: e.dn,
                reason,
            },
        })
        .await
    }

    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        for p in policies {
            let (rules, name) = match p {
                None => {
                    let domain = self.domain().await?;
                    (policy::domain_rules(&self.pool, domain).await?, domain)
                }
                Some(pso) => (policy::pso_rules(&self.pool, pso).await?, pso.as_str()),
            };
            match rules {
                Some(r) => warnings.extend(r.stricter_than(&self.config.policy_floor)),
                None => warnings.push(Warning {
                    message: format!(
                        "the password policy of {name} is not readable by the service account: pwresetd \
                         cannot compare it with [policy]"
                    ),
                }),
            }
        }
        Ok(warnings)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let c = &self.config;
        let v = ldap_escape(login);
        // The UPN is accepted wherever a login is (users know it from signing in to Windows).
        let who = if c.login_attribute.eq_ignore_ascii_case(UPN) {
            format!("({UPN}={v})")
        } else {
            format!("(|({}={v})({UPN}={v}))", c.login_attribute)
        };
        let filter = format!("(&{}{who})", c.user_filter);
        let entries = search::read(&self.pool, &c.base_dn, Scope::Subtree, &filter, &self.detail_attrs()).await?;
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

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        match self.read_entry(dn).await? {
            Some(e) => Ok(Some(self.details(&e).await?)),
            None => Ok(None),
        }
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        let Some(entry) = self.read_entry(dn).await? else {
            if let Some(ledger) = self.ledger().await? {
                ledger.forget(dn).await?;
            }
            return Ok(Presence::Gone);
        };
        let details = Box::new(self.details(&entry).await?);
        self.settle(dn, &entry).await?;
        let matching = scope::is_under(dn, &self.config.base_dn)
            && self.exclusion(&entry).is_none()
            && !search::read(
                &self.pool,
                dn,
                Scope::Base,
                &scope::scope_filter(&self.config),
                &["1.1"],
            )
            .await?
            .is_empty();
        Ok(if matching {
            Presence::InScope(details)
        } else {
            Presence::OutOfScope(details)
        })
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        let mut mods = vec![Mod::Replace(PWD_LAST_SET.to_owned(), HashSet::from(["0".to_owned()]))];
        mods.extend(self.clear_bit_before_mark(dn).await?);
        ops::modify_ok(&self.pool, dn, "mark", mods).await
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        self.unflag(dn, Restore::PriorState).await
    }

    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        password::check(self.pool.endpoint(), dn, password).await
    }

    async fn is_current_password(&self, _dn: &str, _candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        // unicodePwd is never readable, and a bind would count as a failure when wrong.
        Ok(None)
    }

    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        password::change_as_user(&self.pool, dn, old, new).await?;
        self.restore(dn, Restore::BitOnly).await?;
        Ok(())
    }

    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        password::set_as_admin(&self.pool, dn, new).await?;
        self.unflag(dn, Restore::BitOnly).await?;
        Ok(())
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &Secret,
        base_dn: &str,
    ) -> Result<Option<String>, DirectoryError> {
        if login.is_empty() || password.expose().is_empty() {
            return Ok(None);
        }
        let v = ldap_escape(login);
        let filter = format!("(|({}={v})({UPN}={v}))", self.config.login_attribute);
        let entries = search::read(&self.pool, base_dn, Scope::Subtree, &filter, &["1.1"]).await?;
        let [entry] = entries.as_slice() else { return Ok(None) };
        let answer = ops::bind(self.pool.endpoint(), &entry.dn, password, Vec::new()).await?;
        let rc = answer.answer.rc;
        answer.close().await;
        match rc {
            0 => Ok(Some(entry.dn.clone())),
            49 => Ok(None),
            rc => Err(DirectoryError::Bind {
                url: self.pool.endpoint().url.clone(),
                dn: entry.dn.clone(),
                rc,
                text: String::new(),
            }),
        }
    }

    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        // LDAP_MATCHING_RULE_IN_CHAIN: the server follows nested groups.
        let filter = format!("(memberOf:1.2.840.113556.1.4.1941:={})", ldap_escape(group_dn));
        Ok(!search::read(&self.pool, dn, Scope::Base, &filter, &["1.1"])
            .await?
            .is_empty())
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
