//! What a check reports: [`RuleId`], [`Violation`], [`Verdict`], [`RuleDescription`], and the
//! plain-language wording of each rule and each refusal.
//!
//! Owns every user-facing sentence of the policy, so they can be reviewed (and one day
//! translated) in one place. Must not see the password: messages are built from the config and
//! from facts such as a breach count, never from the text.

use serde::Serialize;

use super::directory::{CategoryScheme, NameRule};

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

/// One broken rule, with a message a person on a phone understands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: RuleId,
    pub message: String,
}

/// The outcome of a check: every violation at once, in the order of [`super::Policy::rules`].
/// Serialises as `{"accepted": bool, "violations": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleDescription {
    pub rule: RuleId,
    pub text: String,
    /// Where it comes from: [`PWRESETD`] or the directory's policy (for administrators; the
    /// portal does not show it).
    pub source: String,
}

/// The source of the rules of pwresetd's own `[policy]` section.
pub const PWRESETD: &str = "pwresetd [policy]";

/// Which piece of personal data a password contained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PersonalField {
    Login,
    GivenName,
    Surname,
    MailLocalPart,
}

impl PersonalField {
    fn phrase(self) -> &'static str {
        match self {
            Self::Login => "your username",
            Self::GivenName => "your first name",
            Self::Surname => "your last name",
            Self::MailLocalPart => "your email address",
        }
    }
}

/// Formats 3421 as "3,421" (English grouping; the messages are English).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", group_thousands(n))
    }
}

/// Joins phrases as "a", "a or b", "a, b or c".
fn join_or(parts: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The refusal messages. Each takes only non-secret facts.
pub mod message {
    use super::*;

    pub fn too_short(min: u32) -> String {
        format!("Use at least {}.", plural(min.into(), "character", "characters"))
    }
    pub fn too_long(max: u32) -> String {
        format!("Use no more than {}.", plural(max.into(), "character", "characters"))
    }
    /// `hint` is zxcvbn's own fixed sentence(s), which never quote the password.
    pub fn too_weak(hint: Option<String>) -> String {
        let base = "This password would be too easy to guess.";
        match hint {
            Some(hint) => format!("{base} {hint}"),
            None => format!("{base} Try a longer phrase of several unrelated words."),
        }
    }
    pub fn contains_personal_data(fields: &[PersonalField]) -> String {
        let phrases: Vec<&str> = fields.iter().map(|f| f.phrase()).collect();
        format!(
            "This password contains {}. Choose one that does not include your name, \
             username or email address.",
            join_or(&phrases)
        )
    }
    pub fn denylisted() -> String {
        "This password is on our list of passwords that are too common or easy to guess. \
         Choose another."
            .to_string()
    }
    /// HIBP counts how often a password was seen in breach corpora, not in how many breaches.
    pub fn breached(count: u32) -> String {
        format!(
            "This password has appeared {} in known data breaches. Choose another.",
            plural(count.into(), "time", "times")
        )
    }
    pub fn reused() -> String {
        "You have used this password before. Choose one you have not used recently.".to_string()
    }
    pub fn same_as_current() -> String {
        "This is your current password. Choose a new one.".to_string()
    }
    pub fn too_few_character_classes(min: u8) -> String {
        format!("Use at least {min} of these: lowercase letters, uppercase letters, digits, symbols.")
    }
    pub fn too_many_repeated_characters(max: u32) -> String {
        format!(
            "Do not repeat the same character more than {} in a row.",
            plural(max.into(), "time", "times")
        )
    }
    pub fn too_few_unique_characters(min: u32) -> String {
        format!("Use at least {} different characters.", group_thousands(min.into()))
    }
    pub fn too_few_character_categories(min: u8, scheme: CategoryScheme) -> String {
        format!("Use at least {min} of these: {}.", categories(scheme))
    }
    pub fn contains_account_name(rule: NameRule) -> String {
        match rule {
            NameRule::ActiveDirectory => "This password contains your username or part of your full name. \
                                          Choose one without them."
                .to_string(),
            NameRule::Ds389 { .. } => "This password contains your username, your name or your email address. \
                                       Choose one without them."
                .to_string(),
        }
    }
}

/// The categories of a scheme, in words.
fn categories(scheme: CategoryScheme) -> &'static str {
    match scheme {
        CategoryScheme::ActiveDirectory => {
            "uppercase letters, lowercase letters, digits, symbols such as ! # % * - _ ? \
             (a space does not count as a symbol)"
        }
        CategoryScheme::Ds389 => {
            "uppercase letters A-Z, lowercase letters a-z, digits, symbols or spaces, \
             letters outside A-Z (such as é or ß)"
        }
    }
}

/// The rule texts shown before typing. Each takes only config values.
pub mod text {
    use super::*;

    pub fn min_length(min: u32) -> String {
        format!("At least {}", plural(min.into(), "character", "characters"))
    }
    pub fn max_length(max: u32) -> String {
        format!("At most {}", plural(max.into(), "character", "characters"))
    }
    pub fn min_strength(score: u8) -> String {
        format!("Hard to guess (strength {score} out of 4 or better): a few unrelated words work well")
    }
    pub fn personal_data() -> String {
        "Does not contain your name, username or email address".to_string()
    }
    pub fn denylist() -> String {
        "Not a commonly used password".to_string()
    }
    pub fn breached() -> String {
        "Not found in known data breaches".to_string()
    }
    pub fn history(n: u32) -> String {
        if n == 1 {
            "Not your previous password".to_string()
        } else {
            format!("Not one of your last {n} passwords")
        }
    }
    pub fn current() -> String {
        "Different from your current password".to_string()
    }
    pub fn character_classes(min: u8) -> String {
        format!("At least {min} of: lowercase letters, uppercase letters, digits, symbols")
    }
    pub fn repeated(max: u32) -> String {
        format!(
            "No character repeated more than {} in a row",
            plural(max.into(), "time", "times")
        )
    }
    pub fn unique(min: u32) -> String {
        format!("At least {} different characters", group_thousands(min.into()))
    }
    /// A minimum age, in the largest whole unit ("1 day", "36 hours").
    pub fn age(secs: u64) -> String {
        let (n, one, many) = match secs {
            s if s % 86_400 == 0 => (s / 86_400, "day", "days"),
            s if s % 3_600 == 0 => (s / 3_600, "hour", "hours"),
            s if s % 60 == 0 => (s / 60, "minute", "minutes"),
            s => (s, "second", "seconds"),
        };
        plural(n, one, many)
    }
    /// [`min_strength`] without its advice, for when the advice line says more.
    pub fn min_strength_plain(score: u8) -> String {
        format!("Hard to guess (strength {score} out of 4 or better)")
    }
    pub fn character_categories(min: u8, scheme: CategoryScheme) -> String {
        format!("At least {min} of: {}", categories(scheme))
    }
    pub fn account_name(rule: NameRule) -> String {
        match rule {
            NameRule::ActiveDirectory => {
                "Does not contain your username, nor any part of your full name of 3 letters or more".to_string()
            }
            NameRule::Ds389 { .. } => "Does not contain your username, your name or your email address".to_string(),
        }
    }
    /// The advice under the rules. It must never suggest what a rule in force refuses: when
    /// the directory wants several kinds of characters, words alone are not enough.
    pub fn advice(categories: Option<(u8, CategoryScheme)>) -> String {
        match categories {
            None | Some((0..=1, _)) => {
                "A few unrelated words with spaces make a long password that is easy to type and remember.".into()
            }
            Some((_, CategoryScheme::ActiveDirectory)) => {
                "A few unrelated words make a long password that is easy to remember. Here they are not \
                 enough alone: also write one word with a capital letter and add a digit or a symbol \
                 (a space does not count)."
                    .into()
            }
            Some((_, CategoryScheme::Ds389)) => {
                "A few unrelated words with spaces make a long password that is easy to remember. Here \
                 they are not enough alone: also write one word with a capital letter and add a digit."
                    .into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: u64, expected: &str) {
        assert_eq!(group_thousands(input), expected);
    }

    #[test]
    fn thousands_table() {
        check(0, "0");
        check(999, "999");
        check(1_000, "1,000");
        check(3_421, "3,421");
        check(123_456_789, "123,456,789");
        check(u64::from(u32::MAX), "4,294,967,295");
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(
            message::breached(3_421),
            "This password has appeared 3,421 times in known data breaches. Choose another."
        );
        assert_eq!(
            message::breached(1),
            "This password has appeared 1 time in known data breaches. Choose another."
        );
        assert_eq!(message::too_short(15), "Use at least 15 characters.");
        assert_eq!(text::min_length(15), "At least 15 characters");
        assert_eq!(text::age(86_400), "1 day");
        assert_eq!(text::age(129_600), "36 hours");
        assert_eq!(text::age(90), "90 seconds");
        assert_eq!(
            message::contains_personal_data(&[PersonalField::Login, PersonalField::GivenName, PersonalField::Surname]),
            "This password contains your username, your first name or your last name. \
             Choose one that does not include your name, username or email address."
        );
    }

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
}
