//! Tests of the assembled policy: every rule through [`Policy::check`], the rule list, the
//! JSON shape, and a pseudo-random never-panics loop.

use super::*;
use RuleId::*;

const DENYLIST: &str = "Acme-Summer-2025!\nCorrect Horse Battery Staple Violet Extra\n";
const BREACHED: &[(&str, u32)] = &[
    ("hunter2hunter2hunter2", 3_421),
    ("seen once only but long", 1),
    ("crème brûlée pour tout le monde", 12), // stored as typed, decomposed below
];

fn subject() -> Subject {
    Subject {
        login: "zangstrom".into(),
        given_name: Some("Zoë".into()),
        surname: Some("Ångström".into()),
        display_name: Some("Zoë Ångström".into()),
        mail: vec!["zoe.angstrom@example.org".into()],
    }
}

/// A policy with every optional part: denylist, a breach index built in a temp dir.
fn full_policy(config: PolicyConfig) -> (Policy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pwned.txt");
    let lines: String = BREACHED
        .iter()
        .map(|(pw, n)| {
            let hex: String = breach::sha1(pw).iter().map(|b| format!("{b:02X}")).collect();
            format!("{hex}:{n}\r\n")
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let index_path = dir.path().join("pwned.idx");
    breach::build(&input, &index_path, &mut |_| {}).unwrap();
    let index = BreachIndex::open(&index_path).unwrap();
    let denylist = Denylist::from_reader(DENYLIST.as_bytes()).unwrap();
    (Policy::from_parts(config, Some(denylist), Some(index)), dir)
}

struct Case<'a> {
    password: &'a str,
    current: Option<&'a str>,
    history: &'a [&'a str],
}

fn pw(password: &str) -> Case<'_> {
    Case {
        password,
        current: None,
        history: &[],
    }
}

fn check(policy: &Policy, case: Case<'_>, expected: &[RuleId]) {
    let password = Password::new(case.password);
    let current = case.current.map(Password::new);
    let history: Vec<String> = case
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| history::hash_with_salt(&Password::new(*h), &[i as u8; 16]).unwrap())
        .collect();
    let subject = subject();
    let input = CheckInput {
        password: &password,
        current: current.as_ref(),
        history: &history,
        subject: &subject,
    };
    let verdict = policy.check(&input).unwrap();
    let shown: String = case.password.chars().take(40).collect();
    assert_eq!(verdict.rule_ids(), expected, "{shown:?}");
    assert_eq!(verdict.is_accepted(), expected.is_empty());
    // What could reach a user, a log or a panic message (the subject is personal data, shown
    // on purpose in Debug, so it is left out).
    let everything = format!("{verdict:?} {:?} {:?}", input.password, input.current);
    if case.password.chars().count() >= 12 {
        assert!(!everything.contains(case.password), "password leaked for {shown:?}");
        assert!(
            !everything.contains(&normalise(case.password)),
            "password leaked for {shown:?}"
        );
    }
}

const STRONG: &str = "violet tractor wobbles under sleepy harbour";

#[test]
fn default_rules_table() {
    let p = Policy::from_parts(PolicyConfig::default(), None, None);
    check(&p, pw(STRONG), &[]);
    check(&p, pw(""), &[TooShort, TooWeak]);
    check(&p, pw("short"), &[TooShort, TooWeak]);
    check(&p, pw("password"), &[TooShort, TooWeak]);
    check(&p, pw(&"a".repeat(129)), &[TooLong, TooWeak]);
    check(&p, pw(&format!("{STRONG} {}", "x".repeat(1 << 20))), &[TooLong]); // 1 MB
    check(&p, pw(&"é".repeat(128)), &[TooWeak]); // 128 code points, 256 bytes: not too long
    // Length counts code points after NFKC: 16 code points typed, 8 after composition.
    check(&p, pw(&"e\u{301}".repeat(8)), &[TooShort, TooWeak]);
    // The "ﬃ" ligature is 1 code point typed and 3 after NFKC: 13 + 3 = 16.
    check(&p, pw("violet ﬃ harbou"), &[]);
    check(&p, pw("violet x harbou"), &[]);
    check(&p, pw("violet harbou"), &[TooShort]);
}

#[test]
fn personal_data_table() {
    let p = Policy::from_parts(PolicyConfig::default(), None, None);
    check(&p, pw("Zoë Ångström"), &[TooShort, TooWeak, ContainsPersonalData]);
    check(&p, pw("sleepy harbour Zoe\u{308} tractor"), &[ContainsPersonalData]);
    check(&p, pw("sleepy harbour ANGSTROM tractor"), &[ContainsPersonalData]);
    check(&p, pw("sleepy harbour z-angstrom tractor"), &[ContainsPersonalData]);
    let off = PolicyConfig {
        forbid_personal_data: false,
        ..PolicyConfig::default()
    };
    let p = Policy::from_parts(off, None, None);
    check(&p, pw("sleepy harbour ANGSTROM tractor"), &[]);
}

#[test]
fn denylist_and_breach_table() {
    let (p, _dir) = full_policy(PolicyConfig::default());
    check(&p, pw(STRONG), &[]);
    check(&p, pw("acme-summer-2025!"), &[Denylisted]);
    check(&p, pw("ACME-SUMMER-2025!"), &[Denylisted]);
    check(&p, pw("correct horse battery staple violet extra"), &[Denylisted]);
    check(&p, pw("hunter2hunter2hunter2"), &[TooWeak, Breached]);
    check(&p, pw("Hunter2hunter2hunter2"), &[]); // SHA-1 is exact: case matters
    check(&p, pw("seen once only but long"), &[Breached]);
    // The corpus holds the precomposed form; the decomposed typing is caught through NFKC.
    check(
        &p,
        pw("cre\u{300}me bru\u{302}le\u{301}e pour tout le monde"),
        &[Breached],
    );
    let (p, _dir) = full_policy(PolicyConfig {
        breached_min_count: 2,
        ..PolicyConfig::default()
    });
    check(&p, pw("seen once only but long"), &[]);
    check(&p, pw("crème brûlée pour tout le monde"), &[Breached]);
}

#[test]
fn breach_message_quotes_the_count() {
    let (p, _dir) = full_policy(PolicyConfig::default());
    let password = Password::new("hunter2hunter2hunter2");
    let subject = Subject::default();
    let input = CheckInput {
        password: &password,
        current: None,
        history: &[],
        subject: &subject,
    };
    let verdict = p.check(&input).unwrap();
    let history = vec![history::hash_with_salt(&password, &[1; 16]).unwrap()];
    let shown = format!(
        "{:?}",
        CheckInput {
            history: &history,
            ..input
        }
    );
    assert!(
        shown.contains("history: [1 hashes]") && !shown.contains("argon2"),
        "{shown}"
    );
    let breached = verdict.violations().iter().find(|v| v.rule == Breached).unwrap();
    assert_eq!(breached.reason, Reason::Breached { count: 3_421 });
}

#[test]
fn history_and_current_table() {
    let p = Policy::from_parts(PolicyConfig::default(), None, None);
    let old = "amber glacier whispers to the moon";
    check(
        &p,
        Case {
            password: STRONG,
            current: Some(STRONG),
            history: &[],
        },
        &[SameAsCurrent],
    );
    check(
        &p,
        Case {
            password: STRONG,
            current: Some(&STRONG.to_uppercase()),
            history: &[],
        },
        &[],
    );
    check(
        &p,
        Case {
            password: old,
            current: None,
            history: &[STRONG, old],
        },
        &[Reused],
    );
    check(
        &p,
        Case {
            password: old,
            current: Some(old),
            history: &[old],
        },
        &[Reused, SameAsCurrent],
    );
    check(
        &p,
        Case {
            password: &old.to_uppercase(),
            current: None,
            history: &[old],
        },
        &[],
    );
    // Exact after NFKC: decomposed and precomposed are the same password.
    let pre = "café glacier whispers to the moon";
    let dec = "cafe\u{301} glacier whispers to the moon";
    check(
        &p,
        Case {
            password: dec,
            current: Some(pre),
            history: &[],
        },
        &[SameAsCurrent],
    );
    check(
        &p,
        Case {
            password: pre,
            current: None,
            history: &[dec],
        },
        &[Reused],
    );
    let cfg = PolicyConfig {
        history: 1,
        differs_from_current: false,
        ..PolicyConfig::default()
    };
    let p = Policy::from_parts(cfg, None, None);
    check(
        &p,
        Case {
            password: old,
            current: Some(old),
            history: &[STRONG, old],
        },
        &[],
    );
}

#[test]
fn optional_rules_table() {
    let cfg = PolicyConfig {
        min_length: 4,
        min_strength: 0,
        min_character_classes: Some(3),
        max_repeated_characters: Some(2),
        min_unique_characters: Some(5),
        ..PolicyConfig::default()
    };
    let p = Policy::from_parts(cfg, None, None);
    check(&p, pw("Abc1!xyz"), &[]);
    check(&p, pw("abcdefgh"), &[TooFewCharacterClasses]);
    check(&p, pw("Abc1!xxx"), &[TooManyRepeatedCharacters]);
    check(&p, pw("Aa1Aa1Aa1"), &[TooFewUniqueCharacters]);
    check(
        &p,
        pw("aaaa"),
        &[
            TooFewCharacterClasses,
            TooManyRepeatedCharacters,
            TooFewUniqueCharacters,
        ],
    );
    check(&p, pw("Müller1Ö"), &[]);
}

#[test]
fn every_violation_at_once() {
    let cfg = PolicyConfig {
        min_character_classes: Some(4),
        max_repeated_characters: Some(1),
        min_unique_characters: Some(20),
        ..PolicyConfig::default()
    };
    let (p, _dir) = full_policy(cfg);
    let old = "hunter2hunter2hunter2";
    check(
        &p,
        Case {
            password: old,
            current: Some(old),
            history: &[old],
        },
        &[
            TooWeak,
            Breached,
            Reused,
            SameAsCurrent,
            TooFewCharacterClasses,
            TooFewUniqueCharacters,
        ],
    );
}

fn rule_list(p: &Policy) -> Vec<(RuleId, Requirement)> {
    p.rules().into_iter().map(|r| (r.rule, r.requirement)).collect()
}

#[test]
fn rules_in_force() {
    let p = Policy::from_parts(PolicyConfig::default(), None, None);
    let expected = [
        (TooShort, Requirement::MinLength { min: 15 }),
        (TooLong, Requirement::MaxLength { max: 128 }),
        (
            TooWeak,
            Requirement::MinStrength {
                score: 3,
                advice: Strength::WithAdvice,
            },
        ),
        (ContainsPersonalData, Requirement::NoPersonalData),
        (Reused, Requirement::History { count: 5 }),
        (SameAsCurrent, Requirement::DiffersFromCurrent),
    ];
    assert_eq!(rule_list(&p), expected);

    let cfg = PolicyConfig {
        min_strength: 0,
        forbid_personal_data: false,
        history: 0,
        differs_from_current: false,
        min_character_classes: Some(3),
        max_repeated_characters: Some(1),
        min_unique_characters: Some(8),
        ..PolicyConfig::default()
    };
    let (p, _dir) = full_policy(cfg);
    let ids: Vec<RuleId> = p.rules().iter().map(|r| r.rule).collect();
    assert_eq!(
        ids,
        [
            TooShort,
            TooLong,
            Denylisted,
            Breached,
            TooFewCharacterClasses,
            TooManyRepeatedCharacters,
            TooFewUniqueCharacters
        ]
    );
    assert_eq!(p.rules()[4].requirement, Requirement::CharacterClasses { min: 3 });
    assert_eq!(p.rules()[4].source, PWRESETD);
}

#[test]
fn a_reason_carries_its_values() {
    let p = Policy::from_parts(PolicyConfig::default(), None, None);
    let password = Password::new("violet harbou");
    let subject = Subject::default();
    let input = CheckInput {
        password: &password,
        current: None,
        history: &[],
        subject: &subject,
    };
    let verdict = p.check(&input).unwrap();
    assert_eq!(verdict.violations(), [Violation::from(Reason::TooShort { min: 15 })]);
}

#[test]
fn load_reports_bad_config_and_missing_files() {
    let bad = PolicyConfig {
        min_length: 20,
        max_length: 16,
        ..PolicyConfig::default()
    };
    let err = Policy::load(&bad).unwrap_err().to_string();
    assert_eq!(err, "policy.min_length (20) is greater than policy.max_length (16)");
    let missing = PolicyConfig {
        denylist_file: Some("/nonexistent/deny".into()),
        ..PolicyConfig::default()
    };
    let err = Policy::load(&missing).unwrap_err().to_string();
    assert!(err.starts_with("reading the denylist /nonexistent/deny: "), "{err}");
    let missing = PolicyConfig {
        breached_index: Some("/nonexistent/idx".into()),
        ..PolicyConfig::default()
    };
    let err = Policy::load(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with("opening the breached-password index /nonexistent/idx: "),
        "{err}"
    );
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn char(&mut self) -> char {
        const POOLS: &[&str] = &[
            "abcXYZ019 -_.@",
            "éÅöüßøÆ",
            "\u{301}\u{308}\u{30a}\u{327}",
            "ﬁﬃ①Ｚ㎏",
            "パスワード中文",
            "😀👩‍💻🇫🇷",
            "\u{0}\t\r\n\u{200b}\u{feff}",
        ];
        match self.below(8) {
            7 => char::from_u32(self.below(0x11_0000) as u32).unwrap_or('?'),
            i => {
                let pool: Vec<char> = POOLS[i as usize].chars().collect();
                pool[self.below(pool.len() as u64) as usize]
            }
        }
    }
    fn string(&mut self, max: u64) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| self.char()).collect()
    }
}

#[test]
fn arbitrary_input_never_panics() {
    let cfg = PolicyConfig {
        min_character_classes: Some(2),
        max_repeated_characters: Some(2),
        min_unique_characters: Some(4),
        ..PolicyConfig::default()
    };
    let (p, _dir) = full_policy(cfg);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let history = vec![history::hash_with_salt(&Password::new("x"), &[7; 16]).unwrap()];
    for i in 0..3_000 {
        let len = if i % 500 == 0 { 5_000 } else { 60 };
        let password = Password::new(rng.string(len));
        let current = Password::new(rng.string(20));
        let subject = Subject {
            login: rng.string(12),
            given_name: Some(rng.string(8)),
            surname: Some(rng.string(8)),
            display_name: Some(rng.string(16)),
            mail: vec![format!("{}@{}", rng.string(10), rng.string(6))],
        };
        // argon2 is slow in debug builds: verify history on a sample only.
        let history: &[String] = if i % 100 == 0 { &history } else { &[] };
        let input = CheckInput {
            password: &password,
            current: Some(&current),
            history,
            subject: &subject,
        };
        let verdict = p.check(&input).unwrap();
        assert_eq!(verdict.is_accepted(), verdict.violations().is_empty());
    }
}
