//! The strict form reader (`web::form::parse`) on any body: never panics, keeps each known field
//! at most once, decodes exactly as an independent `application/x-www-form-urlencoded` decoder
//! (the `form_urlencoded` crate) does, and never shows a value in its `Debug`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwresetd::web::form::{self, FormError};

const KNOWN: [&str; 5] = ["csrf", "login", "current_password", "new_password", "confirm_password"];

fuzz_target!(|data: &[u8]| {
    let parsed = form::parse(data, &KNOWN);
    let reference: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| KNOWN.contains(&k.as_str()))
        .collect();
    let f = match parsed {
        Ok(f) => f,
        Err(FormError::Duplicate(name)) => {
            assert!(
                reference.iter().filter(|(k, _)| k == name).count() > 1,
                "{name} is not repeated"
            );
            return;
        }
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let shown = format!("{f:?}");
    for name in KNOWN {
        let ours = f.optional(name);
        let theirs: Vec<&str> = reference
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        match ours {
            None => assert!(theirs.is_empty(), "{name}: missed {theirs:?}"),
            Some(v) => {
                assert_eq!(theirs, [v], "{name} decoded differently");
                let _ = form::check_value(v);
                // Debug shows names only (a value with a digit or non-ASCII cannot be a name).
                if v.chars().any(|c| c.is_ascii_digit() || !c.is_ascii()) {
                    assert!(!shown.contains(v), "Debug shows a value: {shown}");
                }
            }
        }
    }
});
