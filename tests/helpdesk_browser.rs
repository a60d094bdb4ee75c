//! The helpdesk in a real browser (headless Chromium through chromedriver and fantoccini, on a
//! desktop-sized window): sign in → search → account page → "Send a new link", then the
//! campaign page with its chart. Then every helpdesk page, on a phone and on a desktop, passes
//! axe-core's WCAG 2.1 A/AA rules and fits the screen. Screenshots go to
//! `target/test-artifacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::USER_PASSWORD;
use common::browser::{Driver, Screen, assert_accessible, click, screenshot, submit, text_of, type_into};
use common::helpdesk::{CAMPAIGN, Setup};
use fantoccini::{Client, Locator};

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_signs_in_finds_an_account_and_sends_a_new_link() {
    let s = Setup::start("hdbrowser").await;
    // Some history to show: ann's deadline extended, prior exempted.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, _) = s
        .api(
            "POST",
            "/api/v1/accounts/ann/extend",
            Some(serde_json::json!({"deadline": later, "reason": "on leave until January"})),
        )
        .await;
    assert_eq!(status, 200);
    let before = s.links_for("ann@example.org").len();

    let driver = Driver::start();
    let b = driver.session(Screen::Desktop).await;
    the_operator_signs_in_on_a_styled_page(&s, &b).await;
    a_search_finds_the_account(&b).await;
    let shot = the_account_page_shows_everything_and_sends_a_new_link(&b).await;
    // The new link arrived and works.
    let links = s.links_for("ann@example.org");
    assert_eq!(links.len(), before + 1);
    assert_eq!(Setup::portal_status(links.last().unwrap()).await, 200);
    let shot2 = the_campaign_page_shows_its_chart(&s, &b).await;
    b.close().await.unwrap();
    eprintln!("screenshots: {} {}", shot.display(), shot2.display());
}

/// Not signed in: the sign-in page; signed in: the search box and the operator's name.
async fn the_operator_signs_in_on_a_styled_page(s: &Setup, b: &Client) {
    b.goto(&format!("{}/helpdesk/", s.base)).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Sign in");
    type_into(b, "login", "op1").await;
    type_into(b, "password", USER_PASSWORD).await;
    click(b, "form[action='/helpdesk/login'] button").await;
    b.wait().for_element(Locator::Id("q2")).await.unwrap();
    assert!(text_of(b, ".bar .who").await.contains("op1"));
    // The style sheet loaded despite the CSP (no inline styles).
    let bar = b.find(Locator::Css(".bar")).await.unwrap();
    let colour = bar.css_value("background-color").await.unwrap();
    assert!(colour.starts_with("rgb") && colour.contains("30, 58, 138"), "{colour}");
}

/// Searches for ann and opens her account.
async fn a_search_finds_the_account(b: &Client) {
    type_into(b, "q2", "ann").await;
    click(b, "form.bigfind button").await;
    let link = b.wait().for_element(Locator::LinkText("ann")).await.unwrap();
    assert!(text_of(b, "h1").await.contains("ann"));
    link.click().await.unwrap();
}

/// The account page: directory, campaign, live link, history, audit, actions; then "Send a new
/// link". Where its screenshot went.
async fn the_account_page_shows_everything_and_sends_a_new_link(b: &Client) -> std::path::PathBuf {
    b.wait().for_element(Locator::Id("resend-1")).await.unwrap();
    let main = text_of(b, "main").await;
    for needle in [
        "Must change flag",
        "SET",
        &format!("Campaign {CAMPAIGN}"),
        "marked",
        "extended",
        "Live link",
        "notice mail",
        "helpdesk.extend",
        "token:ci",
        "on leave until January",
    ] {
        assert!(
            main.contains(needle),
            "{needle:?} missing from the account page:\n{main}"
        );
    }
    b.find(Locator::Id("resend-1")).await.unwrap().click().await.unwrap();
    let flash = b.wait().for_element(Locator::Css(".flash")).await.unwrap();
    let flash = flash.text().await.unwrap();
    assert!(flash.contains("A new link was sent to ann@example.org"), "{flash}");
    let main = text_of(b, "main").await;
    assert!(main.contains("helpdesk:op1"), "the audit names the operator:\n{main}");
    let (png, shot) = screenshot(b, "helpdesk-account.png").await;
    assert_eq!(&png[1..4], b"PNG");
    shot
}

/// The campaign page, with its chart; where its screenshot went.
async fn the_campaign_page_shows_its_chart(s: &Setup, b: &Client) -> std::path::PathBuf {
    b.goto(&format!("{}/helpdesk/campaigns/{CAMPAIGN}", s.base))
        .await
        .unwrap();
    let img = b.wait().for_element(Locator::Css(".chart img")).await.unwrap();
    let loaded = b
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth;",
            vec![serde_json::to_value(&img).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(loaded, serde_json::json!(720), "the SVG chart loaded under the CSP");
    let page = text_of(b, "main").await;
    assert!(
        page.contains("By organisational unit") && page.contains("Still to change"),
        "{page}"
    );
    screenshot(b, "helpdesk-campaign.png").await.1
}

/// Every helpdesk page state, checked by axe-core and photographed on both screens: sign-in,
/// a refused sign-in, home, search results, the account view (with its language), the
/// account after an action, a locked account (with its unlock form), the campaign page (with
/// the locked count), a 404, search pages one and two, a refused short search, the mail
/// check's form and its two answers.
#[tokio::test(flavor = "multi_thread")]
async fn every_helpdesk_page_passes_axe_on_a_phone_and_a_desktop() {
    let s = Setup::start("hda11y").await;
    s.locked_before_the_deadline("bob");
    let driver = Driver::start();
    for screen in [Screen::Phone, Screen::Desktop] {
        let size = match screen {
            Screen::Phone => "phone",
            Screen::Desktop => "desktop",
        };
        let b = driver.session(screen).await;
        let check = async |state: &str| {
            assert_accessible(&b, &format!("helpdesk {state} ({size})")).await;
            screenshot(&b, &format!("a11y-helpdesk-{state}-{size}.png")).await;
        };
        b.goto(&format!("{}/helpdesk/", s.base)).await.unwrap();
        check("sign-in").await;
        type_into(&b, "login", "op1").await;
        type_into(&b, "password", "not the password").await;
        submit(&b, "form[action='/helpdesk/login'] button").await;
        check("sign-in-refused").await;
        type_into(&b, "login", "op1").await;
        type_into(&b, "password", USER_PASSWORD).await;
        submit(&b, "form[action='/helpdesk/login'] button").await;
        b.wait().for_element(Locator::Id("q2")).await.unwrap();
        check("home").await;
        type_into(&b, "q2", "ann").await;
        submit(&b, "form.bigfind button").await;
        assert!(text_of(&b, "h1").await.contains("ann"));
        check("search").await;
        b.find(Locator::LinkText("ann")).await.unwrap().click().await.unwrap();
        b.wait().for_element(Locator::Id("resend-1")).await.unwrap();
        assert!(text_of(&b, "main").await.contains("Language"));
        check("account").await;
        submit(&b, "#resend-1").await;
        b.wait().for_element(Locator::Css(".flash")).await.unwrap();
        check("account-after-action").await;
        b.goto(&format!("{}/helpdesk/accounts/bob", s.base)).await.unwrap();
        b.wait().for_element(Locator::Id("unlock-1")).await.unwrap();
        check("account-locked").await;
        b.goto(&format!("{}/helpdesk/campaigns/{CAMPAIGN}", s.base))
            .await
            .unwrap();
        b.wait().for_element(Locator::Css(".chart img")).await.unwrap();
        check("campaign").await;
        b.goto(&format!("{}/helpdesk/accounts/nobody-such", s.base))
            .await
            .unwrap();
        check("unknown-account").await;
        search_pages_and_mail_checks(&s, &b, &check).await;
        b.close().await.unwrap();
    }
}

/// Search results over two pages, a search refused as too short, and "is this mail ours?"
/// empty, for a mail pwresetd sent, and for one it did not send; each state through `check`.
async fn search_pages_and_mail_checks(s: &Setup, b: &Client, check: &impl AsyncFn(&str)) {
    b.goto(&format!("{}/helpdesk/?q=example.org&limit=2", s.base))
        .await
        .unwrap();
    b.wait().for_element(Locator::Css("a[rel=next]")).await.unwrap();
    check("search-page-1").await;
    click(b, "a[rel=next]").await;
    b.wait().for_element(Locator::Css("a[rel=prev]")).await.unwrap();
    assert!(text_of(b, "main").await.contains("Accounts 3 to 4"));
    check("search-page-2").await;
    b.goto(&format!("{}/helpdesk/?q=an", s.base)).await.unwrap();
    assert!(text_of(b, ".problem").await.contains("at least 3 characters"));
    check("search-too-short").await;
    b.goto(&format!("{}/helpdesk/mails", s.base)).await.unwrap();
    check("mail-check").await;
    let sent = s.smtp.messages()[0].parse();
    let id = sent.header("Message-ID").unwrap().trim().to_owned();
    type_into(b, "text", &id).await;
    submit(b, "form[action='/helpdesk/mails'] button").await;
    assert!(text_of(b, "#answer").await.contains("Sent by pwresetd"));
    check("mail-ours").await;
    type_into(b, "text", "ABCD-EFGH-JKMN").await;
    submit(b, "form[action='/helpdesk/mails'] button").await;
    assert!(text_of(b, "#answer").await.contains("Not sent by pwresetd"));
    check("mail-not-ours").await;
}
