//! Fixtures for the crate's tests: a throw-away PKI and real TLS handshakes
//! over loopback TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::identity::Role;
use crate::pki::{self, CA_CERT, CRL_FILE, IssueRequest};
use crate::{TlsFiles, certificate_serial, load_certs};

/// Long enough for any handshake on a loaded machine.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A federation `demo` PKI in a temporary directory.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        pki::init(dir.path(), "demo").unwrap();
        Pki { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a certificate for `org` with `role`, serving on localhost and
    /// 127.0.0.1, and returns its files with the PKI's CRL.
    pub(crate) fn issue(
        &self,
        org: &str,
        role: Role,
        valid_days: i64,
        not_before_days_ago: i64,
    ) -> TlsFiles {
        let issued = pki::issue(
            self.path(),
            &IssueRequest {
                organisation: org.into(),
                role,
                hosts: vec!["localhost".into(), "127.0.0.1".into()],
                valid_days,
                not_before_days_ago,
            },
        )
        .unwrap();
        TlsFiles {
            ca: self.path().join(CA_CERT),
            cert: issued.cert,
            key: issued.key,
            crl: Some(self.path().join(CRL_FILE)),
        }
    }
}

/// The canonical serial number of the certificate in `files`.
pub(crate) fn serial_of(files: &TlsFiles) -> Vec<u8> {
    certificate_serial(&load_certs(&files.cert).unwrap()[0]).unwrap()
}

/// One handshake between `server` and `client` over loopback; the server's
/// verdict.
pub(crate) async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        TlsAcceptor::from(server)
            .accept(tcp)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    });
    // With TLS 1.3 the client finishes before the server has judged its
    // certificate; keep the connection open until it has.
    let _client = connect(addr, client).await;
    tokio::time::timeout(WAIT, accepted)
        .await
        .expect("handshake timed out")
        .unwrap()
}

/// Opens a TLS connection to `addr` as `localhost`.
pub(crate) async fn connect(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(WAIT, TlsConnector::from(client).connect(name, tcp))
        .await
        .expect("connect timed out")
}

/// Whether the server closed or refused a connection that completed the
/// client's side of the handshake (the server never writes otherwise).
pub(crate) async fn refused_by_server(
    stream: std::io::Result<tokio_rustls::client::TlsStream<TcpStream>>,
) -> bool {
    let Ok(mut stream) = stream else {
        return true;
    };
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await,
        Ok(Err(_) | Ok(0))
    )
}
