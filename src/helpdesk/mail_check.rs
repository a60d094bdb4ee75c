//! "Is this mail ours?": after an intrusion, lookalike phishing mails follow the real ones. An
//! operator pastes what the caller reads out or forwards — the Message-ID, the link, or the
//! reference code from the mail's footer — and learns whether pwresetd sent it, to whom, when,
//! which kind, and whether its link still opens the portal.
//!
//! For anything pwresetd did not send, one neutral answer: the same shape and message whatever
//! was pasted, and the same path to it (every kind of label is looked up in one store query, a
//! miss as a hit), so nothing tells a near miss from nonsense. A pasted link is looked up by its
//! token's SHA-256, never kept; the audit record names the operator and the answer, not the text.
//! Lookups count against a per-operator limit ([`LOOKUPS`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::HelpdeskState;
use super::auth::Operator;
use super::error::ApiError;
use crate::store::{LinkState, MailState, SentMail};
use crate::token;
use crate::web::limits::RateLimit;

/// Longest text accepted (a Message-ID header line or a link, with room to spare).
pub const MAX_TEXT: usize = 2000;

/// Lookups per operator: 60 at once, refilled over 10 minutes (a helpdesk checks mails one
/// caller at a time; a script walking the code space is stopped long before it gets anywhere).
pub const LOOKUPS: RateLimit = RateLimit {
    per_address: 600,
    per_account: 60,
    window: std::time::Duration::from_secs(600),
};

/// The neutral answer for anything pwresetd did not send.
pub const NOT_OURS: &str = "pwresetd has no record of sending this. Treat the mail as suspicious: \
     the person should not click its link nor answer it, and should forward it to the security team.";

/// The answer to one lookup.
#[derive(Debug, Clone, Serialize)]
pub struct MailCheck {
    pub ours: bool,
    pub message: String,
    /// What pwresetd sent; `None` when `ours` is false.
    pub mail: Option<MailAnswer>,
}

/// One mail pwresetd sent, as the helpdesk shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MailAnswer {
    pub campaign: String,
    pub login: Option<String>,
    pub recipient: Option<String>,
    /// `notice`, `reminder`, `resend`, `requested`, `changed`, …
    pub kind: String,
    pub step: u32,
    pub state: MailState,
    pub sent_at: DateTime<Utc>,
    /// As printed in the footer: `7K3M-Q9TX-2HDP`.
    pub reference: String,
    pub message_id: String,
    /// `live`, `used`, `revoked`, `expired`, or `none` (no link in that mail).
    pub link: LinkState,
    pub link_expires_at: Option<DateTime<Utc>>,
}

impl From<SentMail> for MailAnswer {
    fn from(m: SentMail) -> Self {
        MailAnswer {
            campaign: m.campaign,
            login: m.login,
            recipient: m.recipient,
            kind: m.kind,
            step: m.step,
            state: m.state,
            sent_at: m.sent_at,
            reference: token::show_reference(&m.reference),
            message_id: m.message_id,
            link: m.link,
            link_expires_at: m.link_expires_at,
        }
    }
}

/// What a pasted text can be, each as the store keeps it: a Message-ID (`<…@…>`, with or
/// without its header name and brackets), a reference code, a link's token hash.
#[derive(Debug, Default, PartialEq, Eq)]
struct Keys {
    message_id: Option<String>,
    reference: Option<String>,
    token_hash: Option<String>,
}

fn keys(text: &str) -> Keys {
    let t = text.trim();
    let bare = match t.get(..11) {
        Some(head) if head.eq_ignore_ascii_case("message-id:") => t[11..].trim(),
        _ => t,
    };
    let inner = bare.trim_start_matches('<').trim_end_matches('>');
    let message_id = (inner.contains('@') && !inner.chars().any(|c| c.is_whitespace() || c == '<' || c == '>'))
        .then(|| format!("<{inner}>"));
    Keys {
        message_id,
        reference: token::parse_reference(t),
        token_hash: token::token_in(t).map(token::hash),
    }
}

/// Answers whether pwresetd sent the mail `text` identifies; audited, rate-limited per operator.
pub async fn check(state: &HelpdeskState, operator: &Operator, text: &str) -> Result<MailCheck, ApiError> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_request(
            "invalid_text",
            format!("paste the mail's Message-ID, its link or its reference code (at most {MAX_TEXT} characters)"),
        ));
    }
    if let Err(l) = state.lookups().account(&operator.actor()).await {
        if l.first {
            let detail = "mail lookups: rate limit reached".to_owned();
            state
                .audit(operator.actor(), "helpdesk.mail_check_limited", None, detail)
                .await;
        }
        let mut e = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many mail lookups; wait a few minutes and try again",
        );
        e.retry_after = Some(l.retry_after.as_secs().max(1));
        return Err(e);
    }
    let k = keys(text);
    let found = state
        .store()
        .run(move |s| {
            s.find_mail(
                k.message_id.as_deref(),
                k.reference.as_deref(),
                k.token_hash.as_deref(),
                Utc::now(),
            )
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    let answer = match found {
        Some(m) => MailCheck {
            ours: true,
            message: format!(
                "pwresetd sent this mail ({} mail of campaign {}) to {}.",
                m.kind,
                m.campaign,
                m.recipient.as_deref().unwrap_or("-")
            ),
            mail: Some(m.into()),
        },
        None => MailCheck {
            ours: false,
            message: NOT_OURS.to_owned(),
            mail: None,
        },
    };
    let (account, detail) = match &answer.mail {
        Some(m) => (
            m.login.clone(),
            format!(
                "ours: {} mail {} to {}",
                m.kind,
                m.reference,
                m.recipient.as_deref().unwrap_or("-")
            ),
        ),
        None => (None, "not ours".to_owned()),
    };
    state
        .audit(operator.actor(), "helpdesk.mail_check", account, detail)
        .await;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_text_gives_the_keys_the_store_keeps() {
        let id = "<pwresetd.0123@example.org>";
        for pasted in [
            id,
            "pwresetd.0123@example.org",
            "Message-ID: <pwresetd.0123@example.org>",
            "  message-id:<pwresetd.0123@example.org> ",
        ] {
            assert_eq!(keys(pasted).message_id.as_deref(), Some(id), "{pasted}");
        }
        assert_eq!(keys("7k3m-q9tx-2hdp").reference.as_deref(), Some("7K3MQ9TX2HDP"));
        let t = token::issue().unwrap();
        let link = format!("https://pw.example.org/reset/{}", t.token.expose());
        let k = keys(&link);
        assert_eq!(k.token_hash.as_deref(), Some(t.hash.as_str()));
        assert_eq!((k.message_id, k.reference), (None, None));
        assert_eq!(keys("hello there"), Keys::default());
        assert_eq!(keys("a b@c").message_id, None);
    }
}
