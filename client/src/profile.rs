//! Client profiles: how `trama query` (and any script) reaches a gateway —
//! its address, the client certificate, and the operator and default
//! purpose stated in every call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::Channel;
use trama_proto::v1::federation_client::FederationClient;
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsFiles};

/// A client profile file (TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The gateway's address, `host:port`.
    pub gateway: String,
    /// The federation.
    pub federation: String,
    /// The client certificate (role `client`).
    pub tls: TlsFiles,
    /// The operator stated in each call.
    #[serde(default)]
    pub operator: Operator,
    /// The purpose used when a command gives none.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The case id used when a command gives none.
    #[serde(default)]
    pub case_id: Option<String>,
}

/// The operator on whose behalf the client asks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// The operator's id in the client organisation's system.
    #[serde(default)]
    pub id: String,
    /// The operator's role.
    #[serde(default)]
    pub role: String,
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// The certificates cannot be used.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
}

impl Profile {
    /// Reads a profile; relative paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut profile: Profile = toml::from_str(&text).map_err(|e| ProfileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        profile.tls = profile
            .tls
            .relative_to(path.parent().unwrap_or(Path::new(".")));
        Ok(profile)
    }

    /// A Federation client over mutual TLS, checking that the server is a
    /// gateway of the profile's federation.
    pub fn connect(&self) -> Result<FederationClient<Channel>, ProfileError> {
        let config = trama_tls::client::client_config(&self.tls)?;
        let channel = trama_tls::client::channel(
            &self.gateway,
            config,
            ExpectedPeer {
                federation: self.federation.clone(),
                organisation: None,
                role: Role::Gateway,
            },
            Duration::from_secs(5),
        )?;
        Ok(FederationClient::new(channel).max_decoding_message_size(64 << 20))
    }
}
