//! DNs and filters: `directory::dn` parses any text or refuses it without panicking; a value
//! escaped with `ldap3::dn_escape` parses back to itself; a value escaped with
//! `ldap3::ldap_escape` stays one equality match inside the filters pwresetd builds (no
//! injection) and unescapes back to itself.
#![no_main]

use ldap3::asn1::{Tag, TagClass};
use ldap3::{dn_escape, ldap_escape, ldap_unescape, parse_filter};
use libfuzzer_sys::fuzz_target;
use pwresetd::directory::dn;

/// A filter as a tree: `&[...]`, `|[...]`, `attr=value-bytes`; anything else shows as `?`.
fn render(tag: &Tag) -> String {
    match tag {
        Tag::Sequence(s) if s.class == TagClass::Context && s.id <= 1 => {
            let inner: Vec<String> = s.inner.iter().map(render).collect();
            format!("{}[{}]", if s.id == 0 { "&" } else { "|" }, inner.join(" "))
        }
        Tag::Sequence(s) if s.class == TagClass::Context && s.id == 3 => match s.inner.as_slice() {
            [Tag::OctetString(a), Tag::OctetString(v)] => {
                format!("{}={:?}", String::from_utf8_lossy(&a.inner), v.inner)
            }
            _ => "?".into(),
        },
        _ => "?".into(),
    }
}

fuzz_target!(|input: (String, String)| {
    let (a, b) = input;
    if let Err(e) = dn::parse(&a) {
        assert!(e.offset <= a.len());
    }
    let _ = dn::equal(&a, &b);
    let _ = dn::child_of(&a, &b);
    let _ = ldap_unescape(a.as_str());
    if a.is_empty() {
        return;
    }
    let built = format!("cn={},dc=example,dc=org", dn_escape(a.as_str()));
    let rdns = dn::parse(&built).unwrap_or_else(|e| panic!("{built:?}: {e}"));
    assert_eq!(rdns.len(), 3);
    assert_eq!(rdns[0].len(), 1);
    assert_eq!(rdns[0][0].value, a);
    assert!(dn::equal(&built, &built));

    let v = ldap_escape(a.as_str());
    let filter = format!("(&(objectClass=user)(|(sAMAccountName={v})(userPrincipalName={v})))");
    let tag = parse_filter(&filter).unwrap_or_else(|()| panic!("{filter:?} does not parse"));
    let bytes = a.as_bytes();
    let want = format!(
        "&[objectClass={:?} |[sAMAccountName={bytes:?} userPrincipalName={bytes:?}]]",
        b"user"
    );
    assert_eq!(render(&tag), want);
    assert_eq!(ldap_unescape(v.as_ref()).ok().as_deref(), Some(a.as_str()));
});
