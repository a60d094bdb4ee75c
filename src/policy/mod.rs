//! Password policy engine (issue 3): decides whether a new password may be written to the
//! directory, and says why not as data ([`Reason`], [`Requirement`], [`Advice`]: an id and its
//! values) that the portal puts in the person's language and the CLI in English.
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
//! Policy::check_with_entry(&self, &CheckInput, Option<&str>)      same, reusing the caller's
//!                                                      history hash of the candidate
//! Policy::rules(&self) -> Vec<RuleDescription { rule, requirement: Requirement, source }>
//!                                                      the rules in force, for a form
//! Policy::effective(&self, Option<&DirectoryRules>) -> Effective   [policy] with the
//!                                                      directory's rules as a floor:
//!   .check(&CheckInput) .rules() .history() .advice() -> Advice .report(say)   (see [`effective`])
//! DirectoryRules { source, min_length, categories, names, history, min_age_secs, unchecked }
//!                                                      filled by the directory flavour
//! CheckInput { password: &Password, current: Option<&Password>, history: &[String], subject: &Subject }
//! Verdict { is_accepted(), violations() -> &[Violation { rule: RuleId, reason: Reason }] }
//! hash_for_history(&Password, history: &[String]) -> Result<String, HistoryError>   argon2id PHC for the store
//! matches_hash(&Password, phc: &str) -> Result<bool, HistoryError>                    one stored hash checked
//! breach::{build, build_with, BreachIndex::open, BreachIndex::lookup, sha1}
//! ```
//!
//! # Comparisons
//! `[policy]`'s rules see the NFKC-normalised text ([`normalise`]); the directory's rules see
//! the password as typed, which is what the directory receives (see [`directory`]).
//! For `[policy]`, everything is NFKC-normalised first. Length counts code points. History and
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
mod directory;
mod effective;
mod history;
mod personal;
mod rules;
mod secret;

use unicode_normalization::UnicodeNormalization;

pub use breach::{BreachIndex, IndexError};
pub use config::{MAX_HISTORY, PolicyConfig, PolicyConfigError};
pub use denylist::{Denylist, DenylistError};
pub use directory::{Categories, CategoryScheme, DirectoryRules, NameRule};
pub use effective::Effective;
pub use history::{HISTORY_PARAMS, HistoryError, hash_for_history, matches_hash};
pub use personal::{PersonalField, Subject};
pub use rules::{
    Advice, PWRESETD, Reason, Requirement, RuleDescription, RuleId, Strength, StrengthSuggestion, StrengthWarning,
    Verdict, Violation,
};
pub use secret::Password;

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

    /// This policy with the directory's rules (when known) as a floor: what the portal applies.
    pub fn effective<'a>(&'a self, directory: Option<&'a DirectoryRules>) -> Effective<'a> {
        Effective::new(self, directory)
    }

    /// Checks every rule of `[policy]` alone and returns every violation, in [`Policy::rules`]
    /// order. With the directory's rules: [`Policy::effective`].
    pub fn check(&self, input: &CheckInput<'_>) -> Result<Verdict, CheckError> {
        self.effective(None).check(input)
    }

    /// [`Policy::check`] when the caller has already hashed the candidate for the store with
    /// [`hash_for_history`] over the same `input.history` (the portal does): the reuse rule
    /// compares with that hash instead of computing its own, so a submit costs one argon2id
    /// computation. `entry` must be the hash of `input.password`.
    pub fn check_with_entry(&self, input: &CheckInput<'_>, entry: Option<&str>) -> Result<Verdict, CheckError> {
        self.effective(None).check_with_entry(input, entry)
    }

    fn denylisted(&self, normalised: &str) -> bool {
        self.denylist.as_ref().is_some_and(|d| d.contains(normalised))
    }

    /// The off-by-default composition rules.
    fn check_optional(&self, pw: &str, refuse: &mut impl FnMut(Reason)) {
        let cfg = &self.config;
        if let Some(min) = cfg.min_character_classes.filter(|m| checks::character_classes(pw) < *m) {
            refuse(Reason::TooFewCharacterClasses { min });
        }
        if let Some(max) = cfg
            .max_repeated_characters
            .filter(|m| checks::longest_run(pw) > *m as usize)
        {
            refuse(Reason::TooManyRepeatedCharacters { max });
        }
        if let Some(min) = cfg
            .min_unique_characters
            .filter(|m| checks::unique_characters(pw) < *m as usize)
        {
            refuse(Reason::TooFewUniqueCharacters { min });
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

    /// The rules of `[policy]` alone, in check order. With the directory's rules:
    /// [`Policy::effective`].
    pub fn rules(&self) -> Vec<RuleDescription> {
        self.effective(None).rules()
    }

    /// `[policy]`'s rules in force, in check order.
    fn local_rules(&self) -> Vec<Requirement> {
        let cfg = &self.config;
        let optional = [
            (cfg.min_strength > 0).then_some(Requirement::MinStrength {
                score: cfg.min_strength,
                advice: Strength::WithAdvice,
            }),
            cfg.forbid_personal_data.then_some(Requirement::NoPersonalData),
            self.denylist.is_some().then_some(Requirement::NotDenylisted),
            self.breach.is_some().then_some(Requirement::NotBreached),
            (cfg.history > 0).then_some(Requirement::History { count: cfg.history }),
            cfg.differs_from_current.then_some(Requirement::DiffersFromCurrent),
            cfg.min_character_classes
                .map(|min| Requirement::CharacterClasses { min }),
            cfg.max_repeated_characters.map(|max| Requirement::MaxRepeated { max }),
            cfg.min_unique_characters
                .map(|min| Requirement::UniqueCharacters { min }),
        ];
        [
            Some(Requirement::MinLength { min: cfg.min_length }),
            Some(Requirement::MaxLength { max: cfg.max_length }),
        ]
        .into_iter()
        .chain(optional)
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests;
