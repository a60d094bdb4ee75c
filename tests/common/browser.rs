//! The one browser driver of the suite: Debian's headless Chromium, driven through chromedriver
//! and fantoccini, on a phone or a desktop screen. Screenshots go to `target/test-artifacts/`.
//!
//! It owns starting and killing chromedriver (with the Chromium it starts) and the page helpers
//! the browser tests share, among them the accessibility check ([`assert_accessible`]: axe-core,
//! vendored in `tests/a11y/`, run in the page); it knows nothing of the portal or the helpdesk.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The screen a session emulates.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// 390×844 CSS pixels (iPhone 12–14 class), touch, so the viewport meta counts.
    Phone,
    /// A 1440×1000 window.
    Desktop,
}

/// chromedriver (and the Chromium it starts) in a process group of its own; the whole group is
/// killed when the guard drops, even when the test fails half-way.
pub struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    pub fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/install-deps (it installs chromium and chromium-driver)"
            );
        }
        let port = super::free_port();
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

    /// A Chromium session on `screen`.
    pub async fn session(&self, screen: Screen) -> Client {
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(self.capabilities(screen))
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }

    fn capabilities(&self, screen: Screen) -> serde_json::Map<String, serde_json::Value> {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let mut options = serde_json::json!({ "binary": CHROMIUM });
        match screen {
            Screen::Phone => {
                options["mobileEmulation"] = serde_json::json!({
                    "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0, "touch": true }
                });
            }
            Screen::Desktop => args.push("--window-size=1440,1000".into()),
        }
        options["args"] = serde_json::json!(args);
        let caps = serde_json::json!({ "browserName": "chrome", "goog:chromeOptions": options });
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

/// `target/test-artifacts/`, created if need be.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes a screenshot and saves it as `target/test-artifacts/NAME`; the PNG and where it went.
pub async fn screenshot(b: &Client, name: &str) -> (Vec<u8>, PathBuf) {
    let png = b.screenshot().await.unwrap();
    let path = artifacts().join(name);
    std::fs::write(&path, &png).unwrap();
    (png, path)
}

/// The text of the first element matching `css`.
pub async fn text_of(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Clears the field, then types into it key by key, as a person would.
pub async fn type_into(b: &Client, id: &str, text: &str) {
    let field = b.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the submit button matching `css` and waits for the answer's page (a new document,
/// whatever its status).
pub async fn submit(b: &Client, css: &str) {
    b.execute("document.body.dataset.answered = 'before';", vec![])
        .await
        .unwrap();
    click(b, css).await;
    b.wait()
        .for_element(Locator::Css("body:not([data-answered])"))
        .await
        .unwrap();
}

/// Clicks the first element matching `css`.
pub async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// axe-core, as the npm package ships it (see `tests/a11y/README.md`), and its checksum.
const AXE: &str = include_str!("../a11y/axe.min.js");
const AXE_SHA256: &str = include_str!("../a11y/axe.min.js.sha256");

/// The axe-core rules of WCAG 2.0 and 2.1, levels A and AA.
const WCAG_21_AA: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Runs axe-core's WCAG 2.1 A/AA rules on the page shown and fails on any violation, naming
/// `state`, each rule, its help and the elements. Also fails when the page is wider than the
/// screen (a phone would have to scroll sideways).
pub async fn assert_accessible(b: &Client, state: &str) {
    let digest: String = Sha256::digest(AXE.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    assert_eq!(
        AXE_SHA256.split_whitespace().next(),
        Some(digest.as_str()),
        "tests/a11y/axe.min.js does not match its checksum: run scripts/update-axe"
    );
    // WebDriver scripts run outside the page's Content-Security-Policy.
    let loaded = b
        .execute(&format!("{AXE}\n;return typeof window.axe.run;"), vec![])
        .await
        .unwrap();
    assert_eq!(loaded, serde_json::json!("function"), "axe-core did not load");
    let script = r"
        const done = arguments[arguments.length - 1];
        window.axe
            .run(document, { runOnly: { type: 'tag', values: arguments[0] } })
            .then(r => done({
                passes: r.passes.length,
                violations: r.violations.map(v => ({
                    id: v.id,
                    impact: v.impact,
                    help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary),
                })),
            }))
            .catch(e => done({ error: String(e) }));";
    let result = b
        .execute_async(script, vec![serde_json::json!(WCAG_21_AA)])
        .await
        .unwrap();
    assert!(result.get("error").is_none(), "{state}: axe-core failed: {result}");
    let violations = result["violations"].as_array().unwrap();
    assert!(
        violations.is_empty(),
        "{state}: {} WCAG 2.1 A/AA violation(s):\n{}",
        violations.len(),
        serde_json::to_string_pretty(violations).unwrap()
    );
    assert!(
        result["passes"].as_u64().unwrap() >= 5,
        "{state}: axe-core checked too little: {result}"
    );
    // The innermost elements that stick out on the right, when the page is wider than the screen.
    let wide = r"
        const width = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= width) return [];
        return [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > width + 1))
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                + ' right=' + Math.round(e.getBoundingClientRect().right));";
    let wide = b.execute(wide, vec![]).await.unwrap();
    assert_eq!(wide, serde_json::json!([]), "{state}: wider than the screen");
}
