//! Helpers for the web UI tests: an HTTPS client with a cookie jar that trusts the test
//! federation's root (a browser session without the browser), and a small SMTP sink.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::TestFed;

/// A logged-in (or not yet) browser-like client of one node's web UI.
pub struct WebClient {
    pub http: reqwest::Client,
    pub base: String,
}

/// An answer: status, `Location` (for redirects) and body.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    pub body: String,
}

impl WebClient {
    /// A client of `region`'s web UI, trusting the federation's root; redirects are not
    /// followed, so a test sees each 303.
    pub fn new(t: &TestFed, region: &str) -> WebClient {
        let base = t
            .fed
            .web_urls
            .get(region)
            .expect("web UI of region")
            .clone();
        let ca_path = &t.fed.file.organisations[0].tls.ca;
        let ca = std::fs::read(ca_path).expect("federation root");
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("root pem"))
            .resolve(
                "localhost",
                std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            )
            .cookie_store(true)
            .redirect(Policy::none())
            .https_only(true)
            .build()
            .expect("http client");
        WebClient { http, base }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("body");
        Page {
            status,
            location,
            content_type,
            body,
        }
    }

    /// A GET of `path_or_url` (a path on this UI, or a whole URL such as a mail's deep link).
    pub async fn get(&self, path_or_url: &str) -> Page {
        let url = if path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        Self::page(self.http.get(url).send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST");
        Self::page(response).await
    }

    /// A POST with the CSRF token of the page at `form_page` added.
    pub async fn post_form(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        let token = csrf_token(&page.body).expect("a CSRF token on the form page");
        let mut all = fields.to_vec();
        all.push(("csrf", &token));
        self.post(path, &all).await
    }

    /// Logs in through the form; returns the answer of the POST.
    pub async fn login(&self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let token = csrf_token(&form.body).expect("login CSRF token");
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &token),
                ("volgende", "/"),
            ],
        )
        .await
    }
}

/// The value of the first hidden `csrf` field in a page.
pub fn csrf_token(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The development password of an account of the test federation.
pub fn dev_password(t: &TestFed, username: &str) -> String {
    t.fed
        .dev_accounts
        .iter()
        .find(|a| a.username == username)
        .map(|a| a.password.clone())
        .expect("dev account")
}

/// A mail as the SMTP sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (dot-unstuffed).
    pub data: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let prefix = format!("{}:", name.to_lowercase());
        // Unfold continuation lines first.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded
            .lines()
            .find(|l| l.to_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The body, decoded from quoted-printable when so marked.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if qp {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Ok(b) = u8::from_str_radix(joined.get(i + 1..i + 3).unwrap_or(""), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A small SMTP server on 127.0.0.1 that accepts every mail and keeps it in memory: enough
/// of RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for lettre's client.
pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// A sink on a given port (0: any free one): a test can let mail fail first and start the
    /// server later where the node expects it.
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind sink");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = serve_smtp(stream, store).await;
                });
            }
        });
        SmtpSink {
            port,
            received,
            task,
        }
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Mails by recipient.
    pub fn by_recipient(&self) -> BTreeMap<String, Vec<ReceivedMail>> {
        let mut out: BTreeMap<String, Vec<ReceivedMail>> = BTreeMap::new();
        for m in self.mails() {
            for to in &m.to {
                out.entry(to.clone()).or_default().push(m.clone());
            }
        }
        out
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.rfind('>').unwrap_or(arg.len());
    arg[start..end].to_owned()
}

async fn serve_smtp(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            write.write_all(b"250 ok\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            write.write_all(b"250 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            write.write_all(b"250 ok\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            store.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 queued\r\n").await?;
        } else if upper.starts_with("RSET") {
            to.clear();
            write.write_all(b"250 ok\r\n").await?;
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
