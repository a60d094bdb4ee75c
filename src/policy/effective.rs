//! The effective policy: pwresetd's `[policy]` with the directory's own rules
//! ([`DirectoryRules`]) as a floor, rule by rule the stricter of the two. What the portal
//! checks and lists, what `policy show` and the preflight print, with where each rule comes from.
//!
//! Merging: the minimum length and the history take the larger value (the history is compared
//! with the passwords set through pwresetd, which is all pwresetd can see: the directory's own
//! hashes are not readable, and the directory compares with them itself where its write path
//! does); the directory's character categories and account-name rule are added beside
//! `[policy]`'s own rules, counted the directory's way on the password as typed. The
//! directory's minimum age is shown and never applied: the portal only ever makes the change a
//! campaign forces (an account with no open campaign record has "nothing to do"), and a forced
//! change must not wait for the age; the directories skip it for such a change too (AD: the
//! account's `pwdLastSet` is 0, and both of pwresetd's writes skip it; ppolicy: `pwdReset` is
//! set; an administrative set skips it everywhere). Pure, like the rest of the module.

use super::directory::{self, DirectoryRules};
use super::rules::{PWRESETD, RuleDescription, RuleId, Verdict, Violation, message, text};
use super::{CheckError, CheckInput, MAX_HISTORY, Policy, checks, history, normalise, personal, secret};

/// `[policy]` with the directory's rules (when known) as a floor. Cheap: two references.
#[derive(Debug, Clone, Copy)]
pub struct Effective<'a> {
    policy: &'a Policy,
    directory: Option<&'a DirectoryRules>,
}

impl<'a> Effective<'a> {
    pub(super) fn new(policy: &'a Policy, directory: Option<&'a DirectoryRules>) -> Self {
        Effective { policy, directory }
    }

    /// The directory's rules taken into account, if any.
    pub fn directory(&self) -> Option<&'a DirectoryRules> {
        self.directory
    }

    fn directory_min_length(&self) -> u32 {
        self.directory.map_or(0, |d| d.min_length)
    }

    /// How many earlier passwords are refused (and kept in the store's history).
    pub fn history(&self) -> u32 {
        let local = self.policy.config().history;
        local.max(self.directory.map_or(0, |d| d.history)).min(MAX_HISTORY)
    }

    /// Checks every rule in force and returns every violation, in [`Effective::rules`] order.
    pub fn check(&self, input: &CheckInput<'_>) -> Result<Verdict, CheckError> {
        self.check_with_entry(input, None)
    }

    /// [`Effective::check`] reusing the caller's history hash of the candidate (see
    /// [`Policy::check_with_entry`]): one argon2id computation per submit.
    pub fn check_with_entry(&self, input: &CheckInput<'_>, entry: Option<&str>) -> Result<Verdict, CheckError> {
        let cfg = self.policy.config();
        let typed = input.password.expose();
        let pw = zeroize::Zeroizing::new(normalise(typed));
        let mut out = Vec::new();
        let mut refuse = |rule, message| out.push(Violation { rule, message });

        let min = cfg.min_length.max(self.directory_min_length());
        if checks::length(&pw) < cfg.min_length as usize
            || directory::length(typed) < self.directory_min_length() as usize
        {
            refuse(RuleId::TooShort, message::too_short(min));
        }
        if checks::length(&pw) > cfg.max_length as usize {
            refuse(RuleId::TooLong, message::too_long(cfg.max_length));
        }
        if cfg.min_strength > 0 {
            let inputs = input.subject.strength_inputs(&cfg.context_words);
            let (score, hint) = checks::strength(&pw, &inputs);
            if score < cfg.min_strength {
                refuse(RuleId::TooWeak, message::too_weak(hint));
            }
        }
        if cfg.forbid_personal_data {
            let fields = personal::personal_data_in(&pw, input.subject);
            if !fields.is_empty() {
                refuse(RuleId::ContainsPersonalData, message::contains_personal_data(&fields));
            }
        }
        if self.policy.denylisted(&pw) {
            refuse(RuleId::Denylisted, message::denylisted());
        }
        if let Some(count) = self.policy.breach_count(typed, &pw)? {
            refuse(RuleId::Breached, message::breached(count));
        }
        let keep = self.history();
        if keep > 0 && history::is_reused(&pw, input.history, keep as usize, entry)? {
            refuse(RuleId::Reused, message::reused());
        }
        if cfg.differs_from_current
            && input.current.is_some_and(|c| {
                let current = zeroize::Zeroizing::new(normalise(c.expose()));
                secret::constant_time_eq(current.as_bytes(), pw.as_bytes())
            })
        {
            refuse(RuleId::SameAsCurrent, message::same_as_current());
        }
        self.policy.check_optional(&pw, &mut refuse);
        self.check_directory(typed, input, &mut refuse);
        Ok(Verdict::new(out))
    }

    /// The directory's own composition rules, on the password as typed.
    fn check_directory(&self, typed: &str, input: &CheckInput<'_>, refuse: &mut impl FnMut(RuleId, String)) {
        let Some(d) = self.directory else { return };
        if let Some(c) = d.categories.filter(|c| directory::categories(typed, c.scheme) < c.min) {
            refuse(
                RuleId::TooFewCharacterCategories,
                message::too_few_character_categories(c.min, c.scheme),
            );
        }
        if let Some(rule) = d.names.filter(|r| directory::contains_name(typed, input.subject, *r)) {
            refuse(RuleId::ContainsAccountName, message::contains_account_name(rule));
        }
    }

    /// The rules in force, in check order, with the text a form shows before the user types
    /// and where each comes from.
    pub fn rules(&self) -> Vec<RuleDescription> {
        let cfg = self.policy.config();
        let directory_source = self.directory.map_or(PWRESETD, |d| d.source.as_str());
        let stricter = |directory_wins: bool| if directory_wins { directory_source } else { PWRESETD };
        let categories = self.directory.and_then(|d| d.categories);
        let mut rules = vec![(
            RuleId::TooShort,
            text::min_length(cfg.min_length.max(self.directory_min_length())),
            stricter(self.directory_min_length() > cfg.min_length),
        )];
        for (rule, text) in self.policy.local_rules() {
            let (text, source) = match rule {
                RuleId::TooShort => continue,
                RuleId::TooWeak if categories.is_some() => (text::min_strength_plain(cfg.min_strength), PWRESETD),
                RuleId::Reused => (text::history(self.history()), stricter(self.history() > cfg.history)),
                _ => (text, PWRESETD),
            };
            rules.push((rule, text, source));
        }
        if cfg.history == 0 && self.history() > 0 {
            let position = rules.iter().position(|r| r.0 > RuleId::Reused).unwrap_or(rules.len());
            rules.insert(
                position,
                (RuleId::Reused, text::history(self.history()), directory_source),
            );
        }
        if let Some(c) = categories {
            let text = text::character_categories(c.min, c.scheme);
            rules.push((RuleId::TooFewCharacterCategories, text, directory_source));
        }
        if let Some(rule) = self.directory.and_then(|d| d.names) {
            rules.push((RuleId::ContainsAccountName, text::account_name(rule), directory_source));
        }
        rules
            .into_iter()
            .map(|(rule, text, source)| RuleDescription {
                rule,
                text,
                source: source.to_owned(),
            })
            .collect()
    }

    /// The advice shown under the rules; never suggests what a rule in force refuses.
    pub fn advice(&self) -> String {
        let categories = self.directory.and_then(|d| d.categories);
        text::advice(categories.map(|c| (c.min, c.scheme)))
    }

    /// One line per rule, "TEXT (rule_id) — SOURCE", then what the directory asks and pwresetd
    /// does not apply or check: for `policy show` and the preflight.
    pub fn report(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rules()
            .iter()
            .map(|r| format!("{} ({}) — {}", r.text, r.rule, r.source))
            .collect();
        let Some(d) = self.directory else { return lines };
        if d.min_age_secs > 0 {
            lines.push(format!(
                "minimum age {} — {}: not applied, every change through pwresetd is one a campaign forces",
                text::age(d.min_age_secs),
                d.source
            ));
        }
        lines.extend(d.unchecked.iter().map(|u| {
            format!(
                "{u} — {}: not checked by pwresetd (the directory checks it on write)",
                d.source
            )
        }));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Categories, CategoryScheme, NameRule, Password, PolicyConfig, Subject};
    use super::*;
    use RuleId::*;

    /// A stock Active Directory domain: complexity, 7 characters, 24 remembered, one day.
    fn stock_ad() -> DirectoryRules {
        DirectoryRules {
            source: "the AD domain policy of DC=example,DC=org".into(),
            min_length: 7,
            categories: Some(Categories {
                min: 3,
                scheme: CategoryScheme::ActiveDirectory,
            }),
            names: Some(NameRule::ActiveDirectory),
            history: 24,
            min_age_secs: 86_400,
            unchecked: Vec::new(),
        }
    }

    fn subject() -> Subject {
        Subject {
            login: "zangstrom".into(),
            given_name: Some("Zoë".into()),
            surname: Some("Ångström".into()),
            display_name: Some("Zoë Ångström".into()),
            mail: vec!["zoe.angstrom@example.org".into()],
        }
    }

    fn lenient() -> PolicyConfig {
        PolicyConfig {
            min_length: 4,
            min_strength: 0,
            forbid_personal_data: false,
            ..PolicyConfig::default()
        }
    }

    fn check(
        config: PolicyConfig,
        directory: Option<&DirectoryRules>,
        password: &str,
        history: &[String],
        expected: &[RuleId],
    ) {
        let policy = Policy::from_parts(config, None, None);
        let (password, subject) = (Password::new(password), subject());
        let input = CheckInput {
            password: &password,
            current: None,
            history,
            subject: &subject,
        };
        let verdict = policy.effective(directory).check(&input).unwrap();
        assert_eq!(verdict.rule_ids(), expected, "{:?}", password.expose());
    }

    #[test]
    fn the_directory_floor_table() {
        let ad = stock_ad();
        let d = Some(&ad);
        let default = PolicyConfig::default;
        // What the stock domain refuses and the form used to advise: words alone.
        check(
            default(),
            d,
            "correct horse battery staple violet",
            &[],
            &[TooFewCharacterCategories],
        );
        check(default(), None, "correct horse battery staple violet", &[], &[]);
        check(default(), d, "Correct horse battery staple violet 7", &[], &[]);
        // The account name (the login here) and display-name parts, as AD refuses them.
        check(lenient(), d, "Zangstrom-Rules-7", &[], &[ContainsAccountName]);
        check(lenient(), d, "Ab1-Zoë-xyz", &[], &[ContainsAccountName]);
        check(lenient(), d, "Ab1-Zo-xyz", &[], &[]);
        // Length: the stricter minimum, the directory's counted on the typed text.
        check(lenient(), d, "Ab1-x", &[], &[TooShort]);
        check(lenient(), None, "Ab1-x", &[], &[]);
        // Six typed ligatures are twelve letters after NFKC, and six characters to AD.
        check(lenient(), d, "Ab1-\u{fb01}\u{fb01}", &[], &[TooShort]);
        check(lenient(), d, "Ab1-\u{fb01}\u{fb01}x", &[], &[]);
        // Every violation at once, in rule order.
        check(
            default(),
            d,
            "zangstrom",
            &[],
            &[
                TooShort,
                TooWeak,
                ContainsPersonalData,
                TooFewCharacterCategories,
                ContainsAccountName,
            ],
        );
    }

    #[test]
    fn the_history_is_the_longer_one() {
        // The 10th most recent password: outside [policy]'s 5, inside the domain's 24.
        let old: Vec<String> = (0..12u8)
            .map(|i| {
                let text = if i == 9 { "Old-Password-9x" } else { "Another-one-7x" };
                history::hash_with_salt(&Password::new(text), &[i; 16]).unwrap()
            })
            .collect();
        check(lenient(), None, "Old-Password-9x", &old, &[]);
        check(lenient(), Some(&stock_ad()), "Old-Password-9x", &old, &[Reused]);
        let policy = Policy::from_parts(lenient(), None, None);
        assert_eq!(policy.effective(None).history(), 5);
        assert_eq!(policy.effective(Some(&stock_ad())).history(), 24);
        let long = DirectoryRules {
            history: 30,
            ..stock_ad()
        };
        assert_eq!(policy.effective(Some(&long)).history(), MAX_HISTORY);
    }

    fn listed(config: PolicyConfig, directory: Option<&DirectoryRules>) -> Vec<(RuleId, String, String)> {
        let policy = Policy::from_parts(config, None, None);
        let rules = policy.effective(directory).rules();
        rules.into_iter().map(|r| (r.rule, r.text, r.source)).collect()
    }

    #[test]
    fn rules_with_their_sources() {
        let ad = stock_ad();
        let (local, domain) = (PWRESETD.to_owned(), ad.source.clone());
        let got = listed(PolicyConfig::default(), Some(&ad));
        let want = [
            (TooShort, "At least 15 characters", &local),
            (TooLong, "At most 128 characters", &local),
            (TooWeak, "Hard to guess (strength 3 out of 4 or better)", &local),
            (
                ContainsPersonalData,
                "Does not contain your name, username or email address",
                &local,
            ),
            (Reused, "Not one of your last 24 passwords", &domain),
            (SameAsCurrent, "Different from your current password", &local),
            (
                TooFewCharacterCategories,
                "At least 3 of: uppercase letters, lowercase letters, digits, symbols such as ! # % * - _ ? \
                 (a space does not count as a symbol)",
                &domain,
            ),
            (
                ContainsAccountName,
                "Does not contain your username, nor any part of your full name of 3 letters or more",
                &domain,
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(r, t, s)| (*r, t.to_string(), s.to_string()))
            .collect();
        assert_eq!(got, want);
        // A longer minimum from the directory names it; no history in [policy]: the
        // directory's is listed in its place.
        let config = PolicyConfig {
            history: 0,
            ..lenient()
        };
        let got = listed(config, Some(&ad));
        assert_eq!(got[0], (TooShort, "At least 7 characters".into(), domain.clone()));
        let ids: Vec<RuleId> = got.iter().map(|r| r.0).collect();
        assert_eq!(
            ids,
            [
                TooShort,
                TooLong,
                Reused,
                SameAsCurrent,
                TooFewCharacterCategories,
                ContainsAccountName
            ]
        );
        // Without the directory: [policy] alone, as before.
        let got = listed(PolicyConfig::default(), None);
        assert!(got.iter().all(|r| r.2 == local), "{got:?}");
        assert_eq!(
            got[2].1,
            "Hard to guess (strength 3 out of 4 or better): a few unrelated words work well"
        );
    }

    #[test]
    fn the_advice_never_suggests_what_a_rule_refuses() {
        let policy = Policy::from_parts(PolicyConfig::default(), None, None);
        let words = policy.effective(None).advice();
        assert!(words.starts_with("A few unrelated words with spaces"), "{words}");
        let ad = policy.effective(Some(&stock_ad())).advice();
        assert!(ad.contains("not enough alone") && ad.contains("capital letter"), "{ad}");
        assert!(!ad.contains("words with spaces make"), "{ad}");
        // The example the advice gives passes the categories it describes.
        let example = "Violet tractor wobbles 7 harbour";
        assert!(directory::categories(example, CategoryScheme::ActiveDirectory) >= 3);
        assert!(directory::categories(example, CategoryScheme::Ds389) >= 4);
    }

    #[test]
    fn the_report_says_what_is_not_applied() {
        let policy = Policy::from_parts(PolicyConfig::default(), None, None);
        let ad = DirectoryRules {
            unchecked: vec!["passwordMinDigits 2".into()],
            ..stock_ad()
        };
        let lines = policy.effective(Some(&ad)).report();
        assert_eq!(lines[0], "At least 15 characters (too_short) — pwresetd [policy]");
        assert!(
            lines.contains(
                &"minimum age 1 day — the AD domain policy of DC=example,DC=org: not applied, every change through \
              pwresetd is one a campaign forces"
                    .to_string()
            )
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some(
                "passwordMinDigits 2 — the AD domain policy of DC=example,DC=org: not checked by pwresetd (the \
                 directory checks it on write)"
            )
        );
        let alone = policy.effective(None).report();
        assert_eq!(alone.len(), policy.rules().len());
    }
}
