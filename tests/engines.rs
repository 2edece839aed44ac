//! The connector on live PostgreSQL and MariaDB servers: the demo
//! federation with the comune on PostgreSQL and the asl on MariaDB; a
//! database that is down at start and comes back; one that stops answering
//! while the connector runs (not serving, calls refused at once); a query
//! cancelled by the database's statement timeout; SQL injection attempts;
//! SQL that does not parse on the engine. These tests fail in CI when a
//! server is missing.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{
    Database, ExportRule, Federation, FederationBuilder, Mode, Partner, Sandbox, context, exe,
    featured_tax_code, unique_name,
};
use tonic::Code;
use trama_proto::v1::{self, OutcomeStatus, Section};
use trama_tls::client::ExpectedPeer;

#[tokio::test]
async fn federation_on_postgres_and_mariadb() {
    let (Some(pg), Some(my)) = (support::postgres(), support::mysql()) else {
        return;
    };
    let fed = Sandbox::start_on(Some(pg), Some(my)).await;
    let mut client = fed.client("comune");
    let response = client
        .get_record(v1::GetRecordRequest {
            context: context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            sections: trama_proto::sections::ALL
                .iter()
                .map(|s| *s as i32)
                .collect(),
        })
        .await
        .expect("record")
        .into_inner();
    let outcome = |org: &str| {
        response
            .outcomes
            .iter()
            .find(|o| o.organisation == org)
            .unwrap()
            .clone()
    };
    assert_eq!(
        outcome("comune").status,
        OutcomeStatus::Ok as i32,
        "{:?}",
        outcome("comune")
    );
    assert_eq!(
        outcome("asl").status,
        OutcomeStatus::Ok as i32,
        "{:?}",
        outcome("asl")
    );
    let record = response.record.unwrap();
    let s = record.sections.unwrap();
    let by = |p: &Option<v1::Provenance>| p.as_ref().unwrap().source_organisation.clone();
    // PostgreSQL DATE, TIMESTAMP and NUMERIC columns arrive typed.
    let contribution = s
        .interventions
        .iter()
        .find(|e| by(&e.provenance) == "comune" && e.amount.is_some())
        .expect("a comune intervention with an amount");
    assert!(contribution.amount.as_ref().unwrap().cents > 0);
    assert!(contribution.period.as_ref().unwrap().start.is_some());
    assert!(
        contribution
            .provenance
            .as_ref()
            .unwrap()
            .last_updated
            .is_some()
    );
    let case = s
        .case_memberships
        .iter()
        .find(|e| by(&e.provenance) == "comune")
        .expect("case");
    assert_eq!(case.case_manager, "Laura Ferrari");
    // MariaDB rows with YYYYMMDD text dates and unsigned percentages.
    let disability = s
        .health
        .iter()
        .find_map(|e| match &e.kind {
            Some(v1::health_entry::Kind::Disability(d)) if by(&e.provenance) == "asl" => {
                Some(d.clone())
            }
            _ => None,
        })
        .expect("a disability recognition from the asl");
    assert_eq!(disability.percentage, 67);
    assert!(disability.recognised.is_some());
    let asl = record
        .identities
        .iter()
        .find(|i| by(&i.provenance) == "asl")
        .unwrap();
    assert_eq!(
        asl.birth_date,
        Some(v1::Date {
            year: 1958,
            month: 7,
            day: 14
        })
    );

    // Fuzzy matching runs on both engines.
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: context("presa_in_carico"),
            query: Some(v1::SubjectQuery {
                family_name: "Dangleo".into(),
                given_name: "Giuseppe".into(),
                birth_date: Some(v1::Date {
                    year: 1958,
                    month: 7,
                    day: 14,
                }),
                ..Default::default()
            }),
            max_candidates: 3,
        })
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found.groups[0].tax_code, featured_tax_code());
    assert!(found.groups[0].candidates.len() >= 3);
    // Statistics count the comune's facts on PostgreSQL and the asl's on
    // MariaDB (fact queries narrowed to the columns a table reads), each
    // person once with the partners on SQLite.
    let table = client
        .aggregate(v1::AggregateRequest {
            context: support::ctx("ufficio_di_piano", "programmazione", ""),
            group_by: vec!["need".into(), "age_band".into()],
            filters: vec![v1::Filter {
                dimension: "sex".into(),
                values: vec!["female".into(), "male".into()],
            }],
        })
        .await
        .expect("aggregate")
        .into_inner();
    assert!(!table.partial, "{:?}", table.outcomes);
    for o in &table.outcomes {
        assert_eq!(o.status, v1::OutcomeStatus::Ok as i32, "{o:?}");
    }
    let total = table.cells.iter().find(|c| c.values == ["*", "*"]).unwrap();
    assert!(total.count > 100, "{total:?}");
    // Each engine's partner counted its own needs (asked as the gateway
    // asks them: a statistics answer's outcomes count nothing).
    for partner in [Partner::Comune, Partner::Asl] {
        let counted = trama_lab::bench::stats::count_people(&fed.running, partner, &["need"])
            .await
            .expect("count people");
        assert!(
            counted.rows_read > 0 && !counted.cells.is_empty(),
            "{partner:?}: {} rows, {} groups",
            counted.rows_read,
            counted.cells.len()
        );
    }
    fed.cleanup().await;
}

/// A partner's connector, alone (no gateway), on a database of its own on
/// a server, in which the partner knows every one of a few people;
/// its database is dropped by [`Lone::teardown`].
struct Lone {
    fed: Federation,
    org: String,
    _tmp: tempfile::TempDir,
}

impl Lone {
    /// `partner` on `database` (a server) with `subjects` people, its own
    /// mapping, and export rules that release everything to anyone.
    fn builder(partner: Partner, database: Database, subjects: usize) -> FederationBuilder {
        FederationBuilder::new(PathBuf::new())
            .exe(exe())
            .partners([partner])
            .database(partner, database)
            .everyone(true)
            .subjects(subjects)
            .seed(11)
            .export(partner, vec![ExportRule::everything()])
            .database_prefix(unique_name("trama_l"))
            .without_gateway()
    }

    /// Starts what `builder` describes; the error is what the connector
    /// said when it refused to start.
    async fn start(builder: FederationBuilder) -> Result<Lone, String> {
        let tmp = tempfile::tempdir().unwrap();
        let fed = builder
            .dir(tmp.path().join("lone"))
            .start()
            .await
            .map_err(|e| format!("{e:#}"))?;
        let org = fed.connectors[0].0.clone();
        Ok(Lone {
            fed,
            org,
            _tmp: tmp,
        })
    }

    /// The URL of the partner's database, as the connector reads it.
    fn url(&self) -> String {
        self.fed.database_url(&self.org).unwrap().to_string()
    }

    fn channel(&self) -> tonic::transport::Channel {
        let files = self.fed.tls("gateway", "gateway");
        trama_tls::client::channel(
            self.fed.connector(&self.org).unwrap(),
            trama_tls::client::client_config(&files).unwrap(),
            ExpectedPeer {
                federation: "demo".into(),
                organisation: Some(self.org.clone()),
                role: trama_tls::Role::Connector,
            },
            Duration::from_secs(2),
        )
        .unwrap()
    }

    async fn health(&self) -> i32 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(self.channel());
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "trama.v1.Connector".into(),
            })
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(-1)
    }

    /// Whether the connector reports `SERVING` within `limit`.
    async fn serving_within(&self, limit: Duration) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if self.health().await == SERVING {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    async fn fetch(
        &self,
        tax_code: &str,
        sections: Vec<i32>,
    ) -> Result<v1::FetchRecordResponse, tonic::Status> {
        self.fetch_within(tax_code, sections, None).await
    }

    /// A fetch whose caller waits `deadline` at most (sent as
    /// `grpc-timeout`, as the gateway sends its source budget).
    async fn fetch_within(
        &self,
        tax_code: &str,
        sections: Vec<i32>,
        deadline: Option<Duration>,
    ) -> Result<v1::FetchRecordResponse, tonic::Status> {
        let mut client = v1::connector_client::ConnectorClient::new(self.channel());
        let mut request = tonic::Request::new(v1::FetchRecordRequest {
            context: context("presa_in_carico"),
            client_organisation: "comune".into(),
            tax_code: tax_code.into(),
            sections,
            ..Default::default()
        });
        if let Some(d) = deadline {
            request.set_timeout(d);
        }
        client
            .fetch_record(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Stops the connector and drops its database.
    async fn teardown(self) {
        self.fed.teardown().await;
    }
}

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

#[tokio::test]
async fn a_database_down_at_start_is_not_serving_then_recovers_by_itself() {
    let Some(pg) = support::postgres() else {
        return;
    };
    // The connector reaches its server through a proxy that refuses every
    // connection at first, as a database that is down; later it passes
    // them, as when the database comes back.
    let lone = Lone::start(
        Lone::builder(Partner::Comune, Database::Postgres(pg), 40)
            .database_proxy(Partner::Comune, Mode::Drop),
    )
    .await
    .expect("the connector starts although its database is down");
    assert_eq!(lone.health().await, NOT_SERVING);
    let status = lone
        .fetch(&featured_tax_code(), vec![Section::Housing as i32])
        .await
        .expect_err("unavailable");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    lone.fed.database_proxy("comune").unwrap().set(Mode::Pass);
    let mut healthy = false;
    for _ in 0..40 {
        if lone.health().await == SERVING {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        healthy,
        "the connector recovers when the database comes back"
    );
    let record = lone
        .fetch(&featured_tax_code(), vec![Section::Housing as i32])
        .await
        .expect("answers");
    assert!(record.found);
    lone.teardown().await;
}

#[tokio::test]
async fn a_query_past_the_statement_timeout_is_cancelled_at_the_database() {
    let Some(pg) = support::postgres() else {
        return;
    };
    // The housing query sleeps two seconds per row.
    let mapping = Partner::Comune.mapping().replace(
        "SELECT a.id_abitazione, a.titolo_godimento",
        "SELECT pg_sleep(2), a.id_abitazione, a.titolo_godimento",
    );
    assert_ne!(mapping, Partner::Comune.mapping());
    let lone = Lone::start(
        Lone::builder(Partner::Comune, Database::Postgres(pg), 40)
            .mapping(Partner::Comune, mapping)
            .statement_timeout_ms(Partner::Comune, 300),
    )
    .await
    .expect("starts");
    let url = lone.url();
    let started = std::time::Instant::now();
    let status = lone
        .fetch(&featured_tax_code(), vec![Section::Housing as i32])
        .await
        .expect_err("timed out");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // The gateway reads this status as a timeout outcome.
    assert_eq!(
        trama_gateway::outcome::classify(&status).0,
        OutcomeStatus::Timeout
    );
    // Nothing is left running at the database.
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let running: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'trama-connector' AND state = 'active' AND query LIKE '%pg_sleep%'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(running, 0, "the database cancelled the query");
    // Other sections still answer.
    assert!(
        lone.fetch(&featured_tax_code(), vec![Section::Needs as i32])
            .await
            .unwrap()
            .found
    );
    admin.close().await;
    lone.teardown().await;
}

#[tokio::test]
async fn sql_injection_through_identifier_fields_has_no_effect() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let lone = Lone::start(Lone::builder(Partner::Comune, Database::Postgres(pg), 40))
        .await
        .expect("starts");
    let url = lone.url();
    let mut client = v1::connector_client::ConnectorClient::new(lone.channel());
    let attacks = [
        "x'; DROP TABLE assistiti; --",
        "' OR '1'='1",
        "1 OR 1=1",
        "1; DELETE FROM interventi",
    ];
    for attack in attacks {
        let found = client
            .match_subject(v1::MatchSubjectRequest {
                query: Some(v1::SubjectQuery {
                    family_name: attack.into(),
                    given_name: attack.into(),
                    birth_date: Some(v1::Date {
                        year: 1958,
                        month: 7,
                        day: 14,
                    }),
                    local_id: Some(v1::LocalId {
                        organisation: "comune".into(),
                        id: attack.into(),
                    }),
                    ..Default::default()
                }),
                max_candidates: 50,
                context: context("presa_in_carico"),
                client_organisation: "comune".into(),
            })
            .await
            .expect("answered")
            .into_inner();
        // Only the person born that day can come back, never everyone.
        assert!(
            found.candidates.len() <= 1,
            "{attack}: {}",
            found.candidates.len()
        );
        let record = client
            .fetch_record(v1::FetchRecordRequest {
                context: context("presa_in_carico"),
                client_organisation: "comune".into(),
                local_id: attack.into(),
                sections: vec![Section::Interventions as i32],
                ..Default::default()
            })
            .await
            .expect("answered")
            .into_inner();
        assert!(!record.found, "{attack}");
    }
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM assistiti")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(people, 40, "the tables are intact");
    admin.close().await;
    lone.teardown().await;
}

#[tokio::test]
async fn sql_that_does_not_parse_on_the_engine_refuses_to_start() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let cases = [
        // MySQL quoting is a syntax error on PostgreSQL.
        (
            "FROM assistiti WHERE id_assistito = :local_id",
            "FROM `assistiti` WHERE id_assistito = :local_id",
            "match.local_id.sql",
        ),
        // A column of the SQLite schema that this table does not have.
        (
            "FROM nuclei WHERE id_assistito = :local_id",
            "FROM nuclei WHERE id_persona = :local_id",
            "sections.socio_economic[0].sql",
        ),
    ];
    for (from, to, key) in cases {
        let mapping = Partner::Comune.mapping().replacen(from, to, 1);
        let err = Lone::start(
            Lone::builder(Partner::Comune, Database::Postgres(pg.clone()), 5)
                .mapping(Partner::Comune, mapping),
        )
        .await
        .err()
        .expect("refuses to start");
        assert!(
            err.contains(&format!("key `{key}`: the database refused the query")),
            "{err}"
        );
    }
    // A query no index can serve is refused too.
    let mapping = Partner::Comune.mapping().replacen(
        "WHERE upper(cognome) = upper(:family_name) AND upper(nome) = upper(:given_name)",
        "WHERE lower(cognome) = lower(:family_name) AND lower(nome) = lower(:given_name)",
        1,
    );
    assert_ne!(mapping, Partner::Comune.mapping());
    let err = Lone::start(
        Lone::builder(Partner::Comune, Database::Postgres(pg), 5).mapping(Partner::Comune, mapping),
    )
    .await
    .err()
    .expect("refuses to start");
    assert!(
        err.contains("key `match.demographics[2].sql`: the query scans a whole table"),
        "{err}"
    );
}

/// A connector with one connection whose housing query holds it about half
/// a second: calls queue for it as long as their callers wait, and only a
/// call that cannot be served in time is refused, told when to retry.
#[tokio::test]
async fn calls_wait_for_a_connection_up_to_their_deadline_and_a_refusal_says_when_to_retry() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let mapping = Partner::Comune.mapping().replace(
        "SELECT a.id_abitazione, a.titolo_godimento",
        "SELECT pg_sleep(0.5), a.id_abitazione, a.titolo_godimento",
    );
    assert_ne!(mapping, Partner::Comune.mapping());
    let lone = Lone::start(
        Lone::builder(Partner::Comune, Database::Postgres(pg), 40)
            .mapping(Partner::Comune, mapping)
            .statement_timeout_ms(Partner::Comune, 1_500)
            .max_connections(Partner::Comune, 1),
    )
    .await
    .expect("starts");
    let tax = featured_tax_code();
    let housing = || vec![Section::Housing as i32];
    // Four at once: the last waits past the statement timeout (which bounded
    // the wait for a connection before) but well within its caller's 20 s.
    let started = std::time::Instant::now();
    let call = || lone.fetch_within(&tax, housing(), Some(Duration::from_secs(20)));
    let (a, b, c, d) = tokio::join!(call(), call(), call(), call());
    let answers = [a, b, c, d];
    let queued = started.elapsed();
    let refused: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(refused.is_empty(), "refused after {queued:?}: {refused:?}");
    assert!(answers.iter().all(|a| a.as_ref().is_ok_and(|r| r.found)));
    assert!(
        queued > Duration::from_millis(1_500),
        "the calls queued behind each other ({queued:?})"
    );
    // One call holds the connection; one whose caller waits 300 ms cannot
    // be served in time: refused before its caller gives up.
    let holding = lone.fetch_within(&tax, housing(), Some(Duration::from_secs(20)));
    let hurried = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = std::time::Instant::now();
        let answer = lone
            .fetch_within(&tax, housing(), Some(Duration::from_millis(300)))
            .await;
        (answer, sent.elapsed())
    };
    let (held, (hurried, took)) = tokio::join!(holding, hurried);
    assert!(held.is_ok(), "{held:?}");
    let status = hurried.expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(took < Duration::from_millis(300), "refused after {took:?}");
    assert!(
        status.message().contains("retry in"),
        "{}",
        status.message()
    );
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("BUSY")
    );
    let retry = details.retry_info().and_then(|r| r.retry_delay);
    assert!(retry.is_some_and(|d| d > Duration::ZERO), "{retry:?}");
    lone.teardown().await;
}

#[tokio::test]
async fn mariadb_cancels_a_query_past_the_statement_timeout() {
    let Some(my) = support::mysql() else { return };
    let mapping = Partner::Asl.mapping().replace(
        "SELECT INV_ID, INV_TIPO",
        "SELECT SLEEP(2) AS PAUSA, INV_ID, INV_TIPO",
    );
    assert_ne!(mapping, Partner::Asl.mapping());
    let lone = Lone::start(
        Lone::builder(Partner::Asl, Database::MySql(my), 40)
            .mapping(Partner::Asl, mapping)
            .statement_timeout_ms(Partner::Asl, 300),
    )
    .await
    .expect("starts");
    let started = std::time::Instant::now();
    let status = lone
        .fetch(&featured_tax_code(), vec![Section::Health as i32])
        .await
        .expect_err("timed out");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        lone.fetch(&featured_tax_code(), vec![Section::Referrals as i32])
            .await
            .unwrap()
            .found
    );
    lone.teardown().await;
}

#[tokio::test]
async fn a_server_that_stops_answering_is_not_serving_and_calls_fail_at_once() {
    let Some(pg) = support::postgres() else {
        return;
    };
    // The connector reaches its server through a proxy, passing at first.
    let lone = Lone::start(
        Lone::builder(Partner::Comune, Database::Postgres(pg), 40)
            .database_proxy(Partner::Comune, Mode::Pass),
    )
    .await
    .expect("starts");
    let proxy = lone.fed.database_proxy("comune").unwrap();
    let serving = lone.serving_within(Duration::from_secs(10)).await;
    assert!(serving, "serving once started");
    let ready = support::logged_address(|| lone.fed.log("comune"), "health on http://").await;
    let (took, body) = support::readyz_within(&ready, 200, Duration::from_secs(5)).await;
    assert!(took.is_some(), "/readyz follows the serving status: {body}");
    assert!(
        lone.fetch(&featured_tax_code(), vec![Section::Housing as i32])
            .await
            .expect("answers")
            .found
    );

    // The server stops answering: connections stay open, nothing comes
    // back (a partition, or a server frozen under load).
    proxy.set(Mode::Hold);
    let started = std::time::Instant::now();
    while lone.health().await != NOT_SERVING && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        lone.health().await,
        NOT_SERVING,
        "still serving {:?} after the database stopped answering",
        started.elapsed()
    );
    let (took, body) = support::readyz_within(&ready, 503, Duration::from_secs(5)).await;
    assert!(took.is_some(), "still ready with its database gone: {body}");
    assert!(body.contains("\"database\":{\"ok\":false"), "{body}");
    let asked = std::time::Instant::now();
    let status = lone
        .fetch(&featured_tax_code(), vec![Section::Housing as i32])
        .await
        .expect_err("unavailable");
    let took = asked.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let reason = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .map(|i| i.reason.clone());
    assert_eq!(reason.as_deref(), Some("DATABASE_UNAVAILABLE"));
    assert!(
        took < Duration::from_millis(500),
        "a connector that knows its database is down answers at once, not after {took:?}"
    );

    // The server answers again: so does the connector.
    proxy.set(Mode::Pass);
    let serving = lone.serving_within(Duration::from_secs(15)).await;
    assert!(serving, "serving again once the database answers");
    let (took, body) = support::readyz_within(&ready, 200, Duration::from_secs(5)).await;
    assert!(
        took.is_some(),
        "ready again once the database answers: {body}"
    );
    assert!(
        lone.fetch(&featured_tax_code(), vec![Section::Housing as i32])
            .await
            .expect("answers again")
            .found
    );
    lone.teardown().await;
}
