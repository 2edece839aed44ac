//! The client side of mutual TLS: a rustls client configuration with the
//! node's certificate, and tonic channels whose connections verify that the
//! server presents the expected federation identity.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::identity::{NodeIdentity, Role};
use crate::{TlsError, TlsFiles, load_certs, load_key, load_roots, provider};

/// Builds a rustls client configuration presenting the node's certificate
/// and trusting only the federation CA.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = load_roots(&files.ca)?;
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("{}: {e}", files.cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// What the server at the other end must prove to be.
#[derive(Debug, Clone)]
pub struct ExpectedPeer {
    /// The federation it must belong to.
    pub federation: String,
    /// The organisation it must belong to, or any if `None`.
    pub organisation: Option<String>,
    /// The role it must have.
    pub role: Role,
}

impl ExpectedPeer {
    fn check(&self, found: &NodeIdentity) -> Result<(), String> {
        let org_ok = self
            .organisation
            .as_ref()
            .is_none_or(|o| *o == found.organisation);
        if found.federation == self.federation && found.role == self.role && org_ok {
            Ok(())
        } else {
            Err(format!(
                "server identity {found} is not the expected {} of organisation {} in federation {}",
                self.role,
                self.organisation.as_deref().unwrap_or("(any)"),
                self.federation
            ))
        }
    }
}

/// A lazily connecting, self-reconnecting HTTP/2 channel to `address`
/// (`host:port`) over mutual TLS. Each new connection checks the server's
/// certificate against the federation CA and the host name, and its
/// federation identity against `expected`.
pub fn channel(
    address: &str,
    config: Arc<ClientConfig>,
    expected: ExpectedPeer,
    connect_timeout: Duration,
) -> Result<Channel, TlsError> {
    let (host, _port) = split_host_port(address)?;
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::Address(address.to_string()))?;
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|_| TlsError::Address(address.to_string()))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let connector = TlsConnector::from(config);
    let target = address.to_string();
    let service = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        let expected = expected.clone();
        let target = target.clone();
        async move {
            let tcp = TcpStream::connect(&target).await?;
            let _ = tcp.set_nodelay(true);
            let tls = connector.connect(server_name, tcp).await?;
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| NodeIdentity::from_certificate(c));
            match identity {
                Some(Ok(id)) => expected
                    .check(&id)
                    .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?,
                Some(Err(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        e.to_string(),
                    ));
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "server presented no certificate",
                    ));
                }
            }
            Ok::<_, io::Error>(TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(service))
}

fn split_host_port(address: &str) -> Result<(&str, u16), TlsError> {
    let bad = || TlsError::Address(address.to_string());
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}
