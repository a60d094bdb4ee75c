//! Nested group membership by walking up `member` / `uniqueMember` values: works on any LDAP
//! server without an overlay or plugin (OpenLDAP, 389-DS). Active Directory asks the server
//! instead (the in-chain matching rule).

use std::collections::HashSet;

use ldap3::{Scope, ldap_escape};

use super::DirectoryError;
use super::conn::Pool;
use super::search;

/// How deep nested groups are followed.
pub(crate) const MAX_GROUP_DEPTH: usize = 8;

/// Whether `dn` is a member of `group_dn`, directly or through nested groups found under `base`.
pub(crate) async fn walk_up(pool: &Pool, base: &str, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
    let mut frontier = vec![dn.to_owned()];
    let mut seen = HashSet::new();
    for _ in 0..MAX_GROUP_DEPTH {
        let mut next = Vec::new();
        for member in &frontier {
            let v = ldap_escape(member);
            let filter = format!("(|(member={v})(uniqueMember={v}))");
            for g in search::read(pool, base, Scope::Subtree, &filter, &["1.1"]).await? {
                if super::dn::equal(&g.dn, group_dn) {
                    return Ok(true);
                }
                if seen.insert(g.dn.to_lowercase()) {
                    next.push(g.dn);
                }
            }
        }
        if next.is_empty() {
            return Ok(false);
        }
        frontier = next;
    }
    Ok(false)
}

/// The naming context (from the root DSE) holding `dn`; `fallback` when none matches.
pub(crate) async fn context_of(pool: &Pool, dn: &str, fallback: &str) -> Result<String, DirectoryError> {
    let root = search::read(pool, "", Scope::Base, "(objectClass=*)", &["namingContexts"]).await?;
    let found = root
        .iter()
        .flat_map(|e| e.all("namingContexts").iter().cloned())
        .find(|c| super::scope::is_under(dn, c));
    Ok(found.unwrap_or_else(|| fallback.to_owned()))
}
