//! The portal's languages: every string the portal shows, one catalogue per language
//! (`templates/portal/lang/<tag>.toml`, compiled in; build.rs lists the directory, so a language
//! is a new file and no code), the language of each request, and lookups with `{name}` values.
//!
//! The language of a request: `?lang=` (the switch on every page, kept on the forms' actions so
//! a POST answers in it), else the account's `preferredLanguage` when a link names the account
//! ([`prefer`]), else `Accept-Language`, else English. [`middleware`] holds it in a task-local
//! for the request, so the handlers need not pass it along. Must not know the flows or the pages.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::notify::language_candidates;

// `const CATALOGUES: &[(&str, &str)]`: (language tag, the file's text), written by build.rs.
include!(concat!(env!("OUT_DIR"), "/portal_catalogues.rs"));

/// The language every catalogue is checked against, and the last resort.
pub const FALLBACK: &str = "en";

/// A catalogue that cannot be used: pwresetd does not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LangError {
    #[error("templates/portal/lang/{lang}.toml: {message}")]
    Parse { lang: String, message: String },
    #[error("templates/portal/lang/{lang}.toml lacks {keys:?}, which {FALLBACK}.toml has: add them")]
    Missing { lang: String, keys: Vec<String> },
    #[error("templates/portal/lang/{lang}.toml has {keys:?}, which {FALLBACK}.toml does not: remove them")]
    Extra { lang: String, keys: Vec<String> },
    #[error("templates/portal/lang/{FALLBACK}.toml is missing")]
    NoFallback,
}

/// Every language's strings, keyed by tag then by key.
#[derive(Debug)]
pub struct Catalogues {
    languages: BTreeMap<String, BTreeMap<String, String>>,
}

impl Catalogues {
    /// Parses `(tag, text)` pairs and checks that every language has exactly the keys of
    /// English.
    pub fn parse(sources: &[(&str, &str)]) -> Result<Catalogues, LangError> {
        let mut languages = BTreeMap::new();
        for (lang, text) in sources {
            let strings: BTreeMap<String, String> = toml::from_str(text).map_err(|e| LangError::Parse {
                lang: (*lang).to_owned(),
                message: e.to_string(),
            })?;
            languages.insert((*lang).to_owned(), strings);
        }
        let reference = languages.get(FALLBACK).ok_or(LangError::NoFallback)?;
        for (lang, strings) in &languages {
            let missing: Vec<String> = reference
                .keys()
                .filter(|k| !strings.contains_key(*k))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(LangError::Missing {
                    lang: lang.clone(),
                    keys: missing,
                });
            }
            let extra: Vec<String> = strings
                .keys()
                .filter(|k| !reference.contains_key(*k))
                .cloned()
                .collect();
            if !extra.is_empty() {
                return Err(LangError::Extra {
                    lang: lang.clone(),
                    keys: extra,
                });
            }
        }
        Ok(Catalogues { languages })
    }

    /// The language tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }

    /// The catalogue's text for `key` in `lang` (English for a language it does not have).
    pub fn get(&self, lang: &str, key: &str) -> Option<&str> {
        self.languages
            .get(lang)
            .or_else(|| self.languages.get(FALLBACK))?
            .get(key)
            .map(String::as_str)
    }

    /// The first of an Accept-Language list or a `preferredLanguage` value (`fr-CA, en;q=0.8`)
    /// that has a catalogue, by tag then primary subtag.
    pub fn best(&self, wanted: &str) -> Option<&str> {
        language_candidates(wanted)
            .iter()
            .find_map(|t| self.languages.get_key_value(t.as_str()))
            .map(|(k, _)| k.as_str())
    }
}

/// The built-in catalogues, parsed once; [`super::pages::Pages::new`] refuses to start on an
/// error.
pub fn catalogues() -> Result<&'static Catalogues, LangError> {
    static PARSED: LazyLock<Result<Catalogues, LangError>> = LazyLock::new(|| Catalogues::parse(CATALOGUES));
    PARSED.as_ref().map_err(Clone::clone)
}

/// `text` with each `{name}` replaced by its value through `value` (unknown names stay as
/// they are).
pub fn fill(
    text: &str,
    mut value: impl FnMut(&str) -> Option<String>,
    mut literal: impl FnMut(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        out.push_str(&literal(&rest[..open]));
        match value(&rest[open + 1..close]) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&literal(&rest[open..=close])),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(&literal(rest));
    out
}

/// The language of the request being answered.
#[derive(Debug, Clone)]
struct Chosen {
    lang: String,
    /// Chosen with `?lang=`: the forms carry it on.
    explicit: bool,
    /// Where the language switch links to (this page, or the landing page after a POST that
    /// has no page of its own).
    here: String,
}

tokio::task_local! {
    static REQUEST: RefCell<Chosen>;
}

/// The language of the request being answered (English outside one).
pub fn current() -> String {
    REQUEST
        .try_with(|c| c.borrow().lang.clone())
        .unwrap_or_else(|_| FALLBACK.to_owned())
}

/// `?lang=xx` when the person chose the language with the switch, for the forms' actions and
/// links; else empty.
pub fn query() -> String {
    REQUEST
        .try_with(|c| {
            let c = c.borrow();
            if c.explicit {
                format!("?lang={}", c.lang)
            } else {
                String::new()
            }
        })
        .unwrap_or_default()
}

/// Where the switch links to, without a query.
pub fn here() -> String {
    REQUEST
        .try_with(|c| c.borrow().here.clone())
        .unwrap_or_else(|_| "/".to_owned())
}

/// The account's `preferredLanguage`, once the link has named the account: it wins over
/// `Accept-Language`, not over the switch.
pub fn prefer(preferred: Option<&str>) {
    let (Some(wanted), Ok(catalogues)) = (preferred, catalogues()) else {
        return;
    };
    let Some(best) = catalogues.best(wanted) else { return };
    let _ = REQUEST.try_with(|c| {
        let mut c = c.borrow_mut();
        if !c.explicit {
            c.lang = best.to_owned();
        }
    });
}

/// `key` in the request's language, with `{name}` values from `args`. An unknown key (a bug:
/// a test checks every key the portal's code names) is logged and shown as is.
pub fn tr(key: &str, args: &[(&str, &str)]) -> String {
    let text = catalogues().ok().and_then(|c| c.get(&current(), key));
    let Some(text) = text else {
        tracing::error!(key, "portal: no such string in the catalogues");
        return key.to_owned();
    };
    let value = |name: &str| args.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
    fill(text, value, str::to_owned)
}

/// Whether `path`, written as a link's `href`, stays on this site. A crafted URL such as
/// `https://portal//evil.example/x` reaches the 404 page with the path `//evil.example/x`,
/// which as a link is protocol-relative: another host, from pwresetd's own page. Browsers read
/// `\` as `/` in such links.
fn on_this_site(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// The language asked for with `?lang=`, when it has a catalogue.
fn from_query<'a>(catalogues: &'a Catalogues, query: Option<&str>) -> Option<&'a str> {
    let wanted = query?.split('&').find_map(|pair| pair.strip_prefix("lang="))?;
    catalogues.tags().find(|t| *t == wanted)
}

/// Chooses the request's language and answers within it; every answer varies with
/// `Accept-Language`.
pub async fn middleware(request: Request, next: Next) -> Response {
    let chosen = match catalogues() {
        Ok(catalogues) => {
            let explicit = from_query(catalogues, request.uri().query());
            let accepted = request
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| catalogues.best(v));
            let path = request.uri().path();
            // A POST without a GET of its own (the new-link request) switches on the landing page.
            let here = if (request.method() == Method::GET || path != "/resend") && on_this_site(path) {
                path
            } else {
                "/"
            };
            Chosen {
                lang: explicit.or(accepted).unwrap_or(FALLBACK).to_owned(),
                explicit: explicit.is_some(),
                here: here.to_owned(),
            }
        }
        Err(_) => Chosen {
            lang: FALLBACK.to_owned(),
            explicit: false,
            here: "/".to_owned(),
        },
    };
    let mut response = REQUEST.scope(RefCell::new(chosen), next.run(request)).await;
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Language"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_links_only_to_this_site() {
        let table = [
            ("/", true),
            ("/reset/abc", true),
            ("/change", true),
            ("//evil.example/x", false),
            ("/\\evil.example", false),
            ("/a\\b", false),
            ("evil.example", false),
            ("", false),
        ];
        for (path, expected) in table {
            assert_eq!(on_this_site(path), expected, "{path:?}");
        }
    }

    #[test]
    fn every_language_has_every_key_and_a_missing_one_is_named() {
        let catalogues = catalogues().unwrap();
        assert_eq!(catalogues.tags().collect::<Vec<_>>(), ["en", "fr"]);
        assert_eq!(catalogues.get("fr", "done.title"), Some("Mot de passe changé"));
        let e = Catalogues::parse(&[("en", "a = \"A\"\nb = \"B\""), ("fr", "a = \"A\"")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "templates/portal/lang/fr.toml lacks [\"b\"], which en.toml has: add them"
        );
        let e = Catalogues::parse(&[("en", "a = \"A\""), ("de", "a = \"A\"\nc = \"C\"")]).unwrap_err();
        assert!(e.to_string().contains("de.toml has [\"c\"]"), "{e}");
        assert!(Catalogues::parse(&[("en", "a = ")]).is_err());
    }

    /// Every key the portal's Rust code names (`tr("…"`) is in the catalogues; the templates'
    /// keys are checked by rendering every page at start-up (`Pages::new`).
    #[test]
    fn every_key_the_code_names_exists() {
        let catalogues = catalogues().unwrap();
        let sources = [
            include_str!("answers.rs"),
            include_str!("handlers.rs"),
            include_str!("pages.rs"),
            include_str!("form.rs"),
        ];
        let mut seen = 0;
        for source in sources {
            for (at, _) in source.match_indices("tr(\"") {
                // `tr(`, not `push_str(`.
                if source[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let key = source[at + 4..].split('"').next().unwrap();
                assert!(catalogues.get(FALLBACK, key).is_some(), "{key:?} is not in en.toml");
                seen += 1;
            }
        }
        assert!(seen >= 30, "{seen}");
    }

    #[test]
    fn best_language_and_fill() {
        let catalogues = catalogues().unwrap();
        assert_eq!(catalogues.best("fr-CA, en;q=0.8"), Some("fr"));
        assert_eq!(catalogues.best("de, en;q=0.5"), Some("en"));
        assert_eq!(catalogues.best("de"), None);
        assert_eq!(from_query(catalogues, Some("x=1&lang=fr")), Some("fr"));
        assert_eq!(from_query(catalogues, Some("lang=xx")), None);
        let args = [("n", "3")];
        let value = |name: &str| args.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        assert_eq!(fill("{n} of {m}", value, str::to_owned), "3 of {m}");
        assert_eq!(
            tr("too-many.message.many", &[("minutes", "5")]),
            "There have been too many attempts. Wait 5 minutes, then try again."
        );
    }
}
