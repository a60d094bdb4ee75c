use super::language::candidates;
use super::render::split_subject;

#[test]
fn candidates_table() {
    let check = |input: &str, expected: &[&str]| assert_eq!(candidates(input), expected, "{input:?}");
    check("fr", &["fr"]);
    check("fr-CA", &["fr-ca", "fr"]);
    check("FR_ca", &["fr-ca", "fr"]);
    check("fr-CA, en;q=0.8", &["fr-ca", "fr", "en"]);
    check("en;q=0.5, fr-BE;q=0.9, de", &["de", "fr-be", "fr", "en"]);
    check("fr;q=0, en", &["en"]);
    check("*, fr;q=x", &[]);
    check("", &[]);
    check(" , ", &[]);
}

#[test]
fn split_subject_table() {
    let check = |input: &str, expected: Result<(&str, &str), &str>| {
        let got = split_subject(input);
        let got = got
            .as_ref()
            .map(|(s, b)| (s.as_str(), b.as_str()))
            .map_err(String::as_str);
        assert_eq!(got, expected, "{input:?}");
    };
    check("Subject: Hello\n\nBody\n", Ok(("Hello", "Body\n")));
    check("\n Subject:  Two  words \n\n\nBody\n\n", Ok(("Two words", "Body\n")));
    check("Subject: No blank line\nBody", Ok(("No blank line", "Body\n")));
    check("Subject: Only", Ok(("Only", "\n")));
    check("Subject:   \n\nBody", Err("the subject renders empty"));
    check(
        "Hello\n\nBody",
        Err("the .txt template must start with a \"Subject: …\" line, then an empty line"),
    );
}
