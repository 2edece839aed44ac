//! Mutual TLS for a Trama federation, shared by the gateway, the connectors
//! and the client CLI: node identities (`trama://<federation>/org/<org>/<role>`
//! in the certificate's subject alternative names), a development PKI, the
//! rustls server and client configurations (with certificate revocation
//! lists), concurrent TLS accept, hot reload of certificates and CRLs, and the
//! role and revocation check every service applies to its callers.
//!
//! One crypto provider (ring) is used for the whole tree.

pub mod authz;
pub mod check;
pub mod client;
mod configs;
pub mod csr;
pub mod identity;
pub mod pki;
pub mod reload;
pub mod server;
#[cfg(test)]
mod test_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use time::OffsetDateTime;
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::{FromDer, X509Certificate};

pub use identity::{IdentityError, NodeIdentity, Role};
pub use reload::{Expiry, TlsState};

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
    /// The system's secure random number generator failed.
    #[error("the system's secure random number generator failed")]
    Random,
    /// The node's certificates do not fit its configuration (every
    /// problem, one a line).
    #[error("{}", misfit_lines(.0))]
    Misfit(Vec<check::Misfit>),
}

fn misfit_lines(misfits: &[check::Misfit]) -> String {
    let lines: Vec<String> = misfits.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl TlsError {
    fn io(path: &Path, source: std::io::Error) -> TlsError {
        TlsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The files a node needs: the federation CA, its own certificate, its
/// private key and, optionally, the federation's certificate revocation
/// list. This is the `[tls]` table of the gateway's and the connectors'
/// configuration files.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The federation CA certificate(s), PEM.
    pub ca: PathBuf,
    /// The node's certificate chain, PEM.
    pub cert: PathBuf,
    /// The node's private key, PEM.
    pub key: PathBuf,
    /// The certificate revocation list(s) of the federation CA(s), PEM
    /// (`X509 CRL` blocks). When set, peers whose certificates it lists are
    /// refused, and every CA in `ca` that issues peer certificates must have
    /// a CRL here (a certificate whose revocation status is unknown is
    /// refused too).
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

impl TlsFiles {
    /// The same files with relative paths resolved against `base` (the
    /// directory of the configuration file that named them).
    pub fn relative_to(self, base: &Path) -> TlsFiles {
        TlsFiles {
            ca: base.join(self.ca),
            cert: base.join(self.cert),
            key: base.join(self.key),
            crl: self.crl.map(|crl| base.join(crl)),
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

fn roots_of(path: &Path, ca: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        // A node's certificate given as the CA would be accepted as a trust
        // anchor, and every handshake would then fail.
        if let Some(what) = check::not_a_ca(cert) {
            return Err(TlsError::Pem {
                path: path.to_path_buf(),
                what,
            });
        }
        roots.add(cert.clone()).map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// Everything read from a node's TLS files at one moment, checked enough to
/// build the rustls configurations from.
pub(crate) struct Material {
    pub(crate) files: TlsFiles,
    pub(crate) ca: Vec<CertificateDer<'static>>,
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) certs: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) crl: Option<Crls>,
}

/// The certificate revocation lists of a node, parsed and checked against
/// the CA file.
pub(crate) struct Crls {
    pub(crate) ders: Vec<CertificateRevocationListDer<'static>>,
    /// Revoked serial numbers, big-endian without leading zero bytes.
    pub(crate) revoked: HashSet<Vec<u8>>,
    /// The earliest next update of the lists.
    pub(crate) next_update: Option<OffsetDateTime>,
    /// The CRL numbers of the lists, for logs.
    pub(crate) numbers: Vec<String>,
    /// When each list was issued, to refuse one older than the list in
    /// force.
    pub(crate) issues: Vec<CrlIssue>,
}

/// When one CRL was issued, by whom: enough to tell a newer list of the
/// same CA from an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrlIssue {
    /// The issuing CA's name.
    pub(crate) issuer: String,
    /// The CRL number, if the list carries one.
    pub(crate) number: Option<BigUint>,
    /// The list's this-update time.
    pub(crate) this_update: OffsetDateTime,
}

impl CrlIssue {
    /// Whether this list is older than `in_force`, a list of the same CA: a
    /// lower CRL number or, with equal or missing numbers, an earlier
    /// this-update. Such a list can un-revoke certificates, whether put
    /// back by mistake or by someone replaying an old file.
    pub(crate) fn older_than(&self, in_force: &CrlIssue) -> bool {
        match (&self.number, &in_force.number) {
            (Some(a), Some(b)) if a != b => a < b,
            _ => self.this_update < in_force.this_update,
        }
    }
}

impl std::fmt::Display for CrlIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.number {
            Some(number) => write!(f, "number {number}, ")?,
            None => f.write_str("no number, ")?,
        }
        write!(f, "issued {}", self.this_update)
    }
}

impl Material {
    /// Reads and checks the CA, certificate, key and CRL files.
    pub(crate) fn load(files: &TlsFiles) -> Result<Material, TlsError> {
        let ca = load_certs(&files.ca)?;
        let roots = Arc::new(roots_of(&files.ca, &ca)?);
        let certs = load_certs(&files.cert)?;
        let key = load_key(&files.key)?;
        let crl = match &files.crl {
            Some(path) => Some(load_crls(path, &files.ca, &ca)?),
            None => None,
        };
        Ok(Material {
            files: files.clone(),
            ca,
            roots,
            certs,
            key,
            crl,
        })
    }

    /// The CRLs to give a rustls verifier.
    pub(crate) fn crl_ders(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.crl
            .as_ref()
            .map(|c| c.ders.clone())
            .unwrap_or_default()
    }

    /// Turns a verifier construction error into one naming the file at fault.
    pub(crate) fn verifier_error(&self, error: rustls::server::VerifierBuilderError) -> TlsError {
        match (error, &self.files.crl) {
            (rustls::server::VerifierBuilderError::InvalidCrl(e), Some(path)) => TlsError::Pem {
                path: path.clone(),
                what: format!("not a usable certificate revocation list: {e:?}"),
            },
            (e, _) => TlsError::Config(format!("certificate verifier: {e}")),
        }
    }
}

/// Reads the PEM CRLs in `path`: each must parse and be signed by one of the
/// CA certificates `ca` (read from `ca_path`), so that a wrong or corrupt
/// file is refused when loaded rather than failing every handshake.
fn load_crls(
    path: &Path,
    ca_path: &Path,
    ca: &[CertificateDer<'static>],
) -> Result<Crls, TlsError> {
    let bad = |what: String| TlsError::Pem {
        path: path.to_path_buf(),
        what,
    };
    let bytes = std::fs::read(path).map_err(|e| TlsError::io(path, e))?;
    let ders: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if ders.is_empty() {
        return Err(bad(
            "no certificate revocation list found (expected a PEM X509 CRL block)".into(),
        ));
    }
    let mut cas = Vec::with_capacity(ca.len());
    for der in ca {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| TlsError::Pem {
            path: ca_path.to_path_buf(),
            what: format!("the CA certificate could not be parsed: {e}"),
        })?;
        cas.push(cert);
    }
    let mut crls = Crls {
        ders: Vec::with_capacity(ders.len()),
        revoked: HashSet::new(),
        next_update: None,
        numbers: Vec::new(),
        issues: Vec::new(),
    };
    for der in ders {
        let (_, crl) = x509_parser::parse_x509_crl(&der)
            .map_err(|e| bad(format!("not a valid certificate revocation list: {e}")))?;
        if !cas
            .iter()
            .any(|ca| crl.verify_signature(ca.public_key()).is_ok())
        {
            return Err(bad(format!(
                "the revocation list of {} is not signed by a CA in {}",
                crl.issuer(),
                ca_path.display()
            )));
        }
        for entry in crl.iter_revoked_certificates() {
            crls.revoked
                .insert(canonical_serial(entry.raw_serial()).to_vec());
        }
        if let Some(next) = crl.next_update().map(|t| t.to_datetime()) {
            crls.next_update = Some(crls.next_update.map_or(next, |n| n.min(next)));
        }
        if let Some(number) = crl.crl_number() {
            crls.numbers.push(number.to_string());
        }
        crls.issues.push(CrlIssue {
            issuer: crl.issuer().to_string(),
            number: crl.crl_number().cloned(),
            this_update: crl.last_update().to_datetime(),
        });
        crls.ders.push(der);
    }
    Ok(crls)
}

/// A certificate serial number as big-endian bytes without leading zero
/// bytes, the form CRL entries are compared in.
pub(crate) fn canonical_serial(serial: &[u8]) -> &[u8] {
    let zeros = serial
        .iter()
        .take(serial.len().saturating_sub(1))
        .take_while(|b| **b == 0)
        .count();
    &serial[zeros..]
}

/// The serial number of a DER certificate, in canonical form.
pub(crate) fn certificate_serial(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(canonical_serial(cert.raw_serial()).to_vec())
}

/// A serial number as colon-separated hex, as `openssl` prints it.
pub(crate) fn serial_hex(serial: &[u8]) -> String {
    let hex: Vec<String> = serial.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}
