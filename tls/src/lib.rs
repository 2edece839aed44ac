//! Mutual TLS for a Trama federation, shared by the gateway, the connectors
//! and the client CLI: node identities (`trama://<federation>/org/<org>/<role>`
//! in the certificate's subject alternative names), a development PKI, the
//! rustls server and client configurations, concurrent TLS accept, and the
//! role check every service applies to its callers.
//!
//! One crypto provider (ring) is used for the whole tree.

pub mod authz;
pub mod client;
pub mod identity;
pub mod pki;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use identity::{IdentityError, NodeIdentity, Role};

/// Errors of the TLS and PKI layer. Each names the file involved, where
/// there is one.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Config(String),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Pki(rcgen::Error),
    /// An identity or name is invalid.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A file that would be overwritten exists.
    #[error("{0} already exists; remove it or choose another directory")]
    Exists(PathBuf),
    /// An address is not `host:port`.
    #[error("`{0}` is not a host:port address")]
    Address(String),
}

impl TlsError {
    fn io(path: &Path, source: std::io::Error) -> TlsError {
        TlsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The three files a node needs: the federation CA, its own certificate
/// and its private key. This is the `[tls]` table of the gateway's and the
/// connectors' configuration files.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The federation CA certificate(s), PEM.
    pub ca: PathBuf,
    /// The node's certificate chain, PEM.
    pub cert: PathBuf,
    /// The node's private key, PEM.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The same files with relative paths resolved against `base` (the
    /// directory of the configuration file that named them).
    pub fn relative_to(self, base: &Path) -> TlsFiles {
        TlsFiles {
            ca: base.join(self.ca),
            cert: base.join(self.cert),
            key: base.join(self.key),
        }
    }
}

/// The crypto provider of the whole federation stack.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::io(path, e))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            what: "no certificate found (expected a PEM CERTIFICATE block)".into(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::io(path, e))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        what: format!("no private key found: {e}"),
    })
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}
