//! End to end in a real browser: headless Chromium (Debian's, driven through chromedriver and
//! fantoccini) on a phone-sized screen opens a one-time link, is refused a weak password, sets a
//! strong one and sees the confirmation. Screenshots go to `target/test-artifacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;
mod portal_support;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::USER_PASSWORD;
use fantoccini::{ClientBuilder, Locator};
use portal_support::{Options, Portal, STRONG};
use pwresetd::directory::BindCheck;
use pwresetd::secret::Secret;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver (and the Chromium it starts) in a process group of its own; the whole group
/// is killed when the guard drops, even when the test fails half-way.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
    profile_path: PathBuf,
}

impl Driver {
    fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/install-deps (it installs chromium and chromium-driver)"
            );
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let profile = tempfile::tempdir().unwrap();
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
        let profile_path = profile.path().to_owned();
        Driver {
            child,
            port,
            _profile: profile,
            profile_path,
        }
    }

    fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", self.profile_path.display()),
                ],
                // A phone: 390×844 CSS pixels (iPhone 12–14 class), so the viewport meta counts.
                "mobileEmulation": {
                    "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0, "touch": true }
                }
            }
        });
        caps.as_object().unwrap().clone()
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

#[tokio::test]
async fn chromium_on_a_phone_changes_a_password_through_the_link() {
    let portal = Portal::start("pbrowser", &["jane.phone"], Options::default()).await;
    let link = portal.link("jane.phone", chrono::Duration::hours(1), 0);
    let driver = Driver::start();
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(driver.capabilities())
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session");

    browser.goto(&portal.reset_url(&link)).await.unwrap();
    let title = browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "Choose a new password");
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

    // A weak password: the page lists what is wrong.
    type_into(&browser, "new_password", "jane12345").await;
    type_into(&browser, "confirm_password", "jane12345").await;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let errors = browser.wait().for_element(Locator::Css(".errors")).await.unwrap();
    let text = errors.text().await.unwrap();
    assert!(text.contains("Use at least 15 characters."), "{text}");
    std::fs::write(
        artifacts().join("portal-rejected.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // A strong one.
    type_into(&browser, "new_password", STRONG).await;
    type_into(&browser, "confirm_password", STRONG).await;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::XPath("//h1[text()='Password changed']"))
        .await
        .unwrap();
    let body = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(
        body.contains("has been changed") && body.contains("confirmation email"),
        "{body}"
    );
    let png = browser.screenshot().await.unwrap();
    let shot = artifacts().join("portal-success.png");
    std::fs::write(&shot, &png).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    browser.close().await.unwrap();
    drop(driver);

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
    eprintln!("screenshot: {}", shot.display());
    portal.stop().await;
}

/// Clears the field, then types into it key by key, as a person would.
async fn type_into(browser: &fantoccini::Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}
