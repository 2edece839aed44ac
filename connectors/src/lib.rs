//! Trama's connector runtime. A connector runs beside a partner's database
//! and answers `trama.v1.Connector` calls from the federation's gateway by
//! running the partner's own mapping file (parameterised SQL, column
//! bindings, code tables) against that database, as it is.
//!
//! Module map, from the ground up: [`source`] is the database layer (one
//! module per engine) and [`params`] its named parameters; [`scaffold`]
//! drafts a mapping from a database's catalogue (`trama connector init`); [`columns`]
//! holds the pieces a mapping is made of and [`values`] turns columns into
//! typed values; [`facts`] (statistics), [`offer`] (services) and
//! [`referrals`] (the inbox) parse their parts of the mapping file and say
//! how a row is read, and [`mapping`] parses the whole file; [`config`]
//! reads the connector's configuration and [`export`] is the partner's
//! export policy; [`check`] verifies the mapping against the live database;
//! [`runtime`] answers requests in the connector's own types ([`model`]),
//! [`counting`] counts facts and [`offering`] reads the offer; [`startup`]
//! brings a connector up from its configuration; [`from_proto`] and
//! [`to_proto`] are the edges where wire messages come in and go out;
//! [`tryout`] runs a mapping against its database with no PKI or gateway
//! (`trama connector try`) and [`conformance`] checks it before it joins
//! (`trama conformance`);
//! [`error`] maps every failure of a call to one gRPC status with its
//! reason; [`service`] is the gRPC server, which enforces the export
//! policy, keeps the connector's local audit of what it released, and keeps
//! its health true to the database.

pub mod check;
pub mod columns;
pub mod config;
pub mod conformance;
pub mod counting;
pub mod deadline;
pub mod error;
pub mod export;
pub mod facts;
pub mod from_proto;
pub mod linkage;
pub mod mapping;
pub mod model;
pub mod offer;
pub mod offering;
pub mod params;
pub mod referrals;
pub mod runtime;
pub mod scaffold;
pub mod service;
pub mod source;
pub mod startup;
pub mod to_proto;
pub mod tryout;
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
    const WITHOUT_WIRE_TYPES: [(&str, &str); 18] = [
        ("deadline.rs", include_str!("deadline.rs")),
        ("source/mod.rs", include_str!("source/mod.rs")),
        ("source/gate.rs", include_str!("source/gate.rs")),
        ("source/postgres.rs", include_str!("source/postgres.rs")),
        ("source/mysql.rs", include_str!("source/mysql.rs")),
        ("source/sqlite.rs", include_str!("source/sqlite.rs")),
        ("source/typed.rs", include_str!("source/typed.rs")),
        ("params.rs", include_str!("params.rs")),
        ("columns.rs", include_str!("columns.rs")),
        ("values.rs", include_str!("values.rs")),
        ("model.rs", include_str!("model.rs")),
        ("mapping.rs", include_str!("mapping.rs")),
        ("facts.rs", include_str!("facts.rs")),
        ("counting.rs", include_str!("counting.rs")),
        ("check.rs", include_str!("check.rs")),
        ("config.rs", include_str!("config.rs")),
        ("export.rs", include_str!("export.rs")),
        ("startup.rs", include_str!("startup.rs")),
    ];

    /// ARCHITECTURE.md's invariant: records, matches and counts are
    /// converted at the connector's edges; the database layer, the mapping,
    /// the value conversion, the statistics, the start-up checks and the
    /// export rules never see a wire message.
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

    /// The connector's files from the ground up, as ARCHITECTURE.md names
    /// them, with their text: each may import only those before it.
    const LAYERS: [(&str, &str); 25] = [
        ("params", include_str!("params.rs")),
        ("deadline", include_str!("deadline.rs")),
        ("source", include_str!("source/mod.rs")),
        ("source", include_str!("source/gate.rs")),
        ("source", include_str!("source/typed.rs")),
        ("source", include_str!("source/postgres.rs")),
        ("source", include_str!("source/mysql.rs")),
        ("source", include_str!("source/sqlite.rs")),
        ("scaffold", include_str!("scaffold.rs")),
        ("columns", include_str!("columns.rs")),
        ("values", include_str!("values.rs")),
        ("model", include_str!("model.rs")),
        ("error", include_str!("error.rs")),
        ("linkage", include_str!("linkage.rs")),
        ("facts", include_str!("facts.rs")),
        ("offer", include_str!("offer.rs")),
        ("referrals", include_str!("referrals.rs")),
        ("export", include_str!("export.rs")),
        ("config", include_str!("config.rs")),
        ("mapping", include_str!("mapping.rs")),
        ("check", include_str!("check.rs")),
        ("runtime", include_str!("runtime.rs")),
        ("counting", include_str!("counting.rs")),
        ("offering", include_str!("offering.rs")),
        ("startup", include_str!("startup.rs")),
    ];

    /// The files above every layer: the edges and the server.
    const TOP: [&str; 5] = ["from_proto", "to_proto", "tryout", "conformance", "service"];

    /// ARCHITECTURE.md's invariant: the connector's files stand in layers,
    /// each importing only the ones below it, so no two files depend on
    /// each other.
    #[test]
    fn each_file_imports_only_the_files_below_it() {
        let rank = |module: &str| {
            LAYERS.iter().position(|(m, _)| *m == module).or_else(|| {
                TOP.iter()
                    .position(|m| *m == module)
                    .map(|i| LAYERS.len() + i)
            })
        };
        for (module, text) in LAYERS {
            let product = text.split("#[cfg(test)]").next().unwrap_or(text);
            let own = rank(module).unwrap_or(usize::MAX);
            let code = product
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"));
            for used in code.flat_map(|l| l.split("crate::").skip(1)) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                let Some(at) = rank(&name) else { continue };
                assert!(
                    name == module || at < own,
                    "{module} imports {name}, which stands above it"
                );
            }
        }
    }
}
