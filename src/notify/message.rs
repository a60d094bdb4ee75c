//! Builds the MIME message for one rendered mail and one recipient: headers, Message-ID,
//! multipart/alternative text + HTML.
//!
//! An account may have several `mail` values; the mail goes to the **first valid one** only
//! (see [`choose_address`]). The Message-ID is `<pwresetd.RANDOM@DOMAIN-OF-FROM>`. Must not send
//! anything: [`super::Mailer`] does.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, message::header::ContentType};
use rand::Rng;

use super::config::MailSettings;
use super::templates::Rendered;

/// The account a mail is for, as the directory describes it.
#[derive(Clone, Debug)]
pub struct Recipient<'a> {
    /// Display name (may be empty or non-ASCII: it is RFC 2047-encoded).
    pub display_name: &'a str,
    /// Every value of the account's mail attribute, in the directory's order.
    pub addresses: &'a [String],
}

/// A message ready for [`super::Mailer::send`].
#[derive(Clone, Debug)]
pub struct Built {
    pub message: Message,
    /// `<…@…>`, exactly as in the header; callers store it to trace the mail later.
    pub message_id: String,
    /// The address the mail goes to (the chosen one of [`Recipient::addresses`]).
    pub to: Address,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the account has no mail address")]
    NoAddress,
    #[error("none of the account's mail values is a valid address: {values}")]
    InvalidAddresses { values: String },
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// Picks the address a mail goes to: the first value that parses as an address.
///
/// Why only one: the mail carries a one-time reset link, and every extra mailbox (aliases,
/// forwarding to private or shared boxes, old addresses kept for delivery) widens who can use
/// it; the first value of `mail` is the primary mailbox by convention. Malformed values are
/// skipped so that one bad value does not silence the mail.
pub fn choose_address(addresses: &[String]) -> Result<Address, MessageError> {
    if addresses.iter().all(|a| a.trim().is_empty()) {
        return Err(MessageError::NoAddress);
    }
    addresses
        .iter()
        .find_map(|a| a.trim().parse::<Address>().ok())
        .ok_or_else(|| MessageError::InvalidAddresses {
            values: addresses.join(", "),
        })
}

/// Builds the message: From/Reply-To from the settings, To = display name + chosen address,
/// Subject, Date, Message-ID, `Auto-Submitted: auto-generated`, `X-Auto-Response-Suppress: All`,
/// `Content-Language`, and a multipart/alternative body (text/plain then text/html, UTF-8).
pub fn build(rendered: &Rendered, recipient: &Recipient<'_>, settings: &MailSettings) -> Result<Built, MessageError> {
    let to = choose_address(recipient.addresses)?;
    let name = clean_display_name(recipient.display_name);
    let message_id = new_message_id(settings.from.email.domain());
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .to(Mailbox::new(name, to.clone()))
        .subject(rendered.subject.as_str())
        .message_id(Some(message_id.clone()))
        .date_now()
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .raw_header(raw("Content-Language", &rendered.language));
    if let Some(reply_to) = &settings.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let body = MultiPart::alternative()
        .singlepart(
            lettre::message::SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(rendered.text.clone()),
        )
        .singlepart(
            lettre::message::SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(rendered.html.clone()),
        );
    let message = builder
        .multipart(body)
        .map_err(|e| MessageError::Build(e.to_string()))?;
    Ok(Built {
        message,
        message_id,
        to,
    })
}

/// `<pwresetd.<32 hex digits>@domain>`: 128 random bits, so unique without coordination; the
/// domain of From because that is the domain we speak for (the host name may be internal).
pub fn new_message_id(domain: &str) -> String {
    let random: u128 = rand::rng().random();
    format!("<pwresetd.{random:032x}@{domain}>")
}

/// The Message-ID of a message built by [`build`] (or any message that has one).
pub fn message_id_of(message: &Message) -> Option<String> {
    message.headers().get_raw("Message-ID").map(|v| v.trim().to_owned())
}

fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// Directory values may hold control characters (a stray newline): keep printable text only.
fn clean_display_name(name: &str) -> Option<String> {
    let cleaned = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_valid_address_wins() {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let pick = |v: &[&str]| choose_address(&s(v)).map(|a| a.to_string()).map_err(|e| e.to_string());
        assert_eq!(pick(&["a@example.org", "b@example.org"]), Ok("a@example.org".into()));
        assert_eq!(pick(&[" not an address", "b@example.org"]), Ok("b@example.org".into()));
        assert_eq!(pick(&[]), Err("the account has no mail address".into()));
        assert_eq!(pick(&[" "]), Err("the account has no mail address".into()));
        assert_eq!(
            pick(&["nope", "also nope"]),
            Err("none of the account's mail values is a valid address: nope, also nope".into())
        );
    }

    #[test]
    fn message_ids_are_unique_and_well_formed() {
        let a = new_message_id("example.org");
        let b = new_message_id("example.org");
        assert_ne!(a, b);
        assert!(a.starts_with("<pwresetd.") && a.ends_with("@example.org>"), "{a}");
        assert_eq!(a.len(), "<pwresetd.@example.org>".len() + 32);
    }

    #[test]
    fn display_names_lose_control_characters() {
        assert_eq!(clean_display_name("Zoë\r\nÅngström\t"), Some("Zoë Ångström".into()));
        assert_eq!(clean_display_name(" \n"), None);
    }
}
