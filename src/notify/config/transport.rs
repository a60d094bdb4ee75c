//! Which transport the `[mail]` section chooses: [`TransportSettings::File`] (`.eml` files in
//! `mail.spool_dir`) or [`TransportSettings::Smtp`] (see `smtp.rs`), and the rule that a set
//! `smtp_url` with the default `file` transport is a mistake, not a silent spool.
//!
//! Must not create the spool directory nor connect: [`crate::notify::Mailer::new`] does.

use std::path::{Path, PathBuf};

use super::{MailConfig, MailConfigError, SmtpSettings};
use crate::config::resolve;

/// Where messages go.
#[derive(Clone, Debug)]
pub enum TransportSettings {
    /// Each message is written to `spool_dir` as an `.eml` file (demos, tests, dry runs).
    File {
        spool_dir: PathBuf,
    },
    Smtp(SmtpSettings),
}

impl MailConfig {
    /// The transport named by `mail.transport`, with its settings checked.
    pub(super) fn transport_settings(
        &self,
        base_dir: &Path,
        credentials_dir: Option<&Path>,
    ) -> Result<TransportSettings, MailConfigError> {
        let transport = match self.transport.as_str() {
            "file" if self.smtp_url.is_some() => {
                return Err(MailConfigError::new(
                    "transport",
                    "is \"file\" (the default) but mail.smtp_url is set; set mail.transport = \"smtp\" \
                     to send through that server, or remove mail.smtp_url to write .eml files",
                ));
            }
            "file" => TransportSettings::File {
                spool_dir: resolve(base_dir, &self.spool_dir),
            },
            "smtp" => TransportSettings::Smtp(self.smtp(base_dir, credentials_dir)?),
            other => {
                return Err(MailConfigError::new(
                    "transport",
                    format!(
                        "unknown transport {other:?}; use \"smtp\" (a mail server) or \"file\" (.eml files in mail.spool_dir)"
                    ),
                ));
            }
        };
        Ok(transport)
    }
}
