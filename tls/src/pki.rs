//! A development PKI for a federation: one CA, and node certificates whose
//! subject alternative names carry the node's `trama://` identity plus the
//! host names and addresses it serves on. Private keys are written with mode
//! 0600. Production federations keep their root offline and may issue with
//! their own tools, as long as the SAN URI follows the same form.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::TlsError;
use crate::identity::{NodeIdentity, Role};

/// File name of the CA certificate in a PKI directory.
pub const CA_CERT: &str = "ca.pem";
/// File name of the CA private key in a PKI directory.
pub const CA_KEY: &str = "ca-key.pem";
/// File name holding the federation's name in a PKI directory.
pub const FEDERATION_FILE: &str = "federation";

/// The files of one issued node certificate.
#[derive(Debug, Clone)]
pub struct IssuedFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Organisation id, for example `comune`.
    pub organisation: String,
    /// Role of the node.
    pub role: Role,
    /// DNS names and IP addresses the node serves on (server roles).
    pub hosts: Vec<String>,
    /// Days from now until expiry.
    pub valid_days: i64,
    /// Days before now the validity starts (0 for now; tests use a negative
    /// validity window to make expired certificates).
    pub not_before_days_ago: i64,
}

/// Creates a development CA for `federation` in `dir`. Refuses to overwrite
/// an existing CA.
pub fn init(dir: &Path, federation: &str) -> Result<PathBuf, TlsError> {
    crate::identity::validate_name(federation)?;
    let ca_path = dir.join(CA_CERT);
    if ca_path.exists() {
        return Err(TlsError::Exists(ca_path));
    }
    fs::create_dir_all(dir).map_err(|e| TlsError::io(dir, e))?;
    let key = KeyPair::generate().map_err(TlsError::Pki)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        format!("Trama federation {federation}"),
    );
    dn.push(DnType::CommonName, format!("{federation} federation CA"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key).map_err(TlsError::Pki)?;
    write_private(&dir.join(CA_KEY), &key.serialize_pem())?;
    write_public(&ca_path, &cert.pem())?;
    write_public(&dir.join(FEDERATION_FILE), &format!("{federation}\n"))?;
    Ok(ca_path)
}

/// Reads the federation name a PKI directory was created for.
pub fn federation_of(dir: &Path) -> Result<String, TlsError> {
    let path = dir.join(FEDERATION_FILE);
    let text = fs::read_to_string(&path).map_err(|e| TlsError::io(&path, e))?;
    Ok(text.trim().to_string())
}

/// Issues a node certificate signed by the CA in `dir`, written as
/// `<org>-<role>.pem` and `<org>-<role>-key.pem`.
pub fn issue(dir: &Path, request: &IssueRequest) -> Result<IssuedFiles, TlsError> {
    let federation = federation_of(dir)?;
    let identity = NodeIdentity::new(&federation, &request.organisation, request.role)?;
    let ca_cert_path = dir.join(CA_CERT);
    let ca_pem = fs::read_to_string(&ca_cert_path).map_err(|e| TlsError::io(&ca_cert_path, e))?;
    let ca_key_path = dir.join(CA_KEY);
    let ca_key_pem = fs::read_to_string(&ca_key_path).map_err(|e| TlsError::io(&ca_key_path, e))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(TlsError::Pki)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(TlsError::Pki)?;

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, request.organisation.clone());
    dn.push(DnType::CommonName, identity.uri());
    params.distinguished_name = dn;
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e: rcgen::Error| TlsError::Pki(e))?;
    params.subject_alt_names.push(SanType::URI(uri));
    for host in &request.hosts {
        let san = match host.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into().map_err(TlsError::Pki)?),
        };
        params.subject_alt_names.push(san);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match request.role {
        Role::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        // Gateways and connectors serve, and the gateway also calls.
        Role::Gateway | Role::Connector => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    let now = OffsetDateTime::now_utc();
    params.not_before =
        now - Duration::days(request.not_before_days_ago.max(0)) - Duration::minutes(5);
    params.not_after = now + Duration::days(request.valid_days);
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(TlsError::Pki)?;
    let cert = params.signed_by(&key, &issuer).map_err(TlsError::Pki)?;

    let base = format!("{}-{}", request.organisation, request.role);
    let files = IssuedFiles {
        cert: dir.join(format!("{base}.pem")),
        key: dir.join(format!("{base}-key.pem")),
    };
    write_private(&files.key, &key.serialize_pem())?;
    write_public(&files.cert, &cert.pem())?;
    Ok(files)
}

fn write_public(path: &Path, contents: &str) -> Result<(), TlsError> {
    fs::write(path, contents).map_err(|e| TlsError::io(path, e))
}

/// Writes a private key readable by its owner only. The file is created
/// with mode 0600, never widened afterwards.
fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| TlsError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| TlsError::io(path, e))?;
    }
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| TlsError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_carry_the_identity_and_private_keys_are_0600() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        assert!(init(dir.path(), "demo").is_ok());
        assert!(matches!(init(dir.path(), "demo"), Err(TlsError::Exists(_))));
        let files = issue(
            dir.path(),
            &IssueRequest {
                organisation: "caritas".into(),
                role: Role::Connector,
                hosts: vec!["localhost".into(), "127.0.0.1".into()],
                valid_days: 30,
                not_before_days_ago: 0,
            },
        );
        let Ok(files) = files else {
            panic!("{files:?}")
        };
        let pem = fs::read(&files.cert).unwrap_or_default();
        let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem);
        use rustls_pki_types::pem::PemObject;
        let Ok(der) = der else { panic!("pem") };
        assert_eq!(
            NodeIdentity::from_certificate(&der).map(|i| i.uri()),
            Ok("trama://demo/org/caritas/connector".to_string())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [files.key, dir.path().join(CA_KEY)] {
                let mode = fs::metadata(&key).map(|m| m.permissions().mode() & 0o777);
                assert_eq!(mode.ok(), Some(0o600), "{}", key.display());
            }
        }
    }
}
