//! Trama's console: the federation in a browser for a member organisation's
//! operators (the social worker, the desk volunteer, the DPO). It is a
//! Federation client with the organisation's `client` certificate and
//! vouches for its operators: every call carries the signed-in operator's
//! id and role, so the audit log shows who did what. It stores no personal
//! data: what a page shows lives for that request only.
//!
//! Module map: [`config`] reads `console.toml`; [`lang`] holds the pages'
//! words in Italian and English; [`accounts`] checks local
//! accounts (Argon2 hashes); [`oidc`] signs operators in through the
//! organisation's OpenID Connect provider, [`login`] the sign-in page and
//! [`signin`] the sign-in flow;
//! [`session`] keeps operators' sessions in
//! memory with their CSRF tokens; [`app`] is what every page shares (the
//! state, rendering, refusals), [`permissions`] what a role may do,
//! [`operator`] the signed-in operator every handler receives, [`web`] the
//! routes and the security headers, [`find`] the search, [`record`] the
//! record screen, [`services`] the catalogue of
//! services, [`stats`] the statistics screen
//! with its [`chart`],
//! [`access`] the access log and its CSV, [`oversight`] the federation,
//! [`when`] times in Italian time; this module serves them
//! over HTTPS.

pub mod access;
pub mod accounts;
pub mod app;
pub mod chart;
pub mod check;
pub mod config;
pub mod contact;
pub mod find;
pub mod hsds;
pub mod lang;
pub mod login;
pub mod oidc;
pub mod operator;
pub mod oversight;
pub mod permissions;
pub mod proxies;
pub mod public;
pub mod readiness;
pub mod record;
pub mod referrals;
pub mod said;
pub mod services;
pub mod session;
pub mod shared;
pub mod signin;
pub mod stats;
pub mod web;
pub mod when;
pub mod words;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use trama_proto::v1::federation_client::FederationClient;
use trama_tls::Role;
use trama_tls::client::ExpectedPeer;

pub use config::ConsoleConfig;

/// Why the console cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The configuration file is refused.
    #[error(transparent)]
    Config(#[from] trama_node::config::ConfigError),
    /// The accounts file is refused.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// The identity provider cannot be used.
    #[error(transparent)]
    Oidc(#[from] oidc::OidcError),
    /// The store of sessions replicas share cannot be opened.
    #[error(transparent)]
    Sessions(#[from] shared::SharedError),
    /// The organisation's client certificate cannot be used.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
    /// The HTTPS certificate or key cannot be used.
    #[error("{path}: {problem}")]
    Https {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The metrics or health endpoint cannot start.
    #[error(transparent)]
    Telemetry(#[from] trama_telemetry::TelemetryError),
    /// The address cannot be served.
    #[error("listen {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Serves the console until `shutdown` completes; `on_ready` gets the
/// bound address once browsers can connect.
pub async fn serve(
    config: ConsoleConfig,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ConsoleError> {
    let accounts = match &config.accounts {
        Some(path) => {
            let accounts = accounts::Accounts::load(path)?;
            if accounts.is_empty() && config.oidc.is_none() {
                tracing::warn!(file = %path.display(), "no accounts: nobody can sign in");
            }
            accounts
        }
        None => accounts::Accounts::default(),
    };
    let store = match &config.sessions {
        Some(s) => Some(shared::Shared::open(&s.database, &s.key_file).await?),
        None => None,
    };
    let provider = match &config.oidc {
        Some(o) => Some(oidc::Provider::discover(o).await?.keeping_in(store.clone())),
        None => None,
    };
    let mut sessions = session::Sessions::new(config.idle_timeout);
    if let Some(store) = store {
        sessions = sessions.shared(store);
    }
    let channel = federation_channel(&config)?;
    let client = FederationClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    let _operations = start_operations(&config, channel).await?;
    let app = web::App::new(
        config.organisation.clone(),
        sessions,
        accounts,
        client.clone(),
    )
    .with_provider(provider);
    let https = Arc::new(ArcSwap::from(https_config(&config.https)?));
    let _reloading = AbortOnDrop(watch_https(https.clone(), config.https.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ConsoleError::Listen {
            address: config.listen,
            source,
        })?;
    let address = listener
        .local_addr()
        .map_err(|source| ConsoleError::Listen {
            address: config.listen,
            source,
        })?;
    let public = match &config.public {
        Some(p) => {
            let bound = bind(p.listen).await?;
            let router = public::router(public::PublicApp::new(client, p.requests_per_minute));
            if let Ok(at) = bound.local_addr() {
                tracing::info!(address = %at, "public catalogue of services serving");
            }
            Some((bound, router))
        }
        None => None,
    };
    tracing::info!(organisation = %config.organisation, %address, "console serving");
    on_ready(address);
    let router = web::router(app);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((tcp, peer)) = accepted {
                    let acceptor = tokio_rustls::TlsAcceptor::from(https.load_full());
                    tokio::spawn(connection(acceptor, tcp, (peer, config.proxies.clone()), router.clone()));
                }
            }
            (accepted, router) = accept_public(public.as_ref()) => {
                if let Ok((tcp, peer)) = accepted {
                    let acceptor = tokio_rustls::TlsAcceptor::from(https.load_full());
                    tokio::spawn(connection(acceptor, tcp, (peer, config.proxies.clone()), router));
                }
            }
            () = &mut shutdown => break,
        }
    }
    Ok(())
}

async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ConsoleError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ConsoleError::Listen { address, source })
}

/// The next connection to the public catalogue, with its router; never,
/// when it is not served.
async fn accept_public(
    public: Option<&(tokio::net::TcpListener, axum::Router)>,
) -> (
    std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
    axum::Router,
) {
    match public {
        Some((listener, router)) => (listener.accept().await, router.clone()),
        None => std::future::pending().await,
    }
}

/// One browser connection: TLS, then HTTP, each request knowing the
/// client it came from (the peer, or the client a trusted proxy names).
async fn connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    (peer, trusted): (SocketAddr, proxies::TrustedProxies),
    router: axum::Router,
) {
    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
    let Ok(Ok(stream)) = handshake else {
        tracing::debug!("a browser's TLS handshake failed or timed out");
        return;
    };
    let client = move |mut request: axum::extract::Request| {
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = trusted.client(peer.ip(), forwarded);
        request.extensions_mut().insert(web::Peer(ip));
        request
    };
    let router = router.layer(tower::util::MapRequestLayer::new(client));
    let service = TowerToHyperService::new(router);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "a browser's connection ended with an error");
    }
}

/// Starts what operations need beside the console: the metrics and health
/// endpoints, if configured, and the watch that keeps readiness true to
/// the gateway (stopped when the returned guard drops).
async fn start_operations(
    config: &ConsoleConfig,
    channel: tonic::transport::Channel,
) -> Result<AbortOnDrop, ConsoleError> {
    if let Some(address) = config.metrics {
        trama_telemetry::serve(address).await?;
    }
    let ready = trama_telemetry::ready::Readiness::new(&[readiness::GATEWAY]);
    if let Some(address) = config.health {
        trama_telemetry::http::health(address, ready.clone()).await?;
    }
    Ok(AbortOnDrop(tokio::spawn(readiness::keep(ready, channel))))
}

/// How often the HTTPS certificate file is checked for changes.
const HTTPS_POLL: Duration = Duration::from_secs(2);

/// Reloads the HTTPS certificate and key when the certificate file changes
/// or on SIGHUP, as the nodes reload theirs: new connections get the new
/// certificate; one that does not load is refused and logged, and the one
/// in force stays.
fn watch_https(
    current: Arc<ArcSwap<rustls::ServerConfig>>,
    https: config::Https,
) -> tokio::task::JoinHandle<()> {
    trama_tls::reload::watch_file(https.cert.clone(), HTTPS_POLL, move |_| match https_config(
        &https,
    ) {
        Ok(config) => {
            current.store(config);
            tracing::info!(cert = %https.cert.display(), "HTTPS certificate reloaded");
        }
        Err(e) => tracing::error!(
            error = %e,
            "HTTPS certificate not reloaded; the one in force stays"
        ),
    })
}

/// A background task stopped when the console stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The channel to the gateway, with the organisation's certificate,
/// checking the gateway's identity.
pub(crate) fn federation_channel(
    config: &ConsoleConfig,
) -> Result<tonic::transport::Channel, ConsoleError> {
    let tls = trama_tls::client::client_config(&config.federation.tls)?;
    let channel = trama_tls::client::channel(
        &config.federation.gateway,
        tls,
        ExpectedPeer {
            federation: config.federation.name.clone(),
            organisation: None,
            role: Role::Gateway,
        },
        Duration::from_secs(5),
    )?;
    Ok(channel)
}

/// The HTTPS configuration: the console's certificate, no client
/// certificates (operators sign in), HTTP/1.1.
pub(crate) fn https_config(
    https: &config::Https,
) -> Result<Arc<rustls::ServerConfig>, ConsoleError> {
    let problem = |path: &std::path::Path, problem: String| ConsoleError::Https {
        path: path.display().to_string(),
        problem,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&https.cert)
        .and_then(|i| i.collect())
        .map_err(|e| problem(&https.cert, e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_file(&https.key).map_err(|e| problem(&https.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(&https.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| problem(&https.cert, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
