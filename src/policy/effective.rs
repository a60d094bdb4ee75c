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
use super::rules::{Advice, PWRESETD, Reason, Requirement, RuleDescription, RuleId, Strength, Verdict, Violation};
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
        let mut refuse = |reason: Reason| out.push(Violation::from(reason));

        let min = cfg.min_length.max(self.directory_min_length());
        if checks::length(&pw) < cfg.min_length as usize
            || directory::length(typed) < self.directory_min_length() as usize
        {
            refuse(Reason::TooShort { min });
        }
        if checks::length(&pw) > cfg.max_length as usize {
            refuse(Reason::TooLong { max: cfg.max_length });
        }
        if cfg.min_strength > 0 {
            let inputs = input.subject.strength_inputs(&cfg.context_words);
            let estimate = checks::strength(&pw, &inputs);
            if estimate.score < cfg.min_strength {
                refuse(Reason::TooWeak {
                    warning: estimate.warning,
                    suggestion: estimate.suggestion,
                });
            }
        }
        if cfg.forbid_personal_data {
            let fields = personal::personal_data_in(&pw, input.subject);
            if !fields.is_empty() {
                refuse(Reason::PersonalData { fields });
            }
        }
        if self.policy.denylisted(&pw) {
            refuse(Reason::Denylisted);
        }
        if let Some(count) = self.policy.breach_count(typed, &pw)? {
            refuse(Reason::Breached { count });
        }
        let keep = self.history();
        if keep > 0 && history::is_reused(&pw, input.history, keep as usize, entry)? {
            refuse(Reason::Reused);
        }
        if cfg.differs_from_current
            && input.current.is_some_and(|c| {
                let current = zeroize::Zeroizing::new(normalise(c.expose()));
                secret::constant_time_eq(current.as_bytes(), pw.as_bytes())
            })
        {
            refuse(Reason::SameAsCurrent);
        }
        self.policy.check_optional(&pw, &mut refuse);
        self.check_directory(typed, input, &mut refuse);
        Ok(Verdict::new(out))
    }

    /// The directory's own composition rules, on the password as typed.
    fn check_directory(&self, typed: &str, input: &CheckInput<'_>, refuse: &mut impl FnMut(Reason)) {
        let Some(d) = self.directory else { return };
        if let Some(c) = d.categories.filter(|c| directory::categories(typed, c.scheme) < c.min) {
            refuse(Reason::TooFewCharacterCategories {
                min: c.min,
                scheme: c.scheme,
            });
        }
        if let Some(rule) = d.names.filter(|r| directory::contains_name(typed, input.subject, *r)) {
            refuse(Reason::AccountName { rule });
        }
    }

    /// The rules in force, in check order, with where each comes from.
    pub fn rules(&self) -> Vec<RuleDescription> {
        let cfg = self.policy.config();
        let directory_source = self.directory.map_or(PWRESETD, |d| d.source.as_str());
        let stricter = |directory_wins: bool| if directory_wins { directory_source } else { PWRESETD };
        let categories = self.directory.and_then(|d| d.categories);
        let history = Requirement::History { count: self.history() };
        let mut rules = vec![(
            Requirement::MinLength {
                min: cfg.min_length.max(self.directory_min_length()),
            },
            stricter(self.directory_min_length() > cfg.min_length),
        )];
        for requirement in self.policy.local_rules() {
            let (requirement, source) = match requirement {
                Requirement::MinLength { .. } => continue,
                Requirement::MinStrength { score, .. } if categories.is_some() => (
                    Requirement::MinStrength {
                        score,
                        advice: Strength::Plain,
                    },
                    PWRESETD,
                ),
                Requirement::History { .. } => (history, stricter(self.history() > cfg.history)),
                other => (other, PWRESETD),
            };
            rules.push((requirement, source));
        }
        if cfg.history == 0 && self.history() > 0 {
            let position = rules
                .iter()
                .position(|r| r.0.rule() > RuleId::Reused)
                .unwrap_or(rules.len());
            rules.insert(position, (history, directory_source));
        }
        if let Some(c) = categories {
            let requirement = Requirement::CharacterCategories {
                min: c.min,
                scheme: c.scheme,
            };
            rules.push((requirement, directory_source));
        }
        if let Some(rule) = self.directory.and_then(|d| d.names) {
            rules.push((Requirement::AccountName { rule }, directory_source));
        }
        rules
            .into_iter()
            .map(|(requirement, source)| RuleDescription {
                rule: requirement.rule(),
                requirement,
                source: source.to_owned(),
            })
            .collect()
    }

    /// The advice shown under the rules; never suggests what a rule in force refuses.
    pub fn advice(&self) -> Advice {
        let categories = self.directory.and_then(|d| d.categories);
        Advice::for_categories(categories.map(|c| (c.min, c.scheme)))
    }

    /// One line per rule, "TEXT (rule_id) — SOURCE" with each rule's text from `say` (the CLI
    /// passes the English catalogue's), then what the directory asks and pwresetd does not
    /// apply or check: for `policy show` and the preflight.
    pub fn report(&self, say: impl Fn(&Requirement) -> String) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rules()
            .iter()
            .map(|r| format!("{} ({}) — {}", say(&r.requirement), r.rule, r.source))
            .collect();
        let Some(d) = self.directory else { return lines };
        if d.min_age_secs > 0 {
            lines.push(format!(
                "minimum age {} — {}: not applied, every change through pwresetd is one a campaign forces",
                age(d.min_age_secs),
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

/// A minimum age in the largest whole unit ("1 day", "36 hours"), for administrators (English,
/// like the rest of the report's own words).
fn age(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
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

    fn listed(config: PolicyConfig, directory: Option<&DirectoryRules>) -> Vec<(RuleId, Requirement, String)> {
        let policy = Policy::from_parts(config, None, None);
        let rules = policy.effective(directory).rules();
        rules.into_iter().map(|r| (r.rule, r.requirement, r.source)).collect()
    }

    #[test]
    fn rules_with_their_sources() {
        let ad = stock_ad();
        let (local, domain) = (PWRESETD.to_owned(), ad.source.clone());
        let got = listed(PolicyConfig::default(), Some(&ad));
        let scheme = CategoryScheme::ActiveDirectory;
        let want = [
            (TooShort, Requirement::MinLength { min: 15 }, &local),
            (TooLong, Requirement::MaxLength { max: 128 }, &local),
            (
                TooWeak,
                Requirement::MinStrength {
                    score: 3,
                    advice: Strength::Plain,
                },
                &local,
            ),
            (ContainsPersonalData, Requirement::NoPersonalData, &local),
            (Reused, Requirement::History { count: 24 }, &domain),
            (SameAsCurrent, Requirement::DiffersFromCurrent, &local),
            (
                TooFewCharacterCategories,
                Requirement::CharacterCategories { min: 3, scheme },
                &domain,
            ),
            (
                ContainsAccountName,
                Requirement::AccountName {
                    rule: NameRule::ActiveDirectory,
                },
                &domain,
            ),
        ];
        let want: Vec<_> = want.iter().map(|(r, q, s)| (*r, *q, s.to_string())).collect();
        assert_eq!(got, want);
        // A longer minimum from the directory names it; no history in [policy]: the
        // directory's is listed in its place.
        let config = PolicyConfig {
            history: 0,
            ..lenient()
        };
        let got = listed(config, Some(&ad));
        assert_eq!(got[0], (TooShort, Requirement::MinLength { min: 7 }, domain.clone()));
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
        // Without the directory: [policy] alone, as before, the strength rule with its advice.
        let got = listed(PolicyConfig::default(), None);
        assert!(got.iter().all(|r| r.2 == local), "{got:?}");
        assert_eq!(
            got[2].1,
            Requirement::MinStrength {
                score: 3,
                advice: Strength::WithAdvice
            }
        );
    }

    #[test]
    fn the_advice_never_suggests_what_a_rule_refuses() {
        let policy = Policy::from_parts(PolicyConfig::default(), None, None);
        assert_eq!(policy.effective(None).advice(), Advice::Words);
        assert_eq!(
            policy.effective(Some(&stock_ad())).advice(),
            Advice::WordsForActiveDirectory
        );
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
        let say = |r: &Requirement| format!("{r:?}");
        let lines = policy.effective(Some(&ad)).report(say);
        assert_eq!(lines[0], "MinLength { min: 15 } (too_short) — pwresetd [policy]");
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
        let alone = policy.effective(None).report(say);
        assert_eq!(alone.len(), policy.rules().len());
        assert_eq!(
            (age(86_400), age(129_600), age(90), age(60)),
            (
                "1 day".into(),
                "36 hours".into(),
                "90 seconds".into(),
                "1 minute".into()
            )
        );
    }
}
