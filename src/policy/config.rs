//! The `[policy]` configuration section: [`PolicyConfig`], its defaults and its validation.
//!
//! Owns the names and defaults of the keys (aligned with NIST SP 800-63B-4) and the checks that
//! make a config self-consistent. Must not open the files it names: [`super::Policy::load`] does.

use std::path::PathBuf;

use serde::Deserialize;

/// Largest `history` accepted: each remembered password costs one argon2 verification per check
/// (see [`super::history`]), so the bound keeps a check's latency predictable.
pub const MAX_HISTORY: u32 = 24;

/// The `[policy]` section. Every key is optional; missing keys take the defaults in brackets.
///
/// ```toml
/// [policy]
/// min_length = 15            # [15] Unicode code points after NFKC
/// max_length = 128           # [128]
/// min_strength = 3           # [3] zxcvbn score 0-4
/// context_words = ["acme"]   # [] extra words the strength estimate treats as guessable
/// forbid_personal_data = true  # [true] login, names, mail local part
/// denylist_file = "/etc/pwresetd/denylist.txt"     # [none] one password a line
/// breached_index = "/var/lib/pwresetd/pwned.idx"    # [none] built by `pwresetd breach-index build`
/// breached_min_count = 1     # [1]
/// history = 5                # [5] 0 disables
/// differs_from_current = true  # [true]
/// # off by default:
/// # min_character_classes = 3  # of lowercase, uppercase, digit, other
/// # max_repeated_characters = 3
/// # min_unique_characters = 8
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Minimum length in code points after NFKC normalisation.
    pub min_length: u32,
    /// Maximum length in code points after NFKC normalisation.
    pub max_length: u32,
    /// Minimum zxcvbn score, 0 (anything) to 4 (strongest).
    pub min_strength: u8,
    /// Words specific to the organisation (its name, products, the service) passed to zxcvbn.
    pub context_words: Vec<String>,
    /// Refuse passwords containing the login, given name, surname or mail local part.
    pub forbid_personal_data: bool,
    /// Extra forbidden passwords, one a line, compared case-insensitively.
    pub denylist_file: Option<PathBuf>,
    /// Breached-password index built by `pwresetd breach-index build`.
    pub breached_index: Option<PathBuf>,
    /// A breached password is refused when seen at least this many times.
    pub breached_min_count: u32,
    /// How many of the account's previous passwords (set by pwresetd) may not be reused.
    pub history: u32,
    /// Refuse the current password when the caller knows it.
    pub differs_from_current: bool,
    /// Minimum number of character classes (lowercase, uppercase, digit, other), 1-4.
    pub min_character_classes: Option<u8>,
    /// Maximum length of a run of one repeated character ("aaa" is a run of 3).
    pub max_repeated_characters: Option<u32>,
    /// Minimum number of distinct characters.
    pub min_unique_characters: Option<u32>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            min_length: 15,
            max_length: 128,
            min_strength: 3,
            context_words: Vec::new(),
            forbid_personal_data: true,
            denylist_file: None,
            breached_index: None,
            breached_min_count: 1,
            history: 5,
            differs_from_current: true,
            min_character_classes: None,
            max_repeated_characters: None,
            min_unique_characters: None,
        }
    }
}

/// A `[policy]` section that cannot be applied. Each message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("policy.min_length ({min}) is greater than policy.max_length ({max})")]
    LengthRange { min: u32, max: u32 },
    #[error("policy.min_length must be at least 1")]
    ZeroMinLength,
    #[error("policy.min_strength ({0}) must be between 0 and 4")]
    Strength(u8),
    #[error("policy.breached_min_count must be at least 1")]
    ZeroBreachedMinCount,
    #[error("policy.history ({0}) must be at most {MAX_HISTORY}")]
    History(u32),
    #[error("policy.min_character_classes ({0}) must be between 1 and 4")]
    CharacterClasses(u8),
    #[error("policy.max_repeated_characters must be at least 1")]
    ZeroMaxRepeated,
    #[error("policy.min_unique_characters ({unique}) is greater than policy.max_length ({max_length})")]
    UniqueAboveMax { unique: u32, max_length: u32 },
}

impl PolicyConfig {
    /// Checks that the keys are consistent with each other. Does not touch the files.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        use PolicyConfigError as E;
        if self.min_length == 0 {
            return Err(E::ZeroMinLength);
        }
        if self.min_length > self.max_length {
            return Err(E::LengthRange {
                min: self.min_length,
                max: self.max_length,
            });
        }
        if self.min_strength > 4 {
            return Err(E::Strength(self.min_strength));
        }
        if self.breached_min_count == 0 {
            return Err(E::ZeroBreachedMinCount);
        }
        if self.history > MAX_HISTORY {
            return Err(E::History(self.history));
        }
        if let Some(n) = self.min_character_classes.filter(|n| !(1..=4).contains(n)) {
            return Err(E::CharacterClasses(n));
        }
        if self.max_repeated_characters == Some(0) {
            return Err(E::ZeroMaxRepeated);
        }
        if let Some(unique) = self.min_unique_characters.filter(|u| *u > self.max_length) {
            return Err(E::UniqueAboveMax {
                unique,
                max_length: self.max_length,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str, expected: Result<(), &str>) {
        let cfg: PolicyConfig = match toml_from(toml_text) {
            Ok(cfg) => cfg,
            Err(e) => {
                assert_eq!(Err(e.as_str()), expected, "parse of {toml_text:?}");
                return;
            }
        };
        let got = cfg.validate().map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "{toml_text:?}");
    }

    /// Parses through the `config` crate, the way the main Config does.
    fn toml_from(text: &str) -> Result<PolicyConfig, String> {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<PolicyConfig>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn validate_table() {
        check("", Ok(()));
        check("min_length = 8\nmax_length = 64", Ok(()));
        check(
            "min_length = 20\nmax_length = 16",
            Err("policy.min_length (20) is greater than policy.max_length (16)"),
        );
        check("min_length = 0", Err("policy.min_length must be at least 1"));
        check(
            "min_strength = 5",
            Err("policy.min_strength (5) must be between 0 and 4"),
        );
        check(
            "breached_min_count = 0",
            Err("policy.breached_min_count must be at least 1"),
        );
        check("history = 25", Err("policy.history (25) must be at most 24"));
        check("history = 0", Ok(()));
        check(
            "min_character_classes = 0",
            Err("policy.min_character_classes (0) must be between 1 and 4"),
        );
        check("min_character_classes = 4", Ok(()));
        check(
            "max_repeated_characters = 0",
            Err("policy.max_repeated_characters must be at least 1"),
        );
        check(
            "min_unique_characters = 200",
            Err("policy.min_unique_characters (200) is greater than policy.max_length (128)"),
        );
    }

    #[test]
    fn defaults_and_full_toml() {
        assert_eq!(toml_from(""), Ok(PolicyConfig::default()));
        let cfg = toml_from(
            "min_length = 12\ndenylist_file = \"/etc/deny\"\nbreached_index = \"/var/idx\"\n\
             context_words = [\"acme\", \"password\"]\nmin_unique_characters = 6",
        );
        let expected = PolicyConfig {
            min_length: 12,
            denylist_file: Some("/etc/deny".into()),
            breached_index: Some("/var/idx".into()),
            context_words: vec!["acme".into(), "password".into()],
            min_unique_characters: Some(6),
            ..PolicyConfig::default()
        };
        assert_eq!(cfg, Ok(expected));
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = toml_from("min_lenght = 3").err().unwrap_or_default();
        assert!(err.contains("min_lenght"), "{err}");
    }
}
