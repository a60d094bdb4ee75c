//! The password rules and refusals in words: each id the policy returns ([`Reason`],
//! [`Requirement`], [`Advice`], zxcvbn's warnings and suggestions) and each reason the directory
//! gives ([`Refusal`]) to a key of the portal's catalogues (`templates/portal/lang/<tag>.toml`,
//! the `# Password rules` section), with its values filled in the language's way (plural,
//! digit grouping, lists).
//!
//! The only source of these sentences: the portal says them in the request's language, the CLI
//! and the preflight in English ([`FALLBACK`]). Must not decide anything: the policy and the
//! directory did; this only says it.

use super::lang::{self, FALLBACK};
use crate::directory::Refusal;
use crate::policy::{
    Advice, CategoryScheme, NameRule, PersonalField, Reason, Requirement, Strength, StrengthSuggestion, StrengthWarning,
};

/// Why a refusal was made, in `lang`.
pub fn reason(lang: &str, reason: &Reason) -> String {
    Say::new(lang).finish(|s| s.reason(reason))
}

/// A rule in force, as a form lists it, in `lang`.
pub fn requirement(lang: &str, requirement: &Requirement) -> String {
    Say::new(lang).finish(|s| s.requirement(requirement))
}

/// The advice under the rules, in `lang`.
pub fn advice(lang: &str, advice: Advice) -> String {
    Say::new(lang).finish(|s| s.key(advice_key(advice), &[]))
}

/// Why the directory refused a password, in `lang`.
pub fn refusal(lang: &str, refusal: Refusal) -> String {
    Say::new(lang).finish(|s| s.refusal(refusal))
}

/// [`reason`] in English: the CLI's and the logs' words.
pub fn english(reason: &Reason) -> String {
    self::reason(FALLBACK, reason)
}

/// A sentence being put together in one language, with the keys the catalogue lacked (a bug:
/// the tests name every id; logged, and the key shown in place of its text).
struct Say<'a> {
    lang: &'a str,
    missing: Vec<String>,
}

impl<'a> Say<'a> {
    fn new(lang: &'a str) -> Self {
        Say {
            lang,
            missing: Vec::new(),
        }
    }

    fn finish(mut self, build: impl FnOnce(&mut Self) -> String) -> String {
        let text = build(&mut self);
        for key in &self.missing {
            tracing::error!(
                key,
                lang = self.lang,
                "portal: no such password-rule string in the catalogues"
            );
        }
        text
    }

    /// `key`'s text with `{name}` values from `args`.
    fn key(&mut self, key: &str, args: &[(&str, &str)]) -> String {
        let text = lang::catalogues().ok().and_then(|c| c.get(self.lang, key));
        let Some(text) = text else {
            self.missing.push(key.to_owned());
            return key.to_owned();
        };
        let value = |name: &str| args.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        lang::fill(text, value, str::to_owned)
    }

    /// `key.one` or `key.many` by `n`, with `{n}` grouped the language's way.
    fn count(&mut self, key: &str, n: u64) -> String {
        let number = self.number(n);
        let key = format!("{key}.{}", if n == 1 { "one" } else { "many" });
        self.key(&key, &[("n", &number)])
    }

    /// `n` with the language's thousands separator (`number.group`).
    fn number(&mut self, n: u64) -> String {
        let group = self.key("number.group", &[]);
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() * 2);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push_str(&group);
            }
            out.push(c);
        }
        out
    }

    /// `key` with `{n}`, grouped the language's way.
    fn numbered(&mut self, key: &str, n: u64) -> String {
        let n = self.number(n);
        self.key(key, &[("n", &n)])
    }

    /// `key` with `{min}` and the `{categories}` of `scheme`.
    fn categories(&mut self, key: &str, min: u8, scheme: CategoryScheme) -> String {
        let scheme = match scheme {
            CategoryScheme::ActiveDirectory => "categories.ad",
            CategoryScheme::Ds389 => "categories.ds389",
        };
        let categories = self.key(scheme, &[]);
        self.key(key, &[("min", &min.to_string()), ("categories", &categories)])
    }

    /// `key.ad` or `key.ds389`: what each directory calls part of the account's name.
    fn account_name(&mut self, key: &str, rule: NameRule) -> String {
        let flavour = match rule {
            NameRule::ActiveDirectory => "ad",
            NameRule::Ds389 { .. } => "ds389",
        };
        self.key(&format!("{key}.{flavour}"), &[])
    }

    /// "a", "a or b", "a, b or c" in the language's words.
    fn or_list(&mut self, parts: Vec<String>) -> String {
        match parts.split_last() {
            None => String::new(),
            Some((last, [])) => last.clone(),
            Some((last, init)) => {
                let separator = self.key("list.separator", &[]);
                let init = init.join(&separator);
                self.key("list.or", &[("init", &init), ("last", last)])
            }
        }
    }

    fn reason(&mut self, reason: &Reason) -> String {
        match reason {
            Reason::TooShort { min } => self.count("reason.too-short", (*min).into()),
            Reason::TooLong { max } => self.count("reason.too-long", (*max).into()),
            Reason::TooWeak { warning, suggestion } => {
                let mut parts = vec![self.key("reason.too-weak", &[])];
                parts.extend(warning.map(|w| self.key(warning_key(w), &[])));
                parts.extend(suggestion.map(|s| self.key(suggestion_key(s), &[])));
                if parts.len() == 1 {
                    parts.push(self.key("reason.too-weak.no-hint", &[]));
                }
                parts.join(" ")
            }
            Reason::PersonalData { fields } => {
                let names = fields.iter().map(|f| self.key(field_key(*f), &[])).collect();
                let fields = self.or_list(names);
                self.key("reason.personal-data", &[("fields", &fields)])
            }
            Reason::Denylisted => self.key("reason.denylisted", &[]),
            Reason::Breached { count } => self.count("reason.breached", (*count).into()),
            Reason::Reused => self.key("reason.reused", &[]),
            Reason::SameAsCurrent => self.key("reason.same-as-current", &[]),
            Reason::TooFewCharacterClasses { min } => {
                self.key("reason.character-classes", &[("min", &min.to_string())])
            }
            Reason::TooManyRepeatedCharacters { max } => self.count("reason.repeated", (*max).into()),
            Reason::TooFewUniqueCharacters { min } => self.numbered("reason.unique", (*min).into()),
            Reason::TooFewCharacterCategories { min, scheme } => {
                self.categories("reason.character-categories", *min, *scheme)
            }
            Reason::AccountName { rule } => self.account_name("reason.account-name", *rule),
        }
    }

    fn requirement(&mut self, requirement: &Requirement) -> String {
        match requirement {
            Requirement::MinLength { min } => self.count("rule.min-length", (*min).into()),
            Requirement::MaxLength { max } => self.count("rule.max-length", (*max).into()),
            Requirement::MinStrength { score, advice } => {
                let key = match advice {
                    Strength::WithAdvice => "rule.min-strength",
                    Strength::Plain => "rule.min-strength.plain",
                };
                self.key(key, &[("score", &score.to_string())])
            }
            Requirement::NoPersonalData => self.key("rule.personal-data", &[]),
            Requirement::NotDenylisted => self.key("rule.denylist", &[]),
            Requirement::NotBreached => self.key("rule.breached", &[]),
            Requirement::History { count } => self.count("rule.history", (*count).into()),
            Requirement::DiffersFromCurrent => self.key("rule.current", &[]),
            Requirement::CharacterClasses { min } => self.key("rule.character-classes", &[("min", &min.to_string())]),
            Requirement::MaxRepeated { max } => self.count("rule.repeated", (*max).into()),
            Requirement::UniqueCharacters { min } => self.numbered("rule.unique", (*min).into()),
            Requirement::CharacterCategories { min, scheme } => {
                self.categories("rule.character-categories", *min, *scheme)
            }
            Requirement::AccountName { rule } => self.account_name("rule.account-name", *rule),
        }
    }

    fn refusal(&mut self, refusal: Refusal) -> String {
        let key = match refusal {
            Refusal::TooShort { min: Some(min) } => return self.count("refusal.too-short.min", min.into()),
            Refusal::TooShort { min: None } => "refusal.too-short",
            Refusal::NotPrepared => "refusal.not-prepared",
            Refusal::UsedBefore => "refusal.used-before",
            Refusal::TooRecent => "refusal.too-recent",
            Refusal::SameAsCurrent => "reason.same-as-current",
            Refusal::TooWeak => "refusal.too-weak",
            Refusal::NotComplex => "refusal.not-complex",
            Refusal::InsufficientQuality => "refusal.insufficient-quality",
            Refusal::Unspecified => "refusal.unspecified",
            Refusal::DomainRules => "refusal.domain-rules",
            Refusal::WeakOrRecent => "refusal.weak-or-recent",
        };
        self.key(key, &[])
    }
}

fn advice_key(advice: Advice) -> &'static str {
    match advice {
        Advice::Words => "advice.words",
        Advice::WordsForActiveDirectory => "advice.words.ad",
        Advice::WordsForDs389 => "advice.words.ds389",
    }
}

fn field_key(field: PersonalField) -> &'static str {
    match field {
        PersonalField::Login => "personal.login",
        PersonalField::GivenName => "personal.given-name",
        PersonalField::Surname => "personal.surname",
        PersonalField::MailLocalPart => "personal.mail",
    }
}

fn warning_key(warning: StrengthWarning) -> &'static str {
    use StrengthWarning as W;
    match warning {
        W::StraightRowsOfKeysAreEasyToGuess => "strength.warning.straight-rows",
        W::ShortKeyboardPatternsAreEasyToGuess => "strength.warning.short-patterns",
        W::RepeatsLikeAaaAreEasyToGuess => "strength.warning.repeats-aaa",
        W::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess => "strength.warning.repeats-abcabc",
        W::ThisIsATop10Password => "strength.warning.top-10",
        W::ThisIsATop100Password => "strength.warning.top-100",
        W::ThisIsACommonPassword => "strength.warning.common",
        W::ThisIsSimilarToACommonlyUsedPassword => "strength.warning.similar-to-common",
        W::SequencesLikeAbcAreEasyToGuess => "strength.warning.sequences",
        W::RecentYearsAreEasyToGuess => "strength.warning.recent-years",
        W::AWordByItselfIsEasyToGuess => "strength.warning.one-word",
        W::DatesAreOftenEasyToGuess => "strength.warning.dates",
        W::NamesAndSurnamesByThemselvesAreEasyToGuess => "strength.warning.names-alone",
        W::CommonNamesAndSurnamesAreEasyToGuess => "strength.warning.common-names",
    }
}

fn suggestion_key(suggestion: StrengthSuggestion) -> &'static str {
    use StrengthSuggestion as S;
    match suggestion {
        S::UseAFewWordsAvoidCommonPhrases => "strength.suggestion.few-words",
        S::NoNeedForSymbolsDigitsOrUppercaseLetters => "strength.suggestion.no-need-for-symbols",
        S::AddAnotherWordOrTwo => "strength.suggestion.add-a-word",
        S::CapitalizationDoesntHelpVeryMuch => "strength.suggestion.capitals",
        S::AllUppercaseIsAlmostAsEasyToGuessAsAllLowercase => "strength.suggestion.all-uppercase",
        S::ReversedWordsArentMuchHarderToGuess => "strength.suggestion.reversed",
        S::PredictableSubstitutionsDontHelpVeryMuch => "strength.suggestion.substitutions",
        S::UseALongerKeyboardPatternWithMoreTurns => "strength.suggestion.longer-pattern",
        S::AvoidRepeatedWordsAndCharacters => "strength.suggestion.repeats",
        S::AvoidSequences => "strength.suggestion.sequences",
        S::AvoidRecentYears => "strength.suggestion.recent-years",
        S::AvoidYearsThatAreAssociatedWithYou => "strength.suggestion.your-years",
        S::AvoidDatesAndYearsThatAreAssociatedWithYou => "strength.suggestion.your-dates",
    }
}

#[cfg(test)]
mod tests;
