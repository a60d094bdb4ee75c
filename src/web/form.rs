//! Strict reading of `application/x-www-form-urlencoded` bodies from people and from hostile
//! clients alike, for every form of the portal and the helpdesk. Owns the input limits: body
//! size (refused from `Content-Length` before a byte is read, and again while reading), field
//! size, invalid UTF-8, duplicates, NUL and other control characters. Which fields a form has,
//! and the words for a problem, belong to the front end. Never panics and never keeps a
//! rejected value in an error (it may be a password).

use axum::body::Body;
use axum::http::{HeaderMap, header};
use percent_encoding::percent_decode;
use zeroize::Zeroizing;

/// Largest body accepted (a form holds a handful of short fields).
pub const MAX_BODY: usize = 16 * 1024;
/// Largest single field value, in bytes after decoding.
pub const MAX_FIELD: usize = 4096;
/// At most this many fields (repeated unknown fields are a sign of abuse, not of a browser).
const MAX_FIELDS: usize = 32;

/// Why a body is not an acceptable form. Messages are for people and quote no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form was not sent as a web form")]
    ContentType,
    #[error("the form is too large")]
    TooLarge,
    #[error("the form contains text that is not valid UTF-8")]
    NotUtf8,
    #[error("the form contains the field {0:?} more than once")]
    Duplicate(&'static str),
    #[error("the form contains too many fields")]
    TooManyFields,
    #[error("the form is incomplete: the field {0:?} is missing")]
    Missing(&'static str),
}

/// A decoded form: only the fields the front end knows, each at most once. Values are zeroised
/// on drop (they may be passwords); the request body they came from is axum's to free.
#[derive(Default)]
pub struct Form {
    fields: Vec<(&'static str, Zeroizing<String>)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field names only: values may be passwords.
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Form").field("fields", &names).finish()
    }
}

/// Reads a form POST: the content type must be `application/x-www-form-urlencoded`, and the body
/// at most [`MAX_BODY`]. A larger declared `Content-Length` is refused before the body is read,
/// so a client cannot make us wait for (or buffer) what will be refused anyway.
pub async fn read(headers: &HeaderMap, body: Body, known: &[&'static str]) -> Result<Form, FormError> {
    if !has_media_type(headers, "application/x-www-form-urlencoded") {
        return Err(FormError::ContentType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(FormError::TooLarge);
    }
    // Fails when the body grows past the limit (or the client goes away mid-body).
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| FormError::TooLarge)?;
    parse(&bytes, known)
}

/// Whether the request's `Content-Type` is `essence` (parameters such as `charset` aside).
pub fn has_media_type(headers: &HeaderMap, essence: &str) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let given = content_type.split(';').next().unwrap_or_default().trim();
    given.eq_ignore_ascii_case(essence)
}

/// Decodes `body`, keeping the fields named in `known`. Unknown fields are ignored (password
/// managers add their own); a known field given twice is an error, since which copy a server
/// believes is exactly what request smuggling through forms plays on.
pub fn parse(body: &[u8], known: &[&'static str]) -> Result<Form, FormError> {
    if body.len() > MAX_BODY {
        return Err(FormError::TooLarge);
    }
    let mut form = Form::default();
    for (count, pair) in body.split(|b| *b == b'&').filter(|p| !p.is_empty()).enumerate() {
        if count >= MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(name)?;
        let Some(field) = known.iter().find(|k| **k == name.as_str()) else {
            continue;
        };
        if form.fields.iter().any(|(n, _)| n == field) {
            return Err(FormError::Duplicate(field));
        }
        form.fields.push((field, decode(value)?));
    }
    Ok(form)
}

fn decode(raw: &[u8]) -> Result<Zeroizing<String>, FormError> {
    let plus = Zeroizing::new(
        raw.iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect::<Vec<u8>>(),
    );
    let bytes: Vec<u8> = percent_decode(&plus).collect();
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        drop(Zeroizing::new(e.into_bytes()));
        FormError::NotUtf8
    })
}

impl Form {
    /// The field's value; `Missing` when the browser did not send it at all.
    pub fn required(&self, name: &'static str) -> Result<&str, FormError> {
        self.optional(name).ok_or(FormError::Missing(name))
    }

    pub fn optional(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// What is wrong with a typed value (the front end puts it in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    Empty,
    TooLong,
    /// NUL or another control character: no keyboard types those, and directories refuse them.
    ControlCharacter,
}

/// Checks a typed value (password or login) before it goes anywhere.
pub fn check_value(value: &str) -> Result<(), FieldProblem> {
    if value.is_empty() {
        Err(FieldProblem::Empty)
    } else if value.len() > MAX_FIELD {
        Err(FieldProblem::TooLong)
    } else if value.chars().any(char::is_control) {
        Err(FieldProblem::ControlCharacter)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::HeaderValue;

    use super::*;

    const KNOWN: [&str; 3] = ["csrf", "login", "new_password"];

    fn check(body: &[u8], expected: Result<&[(&str, &str)], FormError>) {
        let got = parse(body, &KNOWN).map(|f| {
            f.fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        });
        let want = expected.map(|pairs| {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(body));
    }

    #[test]
    fn parse_table() {
        check(b"", Ok(&[]));
        check(b"login=ann&csrf=x", Ok(&[("login", "ann"), ("csrf", "x")]));
        check(b"login=a+b%20c%2B", Ok(&[("login", "a b c+")]));
        check(b"new_password=caf%C3%A9", Ok(&[("new_password", "café")]));
        check(b"login", Ok(&[("login", "")]));
        check(b"login=&&", Ok(&[("login", "")]));
        check(b"other=1&other=2&login=x", Ok(&[("login", "x")]));
        check(b"login=%00", Ok(&[("login", "\0")]));
        check(b"login=%zz", Ok(&[("login", "%zz")]));
        check(b"login=a&login=b", Err(FormError::Duplicate("login")));
        check(b"login=%FF%FE", Err(FormError::NotUtf8));
        check(b"log%FFin=a", Err(FormError::NotUtf8));
        check(&b"x=1&".repeat(40), Err(FormError::TooManyFields));
        check(&vec![b'a'; MAX_BODY + 1], Err(FormError::TooLarge));
    }

    #[test]
    fn values_are_checked_and_errors_quote_nothing() {
        assert_eq!(check_value(""), Err(FieldProblem::Empty));
        assert_eq!(check_value("a\0b"), Err(FieldProblem::ControlCharacter));
        assert_eq!(check_value("a\u{7f}"), Err(FieldProblem::ControlCharacter));
        assert_eq!(check_value(&"x".repeat(MAX_FIELD + 1)), Err(FieldProblem::TooLong));
        assert_eq!(check_value(")(uid=*"), Ok(()));
        assert_eq!(check_value("Zoë Ångström"), Ok(()));
        let form = parse(b"new_password=hunter2", &KNOWN).unwrap();
        assert_eq!(format!("{form:?}"), "Form { fields: [\"new_password\"] }");
        assert_eq!(form.required("login").unwrap_err(), FormError::Missing("login"));
    }

    fn headers(content_type: &str, length: Option<usize>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        if let Some(n) = length {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        h
    }

    /// A body that never arrives: reading it would hang.
    fn never() -> Body {
        Body::from_stream(futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>())
    }

    async fn read_soon(headers: &HeaderMap, body: Body) -> Result<Form, FormError> {
        tokio::time::timeout(Duration::from_secs(5), read(headers, body, &KNOWN))
            .await
            .expect("the body was waited for")
    }

    #[tokio::test]
    async fn read_refuses_a_large_declared_body_before_reading_it() {
        let form = "application/x-www-form-urlencoded";
        let declared = headers(form, Some(MAX_BODY + 1));
        assert_eq!(read_soon(&declared, never()).await.unwrap_err(), FormError::TooLarge);
        // Without (or despite) a declared length, a body that grows too large is refused too.
        let big = Body::from(vec![b'a'; MAX_BODY + 1]);
        assert_eq!(
            read_soon(&headers(form, None), big).await.unwrap_err(),
            FormError::TooLarge
        );
        let lying = Body::from(vec![b'a'; MAX_BODY + 1]);
        assert_eq!(
            read_soon(&headers(form, Some(10)), lying).await.unwrap_err(),
            FormError::TooLarge
        );
        let json = headers("application/json", Some(2));
        assert_eq!(read_soon(&json, never()).await.unwrap_err(), FormError::ContentType);
        let ok = headers("Application/X-WWW-Form-Urlencoded; charset=UTF-8", Some(9));
        let got = read_soon(&ok, Body::from("login=ann")).await.unwrap();
        assert_eq!(got.optional("login"), Some("ann"));
    }
}
