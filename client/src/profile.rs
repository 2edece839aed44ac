//! Client profiles: how `trama query` (and any script) reaches a gateway —
//! its address, the client certificate, and the operator and default
//! purpose stated in every call.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::Channel;
use trama_node::config::{ConfigError, Loader, ProcessEnvironment};
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
    /// The file cannot be read or is not a valid profile.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificates cannot be used.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
}

/// How profiles are read: `TRAMA_CLIENT__<KEY>` variables override the
/// file (for example `TRAMA_CLIENT__GATEWAY` or
/// `TRAMA_CLIENT__OPERATOR__ID`).
pub const LOADER: Loader<'static> = Loader {
    prefix: "TRAMA_CLIENT",
    secrets: &[],
};

impl Profile {
    /// Reads a profile, with the process's environment overriding it;
    /// relative paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let loaded = LOADER.load::<Profile>(path, &ProcessEnvironment)?;
        let mut profile = loaded.raw;
        profile.tls = profile.tls.relative_to(loaded.origins.base());
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
