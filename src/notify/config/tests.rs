use super::*;

/// Parses through the `config` crate, the way the main Config does.
fn toml_from(text: &str) -> Result<MailConfig, String> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize::<MailConfig>())
        .map_err(|e| e.to_string())
}

/// Validates `text` with `base` as the config directory (and credentials dir).
fn validate_in(base: &Path, text: &str) -> Result<MailSettings, String> {
    let cfg = toml_from(text)?;
    cfg.validate(base, Some(&base.join("credentials")))
        .map_err(|e| e.to_string())
}

fn check(text: &str, expected: Result<(), &str>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not checked here\n").unwrap();
    let got = validate_in(dir.path(), text).map(|_| ());
    match (&got, expected) {
        (Ok(()), Ok(())) => {}
        (Err(got), Err(want)) => assert!(got.contains(want), "{text:?}\n got: {got}\nwant: {want}"),
        _ => panic!("{text:?}: got {got:?}, want {expected:?}"),
    }
}

const SMTP: &str = "transport = \"smtp\"\nfrom = \"IT <it@example.org>\"\n";

#[test]
fn validate_table() {
    check("", Ok(()));
    check(&format!("{SMTP}smtp_url = \"smtp://mail.example.org:587\""), Ok(()));
    check(&format!("{SMTP}smtp_url = \"smtps://mail.example.org\""), Ok(()));
    check(
        "transport = \"smtp\"\nsmtp_url = \"smtp://mail.example.org\"",
        Err("mail.from: required with transport = \"smtp\""),
    );
    check(SMTP, Err("mail.smtp_url: required with transport = \"smtp\""));
    check(
        "transport = \"sendmail\"",
        Err("mail.transport: unknown transport \"sendmail\""),
    );
    check(
        "smtp_url = \"smtp://mail.example.org\"",
        Err("mail.transport: is \"file\" (the default) but mail.smtp_url is set"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtp://mail.example.org\"\nstarttls = false"),
        Err("mail.smtp_url: smtp://mail.example.org without STARTTLS would send one-time reset links"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtp://mail.example.org\"\nstarttls = false\nallow_insecure = true"),
        Ok(()),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://mail.example.org\"\nstarttls = true"),
        Err("mail.starttls: smtps:// is TLS from the first byte"),
    );
    check(
        &format!("{SMTP}smtp_url = \"http://mail.example.org\""),
        Err("mail.smtp_url: scheme \"http\" is not supported"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtp://bob:pw@mail.example.org\""),
        Err("mail.smtp_url: credentials do not belong in the URL"),
    );
    check(
        &format!("{SMTP}smtp_url = \"mail.example.org:25\""),
        Err("mail.smtp_url:"),
    );
    check(
        "password = \"hunter2\"",
        Err("mail.password: plain-text passwords are refused"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://m.example.org\"\nusername = \"bob\""),
        Err("mail.password_file: mail.username is set but there is no password"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://m.example.org\"\npassword_file = \"pw\""),
        Err("mail.username: mail.password_file is set but mail.username is not"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://m.example.org\"\nusername = \"bob\"\npassword_file = \"missing\""),
        Err("mail.password_file: cannot read"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://m.example.org\"\nca_file = \"nope.pem\""),
        Err("mail.ca_file:"),
    );
    check(
        &format!("{SMTP}smtp_url = \"smtps://m.example.org\"\nca_file = \"ca.pem\""),
        Ok(()),
    );
    check(
        "from = \"not an address\"",
        Err("mail.from: \"not an address\" is not a mail address"),
    );
    check("reply_to = \"@\"", Err("mail.reply_to:"));
    check("max_connections = 0", Err("mail.max_connections: must be at least 1"));
    check("max_attempts = 0", Err("mail.max_attempts: must be at least 1"));
    check(
        "server_failures = 0",
        Err("mail.server_failures: must be at least 1: it is how many failures"),
    );
    check("server_failures = 1", Ok(()));
    check("timeout = \"soon\"", Err("mail.timeout: \"soon\" is not a duration"));
    check(
        "retry_initial = \"10m\"",
        Err("mail.retry_initial: 10m is longer than mail.retry_max (5m)"),
    );
    check(
        "timezone = \"Europe/Pariss\"",
        Err("mail.timezone: \"Europe/Pariss\" is not an IANA"),
    );
    check("default_language = \"fr CA\"", Err("mail.default_language:"));
    check("templates_dir = \"nowhere\"", Err("mail.templates_dir:"));
}

#[test]
fn defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = validate_in(dir.path(), "").unwrap();
    match &s.transport {
        TransportSettings::File { spool_dir } => assert_eq!(spool_dir, &dir.path().join("mail-spool")),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.from.to_string(), "pwresetd <pwresetd@localhost>");
    assert_eq!(s.max_connections, 4);
    assert_eq!(s.server_failures, 3);
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert_eq!(
        s.retry,
        RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    );
    assert_eq!(s.timezone, chrono_tz::UTC);
    assert_eq!(s.default_language, "en");
    assert_eq!((s.organisation.as_str(), s.helpdesk.as_str()), ("", ""));
}

#[test]
fn smtp_settings_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let s = validate_in(
        dir.path(),
        &format!(
            "{SMTP}smtp_url = \"smtp://[::1]:2525\"\nusername = \"bob\"\npassword_file = \"pw\"\n\
             reply_to = \"Helpdesk <helpdesk@example.org>\"\ntimezone = \"Europe/Paris\"\n\
             default_language = \"FR\""
        ),
    )
    .unwrap();
    let TransportSettings::Smtp(smtp) = &s.transport else {
        panic!("{:?}", s.transport)
    };
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.security),
        ("::1", 2525, SmtpSecurity::StartTls)
    );
    let creds = smtp.credentials.as_ref().unwrap();
    assert_eq!((creds.username.as_str(), creds.password.expose()), ("bob", "s3cret"));
    assert!(!format!("{s:?}").contains("s3cret"), "the password leaks through Debug");
    assert_eq!(s.from.name.as_deref(), Some("IT"));
    assert_eq!(s.reply_to.unwrap().email.to_string(), "helpdesk@example.org");
    assert_eq!(s.timezone, chrono_tz::Europe::Paris);
    assert_eq!(s.default_language, "fr");
}

#[test]
fn systemd_credential_is_used_when_no_password_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("credentials")).unwrap();
    std::fs::write(dir.path().join("credentials").join(PASSWORD_CREDENTIAL), "from-systemd").unwrap();
    let s = validate_in(
        dir.path(),
        &format!("{SMTP}smtp_url = \"smtps://mail.example.org\"\nusername = \"bob\""),
    )
    .unwrap();
    let TransportSettings::Smtp(smtp) = &s.transport else {
        panic!()
    };
    assert_eq!(smtp.credentials.as_ref().unwrap().password.expose(), "from-systemd");
    assert_eq!(smtp.port, 465);
    assert_eq!(smtp.security, SmtpSecurity::ImplicitTls);
}

#[test]
fn unknown_key_is_refused() {
    let err = toml_from("smtp_ulr = \"smtp://x\"").err().unwrap_or_default();
    assert!(err.contains("smtp_ulr"), "{err}");
}

#[test]
fn error_exposes_key_and_message() {
    let err = MailConfig {
        max_connections: 0,
        ..MailConfig::default()
    }
    .validate(Path::new("/"), None)
    .unwrap_err();
    assert_eq!(err.key(), "mail.max_connections");
    assert_eq!(err.message(), "must be at least 1");
}
