//! What an Active Directory administrator changes when a domain controller stops the scope
//! search at a limit: the LDAP policy (`MaxPageSize`, `MaxResultSetSize`, `MaxQueryDuration`,
//! kept in `lDAPAdminLimits` of the Default Query Policy and set with `ntdsutil`). AD has no
//! per-account limits, so the change is for every client of those domain controllers.
//!
//! Text only; the search that met the limit is in `search.rs` and is never split to get round it.

use crate::directory::LimitKind;

/// The fix for `kind`; `page_size` is what pwresetd asks for per page (`directory.page_size`).
pub(super) fn fix(kind: LimitKind, page_size: i32) -> String {
    let (policy, what) = match kind {
        LimitKind::Size => (
            "MaxPageSize",
            format!(
                "the entries a domain controller returns per page (1000 by default). pwresetd asks for \
                 {page_size} per page (directory.page_size): keep that at or below MaxPageSize, or raise it"
            ),
        ),
        LimitKind::Admin => (
            "MaxResultSetSize",
            "the memory a domain controller keeps for one paged search (262144 bytes by default): raise it".to_owned(),
        ),
        LimitKind::Time => (
            "MaxQueryDuration",
            "how long one search may run on a domain controller (120 seconds by default): raise it".to_owned(),
        ),
    };
    format!(
        "the LDAP policy {policy} limits {what}. With ntdsutil on a domain controller, as a domain \
         administrator:\n    ntdsutil \"ldap policies\" connections \"connect to server <dc>\" q \
         \"show values\" \"set {policy} to <n>\" \"commit changes\" q q\n\
         (it is kept in lDAPAdminLimits of CN=Default Query Policy,CN=Query-Policies,CN=Directory \
         Service,CN=Windows NT,CN=Services,CN=Configuration,<forest root>). Then run the command again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_names_its_ldap_policy() {
        let table = [
            (LimitKind::Size, "set MaxPageSize to <n>"),
            (LimitKind::Admin, "set MaxResultSetSize to <n>"),
            (LimitKind::Time, "set MaxQueryDuration to <n>"),
        ];
        for (kind, wanted) in table {
            let text = fix(kind, 500);
            assert!(text.contains(wanted), "{kind:?}: {text}");
            assert!(text.contains("CN=Default Query Policy"), "{text}");
        }
        assert!(fix(LimitKind::Size, 1500).contains("asks for 1500 per page"));
    }
}
