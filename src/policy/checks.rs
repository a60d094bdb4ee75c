//! The rules that look only at the (NFKC-normalised) password text: length, strength,
//! character classes, repeats, distinct characters.
//!
//! Each function is pure and takes the normalised text; none sees the raw input, the
//! directory or a file. Must not build messages (no module of the policy does).

use std::collections::HashSet;

use super::rules::{StrengthSuggestion, StrengthWarning};

/// Length in Unicode code points, as the policy counts it.
pub fn length(normalised: &str) -> usize {
    normalised.chars().count()
}

/// zxcvbn's estimate of a password: its score (0-4) and, when weak, its warning and first
/// suggestion, as ids (they never quote the password).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub score: u8,
    pub warning: Option<StrengthWarning>,
    pub suggestion: Option<StrengthSuggestion>,
}

/// zxcvbn's [`Estimate`]. zxcvbn itself only looks at the first 100 characters, which bounds
/// the cost of huge inputs.
pub fn strength(normalised: &str, user_inputs: &[String]) -> Estimate {
    let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(normalised, &inputs);
    let feedback = entropy.feedback();
    Estimate {
        score: u8::from(entropy.score()),
        warning: feedback.and_then(|f| f.warning()),
        suggestion: feedback.and_then(|f| f.suggestions().first().copied()),
    }
}

/// Character classes for `min_character_classes`. Letters without case (e.g. CJK) count as
/// "other", like symbols and spaces: the rule is about keyboard variety, not alphabets.
pub fn character_classes(normalised: &str) -> u8 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in normalised.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            other = true;
        }
    }
    [lower, upper, digit, other].into_iter().map(u8::from).sum()
}

/// Length of the longest run of one repeated code point ("baaad" gives 3).
pub fn longest_run(normalised: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut previous = None;
    for c in normalised.chars() {
        run = if previous == Some(c) { run + 1 } else { 1 };
        previous = Some(c);
        longest = longest.max(run);
    }
    longest
}

/// Number of distinct code points.
pub fn unique_characters(normalised: &str) -> usize {
    normalised.chars().collect::<HashSet<char>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (length, classes, longest run, unique)
    fn check(input: &str, expected: (usize, u8, usize, usize)) {
        let got = (
            length(input),
            character_classes(input),
            longest_run(input),
            unique_characters(input),
        );
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn text_measures_table() {
        check("", (0, 0, 0, 0));
        check("a", (1, 1, 1, 1));
        check("aaa", (3, 1, 3, 1));
        check("baaad", (5, 1, 3, 3));
        check("Ab1!", (4, 4, 1, 4));
        check("Zoë Ångström", (12, 3, 1, 12));
        check("パスワード", (5, 1, 1, 5));
        check("١٢٣", (3, 1, 1, 3)); // Arabic-Indic digits are digits
        check("ßßß", (3, 1, 3, 1));
        check("e\u{301}", (2, 2, 1, 2)); // a combining mark is "other" when not normalised away
    }

    fn check_strength(input: &str, inputs: &[&str], expected_at_least: u8, expected_at_most: u8) {
        let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        let score = strength(input, &inputs).score;
        assert!(
            (expected_at_least..=expected_at_most).contains(&score),
            "{input:?} scored {score}"
        );
    }

    #[test]
    fn strength_table() {
        check_strength("", &[], 0, 0);
        check_strength("password", &[], 0, 0);
        check_strength("correct horse battery staple violet", &[], 4, 4);
        // A user input makes its own name weak.
        check_strength("jdoejdoe", &["jdoe"], 0, 1);
        check_strength("Tr0ub4dor&3-lamp-quilt-ferry", &[], 3, 4);
    }

    #[test]
    fn weak_password_gets_a_hint() {
        let estimate = strength("password", &[]);
        assert_eq!(estimate.warning, Some(StrengthWarning::ThisIsATop10Password));
        assert_eq!(estimate.suggestion, Some(StrengthSuggestion::AddAnotherWordOrTwo));
    }
}
