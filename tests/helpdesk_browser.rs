//! The helpdesk in a real browser (headless Chromium through chromedriver and fantoccini, on a
//! desktop-sized window): sign in → search → account page → "Send a new link", then the
//! campaign page with its chart. Screenshots go to `target/test-artifacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;
mod helpdesk_support;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::USER_PASSWORD;
use fantoccini::{Client, ClientBuilder, Locator};
use helpdesk_support::{CAMPAIGN, Setup};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver (and its Chromium) in a process group of its own, killed on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/install-deps (it installs chromium and chromium-driver)"
            );
        }
        let port = common::daemon::free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            port,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn browser(&self) -> Client {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1440,1000",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            }
        });
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (process_group(0)); Chromium inherits the group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn text_of(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn type_into(b: &Client, id: &str, text: &str) {
    let field = b.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

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
    let b = driver.browser().await;
    // Not signed in: the sign-in page.
    b.goto(&format!("{}/helpdesk/", s.base)).await.unwrap();
    assert_eq!(text_of(&b, "h1").await, "Sign in");
    type_into(&b, "login", "op1").await;
    type_into(&b, "password", USER_PASSWORD).await;
    b.find(Locator::Css("form[action='/helpdesk/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Id("q2")).await.unwrap();
    assert!(text_of(&b, ".bar .who").await.contains("op1"));
    // The style sheet loaded despite the CSP (no inline styles).
    let bar = b.find(Locator::Css(".bar")).await.unwrap();
    let colour = bar.css_value("background-color").await.unwrap();
    assert!(colour.starts_with("rgb") && colour.contains("30, 58, 138"), "{colour}");

    // Search.
    type_into(&b, "q2", "ann").await;
    b.find(Locator::Css("form.bigfind button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let link = b.wait().for_element(Locator::LinkText("ann")).await.unwrap();
    assert!(text_of(&b, "h1").await.contains("ann"));
    link.click().await.unwrap();

    // The account page: directory, campaign, live link, history, audit, actions.
    b.wait().for_element(Locator::Id("resend-1")).await.unwrap();
    let main = text_of(&b, "main").await;
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
    let main = text_of(&b, "main").await;
    assert!(main.contains("helpdesk:op1"), "the audit names the operator:\n{main}");
    let png = b.screenshot().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let shot = artifacts().join("helpdesk-account.png");
    std::fs::write(&shot, &png).unwrap();

    // The new link arrived and works.
    let links = s.links_for("ann@example.org");
    assert_eq!(links.len(), before + 1);
    assert_eq!(Setup::portal_status(links.last().unwrap()).await, 200);

    // The campaign page, with its chart.
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
    let page = text_of(&b, "main").await;
    assert!(
        page.contains("By organisational unit") && page.contains("Still to change"),
        "{page}"
    );
    let shot2 = artifacts().join("helpdesk-campaign.png");
    std::fs::write(&shot2, b.screenshot().await.unwrap()).unwrap();
    b.close().await.unwrap();
    eprintln!("screenshots: {} {}", shot.display(), shot2.display());
}
