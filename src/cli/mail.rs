//! `pwresetd mail test`: renders one template with sample values and sends it, to check the
//! `[mail]` settings, the templates and the way to the mail server end to end.

use std::process::ExitCode;

use chrono::Utc;

use super::{EX_UNAVAILABLE, EX_USAGE};
use crate::notify::{Destination, Kind, MailSettings, Mailer, Recipient, SendError, Templates, Vars, message};

#[derive(Debug, clap::Args)]
pub struct MailTestArgs {
    /// Where to send the sample mail.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Which mail to send.
    #[arg(long, value_enum, default_value_t = TemplateArg::Notice)]
    pub template: TemplateArg,
    /// Language, as an account's preferredLanguage would say it (e.g. fr or fr-CA); default:
    /// mail.default_language.
    #[arg(long)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TemplateArg {
    Notice,
    Reminder,
    Changed,
    Locked,
}

impl From<TemplateArg> for Kind {
    fn from(t: TemplateArg) -> Kind {
        match t {
            TemplateArg::Notice => Kind::Notice,
            TemplateArg::Reminder => Kind::Reminder,
            TemplateArg::Changed => Kind::Changed,
            TemplateArg::Locked => Kind::Locked,
        }
    }
}

/// Renders and sends the sample; prints the Message-ID and where the mail went. Exit codes: 0
/// sent, 1 refused by the server (5xx), 64 templates or address unusable, 69 server unreachable
/// or unusable (TLS, authentication).
pub async fn run_mail_test(args: MailTestArgs, settings: &MailSettings) -> anyhow::Result<ExitCode> {
    let templates = match Templates::load(settings) {
        Ok(t) => t,
        Err(e) => return Ok(fail(EX_USAGE, &e)),
    };
    let kind = Kind::from(args.template);
    let rendered = match templates.render(kind, args.language.as_deref(), &Vars::sample(Utc::now())) {
        Ok(r) => r,
        Err(e) => return Ok(fail(EX_USAGE, &e)),
    };
    let addresses = [args.to];
    let recipient = Recipient {
        display_name: "",
        addresses: &addresses,
    };
    let built = match message::build(&rendered, &recipient, settings) {
        Ok(b) => b,
        Err(e) => return Ok(fail(EX_USAGE, &format!("--to: {e}"))),
    };
    let mailer = match Mailer::new(settings) {
        Ok(m) => m,
        Err(e) => return Ok(fail(EX_USAGE, &e)),
    };
    println!(
        "{kind} mail in {}, subject {:?}, to {}",
        rendered.language, rendered.subject, built.to
    );
    let result = mailer.send(&built.message).await;
    mailer.shutdown().await;
    match result {
        Ok(delivery) => {
            println!("Message-ID: {}", delivery.message_id);
            match delivery.destination {
                Destination::Smtp { url, reply } => {
                    println!("accepted by {url} after {} attempt(s): {reply}", delivery.attempts);
                }
                Destination::File { path } => println!("written to {}", path.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ SendError::Permanent { .. }) => Ok(fail(1, &e)),
        Err(e) => Ok(fail(EX_UNAVAILABLE, &format!("{e} (via {})", mailer.describe()))),
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(code)
}
