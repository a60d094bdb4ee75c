//! The portal in the person's language, over real HTTP against the real directory and store:
//! English or French, chosen from the account's `preferredLanguage` when the link names the
//! account, else `Accept-Language`; the switch (`?lang=`, plain links) wins over both and is
//! kept by the forms; refusals, rate limits and errors are translated too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::portal::{Options, Portal, csrf, unescape};

/// GET with an `Accept-Language` header: (status, `Vary` header, unescaped body).
async fn get_in(client: &reqwest::Client, url: &str, accept: &str) -> (u16, String, String) {
    let r = client.get(url).header("Accept-Language", accept).send().await.unwrap();
    let vary = r
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    (r.status().as_u16(), vary, unescape(&r.text().await.unwrap()))
}

async fn post_in(client: &reqwest::Client, url: &str, accept: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = client
        .post(url)
        .header("Accept-Language", accept)
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), unescape(&r.text().await.unwrap()))
}

fn set_language(portal: &Portal, uid: &str, language: &str) {
    let db = rusqlite::Connection::open(portal.fixture.store_path()).unwrap();
    let n = db
        .execute("UPDATE accounts SET language = ?1 WHERE login = ?2", (language, uid))
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn pages_follow_the_account_then_the_browser_and_the_switch_wins() {
    let options = Options {
        per_account: 1,
        ..Options::default()
    };
    let portal = Portal::start("plang", &["lea.fr", "tom.en"], options).await;
    let client = common::portal::client();

    // No preferredLanguage: the browser's first language with a catalogue.
    let link = portal.link("tom.en", chrono::Duration::hours(1), 0);
    let url = portal.reset_url(&link);
    let (status, vary, body) = get_in(&client, &url, "de-DE, fr-CA;q=0.8, en;q=0.5").await;
    assert_eq!(status, 200);
    assert!(vary.contains("Accept-Language"), "{vary}");
    assert!(body.contains("<html lang=\"fr\">"), "{body}");
    assert!(body.contains("<h1>Choisissez un nouveau mot de passe</h1>"), "{body}");
    assert!(body.contains("<title>Choisissez un nouveau mot de passe · Changement de mot de passe</title>"));
    // The switch: a plain link to this page in the other language, named in that language.
    assert!(
        body.contains(&format!(
            "<a href=\"/reset/{link}?lang=en\" hreflang=\"en\" lang=\"en\">English</a>"
        )),
        "{body}"
    );
    // Without a language the browser asks for: English.
    let (_, _, body) = get_in(&client, &url, "de").await;
    assert!(body.contains("<html lang=\"en\">") && body.contains("<h1>Choose a new password</h1>"));

    // The account's preferredLanguage wins over the browser's.
    set_language(&portal, "lea.fr", "fr-FR");
    let link = portal.link("lea.fr", chrono::Duration::hours(1), 0);
    let url = portal.reset_url(&link);
    let (_, _, body) = get_in(&client, &url, "en-GB, en").await;
    assert!(body.contains("<html lang=\"fr\">"), "{body}");
    assert!(body.contains("Vous choisissez un nouveau mot de passe pour <strong class=\"login\">lea.fr</strong>."));

    // The switch wins over both, and the form posts back in the chosen language.
    let (_, _, body) = get_in(&client, &format!("{url}?lang=en"), "fr").await;
    assert!(body.contains("<html lang=\"en\">"), "{body}");
    assert!(body.contains(&format!("action=\"/reset/{link}?lang=en\"")), "{body}");
    let (status, body) = post_in(
        &client,
        &format!("{url}?lang=en"),
        "fr",
        &[
            ("csrf", &csrf(&body)),
            ("new_password", "short"),
            ("confirm_password", "short"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("<html lang=\"en\">") && body.contains("Please fix"),
        "{body}"
    );

    // The account's second try in the window (per_account = 1): the rate-limit page, in the
    // account's language.
    let (_, _, page) = get_in(&client, &url, "en").await;
    let (status, body) = post_in(
        &client,
        &url,
        "en",
        &[
            ("csrf", &csrf(&page)),
            ("new_password", "short"),
            ("confirm_password", "short"),
        ],
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("<h1>Trop de tentatives</h1>"), "{body}");

    // Pages that name no account: Accept-Language.
    let (status, _, body) = get_in(&client, &format!("{}/no/such/page", portal.url), "fr").await;
    assert_eq!(status, 404);
    assert!(body.contains("<h1>Page introuvable</h1>"), "{body}");
    let (_, _, body) = get_in(&client, &format!("{}/", portal.url), "fr").await;
    assert!(body.contains("Lien perdu ou expiré ?"), "{body}");
    let (_, _, body) = get_in(&client, &format!("{}/?lang=fr", portal.url), "en").await;
    assert!(body.contains("action=\"/resend?lang=fr\""), "{body}");
    assert!(body.contains("href=\"/change?lang=fr\""), "{body}");
    let (status, body) = post_in(
        &client,
        &format!("{}/resend?lang=fr", portal.url),
        "en",
        &[("csrf", &csrf(&body)), ("login", "someone")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Consultez votre messagerie</h1>"), "{body}");
    // After a POST with no page of its own, the switch leads to the landing page.
    assert!(body.contains("<a href=\"/?lang=en\""), "{body}");

    portal.stop().await;
}

/// POSTs `new` twice (new and confirmation) to `url` with the CSRF token of `form`, plus the
/// extra fields; answers (status, unescaped body).
async fn refuse(client: &reqwest::Client, url: &str, form: &str, new: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let token = csrf(form);
    let mut fields = vec![
        ("csrf", token.as_str()),
        ("new_password", new),
        ("confirm_password", new),
    ];
    fields.extend_from_slice(extra);
    post_in(client, url, "en", &fields).await
}

/// Words of the English texts that must not show on a French page.
const ENGLISH: [&str; 11] = [
    "Use at least",
    "This password",
    "This is ",
    "Choose ",
    "At least",
    "Not found",
    "easy to guess",
    "Add another",
    "Avoid ",
    "A few unrelated",
    "The directory",
];

fn assert_french(body: &str, expected: &str) {
    assert!(body.contains("<html lang=\"fr\">"), "{body}");
    assert!(body.contains(expected), "{expected:?} not in:\n{body}");
    for english in ENGLISH {
        assert!(!body.contains(english), "{english:?} (English) in:\n{body}");
    }
}

/// A breached-password index holding `password`, seen 3,421 times.
fn breach_index(dir: &std::path::Path, password: &str) -> std::path::PathBuf {
    use pwresetd::policy::breach;
    let input = dir.join("pwned.txt");
    let hex: String = breach::sha1(password).iter().map(|b| format!("{b:02X}")).collect();
    std::fs::write(&input, format!("{hex}:3421\r\n")).unwrap();
    let index = dir.join("pwned.idx");
    breach::build(&input, &index, &mut |_| {}).unwrap();
    index
}

/// A French-speaking account (its `preferredLanguage`; the browser asks for English) sees the
/// rules, every refusal with its values, the strength estimate's advice and "this is your
/// current password" (the directory's answer, in the link flow) in French.
#[tokio::test]
async fn policy_rules_and_refusals_are_in_the_accounts_language() {
    let dir = tempfile::tempdir().unwrap();
    let breached = "orange giraffe whistles 48 lantern";
    let options = Options {
        policy: pwresetd::policy::PolicyConfig {
            breached_index: Some(breach_index(dir.path(), breached)),
            ..pwresetd::policy::PolicyConfig::default()
        },
        ..Options::default()
    };
    let portal = Portal::start("plangpol", &["margaux"], options).await;
    let client = common::portal::client();
    set_language(&portal, "margaux", "fr");
    let url = portal.reset_url(&portal.link("margaux", chrono::Duration::hours(1), 0));

    let (status, _, form) = get_in(&client, &url, "en").await;
    assert_eq!(status, 200);
    for rule in [
        "Au moins 15 caractères",
        "Au plus 128 caractères",
        "Difficile à deviner (force 3 sur 4 ou plus) : quelques mots sans rapport entre eux font l’affaire",
        "Ne contient ni votre nom, ni votre identifiant, ni votre adresse électronique",
        "Absent des fuites de données connues",
        "Différent de vos 5 derniers mots de passe",
        "Différent de votre mot de passe actuel",
        "Quelques mots sans rapport entre eux, séparés par des espaces",
    ] {
        assert_french(&form, rule);
    }

    let cases = [
        ("court", "Le mot de passe doit contenir au moins 15 caractères."),
        (
            "margaux aime les tracteurs violets 93",
            "Ce mot de passe contient votre identifiant, votre nom ou votre adresse électronique. \
             Choisissez-en un qui ne contienne ni votre nom, ni votre identifiant, ni votre adresse électronique.",
        ),
        (
            breached,
            "Ce mot de passe est apparu 3\u{a0}421 fois dans des fuites de données connues. Choisissez-en un autre.",
        ),
        ("passwordpassword", "Ce mot de passe serait trop facile à deviner. "),
        (
            common::USER_PASSWORD,
            "C’est votre mot de passe actuel. Choisissez-en un nouveau.",
        ),
    ];
    let mut form = form;
    for (new, expected) in cases {
        let (status, body) = refuse(&client, &url, &form, new, &[]).await;
        assert_eq!(status, 422, "{new}: {body}");
        assert_french(&body, expected);
        assert!(body.contains("non respectée"), "the broken rule is marked: {body}");
        form = body;
    }
    assert_eq!(
        portal.record("margaux").state,
        pwresetd::campaign::state::AccountState::Marked
    );
    portal.stop().await;
}

/// The directory's own rules, chosen with the switch (`?lang=fr`) on a link's form that asks for
/// the current password too (the user's own Password Modify): its minimum length as the floor
/// under `[policy]`, listed and refused in French, and its own refusal after the write was
/// tried (slapd: "not being changed") in French too.
#[tokio::test]
async fn the_directorys_rules_and_refusals_are_in_the_chosen_language() {
    let lax = pwresetd::policy::PolicyConfig {
        min_length: 4,
        min_strength: 0,
        forbid_personal_data: false,
        differs_from_current: false,
        ..pwresetd::policy::PolicyConfig::default()
    };
    let options = Options {
        auth: pwresetd::portal::Auth::LinkAndCurrentPassword,
        policy: lax,
        ..Options::default()
    };
    let portal = Portal::start("plangdir", &["shorty"], options).await;
    let client = common::portal::client();
    let link = portal.link("shorty", chrono::Duration::hours(1), 0);
    let url = format!("{}?lang=fr", portal.reset_url(&link));
    let (status, _, form) = get_in(&client, &url, "en").await;
    assert_eq!(status, 200);
    assert_french(&form, "Au moins 8 caractères");
    let account = [("current_password", common::USER_PASSWORD)];
    let (status, body) = refuse(&client, &url, &form, "Zq7#pk", &account).await;
    assert_eq!(status, 422, "{body}");
    assert_french(&body, "Le mot de passe doit contenir au moins 8 caractères.");
    let (status, body) = refuse(&client, &url, &body, common::USER_PASSWORD, &account).await;
    assert_eq!(status, 422, "{body}");
    assert_french(&body, "C’est votre mot de passe actuel. Choisissez-en un nouveau.");
    assert_eq!(
        portal.record("shorty").state,
        pwresetd::campaign::state::AccountState::Marked
    );
    portal.stop().await;
}

/// `/change` with a marked account's current password (the burnt one), in French: the page
/// says the password cannot choose a new one and that a link was sent.
#[tokio::test]
async fn the_burnt_password_page_is_in_the_chosen_language() {
    let portal = Portal::start("plangburnt", &["brule"], Options::default()).await;
    let client = common::portal::client();
    let url = format!("{}/change?lang=fr", portal.url);
    let (status, _, form) = get_in(&client, &url, "en").await;
    assert_eq!(status, 200);
    let token = csrf(&form);
    let fields = [
        ("csrf", token.as_str()),
        ("login", "brule"),
        ("current_password", common::USER_PASSWORD),
        ("new_password", common::portal::STRONG),
        ("confirm_password", common::portal::STRONG),
    ];
    let (status, body) = post_in(&client, &url, "en", &fields).await;
    assert_eq!(status, 200, "{body}");
    assert_french(&body, "il ne peut pas servir à en choisir un nouveau");
    assert_french(&body, "Un lien pour choisir votre nouveau mot de passe a été envoyé");
    portal.stop().await;
}
