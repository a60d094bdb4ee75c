//! Rendering one mail: the variables the templates see (`Context`, documented in
//! `templates/README.md`), dates in the configured time zone and the account's language, and the
//! split of the `.txt` rendering into subject and body.
//!
//! Must not send anything nor read the clock: callers pass `now` in [`Vars`].

use serde::Serialize;

use super::{Kind, Rendered, TemplateError, Templates, Vars, template_error};
use crate::notify::dates;

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
    reference: &'a str,
}

impl Templates {
    /// Renders `kind` for one account in its preferred language (see [`Self::language_for`]).
    pub fn render(&self, kind: Kind, language: Option<&str>, vars: &Vars) -> Result<Rendered, TemplateError> {
        if kind.needs_link() && vars.link.is_none() {
            return Err(TemplateError::MissingLink { kind });
        }
        let language = self.language_for(language);
        self.render_with(kind, language, vars, &self.organisation, &self.helpdesk)
    }

    pub(super) fn render_with(
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
            reference: &vars.reference,
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

    pub(super) fn origin(&self, name: &str) -> String {
        self.origins.get(name).cloned().unwrap_or_else(|| name.to_owned())
    }
}

/// Splits a rendered `.txt` into its subject (the rest of the first line, which must start with
/// `Subject:`) and its body (what follows, leading empty lines dropped). Only the first line,
/// because `trim_blocks` eats the newline after a `{% endif %}` ending the subject line.
pub(super) fn split_subject(rendered: &str) -> Result<(String, String), String> {
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
