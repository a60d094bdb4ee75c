//! Mail templates: the built-in set compiled into the binary, per-file overrides from
//! `mail.templates_dir`, the choice of language, and rendering into subject + text + HTML.
//!
//! [`Templates::load`] compiles every template and test-renders every kind × language with
//! sample values, so a broken template is a start-up error naming the file and the line, never a
//! send-time failure. Layout of the files and the variables: `templates/README.md`. Must not send
//! anything nor read the clock: callers pass `now` in [`Vars`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::config::MailSettings;
use super::dates;

/// The mails pwresetd sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The first mail of a campaign: change your password before the deadline (with the link).
    Notice,
    /// The same, later, with the days left (with a fresh link).
    Reminder,
    /// Confirmation after the change: "if this was not you, call …" (no link needed).
    Changed,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Notice, Kind::Reminder, Kind::Changed];

    /// The template file stem: `notice`, `reminder`, `changed`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Notice => "notice",
            Kind::Reminder => "reminder",
            Kind::Changed => "changed",
        }
    }

    fn needs_link(self) -> bool {
        matches!(self, Kind::Notice | Kind::Reminder)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown mail kind {s:?}; expected notice, reminder or changed"))
    }
}

/// What one mail says about one account. Everything else comes from the `[mail]` settings.
#[derive(Clone, Debug)]
pub struct Vars {
    /// Empty: the login is used.
    pub display_name: String,
    pub login: String,
    /// The campaign's reason, shown as "Why: …"; may be empty.
    pub reason: String,
    pub deadline: DateTime<Utc>,
    /// The one-time link; required for notice and reminder.
    pub link: Option<String>,
    /// When the password was changed (the `changed` mail).
    pub changed_at: Option<DateTime<Utc>>,
    /// The time of rendering, for `days_left`.
    pub now: DateTime<Utc>,
}

/// The link used by samples (`pwresetd mail test`, the load-time check).
pub const SAMPLE_LINK: &str = "https://portal.example.invalid/reset/SAMPLE-TOKEN";

impl Vars {
    /// Plausible values: deadline a week after `now`, the sample link.
    pub fn sample(now: DateTime<Utc>) -> Vars {
        Vars {
            display_name: "Camille Martin".into(),
            login: "cmartin".into(),
            reason: "a security review found that some passwords may have been exposed.".into(),
            deadline: now + chrono::Duration::days(7),
            link: Some(SAMPLE_LINK.into()),
            changed_at: Some(now),
            now,
        }
    }
}

/// A rendered mail, ready for [`super::message::build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The language used (after fallback), e.g. `fr`.
    pub language: String,
}

/// A template that cannot be used, or a render request that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Syntax or render error, or a rendered mail missing its subject or link.
    #[error("{origin}{}: {detail}", line_suffix(*.line))]
    Template {
        origin: String,
        line: Option<usize>,
        detail: String,
    },
    /// A file in `mail.templates_dir` that cannot be used as it is.
    #[error("mail.templates_dir: {}: {message}", .path.display())]
    Override { path: PathBuf, message: String },
    #[error(
        "mail.default_language: no templates for {language:?} (available: {available}); add \
             templates_dir/{language}/ with every kind, or choose one of those"
    )]
    DefaultLanguage { language: String, available: String },
    #[error("the {kind} mail needs a link (Vars::link) and none was given")]
    MissingLink { kind: Kind },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// Template sources by name: (text, where it came from).
type Sources = BTreeMap<String, (String, String)>;

/// The built-in templates, by name (`<lang>/<kind>.<ext>`, or a shared file at the root).
const BUILTIN: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("en/notice.txt", include_str!("../../templates/en/notice.txt")),
    ("en/notice.html", include_str!("../../templates/en/notice.html")),
    ("en/reminder.txt", include_str!("../../templates/en/reminder.txt")),
    ("en/reminder.html", include_str!("../../templates/en/reminder.html")),
    ("en/changed.txt", include_str!("../../templates/en/changed.txt")),
    ("en/changed.html", include_str!("../../templates/en/changed.html")),
    ("fr/notice.txt", include_str!("../../templates/fr/notice.txt")),
    ("fr/notice.html", include_str!("../../templates/fr/notice.html")),
    ("fr/reminder.txt", include_str!("../../templates/fr/reminder.txt")),
    ("fr/reminder.html", include_str!("../../templates/fr/reminder.html")),
    ("fr/changed.txt", include_str!("../../templates/fr/changed.txt")),
    ("fr/changed.html", include_str!("../../templates/fr/changed.html")),
];
/// The last resort of the language fallback; always built in.
const FALLBACK_LANGUAGE: &str = "en";

/// The compiled, checked templates. Cheap to share (`Arc`); rendering takes `&self`.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Template name → where it came from, for error messages.
    origins: BTreeMap<String, String>,
    languages: BTreeSet<String>,
    default_language: String,
    timezone: Tz,
    organisation: String,
    helpdesk: String,
    sender: String,
}

/// What the templates see. Documented in templates/README.md.
#[derive(Serialize)]
struct Context<'a> {
    display_name: &'a str,
    login: &'a str,
    organisation: &'a str,
    helpdesk: &'a str,
    sender: &'a str,
    reason: &'a str,
    deadline: String,
    deadline_date: String,
    deadline_iso: String,
    days_left: i64,
    link: Option<&'a str>,
    changed_at: String,
    language: &'a str,
    subject: Option<&'a str>,
}

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

    /// Renders `kind` for one account in its preferred language (see [`Self::language_for`]).
    pub fn render(&self, kind: Kind, language: Option<&str>, vars: &Vars) -> Result<Rendered, TemplateError> {
        if kind.needs_link() && vars.link.is_none() {
            return Err(TemplateError::MissingLink { kind });
        }
        let language = self.language_for(language);
        self.render_with(kind, language, vars, &self.organisation, &self.helpdesk)
    }

    fn render_with(
        &self,
        kind: Kind,
        language: &str,
        vars: &Vars,
        organisation: &str,
        helpdesk: &str,
    ) -> Result<Rendered, TemplateError> {
        let tz = self.timezone;
        let mut ctx = Context {
            display_name: if vars.display_name.trim().is_empty() {
                &vars.login
            } else {
                vars.display_name.trim()
            },
            login: &vars.login,
            organisation,
            helpdesk,
            sender: &self.sender,
            reason: vars.reason.trim(),
            deadline: dates::date_time(vars.deadline, tz, language),
            deadline_date: dates::date(vars.deadline, tz, language),
            deadline_iso: vars.deadline.with_timezone(&tz).to_rfc3339(),
            days_left: dates::days_left(vars.now, vars.deadline, tz),
            link: vars.link.as_deref(),
            changed_at: vars
                .changed_at
                .map(|t| dates::date_time(t, tz, language))
                .unwrap_or_default(),
            language,
            subject: None,
        };
        let text_name = format!("{language}/{}.txt", kind.name());
        let rendered = self.render_one(&text_name, &ctx)?;
        let (subject, text) = split_subject(&rendered).map_err(|detail| TemplateError::Template {
            origin: self.origin(&text_name),
            line: Some(1),
            detail,
        })?;
        ctx.subject = Some(&subject);
        let html = self.render_one(&format!("{language}/{}.html", kind.name()), &ctx)?;
        Ok(Rendered {
            subject: subject.clone(),
            text,
            html,
            language: language.to_owned(),
        })
    }

    fn render_one(&self, name: &str, ctx: &Context<'_>) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(&self.origins, &e, Some(name)))
    }

    fn origin(&self, name: &str) -> String {
        self.origins.get(name).cloned().unwrap_or_else(|| name.to_owned())
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

/// Turns a minijinja error into one naming the file where it happened and its line.
fn template_error(
    origins: &BTreeMap<String, String>,
    error: &minijinja::Error,
    rendering: Option<&str>,
) -> TemplateError {
    let name = error.name().or(rendering).unwrap_or("(unknown template)");
    let detail = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    TemplateError::Template {
        origin: origins.get(name).cloned().unwrap_or_else(|| name.to_owned()),
        line: error.line(),
        detail,
    }
}

/// Splits a rendered `.txt` into its subject (the rest of the first line, which must start with
/// `Subject:`) and its body (what follows, leading empty lines dropped). Only the first line,
/// because `trim_blocks` eats the newline after a `{% endif %}` ending the subject line.
fn split_subject(rendered: &str) -> Result<(String, String), String> {
    let rendered = rendered.trim_start();
    let Some(rest) = rendered.strip_prefix("Subject:") else {
        return Err("the .txt template must start with a \"Subject: …\" line, then an empty line".into());
    };
    let (subject, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.is_empty() {
        return Err("the subject renders empty".into());
    }
    let mut body = body.trim_start_matches(['\n', '\r']).trim_end().to_owned();
    body.push('\n');
    Ok((subject, body))
}

/// Language tags to try for a `preferredLanguage` value, best first, each followed by its
/// primary subtag: `"fr-CA, en;q=0.8"` → `fr-ca`, `fr`, `en`.
fn candidates(preferred: &str) -> Vec<String> {
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

mod overrides;

#[cfg(test)]
mod tests;
