use super::*;
use crate::policy::{StrengthSuggestion as S, StrengthWarning as W};

/// Every reason, with the position an exhaustive match gives it: a new variant does not compile
/// until it is listed here (and so rendered in every language below).
fn all_reasons() -> Vec<Reason> {
    let scheme = CategoryScheme::ActiveDirectory;
    let reasons = vec![
        Reason::TooShort { min: 12 },
        Reason::TooLong { max: 128 },
        Reason::TooWeak {
            warning: None,
            suggestion: None,
        },
        Reason::PersonalData {
            fields: vec![PersonalField::Login, PersonalField::GivenName, PersonalField::Surname],
        },
        Reason::Denylisted,
        Reason::Breached { count: 3_421 },
        Reason::Reused,
        Reason::SameAsCurrent,
        Reason::TooFewCharacterClasses { min: 3 },
        Reason::TooManyRepeatedCharacters { max: 2 },
        Reason::TooFewUniqueCharacters { min: 8 },
        Reason::TooFewCharacterCategories { min: 3, scheme },
        Reason::AccountName {
            rule: NameRule::ActiveDirectory,
        },
        Reason::AccountName {
            rule: NameRule::Ds389 { min_token: 3 },
        },
    ];
    let position = |r: &Reason| match r {
        Reason::TooShort { .. } => 0,
        Reason::TooLong { .. } => 1,
        Reason::TooWeak { .. } => 2,
        Reason::PersonalData { .. } => 3,
        Reason::Denylisted => 4,
        Reason::Breached { .. } => 5,
        Reason::Reused => 6,
        Reason::SameAsCurrent => 7,
        Reason::TooFewCharacterClasses { .. } => 8,
        Reason::TooManyRepeatedCharacters { .. } => 9,
        Reason::TooFewUniqueCharacters { .. } => 10,
        Reason::TooFewCharacterCategories { .. } => 11,
        Reason::AccountName { .. } => 12,
    };
    let mut seen: Vec<usize> = reasons.iter().map(position).collect();
    seen.dedup();
    assert_eq!(seen, (0..=12).collect::<Vec<_>>(), "every Reason is listed");
    reasons
}

fn all_requirements() -> Vec<Requirement> {
    let mut all = vec![
        Requirement::MinLength { min: 15 },
        Requirement::MaxLength { max: 128 },
        Requirement::MinStrength {
            score: 3,
            advice: Strength::WithAdvice,
        },
        Requirement::MinStrength {
            score: 3,
            advice: Strength::Plain,
        },
        Requirement::NoPersonalData,
        Requirement::NotDenylisted,
        Requirement::NotBreached,
        Requirement::History { count: 5 },
        Requirement::DiffersFromCurrent,
        Requirement::CharacterClasses { min: 3 },
        Requirement::MaxRepeated { max: 2 },
        Requirement::UniqueCharacters { min: 8 },
        Requirement::AccountName {
            rule: NameRule::ActiveDirectory,
        },
        Requirement::AccountName {
            rule: NameRule::Ds389 { min_token: 3 },
        },
    ];
    for scheme in [CategoryScheme::ActiveDirectory, CategoryScheme::Ds389] {
        all.push(Requirement::CharacterCategories { min: 3, scheme });
    }
    let position = |r: &Requirement| match r {
        Requirement::MinLength { .. } => 0,
        Requirement::MaxLength { .. } => 1,
        Requirement::MinStrength { .. } => 2,
        Requirement::NoPersonalData => 3,
        Requirement::NotDenylisted => 4,
        Requirement::NotBreached => 5,
        Requirement::History { .. } => 6,
        Requirement::DiffersFromCurrent => 7,
        Requirement::CharacterClasses { .. } => 8,
        Requirement::MaxRepeated { .. } => 9,
        Requirement::UniqueCharacters { .. } => 10,
        Requirement::AccountName { .. } => 11,
        Requirement::CharacterCategories { .. } => 12,
    };
    let mut seen: Vec<usize> = all.iter().map(position).collect();
    seen.dedup();
    assert_eq!(seen, (0..=12).collect::<Vec<_>>(), "every Requirement is listed");
    // Both plural forms of every counted rule.
    all.extend([
        Requirement::MinLength { min: 1 },
        Requirement::MaxLength { max: 1 },
        Requirement::History { count: 1 },
        Requirement::MaxRepeated { max: 1 },
    ]);
    all
}

const WARNINGS: [W; 14] = [
    W::StraightRowsOfKeysAreEasyToGuess,
    W::ShortKeyboardPatternsAreEasyToGuess,
    W::RepeatsLikeAaaAreEasyToGuess,
    W::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess,
    W::ThisIsATop10Password,
    W::ThisIsATop100Password,
    W::ThisIsACommonPassword,
    W::ThisIsSimilarToACommonlyUsedPassword,
    W::SequencesLikeAbcAreEasyToGuess,
    W::RecentYearsAreEasyToGuess,
    W::AWordByItselfIsEasyToGuess,
    W::DatesAreOftenEasyToGuess,
    W::NamesAndSurnamesByThemselvesAreEasyToGuess,
    W::CommonNamesAndSurnamesAreEasyToGuess,
];

const SUGGESTIONS: [S; 13] = [
    S::UseAFewWordsAvoidCommonPhrases,
    S::NoNeedForSymbolsDigitsOrUppercaseLetters,
    S::AddAnotherWordOrTwo,
    S::CapitalizationDoesntHelpVeryMuch,
    S::AllUppercaseIsAlmostAsEasyToGuessAsAllLowercase,
    S::ReversedWordsArentMuchHarderToGuess,
    S::PredictableSubstitutionsDontHelpVeryMuch,
    S::UseALongerKeyboardPatternWithMoreTurns,
    S::AvoidRepeatedWordsAndCharacters,
    S::AvoidSequences,
    S::AvoidRecentYears,
    S::AvoidYearsThatAreAssociatedWithYou,
    S::AvoidDatesAndYearsThatAreAssociatedWithYou,
];

const REFUSALS: [Refusal; 12] = [
    Refusal::NotPrepared,
    Refusal::UsedBefore,
    Refusal::TooRecent,
    Refusal::SameAsCurrent,
    Refusal::TooShort { min: None },
    Refusal::TooShort { min: Some(7) },
    Refusal::TooWeak,
    Refusal::NotComplex,
    Refusal::InsufficientQuality,
    Refusal::Unspecified,
    Refusal::DomainRules,
    Refusal::WeakOrRecent,
];

/// Every text of every id, in `lang`, with the keys the catalogue lacked.
fn everything_in(lang: &str) -> (Vec<String>, Vec<String>) {
    let mut say = Say::new(lang);
    let mut texts: Vec<String> = all_reasons().iter().map(|r| say.reason(r)).collect();
    texts.extend(all_requirements().iter().map(|r| say.requirement(r)));
    for advice in [Advice::Words, Advice::WordsForActiveDirectory, Advice::WordsForDs389] {
        texts.push(say.key(advice_key(advice), &[]));
    }
    // zxcvbn's ids: no duplicate in the lists (the exhaustive matches in `warning_key` and
    // `suggestion_key` keep the mapping whole; distinct keys show each is listed once).
    let mut keys: Vec<&str> = WARNINGS.iter().map(|w| warning_key(*w)).collect();
    keys.extend(SUGGESTIONS.iter().map(|s| suggestion_key(*s)));
    let distinct: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(distinct.len(), WARNINGS.len() + SUGGESTIONS.len());
    for w in WARNINGS {
        texts.push(say.reason(&Reason::TooWeak {
            warning: Some(w),
            suggestion: None,
        }));
    }
    for s in SUGGESTIONS {
        texts.push(say.reason(&Reason::TooWeak {
            warning: None,
            suggestion: Some(s),
        }));
    }
    texts.extend(REFUSALS.iter().map(|r| say.refusal(*r)));
    texts.push(say.reason(&Reason::TooShort { min: 1 }));
    texts.push(say.reason(&Reason::Breached { count: 1 }));
    (texts, say.missing)
}

#[test]
fn every_id_has_words_in_every_language() {
    let catalogues = lang::catalogues().unwrap();
    for tag in catalogues.tags() {
        let (texts, missing) = everything_in(tag);
        assert!(missing.is_empty(), "{tag}.toml lacks {missing:?}");
        for text in &texts {
            assert!(!text.contains('{') && !text.trim().is_empty(), "{tag}: {text:?}");
        }
        if tag != FALLBACK {
            let (english, _) = everything_in(FALLBACK);
            let same: Vec<_> = texts.iter().zip(&english).filter(|(t, e)| t == e).collect();
            assert!(same.is_empty(), "{tag} says these in English: {same:?}");
        }
    }
}

fn check(lang: &str, got: String, expected: &str) {
    assert_eq!(got, expected, "{lang}");
}

#[test]
fn english_words() {
    let en = FALLBACK;
    check(
        en,
        reason(en, &Reason::TooShort { min: 15 }),
        "Use at least 15 characters.",
    );
    check(
        en,
        reason(en, &Reason::Breached { count: 3_421 }),
        "This password has appeared 3,421 times in known data breaches. Choose another.",
    );
    check(
        en,
        reason(en, &Reason::Breached { count: 1 }),
        "This password has appeared 1 time in known data breaches. Choose another.",
    );
    check(
        en,
        reason(
            en,
            &Reason::PersonalData {
                fields: vec![PersonalField::Login, PersonalField::GivenName, PersonalField::Surname],
            },
        ),
        "This password contains your username, your first name or your last name. \
         Choose one that does not include your name, username or email address.",
    );
    check(
        en,
        english(&Reason::TooWeak {
            warning: Some(W::ThisIsATop10Password),
            suggestion: Some(S::AddAnotherWordOrTwo),
        }),
        "This password would be too easy to guess. This is a top-10 common password. \
         Add another word or two. Uncommon words are better.",
    );
    check(
        en,
        requirement(en, &Requirement::History { count: 1 }),
        "Not your previous password",
    );
    check(
        en,
        requirement(en, &Requirement::UniqueCharacters { min: 1_000 }),
        "At least 1,000 different characters",
    );
    check(
        en,
        refusal(en, Refusal::TooShort { min: Some(7) }),
        "The directory requires at least 7 characters. Choose a longer password.",
    );
}

#[test]
fn french_words() {
    let fr = "fr";
    check(
        fr,
        reason(fr, &Reason::TooShort { min: 12 }),
        "Le mot de passe doit contenir au moins 12 caractères.",
    );
    check(
        fr,
        reason(fr, &Reason::Breached { count: 3_421 }),
        "Ce mot de passe est apparu 3\u{a0}421 fois dans des fuites de données connues. Choisissez-en un autre.",
    );
    check(
        fr,
        reason(
            fr,
            &Reason::PersonalData {
                fields: vec![PersonalField::GivenName, PersonalField::Surname],
            },
        ),
        "Ce mot de passe contient votre prénom ou votre nom. Choisissez-en un qui ne contienne ni votre nom, \
         ni votre identifiant, ni votre adresse électronique.",
    );
    check(
        fr,
        requirement(fr, &Requirement::MinLength { min: 1 }),
        "Au moins 1 caractère",
    );
    check(
        fr,
        refusal(fr, Refusal::UsedBefore),
        "Vous avez déjà utilisé ce mot de passe. Choisissez-en un que vous n’avez jamais utilisé ici.",
    );
    check(
        fr,
        advice(fr, Advice::Words),
        "Quelques mots sans rapport entre eux, séparés par des espaces, font un mot de passe long, facile à \
         taper et à retenir.",
    );
}

/// A language the portal does not have: English, like every other page.
#[test]
fn an_unknown_language_is_english() {
    assert_eq!(reason("de", &Reason::Reused), reason(FALLBACK, &Reason::Reused));
}
