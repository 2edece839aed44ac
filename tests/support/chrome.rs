//! A real browser for the console's tests: Debian's Chromium, headless,
//! driven over WebDriver by `chromedriver` (both installed by `.ci/run`),
//! with axe-core (from `tests/browser`, `npm ci`) injected into pages to
//! check their accessibility. Screenshots go to
//! `target/browser-screenshots/`.
//!
//! Outside CI a machine without Chromium skips these tests, saying so; in
//! CI (`CI` set) a missing browser fails them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The width and height of a laptop screen the pages must work at.
pub const DESKTOP: (u32, u32) = (1280, 800);
/// A tablet held upright.
pub const TABLET: (u32, u32) = (768, 1024);

/// A headless Chromium session and the driver behind it (stopped when
/// dropped).
pub struct Chrome {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    /// The console's origin, `https://…`.
    pub origin: String,
    _profile: tempfile::TempDir,
}

/// `None` (with a loud message) when the browser is missing outside CI;
/// panics when it is missing in CI.
pub fn available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let axe = axe_path();
    let axe_missing = !axe.exists();
    if missing.is_empty() && !axe_missing {
        return true;
    }
    let what = format!(
        "missing {missing:?}{}: install chromium and chromium-driver (apt-get) and run \
         `npm ci --prefix tests/browser`",
        if axe_missing {
            format!(" and {}", axe.display())
        } else {
            String::new()
        }
    );
    assert!(std::env::var_os("CI").is_none(), "in CI: {what}");
    eprintln!("\n*** SKIPPED: the browser tests need a browser: {what} ***\n");
    false
}

fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// Where the screenshots go.
pub fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots")
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium at `size`, trusting no
    /// certificate but the console's (the sandbox CA's, accepted for this
    /// session).
    pub async fn start(origin: &str, size: (u32, u32)) -> Chrome {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a browser profile");
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), json!(true));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                // An Italian operator's browser: the console speaks Italian first.
                "prefs": {"intl.accept_languages": "it-IT,it"},
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--lang=it-IT",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", size.0, size.1),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let chrome = Chrome {
                        client,
                        driver,
                        origin: origin.trim_end_matches('/').to_string(),
                        _profile: profile,
                    };
                    chrome.resize(size).await;
                    return chrome;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}")
    }

    /// Resizes the window's viewport to `size`.
    pub async fn resize(&self, size: (u32, u32)) {
        self.client
            .set_window_size(size.0, size.1)
            .await
            .expect("resized");
    }

    /// Opens `path` on the console.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.origin))
            .await
            .expect("navigated");
    }

    /// The element `css` (waiting for it to appear).
    pub async fn el(&self, css: &str) -> fantoccini::elements::Element {
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            self.client.wait().forever().for_element(Locator::Css(css)),
        )
        .await;
        match waited {
            Ok(found) => found.expect("found"),
            Err(_) => panic!("no `{css}` on the page"),
        }
    }

    /// Types `text` into the field `css`, replacing what was there.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.el(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    /// Chooses the option `value` of the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.el(css)
            .await
            .select_by_value(value)
            .await
            .expect("chosen");
    }

    /// Clicks `css` (scrolled into the middle of the screen first, at
    /// once rather than smoothly) and waits for the next page to load.
    pub async fn click(&self, css: &str) {
        self.client
            .execute("window.__leaving = true", vec![])
            .await
            .expect("marked");
        self.press(css).await;
        for _ in 0..200 {
            let left = self
                .client
                .execute("return window.__leaving === undefined", vec![])
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if left {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.settle().await;
    }

    /// Clicks `css` where the page stays (a checkbox); if the page
    /// replaced the element meanwhile (htmx), clicks the new one.
    pub async fn press(&self, css: &str) {
        let mut last = None;
        for _ in 0..20 {
            let element = self.el(css).await;
            let arg = serde_json::to_value(&element).expect("an element reference");
            let clicked = match self
                .client
                .execute(
                    "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})",
                    vec![arg],
                )
                .await
            {
                Ok(_) => element.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("`{css}` could not be clicked: {last:?}");
    }

    /// Waits until the page has no request of its own in flight (htmx
    /// marks the elements waiting with `htmx-request`) and has been quiet
    /// for a moment.
    pub async fn quiet(&self) {
        let mut calm = 0;
        for _ in 0..100 {
            let busy = self
                .client
                .execute(
                    "return document.querySelectorAll('.htmx-request').length",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            calm = if busy == 0 { calm + 1 } else { 0 };
            if calm >= 6 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the document has loaded.
    pub async fn settle(&self) {
        for _ in 0..100 {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .ok();
            if state.as_ref().and_then(Value::as_str) == Some("complete") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("a page")
            .path()
            .to_string()
    }

    /// The visible text of the page's main part.
    pub async fn text(&self) -> String {
        self.el("main").await.text().await.expect("text")
    }

    /// Saves a screenshot of the whole page (the window made as tall as
    /// the page for it) as `target/browser-screenshots/{name}.png`.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let (width, height) = self.client.get_window_size().await.expect("a window");
        let tall = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(height);
        let grow = |h: u64| u32::try_from(h).unwrap_or(4000).min(4000);
        self.client
            .set_window_size(grow(width), grow(tall.max(height) + 150))
            .await
            .expect("resized");
        let png = self.client.screenshot().await.expect("a screenshot");
        self.client
            .set_window_size(grow(width), grow(height))
            .await
            .expect("resized back");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("the screenshots folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot is saved");
        path
    }

    /// axe-core's WCAG 2.1 A and AA violations on the page shown, as
    /// `rule: target…` lines (empty when it passes).
    pub async fn accessibility(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(axe_path()).expect("axe-core");
        self.client.execute(&axe, vec![]).await.expect("axe loads");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})\
                   .then(r => done(r.violations.map(v => v.id + ': ' + \
                      v.nodes.map(n => n.target.join(' ')).join(', '))))\
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe runs");
        let Some(violations) = result.as_array() else {
            panic!("axe-core did not answer with a list: {result}");
        };
        violations
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.driver);
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
