//! The helpdesk API's action bodies (`helpdesk::api::body`): any bytes under any content type
//! are a typed body or an API error with a status, never a panic.
#![no_main]

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use pwresetd::helpdesk::api;

fuzz_target!(|input: (bool, &[u8])| {
    let (json, data) = input;
    let mut headers = HeaderMap::new();
    let content_type = if json {
        "application/json; charset=utf-8"
    } else {
        "text/plain"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    match api::body(&headers, &Bytes::copy_from_slice(data)) {
        Ok(body) => assert!(json || data.is_empty(), "a non-JSON body was accepted: {body:?}"),
        Err(e) => assert!(e.status.is_client_error(), "{} for a client's body", e.status),
    }
});
