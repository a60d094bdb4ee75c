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
