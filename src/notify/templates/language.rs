//! The choice of language for one account: its `preferredLanguage` (one tag or an
//! Accept-Language list), then `mail.default_language`, then English, among the languages that
//! have a full set of templates.
//!
//! Must not read the directory: callers pass the attribute's value.

use super::Templates;

/// The last resort of the language fallback; always built in.
const FALLBACK_LANGUAGE: &str = "en";

impl Templates {
    /// The languages with a full set of templates.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(String::as_str)
    }

    /// The language for an account's `preferredLanguage` (RFC 2798: one tag such as `fr-CA`, or
    /// an Accept-Language list such as `fr-CA, en;q=0.8`): each tag in order of preference, then
    /// its primary subtag (`fr-ca` → `fr`), then `mail.default_language`, then `en`.
    pub fn language_for(&self, preferred: Option<&str>) -> &str {
        let wanted = preferred.map(candidates).unwrap_or_default();
        wanted
            .iter()
            .chain([&self.default_language, &FALLBACK_LANGUAGE.to_owned()])
            .find_map(|l| self.languages.get(l))
            .map_or(FALLBACK_LANGUAGE, String::as_str)
    }
}

/// Language tags to try for a `preferredLanguage` value (or an Accept-Language header: the
/// portal chooses its pages' language with it), best first, each followed by its
/// primary subtag: `"fr-CA, en;q=0.8"` → `fr-ca`, `fr`, `en`.
pub fn candidates(preferred: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = preferred
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim().to_ascii_lowercase().replace('_', "-");
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (!tag.is_empty() && tag != "*" && q > 0.0).then_some((q, i, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    for (_, _, tag) in tags {
        let primary = tag.split('-').next().unwrap_or_default().to_owned();
        for t in [tag, primary] {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}
