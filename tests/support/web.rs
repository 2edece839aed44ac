//! A minimal HTTPS client for the console's tests: one request per
//! connection (HTTP/1.1, `Connection: close`), the server checked against
//! the federation CA, cookies carried by hand.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response: status, headers (names lower case) and body.
#[derive(Debug)]
pub struct Page {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Page {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the hidden `csrf` field of the page's first form
    /// carrying one.
    pub fn csrf(&self) -> String {
        self.body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_string()
    }
}

/// A browser stand-in for the console at `address`, trusting `ca`.
pub struct Browser {
    address: String,
    tls: tokio_rustls::TlsConnector,
    /// The session cookie (`name=value`), once signed in.
    pub cookie: Option<String>,
    /// The other cookies the console set (`name=value`).
    pub others: Vec<String>,
    /// Headers sent with every request (`Name: value`), for example the
    /// `X-Forwarded-For` a proxy adds.
    pub headers: Vec<String>,
}

impl Browser {
    /// A client of the console at `address`.
    pub fn new(address: &str, ca: &Path) -> Browser {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Browser {
            address: address.into(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            cookie: None,
            others: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Opens the sign-in page and signs in with its form (its token and
    /// cookie); `resume` is carried as the page would.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let body = format!(
            "csrf={}&username={}&password={}",
            form.csrf(),
            enc(username),
            enc(password)
        );
        self.post("/login", &body).await
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, "").await
    }

    /// `POST path` with a form body (already URL-encoded).
    pub async fn post(&mut self, path: &str, form: &str) -> Page {
        self.send("POST", path, form).await
    }

    async fn send(&mut self, method: &str, path: &str, body: &str) -> Page {
        let tcp = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = self.tls.connect(name, tcp).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        for header in &self.headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        let cookies: Vec<&String> = self.cookie.iter().chain(&self.others).collect();
        if !cookies.is_empty() {
            let joined: Vec<&str> = cookies.iter().map(|c| c.as_str()).collect();
            request.push_str(&format!("Cookie: {}\r\n", joined.join("; ")));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        for (_, set) in headers.iter().filter(|(k, _)| k == "set-cookie") {
            let pair = set.split(';').next().unwrap_or_default().to_string();
            let name = pair.split('=').next().unwrap_or_default().to_string();
            let kept = (!pair.ends_with('=')).then_some(pair);
            if name.starts_with("__Host-trama-") && name.ends_with("-session") {
                self.cookie = kept;
            } else {
                self.others.retain(|c| !c.starts_with(&format!("{name}=")));
                self.others.extend(kept);
            }
        }
        Page {
            status,
            headers,
            body: body.to_string(),
        }
    }
}
