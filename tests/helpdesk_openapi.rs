//! `src/helpdesk/openapi.json` against the running server: the spec lists exactly the server's
//! `/api/v1` routes; every documented operation answers, each status it gives is documented for
//! it, and each JSON body matches the documented schema (a small JSON Schema checker below:
//! `$ref`, `allOf`, `oneOf`, `type`, `enum`, `required`, `properties`,
//! `additionalProperties`, `items`, `format: date-time`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::BTreeSet;

use common::USER_PASSWORD;
use common::helpdesk::{Auth, CAMPAIGN, Setup};
use serde_json::{Value, json};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/helpdesk/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &spec["components"]["schemas"][name];
            assert!(!target.is_null(), "dangling $ref {r}");
            resolve(spec, target)
        }
        None => schema,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other} in the spec"),
    }
}

/// Checks `v` against `schema`; the first problem, with where it is.
fn check(spec: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(spec, s, v, at)?;
        }
        return Ok(());
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let ok = one.iter().filter(|s| check(spec, s, v, at).is_ok()).count();
        return if ok == 1 {
            Ok(())
        } else {
            Err(format!("{at}: matches {ok} of oneOf"))
        };
    }
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => return Err(format!("{at}: {v} is not {t}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            return Err(format!("{at}: {v} is none of {ts:?}"));
        }
        _ => {}
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    if schema["format"] == "date-time" {
        if let Some(s) = v.as_str() {
            chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("{at}: {s:?} is not a date-time: {e}"))?;
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Err(format!("{at}: missing {r}"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, value) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(spec, s, value, &format!("{at}.{k}"))?,
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => return Err(format!("{at}: undocumented property {k}")),
                    s @ Value::Object(_) => check(spec, s, value, &format!("{at}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

struct Probe<'a> {
    s: &'a Setup,
    spec: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Probe<'_> {
    /// Calls the server, then checks the status is documented for the operation and the body
    /// matches the documented schema. Returns the status.
    async fn call(&mut self, method: &str, template: &str, concrete: &str, auth: Auth<'_>, body: Option<Value>) -> u16 {
        let r = self.s.request(method, concrete, auth, body).send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        let op = &self.spec["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the spec");
        let documented = &op["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {concrete} answered {status}, which the spec does not document for it: {text}"
        );
        let schema = &documented["content"][&content_type]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {concrete} {status}: content type {content_type:?} is not documented"
        );
        if content_type == "application/json" {
            let v: Value = serde_json::from_str(&text).unwrap();
            if let Err(e) = check(&self.spec, schema, &v, "$") {
                panic!("{method} {concrete} {status}: the body does not match the spec: {e}\n{v:#}");
            }
        }
        self.seen.insert((method.to_owned(), template.to_owned(), status));
        status
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spec_describes_the_running_server() {
    let s = Setup::start("hdspec").await;
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented = the_spec_lists_exactly_the_served_routes(&s, &spec).await;
    other_methods_and_stray_paths_are_refused(&s, &documented).await;
    every_operation_answers_as_documented_to_each_caller(&s, &spec, &documented).await;
}

/// The same operations, no more, no less, as the server's route table; the server publishes
/// the file as it is in the repository. The documented (method, path) pairs.
async fn the_spec_lists_exactly_the_served_routes(s: &Setup, spec: &Value) -> BTreeSet<(String, String)> {
    let mut documented = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = pwresetd::helpdesk::api::route_table()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(documented, served, "spec vs route table");
    let (status, published) = s.call("GET", "/api/openapi.json", Auth::None, None).await;
    assert_eq!((status, &published), (200, spec));
    documented
}

/// Every documented path refuses other methods, and /api/v1 has nothing else.
async fn other_methods_and_stray_paths_are_refused(s: &Setup, documented: &BTreeSet<(String, String)>) {
    for (method, path) in documented {
        let concrete = path
            .replace("{login}", "ann")
            .replace("{name}", CAMPAIGN)
            .replace("{list}", "pending");
        for other in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if documented.contains(&(other.to_owned(), path.clone())) {
                continue;
            }
            let (status, _) = s.call(other, &concrete, Auth::Token, None).await;
            assert_eq!(status, 405, "{other} {concrete} (only {method} is documented)");
        }
    }
    for stray in [
        "/api/v1",
        "/api/v1/",
        "/api/v1/users",
        "/api/v1/accounts/ann/delete",
        "/api/v1/admin/config",
    ] {
        let (status, body) = s.call("GET", stray, Auth::Token, None).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{stray}");
    }
}

/// (method, template, concrete path, body, expected status)
type Case = (&'static str, &'static str, String, Option<Value>, u16);

/// `operation` is "METHOD /template".
fn case(operation: &'static str, concrete: impl Into<String>, body: Option<Value>, status: u16) -> Case {
    let (method, template) = operation.split_once(' ').unwrap();
    (method, template, concrete.into(), body, status)
}

/// Each operation, with the token, answering each status the test can provoke.
fn cases() -> Vec<Case> {
    let later = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let (search, account) = ("GET /api/v1/accounts", "GET /api/v1/accounts/{login}");
    let resend = "POST /api/v1/accounts/{login}/resend";
    let exempt = "POST /api/v1/accounts/{login}/exempt";
    let extend = "POST /api/v1/accounts/{login}/extend";
    let mark = "POST /api/v1/accounts/{login}/mark";
    let unlock = "POST /api/v1/accounts/{login}/unlock";
    let check = "POST /api/v1/mails/check";
    let (campaigns, campaign) = ("GET /api/v1/campaigns", "GET /api/v1/campaigns/{name}");
    let progress = "GET /api/v1/campaigns/{name}/progress";
    let list = "GET /api/v1/campaigns/{name}/lists/{list}";
    let ours = format!("/api/v1/campaigns/{CAMPAIGN}");
    vec![
        case(search, "/api/v1/accounts?query=ann", None, 200),
        case(search, "/api/v1/accounts?query=example.org&offset=2&limit=2", None, 200),
        case(search, "/api/v1/accounts?query=", None, 400),
        case(search, "/api/v1/accounts?query=an", None, 400),
        case(search, "/api/v1/accounts?query=ann&limit=0", None, 400),
        case(
            check,
            "/api/v1/mails/check",
            Some(json!({"text": "<forged@example.org>"})),
            200,
        ),
        case(check, "/api/v1/mails/check", Some(json!({"text": " "})), 400),
        case(check, "/api/v1/mails/check", Some(json!({"link": "x"})), 400),
        case(account, "/api/v1/accounts/ann", None, 200),
        case(account, "/api/v1/accounts/nomail", None, 200),
        case(account, "/api/v1/accounts/ghost", None, 404),
        case(resend, "/api/v1/accounts/ann/resend", Some(json!({})), 200),
        case(resend, "/api/v1/accounts/nomail/resend", Some(json!({})), 409),
        case(exempt, "/api/v1/accounts/bob/exempt", Some(json!({"reason": "x"})), 200),
        case(exempt, "/api/v1/accounts/bob/exempt", Some(json!({})), 400),
        case(
            exempt,
            "/api/v1/accounts/ghost/exempt",
            Some(json!({"reason": "x"})),
            404,
        ),
        case(
            extend,
            "/api/v1/accounts/carl/extend",
            Some(json!({"deadline": later})),
            200,
        ),
        case(
            extend,
            "/api/v1/accounts/carl/extend",
            Some(json!({"deadline": "soon"})),
            400,
        ),
        case(mark, "/api/v1/accounts/bob/mark", Some(json!({})), 200),
        case(mark, "/api/v1/accounts/ghost/mark", Some(json!({})), 404),
        // `prior` is locked in the store (`locked_before_the_deadline`).
        case(unlock, "/api/v1/accounts/prior/unlock", Some(json!({})), 400),
        case(
            unlock,
            "/api/v1/accounts/prior/unlock",
            Some(json!({"reason": "called back"})),
            200,
        ),
        case(unlock, "/api/v1/accounts/ann/unlock", Some(json!({"reason": "x"})), 409),
        case(
            unlock,
            "/api/v1/accounts/ghost/unlock",
            Some(json!({"reason": "x"})),
            404,
        ),
        case(campaigns, "/api/v1/campaigns", None, 200),
        case(campaign, ours.clone(), None, 200),
        case(campaign, "/api/v1/campaigns/none", None, 404),
        case(progress, format!("{ours}/progress"), None, 200),
        case(progress, "/api/v1/campaigns/none/progress", None, 404),
        case(list, format!("{ours}/lists/pending"), None, 200),
        case(list, format!("{ours}/lists/no_mail?format=csv"), None, 200),
        case(list, format!("{ours}/lists/bogus"), None, 404),
        case(list, format!("{ours}/lists/failed?format=xml"), None, 400),
        case("GET /api/v1/audit", "/api/v1/audit?account=bob", None, 200),
        case("GET /api/v1/audit", "/api/v1/audit?limit=many", None, 400),
    ]
}

/// Each case with the token gives its status; the same operations without credentials give
/// 401, as a non-operator 403, and a signed-in operator gets what a token gets. Every
/// operation was exercised with 200, 401 and 403, and each answer matched the spec.
async fn every_operation_answers_as_documented_to_each_caller(
    s: &Setup,
    spec: &Value,
    documented: &BTreeSet<(String, String)>,
) {
    let nobody = s.sign_in("nobody", USER_PASSWORD).await.unwrap();
    let op1 = s.sign_in("op1", USER_PASSWORD).await.unwrap();
    let mut p = Probe {
        s,
        spec: spec.clone(),
        seen: BTreeSet::new(),
    };
    s.locked_before_the_deadline("prior");
    let cases = cases();
    for (method, template, concrete, body, expected) in &cases {
        let got = p.call(method, template, concrete, Auth::Token, body.clone()).await;
        assert_eq!(got, *expected, "{method} {concrete}");
    }
    // The same operations without credentials (401), as a non-operator (403), and as a
    // signed-in operator (what a token gets).
    for (method, template, concrete, body, _) in &cases {
        assert_eq!(
            p.call(method, template, concrete, Auth::None, body.clone()).await,
            401,
            "{concrete}"
        );
        assert_eq!(
            p.call(method, template, concrete, Auth::Cookie(&nobody), body.clone())
                .await,
            403,
            "{concrete}"
        );
    }
    let (status, _) = s.call("GET", "/api/v1/accounts/ann", Auth::Cookie(&op1), None).await;
    assert_eq!(status, 200);
    // A mail pwresetd sent: the answer with the mail's details matches the spec too.
    let sent = s.smtp.messages()[0].parse();
    let id = sent.header("Message-ID").unwrap().to_owned();
    let body = Some(json!({ "text": id }));
    let template = "/api/v1/mails/check";
    assert_eq!(p.call("POST", template, template, Auth::Token, body).await, 200);

    // Every operation was exercised with 200, 401 and 403.
    for (method, path) in documented {
        for status in [200, 401, 403] {
            assert!(
                p.seen.contains(&(method.clone(), path.clone(), status)),
                "{method} {path} never answered {status} in this test"
            );
        }
    }
}
