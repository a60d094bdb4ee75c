//! OpenLDAP with the ppolicy overlay.
//!
//! Mark = `pwdReset: TRUE`, which restricts the user to a password change only when the applying
//! policy has `pwdMustChange: TRUE` (checked and warned about). Clear = `delete: pwdReset`.
//! Writing `pwdReset` needs `manage` access for the service account.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use ldap3::{Mod, Scope, ldap_escape};
use tokio::sync::mpsc;

use super::conn::{Endpoint, Pool};
use super::search::{self, Entry};
use super::{
    Account, AccountDetails, BindCheck, Directory, DirectoryError, ExclusionReason, PasswordError, Presence, ScanItem,
    Warning, gentime, groups, scope, userpassword,
};
use crate::directory::config::{DirectoryConfig, Flavor, PasswordHash};
use crate::secret::Secret;

const FLAG: &str = "pwdReset";
const POLICY_SUBENTRY: &str = "pwdPolicySubentry";

pub struct OpenLdap {
    pool: Pool,
    config: DirectoryConfig,
}

impl OpenLdap {
    pub fn new(config: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let endpoint = Endpoint::new(config)?;
        Ok(OpenLdap {
            pool: Pool::new(endpoint, config),
            config: config.clone(),
        })
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
            FLAG,
            POLICY_SUBENTRY,
        ]
    }

    fn detail_attrs(&self) -> Vec<&str> {
        let mut attrs = self.account_attrs();
        attrs.extend(["pwdChangedTime", "pwdAccountLockedTime", "pwdFailureTime"]);
        attrs
    }

    fn account(&self, e: &Entry) -> Account {
        e.account(
            &self.config,
            e.first(FLAG).is_some_and(|v| v.eq_ignore_ascii_case("TRUE")),
            e.first(POLICY_SUBENTRY),
        )
    }

    fn details(&self, e: &Entry) -> AccountDetails {
        let account = self.account(e);
        let effective_policy = account.policy.clone().or_else(|| self.config.default_policy_dn.clone());
        AccountDetails {
            password_changed_at: e.first("pwdChangedTime").and_then(gentime::parse),
            locked_at: e.first("pwdAccountLockedTime").and_then(gentime::parse),
            failure_count: e.all("pwdFailureTime").len(),
            effective_policy,
            account,
        }
    }

    async fn modify(&self, dn: &str, op: &'static str, mods: Vec<Mod<&str>>) -> Result<u32, DirectoryError> {
        let endpoint = self.pool.endpoint();
        let mut ldap = self.pool.get().await?;
        let res = ldap
            .with_timeout(endpoint.timeout)
            .modify(dn, mods)
            .await
            .map_err(|e| DirectoryError::from_op(&endpoint.url, op, dn, e, endpoint.timeout_secs()))?;
        Ok(res.rc).and_then(|rc| match rc {
            0 | 16 => Ok(rc),
            _ => Err(DirectoryError::Operation {
                op,
                dn: dn.to_owned(),
                rc,
                text: res.text,
            }),
        })
    }

    /// The default policy: configured, or the only `pwdPolicy` entry under the naming contexts.
    async fn default_policy(&self) -> Result<Result<String, Warning>, DirectoryError> {
        if let Some(dn) = &self.config.default_policy_dn {
            return Ok(Ok(dn.clone()));
        }
        let root = search::read(&self.pool, "", Scope::Base, "(objectClass=*)", &["namingContexts"]).await?;
        let mut found = Vec::new();
        for context in root.iter().flat_map(|e| e.all("namingContexts")) {
            let entries =
                search::read(&self.pool, context, Scope::Subtree, "(objectClass=pwdPolicy)", &["1.1"]).await?;
            found.extend(entries.into_iter().map(|e| e.dn));
        }
        Ok(match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Warning {
                message: "no ppolicy policy entry (objectClass=pwdPolicy) is readable: pwdReset restricts \
                          nothing without a policy with pwdMustChange: TRUE; load the ppolicy overlay, set \
                          ppolicy_default, and let the service account read the policy"
                    .into(),
            }),
            _ => Err(Warning {
                message: format!(
                    "{} password policies exist ({}); set directory.default_policy_dn to the one named by \
                     ppolicy_default so pwresetd can check that it enforces pwdMustChange",
                    found.len(),
                    found.join("; ")
                ),
            }),
        })
    }

    async fn check_policy(&self, dn: &str, governs: &str) -> Result<Option<Warning>, DirectoryError> {
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", &["pwdMustChange"]).await?;
        let Some(entry) = entries.first() else {
            return Ok(Some(Warning {
                message: format!(
                    "password policy {dn} ({governs}) does not exist or is not readable by the service account"
                ),
            }));
        };
        let must_change = entry
            .first("pwdMustChange")
            .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
        Ok((!must_change).then(|| Warning {
            message: format!(
                "password policy {dn} ({governs}) does not have pwdMustChange: TRUE, so the pwdReset \
                 flag restricts NOTHING for its accounts: they can keep using the old password; set \
                 pwdMustChange: TRUE on it"
            ),
        }))
    }
}

#[async_trait]
impl Directory for OpenLdap {
    fn flavor(&self) -> Flavor {
        Flavor::Openldap
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
        search::scan_scope(&self.pool, &self.config, &attrs, &sink, |e| {
            let account = self.account(&e);
            if account.login.is_empty() {
                ScanItem::Excluded {
                    dn: account.dn,
                    login: None,
                    reason: ExclusionReason::MissingLogin,
                }
            } else {
                ScanItem::InScope(account)
            }
        })
        .await
    }

    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        let mut checked = HashSet::new();
        for policy in policies {
            let (dn, governs) = match policy {
                Some(dn) => (dn.clone(), "named by pwdPolicySubentry"),
                None => match self.default_policy().await? {
                    Ok(dn) => (dn, "the default policy"),
                    Err(w) => {
                        warnings.push(w);
                        continue;
                    }
                },
            };
            if checked.insert(dn.to_ascii_lowercase()) {
                warnings.extend(self.check_policy(&dn, governs).await?);
            }
        }
        Ok(warnings)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let c = &self.config;
        let filter = format!("(&{}({}={}))", c.user_filter, c.login_attribute, ldap_escape(login));
        let entries = search::read(&self.pool, &c.base_dn, Scope::Subtree, &filter, &self.detail_attrs()).await?;
        match entries.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(self.details(one))),
            many => Err(DirectoryError::Operation {
                op: "lookup",
                dn: c.base_dn.clone(),
                rc: 0,
                text: format!("login {login:?} is ambiguous: {} entries have it", many.len()),
            }),
        }
    }

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", &self.detail_attrs()).await?;
        Ok(entries.first().map(|e| self.details(e)))
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        let Some(details) = self.read(dn).await? else {
            return Ok(Presence::Gone);
        };
        let under_base = scope::is_under(dn, &self.config.base_dn);
        let matching = under_base
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
            Presence::InScope(Box::new(details))
        } else {
            Presence::OutOfScope(Box::new(details))
        })
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        self.modify(dn, "mark", vec![Mod::Replace(FLAG, HashSet::from(["TRUE"]))])
            .await
            .map(drop)
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        self.modify(dn, "clear", vec![Mod::Delete(FLAG, HashSet::new())])
            .await
            .map(drop)
    }

    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        let endpoint = self.pool.endpoint();
        let mut ldap = match endpoint.bind(dn, password).await {
            Ok(ldap) => ldap,
            Err(DirectoryError::Bind { rc: 49, .. }) => return Ok(BindCheck::Refused),
            Err(e) => return Err(e),
        };
        let res = ldap
            .with_timeout(endpoint.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| DirectoryError::from_op(&endpoint.url, "search", dn, e, endpoint.timeout_secs()));
        let _ = ldap.unbind().await;
        match res?.1.rc {
            0 => Ok(BindCheck::Unrestricted),
            // ppolicy: "Operations are restricted to bind/unbind/abandon/StartTLS/modify password".
            50 => Ok(BindCheck::MustChange),
            rc => Err(DirectoryError::Operation {
                op: "search",
                dn: dn.to_owned(),
                rc,
                text: String::new(),
            }),
        }
    }

    async fn is_current_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", &["userPassword"]).await?;
        let values: Vec<&String> = entries.iter().flat_map(|e| e.all("userPassword")).collect();
        let results: Vec<Option<bool>> = values
            .iter()
            .map(|v| userpassword::matches(v.as_bytes(), candidate.expose()))
            .collect();
        Ok(if results.contains(&Some(true)) {
            Some(true)
        } else if !results.is_empty() && results.iter().all(Option::is_some) {
            Some(false)
        } else {
            None
        })
    }

    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        let endpoint = self.pool.endpoint();
        let mut ldap = match endpoint.bind(dn, old).await {
            Ok(ldap) => ldap,
            Err(DirectoryError::Bind { rc: 49, .. }) => return Err(PasswordError::WrongCurrentPassword),
            Err(e) => return Err(e.into()),
        };
        let exop = ldap3::exop::PasswordModify {
            user_id: None,
            old_pass: Some(old.expose()),
            new_pass: Some(new.expose()),
        };
        let res = ldap
            .with_timeout(endpoint.timeout)
            .extended(exop)
            .await
            .map_err(|e| DirectoryError::from_op(&endpoint.url, "password change", dn, e, endpoint.timeout_secs()));
        let _ = ldap.unbind().await;
        let result = res?.1;
        refusal(dn, "password change", result.rc, result.text)
    }

    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        let endpoint = self.pool.endpoint();
        let mut ldap = self.pool.get().await?;
        let (rc, text) = match self.config.password_hash {
            PasswordHash::Server => {
                let exop = ldap3::exop::PasswordModify {
                    user_id: Some(dn),
                    old_pass: None,
                    new_pass: Some(new.expose()),
                };
                let res = ldap.with_timeout(endpoint.timeout).extended(exop).await;
                let res = res.map_err(|e| {
                    DirectoryError::from_op(&endpoint.url, "password set", dn, e, endpoint.timeout_secs())
                })?;
                (res.1.rc, res.1.text)
            }
            PasswordHash::Argon2 => {
                let value = userpassword::argon2_value(new.expose()).map_err(|e| PasswordError::Refused {
                    message: "The password could not be prepared; please try again.".into(),
                    detail: e,
                })?;
                let mods = vec![Mod::Replace("userPassword", HashSet::from([value.as_str()]))];
                let res = ldap.with_timeout(endpoint.timeout).modify(dn, mods).await;
                let res = res.map_err(|e| {
                    DirectoryError::from_op(&endpoint.url, "password set", dn, e, endpoint.timeout_secs())
                })?;
                (res.rc, res.text)
            }
        };
        refusal(dn, "password set", rc, text)?;
        // An administrative set raises pwdReset when pwdMustChange is on: clear it explicitly.
        self.clear(dn).await?;
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
        let filter = format!("({}={})", self.config.login_attribute, ldap_escape(login));
        let entries = search::read(&self.pool, base_dn, Scope::Subtree, &filter, &["1.1"]).await?;
        let [entry] = entries.as_slice() else { return Ok(None) };
        match self.pool.endpoint().bind(&entry.dn, password).await {
            Ok(mut ldap) => {
                let _ = ldap.unbind().await;
                Ok(Some(entry.dn.clone()))
            }
            Err(DirectoryError::Bind { rc: 49, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        // Walk up from the entry through the groups that list it (groupOfNames `member`,
        // groupOfUniqueNames `uniqueMember`): no overlay needed, nested groups followed.
        let base = groups::context_of(&self.pool, group_dn, &self.config.base_dn).await?;
        groups::walk_up(&self.pool, &base, dn, group_dn).await
    }
}

/// Turns a password operation's result into success or a refusal in plain words.
fn refusal(dn: &str, op: &'static str, rc: u32, text: String) -> Result<(), PasswordError> {
    let lower = text.to_ascii_lowercase();
    let message = match rc {
        0 => return Ok(()),
        19 | 53 if lower.contains("history") => {
            "You have used this password before. Choose one you have never used here."
        }
        19 | 53 if lower.contains("too young") => {
            "Your password was changed very recently and cannot be changed again yet. Call the helpdesk if you need it now."
        }
        19 | 53 if lower.contains("not being changed") => "This is your current password. Choose a new one.",
        19 | 53 if lower.contains("short") => "The directory requires a longer password. Choose a longer one.",
        19 | 53 if lower.contains("quality") => {
            "The directory found this password too weak. Choose a longer, less predictable one."
        }
        19 => "The directory refused this password. Choose another one.",
        _ => {
            return Err(PasswordError::Directory(DirectoryError::Operation {
                op,
                dn: dn.to_owned(),
                rc,
                text,
            }));
        }
    };
    Err(PasswordError::Refused {
        message: message.into(),
        detail: super::error::describe_rc(rc, &text),
    })
}
