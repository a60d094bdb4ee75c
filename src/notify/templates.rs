//! Mail templates: the built-in set compiled into the binary, per-file overrides from
//! `mail.templates_dir`, the choice of language, and rendering into subject + text + HTML.
//!
//! [`Templates::load`] compiles every template and test-renders every kind × language with
//! sample values, so a broken template is a start-up error naming the file and the line, never a
//! send-time failure. Layout of the files and the variables: `templates/README.md`. Must not send
//! anything nor read the clock: callers pass `now` in [`Vars`].
//!
//! This file holds the types callers see ([`Kind`], [`Vars`], [`Rendered`], [`TemplateError`],
//! [`Templates`]); loading and checking is in `load.rs`, overrides in `overrides.rs`, the
//! choice of language in `language.rs`, rendering in `render.rs`.

mod language;
pub use language::candidates as language_candidates;
mod load;
mod overrides;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::Environment;

/// The mails pwresetd sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The first mail of a campaign: change your password before the deadline (with the link).
    Notice,
    /// The same, later, with the days left (with a fresh link).
    Reminder,
    /// Confirmation after the change: "if this was not you, call …" (no link needed).
    Changed,
    /// The account was locked (or disabled) at the deadline: how to reach the helpdesk (no link:
    /// a locked account's links do not work, and a lookalike mail must not look like this one).
    Locked,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Notice, Kind::Reminder, Kind::Changed, Kind::Locked];

    /// The template file stem: `notice`, `reminder`, `changed`, `locked`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Notice => "notice",
            Kind::Reminder => "reminder",
            Kind::Changed => "changed",
            Kind::Locked => "locked",
        }
    }

    /// Whether the mail carries a one-time link (notice, reminder).
    pub fn needs_link(self) -> bool {
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
            .ok_or_else(|| format!("unknown mail kind {s:?}; expected notice, reminder, changed or locked"))
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
    /// The mail's reference code as printed in its footer (`7K3M-Q9TX-2HDP`); empty: none.
    pub reference: String,
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
            reference: "7K3M-Q9TX-2HDP".into(),
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

#[cfg(test)]
mod tests;
