//! A development PKI for a federation: one CA, and node certificates whose
//! subject alternative names carry the node's `trama://` identity plus the
//! host names and addresses it serves on, and the CA's certificate
//! revocation list ([`revoke`] adds a certificate to it). Private keys are
//! written with mode 0600. Production federations keep their root offline
//! and may issue with their own tools, as long as the SAN URI follows the
//! same form.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use time::{Duration, OffsetDateTime};
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::identity::{NodeIdentity, Role};
use crate::{TlsError, canonical_serial, load_certs};

/// File name of the CA certificate in a PKI directory.
pub const CA_CERT: &str = "ca.pem";
/// File name of the CA private key in a PKI directory.
pub const CA_KEY: &str = "ca-key.pem";
/// File name holding the federation's name in a PKI directory.
pub const FEDERATION_FILE: &str = "federation";
/// File name of the CA's certificate revocation list in a PKI directory.
pub const CRL_FILE: &str = "crl.pem";

/// How long a CRL written here is valid: its next update is due this many
/// days after it is written.
const CRL_VALID_DAYS: i64 = 30;

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

/// Creates a development CA for `federation` in `dir`, with an empty CRL
/// ([`CRL_FILE`], CRL number 1). Refuses to overwrite an existing CA.
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
    // A name of its own for each CA of a federation: during a rollover
    // peers trust the old and the new one together, and find a
    // certificate's issuer, and its CRL, by name.
    let generation = hex::encode(&random_serial()?.to_bytes()[..4]);
    let created = OffsetDateTime::now_utc().date();
    dn.push(
        DnType::CommonName,
        format!("{federation} federation CA {created} {generation}"),
    );
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
    let key_identifier_method = params.key_identifier_method.clone();
    let issuer = Issuer::new(params, key);
    write_crl(
        dir,
        &issuer,
        key_identifier_method,
        &BigUint::from(1u32),
        Vec::new(),
    )?;
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
    issue_with_extra_uris(dir, request, &[])
}

/// Like [`issue`], with `extra_uris` added to the subject alternative
/// names after the node's identity. Nodes refuse a certificate carrying a
/// second `trama://` identity; this exists to test that they do.
pub fn issue_with_extra_uris(
    dir: &Path,
    request: &IssueRequest,
    extra_uris: &[String],
) -> Result<IssuedFiles, TlsError> {
    let federation = federation_of(dir)?;
    let identity = NodeIdentity::new(&federation, &request.organisation, request.role)?;
    let ca = Ca::load(dir)?;
    let mut params = node_params(&identity, &request.hosts)?;
    for extra in extra_uris {
        let uri = extra
            .clone()
            .try_into()
            .map_err(|e: rcgen::Error| TlsError::Pki(e))?;
        params.subject_alt_names.push(SanType::URI(uri));
    }
    let base = format!("{}-{}", request.organisation, request.role);
    sign_and_write(
        dir,
        &base,
        params,
        &ca,
        (request.not_before_days_ago, request.valid_days),
    )
}

/// A node certificate's contents for `identity`, serving at `hosts`: a
/// random serial, the identity as the subject and as the one `trama://` URI
/// of its subject alternative names, the hosts beside it, and the usages of
/// its role.
pub(crate) fn node_params(
    identity: &NodeIdentity,
    hosts: &[String],
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    // rcgen would derive the serial from the public key; a random one is
    // the usual practice and cannot repeat with a reused key.
    params.serial_number = Some(random_serial()?);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, identity.organisation.clone());
    dn.push(DnType::CommonName, identity.uri());
    params.distinguished_name = dn;
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e: rcgen::Error| TlsError::Pki(e))?;
    params.subject_alt_names.push(SanType::URI(uri));
    add_hosts(&mut params, hosts)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match identity.role {
        Role::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        // Gateways and connectors serve, and the gateway also calls.
        Role::Gateway | Role::Connector => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    Ok(params)
}

/// The validity of a certificate signed now: from `ago` days before now
/// (and five minutes, for clocks slightly behind) for `days` days.
pub(crate) fn validity(params: &mut CertificateParams, (ago, days): (i64, i64)) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(ago.max(0)) - Duration::minutes(5);
    params.not_after = now + Duration::days(days);
    params.use_authority_key_identifier_extension = true;
}

/// Adds `hosts` (DNS names or IP addresses) to the subject alternative
/// names.
fn add_hosts(params: &mut CertificateParams, hosts: &[String]) -> Result<(), TlsError> {
    for host in hosts {
        let san = match host.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into().map_err(TlsError::Pki)?),
        };
        params.subject_alt_names.push(san);
    }
    Ok(())
}

/// Signs `params` with the CA for `(days ago it starts, days it lasts)`
/// and writes `<base>.pem` and `<base>-key.pem` (mode 0600) in `dir`.
fn sign_and_write(
    dir: &Path,
    base: &str,
    mut params: CertificateParams,
    ca: &Ca,
    period: (i64, i64),
) -> Result<IssuedFiles, TlsError> {
    validity(&mut params, period);
    let files = IssuedFiles {
        cert: dir.join(format!("{base}.pem")),
        key: dir.join(format!("{base}-key.pem")),
    };
    let key = KeyPair::generate().map_err(TlsError::Pki)?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(TlsError::Pki)?;
    write_private(&files.key, &key.serialize_pem())?;
    write_public(&files.cert, &cert.pem())?;
    Ok(files)
}

/// Issues an HTTPS server certificate for a web console at `hosts`, signed
/// by the CA in `dir`: server authentication only and **no** `trama://`
/// identity, so that it can never act as a node of the federation. Written
/// as `<name>-web.pem` and `<name>-web-key.pem`. Browsers must trust the CA
/// (or, in production, use a certificate of the organisation's own CA).
pub fn issue_web(
    dir: &Path,
    name: &str,
    hosts: &[String],
    days: i64,
) -> Result<IssuedFiles, TlsError> {
    crate::identity::validate_name(name)?;
    let ca = Ca::load(dir)?;
    let mut params = CertificateParams::default();
    params.serial_number = Some(random_serial()?);
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_else(|| name.to_string()),
    );
    params.distinguished_name = dn;
    add_hosts(&mut params, hosts)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign_and_write(dir, &format!("{name}-web"), params, &ca, (0, days))
}

/// Revokes the certificate in `cert` (its first PEM certificate): rewrites
/// `dir/crl.pem`, signed by the CA in `dir`, with the certificates already
/// revoked there plus this one, the next CRL number, and a next update 30
/// days from now (without a CRL yet, one is started). Revoking a certificate already listed keeps
/// its original entry and re-signs the list, which also serves to refresh a
/// CRL nearing its next update. The certificate must have been issued by
/// this CA. The file is replaced atomically; do not run two revocations on
/// one directory at once. Returns the CRL's path.
pub fn revoke(dir: &Path, cert: &Path) -> Result<PathBuf, TlsError> {
    let ca = Ca::load(dir)?;
    let (_, ca_cert) = X509Certificate::from_der(&ca.der).map_err(|e| TlsError::Pem {
        path: dir.join(CA_CERT),
        what: format!("the CA certificate could not be parsed: {e}"),
    })?;
    let der = load_certs(cert)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::Pem {
            path: cert.to_path_buf(),
            what: "no certificate found".into(),
        })?;
    let (_, target) = X509Certificate::from_der(&der).map_err(|e| TlsError::Pem {
        path: cert.to_path_buf(),
        what: format!("the certificate could not be parsed: {e}"),
    })?;
    if target.verify_signature(Some(ca_cert.public_key())).is_err() {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            what: format!("not issued by the CA in {}", dir.display()),
        });
    }
    let serial = canonical_serial(target.raw_serial()).to_vec();

    let crl_path = dir.join(CRL_FILE);
    let (mut revoked, number) = if crl_path.exists() {
        read_crl(&crl_path, &ca_cert)?
    } else {
        (Vec::new(), BigUint::from(0u32))
    };
    if !revoked
        .iter()
        .any(|r: &RevokedCertParams| r.serial_number.as_ref() == serial.as_slice())
    {
        revoked.push(RevokedCertParams {
            serial_number: SerialNumber::from(serial),
            revocation_time: OffsetDateTime::now_utc(),
            reason_code: None,
            invalidity_date: None,
        });
    }
    write_crl(
        dir,
        &ca.issuer,
        ca.key_identifier_method,
        &(number + 1u32),
        revoked,
    )
}

/// The CA of a PKI directory, ready to sign.
pub(crate) struct Ca {
    der: Vec<u8>,
    key_identifier_method: KeyIdMethod,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn load(dir: &Path) -> Result<Ca, TlsError> {
        let ca_cert_path = dir.join(CA_CERT);
        let ca_pem =
            fs::read_to_string(&ca_cert_path).map_err(|e| TlsError::io(&ca_cert_path, e))?;
        let ca_key_path = dir.join(CA_KEY);
        let ca_key_pem =
            fs::read_to_string(&ca_key_path).map_err(|e| TlsError::io(&ca_key_path, e))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(TlsError::Pki)?;
        let der = load_certs(&ca_cert_path)?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| TlsError::Pem {
            path: ca_cert_path.clone(),
            what: format!("the CA certificate could not be parsed: {e}"),
        })?;
        // CRLs name the CA's key as the CA's certificate does.
        let key_identifier_method = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                }
                _ => None,
            })
            .unwrap_or(KeyIdMethod::Sha256);
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(TlsError::Pki)?;
        Ok(Ca {
            der,
            key_identifier_method,
            issuer,
        })
    }
}

/// The entries and CRL number of the CRL in `path`, which must be signed by
/// `ca`.
fn read_crl(
    path: &Path,
    ca: &X509Certificate<'_>,
) -> Result<(Vec<RevokedCertParams>, BigUint), TlsError> {
    let bad = |what: String| TlsError::Pem {
        path: path.to_path_buf(),
        what,
    };
    let bytes = fs::read(path).map_err(|e| TlsError::io(path, e))?;
    let der = CertificateRevocationListDer::from_pem_slice(&bytes)
        .map_err(|e| bad(format!("no certificate revocation list found: {e}")))?;
    let (_, crl) = x509_parser::parse_x509_crl(&der)
        .map_err(|e| bad(format!("not a valid certificate revocation list: {e}")))?;
    if crl.verify_signature(ca.public_key()).is_err() {
        return Err(bad("not signed by this directory's CA".into()));
    }
    let entries = crl
        .iter_revoked_certificates()
        .map(|entry| RevokedCertParams {
            serial_number: SerialNumber::from_slice(canonical_serial(entry.raw_serial())),
            revocation_time: entry.revocation_date.to_datetime(),
            reason_code: entry
                .reason_code()
                .and_then(|(_, code)| revocation_reason(code.0)),
            invalidity_date: entry.invalidity_date().map(|(_, t)| t.to_datetime()),
        })
        .collect();
    let number = crl.crl_number().cloned().unwrap_or_default();
    Ok((entries, number))
}

fn revocation_reason(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

/// Signs and atomically writes `dir/crl.pem`.
fn write_crl(
    dir: &Path,
    issuer: &Issuer<'_, KeyPair>,
    key_identifier_method: KeyIdMethod,
    number: &BigUint,
    revoked_certs: Vec<RevokedCertParams>,
) -> Result<PathBuf, TlsError> {
    let now = OffsetDateTime::now_utc();
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(CRL_VALID_DAYS),
        crl_number: SerialNumber::from(number.to_bytes_be()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method,
    };
    let pem = params
        .signed_by(issuer)
        .and_then(|crl| crl.pem())
        .map_err(TlsError::Pki)?;
    let path = dir.join(CRL_FILE);
    write_atomically(&path, pem.as_bytes())?;
    Ok(path)
}

/// A random, positive 16-byte certificate serial number.
fn random_serial() -> Result<SerialNumber, TlsError> {
    let mut bytes = [0u8; 16];
    crate::provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| TlsError::Random)?;
    // Positive, and always 16 bytes long.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Replaces `path` with `contents` so that readers see the old or the new
/// file, never a partial one: writes a temporary file in the same directory,
/// syncs it, and renames it over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(TlsError::io(path, e));
    }
    // Make the rename itself durable.
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TlsError::io(dir, e))?;
    Ok(())
}

pub(crate) fn write_public(path: &Path, contents: &str) -> Result<(), TlsError> {
    fs::write(path, contents).map_err(|e| TlsError::io(path, e))
}

/// Writes a private key readable by its owner only. The file is created
/// with mode 0600, never widened afterwards.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
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

    fn crl_of(dir: &Path) -> (Vec<Vec<u8>>, BigUint) {
        let pem = fs::read(dir.join(CRL_FILE)).unwrap_or_default();
        let Ok(der) = CertificateRevocationListDer::from_pem_slice(&pem) else {
            panic!("crl pem")
        };
        let ca_pem = fs::read(dir.join(CA_CERT)).unwrap_or_default();
        let Ok(ca_der) = rustls_pki_types::CertificateDer::from_pem_slice(&ca_pem) else {
            panic!("ca pem")
        };
        let Ok((_, ca)) = X509Certificate::from_der(&ca_der) else {
            panic!("ca")
        };
        let Ok((_, crl)) = x509_parser::parse_x509_crl(&der) else {
            panic!("crl")
        };
        assert!(crl.verify_signature(ca.public_key()).is_ok());
        assert!(crl.next_update().is_some());
        let serials = crl
            .iter_revoked_certificates()
            .map(|r| canonical_serial(r.raw_serial()).to_vec())
            .collect();
        (serials, crl.crl_number().cloned().unwrap_or_default())
    }

    fn serial(path: &Path) -> Vec<u8> {
        let certs = load_certs(path);
        let Ok(certs) = certs else {
            panic!("{certs:?}")
        };
        crate::certificate_serial(&certs[0]).unwrap_or_default()
    }

    #[test]
    fn revoking_keeps_earlier_entries_and_counts_the_crl_number_up() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let dir = dir.path();
        assert!(init(dir, "demo").is_ok());
        assert_eq!(crl_of(dir), (vec![], BigUint::from(1u32)));
        let issue_for = |organisation: &str| {
            let files = issue(
                dir,
                &IssueRequest {
                    organisation: organisation.into(),
                    role: Role::Client,
                    hosts: vec![],
                    valid_days: 30,
                    not_before_days_ago: 0,
                },
            );
            let Ok(files) = files else {
                panic!("{files:?}")
            };
            files.cert
        };
        let (a, b) = (issue_for("comune"), issue_for("caritas"));
        let (serial_a, serial_b) = (serial(&a), serial(&b));
        assert_ne!(serial_a, serial_b);
        assert_eq!((serial_a.len(), serial_b.len()), (16, 16), "random serials");

        assert_eq!(revoke(dir, &a).ok(), Some(dir.join(CRL_FILE)));
        assert_eq!(crl_of(dir), (vec![serial_a.clone()], BigUint::from(2u32)));
        assert!(revoke(dir, &b).is_ok());
        let both = vec![serial_a.clone(), serial_b.clone()];
        assert_eq!(crl_of(dir), (both.clone(), BigUint::from(3u32)));
        // Revoking again re-signs without a second entry.
        assert!(revoke(dir, &a).is_ok());
        assert_eq!(crl_of(dir), (both.clone(), BigUint::from(4u32)));

        // A certificate of another CA is refused, naming it; the CRL stays.
        let other = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(other) = other else { panic!("tempdir") };
        assert!(init(other.path(), "demo").is_ok());
        let foreign = issue(
            other.path(),
            &IssueRequest {
                organisation: "comune".into(),
                role: Role::Client,
                hosts: vec![],
                valid_days: 30,
                not_before_days_ago: 0,
            },
        );
        let Ok(foreign) = foreign else {
            panic!("{foreign:?}")
        };
        let refused = revoke(dir, &foreign.cert).map_err(|e| e.to_string());
        let Err(message) = refused else {
            panic!("revoked a foreign certificate")
        };
        assert!(
            message.contains(&foreign.cert.display().to_string()),
            "{message}"
        );
        assert_eq!(crl_of(dir), (both, BigUint::from(4u32)));
        let leftovers: Vec<_> = fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            !leftovers
                .iter()
                .any(|n| n.to_string_lossy().ends_with(".tmp")),
            "{leftovers:?}"
        );
    }
}
