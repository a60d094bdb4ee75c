//! Distinguished names (RFC 4514): parsing for validation and for reading RDNs.
//!
//! Pure code. Building DNs and filters from values always goes through `ldap3::dn_escape` and
//! `ldap3::ldap_escape`; this module only checks DNs that come from configuration or operators.

use std::fmt;

/// One `type=value` pair of an RDN, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// Why a DN is malformed, with the byte offset where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnError {
    pub offset: usize,
    pub problem: &'static str,
}

impl fmt::Display for DnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.problem, self.offset + 1)
    }
}

impl std::error::Error for DnError {}

/// Parses a DN into its RDNs (leftmost first), each a list of attribute-value pairs.
pub fn parse(dn: &str) -> Result<Vec<Vec<Ava>>, DnError> {
    let bytes = dn.as_bytes();
    let mut rdns = Vec::new();
    if dn.trim().is_empty() {
        return Err(DnError {
            offset: 0,
            problem: "empty DN",
        });
    }
    let mut pos = 0;
    let mut rdn = Vec::new();
    loop {
        let (ava, next) = parse_ava(dn, pos)?;
        rdn.push(ava);
        pos = next;
        match bytes.get(pos) {
            None => {
                rdns.push(rdn);
                return Ok(rdns);
            }
            Some(b'+') => pos += 1,
            Some(b',') => {
                rdns.push(std::mem::take(&mut rdn));
                pos += 1;
            }
            Some(_) => {
                return Err(DnError {
                    offset: pos,
                    problem: "expected ',' or '+' after a value",
                });
            }
        }
    }
}

fn parse_ava(dn: &str, start: usize) -> Result<(Ava, usize), DnError> {
    let bytes = dn.as_bytes();
    let mut pos = start;
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let type_start = pos;
    while let Some(c) = bytes.get(pos) {
        if c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.' {
            pos += 1;
        } else {
            break;
        }
    }
    let attr = dn[type_start..pos].to_owned();
    let valid_type = match attr.as_bytes().first() {
        Some(c) if c.is_ascii_alphabetic() => attr.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'),
        Some(c) if c.is_ascii_digit() => attr
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())),
        _ => false,
    };
    if !valid_type {
        return Err(DnError {
            offset: type_start,
            problem: "expected an attribute type (e.g. uid, ou, cn)",
        });
    }
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    if bytes.get(pos) != Some(&b'=') {
        return Err(DnError {
            offset: pos,
            problem: "expected '=' after the attribute type",
        });
    }
    pos += 1;
    let (value, next) = parse_value(dn, pos)?;
    Ok((Ava { attr, value }, next))
}

fn parse_value(dn: &str, start: usize) -> Result<(String, usize), DnError> {
    let bytes = dn.as_bytes();
    if bytes.get(start) == Some(&b'#') {
        let mut pos = start + 1;
        while bytes.get(pos).is_some_and(u8::is_ascii_hexdigit) {
            pos += 1;
        }
        if pos == start + 1 || (pos - start - 1) % 2 != 0 {
            return Err(DnError {
                offset: start,
                problem: "malformed #hex value",
            });
        }
        return Ok((dn[start..pos].to_owned(), pos));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut pos = start;
    let mut last_escaped_len = 0;
    while let Some(&c) = bytes.get(pos) {
        match c {
            b',' | b'+' => break,
            b'\\' => {
                let next = *bytes.get(pos + 1).ok_or(DnError {
                    offset: pos,
                    problem: "'\\' at the end of the DN",
                })?;
                if b" \"#+,;<=>\\".contains(&next) {
                    out.push(next);
                    pos += 2;
                } else {
                    let hex = dn.get(pos + 1..pos + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                    let byte = hex.ok_or(DnError {
                        offset: pos,
                        problem: "invalid escape (use \\, or two hex digits)",
                    })?;
                    out.push(byte);
                    pos += 3;
                }
                last_escaped_len = out.len();
            }
            b'"' | b';' | b'<' | b'>' | 0 => {
                return Err(DnError {
                    offset: pos,
                    problem: "unescaped special character in a value",
                });
            }
            _ => {
                out.push(c);
                pos += 1;
            }
        }
    }
    // Unescaped trailing spaces are insignificant.
    while out.len() > last_escaped_len && out.last() == Some(&b' ') {
        out.pop();
    }
    let value = String::from_utf8(out).map_err(|_| DnError {
        offset: start,
        problem: "value is not valid UTF-8 after unescaping",
    })?;
    if value.is_empty() {
        return Err(DnError {
            offset: start,
            problem: "empty value",
        });
    }
    Ok((value, pos))
}

/// Checks that `dn` is a well-formed DN.
pub fn validate(dn: &str) -> Result<(), DnError> {
    parse(dn).map(|_| ())
}

/// The RDN of `dn` directly under `base` (e.g. the top-level OU of an account), if `dn` is below it.
pub fn child_of(dn: &str, base: &str) -> Option<String> {
    let dn_rdns = parse(dn).ok()?;
    let base_rdns = parse(base).ok()?;
    if dn_rdns.len() <= base_rdns.len() {
        return None;
    }
    let offset = dn_rdns.len() - base_rdns.len();
    let same = dn_rdns[offset..].iter().zip(&base_rdns).all(|(a, b)| rdn_eq(a, b));
    if !same {
        return None;
    }
    let rdn = &dn_rdns[offset - 1];
    Some(
        rdn.iter()
            .map(|a| format!("{}={}", a.attr, a.value))
            .collect::<Vec<_>>()
            .join("+"),
    )
}

/// Whether two DNs name the same entry (attribute types and values compared case-insensitively,
/// escapes decoded: `cn=Doe\, John` equals `cn=Doe\2C John`). Malformed DNs are equal only when
/// identical.
pub fn equal(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Ok(x), Ok(y)) => x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| rdn_eq(p, q)),
        _ => a == b,
    }
}

fn rdn_eq(a: &[Ava], b: &[Ava]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.attr.eq_ignore_ascii_case(&y.attr) && x.value.to_lowercase() == y.value.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dn: &str, expected: Result<usize, &str>) {
        match (parse(dn), expected) {
            (Ok(rdns), Ok(n)) => assert_eq!(rdns.len(), n, "{dn}"),
            (Err(e), Err(problem)) => assert_eq!(e.problem, problem, "{dn}"),
            (got, want) => panic!("{dn}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_and_rejects() {
        check("dc=example,dc=org", Ok(2));
        check("uid=jdoe,ou=people,dc=example,dc=org", Ok(4));
        check("cn=Doe\\, John,ou=people,dc=example,dc=org", Ok(4));
        check("cn=Zoë Ångström,dc=example", Ok(2));
        check("cn=a\\c3\\a9,dc=x", Ok(2));
        check("cn=a+uid=b,dc=x", Ok(2));
        check("2.5.4.3=x,dc=y", Ok(2));
        check("uid=#04024869,dc=x", Ok(2));
        check("uid=o'brien, ou=people", Ok(2));
        check("", Err("empty DN"));
        check("dc=example,", Err("expected an attribute type (e.g. uid, ou, cn)"));
        check("example.org", Err("expected an attribute type (e.g. uid, ou, cn)"));
        check("dc example", Err("expected '=' after the attribute type"));
        check("cn=,dc=x", Err("empty value"));
        check("cn=a;b", Err("unescaped special character in a value"));
        check("cn=a\\zz", Err("invalid escape (use \\, or two hex digits)"));
        check("cn=a\\", Err("'\\' at the end of the DN"));
        check("cn=a)(uid=*", Ok(1));
        check("=x", Err("expected an attribute type (e.g. uid, ou, cn)"));
    }

    #[test]
    fn unescapes_values() {
        let rdns = parse("cn=Doe\\, John\\20,dc=x").unwrap();
        assert_eq!(rdns[0][0].value, "Doe, John ");
        let rdns = parse("cn=caf\\C3\\A9 ,dc=x").unwrap();
        assert_eq!(rdns[0][0].value, "café");
    }

    #[test]
    fn equality_decodes_escapes() {
        assert!(equal("cn=Doe\\, John,dc=x", "CN=doe\\2c john, DC=X"));
        assert!(!equal("cn=a,dc=x", "cn=b,dc=x"));
        assert!(!equal("cn=a,dc=x", "cn=a"));
    }

    #[test]
    fn child_of_base() {
        let base = "ou=people,dc=example,dc=org";
        assert_eq!(
            child_of("uid=a,ou=sales,ou=people,dc=example,dc=org", base).as_deref(),
            Some("ou=sales")
        );
        assert_eq!(
            child_of("uid=a,OU=People,dc=Example,dc=org", base).as_deref(),
            Some("uid=a")
        );
        assert_eq!(child_of("uid=a,ou=other,dc=example,dc=org", base), None);
        assert_eq!(child_of(base, base), None);
    }

    /// Escaping round trips, for any text: what `dn_escape` makes of a value, this parser reads
    /// back as exactly that value; what `ldap_escape` makes of it, a filter parser reads as one
    /// equality match on exactly that value, whatever filter it is placed in (no injection).
    mod properties {
        use ldap3::asn1::{Tag, TagClass};
        use ldap3::{dn_escape, ldap_escape, parse_filter};
        use proptest::prelude::*;

        use super::super::*;

        const BASE: &str = "ou=people,dc=example,dc=org";

        /// Values people and attackers type: any Unicode, biased towards the special characters.
        fn value() -> impl Strategy<Value = String> {
            let special = prop::sample::select(vec![
                " ", "#", ",", "+", "\"", "\\", "<", ">", ";", "=", "\0", "*", "(", ")", "\\2a", "é", "\u{7f}",
            ]);
            let piece = prop_oneof![any::<char>().prop_map(String::from), special.prop_map(String::from)];
            prop::collection::vec(piece, 1..12).prop_map(|v| v.concat())
        }

        /// A filter as a readable tree: `&[...]`, `|[...]`, `attr=hex(value)`.
        fn render(tag: &Tag) -> String {
            match tag {
                Tag::Sequence(s) if s.class == TagClass::Context && s.id <= 1 => {
                    let op = if s.id == 0 { "&" } else { "|" };
                    let inner: Vec<String> = s.inner.iter().map(render).collect();
                    format!("{op}[{}]", inner.join(" "))
                }
                Tag::Sequence(s) if s.class == TagClass::Context && s.id == 3 => match s.inner.as_slice() {
                    [Tag::OctetString(a), Tag::OctetString(v)] => {
                        format!("{}={}", String::from_utf8_lossy(&a.inner), hex(&v.inner))
                    }
                    other => format!("eq?{other:?}"),
                },
                other => format!("?{other:?}"),
            }
        }

        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }

        proptest! {
            #[test]
            fn dn_escape_round_trips(value in value(), attr in "[a-zA-Z][a-zA-Z0-9-]{0,8}") {
                let dn = format!("{attr}={},{BASE}", dn_escape(value.as_str()));
                let rdns = parse(&dn).map_err(|e| TestCaseError::fail(format!("{dn:?}: {e}")))?;
                prop_assert_eq!(rdns.len(), 4);
                prop_assert_eq!(&rdns[0], &vec![Ava { attr: attr.clone(), value: value.clone() }]);
                prop_assert_eq!(child_of(&dn, BASE), Some(format!("{attr}={value}")));
                let upper = format!("{}={},{}", attr.to_uppercase(), dn_escape(value.as_str()), BASE.to_uppercase());
                prop_assert!(equal(&dn, &upper));
            }

            #[test]
            fn any_text_is_parsed_or_refused_without_panicking(text in any::<String>()) {
                if let Err(e) = parse(&text) {
                    prop_assert!(e.offset <= text.len(), "{e:?}");
                }
            }

            #[test]
            fn ldap_escape_keeps_a_value_inside_its_filter(value in value()) {
                let v = ldap_escape(value.as_str());
                let want = hex(value.as_bytes());
                let filters = [
                    (format!("(uid={v})"), format!("uid={want}")),
                    (
                        format!("(&(objectClass=inetOrgPerson)(uid={v}))"),
                        format!("&[objectClass={} uid={want}]", hex(b"inetOrgPerson")),
                    ),
                    (
                        format!("(|(sAMAccountName={v})(userPrincipalName={v}))"),
                        format!("|[sAMAccountName={want} userPrincipalName={want}]"),
                    ),
                ];
                for (filter, expected) in filters {
                    let tag = parse_filter(&filter).map_err(|()| TestCaseError::fail(format!("{filter:?} does not parse")))?;
                    prop_assert_eq!(render(&tag), expected, "{:?}", filter);
                }
                let unescaped = ldap3::ldap_unescape(v.as_ref()).map(|u| u.into_owned()).ok();
                prop_assert_eq!(unescaped, Some(value));
            }
        }
    }
}
