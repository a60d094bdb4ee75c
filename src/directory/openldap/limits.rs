//! What an OpenLDAP administrator changes when slapd stops the scope search at a limit: a
//! `limits` line for the service account (slapd.conf), or its `olcLimits` value (cn=config).
//!
//! Text only; the search that met the limit is in `search.rs` and is never split to get round it.

use crate::directory::LimitKind;

/// The fix for `kind`, naming the service account `bind_dn` and the scope's `base_dn`.
pub(super) fn fix(kind: LimitKind, bind_dn: &str, base_dn: &str) -> String {
    let limits = match kind {
        // slapd answers adminLimitExceeded for its paged-results limits (size.pr, size.prtotal).
        LimitKind::Admin => "size=unlimited size.pr=unlimited size.prtotal=unlimited time=unlimited",
        LimitKind::Size | LimitKind::Time => "size=unlimited time=unlimited",
    };
    let who = format!("dn.exact=\"{bind_dn}\"");
    format!(
        "lift the limits for the service account in the database that holds {base_dn}. With \
         slapd.conf, add this line to that database's section and restart slapd:\n    \
         limits {who} {limits}\n\
         With cn=config, add this value to that database's olcDatabase entry (ldapmodify, \
         `add: olcLimits`; it applies at once):\n    olcLimits: {who} {limits}\n\
         Then run the command again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_account_in_both_forms() {
        let bind = "cn=pwadmin,dc=example,dc=org";
        for kind in [LimitKind::Size, LimitKind::Time] {
            let text = fix(kind, bind, "ou=people,dc=example,dc=org");
            let line = "dn.exact=\"cn=pwadmin,dc=example,dc=org\" size=unlimited time=unlimited";
            assert!(text.contains(&format!("\n    limits {line}\n")), "{text}");
            assert!(text.contains(&format!("\n    olcLimits: {line}\n")), "{text}");
            assert!(text.contains("ou=people,dc=example,dc=org"), "{text}");
        }
        let admin = fix(LimitKind::Admin, bind, "dc=example,dc=org");
        assert!(admin.contains("size.pr=unlimited size.prtotal=unlimited"), "{admin}");
    }
}
