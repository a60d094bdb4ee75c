//! Mail: the `[mail]` settings, template rendering, MIME building and delivery.
//!
//! The pipeline for one mail is `Templates::render` (kind, language, [`Vars`]) → [`Rendered`] →
//! [`message::build`] (recipient, headers, Message-ID) → [`Built`] → [`Mailer::send`] →
//! [`Delivery`] or [`SendError`]. Who is due for which mail, tokens and the store are not here:
//! callers decide, this module renders and sends. [`health`] tells whether the mail server
//! answers; [`pass`] sends a campaign's due mails and stops when the server is down. Must not
//! log message bodies (one-time links).

pub mod config;
mod dates;
mod deliver;
pub mod health;
pub mod message;
pub mod pass;
mod pass_state;
mod slot;
mod smtp;
pub mod spool;
pub mod templates;
pub mod transport;

pub use config::{MailConfig, MailConfigError, MailSettings};
pub use health::{HealthSnapshot, ServerHealth};
pub use message::{Built, MessageError, Recipient};
pub use templates::{Kind, Rendered, TemplateError, Templates, Vars, language_candidates};
pub use transport::{Delivery, Destination, Mailer, MailerError, ProbeError, SendError};
