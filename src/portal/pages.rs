//! The portal's HTML pages: the templates under `templates/portal/` (compiled into the binary)
//! and what each page shows, rendered into [`crate::web::pages`]' response.
//!
//! Owns the rule that no page ever receives a password: the view structs have no field for one.
//! [`Pages::new`] renders every page with sample values, so a broken template is a start-up
//! error, never a failure in front of a user.

use axum::http::StatusCode;
use minijinja::UndefinedBehavior;
use serde::Serialize;

use crate::policy::{RuleDescription, RuleId, Violation};
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

const SITE_NAME: &str = "Password change";

/// The compiled templates.
#[derive(Debug)]
pub struct Pages {
    templates: Templates,
}

/// Errors attached to the fields of a form.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FieldErrors {
    pub login: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub confirm_password: Option<String>,
}

/// A password form (`reset.html` or `change.html`).
#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    pub title: &'static str,
    /// The account's login (link flow) or what was typed (current-password flow).
    pub login: String,
    /// Where the form posts to.
    pub action: String,
    pub needs_current: bool,
    /// The rules in force for the account (`[policy]` with the directory's own as a floor).
    pub rules: Vec<RuleDescription>,
    /// The advice under the rules; never suggests what one of them refuses.
    pub advice: String,
    /// Rule ids that the last attempt broke.
    pub failed: Vec<RuleId>,
    pub errors: Vec<String>,
    pub field_errors: FieldErrors,
    pub csrf: String,
}

impl FormView {
    /// Lists every violation, at the top and on the new-password field.
    pub fn with_violations(mut self, violations: &[Violation]) -> Self {
        self.failed = violations.iter().map(|v| v.rule).collect();
        self.errors.extend(violations.iter().map(|v| v.message.clone()));
        self.field_errors.new_password = Some(match violations.len() {
            1 => "This password does not meet the rule above.".into(),
            n => format!("This password does not meet {n} of the rules above."),
        });
        self
    }
}

/// Which form a [`FormView`] is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Link,
    Change,
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

impl Pages {
    /// Compiles the templates and renders each page once with sample values.
    pub fn new() -> Result<Pages, TemplateError> {
        let mut templates = Templates::new("portal", &TEMPLATES, UndefinedBehavior::Strict, BROKEN)?;
        templates.env().add_global("site_name", SITE_NAME);
        let pages = Pages { templates };
        pages.self_test()?;
        Ok(pages)
    }

    fn try_render<S: Serialize>(&self, name: &str, context: S) -> Result<String, TemplateError> {
        self.templates.try_render(name, context)
    }

    fn render<S: Serialize>(&self, status: StatusCode, name: &str, context: S) -> Page {
        self.templates.page(status, name, context)
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
            title: &'a str,
            login: &'a str,
        }
        let view = View {
            title: "Password changed",
            login,
        };
        self.render(StatusCode::OK, "done.html", view)
    }

    /// The 410 page for a link that cannot be used, with the "send me a new link" form.
    pub fn gone(&self, csrf: &str) -> Page {
        self.simple(StatusCode::GONE, "gone.html", "This link is no longer valid", csrf)
    }

    pub fn resent(&self) -> Page {
        self.simple(StatusCode::OK, "resent.html", "Check your email", "")
    }

    pub fn index(&self, csrf: &str, link_open: bool, change_open: bool) -> Page {
        #[derive(Serialize)]
        struct View<'a> {
            title: &'a str,
            csrf: &'a str,
            link_open: bool,
            change_open: bool,
        }
        let view = View {
            title: SITE_NAME,
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

    fn self_test(&self) -> Result<(), TemplateError> {
        let rules = vec![RuleDescription {
            rule: RuleId::TooShort,
            text: "At least 15 characters".into(),
            source: crate::policy::PWRESETD.into(),
        }];
        let violation = Violation {
            rule: RuleId::TooShort,
            message: "Use at least 15 characters.".into(),
        };
        let view = sample_form(rules).with_violations(&[violation]);
        for (name, needs_current) in [("reset.html", false), ("reset.html", true), ("change.html", true)] {
            let view = FormView {
                needs_current,
                ..view.clone()
            };
            self.try_render(name, &view)?;
        }
        self.try_render("done.html", minijinja::context! { title => "t", login => "l" })?;
        for name in ["gone.html", "resent.html"] {
            self.try_render(name, minijinja::context! { title => "t", csrf => "c" })?;
        }
        self.try_render(
            "index.html",
            minijinja::context! { title => "t", csrf => "c", link_open => true, change_open => true },
        )?;
        let message = MessageView {
            title: "t",
            message: "m",
            hint: Some("h"),
            back: Some("/"),
            tone: "problem",
        };
        self.try_render("message.html", &message)?;
        Ok(())
    }
}

fn sample_form(rules: Vec<RuleDescription>) -> FormView {
    FormView {
        title: "Choose a new password",
        login: "jdoe".into(),
        action: "/reset/x".into(),
        needs_current: false,
        rules,
        advice: "A few unrelated words".into(),
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
        let pages = Pages::new().unwrap();
        let mut view = sample_form(vec![RuleDescription {
            rule: RuleId::Reused,
            text: "Not one of your last 5 passwords".into(),
            source: crate::policy::PWRESETD.into(),
        }]);
        view.login = "<script>alert(1)</script>".into();
        let page = pages.form(StatusCode::OK, FormKind::Link, &view);
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.html.contains("<script>"), "{}", page.html);
        assert!(page.html.contains("&lt;script&gt;"));
        assert!(page.html.contains("Not one of your last 5 passwords"));
        assert!(page.html.contains("<p class=\"hint\">A few unrelated words</p>"));
        assert!(page.html.contains("name=\"viewport\""));
        assert!(page.html.contains("href=\"/static/portal.css\""));
        assert!(!page.html.contains("style="), "inline styles are blocked by the CSP");
        assert!(!page.html.contains("current_password"));
        let failed = view.with_violations(&[Violation {
            rule: RuleId::Reused,
            message: "You have used this password before.".into(),
        }]);
        let html = pages
            .form(StatusCode::UNPROCESSABLE_ENTITY, FormKind::Change, &failed)
            .html;
        assert!(html.contains("You have used this password before."));
        assert!(html.contains("class=\"failed\""));
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("for=\"current_password\""));
        assert_eq!(pages.gone("tok").status, StatusCode::GONE);
        assert!(pages.gone("tok").html.contains("action=\"/resend\""));
    }
}
