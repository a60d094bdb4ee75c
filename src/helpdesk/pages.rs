//! The helpdesk's HTML pages: the templates under `templates/helpdesk/` (compiled into the
//! binary, auto-escaped), rendered into [`crate::web::pages`]' response. Dense by design: an
//! operator on the phone needs everything about an account on one screen.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use minijinja::UndefinedBehavior;
use serde::Serialize;

use crate::web::pages::{Page, TemplateError, Templates};

const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("../../templates/helpdesk/base.html")),
    ("login.html", include_str!("../../templates/helpdesk/login.html")),
    ("home.html", include_str!("../../templates/helpdesk/home.html")),
    ("account.html", include_str!("../../templates/helpdesk/account.html")),
    ("campaign.html", include_str!("../../templates/helpdesk/campaign.html")),
    ("list.html", include_str!("../../templates/helpdesk/list.html")),
    ("message.html", include_str!("../../templates/helpdesk/message.html")),
    ("mails.html", include_str!("../../templates/helpdesk/mails.html")),
];

/// The style sheet, served at `/helpdesk/static/helpdesk.css`.
pub const CSS: &str = include_str!("../../templates/helpdesk/helpdesk.css");

/// What every page's frame shows: who is signed in, and the CSRF field for the sign-out form.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub operator: Option<String>,
    pub csrf: String,
    pub flash: Option<String>,
}

#[derive(Debug)]
pub struct Pages {
    templates: Templates,
}

/// `2026-12-04T17:00:00.000Z` → `2026-12-04 17:00 UTC`; anything else unchanged.
fn when(value: String) -> String {
    DateTime::parse_from_rfc3339(&value)
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or(value)
}

/// A value as one URL path segment (everything but unreserved characters percent-encoded).
fn seg(value: String) -> String {
    super::client::segment(&value)
}

/// The value for a `datetime-local` input (UTC).
fn local_input(value: String) -> String {
    DateTime::parse_from_rfc3339(&value)
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

const BROKEN: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
<body><h1>Something went wrong</h1><p>The page could not be shown; the error is in the service's log.</p></body></html>";

impl Pages {
    pub fn new() -> Result<Pages, TemplateError> {
        let mut templates = Templates::new("helpdesk", &TEMPLATES, UndefinedBehavior::Chainable, BROKEN)?;
        let env = templates.env();
        env.add_filter("when", when);
        env.add_filter("local_input", local_input);
        env.add_filter("seg", seg);
        Ok(Pages { templates })
    }

    /// Renders `name` with `frame` and the page's own values under `page`.
    pub fn render<S: Serialize>(&self, status: StatusCode, name: &str, title: &str, frame: &Frame, page: S) -> Page {
        let context = minijinja::context! { title => title, frame => frame, page => page };
        self.templates.page(status, name, context)
    }

    /// A page with one message.
    pub fn message(&self, status: StatusCode, title: &str, frame: &Frame, message: &str) -> Page {
        self.render(
            status,
            "message.html",
            title,
            frame,
            minijinja::context! { message => message },
        )
    }

    /// The page of somebody whose own password must change before they use the helpdesk: the
    /// reason and the way to the portal.
    pub fn must_change(&self, frame: &Frame, message: &str, portal: &url::Url) -> Page {
        self.render(
            StatusCode::FORBIDDEN,
            "message.html",
            "Change your password first",
            frame,
            minijinja::context! { message => message, link => portal.as_str(), link_text => "Change your password on the password portal" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::state::{AccountState, CampaignState};
    use crate::helpdesk::view::{AccountView, CampaignView, HistoryItem, LockView};

    fn frame() -> Frame {
        Frame {
            operator: Some("op<1>".into()),
            csrf: "CSRF".into(),
            flash: Some("Exempted <b>".into()),
        }
    }

    #[test]
    fn pages_render_and_escape() {
        let pages = Pages::new().unwrap();
        let now = Utc::now();
        let view = AccountView {
            login: "j<doe>".into(),
            directory: None,
            directory_error: Some("directory down".into()),
            campaigns: vec![CampaignView {
                campaign: "inc/1".into(),
                campaign_state: CampaignState::Active,
                campaign_reason: "Intrusion".into(),
                state: AccountState::Marked,
                prior_flagged: false,
                deadline: now,
                deadline_extended: true,
                marked_at: Some(now),
                completed_at: None,
                completed_via: None,
                last_error: None,
                excluded_reason: None,
                updated_at: now,
                live_link_expires_at: Some(now),
                mails: vec![],
                history: vec![HistoryItem {
                    at: now,
                    what: "marked".into(),
                    detail: None,
                    actor: None,
                }],
                lock: Some(LockView {
                    state: crate::store::LockState::Locked,
                    set_by: "campaign_deadline",
                    action: crate::campaign::deadline::AtDeadline::Lock,
                    locked_at: Some(now),
                    locked_by: Some("deadline".into()),
                    unlocked_at: None,
                    unlocked_by: None,
                }),
                actions: vec!["resend", "exempt", "extend", "mark", "unlock"],
            }],
            audit: vec![],
        };
        let page = pages.render(StatusCode::OK, "account.html", "Account", &frame(), &view);
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let html = page.html;
        assert!(html.contains("j&lt;doe&gt;") && !html.contains("j<doe>"));
        assert!(html.contains("Exempted &lt;b&gt;"));
        assert!(html.contains("/helpdesk/accounts/j%3Cdoe%3E/act"), "{html}");
        assert!(html.contains("name=\"csrf\" value=\"CSRF\""));
        assert!(
            html.contains("LOCKED") && html.contains("by the campaign's deadline"),
            "{html}"
        );
        assert!(html.contains("value=\"unlock\"") && html.contains("Unlock and send a new link"));
        assert!(!html.contains("style="), "inline styles are blocked by the CSP");
        assert!(!html.contains("<script"));
        let msg = pages.message(StatusCode::FORBIDDEN, "No", &frame(), "not <allowed>");
        assert!(msg.html.contains("not &lt;allowed&gt;"));
        let portal = url::Url::parse("https://pw.example.org/").unwrap();
        let first = pages.must_change(&frame(), "flagged", &portal);
        assert_eq!(first.status, StatusCode::FORBIDDEN);
        // minijinja escapes the slashes; the browser reads the same address.
        let href = "href=\"https:&#x2f;&#x2f;pw.example.org&#x2f;\"";
        assert!(first.html.contains(href), "{}", first.html);
        let login = pages.render(
            StatusCode::OK,
            "login.html",
            "Sign in",
            &Frame {
                operator: None,
                csrf: "C".into(),
                flash: None,
            },
            minijinja::context! { error => "Wrong", login => "x" },
        );
        assert!(login.html.contains("type=\"password\"") && login.html.contains("Wrong"));
        assert_eq!(when("2026-12-04T17:00:00.000Z".into()), "2026-12-04 17:00 UTC");
        assert_eq!(local_input("2026-12-04T17:00:00Z".into()), "2026-12-04T17:00");
    }
}
