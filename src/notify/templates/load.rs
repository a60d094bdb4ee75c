//! Loading the mail templates: the built-in set compiled into the binary, merged with the
//! overrides of `mail.templates_dir` (`overrides.rs`), compiled into one minijinja environment,
//! then test-rendered for every kind × language so a broken template fails at start-up.
//!
//! Must not render for real mails (`render.rs` does) nor choose languages (`language.rs`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::overrides::{self, Sources};
use super::{Kind, Rendered, SAMPLE_LINK, TemplateError, Templates, Vars, template_error};
use crate::notify::config::MailSettings;

/// The built-in templates, by name (`<lang>/<kind>.<ext>`, or a shared file at the root).
const BUILTIN: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../templates/layout.html")),
    ("macros.html", include_str!("../../../templates/macros.html")),
    ("en/notice.txt", include_str!("../../../templates/en/notice.txt")),
    ("en/notice.html", include_str!("../../../templates/en/notice.html")),
    ("en/reminder.txt", include_str!("../../../templates/en/reminder.txt")),
    ("en/reminder.html", include_str!("../../../templates/en/reminder.html")),
    ("en/changed.txt", include_str!("../../../templates/en/changed.txt")),
    ("en/changed.html", include_str!("../../../templates/en/changed.html")),
    ("en/locked.txt", include_str!("../../../templates/en/locked.txt")),
    ("en/locked.html", include_str!("../../../templates/en/locked.html")),
    ("fr/notice.txt", include_str!("../../../templates/fr/notice.txt")),
    ("fr/notice.html", include_str!("../../../templates/fr/notice.html")),
    ("fr/reminder.txt", include_str!("../../../templates/fr/reminder.txt")),
    ("fr/reminder.html", include_str!("../../../templates/fr/reminder.html")),
    ("fr/changed.txt", include_str!("../../../templates/fr/changed.txt")),
    ("fr/changed.html", include_str!("../../../templates/fr/changed.html")),
    ("fr/locked.txt", include_str!("../../../templates/fr/locked.txt")),
    ("fr/locked.html", include_str!("../../../templates/fr/locked.html")),
];

impl Templates {
    /// Compiles the built-in templates with the overrides of `settings.templates_dir`, then
    /// renders every kind × language with sample values.
    pub fn load(settings: &MailSettings) -> Result<Templates, TemplateError> {
        let mut sources: Sources = BUILTIN
            .iter()
            .map(|(name, text)| {
                (
                    name.to_string(),
                    (text.to_string(), format!("templates/{name} (built-in)")),
                )
            })
            .collect();
        if let Some(dir) = &settings.templates_dir {
            overrides::read(dir, &mut sources)?;
        }
        let languages: BTreeSet<String> = sources
            .keys()
            .filter_map(|name| name.split_once('/').map(|(lang, _)| lang.to_owned()))
            .collect();
        if !languages.contains(&settings.default_language) {
            return Err(TemplateError::DefaultLanguage {
                language: settings.default_language.clone(),
                available: languages.iter().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let mut env = environment();
        let mut origins = BTreeMap::new();
        for (name, (text, origin)) in sources {
            origins.insert(name.clone(), origin);
            if let Err(e) = env.add_template_owned(name, text) {
                return Err(template_error(&origins, &e, None));
            }
        }
        let templates = Templates {
            env,
            origins,
            languages,
            default_language: settings.default_language.clone(),
            timezone: settings.timezone,
            organisation: settings.organisation.clone(),
            helpdesk: settings.helpdesk.clone(),
            sender: settings.from.name.clone().unwrap_or_default(),
        };
        templates.check_all()?;
        Ok(templates)
    }

    /// Renders every kind × language with samples that take each branch the built-in templates
    /// have (days left 0, 1, many; reason, organisation and helpdesk present and empty).
    fn check_all(&self) -> Result<(), TemplateError> {
        let now = DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z").map_or_else(|_| Utc::now(), |t| t.to_utc());
        let full = Vars::sample(now);
        let sparse = Vars {
            display_name: String::new(),
            reason: String::new(),
            deadline: now + chrono::Duration::days(1),
            changed_at: None,
            ..full.clone()
        };
        let last_day = Vars {
            deadline: now + chrono::Duration::hours(3),
            ..full.clone()
        };
        let variants = [
            (&full, "Example Corp", "+33 1 23 45 67 89"),
            (&sparse, "", ""),
            (&last_day, "Example Corp", ""),
        ];
        for language in &self.languages {
            for kind in Kind::ALL {
                for (vars, organisation, helpdesk) in variants {
                    let rendered = self.render_with(kind, language, vars, organisation, helpdesk)?;
                    self.check_rendered(kind, language, &rendered)?;
                }
            }
        }
        Ok(())
    }

    fn check_rendered(&self, kind: Kind, language: &str, rendered: &Rendered) -> Result<(), TemplateError> {
        for (ext, body) in [("txt", &rendered.text), ("html", &rendered.html)] {
            let name = format!("{language}/{}.{ext}", kind.name());
            let problem = if body.trim().is_empty() {
                Some("renders an empty body".to_owned())
            } else if kind.needs_link() && !body.contains(SAMPLE_LINK) {
                Some("the rendered mail does not contain the link; use {{ link }}".to_owned())
            } else {
                None
            };
            if let Some(detail) = problem {
                return Err(TemplateError::Template {
                    origin: self.origin(&name),
                    line: None,
                    detail,
                });
            }
        }
        Ok(())
    }
}

/// An empty environment with the settings every template is compiled with: undefined variables
/// are errors, blocks do not leave blank lines, `.html` files are escaped (see [`html_formatter`]).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(html_formatter);
    env
}

/// minijinja's HTML escaping also turns `/` into `&#x2f;`: valid, but links then look
/// obfuscated (`href="https:&#x2f;&#x2f;…"`), which spam filters and wary readers of the source
/// dislike. `&`, `<`, `>`, `"` and `'` are all that HTML text and quoted attributes need.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if state.auto_escape() != AutoEscape::Html || value.is_safe() || value.is_undefined() || value.is_none() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    std::fmt::Write::write_str(out, &escaped).map_err(minijinja::Error::from)
}
