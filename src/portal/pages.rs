//! The portal's HTML pages: the templates under `templates/portal/` (compiled into the binary)
//! and what each page shows, rendered into [`crate::web::pages`]' response.
//!
//! Owns the rule that no page ever receives a password: the view structs have no field for one.
//! [`Pages::new`] renders every page with sample values in every language, so a broken template
//! or a key missing from the catalogues is a start-up error, never a failure in front of a user.
//! Words come from [`super::lang`]: `t("key", name=value)` in the templates, `tr` in the code.

use axum::http::StatusCode;
use minijinja::value::{Kwargs, Value};
use minijinja::{ErrorKind, UndefinedBehavior};
use serde::Serialize;

use super::config::NewLink;
pub use super::form_view::{FieldErrors, FormKind, FormView, ShownRule};
use super::lang::{self, LangError, tr};
use crate::policy::{Advice, Reason, Requirement, RuleDescription, RuleId, Violation};
use crate::web::pages::{Page, TemplateError, Templates};

const TEMPLATES: [(&str, &str); 9] = [
    ("base.html", include_str!("../../templates/portal/base.html")),
    ("macros.html", include_str!("../../templates/portal/macros.html")),
    ("reset.html", include_str!("../../templates/portal/reset.html")),
    ("change.html", include_str!("../../templates/portal/change.html")),
    ("done.html", include_str!("../../templates/portal/done.html")),
    ("gone.html", include_str!("../../templates/portal/gone.html")),
    ("resent.html", include_str!("../../templates/portal/resent.html")),
    ("index.html", include_str!("../../templates/portal/index.html")),
    ("message.html", include_str!("../../templates/portal/message.html")),
];

/// The style sheet, served at `/static/portal.css`.
pub const CSS: &str = include_str!("../../templates/portal/portal.css");

/// The compiled templates.
#[derive(Debug)]
pub struct Pages {
    templates: Templates,
    /// How to reach the helpdesk (`mail.helpdesk`); empty: the pages say "your IT helpdesk".
    helpdesk: String,
    new_link: NewLink,
}

#[derive(Serialize)]
struct UnusableView<'a> {
    title: String,
    words: &'static str,
    helpdesk: &'a str,
    new_link: NewLink,
    csrf: &'a str,
}

/// Tone of a [`Pages::message`] page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Problem,
    Success,
}

#[derive(Serialize)]
struct MessageView<'a> {
    title: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
    back: Option<&'a str>,
    tone: &'static str,
}

/// The last resort when a template itself fails: plain, static, still a page.
const BROKEN: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Error</title></head>\
<body><h1>Something went wrong</h1><p>Please try again in a few minutes, or call the helpdesk.</p></body></html>";

/// Why the pages cannot be used: pwresetd does not start.
#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Language(#[from] LangError),
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The templates' `t("key", name=value)`: the catalogue's text in the page's `lang`, escaped,
/// with each `{name}` replaced by its value (escaped unless already safe markup, such as a
/// `{% set %}` block). An unknown key is an error, so the start-up rendering finds it.
fn t(state: &minijinja::State, key: &str, values: Kwargs) -> Result<Value, minijinja::Error> {
    // A macro imported from another template may not see the page's variables.
    let lang = state.lookup("lang").map_or_else(lang::current, |v| v.to_string());
    let catalogues =
        lang::catalogues().map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let text = catalogues.get(&lang, key).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::UndefinedError,
            format!("no string {key:?} in the catalogues"),
        )
    })?;
    let value = |name: &str| {
        let v: Value = values.get(name).ok()?;
        Some(if v.is_safe() {
            v.to_string()
        } else {
            escape(&v.to_string())
        })
    };
    Ok(Value::from_safe_string(lang::fill(text, value, escape)))
}

#[derive(Serialize)]
struct Switch {
    tag: String,
    name: String,
    href: String,
}

/// What every page gets besides its view: the language, the `?lang=` its forms carry on, the
/// links of the language switch.
fn with_language<S: Serialize>(context: S) -> Value {
    let lang = lang::current();
    let here = lang::here();
    let languages: Vec<Switch> = lang::catalogues()
        .map(|c| {
            c.tags()
                .filter(|t| *t != lang)
                .map(|tag| Switch {
                    tag: tag.to_owned(),
                    name: c.get(tag, "language.name").unwrap_or(tag).to_owned(),
                    href: format!("{here}?lang={tag}"),
                })
                .collect()
        })
        .unwrap_or_default();
    minijinja::context! {
        lang => lang,
        lang_query => lang::query(),
        languages => languages,
        ..Value::from_serialize(&context)
    }
}

impl Pages {
    /// Compiles the templates and renders each page once with sample values, in every language.
    pub fn new(helpdesk: &str, new_link: NewLink) -> Result<Pages, PagesError> {
        let catalogues = lang::catalogues()?;
        let mut templates = Templates::new("portal", &TEMPLATES, UndefinedBehavior::Strict, BROKEN)?;
        templates.env().add_function("t", t);
        let pages = Pages {
            templates,
            helpdesk: helpdesk.trim().to_owned(),
            new_link,
        };
        for tag in catalogues.tags() {
            pages.self_test(tag)?;
        }
        Ok(pages)
    }

    fn try_render<S: Serialize>(&self, name: &str, context: S, lang: &str) -> Result<String, TemplateError> {
        let context = minijinja::context! { lang => lang, ..with_language(context) };
        self.templates.try_render(name, context)
    }

    fn render<S: Serialize>(&self, status: StatusCode, name: &str, context: S) -> Page {
        self.templates.page(status, name, with_language(context))
    }

    pub fn form(&self, status: StatusCode, kind: FormKind, view: &FormView) -> Page {
        let name = match kind {
            FormKind::Link => "reset.html",
            FormKind::Change => "change.html",
        };
        self.render(status, name, view)
    }

    pub fn done(&self, login: &str) -> Page {
        #[derive(Serialize)]
        struct View<'a> {
            title: String,
            login: &'a str,
        }
        let view = View {
            title: tr("done.title", &[]),
            login,
        };
        self.render(StatusCode::OK, "done.html", view)
    }

    /// The 410 page for a link that cannot be used, with the "send me a new link" form.
    pub fn gone(&self, csrf: &str) -> Page {
        self.unusable("gone", csrf)
    }

    /// The page for a link of an account locked at the deadline: what happened and how to reach
    /// the helpdesk. Same status, template and shape as [`Self::gone`] (only the words differ),
    /// so that the answer separates nothing but what the link's holder may know (see
    /// `super::links::look_up`).
    pub fn locked(&self, csrf: &str) -> Page {
        self.unusable("locked", csrf)
    }

    /// The page for a link that opens no form: [`Self::locked`] or [`Self::gone`].
    pub fn unusable_link(&self, link: &super::links::Link, csrf: &str) -> Page {
        match link {
            super::links::Link::Locked => self.locked(csrf),
            _ => self.gone(csrf),
        }
    }

    /// `words`: the prefix of the page's keys in the catalogues (`gone`, `locked`).
    fn unusable(&self, words: &'static str, csrf: &str) -> Page {
        let view = UnusableView {
            title: tr(&format!("{words}.title"), &[]),
            words,
            helpdesk: &self.helpdesk,
            new_link: self.new_link,
            csrf,
        };
        self.render(StatusCode::GONE, "gone.html", view)
    }

    pub fn resent(&self) -> Page {
        self.simple(StatusCode::OK, "resent.html", &tr("resent.title", &[]), "")
    }

    pub fn index(&self, csrf: &str, link_open: bool, change_open: bool) -> Page {
        #[derive(Serialize)]
        struct View<'a> {
            title: String,
            csrf: &'a str,
            link_open: bool,
            change_open: bool,
        }
        let view = View {
            title: tr("site.name", &[]),
            csrf,
            link_open,
            change_open,
        };
        self.render(StatusCode::OK, "index.html", view)
    }

    fn simple(&self, status: StatusCode, name: &str, title: &str, csrf: &str) -> Page {
        #[derive(Serialize)]
        struct View<'a> {
            title: &'a str,
            csrf: &'a str,
        }
        self.render(status, name, View { title, csrf })
    }

    /// A page with one message (errors, limits, "nothing to do").
    pub fn message(&self, status: StatusCode, tone: Tone, title: &str, message: &str, hint: Option<&str>) -> Page {
        self.message_back(status, tone, title, message, hint, None)
    }

    pub fn message_back(
        &self,
        status: StatusCode,
        tone: Tone,
        title: &str,
        message: &str,
        hint: Option<&str>,
        back: Option<&str>,
    ) -> Page {
        let view = MessageView {
            title,
            message,
            hint,
            back,
            tone: match tone {
                Tone::Problem => "problem",
                Tone::Success => "success",
            },
        };
        self.render(status, "message.html", view)
    }

    fn self_test(&self, lang: &str) -> Result<(), TemplateError> {
        let rules = [RuleDescription {
            rule: RuleId::TooShort,
            requirement: Requirement::MinLength { min: 15 },
            source: crate::policy::PWRESETD.into(),
        }];
        let violation = Violation::from(Reason::TooShort { min: 15 });
        let view = sample_form()
            .with_rules(lang, &rules, Advice::Words)
            .with_violations(lang, &[violation]);
        for (name, needs_current) in [("reset.html", false), ("reset.html", true), ("change.html", true)] {
            let view = FormView {
                needs_current,
                ..view.clone()
            };
            self.try_render(name, &view, lang)?;
        }
        self.try_render("done.html", minijinja::context! { title => "t", login => "l" }, lang)?;
        self.try_render("resent.html", minijinja::context! { title => "t", csrf => "c" }, lang)?;
        for (words, helpdesk) in [("gone", ""), ("locked", ""), ("gone", "4242"), ("locked", "4242")] {
            for new_link in [NewLink::Resend, NewLink::Change] {
                let title = tr(&format!("{words}.title"), &[]);
                let view = UnusableView {
                    title,
                    words,
                    helpdesk,
                    new_link,
                    csrf: "c",
                };
                self.try_render("gone.html", &view, lang)?;
            }
        }
        self.try_render(
            "index.html",
            minijinja::context! { title => "t", csrf => "c", link_open => true, change_open => true },
            lang,
        )?;
        let message = MessageView {
            title: "t",
            message: "m",
            hint: Some("h"),
            back: Some("/"),
            tone: "problem",
        };
        self.try_render("message.html", &message, lang)?;
        Ok(())
    }
}

fn sample_form() -> FormView {
    FormView {
        title: "Choose a new password".into(),
        login: "jdoe".into(),
        action: "/reset/x".into(),
        needs_current: false,
        rules: Vec::new(),
        advice: String::new(),
        failed: Vec::new(),
        errors: Vec::new(),
        field_errors: FieldErrors::default(),
        csrf: "c".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_and_escapes() {
        let pages = Pages::new("", NewLink::Resend).unwrap();
        let rules = [RuleDescription {
            rule: RuleId::Reused,
            requirement: Requirement::History { count: 5 },
            source: crate::policy::PWRESETD.into(),
        }];
        let mut view = sample_form().with_rules("en", &rules, Advice::Words);
        view.login = "<script>alert(1)</script>".into();
        let page = pages.form(StatusCode::OK, FormKind::Link, &view);
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.html.contains("<script>"), "{}", page.html);
        assert!(page.html.contains("&lt;script&gt;"));
        assert!(page.html.contains("Not one of your last 5 passwords"));
        assert!(
            page.html
                .contains("<p class=\"hint\">A few unrelated words with spaces")
        );
        assert!(page.html.contains("name=\"viewport\""));
        assert!(page.html.contains("href=\"/static/portal.css\""));
        assert!(!page.html.contains("style="), "inline styles are blocked by the CSP");
        assert!(!page.html.contains("current_password"));
        // A refusal on the link's form, in the mode that asks for the current password too.
        let mut failed = view.with_violations("en", &[Violation::from(Reason::Reused)]);
        failed.needs_current = true;
        let html = pages
            .form(StatusCode::UNPROCESSABLE_ENTITY, FormKind::Link, &failed)
            .html;
        assert!(html.contains("You have used this password before."));
        assert!(html.contains("class=\"failed\""));
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("for=\"current_password\""));
        // `/change` chooses no password: its form has no field for one, and no rules.
        let change = pages.form(StatusCode::OK, FormKind::Change, &sample_form()).html;
        assert!(change.contains("for=\"current_password\"") && change.contains("name=\"login\""));
        assert!(
            !change.contains("new_password") && !change.contains("confirm_password"),
            "{change}"
        );
        assert!(change.contains("Email me a link"), "{change}");
        assert_eq!(pages.gone("tok").status, StatusCode::GONE);
        assert!(pages.gone("tok").html.contains("action=\"/resend\""));
        // Without `/resend`, the way to a new link is `/change`.
        let gone = Pages::new("", NewLink::Change).unwrap().gone("tok").html;
        assert!(!gone.contains("/resend"), "{gone}");
        assert!(gone.contains("href=\"/change"), "{gone}");
    }

    /// The tags of a page, without its words: what "the same shape" means.
    fn shape(html: &str) -> Vec<String> {
        html.split('<')
            .skip(1)
            .map(|t| t.split([' ', '>']).next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn the_locked_page_has_the_shape_of_the_gone_page() {
        for helpdesk in ["", "call 4242 or helpdesk@example.org"] {
            let pages = Pages::new(helpdesk, NewLink::Resend).unwrap();
            let (gone, locked) = (pages.gone("tok"), pages.locked("tok"));
            assert_eq!(locked.status, gone.status);
            assert_eq!(shape(&locked.html), shape(&gone.html));
            assert!(locked.html.contains("locked at the deadline"), "{}", locked.html);
            assert!(!gone.html.contains("locked"), "{}", gone.html);
            if !helpdesk.is_empty() {
                assert!(locked.html.contains("call 4242 or helpdesk@example.org"));
                assert!(gone.html.contains("call 4242 or helpdesk@example.org"));
            }
        }
    }
}
