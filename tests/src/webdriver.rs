//! A minimal W3C WebDriver client for the browser test: Debian's `chromedriver` drives Debian's
//! headless `chromium` (no browser download), spoken to as JSON over HTTP on 127.0.0.1.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Chromium and its driver are, if installed.
pub fn find_chromium() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
                .iter()
                .map(|d| Path::new(d).join(n))
                .find(|p| p.exists())
        })
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

/// A running chromedriver with one headless Chromium session; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends chromedriver and every Chromium process it started: they share the process group
    /// made for chromedriver, so nothing is left running even when a test panics.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free port and a fresh headless Chromium that accepts the test
    /// federation's development certificate.
    pub async fn start(chromium: &Path, chromedriver: &Path) -> anyhow::Result<Browser> {
        let port = vir_shared::ports::free_port()?;
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            // Its own process group, which Chromium's processes join: see `Drop`.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            http,
            base,
            session: String::new(),
            driver,
            _profile: profile,
        };
        // Wait until the driver answers.
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(ready, "chromedriver did not start");
        // Flags known to work on this kind of machine (no network but loopback).
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--ignore-certificate-errors".to_owned(),
            "--host-resolver-rules=MAP localhost 127.0.0.1".to_owned(),
            "--window-size=1280,1100".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let created = browser
            .call(
                reqwest::Method::POST,
                "/session",
                json!({
                    "capabilities": {
                        "alwaysMatch": {
                            "browserName": "chrome",
                            "acceptInsecureCerts": true,
                            "goog:chromeOptions": {
                                "binary": chromium.display().to_string(),
                                "args": args,
                            }
                        }
                    }
                }),
            )
            .await?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no session id in {created}"))?
            .to_owned();
        Ok(browser)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = self.http.request(method.clone(), url);
        let request = if method == reqwest::Method::GET {
            request
        } else {
            request.json(&body)
        };
        let answer: Value = request.send().await?.json().await?;
        if let Some(error) = answer["value"]["error"].as_str() {
            anyhow::bail!(
                "webdriver {path}: {error}: {}",
                answer["value"]["message"].as_str().unwrap_or_default()
            );
        }
        Ok(answer["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path("/url"),
            json!({ "url": url }),
        )
        .await
        .map(|_| ())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.session_path("/url"),
                Value::Null,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    pub async fn source(&self) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.session_path("/source"),
                Value::Null,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                &self.session_path("/element"),
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        v[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no element {css}"))
    }

    /// Types `text` into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{id}/value")),
            json!({ "text": text }),
        )
        .await
        .map(|_| ())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{id}/click")),
            json!({}),
        )
        .await
        .map(|_| ())
    }

    /// Waits until the page's URL ends with `suffix` and its source contains `text` (a click
    /// answers before the page it leads to has loaded); returns the source.
    pub async fn wait_for(
        &self,
        suffix: &str,
        text: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let url = self.current_url().await.unwrap_or_default();
            let source = self.source().await.unwrap_or_default();
            if url.ends_with(suffix) && source.contains(text) {
                return Ok(source);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("waited for {suffix} with {text:?}; at {url}: {source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.session_path("/screenshot"),
                Value::Null,
            )
            .await?;
        let b64 = v.as_str().unwrap_or_default();
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    pub async fn quit(self) {
        let _ = self
            .call(reqwest::Method::DELETE, &self.session_path(""), Value::Null)
            .await;
    }
}
