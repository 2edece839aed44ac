//! Federation identities: `trama://<federation>/org/<org-id>/<role>`, carried
//! as a URI in the subject alternative names of every node's certificate.

use std::fmt;
use std::str::FromStr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The scheme of identity URIs.
pub const SCHEME: &str = "trama://";

/// What a node does in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The federation gateway; the only role connectors accept.
    Gateway,
    /// A partner's connector; only the gateway calls it.
    Connector,
    /// A client system (social services software, operator desk, DPO).
    Client,
}

impl Role {
    /// The role's name in identity URIs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Connector => "connector",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Role, IdentityError> {
        match s {
            "gateway" => Ok(Role::Gateway),
            "connector" => Ok(Role::Connector),
            "client" => Ok(Role::Client),
            other => Err(IdentityError::UnknownRole(other.to_string())),
        }
    }
}

/// Why a URI or certificate does not carry a valid federation identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not of the form `trama://<federation>/org/<org>/<role>`.
    #[error("`{0}` is not a federation identity (expected trama://<federation>/org/<org>/<role>)")]
    Malformed(String),
    /// A role other than gateway, connector, client.
    #[error("unknown role `{0}` (expected gateway, connector or client)")]
    UnknownRole(String),
    /// A name with characters outside `a-z0-9-_`.
    #[error("`{0}` is not a valid name (use lower-case letters, digits, '-' and '_')")]
    InvalidName(String),
    /// The certificate could not be parsed.
    #[error("the certificate could not be parsed: {0}")]
    BadCertificate(String),
    /// The certificate has no `trama://` URI.
    #[error("the certificate carries no trama:// identity in its subject alternative names")]
    Missing,
    /// The certificate has more than one `trama://` URI: which one the
    /// holder acts as would be a guess, so none is taken.
    #[error(
        "the certificate carries {} trama:// identities ({}); a certificate must carry exactly one",
        .0.len(),
        .0.join(", ")
    )]
    Ambiguous(Vec<String>),
}

/// A node's identity in a federation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    /// The federation, for example `demo`.
    pub federation: String,
    /// The organisation, for example `comune`.
    pub organisation: String,
    /// The node's role.
    pub role: Role,
}

impl NodeIdentity {
    /// Builds an identity, checking the names.
    pub fn new(federation: &str, organisation: &str, role: Role) -> Result<Self, IdentityError> {
        for name in [federation, organisation] {
            validate_name(name)?;
        }
        Ok(NodeIdentity {
            federation: federation.to_string(),
            organisation: organisation.to_string(),
            role,
        })
    }

    /// The identity as a URI, `trama://demo/org/comune/client`.
    pub fn uri(&self) -> String {
        format!(
            "{SCHEME}{}/org/{}/{}",
            self.federation, self.organisation, self.role
        )
    }

    /// Parses `trama://<federation>/org/<org>/<role>`.
    pub fn parse_uri(uri: &str) -> Result<Self, IdentityError> {
        let malformed = || IdentityError::Malformed(uri.to_string());
        let rest = uri.strip_prefix(SCHEME).ok_or_else(malformed)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [federation, "org", organisation, role] = parts.as_slice() else {
            return Err(malformed());
        };
        NodeIdentity::new(federation, organisation, role.parse()?)
    }

    /// Reads the identity from a DER certificate's subject alternative
    /// names, which must hold exactly one `trama://` URI.
    pub fn from_certificate(der: &[u8]) -> Result<Self, IdentityError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| IdentityError::BadCertificate(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::BadCertificate(e.to_string()))?
            .ok_or(IdentityError::Missing)?;
        let uris: Vec<&str> = san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::URI(uri) if uri.starts_with(SCHEME) => Some(*uri),
                _ => None,
            })
            .collect();
        match uris.as_slice() {
            [] => Err(IdentityError::Missing),
            [uri] => NodeIdentity::parse_uri(uri),
            many => Err(IdentityError::Ambiguous(
                many.iter().map(|u| u.to_string()).collect(),
            )),
        }
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

/// Checks a federation or organisation name: `a-z`, `0-9`, `-`, `_`, 1 to
/// 63 characters.
pub fn validate_name(name: &str) -> Result<(), IdentityError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_table() {
        let ok = NodeIdentity::parse_uri("trama://demo/org/comune/client");
        assert_eq!(
            ok,
            Ok(NodeIdentity {
                federation: "demo".into(),
                organisation: "comune".into(),
                role: Role::Client
            })
        );
        assert_eq!(
            ok.map(|i| i.uri()),
            Ok("trama://demo/org/comune/client".into())
        );
        for bad in [
            "https://demo/org/comune/client",
            "trama://demo/comune/client",
            "trama://demo/org/comune",
            "trama://demo/org/Comune/client",
            "trama://demo/org/comune/admin",
            "trama://demo/org/comune/client/extra",
        ] {
            assert!(NodeIdentity::parse_uri(bad).is_err(), "{bad}");
        }
    }

    /// The identity read from a client certificate issued for `caritas`
    /// with `extra` URIs after its own.
    fn identity_with_extra_uris(extra: &[&str]) -> Result<NodeIdentity, IdentityError> {
        let pki = crate::test_support::Pki::new();
        let request = crate::pki::IssueRequest {
            organisation: "caritas".into(),
            role: Role::Client,
            hosts: vec![],
            valid_days: 30,
            not_before_days_ago: 0,
        };
        let extra: Vec<String> = extra.iter().map(|u| u.to_string()).collect();
        let Ok(issued) = crate::pki::issue_with_extra_uris(pki.path(), &request, &extra) else {
            panic!("issue")
        };
        let Ok(certs) = crate::load_certs(&issued.cert) else {
            panic!("load")
        };
        NodeIdentity::from_certificate(&certs[0])
    }

    #[test]
    fn a_certificate_must_carry_exactly_one_identity() {
        let caritas = "trama://demo/org/caritas/client";
        assert_eq!(
            identity_with_extra_uris(&[]).map(|i| i.uri()),
            Ok(caritas.into())
        );
        // Other URIs beside the identity do not matter.
        assert_eq!(
            identity_with_extra_uris(&["https://caritas.example.org/"]).map(|i| i.uri()),
            Ok(caritas.into())
        );
        for second in [
            "trama://demo/org/comune/client",
            caritas,
            "trama://nonsense",
        ] {
            let found = identity_with_extra_uris(&[second]);
            assert_eq!(
                found,
                Err(IdentityError::Ambiguous(vec![
                    caritas.into(),
                    second.into()
                ])),
                "{second}"
            );
        }
        let message = identity_with_extra_uris(&["trama://demo/org/comune/client"])
            .map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err(
                "the certificate carries 2 trama:// identities (trama://demo/org/caritas/client, \
                 trama://demo/org/comune/client); a certificate must carry exactly one"
                    .into()
            )
        );
    }
}
