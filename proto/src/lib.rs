//! The common schema of Trama, package `trama.v1`, and its two gRPC services:
//! `trama.v1.Federation` (client-facing, served by the gateway) and
//! `trama.v1.Connector` (gateway-facing, served by each connector).
//!
//! The `.proto` files under `proto/trama/v1/` are the one source of truth;
//! the Rust code is generated from them at build time.

/// Generated code for package `trama.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("trama.v1");
}

pub mod ids;
pub mod referrals;
pub mod stats;

/// The encoded `FileDescriptorSet` of `trama.v1` and the well-known types it
/// imports, for server reflection and JSON rendering.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/trama_descriptor.bin"));

/// The schema version connectors and the gateway speak.
pub const SCHEMA_VERSION: &str = "v1";

/// The software version of this build, the same for every node.
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `major.minor` (before 1.0) or `major` a version is compatible
/// within, as `0.1.x` or `1.x`; `None` for text that is not a version.
pub fn compatible_series(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some(match major {
        0 => format!("0.{minor}.x"),
        _ => format!("{major}.x"),
    })
}

/// Whether a gateway of version `gateway` accepts a connector of version
/// `connector`: both in the same compatible series.
pub fn accepts_software(gateway: &str, connector: &str) -> bool {
    compatible_series(gateway).is_some()
        && compatible_series(gateway) == compatible_series(connector)
}

/// The canonical name of a gRPC code, as written in the log.
pub fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Names of the record sections as written in mapping files, policies and on
/// the command line (`housing`, `socio_economic`, ...).
pub mod sections {
    use crate::v1::Section;

    /// Every section, in schema order.
    pub const ALL: [Section; 10] = [
        Section::Housing,
        Section::SocioEconomic,
        Section::SupportNetwork,
        Section::Needs,
        Section::JudicialActs,
        Section::CourtRelations,
        Section::Referrals,
        Section::Interventions,
        Section::Health,
        Section::CaseMembership,
    ];

    /// The short name of a section, for example `socio_economic`.
    pub fn name(section: Section) -> &'static str {
        match section {
            Section::Unspecified => "unspecified",
            Section::Housing => "housing",
            Section::SocioEconomic => "socio_economic",
            Section::SupportNetwork => "support_network",
            Section::Needs => "needs",
            Section::JudicialActs => "judicial_acts",
            Section::CourtRelations => "court_relations",
            Section::Referrals => "referrals",
            Section::Interventions => "interventions",
            Section::Health => "health",
            Section::CaseMembership => "case_membership",
        }
    }

    /// The section with short name `name`, if any.
    pub fn parse(name: &str) -> Option<Section> {
        ALL.into_iter().find(|s| self::name(*s) == name)
    }

    /// The comma-separated list of every section name, for messages.
    pub fn all_names() -> String {
        ALL.iter().map(|s| name(*s)).collect::<Vec<_>>().join(", ")
    }
}

impl v1::RecordSections {
    /// How many entries `section` holds.
    pub fn count(&self, section: v1::Section) -> usize {
        use v1::Section as S;
        match section {
            S::Unspecified => 0,
            S::Housing => self.housing.len(),
            S::SocioEconomic => self.socio_economic.len(),
            S::SupportNetwork => self.support_network.len(),
            S::Needs => self.needs.len(),
            S::JudicialActs => self.judicial_acts.len(),
            S::CourtRelations => self.court_relations.len(),
            S::Referrals => self.referrals.len(),
            S::Interventions => self.interventions.len(),
            S::Health => self.health.len(),
            S::CaseMembership => self.case_memberships.len(),
        }
    }

    /// Empties `section`.
    pub fn clear(&mut self, section: v1::Section) {
        use v1::Section as S;
        match section {
            S::Unspecified => {}
            S::Housing => self.housing.clear(),
            S::SocioEconomic => self.socio_economic.clear(),
            S::SupportNetwork => self.support_network.clear(),
            S::Needs => self.needs.clear(),
            S::JudicialActs => self.judicial_acts.clear(),
            S::CourtRelations => self.court_relations.clear(),
            S::Referrals => self.referrals.clear(),
            S::Interventions => self.interventions.clear(),
            S::Health => self.health.clear(),
            S::CaseMembership => self.case_memberships.clear(),
        }
    }

    /// The names of the sections that hold at least one entry, in schema
    /// order.
    pub fn names_with_entries(&self) -> Vec<String> {
        sections::ALL
            .into_iter()
            .filter(|s| self.count(*s) > 0)
            .map(|s| sections::name(s).to_string())
            .collect()
    }
}

impl v1::Date {
    /// The calendar date, if the fields name one.
    pub fn to_date(&self) -> Option<time::Date> {
        let month = time::Month::try_from(u8::try_from(self.month).ok()?).ok()?;
        time::Date::from_calendar_date(self.year, month, u8::try_from(self.day).ok()?).ok()
    }

    /// The wire form of a calendar date.
    pub fn from_date(d: time::Date) -> v1::Date {
        v1::Date {
            year: d.year(),
            month: i32::from(u8::from(d.month())),
            day: i32::from(d.day()),
        }
    }
}

/// The machine-readable reasons a connector gives for a failure, carried in a
/// `google.rpc.ErrorInfo` detail of the status under [`reason::DOMAIN`]. The
/// gateway turns a source's failure into its outcome from the reason, never
/// from the message text, which is for people.
pub mod reason {
    /// The `ErrorInfo.domain` of a connector's failures.
    pub const DOMAIN: &str = "connector.trama";

    /// Why a connector did not answer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ConnectorReason {
        /// The partner database cannot be reached now (`UNAVAILABLE`).
        DatabaseUnavailable,
        /// A query ran past its statement timeout (`DEADLINE_EXCEEDED`).
        DatabaseTimeout,
        /// The connector has not yet checked its mapping against the
        /// database (`UNAVAILABLE`).
        NotReady,
        /// The partner's export rules refuse the call (`PERMISSION_DENIED`).
        ExportDenied,
        /// The request is malformed (`INVALID_ARGUMENT`).
        InvalidRequest,
        /// The connector's own audit log cannot be written (`UNAVAILABLE`).
        AuditUnavailable,
        /// A query failed in the database for another reason (`INTERNAL`).
        QueryFailed,
        /// Every connection to the database stayed busy for as long as the
        /// caller could wait (`UNAVAILABLE`, with a `google.rpc.RetryInfo`
        /// saying when to retry).
        Busy,
    }

    impl ConnectorReason {
        /// Every reason.
        pub const ALL: [ConnectorReason; 8] = [
            ConnectorReason::DatabaseUnavailable,
            ConnectorReason::DatabaseTimeout,
            ConnectorReason::NotReady,
            ConnectorReason::ExportDenied,
            ConnectorReason::InvalidRequest,
            ConnectorReason::AuditUnavailable,
            ConnectorReason::QueryFailed,
            ConnectorReason::Busy,
        ];

        /// The reason as written in `ErrorInfo.reason`.
        pub fn as_str(self) -> &'static str {
            match self {
                ConnectorReason::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
                ConnectorReason::DatabaseTimeout => "DATABASE_TIMEOUT",
                ConnectorReason::NotReady => "NOT_READY",
                ConnectorReason::ExportDenied => "EXPORT_DENIED",
                ConnectorReason::InvalidRequest => "INVALID_REQUEST",
                ConnectorReason::AuditUnavailable => "AUDIT_UNAVAILABLE",
                ConnectorReason::QueryFailed => "QUERY_FAILED",
                ConnectorReason::Busy => "BUSY",
            }
        }

        /// The reason written as `text`, if it is one.
        pub fn parse(text: &str) -> Option<ConnectorReason> {
            Self::ALL.into_iter().find(|r| r.as_str() == text)
        }

        /// The gRPC code a connector answers with for this reason.
        pub fn code(self) -> tonic::Code {
            match self {
                ConnectorReason::DatabaseUnavailable
                | ConnectorReason::NotReady
                | ConnectorReason::AuditUnavailable
                | ConnectorReason::Busy => tonic::Code::Unavailable,
                ConnectorReason::DatabaseTimeout => tonic::Code::DeadlineExceeded,
                ConnectorReason::ExportDenied => tonic::Code::PermissionDenied,
                ConnectorReason::InvalidRequest => tonic::Code::InvalidArgument,
                ConnectorReason::QueryFailed => tonic::Code::Internal,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::ConnectorReason;

        #[test]
        fn every_reason_reads_back() {
            for r in ConnectorReason::ALL {
                assert_eq!(ConnectorReason::parse(r.as_str()), Some(r));
            }
            assert_eq!(ConnectorReason::parse("database_unavailable"), None);
        }
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn a_gateway_accepts_connectors_of_its_own_series() {
        assert_eq!(compatible_series("0.1.0").as_deref(), Some("0.1.x"));
        assert_eq!(compatible_series("1.4.2").as_deref(), Some("1.x"));
        assert!(accepts_software("0.1.0", "0.1.7"));
        assert!(!accepts_software("0.1.0", "0.2.0"));
        assert!(accepts_software("1.0.0", "1.9.3"));
        assert!(!accepts_software("1.0.0", "2.0.0"));
        assert!(
            !accepts_software("0.1.0", ""),
            "a connector that says nothing"
        );
        assert!(!accepts_software("0.1.0", "unknown"));
    }
}
