//! A real browser for end-to-end tests of the page: Debian's `chromium`, driven over WebDriver
//! through `chromedriver` (packages `chromium` and `chromium-driver`). Without them a browser
//! test skips with a message, or fails when `TEST_REQUIRE_SERVICES=1` (as in CI, whose
//! `.ci/run` installs them).

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what a test waits for.
pub const PAGE_PATIENCE: Duration = Duration::from_secs(20);

/// A running chromedriver; each [`Browser::window`] is a browser of its own (its own profile:
/// its own storage, as another person's browser would have).
pub struct Browser {
    driver: Child,
    port: u16,
    profiles: Vec<tempfile::TempDir>,
}

impl Browser {
    /// Starts chromedriver, or says why a browser test cannot run (`None`: skip).
    pub async fn start(test: &str) -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            let why = format!(
                "{test}: SKIPPED: no browser ({} missing; apt-get install chromium chromium-driver)",
                missing.join(", ")
            );
            if std::env::var("TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{why}, and TEST_REQUIRE_SERVICES=1");
            }
            eprintln!("{why}");
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let b = Browser {
            driver,
            port,
            profiles: Vec::new(),
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < PAGE_PATIENCE,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(b)
    }

    /// A new headless browser window with a fresh profile.
    pub async fn window(&mut self) -> Page {
        self.window_sized(1100, 900).await
    }

    /// A new headless browser window `width` × `height` pixels, with a fresh profile.
    pub async fn window_sized(&mut self, width: u32, height: u32) -> Page {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        // Downloads land in the profile's folder, without asking.
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args, "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            }}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session");
        Page { client, downloads }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One browser window.
pub struct Page {
    /// The WebDriver session.
    pub client: Client,
    /// Where its downloads go.
    pub downloads: PathBuf,
}

/// `[data-test="NAME"]`.
pub fn hook(name: &str) -> String {
    format!("[data-test=\"{name}\"]")
}

impl Page {
    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("page opens");
    }

    /// The first element matching `css`, waiting for it.
    pub async fn wait_for(&self, css: &str) -> Element {
        match (self.client.wait().at_most(PAGE_PATIENCE))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let shot = self.screenshot("failed-wait").await;
                panic!("{css} did not appear ({e}); the page: {}", shot.display())
            }
        }
    }

    /// Every element matching `css` now (possibly none).
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
    }

    /// The visible elements matching `css` now.
    pub async fn visible(&self, css: &str) -> Vec<Element> {
        let mut shown = Vec::new();
        for e in self.all(css).await {
            if e.is_displayed().await.unwrap_or(false) {
                shown.push(e);
            }
        }
        shown
    }

    /// The text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = std::time::Instant::now();
        loop {
            if let Some(e) = self.visible(css).await.into_iter().next() {
                let t = e.text().await.unwrap_or_default();
                if ok(&t) {
                    return t;
                }
                if started.elapsed() > PAGE_PATIENCE {
                    panic!("{css} still says {t:?}");
                }
            } else if started.elapsed() > PAGE_PATIENCE {
                panic!("{css} is not shown");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        let started = std::time::Instant::now();
        loop {
            let e = self.wait_for(css).await;
            // In the middle of the window: a sticky header would take a click at the top.
            let arg = serde_json::to_value(&e).expect("element as an argument");
            let clicked = async {
                (self.client)
                    .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
                    .await?;
                e.click().await
            }
            .await;
            match clicked {
                Ok(_) => return,
                // The page drew the element again meanwhile (a live list, say): find it again.
                Err(err) if started.elapsed() < PAGE_PATIENCE => {
                    eprintln!("clicking {css} again: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("clicking {css}: {err}"),
            }
        }
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait_for(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Whether the page is wider than the window (it would scroll sideways).
    pub async fn overflows_sideways(&self) -> bool {
        let wide = self
            .client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await
            .expect("script runs");
        wide.as_bool().unwrap_or(true)
    }

    /// Writes a screenshot to `target/screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The first file downloaded into the window's downloads folder (waiting for one that is
    /// complete), and its contents.
    pub async fn downloaded(&self) -> (String, Vec<u8>) {
        let started = std::time::Instant::now();
        loop {
            let done = std::fs::read_dir(&self.downloads)
                .expect("downloads dir")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x != "crdownload"));
            if let Some(path) = done {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                return (
                    name.unwrap_or_default(),
                    std::fs::read(&path).expect("read"),
                );
            }
            assert!(started.elapsed() < PAGE_PATIENCE, "nothing was downloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
