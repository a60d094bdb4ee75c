//! What a 389-DS administrator changes when the server stops the scope search at a limit: the
//! per-account resource limits on the service account's entry (`nsSizeLimit`,
//! `nsPagedSizeLimit`, `nsTimeLimit`, `nsLookThroughLimit`, `nsPagedLookThroughLimit`), which
//! take precedence over the server-wide `nsslapd-*` defaults in cn=config.
//!
//! Text only; the search that met the limit is in `search.rs` and is never split to get round it.

use crate::directory::LimitKind;

/// The fix for `kind`, naming the service account `bind_dn`.
pub(super) fn fix(kind: LimitKind, bind_dn: &str) -> String {
    // Paged searches (pwresetd's) use the nsPaged* value when it is set and not 0, else the
    // plain one: both are lifted so that neither stops the scan.
    let (attrs, server_wide): (&[&str], &str) = match kind {
        LimitKind::Size => (
            &["nsSizeLimit", "nsPagedSizeLimit"],
            "nsslapd-sizelimit, nsslapd-pagedsizelimit",
        ),
        LimitKind::Time => (&["nsTimeLimit"], "nsslapd-timelimit"),
        // Look-through: how many candidate entries one search may examine.
        LimitKind::Admin => (
            &["nsLookThroughLimit", "nsPagedLookThroughLimit"],
            "nsslapd-lookthroughlimit, nsslapd-pagedlookthroughlimit",
        ),
    };
    // Measured on 389-ds-base 2.3: a paged search meets the size limit only when one page asks
    // for more entries than the limit, so a smaller page is the same one search, not a split.
    let per_page = match kind {
        LimitKind::Size => {
            " (389-DS applies this size limit to each page of a paged search: a directory.page_size \
             below it also lets the one search through.)"
        }
        LimitKind::Time | LimitKind::Admin => "",
    };
    let values: Vec<String> = attrs.iter().map(|a| format!("{a}: -1")).collect();
    let ldif: Vec<String> = attrs.iter().map(|a| format!("replace: {a}\n    {a}: -1")).collect();
    format!(
        "as Directory Manager, lift the limit on the service account's own entry ({values}); \
         the server-wide defaults in cn=config ({server_wide}) can stay. With ldapmodify:\n    \
         dn: {bind_dn}\n    changetype: modify\n    {ldif}\n\
         The server reads these when the account binds: run the command again afterwards.{per_page}",
        values = values.join(", "),
        ldif = ldif.join("\n    -\n    "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_names_its_attributes_on_the_service_account() {
        let bind = "uid=pwadmin,ou=Services,dc=example,dc=org";
        let table = [
            (LimitKind::Size, &["nsSizeLimit: -1", "nsPagedSizeLimit: -1"][..]),
            (LimitKind::Time, &["nsTimeLimit: -1"][..]),
            (
                LimitKind::Admin,
                &["nsLookThroughLimit: -1", "nsPagedLookThroughLimit: -1"][..],
            ),
        ];
        for (kind, wanted) in table {
            let text = fix(kind, bind);
            assert!(text.contains(&format!("dn: {bind}\n")), "{text}");
            for w in wanted {
                assert!(text.contains(w), "{kind:?}: {w} missing from {text}");
            }
        }
    }
}
