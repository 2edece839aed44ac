//! The server side of mutual TLS: a rustls configuration that requires a
//! client certificate from the federation CA, concurrent handshakes on
//! accepted TCP connections, and streams that carry the peer's federation
//! identity into every request's extensions.
//!
//! tonic's own `ServerTlsConfig` cannot take a custom verifier or CRLs, so
//! the handshake is done here and the TLS streams are handed to tonic with
//! `serve_with_incoming`. With [`incoming_reloading`] each handshake uses the
//! configuration current in a [`TlsState`] when the connection is accepted,
//! so reloaded certificates and CRLs apply to new connections.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::configs::build_server_config;
use crate::identity::{IdentityError, NodeIdentity};
use crate::reload::TlsState;
use crate::{Material, TlsError, TlsFiles, certificate_serial};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond this, new connections wait.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Builds a rustls server configuration for a federation node: its own
/// certificate and key, and client certificates required and verified
/// against the federation CA and, when `files.crl` is set, refused if the
/// CRL lists them.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    build_server_config(&Material::load(files)?)
}

/// What a server knows about the peer of a connection, available to every
/// request as an extension.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer's address.
    pub remote_addr: Option<SocketAddr>,
    /// The federation identity in the peer's certificate, or why there is
    /// none.
    pub identity: Result<NodeIdentity, IdentityError>,
    /// The serial number of the peer's certificate, big-endian without
    /// leading zero bytes (as CRL entries are compared); empty if there is
    /// none.
    pub serial: Vec<u8>,
}

impl PeerInfo {
    fn of(remote: SocketAddr, stream: &TlsStream<TcpStream>) -> PeerInfo {
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first());
        PeerInfo {
            remote_addr: Some(remote),
            identity: cert.map_or(Err(IdentityError::Missing), |c| {
                NodeIdentity::from_certificate(c)
            }),
            serial: cert.and_then(|c| certificate_serial(c)).unwrap_or_default(),
        }
    }
}

/// A TLS connection whose peer certificate has been verified.
#[derive(Debug)]
pub struct PeerStream {
    inner: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl PeerStream {
    /// The peer of this connection.
    pub fn peer(&self) -> &PeerInfo {
        &self.info
    }
}

impl Connected for PeerStream {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts connections on `listener` and performs TLS handshakes
/// concurrently, yielding the connections that complete one. Failed
/// handshakes (wrong CA, no certificate, expired) are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> ReceiverStream<Result<PeerStream, io::Error>> {
    incoming_with(listener, move || config.clone())
}

/// Like [`incoming`], but each accepted connection is handshaken with the
/// server configuration current in `state` at accept time, so certificates
/// and CRLs reloaded into `state` apply to every new connection.
/// Connections already open keep the configuration they were accepted with;
/// see [`crate::authz::RequireRole::with_revocation`] to cut off revoked
/// callers on their next call.
pub fn incoming_reloading(
    listener: TcpListener,
    state: TlsState,
) -> ReceiverStream<Result<PeerStream, io::Error>> {
    incoming_with(listener, move || state.server_config())
}

fn incoming_with(
    listener: TcpListener,
    config: impl Fn() -> Arc<ServerConfig> + Send + 'static,
) -> ReceiverStream<Result<PeerStream, io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep
                    // serving existing connections.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                break;
            }
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let acceptor = TlsAcceptor::from(config());
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let info = PeerInfo::of(remote, &stream);
                        let _ = tx
                            .send(Ok(PeerStream {
                                inner: stream,
                                info,
                            }))
                            .await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(peer = %remote, error = %e, "tls handshake refused");
                    }
                    Err(_) => {
                        tracing::warn!(peer = %remote, "tls handshake timed out");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::client_config;
    use crate::identity::Role;
    use crate::test_support::{Pki, handshake};

    #[tokio::test]
    async fn a_revoked_client_certificate_is_refused_at_the_handshake() {
        let pki = Pki::new();
        let server = pki.issue("acme", Role::Connector, 30, 0);
        let good = pki.issue("comune", Role::Client, 30, 0);
        let bad = pki.issue("caritas", Role::Client, 30, 0);
        crate::pki::revoke(pki.path(), &bad.cert).unwrap();

        let with_crl = server_config(&server).unwrap();
        let good_client = client_config(&good).unwrap();
        let bad_client = client_config(&bad).unwrap();
        assert_eq!(handshake(with_crl.clone(), good_client).await, Ok(()));
        let refused = handshake(with_crl, bad_client.clone()).await.unwrap_err();
        assert!(refused.to_lowercase().contains("revoked"), "{refused}");

        // The CRL is what refuses it.
        let without_crl = server_config(&TlsFiles {
            crl: None,
            ..server.clone()
        })
        .unwrap();
        assert_eq!(handshake(without_crl, bad_client).await, Ok(()));
    }

    #[tokio::test]
    async fn an_expired_client_certificate_is_refused_at_the_handshake() {
        let pki = Pki::new();
        let server = server_config(&pki.issue("acme", Role::Connector, 30, 0)).unwrap();
        let current = client_config(&pki.issue("comune", Role::Client, 30, 0)).unwrap();
        let expired = client_config(&pki.issue("caritas", Role::Client, -1, 2)).unwrap();
        assert_eq!(handshake(server.clone(), current).await, Ok(()));
        let refused = handshake(server, expired).await.unwrap_err();
        assert!(refused.to_lowercase().contains("expired"), "{refused}");
    }
}
