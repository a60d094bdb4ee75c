//! The account's personal data ([`Subject`], [`PersonalField`]) and the "derived from the person" test.
//!
//! Owns how names are folded for comparison: NFKD, combining marks dropped (so "Zoë" matches
//! "zoe"), lowercase, common separators removed (so "jean-pierre" matches "JeanPierre" and
//! "jean.pierre"). Pieces shorter than [`MIN_WORD_CHARS`] are ignored, otherwise initials and
//! two-letter names would refuse half of all passwords. Must not do I/O.

use serde::{Deserialize, Serialize};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Pieces of personal data shorter than this (in characters, after folding) are ignored.
pub const MIN_WORD_CHARS: usize = 3;

/// Which piece of personal data a password contained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PersonalField {
    Login,
    GivenName,
    Surname,
    MailLocalPart,
}

/// The person whose password is being checked, as the directory knows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub login: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// Used only by the strength estimate, not by the personal-data rule (the choice:
    /// a display name is usually the given name and surname, which are already covered).
    pub display_name: Option<String>,
    /// Every mail address; the local part (before the last `@`) is what counts.
    pub mail: Vec<String>,
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || ".-_'’,@+/\\|:;".contains(c)
}

/// Folds text for personal-data comparison (see the module doc).
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| !is_separator(*c))
        .collect()
}

fn mail_local_part(mail: &str) -> &str {
    mail.rsplit_once('@').map_or(mail, |(local, _)| local)
}

/// The folded forms of one field: the whole value and each separator-delimited piece, each at
/// least [`MIN_WORD_CHARS`] long. "Jean-Pierre" gives "jeanpierre", "jean", "pierre".
fn folded_words(value: &str) -> Vec<String> {
    let mut words = vec![fold(value)];
    words.extend(value.split(is_separator).map(fold));
    words.retain(|w| w.chars().count() >= MIN_WORD_CHARS);
    words.sort_unstable();
    words.dedup();
    words
}

impl Subject {
    /// The fields the personal-data rule looks at, with their folded words.
    fn forbidden_words(&self) -> Vec<(PersonalField, Vec<String>)> {
        let mut out = vec![(PersonalField::Login, folded_words(&self.login))];
        if let Some(g) = &self.given_name {
            out.push((PersonalField::GivenName, folded_words(g)));
        }
        if let Some(s) = &self.surname {
            out.push((PersonalField::Surname, folded_words(s)));
        }
        for mail in &self.mail {
            out.push((PersonalField::MailLocalPart, folded_words(mail_local_part(mail))));
        }
        out
    }

    /// Words for zxcvbn's user-input dictionary: every field as written (NFKC, lowercase) and
    /// folded, whole and in pieces, plus the configured context words.
    pub fn strength_inputs(&self, context_words: &[String]) -> Vec<String> {
        let mut raw: Vec<&str> = vec![&self.login];
        raw.extend(self.given_name.as_deref());
        raw.extend(self.surname.as_deref());
        raw.extend(self.display_name.as_deref());
        raw.extend(self.mail.iter().map(|m| mail_local_part(m)));
        raw.extend(context_words.iter().map(String::as_str));
        let mut out = Vec::new();
        for value in raw {
            out.push(value.nfkc().collect::<String>().to_lowercase());
            out.extend(
                value
                    .split(is_separator)
                    .map(|p| p.nfkc().collect::<String>().to_lowercase()),
            );
            out.extend(folded_words(value));
        }
        out.retain(|w| !w.is_empty());
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The personal-data fields `password` contains, in field order, each once. Empty when none.
pub fn personal_data_in(password: &str, subject: &Subject) -> Vec<PersonalField> {
    let folded = fold(password);
    let mut found: Vec<PersonalField> = subject
        .forbidden_words()
        .into_iter()
        .filter(|(_, words)| words.iter().any(|w| folded.contains(w.as_str())))
        .map(|(field, _)| field)
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use PersonalField::*;

    fn zoe() -> Subject {
        Subject {
            login: "zangstrom".into(),
            given_name: Some("Zoë".into()),
            surname: Some("Ångström".into()),
            display_name: Some("Zoë Ångström".into()),
            mail: vec!["zoe.angstrom@example.org".into(), "z.a@example.org".into()],
        }
    }

    fn check(password: &str, expected: &[PersonalField]) {
        assert_eq!(personal_data_in(password, &zoe()), expected, "{password:?}");
    }

    #[test]
    fn personal_data_table() {
        check("", &[]);
        check("correct horse battery staple", &[]);
        check("zangstrom-is-my-login", &[Login, Surname, MailLocalPart]); // the login holds the surname
        check("jdoe was here for a while", &[]);
        check("ZANGSTROM", &[Login, Surname, MailLocalPart]);
        // Precomposed, decomposed and unaccented spellings all match.
        check("I am Zoë and that is that", &[GivenName, MailLocalPart]);
        check("I am Zoe\u{308} and that is that", &[GivenName, MailLocalPart]);
        check("i am zoe and that is that", &[GivenName, MailLocalPart]);
        check("Ångström rules the world", &[Surname, MailLocalPart]);
        check("A\u{30a}ngstro\u{308}m", &[Surname, MailLocalPart]);
        check("a.n.g.s.t.r.o.m", &[Surname, MailLocalPart]);
        check("my zangstrom login", &[Login, Surname, MailLocalPart]);
        // Fullwidth letters fold through NFKD.
        check("ＺＯＥ is here", &[GivenName, MailLocalPart]);
        // "z.a" folds to "za": under 3 characters, ignored; "ng" is not a word of ours.
        check("pizza with anchovies", &[]);
    }

    fn check_words(value: &str, expected: &[&str]) {
        assert_eq!(folded_words(value), expected, "{value:?}");
    }

    #[test]
    fn folded_words_table() {
        check_words("Jean-Pierre", &["jean", "jeanpierre", "pierre"]);
        check_words("Müller", &["muller"]);
        check_words("Li", &[]);
        check_words("O'Brien", &["brien", "obrien"]);
        check_words("", &[]);
        check_words("van der Berg", &["berg", "der", "van", "vanderberg"]);
    }

    #[test]
    fn mueller_matches_with_and_without_umlaut() {
        let s = Subject {
            login: "hmueller".into(),
            surname: Some("Müller".into()),
            ..Subject::default()
        };
        assert_eq!(personal_data_in("Müller-forever-and-ever", &s), vec![Surname]);
        assert_eq!(personal_data_in("muller forever and ever", &s), vec![Surname]);
        assert_eq!(personal_data_in("HMueller2025!", &s), vec![Login]);
    }

    #[test]
    fn strength_inputs_cover_fields_and_context() {
        let inputs = zoe().strength_inputs(&["Acme".to_string()]);
        for w in [
            "zangstrom",
            "zoë",
            "zoe",
            "ångström",
            "angstrom",
            "acme",
            "zoe.angstrom",
        ] {
            assert!(inputs.iter().any(|i| i == w), "{w} missing from {inputs:?}");
        }
    }
}
