//! The client side of mutual TLS: a rustls client configuration with the
//! node's certificate (and the federation's CRL, when configured), and tonic
//! channels whose connections verify that the server presents the expected
//! federation identity. [`channel_reloading`] takes the configuration from a
//! [`TlsState`] on every new connection, so reloaded certificates and CRLs
//! apply on reconnect.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::configs::build_client_config;
use crate::identity::{NodeIdentity, Role};
use crate::reload::TlsState;
use crate::{Material, TlsError, TlsFiles};

/// Builds a rustls client configuration presenting the node's certificate
/// and trusting only the federation CA; when `files.crl` is set, servers
/// whose certificates the CRL lists are refused.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    build_client_config(&Material::load(files)?)
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
    channel_with(address, move || config.clone(), expected, connect_timeout)
}

/// Like [`channel`], but every new connection (the first one and each
/// reconnection) uses the client configuration current in `state`, so
/// certificates and CRLs reloaded into `state` apply on reconnect.
/// Connections already open are kept.
pub fn channel_reloading(
    address: &str,
    state: TlsState,
    expected: ExpectedPeer,
    connect_timeout: Duration,
) -> Result<Channel, TlsError> {
    channel_with(
        address,
        move || state.client_config(),
        expected,
        connect_timeout,
    )
}

fn channel_with(
    address: &str,
    config: impl Fn() -> Arc<ClientConfig> + Send + 'static,
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
    let target = address.to_string();
    let service = tower::service_fn(move |_: Uri| {
        let connector = TlsConnector::from(config());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::incoming_reloading;
    use crate::test_support::{Pki, WAIT};
    use tonic::codegen::http;
    use tower::ServiceExt;

    /// One HTTP/2 request on `channel`: the response status, or why there
    /// was none.
    async fn call(channel: Channel) -> Result<u16, String> {
        let request = http::Request::builder()
            .method("POST")
            .uri("http://localhost/trama.test.Nothing/Call")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(tonic::body::Body::empty())
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(WAIT, channel.oneshot(request))
            .await
            .map_err(|_| "timed out".to_string())?;
        response
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{e:?}"))
    }

    #[tokio::test]
    async fn channel_reloading_applies_a_reloaded_crl_to_new_connections() {
        let pki = Pki::new();
        let connector = pki.issue("acme", Role::Connector, 30, 0);
        let gateway = pki.issue("hub", Role::Gateway, 30, 0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let incoming = incoming_reloading(listener, TlsState::load(connector.clone()).unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(tonic::service::Routes::default())
                .serve_with_incoming(incoming),
        );

        let state = TlsState::load(gateway).unwrap();
        let expected = ExpectedPeer {
            federation: "demo".into(),
            organisation: Some("acme".into()),
            role: Role::Connector,
        };
        let open =
            |state: TlsState| channel_reloading(&address, state, expected.clone(), WAIT).unwrap();
        // Both channels exist before the reload; only the first connects.
        let used = open(state.clone());
        let unused = open(state.clone());
        let wrong_org = channel_reloading(
            &address,
            state.clone(),
            ExpectedPeer {
                organisation: Some("other".into()),
                ..expected.clone()
            },
            WAIT,
        )
        .unwrap();
        assert_eq!(call(used).await, Ok(200));
        assert!(call(wrong_org).await.is_err());

        crate::pki::revoke(pki.path(), &connector.cert).unwrap();
        state.reload().unwrap();
        // Its first connection is made with the reloaded CRL.
        let refused = call(unused).await.unwrap_err();
        assert!(refused.to_lowercase().contains("revoked"), "{refused}");
    }
}
