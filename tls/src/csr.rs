//! Certificates for real organisations, whose keys never leave them: the
//! partner makes its key and a certificate signing request ([`request`]),
//! and the federation's CA signs the request ([`sign`]) once it has checked
//! that it asks for exactly one identity, of this federation. Of the
//! request only the public key, the identity and the host names are taken;
//! the usages, the validity and the serial are the CA's.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{CertificateSigningRequestParams, KeyPair, SanType};

use crate::TlsError;
use crate::identity::{NodeIdentity, Role};
use crate::pki::{self, Ca};

/// What a partner asks to be certified as.
#[derive(Debug, Clone)]
pub struct NodeRequest {
    /// The federation, for example `myfed`.
    pub federation: String,
    /// The organisation, for example `comune`.
    pub organisation: String,
    /// The node's role.
    pub role: Role,
    /// DNS names and IP addresses the node serves on.
    pub hosts: Vec<String>,
}

/// The files of a request.
#[derive(Debug, Clone)]
pub struct RequestFiles {
    /// The certificate signing request (PEM), to send to the CA.
    pub csr: PathBuf,
    /// The private key (PEM, mode 0600), to keep.
    pub key: PathBuf,
}

/// A certificate signed from a request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The certificate written.
    pub cert: PathBuf,
    /// The identity it carries.
    pub identity: NodeIdentity,
    /// The host names and addresses it carries.
    pub hosts: Vec<String>,
}

/// Makes a key and a certificate signing request for `who` in `dir`:
/// `<org>-<role>-key.pem` (mode 0600) and `<org>-<role>.csr`. Refuses to
/// overwrite either.
pub fn request(dir: &Path, who: &NodeRequest) -> Result<RequestFiles, TlsError> {
    let identity = NodeIdentity::new(&who.federation, &who.organisation, who.role)?;
    let base = format!("{}-{}", who.organisation, who.role);
    let files = RequestFiles {
        csr: dir.join(format!("{base}.csr")),
        key: dir.join(format!("{base}-key.pem")),
    };
    for path in [&files.key, &files.csr] {
        if path.exists() {
            return Err(TlsError::Exists(path.clone()));
        }
    }
    fs::create_dir_all(dir).map_err(|e| TlsError::io(dir, e))?;
    let mut params = pki::node_params(&identity, &who.hosts)?;
    // The serial is the CA's to choose.
    params.serial_number = None;
    let key = KeyPair::generate().map_err(TlsError::Pki)?;
    let csr = params.serialize_request(&key).map_err(TlsError::Pki)?;
    pki::write_private(&files.key, &key.serialize_pem())?;
    pki::write_public(&files.csr, &csr.pem().map_err(TlsError::Pki)?)?;
    Ok(files)
}

/// Signs the request in `csr` with the CA in `dir`, valid for `days`, and
/// writes the certificate to `out` (refused if it exists). The request
/// must verify under its own key and ask for exactly one `trama://`
/// identity, of the CA's federation.
pub fn sign(dir: &Path, csr: &Path, days: i64, out: &Path) -> Result<Signed, TlsError> {
    if out.exists() {
        return Err(TlsError::Exists(out.to_path_buf()));
    }
    let federation = pki::federation_of(dir)?;
    let text = fs::read_to_string(csr).map_err(|e| TlsError::io(csr, e))?;
    let asked = CertificateSigningRequestParams::from_pem(&text).map_err(|e| TlsError::Pem {
        path: csr.to_path_buf(),
        what: format!("not a certificate signing request whose signature verifies ({e})"),
    })?;
    let (identity, hosts) = asked_for(&asked, &federation, csr)?;
    let ca = Ca::load(dir)?;
    let mut params = pki::node_params(&identity, &hosts)?;
    pki::validity(&mut params, (0, days));
    let signed = CertificateSigningRequestParams {
        params,
        public_key: asked.public_key,
    }
    .signed_by(&ca.issuer)
    .map_err(TlsError::Pki)?;
    pki::write_public(out, &signed.pem())?;
    Ok(Signed {
        cert: out.to_path_buf(),
        identity,
        hosts,
    })
}

/// The identity and hosts a request asks for: exactly one `trama://` URI,
/// of `federation`, and DNS names and addresses; anything else refused.
fn asked_for(
    asked: &CertificateSigningRequestParams,
    federation: &str,
    csr: &Path,
) -> Result<(NodeIdentity, Vec<String>), TlsError> {
    let refused = |what: String| TlsError::Pem {
        path: csr.to_path_buf(),
        what,
    };
    let mut identities = Vec::new();
    let mut hosts = Vec::new();
    for san in &asked.params.subject_alt_names {
        match san {
            SanType::URI(uri) => identities.push(uri.as_str().to_string()),
            SanType::DnsName(name) => hosts.push(name.as_str().to_string()),
            SanType::IpAddress(ip) => hosts.push(ip.to_string()),
            other => {
                return Err(refused(format!(
                    "the request asks for {other:?}, which a node certificate never carries"
                )));
            }
        }
    }
    let [uri] = identities.as_slice() else {
        return Err(refused(format!(
            "the request carries {} trama:// identities; a node certificate carries exactly one",
            identities.len()
        )));
    };
    let identity = NodeIdentity::parse_uri(uri).map_err(|e| refused(format!("`{uri}`: {e}")))?;
    if identity.federation != federation {
        return Err(refused(format!(
            "the request is for federation `{}`, this CA signs for `{federation}`",
            identity.federation
        )));
    }
    Ok((identity, hosts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CA_CERT;

    fn who(federation: &str) -> NodeRequest {
        NodeRequest {
            federation: federation.into(),
            organisation: "comune".into(),
            role: Role::Connector,
            hosts: vec!["connector.comune.example.org".into(), "10.0.0.7".into()],
        }
    }

    /// A federation's CA in one directory and a partner in another.
    fn federation() -> (tempfile::TempDir, tempfile::TempDir) {
        let ca = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        pki::init(ca.path(), "myfed").unwrap_or_else(|e| panic!("{e}"));
        let partner = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        (ca, partner)
    }

    #[test]
    fn the_partner_keeps_its_key_and_the_ca_signs_its_request() {
        let (ca, partner) = federation();
        let files = request(partner.path(), &who("myfed")).unwrap_or_else(|e| panic!("{e}"));
        let out = partner.path().join("comune-connector.pem");
        let signed = sign(ca.path(), &files.csr, 30, &out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signed.identity.uri(), "trama://myfed/org/comune/connector");
        assert_eq!(
            signed.hosts,
            vec!["connector.comune.example.org", "10.0.0.7"]
        );
        // The certificate is the CA's, carries the identity, and goes with
        // the key that never left the partner.
        let tls = crate::TlsFiles {
            ca: ca.path().join(CA_CERT),
            cert: out.clone(),
            key: files.key.clone(),
            crl: None,
        };
        let node = crate::check::NodeConfig {
            file: Path::new("connector.toml"),
            federation: "myfed",
            organisation: Some("comune"),
            role: Role::Connector,
        };
        let identity = crate::check::node_identity(&tls, &node).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity, signed.identity);
        assert!(!ca.path().join("comune-connector-key.pem").exists());
        let again = sign(ca.path(), &files.csr, 30, &out);
        assert!(matches!(again, Err(TlsError::Exists(_))), "{again:?}");
        let twice = request(partner.path(), &who("myfed"));
        assert!(matches!(twice, Err(TlsError::Exists(_))), "{twice:?}");
    }

    #[test]
    fn a_request_for_another_federation_or_a_tampered_one_is_refused() {
        let (ca, partner) = federation();
        let other = request(partner.path(), &who("otherfed")).unwrap_or_else(|e| panic!("{e}"));
        let out = partner.path().join("out.pem");
        let refused = sign(ca.path(), &other.csr, 30, &out)
            .map(|_| ())
            .unwrap_err();
        assert!(
            refused.to_string().contains("this CA signs for `myfed`"),
            "{refused}"
        );
        assert!(!out.exists(), "nothing written for a refused request");

        // The request's contents changed after it was signed by its key.
        let pem = fs::read_to_string(&other.csr).unwrap_or_else(|e| panic!("{e}"));
        let der = pem::parse(&pem).unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = der.contents().to_vec();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x01;
        let tampered = partner.path().join("tampered.csr");
        fs::write(
            &tampered,
            pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", bytes)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let refused = sign(ca.path(), &tampered, 30, &out)
            .map(|_| ())
            .unwrap_err();
        assert!(refused.to_string().contains("signing request"), "{refused}");
    }

    #[test]
    fn a_request_with_two_identities_is_refused() {
        let (ca, partner) = federation();
        let identity =
            NodeIdentity::new("myfed", "comune", Role::Client).unwrap_or_else(|e| panic!("{e}"));
        let mut params = pki::node_params(&identity, &[]).unwrap_or_else(|e| panic!("{e}"));
        params.serial_number = None;
        let second = "trama://myfed/org/gateway/gateway"
            .to_string()
            .try_into()
            .unwrap_or_else(|e| panic!("{e:?}"));
        params.subject_alt_names.push(SanType::URI(second));
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let csr = params
            .serialize_request(&key)
            .unwrap_or_else(|e| panic!("{e}"));
        let path = partner.path().join("two.csr");
        fs::write(&path, csr.pem().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = sign(ca.path(), &path, 30, &partner.path().join("two.pem"))
            .map(|_| ())
            .unwrap_err();
        assert!(
            refused.to_string().contains("2 trama:// identities"),
            "{refused}"
        );
    }
}
