//! End to end in a real browser: headless Chromium (Debian's, driven through chromedriver and
//! fantoccini) on a phone-sized screen opens a one-time link, is refused a weak password, sets a
//! strong one and sees the confirmation. Then every page state of the portal, on a phone and on
//! a desktop, in English and in French, passes axe-core's WCAG 2.1 A/AA rules and fits the
//! screen. Screenshots go to `target/test-artifacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::USER_PASSWORD;
use common::browser::{Driver, Screen, assert_accessible, click, screenshot, submit, text_of, type_into};
use common::portal::{Options, Portal, STRONG};
use fantoccini::{Client, Locator};
use pwresetd::directory::BindCheck;
use pwresetd::secret::Secret;

#[tokio::test]
async fn chromium_on_a_phone_changes_a_password_through_the_link() {
    let portal = Portal::start("pbrowser", &["jane.phone"], Options::default()).await;
    let link = portal.link("jane.phone", chrono::Duration::hours(1), 0);
    let driver = Driver::start();
    let browser = driver.session(Screen::Phone).await;

    browser.goto(&portal.reset_url(&link)).await.unwrap();
    the_form_lists_the_rules_styled_on_a_phone_screen(&browser).await;
    a_weak_password_is_refused_with_what_is_wrong(&browser).await;
    let shot = a_strong_password_is_accepted(&browser).await;
    browser.close().await.unwrap();
    drop(driver);

    only_the_new_password_opens_the_account(&portal).await;
    eprintln!("screenshot: {}", shot.display());
    portal.stop().await;
}

async fn the_form_lists_the_rules_styled_on_a_phone_screen(browser: &Client) {
    assert_eq!(text_of(browser, "h1").await, "Choose a new password");
    let rules = browser.find(Locator::Id("rules")).await.unwrap().text().await.unwrap();
    assert!(rules.contains("At least 15 characters"), "{rules}");
    // The style sheet loaded despite the CSP (no inline styles): the button is styled.
    let button = browser.find(Locator::Css("button[type=submit]")).await.unwrap();
    let colour = button.css_value("background-color").await.unwrap();
    assert!(colour.contains("29, 78, 216"), "the button is styled: {colour}");
    let width = browser
        .execute("return document.documentElement.clientWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(width, serde_json::json!(390), "a phone-wide viewport");
}

/// The page lists what is wrong.
async fn a_weak_password_is_refused_with_what_is_wrong(browser: &Client) {
    type_into(browser, "new_password", common::artifacts::TYPED_WEAK).await;
    type_into(browser, "confirm_password", common::artifacts::TYPED_WEAK).await;
    click(browser, "button[type=submit]").await;
    let errors = browser.wait().for_element(Locator::Css(".errors")).await.unwrap();
    let text = errors.text().await.unwrap();
    assert!(text.contains("Use at least 15 characters."), "{text}");
    screenshot(browser, "portal-rejected.png").await;
}

/// The confirmation page; where its screenshot went.
async fn a_strong_password_is_accepted(browser: &Client) -> std::path::PathBuf {
    type_into(browser, "new_password", STRONG).await;
    type_into(browser, "confirm_password", STRONG).await;
    click(browser, "button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::XPath("//h1[text()='Password changed']"))
        .await
        .unwrap();
    let body = text_of(browser, "main").await;
    assert!(
        body.contains("has been changed") && body.contains("confirmation email"),
        "{body}"
    );
    let (png, shot) = screenshot(browser, "portal-success.png").await;
    assert_eq!(&png[1..4], b"PNG");
    shot
}

/// The flag is gone; the new password binds unrestricted, the old one is refused.
async fn only_the_new_password_opens_the_account(portal: &Portal) {
    assert!(portal.fixture.flagged().await.is_empty());
    let dn = portal.fixture.dn("jane.phone");
    for (password, expected) in [(STRONG, BindCheck::Unrestricted), (USER_PASSWORD, BindCheck::Refused)] {
        let got = portal
            .directory
            .check_password(&dn, &Secret::new(password))
            .await
            .unwrap();
        assert_eq!(got, expected);
    }
}

/// Every state of the portal's pages, checked by axe-core and photographed, on both screens:
/// landing, link form, refusal, success, 410 with the new-link form, new link sent, the
/// current-password form, rate-limited, 404; the link form and the refusal in French too.
#[tokio::test]
async fn every_portal_page_passes_axe_on_a_phone_and_a_desktop() {
    let users = ["ann.a11y", "bob.a11y"];
    // Three tries per account: the link flow below uses three, the fourth is rate-limited.
    let options = Options {
        per_account: 3,
        ..Options::default()
    };
    let portal = Portal::start("pa11y", &users, options).await;
    let driver = Driver::start();
    for (screen, uid) in [(Screen::Phone, users[0]), (Screen::Desktop, users[1])] {
        let size = match screen {
            Screen::Phone => "phone",
            Screen::Desktop => "desktop",
        };
        let b = driver.session(screen).await;
        let link = portal.link(uid, chrono::Duration::hours(1), 0);
        let check = async |state: &str| {
            assert_accessible(&b, &format!("{state} ({size})")).await;
            screenshot(&b, &format!("a11y-portal-{state}-{size}.png")).await;
        };

        b.goto(&format!("{}/", portal.url)).await.unwrap();
        check("index").await;
        b.goto(&format!("{}?lang=fr", portal.reset_url(&link))).await.unwrap();
        assert_eq!(text_of(&b, "h1").await, "Choisissez un nouveau mot de passe");
        check("form-fr").await;
        type_into(&b, "new_password", "short").await;
        type_into(&b, "confirm_password", "short").await;
        submit(&b, "button[type=submit]").await;
        assert!(text_of(&b, ".errors h2").await.starts_with("Veuillez corriger"));
        check("refusal-fr").await;
        b.goto(&format!("{}?lang=en", portal.reset_url(&link))).await.unwrap();
        check("form").await;
        type_into(&b, "new_password", STRONG).await;
        type_into(&b, "confirm_password", "something else entirely").await;
        submit(&b, "button[type=submit]").await;
        assert_eq!(text_of(&b, ".errors h2").await, "Please fix this");
        check("refusal").await;
        type_into(&b, "new_password", STRONG).await;
        type_into(&b, "confirm_password", STRONG).await;
        submit(&b, "button[type=submit]").await;
        assert_eq!(text_of(&b, "h1").await, "Password changed");
        check("success").await;
        b.goto(&portal.reset_url(&link)).await.unwrap();
        assert_eq!(text_of(&b, "h1").await, "This link is no longer valid");
        check("gone").await;
        // Another login: this account has used its three tries.
        type_into(&b, "resend-login", "someone.else").await;
        submit(&b, "form.resend button").await;
        assert_eq!(text_of(&b, "h1").await, "Check your email");
        check("resent").await;
        b.goto(&format!("{}/change", portal.url)).await.unwrap();
        assert_eq!(text_of(&b, "h1").await, "Ask for a new link");
        // It chooses no password: no field for a new one.
        assert!(b.find(Locator::Id("new_password")).await.is_err());
        check("change").await;
        for _ in 0..4 {
            type_into(&b, "login", "nobody.here").await;
            type_into(&b, "current_password", "wrong").await;
            submit(&b, "button[type=submit]").await;
            if b.find(Locator::Id("login")).await.is_err() {
                break;
            }
        }
        assert_eq!(text_of(&b, "h1").await, "Too many attempts");
        check("rate-limited").await;
        b.goto(&format!("{}/no/such/page", portal.url)).await.unwrap();
        assert_eq!(text_of(&b, "h1").await, "Page not found");
        check("not-found").await;
        b.close().await.unwrap();
    }
    drop(driver);
    portal.stop().await;
}
