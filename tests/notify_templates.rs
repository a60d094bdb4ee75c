//! Mail templates: every kind × language renders, overrides, load-time errors naming the file and
//! the line, language fallback, escaping, deadlines in the configured time zone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

use std::path::Path;

use chrono::{DateTime, Utc};
use pwresetd::notify::templates::SAMPLE_LINK;
use pwresetd::notify::{Kind, MailConfig, MailSettings, Rendered, TemplateError, Templates, Vars};

fn settings(dir: &Path, edit: impl FnOnce(&mut MailConfig)) -> MailSettings {
    let mut cfg = MailConfig {
        from: Some("IT Security <it-security@example.org>".into()),
        timezone: "Europe/Paris".into(),
        organisation: "Example Corp".into(),
        helpdesk: "+33 1 23 45 67 89".into(),
        ..MailConfig::default()
    };
    edit(&mut cfg);
    cfg.validate(dir, None).unwrap()
}

fn load(edit: impl FnOnce(&mut MailConfig)) -> Templates {
    let dir = tempfile::tempdir().unwrap();
    Templates::load(&settings(dir.path(), edit)).unwrap()
}

/// Loads with override files written into a templates_dir; returns the error text.
fn load_overrides(files: &[(&str, &str)]) -> Result<Templates, String> {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates");
    for (name, text) in files {
        let path = tdir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(&tdir).unwrap();
    Templates::load(&settings(dir.path(), |c| c.templates_dir = Some("templates".into()))).map_err(|e| e.to_string())
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Deadline Friday 4 December 2026 17:00 UTC (18:00 in Paris), rendered on Friday 27 November.
fn vars() -> Vars {
    Vars {
        display_name: "Zoë Ångström".into(),
        login: "zangstrom".into(),
        reason: "a security review found that some passwords may have been exposed.".into(),
        deadline: at("2026-12-04T17:00:00Z"),
        link: Some("https://portal.example.org/reset/abc?x=1&y=2".into()),
        changed_at: Some(at("2026-11-27T09:15:00Z")),
        now: at("2026-11-27T09:00:00Z"),
        reference: "7K3M-Q9TX-2HDP".into(),
    }
}

/// Every mail's footer carries its reference code, in the text and the HTML part, in each
/// language's words; a mail without one (none drawn) says nothing of it.
#[test]
fn every_mail_prints_its_reference_code_in_its_footer() {
    let t = load(|_| {});
    let v = vars();
    for (language, words) in [
        ("en", "Reference of this message: "),
        ("fr", "Référence de ce message : "),
    ] {
        for kind in Kind::ALL {
            let r = render(&t, kind, Some(language), &v);
            assert!(
                r.text.contains(&format!("{words}7K3M-Q9TX-2HDP")),
                "{language}/{kind}: {}",
                r.text
            );
            assert!(
                r.html.contains(words) && r.html.contains("7K3M-Q9TX-2HDP"),
                "{language}/{kind}: {}",
                r.html
            );
            let none = render(
                &t,
                kind,
                Some(language),
                &Vars {
                    reference: String::new(),
                    ..v.clone()
                },
            );
            assert!(!none.text.contains(words.trim()) && !none.html.contains(words.trim()));
        }
    }
}

fn render(t: &Templates, kind: Kind, language: Option<&str>, vars: &Vars) -> Rendered {
    t.render(kind, language, vars).unwrap()
}

#[test]
fn every_kind_and_language_renders_for_a_phone() {
    let t = load(|_| {});
    assert_eq!(t.languages().collect::<Vec<_>>(), ["en", "fr"]);
    let v = vars();
    for language in ["en", "fr"] {
        for kind in Kind::ALL {
            let r = render(&t, kind, Some(language), &v);
            let what = format!("{language}/{kind}");
            assert_eq!(r.language, language);
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{what}: {:?}",
                r.subject
            );
            assert!(r.text.contains("zangstrom") && r.html.contains("zangstrom"), "{what}");
            assert!(!r.text.contains("{{") && !r.html.contains("{{"), "{what}");
            if kind.needs_link() {
                let link_paragraph = if language == "fr" {
                    "\n\nChoisissez votre nouveau mot de passe ici :\nhttps://portal.example.org/reset/abc?x=1&y=2\n\n"
                } else {
                    "\n\nChoose your new password here:\nhttps://portal.example.org/reset/abc?x=1&y=2\n\n"
                };
                assert!(r.text.contains(link_paragraph), "{what}: {}", r.text);
                assert!(
                    r.html
                        .contains(r#"href="https://portal.example.org/reset/abc?x=1&amp;y=2""#),
                    "{what}"
                );
            }
            // No external assets, inline styles only, small enough for a phone.
            for forbidden in ["<img", "src=", "<link", "<style", "url(", "@import", "<script"] {
                assert!(!r.html.contains(forbidden), "{what} contains {forbidden}");
            }
            assert!(
                r.html.contains("width=device-width") && r.html.contains("max-width:560px"),
                "{what}"
            );
            assert!(r.html.contains(&format!("<html lang=\"{language}\">")), "{what}");
            assert!(
                r.text.lines().count() < 25,
                "{what} text is {} lines",
                r.text.lines().count()
            );
            let hello = if language == "fr" {
                "Bonjour Zoë Ångström,\n\n"
            } else {
                "Hello Zoë Ångström,\n\n"
            };
            assert!(r.text.starts_with(hello), "{what}: {}", r.text);
            assert!(r.text.ends_with('\n') && !r.text.ends_with("\n\n"), "{what}");
            assert!(
                !r.text.contains("\n\n\n"),
                "{what} has runs of empty lines:\n{}",
                r.text
            );
        }
    }
}

#[test]
fn english_notice_reads_right() {
    let r = render(&load(|_| {}), Kind::Notice, Some("en"), &vars());
    assert_eq!(
        r.subject,
        "Action needed: change your password before Friday 4 December 2026"
    );
    let expected_start = "Hello Zoë Ångström,\n\nYou need to choose a new password for your Example Corp account \
                          \"zangstrom\" before Friday 4 December 2026, 18:00 CET.\n\nWhy: a security review";
    assert!(r.text.starts_with(expected_start), "{}", r.text);
    assert!(
        r.text.contains("contact the helpdesk (+33 1 23 45 67 89)"),
        "{}",
        r.text
    );
    let footer = "IT Security\n\nReference of this message: 7K3M-Q9TX-2HDP (the IT helpdesk can tell from it";
    assert!(r.text.contains(footer), "the signature, then the reference: {}", r.text);
}

#[test]
fn french_is_french_with_french_dates() {
    let t = load(|_| {});
    let r = render(&t, Kind::Notice, Some("fr"), &vars());
    assert_eq!(
        r.subject,
        "Action requise : changez votre mot de passe avant le vendredi 4 décembre 2026"
    );
    assert!(
        r.text
            .contains("votre compte Example Corp « zangstrom » avant le vendredi 4 décembre 2026 à 18 h CET."),
        "{}",
        r.text
    );
    assert!(r.html.contains("Choisir mon nouveau mot de passe"), "{}", r.html);
    let changed = render(&t, Kind::Changed, Some("fr"), &vars());
    assert_eq!(changed.subject, "Votre mot de passe a été changé");
    assert!(
        changed
            .text
            .contains("a été changé le vendredi 27 novembre 2026 à 10 h 15 CET."),
        "{}",
        changed.text
    );
    assert!(
        changed
            .text
            .contains("appelez immédiatement l'assistance informatique : +33 1 23 45 67 89"),
        "{}",
        changed.text
    );
}

#[test]
fn deadline_follows_the_configured_time_zone() {
    for (tz, expected) in [
        ("Europe/Paris", "Friday 4 December 2026, 18:00 CET"),
        ("America/Montreal", "Friday 4 December 2026, 12:00 EST"),
        ("Asia/Tokyo", "Saturday 5 December 2026, 02:00 JST"),
        ("UTC", "Friday 4 December 2026, 17:00 UTC"),
    ] {
        let t = load(|c| c.timezone = tz.into());
        let r = render(&t, Kind::Notice, Some("en"), &vars());
        assert!(r.text.contains(&format!("before {expected}.")), "{tz}: {}", r.text);
        assert!(r.html.contains(&format!("<strong>{expected}</strong>")), "{tz}");
    }
}

#[test]
fn reminder_counts_the_days_left() {
    let t = load(|_| {});
    let deadline = at("2026-12-04T17:00:00Z");
    for (now, en, fr) in [
        (
            "2026-11-27T09:00:00Z",
            "Reminder: 7 days left to change your password",
            "Rappel : plus que 7 jours pour changer votre mot de passe",
        ),
        (
            "2026-12-03T09:00:00Z",
            "Reminder: change your password by tomorrow",
            "Rappel : changez votre mot de passe d'ici demain",
        ),
        (
            "2026-12-04T07:00:00Z",
            "Last day to change your password",
            "Dernier jour pour changer votre mot de passe",
        ),
    ] {
        let v = Vars {
            now: at(now),
            deadline,
            ..vars()
        };
        assert_eq!(render(&t, Kind::Reminder, Some("en"), &v).subject, en);
        assert_eq!(render(&t, Kind::Reminder, Some("fr"), &v).subject, fr);
    }
}

#[test]
fn language_fallback() {
    let t = load(|_| {});
    for (preferred, expected) in [
        (None, "en"),
        (Some("fr"), "fr"),
        (Some("fr-CA"), "fr"),
        (Some("FR_be"), "fr"),
        (Some("de"), "en"),
        (Some("de, fr;q=0.5"), "fr"),
        (Some("en;q=0.1, fr-CH;q=0.9"), "fr"),
        (Some(""), "en"),
    ] {
        assert_eq!(t.language_for(preferred), expected, "{preferred:?}");
    }
    let t = load(|c| c.default_language = "fr".into());
    assert_eq!(t.language_for(Some("de")), "fr");
    assert_eq!(t.language_for(None), "fr");
    assert_eq!(render(&t, Kind::Notice, Some("es-MX"), &vars()).language, "fr");
}

#[test]
fn html_escapes_values_and_text_does_not() {
    let v = Vars {
        display_name: "<script>alert(1)</script> & Co".into(),
        reason: "\"quoted\" <b>bold</b>".into(),
        ..vars()
    };
    let r = render(
        &load(|c| c.organisation = "A&B <Corp>".into()),
        Kind::Notice,
        Some("en"),
        &v,
    );
    assert!(
        r.html.contains("Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co,"),
        "{}",
        r.html
    );
    assert!(
        !r.html.contains("<script>") && !r.html.contains("<b>bold"),
        "{}",
        r.html
    );
    assert!(r.html.contains("A&amp;B &lt;Corp&gt;"));
    assert!(r.text.contains("Hello <script>alert(1)</script> & Co,"), "{}", r.text);
    assert!(r.text.contains("your A&B <Corp> account"), "{}", r.text);
}

#[test]
fn empty_values_fall_back_to_wording_in_the_templates() {
    let v = Vars {
        display_name: " ".into(),
        reason: String::new(),
        changed_at: None,
        ..vars()
    };
    let t = load(|c| {
        c.organisation = String::new();
        c.helpdesk = String::new();
        c.from = Some("noreply@example.org".into());
    });
    let r = render(&t, Kind::Notice, Some("en"), &v);
    assert!(
        r.text
            .starts_with("Hello zangstrom,\n\nYou need to choose a new password for your account"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("Why:"), "{}", r.text);
    assert!(
        r.text.contains("contact your IT helpdesk before clicking"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("The IT team\n\nReference of this message: "),
        "{}",
        r.text
    );
    let r = render(&t, Kind::Changed, Some("fr"), &v);
    assert!(
        r.text
            .contains("Le mot de passe de votre compte « zangstrom » a été changé. Merci"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("appelez immédiatement votre assistance informatique."),
        "{}",
        r.text
    );
}

#[test]
fn changed_needs_no_link_and_says_call_if_not_you() {
    let t = load(|_| {});
    let v = Vars { link: None, ..vars() };
    let r = render(&t, Kind::Changed, Some("en"), &v);
    assert_eq!(r.subject, "Your password has been changed");
    assert!(
        r.text
            .contains("If this was not you, call the helpdesk now: +33 1 23 45 67 89."),
        "{}",
        r.text
    );
    assert!(!r.text.contains("http"), "{}", r.text);
    for kind in [Kind::Notice, Kind::Reminder] {
        let err = t.render(kind, Some("en"), &v).unwrap_err();
        assert!(matches!(err, TemplateError::MissingLink { .. }), "{err}");
    }
}

/// The `locked` mail, both languages: what happened (the account, the deadline), how to reach
/// the helpdesk (its contact when configured), and no link at all.
#[test]
fn locked_says_what_happened_and_whom_to_call_without_a_link() {
    let t = load(|_| {});
    let v = Vars { link: None, ..vars() };
    let cases = [
        (
            "en",
            "Your account has been locked",
            ["was locked at the deadline", "contact the helpdesk: +33 1 23 45 67 89"],
        ),
        (
            "fr",
            "Votre compte a été verrouillé",
            [
                "a été verrouillé à la date limite",
                "l'assistance informatique : +33 1 23 45 67 89",
            ],
        ),
    ];
    for (language, subject, says) in cases {
        let r = render(&t, Kind::Locked, Some(language), &v);
        assert_eq!(r.subject, subject);
        assert!(r.text.contains("zangstrom"), "{language}: {}", r.text);
        for s in says {
            assert!(r.text.contains(s), "{language}: {s:?} in {}", r.text);
            let html = s.replace("+33", "<strong>+33").replace("89", "89</strong>");
            assert!(r.html.contains(&html), "{language}: {html:?} in {}", r.html);
        }
        assert!(
            !r.text.contains("http") && !r.html.contains("href"),
            "{language}: no link"
        );
        // With a link given anyway (e.g. by mistake), the mail still carries none.
        let with_link = render(&t, Kind::Locked, Some(language), &vars());
        assert!(!with_link.text.contains("http"), "{language}: {}", with_link.text);
    }
    let unnamed = load(|c| c.helpdesk = String::new());
    let r = render(&unnamed, Kind::Locked, Some("en"), &v);
    assert!(r.text.contains("contact your IT helpdesk."), "{}", r.text);
}

#[test]
fn overrides_replace_single_files() {
    let t = load_overrides(&[(
        "fr/notice.txt",
        "Subject: Changez votre mot de passe, {{ display_name }}\n\nLien : {{ link }}\n",
    )])
    .unwrap();
    let r = render(&t, Kind::Notice, Some("fr"), &vars());
    assert_eq!(r.subject, "Changez votre mot de passe, Zoë Ångström");
    assert_eq!(r.text, "Lien : https://portal.example.org/reset/abc?x=1&y=2\n");
    // The HTML and the other languages stay built in.
    assert!(r.html.contains("Choisir mon nouveau mot de passe"));
    assert!(
        render(&t, Kind::Notice, Some("en"), &vars())
            .subject
            .starts_with("Action needed")
    );
}

#[test]
fn a_new_language_must_be_complete() {
    let mut files: Vec<(String, String)> = Kind::ALL
        .iter()
        .flat_map(|k| {
            [
                (
                    format!("de/{k}.txt"),
                    "Subject: Passwort ändern\n\nHallo {{ display_name }}: {{ link }}\n".to_owned(),
                ),
                (
                    format!("de/{k}.html"),
                    "<p>Hallo {{ display_name }}: {{ link }}</p>".to_owned(),
                ),
            ]
        })
        .collect();
    let t = load_overrides(&as_refs(&files)).unwrap();
    assert_eq!(t.language_for(Some("de-AT")), "de");
    assert_eq!(
        render(&t, Kind::Reminder, Some("de-AT"), &vars()).subject,
        "Passwort ändern"
    );
    files.retain(|(name, _)| name != "de/changed.html");
    let err = load_overrides(&as_refs(&files)).err().unwrap();
    assert!(
        err.contains("/templates/de: de is not built in, so every template is needed; missing: changed.html"),
        "{err}"
    );
}

#[test]
fn broken_overrides_fail_at_load_naming_file_and_line() {
    let check = |files: &[(&str, &str)], expected: &str| {
        let err = load_overrides(files)
            .err()
            .unwrap_or_else(|| panic!("{files:?} loaded"));
        assert!(err.contains(expected), "{files:?}\n got: {err}\nwant: …{expected}…");
    };
    // Syntax error at compile time.
    check(
        &[(
            "fr/reminder.html",
            "{% extends \"layout.html\" %}\n{% block content %}\n<p>{{ link }}</p>\n{% if days_left %}\n",
        )],
        "/templates/fr/reminder.html line 4: syntax error: unexpected end of input",
    );
    // A misspelt variable fails the sample render, not a send.
    check(
        &[(
            "en/notice.txt",
            "Subject: Hello\n\nHello {{ dispaly_name }}\n{{ link }}\n",
        )],
        "/templates/en/notice.txt line 3: undefined value",
    );
    // An error inside the shared layout names the layout.
    check(
        &[(
            "layout.html",
            "<html>\n<body>\n{{ subject | nosuchfilter }}\n</body></html>\n",
        )],
        "/templates/layout.html line 3: unknown filter",
    );
    check(
        &[("en/changed.txt", "Hello {{ display_name }}\n")],
        "/templates/en/changed.txt line 1: the .txt template must start with a \"Subject: …\" line",
    );
    check(
        &[("en/reminder.html", "<p>Hello {{ display_name }}</p>\n")],
        "/templates/en/reminder.html: the rendered mail does not contain the link; use {{ link }}",
    );
    check(
        &[("fr/remider.txt", "Subject: x\n\n{{ link }}\n")],
        "/templates/fr/remider.txt: unknown template; expected notice, reminder, changed or locked",
    );
    check(
        &[("notice.txt", "Subject: x\n\n{{ link }}\n")],
        "/templates/notice.txt: unknown template; at the top level only layout.html and macros.html are used",
    );
    check(
        &[("Fr/notice.txt", "Subject: x\n\n{{ link }}\n")],
        "/templates/Fr: a language directory is named",
    );
    // Directories that are not language tags (the portal's pages) are not ours to judge.
    assert!(load_overrides(&[("portal/base.html", "{% block x %}")]).is_ok());
}

#[test]
fn built_in_errors_would_name_the_built_in_file() {
    // The built-in set is checked at every load; this only pins the wording of the origin.
    let err = load_overrides(&[("macros.html", "{% macro button(url, label, fallback) %}\n{{ url }\n")])
        .err()
        .unwrap();
    assert!(err.contains("/templates/macros.html line 2: syntax error"), "{err}");
}

#[test]
fn default_language_needs_templates() {
    let dir = tempfile::tempdir().unwrap();
    let err = Templates::load(&settings(dir.path(), |c| c.default_language = "de".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("mail.default_language: no templates for \"de\" (available: en, fr)"),
        "{err}"
    );
}

#[test]
fn sample_vars_render_every_kind() {
    let t = load(|_| {});
    let v = Vars::sample(Utc::now());
    for kind in Kind::ALL {
        assert!(render(&t, kind, None, &v).text.contains(SAMPLE_LINK) || !kind.needs_link());
    }
}

fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}
