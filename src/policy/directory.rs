//! A directory's own password rules, as data: [`DirectoryRules`]. The directory flavour fills it
//! (it knows where the rules live: the AD domain root or a PSO, a ppolicy entry, 389-DS's
//! `cn=config` or a local policy); [`super::Effective`] applies it as a floor under `[policy]`,
//! so that the portal refuses, before anything is written, what the directory would refuse.
//!
//! Owns how each directory counts character categories and what it calls "part of the account
//! name", and the one rule that makes the floor safe: every check here looks at the password
//! exactly as typed (that is what the directory receives, not its NFKC form), and where a
//! directory counts differently from pwresetd the count chosen refuses at least what the
//! directory refuses. Pure: no directory import, no I/O.

use serde::Serialize;

use super::personal::Subject;

/// What a directory's password policy demands, in terms the policy engine can check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DirectoryRules {
    /// Where the rules come from, as shown to administrators ("the AD domain policy of
    /// DC=example,DC=org", "the password settings object CN=…", "the ppolicy entry cn=…").
    pub source: String,
    /// Minimum length, in code points of the typed text (0: none). Directories that count bytes
    /// (ppolicy) or UTF-16 units (AD) never count fewer, so this refuses at least what they do.
    pub min_length: u32,
    /// Characters of at least this many categories, counted the directory's way.
    pub categories: Option<Categories>,
    /// Refuses passwords containing the account's name, the directory's way.
    pub names: Option<NameRule>,
    /// How many earlier passwords the directory refuses to take back (0: none).
    pub history: u32,
    /// How long after a change the directory refuses the next one (0: no minimum age). Shown,
    /// never applied: every change pwresetd makes is one a campaign forces (see [`super::Effective`]).
    pub min_age_secs: u64,
    /// The directory's rules pwresetd does not check, each named with its value
    /// (`passwordMinDigits 2`), so that an administrator sees them.
    pub unchecked: Vec<String>,
}

/// A minimum number of character categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Categories {
    pub min: u8,
    pub scheme: CategoryScheme,
}

/// How a directory sorts characters into categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryScheme {
    /// Active Directory's complexity: uppercase letters, lowercase letters, the digits 0-9,
    /// the symbols `` ~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/ ``, and letters without case (e.g. CJK).
    /// A space, and any other character, counts for none (measured on Samba 4.17; Windows
    /// documents the same lists). Samba also counts any non-ASCII character without case, such
    /// as `€`; Windows only letters: the stricter Windows reading is taken.
    ActiveDirectory,
    /// 389-DS (`passwordMinCategories`): ASCII uppercase, ASCII lowercase, ASCII digits, any
    /// other ASCII character (a space included), any non-ASCII character.
    Ds389,
}

/// What a directory counts as containing the account's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameRule {
    /// Active Directory's complexity (as Windows documents it; Samba 4.17 does not check it):
    /// the account name whole when it has 3 characters or more, and each part of the display
    /// name (split at `, . - _ # ` space and tab) of 3 characters or more, ignoring case.
    ActiveDirectory,
    /// 389-DS (`passwordMinTokenLength`): a whole value of the login, the names or a mail
    /// address, when longer than `min_token` characters, ignoring case.
    Ds389 { min_token: u32 },
}

/// The AD symbols that count as a category.
const AD_SYMBOLS: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";
/// Where Windows splits a display name into parts.
const AD_NAME_DELIMITERS: &[char] = &[',', '.', '-', '_', '#', ' ', '\t'];
/// Parts of an AD name shorter than this are ignored.
const AD_MIN_NAME_PART: usize = 3;

/// The password's length as the directory's floor counts it: code points of the typed text.
pub(super) fn length(typed: &str) -> usize {
    typed.chars().count()
}

/// How many categories of `scheme` the typed password uses.
pub(super) fn categories(typed: &str, scheme: CategoryScheme) -> u8 {
    let mut seen = [false; 5];
    for c in typed.chars() {
        let category = match scheme {
            CategoryScheme::ActiveDirectory => ad_category(c),
            CategoryScheme::Ds389 => Some(ds389_category(c)),
        };
        if let Some(i) = category {
            seen[i] = true;
        }
    }
    seen.into_iter().map(u8::from).sum()
}

/// 0 uppercase, 1 lowercase, 2 digit, 3 symbol, 4 letter without case; `None`: no category.
fn ad_category(c: char) -> Option<usize> {
    if c.is_ascii() {
        return match c {
            'A'..='Z' => Some(0),
            'a'..='z' => Some(1),
            '0'..='9' => Some(2),
            _ if AD_SYMBOLS.contains(c) => Some(3),
            _ => None,
        };
    }
    if c.is_uppercase() {
        Some(0)
    } else if c.is_lowercase() {
        Some(1)
    } else if c.is_alphabetic() {
        Some(4)
    } else {
        None
    }
}

/// 389-DS's pw.c: ASCII letters by case, ASCII digits, other ASCII, non-ASCII.
fn ds389_category(c: char) -> usize {
    match c {
        'A'..='Z' => 0,
        'a'..='z' => 1,
        '0'..='9' => 2,
        _ if c.is_ascii() => 3,
        _ => 4,
    }
}

/// Whether the typed password contains the account's name under `rule`.
pub(super) fn contains_name(typed: &str, subject: &Subject, rule: NameRule) -> bool {
    let password = typed.to_lowercase();
    let found = |value: &str| password.contains(&value.to_lowercase());
    match rule {
        NameRule::ActiveDirectory => {
            // The sAMAccountName; a UPN login stands for it by its part before the `@`.
            let account = subject.login.split('@').next().unwrap_or_default();
            let account_found = account.chars().count() >= AD_MIN_NAME_PART && found(account);
            let parts = subject.display_name.iter().flat_map(|d| d.split(AD_NAME_DELIMITERS));
            account_found || parts.filter(|p| p.chars().count() >= AD_MIN_NAME_PART).any(found)
        }
        NameRule::Ds389 { min_token } => {
            let values = [&subject.given_name, &subject.surname, &subject.display_name];
            std::iter::once(subject.login.as_str())
                .chain(values.into_iter().flatten().map(String::as_str))
                .chain(subject.mail.iter().map(String::as_str))
                .filter(|v| v.chars().count() > min_token as usize)
                .any(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_categories(typed: &str, ad: u8, ds389: u8) {
        assert_eq!(categories(typed, CategoryScheme::ActiveDirectory), ad, "AD {typed:?}");
        assert_eq!(categories(typed, CategoryScheme::Ds389), ds389, "389 {typed:?}");
    }

    /// The AD column was measured on Samba 4.17 (accepted with 3 or more, refused below),
    /// except where noted.
    #[test]
    fn categories_table() {
        check_categories("correct horse battery staple", 1, 2); // AD refused: a space is nothing
        check_categories("Correct horse battery staple", 2, 3); // AD refused
        check_categories("Correct horse battery 7staple", 3, 4); // AD accepted
        check_categories("Correct horse batter y staple!", 3, 3); // AD accepted
        check_categories("ab 12 cdef", 2, 3); // AD refused
        check_categories("ABC ÄÖÜ 123", 2, 4); // AD refused: Ä is uppercase, not another category
        check_categories("abc~def1", 3, 3); // AD accepted
        check_categories("abc¡def1", 2, 3); // Samba accepted (¡ counts there), Windows would not
        check_categories("abc€€€€1", 2, 3); // Samba accepted, Windows would not
        check_categories("abc日本1xyz", 3, 3); // AD accepted: 日 is a letter without case
        check_categories("ΑΒΓαβγ12", 3, 2); // AD accepted: Greek has case; 389: non-ASCII
        check_categories("abcdef١٢", 1, 2); // AD refused: Arabic-Indic digits are not 0-9
        check_categories("", 0, 0);
    }

    fn subject(login: &str, display: &str) -> Subject {
        Subject {
            login: login.into(),
            given_name: Some("Test".into()),
            surname: Some("User001".into()),
            display_name: Some(display.into()),
            mail: vec!["user001@example.org".into()],
        }
    }

    fn check_name(typed: &str, rule: NameRule, expected: bool) {
        let s = subject("user001", "Test User-001");
        assert_eq!(contains_name(typed, &s, rule), expected, "{typed:?} {rule:?}");
    }

    #[test]
    fn names_table() {
        let ad = NameRule::ActiveDirectory;
        check_name("xUSER001x-Ab1", ad, true);
        check_name("Zebra-Yak-7-Quasar", ad, false);
        check_name("Testing the 7 seas!", ad, true); // "Test", a display-name part
        check_name("my user is Ab1!", ad, true); // "User", a part
        check_name("00 1 Ab1! zz", ad, false); // "001" is a part, not here whole
        check_name("Ab1!001x", ad, true);
        let ds = NameRule::Ds389 { min_token: 3 };
        check_name("xUSER001x-Ab1", ds, true); // the login, whole
        check_name("Testing the 7 seas!", ds, true); // the given name "Test" (4 > 3)
        check_name("my user is Ab1!", ds, false); // 389 looks at whole values only
        check_name("mail user001@example.org!", ds, true);
        let long = NameRule::Ds389 { min_token: 4 };
        check_name("Testing the 7 seas!", long, false); // "Test" is not longer than 4
        // A UPN login stands for the account name by its part before the @.
        let upn = subject("jdoe@example.org", "");
        assert!(contains_name("I am JDOE 7!", &upn, ad));
        assert!(!contains_name(
            "I am JDO 7!",
            &subject("jdo", ""),
            NameRule::Ds389 { min_token: 3 }
        ));
    }
}
