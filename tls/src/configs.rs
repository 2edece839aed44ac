//! The rustls configurations a node uses, built from its loaded material:
//! as a server (client certificates required, checked against the
//! federation CA and its CRL) and as a client (the node's certificate
//! presented, servers checked the same way). [`crate::client`],
//! [`crate::server`] and the reloading [`crate::reload::TlsState`] all
//! build them here.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use crate::{Material, TlsError, provider};

/// The client configuration of `m`, speaking HTTP/2.
pub(crate) fn build_client_config(m: &Material) -> Result<Arc<ClientConfig>, TlsError> {
    let mut verifier = WebPkiServerVerifier::builder_with_provider(m.roots.clone(), provider());
    if m.crl.is_some() {
        verifier = verifier.with_crls(m.crl_ders());
    }
    let verifier = verifier.build().map_err(|e| m.verifier_error(e))?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(m.certs.clone(), m.key.clone_key())
        .map_err(|e| TlsError::Config(format!("{}: {e}", m.files.cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The server configuration of `m`, speaking HTTP/2.
pub(crate) fn build_server_config(m: &Material) -> Result<Arc<ServerConfig>, TlsError> {
    let mut verifier = WebPkiClientVerifier::builder_with_provider(m.roots.clone(), provider());
    if m.crl.is_some() {
        verifier = verifier.with_crls(m.crl_ders());
    }
    let verifier = verifier.build().map_err(|e| m.verifier_error(e))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.certs.clone(), m.key.clone_key())
        .map_err(|e| TlsError::Config(format!("{}: {e}", m.files.cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
