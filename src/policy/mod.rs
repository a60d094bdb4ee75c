//! Password policy engine (issue 3): decides whether a new password may be written to the
//! directory, and says why not in words a person on a phone understands.
//!
//! Pure core: no network, no directory, no store, no async. The only I/O is reading the files
//! named in the config when the policy is loaded (denylist, breached-password index), `pread`s
//! of that index during a check, and 16 bytes of `/dev/urandom` for a history salt.
//!
//! # API
//! ```text
//! PolicyConfig            the [policy] section (serde, defaults = NIST SP 800-63B-4 aligned)
//!   .validate() -> Result<(), PolicyConfigError>       errors name the key
//! Policy::load(&PolicyConfig) -> Result<Policy, PolicyLoadError>   validates, reads the
//!                                                      denylist, opens the breach index
//! Policy::check(&self, &CheckInput) -> Result<Verdict, CheckError> every violation at once;
//!                                                      Err only when a check could not run
//! Policy::rules(&self) -> Vec<RuleDescription>         the rules in force, for a form
//! CheckInput { password: &Password, current: Option<&Password>, history: &[String], subject: &Subject }
//! Verdict { is_accepted(), violations() -> &[Violation { rule: RuleId, message }] }
//! hash_for_history(&Password) -> Result<String, HistoryError>   argon2id PHC for the store
//! breach::{build, build_with, BreachIndex::open, BreachIndex::lookup, sha1}
//! ```
//!
//! # Comparisons
//! Everything is NFKC-normalised first ([`normalise`]). Length counts code points. History and
//! current-password comparisons are exact after NFKC (case matters). The denylist ignores case.
//! The personal-data rule also ignores accents and separators (see [`personal`]). The breach
//! lookup hashes the NFKC form and, when the typed text differs from it, the typed text too:
//! the breach corpus holds what people typed, unnormalised.
//!
//! # Secrets
//! Passwords travel as [`Password`], whose `Debug` prints `[redacted]`. Messages, errors and
//! `Debug` output never contain a password; they may contain a breach count and config values.

pub mod breach;
mod checks;
mod config;
mod denylist;
mod history;
mod personal;
mod rules;
mod secret;

use unicode_normalization::UnicodeNormalization;

pub use breach::{BreachIndex, IndexError};
pub use config::{MAX_HISTORY, PolicyConfig, PolicyConfigError};
pub use denylist::{Denylist, DenylistError};
pub use history::{HISTORY_PARAMS, HistoryError, hash_for_history};
pub use personal::Subject;
pub use rules::{PersonalField, RuleDescription, RuleId, Verdict, Violation};
pub use secret::Password;

use rules::{message, text};

/// The one normalisation applied before every comparison and hash: NFKC.
pub fn normalise(text: &str) -> String {
    text.nfkc().collect()
}

/// What a check looks at. `Debug` shows neither password nor history hashes.
#[derive(Clone, Copy)]
pub struct CheckInput<'a> {
    /// The proposed new password.
    pub password: &'a Password,
    /// The current password, when the caller knows it (e.g. the user typed it to log in).
    pub current: Option<&'a Password>,
    /// The account's previous passwords as argon2id PHC strings, most recent first.
    pub history: &'a [String],
    /// The account's personal data.
    pub subject: &'a Subject,
}

impl std::fmt::Debug for CheckInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // PHC strings are offline-crackable: show how many, not what.
        f.debug_struct("CheckInput")
            .field("password", self.password)
            .field("current", &self.current)
            .field("history", &format_args!("[{} hashes]", self.history.len()))
            .field("subject", self.subject)
            .finish()
    }
}

/// The policy could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error(transparent)]
    Config(#[from] PolicyConfigError),
    #[error(transparent)]
    Denylist(#[from] DenylistError),
    #[error(transparent)]
    BreachIndex(#[from] IndexError),
}

/// A check could not be completed. Callers must treat this as "refused, try again later": it is
/// never a reason to accept a password.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    BreachIndex(#[from] IndexError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// A loaded policy: config plus the denylist and breach index it names. Build once, share.
#[derive(Debug)]
pub struct Policy {
    config: PolicyConfig,
    denylist: Option<Denylist>,
    breach: Option<BreachIndex>,
}

impl Policy {
    /// Validates `config`, reads the denylist and opens the breach index.
    pub fn load(config: &PolicyConfig) -> Result<Self, PolicyLoadError> {
        config.validate()?;
        let denylist = config.denylist_file.as_deref().map(Denylist::load).transpose()?;
        if let (Some(list), Some(path)) = (&denylist, &config.denylist_file) {
            if list.skipped_non_utf8() > 0 {
                tracing::warn!(
                    file = %path.display(),
                    skipped = list.skipped_non_utf8(),
                    "denylist lines that are not UTF-8 were skipped"
                );
            }
        }
        let breach = config.breached_index.as_deref().map(BreachIndex::open).transpose()?;
        Ok(Self::from_parts(config.clone(), denylist, breach))
    }

    /// Assembles a policy from already loaded parts (tests, benchmarks). Does not validate.
    pub fn from_parts(config: PolicyConfig, denylist: Option<Denylist>, breach: Option<BreachIndex>) -> Self {
        Self {
            config,
            denylist,
            breach,
        }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Checks every rule in force and returns every violation, in [`Policy::rules`] order.
    pub fn check(&self, input: &CheckInput<'_>) -> Result<Verdict, CheckError> {
        let cfg = &self.config;
        let typed = input.password.expose();
        let pw = zeroize::Zeroizing::new(normalise(typed));
        let mut out = Vec::new();
        let mut refuse = |rule, message| out.push(Violation { rule, message });

        let length = checks::length(&pw);
        if length < cfg.min_length as usize {
            refuse(RuleId::TooShort, message::too_short(cfg.min_length));
        }
        if length > cfg.max_length as usize {
            refuse(RuleId::TooLong, message::too_long(cfg.max_length));
        }
        if cfg.min_strength > 0 {
            let inputs = input.subject.strength_inputs(&cfg.context_words);
            let (score, hint) = checks::strength(&pw, &inputs);
            if score < cfg.min_strength {
                refuse(RuleId::TooWeak, message::too_weak(hint));
            }
        }
        if cfg.forbid_personal_data {
            let fields = personal::personal_data_in(&pw, input.subject);
            if !fields.is_empty() {
                refuse(RuleId::ContainsPersonalData, message::contains_personal_data(&fields));
            }
        }
        if self.denylist.as_ref().is_some_and(|d| d.contains(&pw)) {
            refuse(RuleId::Denylisted, message::denylisted());
        }
        if let Some(count) = self.breach_count(typed, &pw)? {
            refuse(RuleId::Breached, message::breached(count));
        }
        if cfg.history > 0 && history::is_reused(&pw, input.history, cfg.history as usize)? {
            refuse(RuleId::Reused, message::reused());
        }
        if cfg.differs_from_current
            && input.current.is_some_and(|c| {
                let current = zeroize::Zeroizing::new(normalise(c.expose()));
                secret::constant_time_eq(current.as_bytes(), pw.as_bytes())
            })
        {
            refuse(RuleId::SameAsCurrent, message::same_as_current());
        }
        self.check_optional(&pw, &mut refuse);
        Ok(Verdict::new(out))
    }

    /// The off-by-default composition rules.
    fn check_optional(&self, pw: &str, refuse: &mut impl FnMut(RuleId, String)) {
        let cfg = &self.config;
        if let Some(min) = cfg.min_character_classes.filter(|m| checks::character_classes(pw) < *m) {
            refuse(RuleId::TooFewCharacterClasses, message::too_few_character_classes(min));
        }
        if let Some(max) = cfg
            .max_repeated_characters
            .filter(|m| checks::longest_run(pw) > *m as usize)
        {
            refuse(
                RuleId::TooManyRepeatedCharacters,
                message::too_many_repeated_characters(max),
            );
        }
        if let Some(min) = cfg
            .min_unique_characters
            .filter(|m| checks::unique_characters(pw) < *m as usize)
        {
            refuse(RuleId::TooFewUniqueCharacters, message::too_few_unique_characters(min));
        }
    }

    /// The highest breach count of the normalised and (if different) typed text, when at
    /// least `breached_min_count`.
    fn breach_count(&self, typed: &str, normalised: &str) -> Result<Option<u32>, IndexError> {
        let Some(index) = &self.breach else { return Ok(None) };
        let mut count = index.lookup(&breach::sha1(normalised))?;
        if typed != normalised {
            count = count.max(index.lookup(&breach::sha1(typed))?);
        }
        Ok(count.filter(|c| *c >= self.config.breached_min_count))
    }

    /// The rules in force, in check order, with the text a form shows before the user types.
    pub fn rules(&self) -> Vec<RuleDescription> {
        let cfg = &self.config;
        let optional = [
            (cfg.min_strength > 0).then(|| (RuleId::TooWeak, text::min_strength(cfg.min_strength))),
            cfg.forbid_personal_data
                .then(|| (RuleId::ContainsPersonalData, text::personal_data())),
            self.denylist.is_some().then(|| (RuleId::Denylisted, text::denylist())),
            self.breach.is_some().then(|| (RuleId::Breached, text::breached())),
            (cfg.history > 0).then(|| (RuleId::Reused, text::history(cfg.history))),
            cfg.differs_from_current
                .then(|| (RuleId::SameAsCurrent, text::current())),
            cfg.min_character_classes
                .map(|n| (RuleId::TooFewCharacterClasses, text::character_classes(n))),
            cfg.max_repeated_characters
                .map(|n| (RuleId::TooManyRepeatedCharacters, text::repeated(n))),
            cfg.min_unique_characters
                .map(|n| (RuleId::TooFewUniqueCharacters, text::unique(n))),
        ];
        [
            Some((RuleId::TooShort, text::min_length(cfg.min_length))),
            Some((RuleId::TooLong, text::max_length(cfg.max_length))),
        ]
        .into_iter()
        .chain(optional)
        .flatten()
        .map(|(rule, text)| RuleDescription { rule, text })
        .collect()
    }
}

#[cfg(test)]
mod tests;
