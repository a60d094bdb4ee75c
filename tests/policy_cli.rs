//! `pwresetd policy check|show` and `pwresetd breach-index build`, driven through their clap
//! structs and run functions (`pwresetd::cli::policy`).

// Helpers outside #[test] fns are test code too; clippy.toml only exempts the #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use clap::Parser;
use pwresetd::cli::policy::*;
use pwresetd::policy::{Categories, CategoryScheme, DirectoryRules, NameRule, Policy, PolicyConfig, Subject};

#[derive(Parser)]
struct Top {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    #[command(subcommand)]
    Policy(PolicyCommand),
    #[command(subcommand)]
    BreachIndex(BreachIndexCommand),
}

fn check_args(argv: &[&str]) -> CheckArgs {
    let mut full = vec!["pwresetd", "policy", "check"];
    full.extend(argv);
    match Top::try_parse_from(full).unwrap().cmd {
        Cmd::Policy(PolicyCommand::Check(args)) => args,
        _ => unreachable!(),
    }
}

/// Runs a check with `stdin` as standard input; returns (accepted, printed text).
fn check(argv: &[&str], stdin: &str, expected_accepted: bool, expected_output: &str) {
    let args = check_args(argv);
    let policy = Policy::load(&PolicyConfig::default()).unwrap();
    let subject = block_on(subject_for(&args, None)).unwrap();
    let current = if args.with_current {
        CurrentPassword::OnSecondLine
    } else {
        CurrentPassword::NotGiven
    };
    let secrets = read_secrets(&mut stdin.as_bytes(), current).unwrap();
    let verdict = pwresetd::cli::policy::check(&policy, None, &subject, &secrets).unwrap();
    let format = if args.json { Format::Json } else { Format::Text };
    let mut out = Vec::new();
    print_verdict(&verdict, format, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(verdict.is_accepted(), expected_accepted, "{out}");
    assert_eq!(out, expected_output);
    let secret = stdin.lines().next().unwrap_or_default();
    if secret.len() >= 12 {
        assert!(!out.contains(secret));
    }
}

/// The run functions are async only for the directory lookup; a tiny runtime drives them.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn check_table() {
    check(
        &["--login", "jdoe"],
        "violet tractor wobbles under sleepy harbour\n",
        true,
        "Accepted: the password meets every rule in force.\n",
    );
    check(
        &["--login", "jdoe"],
        "violet tractor wobbles under sleepy harbour\r\n",
        true,
        "Accepted: the password meets every rule in force.\n",
    );
    check(
        &["--login", "jdoe"],
        "violet harbou\n",
        false,
        "Refused: 1 rule broken.\n  too_short: Use at least 15 characters.\n",
    );
    check(
        &["--login", "jdoe", "--surname", "Müller", "--json"],
        "violet tractor MULLER sleepy harbour\nignored second line\n",
        false,
        "{\"accepted\":false,\"violations\":[{\"rule\":\"contains_personal_data\",\"message\":\"This password contains your last name. Choose one that does not include your name, username or email address.\"}]}\n",
    );
    check(
        &["--login", "jdoe", "--with-current"],
        "violet tractor wobbles under sleepy harbour\nviolet tractor wobbles under sleepy harbour\n",
        false,
        "Refused: 1 rule broken.\n  same_as_current: This is your current password. Choose a new one.\n",
    );
    check(
        &["--login", "jdoe"],
        "jdoe\n",
        false,
        "Refused: 3 rules broken.\n  too_short: Use at least 15 characters.\n  too_weak: This password would be too easy to guess. Add another word or two. Uncommon words are better.\n  contains_personal_data: This password contains your username. Choose one that does not include your name, username or email address.\n",
    );
}

#[test]
fn reading_stdin() {
    assert!(
        read_secrets(&mut "".as_bytes(), CurrentPassword::NotGiven)
            .unwrap_err()
            .to_string()
            .contains("no new password on standard input")
    );
    let err = read_secrets(&mut "only one\n".as_bytes(), CurrentPassword::OnSecondLine).unwrap_err();
    assert_eq!(err.to_string(), "no current password on standard input");
    let s = read_secrets(&mut "  spaces kept  \r\n".as_bytes(), CurrentPassword::NotGiven).unwrap();
    assert_eq!(s.new.expose(), "  spaces kept  ");
    assert_eq!(format!("{s:?}"), "Secrets { new: [redacted], current: None }");
    let s = read_secrets(&mut "\n".as_bytes(), CurrentPassword::NotGiven).unwrap();
    assert_eq!(s.new.expose(), "");
}

struct FakeDirectory;

#[async_trait::async_trait]
impl PersonLookup for FakeDirectory {
    async fn find(&self, login: &str) -> Result<Option<Subject>, pwresetd::directory::DirectoryError> {
        Ok((login == "zoe").then(|| Subject {
            login: "zoe".into(),
            given_name: Some("Zoë".into()),
            surname: Some("Ångström".into()),
            display_name: None,
            mail: vec!["zoe@example.org".into()],
        }))
    }

    async fn rules(&self, login: Option<&str>) -> Result<Option<DirectoryRules>, pwresetd::directory::DirectoryError> {
        Ok(Some(DirectoryRules {
            source: format!("the test policy of {}", login.unwrap_or("everyone")),
            min_length: 20,
            categories: Some(Categories {
                min: 3,
                scheme: CategoryScheme::ActiveDirectory,
            }),
            names: Some(NameRule::ActiveDirectory),
            history: 24,
            min_age_secs: 86_400,
            unchecked: vec!["pwdCheckModule ppm.so".into()],
        }))
    }
}

#[test]
fn directory_lookup_and_flag_overlay() {
    let args = check_args(&["--login", "zoe", "--surname", "Smith"]);
    let subject = block_on(subject_for(&args, Some(&FakeDirectory))).unwrap();
    assert_eq!(subject.given_name.as_deref(), Some("Zoë"));
    assert_eq!(subject.surname.as_deref(), Some("Smith"));
    assert_eq!(subject.mail, ["zoe@example.org"]);
    let args = check_args(&["--login", "nobody"]);
    let err = block_on(subject_for(&args, Some(&FakeDirectory))).unwrap_err();
    assert_eq!(err.to_string(), "no account with login \"nobody\" in the directory");
}

#[test]
fn show_text_and_json() {
    let policy = Policy::load(&PolicyConfig::default()).unwrap();
    let mut out = Vec::new();
    show(&policy, &Floor::NoDirectory, Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(
            "A new password must meet these rules (pwresetd's [policy] with the directory's own as a floor):\n  \
             - At least 15 characters (too_short) — pwresetd [policy]\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("No directory configured: its own rules are not included.\n"),
        "{text}"
    );
    let mut out = Vec::new();
    show(&policy, &Floor::NoDirectory, Format::Json, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json[0]["rule"], "too_short");
    assert_eq!(json[0]["text"], "At least 15 characters");
    assert_eq!(json[0]["source"], "pwresetd [policy]");
}

/// With a directory: its rules join [policy]'s, each with its source, for the account asked.
#[test]
fn show_and_check_with_the_directory_rules() {
    let policy = Policy::load(&PolicyConfig::default()).unwrap();
    let floor = block_on(floor_for(&FakeDirectory, Some("zoe"))).unwrap();
    let mut out = Vec::new();
    show(&policy, &floor, Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for line in [
        "  - At least 20 characters (too_short) — the test policy of zoe\n",
        "  - Not one of your last 24 passwords (reused) — the test policy of zoe\n",
        "  - At least 3 of: uppercase letters, lowercase letters, digits, symbols such as ! # % * - _ ? (a space does \
         not count as a symbol) (too_few_character_categories) — the test policy of zoe\n",
        "  - minimum age 1 day — the test policy of zoe: not applied, every change through pwresetd is one a \
         campaign forces\n",
        "  - pwdCheckModule ppm.so — the test policy of zoe: not checked by pwresetd (the directory checks it on write)\n",
        "  - Hard to guess (strength 3 out of 4 or better) (too_weak) — pwresetd [policy]\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let err = block_on(floor_for(&FakeDirectory, Some("nobody"))).unwrap_err();
    assert_eq!(err.to_string(), "no account with login \"nobody\" in the directory");
    // `policy check` applies them: words alone have one category.
    let args = check_args(&["--login", "zoe"]);
    let subject = block_on(subject_for(&args, Some(&FakeDirectory))).unwrap();
    let secrets = read_secrets(
        &mut "violet tractor wobbles under sleepy harbour\n".as_bytes(),
        CurrentPassword::NotGiven,
    )
    .unwrap();
    let verdict = pwresetd::cli::policy::check(&policy, floor.rules(), &subject, &secrets).unwrap();
    let ids: Vec<String> = verdict.rule_ids().iter().map(|r| r.to_string()).collect();
    assert_eq!(ids, ["too_few_character_categories"]);
}

#[test]
fn run_policy_show_and_breach_index_build() {
    let code = block_on(run_policy(
        PolicyCommand::Show(ShowArgs {
            login: None,
            json: true,
        }),
        &PolicyConfig::default(),
        None,
    ))
    .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pwned.txt");
    let output = dir.path().join("pwned.idx");
    let hex: String = pwresetd::policy::breach::sha1("x")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(&input, format!("{hex}:5\n")).unwrap();
    let argv = [
        "pwresetd",
        "breach-index",
        "build",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    let Cmd::BreachIndex(cmd) = Top::try_parse_from(argv).unwrap().cmd else {
        unreachable!()
    };
    assert_eq!(run_breach_index(cmd).unwrap(), ExitCode::SUCCESS);
    let index = pwresetd::policy::BreachIndex::open(&output).unwrap();
    assert_eq!(index.lookup(&pwresetd::policy::breach::sha1("x")).unwrap(), Some(5));

    std::fs::write(&input, "garbage\n").unwrap();
    let argv = [
        "pwresetd",
        "breach-index",
        "build",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    let Cmd::BreachIndex(cmd) = Top::try_parse_from(argv).unwrap().cmd else {
        unreachable!()
    };
    let err = format!("{:#}", run_breach_index(cmd).unwrap_err());
    assert!(
        err.ends_with("line 1: expected 40 hex digits, a colon and a count"),
        "{err}"
    );
}

#[test]
fn password_is_never_an_argument() {
    // There is no flag that takes the password: clap refuses an extra positional.
    assert!(Top::try_parse_from(["pwresetd", "policy", "check", "--login", "j", "secret"]).is_err());
}
