//! The password policy (`policy::Policy::check`: NFKC, personal data, zxcvbn, the composition
//! rules) on any password, current password and personal data: never panics, and neither the
//! verdict's messages nor the input's `Debug` ever contain the password.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pwresetd::policy::{CheckInput, Password, Policy, PolicyConfig, Subject};

#[derive(Debug, Arbitrary)]
struct Input {
    password: String,
    current: Option<String>,
    login: String,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    mail: Vec<String>,
    context_words: Vec<String>,
}

/// A character no message, rule text or configuration value contains: a password that starts
/// with it can be looked for in the output without false alarms.
const MARK: char = '\u{E000}';

fuzz_target!(|input: Input| {
    let mut config = PolicyConfig::default();
    config.min_strength = 3;
    config.forbid_personal_data = true;
    config.context_words = input.context_words.clone();
    config.history = 5;
    config.differs_from_current = true;
    config.min_character_classes = Some(3);
    config.max_repeated_characters = Some(3);
    config.min_unique_characters = Some(5);
    let policy = Policy::from_parts(config, None, None);
    let typed = format!("{MARK}{}", input.password);
    let password = Password::new(typed.clone());
    let current = input.current.map(Password::new);
    let subject = Subject {
        login: input.login,
        given_name: input.given_name,
        surname: input.surname,
        display_name: input.display_name,
        mail: input.mail,
    };
    let check = CheckInput {
        password: &password,
        current: current.as_ref(),
        history: &[],
        subject: &subject,
    };
    assert!(!format!("{check:?}").contains(&typed), "Debug shows the password");
    let verdict = policy
        .check(&check)
        .expect("no breach index, no history: a check cannot fail");
    for v in verdict.violations() {
        let message = pwresetd::portal::wording::english(&v.reason);
        assert!(!message.contains(MARK), "a message quotes the password: {message}");
    }
    assert!(!format!("{verdict:?}").contains(MARK));
    let _ = policy.rules();
});
