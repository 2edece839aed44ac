#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test setup: a failure must stop the test"
)]

//! A sandbox federation for end-to-end tests: the demo's PKI, partner
//! databases, four connector processes and a gateway process, started from
//! the real `trama` binary on loopback, in a temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::Channel;
use trama::cli::DemoArgs;
use trama::demo::{self, Running};
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;
use trama_subject::codice_fiscale::{self, Person};
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsFiles};

/// The `trama` binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trama"))
}

/// A running federation; stopped when dropped (children are killed on
/// drop).
pub struct Sandbox {
    /// The temporary directory holding everything.
    pub tmp: tempfile::TempDir,
    /// The processes.
    pub running: Running,
}

impl Sandbox {
    /// Starts the demo federation with a small population.
    pub async fn start() -> Sandbox {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let args = DemoArgs {
            dir: tmp.path().join("federation"),
            port: 0,
            subjects: 300,
            seed: 11,
            once: true,
            postgres: None,
            mysql: None,
            database_prefix: "trama_demo".into(),
        };
        let running = demo::start(&args, exe())
            .await
            .expect("the federation starts");
        Sandbox { tmp, running }
    }

    /// The federation's directory.
    pub fn dir(&self) -> PathBuf {
        self.running.dir.clone()
    }

    /// Certificate files of `org` with `role` from the federation's PKI.
    pub fn tls(&self, org: &str, role: &str) -> TlsFiles {
        let pki = self.dir().join("pki");
        TlsFiles {
            ca: pki.join("ca.pem"),
            cert: pki.join(format!("{org}-{role}.pem")),
            key: pki.join(format!("{org}-{role}-key.pem")),
        }
    }

    /// A Federation client presenting `files`.
    pub fn client_with(&self, files: &TlsFiles) -> FederationClient<Channel> {
        let config = trama_tls::client::client_config(files).expect("client tls config");
        let channel = trama_tls::client::channel(
            &self.running.gateway,
            config,
            ExpectedPeer {
                federation: "demo".into(),
                organisation: None,
                role: Role::Gateway,
            },
            Duration::from_secs(5),
        )
        .expect("channel");
        FederationClient::new(channel)
    }

    /// A Federation client of the `org` client system.
    pub fn client(&self, org: &str) -> FederationClient<Channel> {
        self.client_with(&self.tls(org, "client"))
    }

    /// The contents of a process's log.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// The address of `org`'s connector.
    pub fn connector_address(&self, org: &str) -> String {
        self.running
            .connectors
            .iter()
            .find(|(o, _)| o == org)
            .map(|(_, a)| a.clone())
            .expect("known connector")
    }
}

/// A request context for `purpose`.
pub fn context(purpose: &str) -> Option<v1::RequestContext> {
    Some(v1::RequestContext {
        purpose: purpose.into(),
        case_id: "CS-TEST-1".into(),
        operator: Some(v1::Operator {
            id: "op-1".into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    })
}

/// The tax code of the demo's featured person (known to all partners).
pub fn featured_tax_code() -> String {
    let (family, given, (y, m, d), sex, place) = trama::seed::population::FEATURED;
    let birth = time::Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d)
        .expect("date");
    codice_fiscale::compute(&Person {
        family_name: family,
        given_name: given,
        birth_date: birth,
        sex,
        birthplace_code: place,
    })
    .expect("valid")
    .to_string()
}
