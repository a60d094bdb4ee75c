//! What a check reports, as data: [`RuleId`], each refusal's [`Reason`] with its values, each
//! rule in force as a [`Requirement`], the [`Advice`] under them, [`Violation`] and [`Verdict`].
//!
//! Owns no sentence: the words are the caller's (the portal's catalogues,
//! `templates/portal/lang/<tag>.toml`, in the person's language; the CLI renders the English
//! one), so a language is a file and a rule is said one way everywhere. Must not see the
//! password: a reason carries config values and facts such as a breach count, never the text.

use serde::Serialize;
pub use zxcvbn::feedback::{Suggestion as StrengthSuggestion, Warning as StrengthWarning};

use super::directory::{CategoryScheme, NameRule};
use super::personal::PersonalField;

/// Stable identifier of a rule. Serialises to the snake_case id (`too_short`, ...), which forms
/// and scripts may rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    TooShort,
    TooLong,
    TooWeak,
    ContainsPersonalData,
    Denylisted,
    Breached,
    Reused,
    SameAsCurrent,
    TooFewCharacterClasses,
    TooManyRepeatedCharacters,
    TooFewUniqueCharacters,
    /// The directory's character categories (its own way of counting them).
    TooFewCharacterCategories,
    /// The directory's "no part of the account name".
    ContainsAccountName,
}

impl RuleId {
    /// The stable id, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::TooWeak => "too_weak",
            Self::ContainsPersonalData => "contains_personal_data",
            Self::Denylisted => "denylisted",
            Self::Breached => "breached",
            Self::Reused => "reused",
            Self::SameAsCurrent => "same_as_current",
            Self::TooFewCharacterClasses => "too_few_character_classes",
            Self::TooManyRepeatedCharacters => "too_many_repeated_characters",
            Self::TooFewUniqueCharacters => "too_few_unique_characters",
            Self::TooFewCharacterCategories => "too_few_character_categories",
            Self::ContainsAccountName => "contains_account_name",
        }
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule and why, with the values a sentence about it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub rule: RuleId,
    pub reason: Reason,
}

impl From<Reason> for Violation {
    fn from(reason: Reason) -> Self {
        Violation {
            rule: reason.rule(),
            reason,
        }
    }
}

/// The outcome of a check: every violation at once, in the order of [`super::Policy::rules`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    accepted: bool,
    violations: Vec<Violation>,
}

impl Verdict {
    pub(crate) fn new(violations: Vec<Violation>) -> Self {
        Self {
            accepted: violations.is_empty(),
            violations,
        }
    }

    /// True when no rule is broken.
    pub fn is_accepted(&self) -> bool {
        self.accepted
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The ids of the broken rules, handy for logs (they carry no secret).
    pub fn rule_ids(&self) -> Vec<RuleId> {
        self.violations.iter().map(|v| v.rule).collect()
    }
}

/// A rule in force, for a form to show before the user types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDescription {
    pub rule: RuleId,
    pub requirement: Requirement,
    /// Where it comes from: [`PWRESETD`] or the directory's policy (for administrators; the
    /// portal does not show it).
    pub source: String,
}

/// The source of the rules of pwresetd's own `[policy]` section.
pub const PWRESETD: &str = "pwresetd [policy]";

/// Why a password was refused: one variant per rule, with the values its sentence names.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    TooShort {
        min: u32,
    },
    TooLong {
        max: u32,
    },
    /// zxcvbn's warning and first suggestion, as its ids (they never quote the password).
    TooWeak {
        warning: Option<StrengthWarning>,
        suggestion: Option<StrengthSuggestion>,
    },
    /// The fields found, in field order, each once (never empty).
    PersonalData {
        fields: Vec<PersonalField>,
    },
    Denylisted,
    /// How often the breach corpus has seen the password (HIBP counts sightings, not breaches).
    Breached {
        count: u32,
    },
    Reused,
    SameAsCurrent,
    TooFewCharacterClasses {
        min: u8,
    },
    TooManyRepeatedCharacters {
        max: u32,
    },
    TooFewUniqueCharacters {
        min: u32,
    },
    TooFewCharacterCategories {
        min: u8,
        scheme: CategoryScheme,
    },
    AccountName {
        rule: NameRule,
    },
}

impl Reason {
    /// The rule this reason breaks.
    pub fn rule(&self) -> RuleId {
        match self {
            Self::TooShort { .. } => RuleId::TooShort,
            Self::TooLong { .. } => RuleId::TooLong,
            Self::TooWeak { .. } => RuleId::TooWeak,
            Self::PersonalData { .. } => RuleId::ContainsPersonalData,
            Self::Denylisted => RuleId::Denylisted,
            Self::Breached { .. } => RuleId::Breached,
            Self::Reused => RuleId::Reused,
            Self::SameAsCurrent => RuleId::SameAsCurrent,
            Self::TooFewCharacterClasses { .. } => RuleId::TooFewCharacterClasses,
            Self::TooManyRepeatedCharacters { .. } => RuleId::TooManyRepeatedCharacters,
            Self::TooFewUniqueCharacters { .. } => RuleId::TooFewUniqueCharacters,
            Self::TooFewCharacterCategories { .. } => RuleId::TooFewCharacterCategories,
            Self::AccountName { .. } => RuleId::ContainsAccountName,
        }
    }
}

/// A rule in force, as a form lists it before the user types: one variant per rule, with the
/// config values its sentence names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    MinLength {
        min: u32,
    },
    MaxLength {
        max: u32,
    },
    /// With [`Strength::WithAdvice`], the sentence also says what works well; without it when
    /// the advice under the rules says more (the directory wants several kinds of characters).
    MinStrength {
        score: u8,
        advice: Strength,
    },
    NoPersonalData,
    NotDenylisted,
    NotBreached,
    /// Not one of the last `count` passwords.
    History {
        count: u32,
    },
    DiffersFromCurrent,
    CharacterClasses {
        min: u8,
    },
    MaxRepeated {
        max: u32,
    },
    UniqueCharacters {
        min: u32,
    },
    CharacterCategories {
        min: u8,
        scheme: CategoryScheme,
    },
    AccountName {
        rule: NameRule,
    },
}

impl Requirement {
    /// The rule this requirement states.
    pub fn rule(&self) -> RuleId {
        match self {
            Self::MinLength { .. } => RuleId::TooShort,
            Self::MaxLength { .. } => RuleId::TooLong,
            Self::MinStrength { .. } => RuleId::TooWeak,
            Self::NoPersonalData => RuleId::ContainsPersonalData,
            Self::NotDenylisted => RuleId::Denylisted,
            Self::NotBreached => RuleId::Breached,
            Self::History { .. } => RuleId::Reused,
            Self::DiffersFromCurrent => RuleId::SameAsCurrent,
            Self::CharacterClasses { .. } => RuleId::TooFewCharacterClasses,
            Self::MaxRepeated { .. } => RuleId::TooManyRepeatedCharacters,
            Self::UniqueCharacters { .. } => RuleId::TooFewUniqueCharacters,
            Self::CharacterCategories { .. } => RuleId::TooFewCharacterCategories,
            Self::AccountName { .. } => RuleId::ContainsAccountName,
        }
    }
}

/// Whether [`Requirement::MinStrength`] says what works well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    WithAdvice,
    Plain,
}

/// The advice under the rules. It never suggests what a rule in force refuses: when the
/// directory wants several kinds of characters, words alone are not enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// A few unrelated words with spaces.
    Words,
    /// Words, plus a capital letter and a digit or a symbol (a space is no symbol to AD).
    WordsForActiveDirectory,
    /// Words with spaces, plus a capital letter and a digit (389-DS).
    WordsForDs389,
}

impl Advice {
    pub(crate) fn for_categories(categories: Option<(u8, CategoryScheme)>) -> Self {
        match categories {
            None | Some((0..=1, _)) => Self::Words,
            Some((_, CategoryScheme::ActiveDirectory)) => Self::WordsForActiveDirectory,
            Some((_, CategoryScheme::Ds389)) => Self::WordsForDs389,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_serialise_to_their_stable_names() {
        let all = [
            RuleId::TooShort,
            RuleId::TooLong,
            RuleId::TooWeak,
            RuleId::ContainsPersonalData,
            RuleId::Denylisted,
            RuleId::Breached,
            RuleId::Reused,
            RuleId::SameAsCurrent,
            RuleId::TooFewCharacterClasses,
            RuleId::TooManyRepeatedCharacters,
            RuleId::TooFewUniqueCharacters,
            RuleId::TooFewCharacterCategories,
            RuleId::ContainsAccountName,
        ];
        for id in all {
            assert_eq!(serde_json::to_string(&id).ok(), Some(format!("\"{}\"", id.as_str())));
        }
    }

    #[test]
    fn each_reason_names_its_rule() {
        assert_eq!(Reason::Breached { count: 3 }.rule(), RuleId::Breached);
        assert_eq!(
            Reason::AccountName {
                rule: NameRule::ActiveDirectory
            }
            .rule(),
            RuleId::ContainsAccountName
        );
        assert_eq!(Violation::from(Reason::SameAsCurrent).rule, RuleId::SameAsCurrent);
        assert_eq!(
            Advice::for_categories(Some((3, CategoryScheme::Ds389))),
            Advice::WordsForDs389
        );
        assert_eq!(Advice::for_categories(Some((1, CategoryScheme::Ds389))), Advice::Words);
    }
}
