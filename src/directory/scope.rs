//! Where an entry stands relative to the configured scope: DN suffix tests and the scope filter.
//! Shared by the flavours; no I/O.

use crate::directory::config::DirectoryConfig;

/// The user filter without the exclusions: what a campaign's in-scope search uses.
pub(crate) fn scope_filter(config: &DirectoryConfig) -> String {
    match &config.exclude_filter {
        Some(x) => format!("(&{}(!{}))", config.user_filter, x),
        None => config.user_filter.clone(),
    }
}

/// Whether `dn` is `base` or below it (RFC 4514 comparison, escapes respected).
pub(crate) fn is_under(dn: &str, base: &str) -> bool {
    super::dn::parse(dn)
        .ok()
        .zip(super::dn::parse(base).ok())
        .is_some_and(|(d, b)| d.len() >= b.len() && super::dn::equal(base, &join_tail(dn, b.len())))
}

/// The last `n` RDNs of `dn`, as a DN string (escapes kept).
pub(crate) fn join_tail(dn: &str, n: usize) -> String {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        match c {
            '\\' if !escaped => {
                escaped = true;
                current.push(c);
                continue;
            }
            ',' if !escaped => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
        escaped = false;
    }
    parts.push(current);
    let start = parts.len().saturating_sub(n);
    parts[start..].join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        let cases = [
            ("uid=a,ou=people,dc=example,dc=org", "ou=People,dc=example,dc=org", true),
            ("ou=people,dc=example,dc=org", "ou=people,dc=example,dc=org", true),
            ("cn=Doe\\, John,ou=x,dc=example,dc=org", "ou=x,dc=example,dc=org", true),
            ("uid=a,ou=other,dc=example,dc=org", "ou=people,dc=example,dc=org", false),
            ("dc=org", "dc=example,dc=org", false),
            ("not a dn", "dc=org", false),
        ];
        for (dn, base, want) in cases {
            assert_eq!(is_under(dn, base), want, "{dn} under {base}");
        }
        assert_eq!(join_tail("cn=Doe\\, John,ou=x,dc=org", 2), "ou=x,dc=org");
        assert_eq!(join_tail("cn=Doe\\, John,ou=x", 2), "cn=Doe\\, John,ou=x");
    }
}
