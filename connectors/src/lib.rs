//! Trama's connector runtime. A connector runs beside a partner's database
//! and answers `trama.v1.Connector` calls from the federation's gateway by
//! running the partner's own mapping file (parameterised SQL, column
//! bindings, code tables) against that database, as it is.
//!
//! Module map: [`config`] reads the connector's configuration, [`mapping`]
//! the mapping file; [`check`] verifies the mapping against the live
//! database at start; [`source`] is the database layer (one module per
//! engine) and [`params`] its named parameters; [`runtime`] answers
//! requests in the connector's own types ([`model`]), with [`values`]
//! turning columns into typed values; [`from_proto`] and [`to_proto`] are
//! the two edges where wire messages come in and go out; [`facts`] counts
//! for statistics and [`offer`] reads the partner's services; [`export`] is the
//! partner's export policy; [`error`] maps every failure of a call to one
//! gRPC status with its reason; [`service`] is the gRPC server, which
//! enforces that policy, keeps the connector's local audit of what it
//! released, and keeps its health true to the database.

pub mod check;
pub mod config;
pub mod deadline;
pub mod error;
pub mod export;
pub mod facts;
pub mod from_proto;
pub mod linkage;
pub mod mapping;
pub mod model;
pub mod offer;
pub mod params;
pub mod referrals;
pub mod runtime;
pub mod service;
pub mod source;
pub mod to_proto;
pub mod values;

pub use config::ConnectorConfig;
pub use service::serve;

/// Why a connector cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The configuration file or the mapping file is refused.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The mapping does not fit the live database.
    #[error(transparent)]
    Check(#[from] check::CheckError),
    /// The database could not be opened.
    #[error("database {url}: {source}")]
    Database {
        /// The URL, without password.
        url: String,
        /// The error.
        source: source::SourceError,
    },
    /// Certificates could not be loaded.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
    /// The server cannot start or failed.
    #[error(transparent)]
    Serve(#[from] trama_node::server::ServeError),
    /// The local audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] trama_audit::AuditError),
}

#[cfg(test)]
mod tests {
    /// The source files that must not touch a `trama.v1` message (only
    /// the `Section` vocabulary), with their text.
    const WITHOUT_WIRE_TYPES: [(&str, &str); 8] = [
        ("source/mod.rs", include_str!("source/mod.rs")),
        ("source/postgres.rs", include_str!("source/postgres.rs")),
        ("source/mysql.rs", include_str!("source/mysql.rs")),
        ("source/sqlite.rs", include_str!("source/sqlite.rs")),
        ("source/typed.rs", include_str!("source/typed.rs")),
        ("values.rs", include_str!("values.rs")),
        ("facts.rs", include_str!("facts.rs")),
        ("export.rs", include_str!("export.rs")),
    ];

    /// ARCHITECTURE.md's invariant: records and matches are converted at
    /// the connector's edges; the database layer, the value conversion,
    /// the statistics and the export rules never see a wire message.
    #[test]
    fn the_database_and_the_rules_never_touch_a_wire_message() {
        for (file, text) in WITHOUT_WIRE_TYPES {
            let product = text.split("#[cfg(test)]").next().unwrap_or(text);
            for line in product.lines().filter(|l| l.contains("v1::")) {
                assert!(
                    line.trim() == "use trama_proto::v1::Section;",
                    "{file} touches a wire type: {line}"
                );
            }
        }
    }
}
