//! A directory's own password rules, as far as they compare with pwresetd's `[policy]`, and the
//! warning when the directory is stricter: users would then pass the portal's checks and see the
//! directory refuse the password. Pure.

use super::Warning;
use crate::directory::config::PolicyFloor;

/// A directory password policy's rules, in the terms of [`PolicyFloor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryRules {
    /// Where the rules come from, for the message ("the domain policy of DC=example,DC=org").
    pub source: String,
    pub min_length: u32,
    /// Character classes (lowercase, uppercase, digit, other) required; 0 = none.
    pub min_character_classes: u8,
    /// How many earlier passwords the directory refuses to take back; 0 = none.
    pub history: u32,
    /// Extra words for the class requirement (AD: "and no part of the account name").
    pub class_note: &'static str,
}

impl DirectoryRules {
    /// A warning when these rules refuse passwords `floor` lets through.
    pub fn stricter_than(&self, floor: &PolicyFloor) -> Option<Warning> {
        let mut reasons = Vec::new();
        if self.min_length > floor.min_length {
            reasons.push(format!(
                "it requires at least {} characters, policy.min_length is {}",
                self.min_length, floor.min_length
            ));
        }
        if self.min_character_classes > floor.min_character_classes {
            let local = match floor.min_character_classes {
                0 => "not set".to_owned(),
                n => n.to_string(),
            };
            reasons.push(format!(
                "it requires {} of the 4 character classes{}, policy.min_character_classes is {local}",
                self.min_character_classes, self.class_note
            ));
        }
        if reasons.is_empty() {
            return None;
        }
        let history = match self.history {
            0 => String::new(),
            n => format!(
                " It also refuses the last {n} password(s) of the account{}.",
                if floor.history == 0 {
                    " (policy.history is 0)"
                } else {
                    ""
                }
            ),
        };
        Some(Warning::advisory(format!(
            "{} is stricter than pwresetd's [policy]: {}. Users would pass the portal's checks and \
                 then see the directory refuse their password; raise [policy] to match.{history}",
            self.source,
            reasons.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(min_length: u32, classes: u8, history: u32) -> DirectoryRules {
        DirectoryRules {
            source: "the domain policy".into(),
            min_length,
            min_character_classes: classes,
            history,
            class_note: "",
        }
    }

    #[test]
    fn warns_only_when_the_directory_is_stricter() {
        let floor = |min_length, min_character_classes| PolicyFloor {
            min_length,
            min_character_classes,
            history: 5,
        };
        let table = [
            (rules(7, 0, 3), floor(15, 0), None),
            (rules(7, 3, 3), floor(15, 3), None),
            (rules(7, 3, 3), floor(15, 0), Some("3 of the 4 character classes")),
            (
                rules(16, 0, 0),
                floor(15, 4),
                Some("at least 16 characters, policy.min_length is 15"),
            ),
            (rules(8, 3, 0), floor(6, 2), Some("at least 8 characters")),
        ];
        for (r, f, want) in table {
            let got = r.stricter_than(&f).map(|w| w.message);
            match want {
                None => assert_eq!(got, None, "{r:?}"),
                Some(fragment) => assert!(got.as_deref().is_some_and(|m| m.contains(fragment)), "{got:?}"),
            }
        }
        let m = rules(7, 3, 3).stricter_than(&floor(15, 0)).unwrap().message;
        assert!(m.contains("last 3 password(s)"), "{m}");
    }
}
