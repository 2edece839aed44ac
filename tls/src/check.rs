//! The start-up check of a node's own certificates against its
//! configuration: the CA file holds CA certificates, the node's certificate
//! comes from that CA and carries exactly one identity, of the node's role,
//! federation and organisation, and the key and CRL load. A node that fails
//! it does not start, rather than printing `ready` and serving handshakes
//! every peer refuses. Each problem names the configuration file, the key
//! and the fix.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::{NodeIdentity, Role};
use crate::{TlsError, TlsFiles, load_certs};

/// What a node's configuration says it is.
#[derive(Debug, Clone, Copy)]
pub struct NodeConfig<'a> {
    /// The configuration file, named in every problem.
    pub file: &'a Path,
    /// Its `federation` key.
    pub federation: &'a str,
    /// Its `organisation` key, for nodes that have one (connectors).
    pub organisation: Option<&'a str>,
    /// The role the node plays.
    pub role: Role,
}

/// One way a node's TLS files do not fit its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The configuration file.
    pub file: PathBuf,
    /// The key at fault, such as `tls.cert` or `federation`.
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: key `{}`: {}",
            self.file.display(),
            self.key,
            self.problem
        )
    }
}

/// The node's identity from its certificate, once every check passed;
/// otherwise [`TlsError::Misfit`] with every problem found.
pub fn node_identity(files: &TlsFiles, node: &NodeConfig<'_>) -> Result<NodeIdentity, TlsError> {
    let (identity, misfits) = misfits(files, node);
    match identity {
        Some(identity) if misfits.is_empty() => Ok(identity),
        _ => Err(TlsError::Misfit(misfits)),
    }
}

/// Every way `files` do not fit `node` (none: they fit), and the node's
/// identity if its certificate carries one.
pub fn misfits(files: &TlsFiles, node: &NodeConfig<'_>) -> (Option<NodeIdentity>, Vec<Misfit>) {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let ca = match load_certs(&files.ca) {
        Ok(ca) => {
            found.extend(ca_misfits(&ca, &files.ca));
            Some(ca)
        }
        Err(e) => {
            found.push(("tls.ca", e.to_string()));
            None
        }
    };
    // A CA file of node certificates says nothing about who issued ours.
    let ca = ca.filter(|_| found.is_empty());
    let certs = load_certs(&files.cert)
        .map_err(|e| found.push(("tls.cert", e.to_string())))
        .ok();
    let identity = match certs.as_ref().and_then(|c| c.first()) {
        Some(cert) => match NodeIdentity::from_certificate(cert) {
            Ok(identity) => {
                found.extend(identity_misfits(&identity, &files.cert, node));
                Some(identity)
            }
            Err(e) => {
                let fix = issue_command(node.organisation.unwrap_or("<org>"), node.role);
                let problem = format!("{}: {e}; issue one with `{fix}`", files.cert.display());
                found.push(("tls.cert", problem));
                None
            }
        },
        None => None,
    };
    if let (Some(ca), Some(certs)) = (&ca, &certs)
        && !issued_by(certs, ca)
    {
        found.push((
            "tls.cert",
            format!(
                "{} is not issued by the CA in {}, so peers will refuse it; issue it from that \
                 CA or set `tls.ca` to the CA that issued it",
                files.cert.display(),
                files.ca.display()
            ),
        ));
    }
    found.extend(key_exposed(&files.key));
    // The key and the CRL, once the certificates are known to be right.
    if found.is_empty()
        && let Err(e) = crate::server::server_config(files)
    {
        found.push((key_of(&e, files), e.to_string()));
    }
    let misfits = found
        .into_iter()
        .map(|(key, problem)| Misfit {
            file: node.file.to_path_buf(),
            key,
            problem,
        })
        .collect();
    (identity, misfits)
}

/// The private key file, if other users may read or write it: the node's
/// identity would be theirs too.
#[cfg(unix)]
fn key_exposed(key: &Path) -> Option<(&'static str, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        (
            "tls.key",
            format!(
                "{} may be read by other users (mode {mode:04o}); give it to the node's user alone:                  `chmod 0600 {}` (and `chown trama` under the package's units)",
                key.display(),
                key.display()
            ),
        )
    })
}

#[cfg(not(unix))]
fn key_exposed(_key: &Path) -> Option<(&'static str, String)> {
    None
}

/// The certificates of the CA file that cannot be CAs.
fn ca_misfits(ca: &[CertificateDer<'_>], path: &Path) -> Vec<(&'static str, String)> {
    ca.iter()
        .filter_map(not_a_ca)
        .map(|problem| {
            let fix = "set it to the federation CA certificate (`ca.pem` of `trama pki init`)";
            ("tls.ca", format!("{}: {problem}; {fix}", path.display()))
        })
        .collect()
}

/// The problems of a well-formed identity that is not the configured node's.
fn identity_misfits(
    identity: &NodeIdentity,
    cert: &Path,
    node: &NodeConfig<'_>,
) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if identity.role != node.role {
        found.push((
            "tls.cert",
            format!(
                "certificate identity {identity} has role {}; a {} needs a {} certificate \
                 (issue one with `{}`)",
                identity.role,
                node.role,
                node.role,
                issue_command(
                    node.organisation.unwrap_or(&identity.organisation),
                    node.role
                )
            ),
        ));
    }
    if identity.federation != node.federation {
        found.push((
            "federation",
            format!(
                "is `{}`, but the certificate {} carries {identity} of federation `{}`; set \
                 `federation = \"{}\"`, or use a certificate of the CA of federation `{}`",
                node.federation,
                cert.display(),
                identity.federation,
                identity.federation,
                node.federation
            ),
        ));
    }
    if let Some(organisation) = node.organisation
        && identity.organisation != organisation
    {
        found.push((
            "organisation",
            format!(
                "is `{organisation}`, but the certificate {} carries {identity} of organisation \
                 `{}`; the gateway expects this connector to present {}: issue it with `{}`, or \
                 correct `organisation`",
                cert.display(),
                identity.organisation,
                NodeIdentity {
                    organisation: organisation.to_string(),
                    ..identity.clone()
                },
                issue_command(organisation, node.role)
            ),
        ));
    }
    found
}

/// Why a certificate of the CA file cannot be a CA, if it cannot.
pub(crate) fn not_a_ca(der: &CertificateDer<'_>) -> Option<String> {
    match X509Certificate::from_der(der) {
        Err(e) => Some(format!("a certificate could not be parsed: {e}")),
        Ok((_, cert)) if !cert.is_ca() => Some(format!(
            "`{}` is not a CA certificate (its basic constraints do not say CA:TRUE); it looks \
             like a node's certificate",
            cert.subject()
        )),
        Ok(_) => None,
    }
}

/// Whether the first certificate of `chain` is signed by a CA of `ca`,
/// directly or through the intermediates after it in `chain`.
fn issued_by(chain: &[CertificateDer<'_>], ca: &[CertificateDer<'_>]) -> bool {
    let (Some(chain), Some(cas)) = (parse_all(chain), parse_all(ca)) else {
        return false;
    };
    let signs = |issuer: &X509Certificate<'_>, cert: &X509Certificate<'_>| {
        cert.verify_signature(Some(issuer.public_key())).is_ok()
    };
    let Some(mut current) = chain.first() else {
        return false;
    };
    // Each step moves one certificate up the chain; more steps than
    // certificates would be a loop.
    for _ in 0..chain.len() {
        if cas.iter().any(|ca| signs(ca, current)) {
            return true;
        }
        match chain[1..].iter().find(|c| signs(c, current)) {
            Some(next) => current = next,
            None => return false,
        }
    }
    false
}

fn parse_all<'a>(ders: &'a [CertificateDer<'_>]) -> Option<Vec<X509Certificate<'a>>> {
    ders.iter()
        .map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c))
        .collect()
}

/// The configuration key of the file a [`TlsError`] names.
fn key_of(error: &TlsError, files: &TlsFiles) -> &'static str {
    let path = match error {
        TlsError::Io { path, .. } | TlsError::Pem { path, .. } => path,
        // rustls refuses a key that does not belong to the certificate.
        _ => return "tls.key",
    };
    if *path == files.ca {
        "tls.ca"
    } else if *path == files.cert {
        "tls.cert"
    } else if Some(path) == files.crl.as_ref() {
        "tls.crl"
    } else {
        "tls.key"
    }
}

/// The command that issues a development certificate for `organisation`.
fn issue_command(organisation: &str, role: Role) -> String {
    format!("trama pki issue --org {organisation} --role {role}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Pki;

    fn node(role: Role, organisation: Option<&str>) -> NodeConfig<'_> {
        NodeConfig {
            file: Path::new("node.toml"),
            federation: "demo",
            organisation,
            role,
        }
    }

    /// The problems found, as `key: text`.
    fn problems(files: &TlsFiles, node: &NodeConfig<'_>) -> Vec<String> {
        misfits(files, node)
            .1
            .iter()
            .map(|m| format!("{}: {}", m.key, m.problem))
            .collect()
    }

    #[test]
    fn a_certificate_fitting_the_configuration_passes() {
        let pki = Pki::new();
        let files = pki.issue("caritas", Role::Connector, 30, 0);
        let identity = node_identity(&files, &node(Role::Connector, Some("caritas")));
        assert_eq!(
            identity.map(|i| i.uri()).map_err(|e| e.to_string()),
            Ok("trama://demo/org/caritas/connector".to_string())
        );
        let gateway = pki.issue("hub", Role::Gateway, 30, 0);
        assert!(problems(&gateway, &node(Role::Gateway, None)).is_empty());
    }

    #[test]
    fn each_misfit_names_its_key_and_the_fix() {
        let pki = Pki::new();
        let client = pki.issue("comune", Role::Client, 30, 0);
        assert_eq!(
            problems(&client, &node(Role::Gateway, None)),
            vec![
                "tls.cert: certificate identity trama://demo/org/comune/client has role client; \
                 a gateway needs a gateway certificate (issue one with `trama pki issue --org \
                 comune --role gateway`)"
                    .to_string()
            ]
        );
        let asl = pki.issue("asl", Role::Connector, 30, 0);
        let found = problems(&asl, &node(Role::Connector, Some("caritas")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("organisation: is `caritas`, but the certificate")
                && found[0].contains("present trama://demo/org/caritas/connector")
                && found[0].contains("`trama pki issue --org caritas --role connector`"),
            "{found:?}"
        );
        let other = NodeConfig {
            federation: "other",
            ..node(Role::Connector, Some("asl"))
        };
        let found = problems(&asl, &other);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("federation: is `other`, but the certificate")
                && found[0].contains("set `federation = \"demo\"`"),
            "{found:?}"
        );
    }

    #[test]
    fn every_problem_is_listed_not_only_the_first() {
        let pki = Pki::new();
        let client = pki.issue("comune", Role::Client, 30, 0);
        let wrong = NodeConfig {
            federation: "other",
            ..node(Role::Connector, Some("caritas"))
        };
        let keys: Vec<&str> = misfits(&client, &wrong).1.iter().map(|m| m.key).collect();
        assert_eq!(keys, ["tls.cert", "federation", "organisation"]);
        let error = node_identity(&client, &wrong).map_err(|e| e.to_string());
        let Err(message) = error else {
            panic!("accepted")
        };
        assert_eq!(message.lines().count(), 3, "{message}");
        assert!(
            message.starts_with("node.toml: key `tls.cert`: "),
            "{message}"
        );
    }

    #[test]
    fn a_leaf_as_ca_and_a_certificate_of_another_ca_are_refused() {
        let pki = Pki::new();
        let files = pki.issue("caritas", Role::Connector, 30, 0);
        let leaf_as_ca = TlsFiles {
            ca: files.cert.clone(),
            ..files.clone()
        };
        let found = problems(&leaf_as_ca, &node(Role::Connector, Some("caritas")));
        assert!(
            found.iter().any(|p| p.starts_with("tls.ca: ")
                && p.contains("is not a CA certificate")
                && p.contains("`ca.pem` of `trama pki init`")),
            "{found:?}"
        );
        let other_pki = Pki::new();
        let foreign = other_pki.issue("caritas", Role::Connector, 30, 0);
        let mixed = TlsFiles {
            cert: foreign.cert,
            key: foreign.key,
            ..files
        };
        let found = problems(&mixed, &node(Role::Connector, Some("caritas")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("tls.cert: ") && found[0].contains("is not issued by the CA in"),
            "{found:?}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let pki = Pki::new();
        let files = pki.issue("caritas", Role::Connector, 30, 0);
        let other = pki.issue("asl", Role::Connector, 30, 0);
        let swapped = TlsFiles {
            key: other.key,
            ..files
        };
        let found = problems(&swapped, &node(Role::Connector, Some("caritas")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("tls.key: "), "{found:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_other_users_may_read_is_refused_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let pki = Pki::new();
        let files = pki.issue("caritas", Role::Connector, 30, 0);
        let node = node(Role::Connector, Some("caritas"));
        assert!(problems(&files, &node).is_empty(), "0600 as written");
        for mode in [0o640, 0o604, 0o666] {
            std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
            let found = problems(&files, &node);
            assert_eq!(found.len(), 1, "{mode:o}: {found:?}");
            assert!(
                found[0].starts_with("tls.key: ") && found[0].contains("chmod 0600"),
                "{found:?}"
            );
        }
    }
}
