//! The configuration stage of the preflight: the file, then each part [`Services::build`] loads,
//! in the order it loads them. A failure is reported with the very message `serve` stops with.

use std::path::Path;

use super::Check;
use crate::daemon::config::{Config, ConfigError};
use crate::daemon::services::{BuildError, Services};
use crate::directory::config::Transport;
use crate::notify::config::TransportSettings;
use crate::notify::{MailerError, TemplateError};
use crate::policy::PolicyLoadError;
use crate::store::StoreError;

/// The configuration file could not be loaded.
pub(super) fn config_failure(path: &Path, e: &ConfigError) -> Check {
    let fix = match e {
        ConfigError::Read { .. } => format!(
            "create {} (start from deploy/pwresetd.toml), or name the right file with --config",
            path.display()
        ),
        ConfigError::Invalid { key, .. } => format!(
            "correct {key} in {}; every key is documented in deploy/pwresetd.toml",
            path.display()
        ),
    };
    Check::fail("configuration", e.to_string(), fix)
}

/// A part of the service that [`Services::build`] loads, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Store,
    Directory,
    Templates,
    Mailer,
    Policy,
    Portal,
    Helpdesk,
}

impl Part {
    fn of(e: &BuildError) -> Part {
        match e {
            BuildError::Store(_) => Part::Store,
            BuildError::Directory(_) => Part::Directory,
            BuildError::Templates(_) => Part::Templates,
            BuildError::Mailer(_) => Part::Mailer,
            BuildError::Policy(_) => Part::Policy,
            BuildError::Portal(_) => Part::Portal,
            BuildError::Helpdesk(_) => Part::Helpdesk,
        }
    }

    /// The check's name: also the prefix [`BuildError`]'s message gives the part.
    fn name(self) -> &'static str {
        match self {
            Part::Store => "store",
            Part::Directory => "directory",
            Part::Templates => "mail templates",
            Part::Mailer => "mail transport",
            Part::Policy => "password policy",
            Part::Portal => "portal",
            Part::Helpdesk => "helpdesk",
        }
    }
}

/// What each part is, described from the configuration before it is loaded.
pub(super) struct Loaded {
    parts: Vec<(Part, String)>,
}

impl Loaded {
    pub fn of(config: &Config) -> Self {
        let d = &config.directory;
        let ca = d.ca_file.as_ref().map_or_else(
            || "the system's CA store".to_owned(),
            |p| format!("CA file {}", p.display()),
        );
        let directory = match d.transport {
            Transport::Plain => format!("{} in clear (directory.allow_insecure)", d.url),
            Transport::Ldaps | Transport::StartTls => format!("TLS settings for {} read ({ca})", d.url),
        };
        let templates = match &config.mail.templates_dir {
            Some(dir) => format!("built-in, with the overrides in {}: compiled", dir.display()),
            None => "built-in: compiled".to_owned(),
        };
        let transport = match &config.mail.transport {
            TransportSettings::Smtp(smtp) => format!("SMTP {} (the server is checked below)", smtp.url),
            TransportSettings::File { spool_dir } => format!("file: .eml files in {}", spool_dir.display()),
        };
        let p = &config.policy;
        let mut policy = "[policy] rules valid".to_owned();
        if let Some(list) = &p.denylist_file {
            policy.push_str(&format!("; word list {} read", list.display()));
        }
        if let Some(index) = &p.breached_index {
            policy.push_str(&format!("; breached-password index {} opened", index.display()));
        }
        let portal = match &config.portal.tls {
            Some((cert, key)) => format!("TLS certificate {} and key {} read", cert.display(), key.display()),
            None => format!("plain HTTP on {} (TLS at a reverse proxy)", config.portal.listen),
        };
        let helpdesk = match &config.helpdesk.api_tokens_file {
            Some(file) => format!("API tokens file {} read", file.display()),
            None => "no API tokens file (helpdesk.api_tokens_file): operators sign in".to_owned(),
        };
        let parts = vec![
            (Part::Store, format!("{}: opened", config.store.describe())),
            (Part::Directory, directory),
            (Part::Templates, templates),
            (Part::Mailer, transport),
            (Part::Policy, policy),
            (Part::Portal, portal),
            (Part::Helpdesk, helpdesk),
        ];
        Loaded { parts }
    }

    /// Every part loaded.
    pub fn all(self) -> Vec<Check> {
        self.parts
            .into_iter()
            .map(|(part, message)| Check::ok(part.name(), message))
            .collect()
    }

    /// The parts loaded before `e`, then the one that failed.
    pub fn until_failure(self, e: &BuildError) -> Vec<Check> {
        let failed = Part::of(e);
        let mut checks: Vec<Check> = self
            .parts
            .into_iter()
            .take_while(|(part, _)| *part != failed)
            .map(|(part, message)| Check::ok(part.name(), message))
            .collect();
        let full = e.to_string();
        let prefix = format!("{}: ", failed.name());
        let message = full.strip_prefix(&prefix).unwrap_or(&full).to_owned();
        checks.push(Check::fail(failed.name(), message, fix(e)));
        checks
    }
}

/// What to do about a part that did not load.
fn fix(e: &BuildError) -> String {
    let fix = match e {
        BuildError::Store(StoreError::TooNew { .. }) => "run the newer pwresetd that wrote this store",
        BuildError::Store(_) => "make the folder of store.path exist and writable by the service user",
        BuildError::Directory(_) => "make directory.ca_file a readable PEM file holding the directory's CA",
        BuildError::Templates(TemplateError::Override { .. }) => {
            "rename or remove that file in mail.templates_dir (see templates/README.md for the names)"
        }
        BuildError::Templates(TemplateError::DefaultLanguage { .. }) => {
            "add the templates for that language, or set mail.default_language to one listed"
        }
        BuildError::Templates(_) => {
            "correct the template at the file and line named, or remove it to use the built-in one"
        }
        BuildError::Mailer(MailerError::SpoolDir { .. }) => {
            "create mail.spool_dir writable by the service user, or point it at a folder that is"
        }
        BuildError::Mailer(_) => "make mail.ca_file a readable PEM file holding the mail server's CA",
        BuildError::Policy(PolicyLoadError::Config(_)) => "correct the [policy] key named",
        BuildError::Policy(PolicyLoadError::Denylist(_)) => {
            "put the word list there (one word a line), or correct policy.denylist_file"
        }
        BuildError::Policy(PolicyLoadError::BreachIndex(_)) => {
            "build the index with `pwresetd breach-index build`, or correct policy.breached_index"
        }
        BuildError::Portal(_) => {
            "make portal.tls_cert and portal.tls_key readable PEM files (the key readable by the service user only)"
        }
        BuildError::Helpdesk(_) => {
            "correct helpdesk.api_tokens_file (lines come from `pwresetd helpdesk token create`), or remove the key"
        }
    };
    fix.to_owned()
}

/// The store's schema: [`crate::store::Store::open`] brought it up to date, or refused a newer one.
pub(super) async fn store_schema(services: &Services) -> Check {
    let version = services.store.run(|s| s.schema_version()).await;
    match version {
        Ok((found, known)) if found == known => Check::ok("store schema", format!("version {found}, current")),
        Ok((found, known)) => Check::fail(
            "store schema",
            format!("version {found}, this pwresetd writes {known}"),
            "open the store with the pwresetd that matches it",
        ),
        Err(e) => Check::fail(
            "store schema",
            e.to_string(),
            "check that store.path is a pwresetd store (SQLite)",
        ),
    }
}
