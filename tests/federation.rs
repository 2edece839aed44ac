//! End-to-end tests over real processes on loopback: the demo federation's
//! five connectors and gateway, started from the `trama` binary, asked over
//! mutual TLS as a client system would.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use support::{Sandbox, context, featured_tax_code};
use tonic::Code;
use tonic_types::StatusExt;
use trama_proto::v1::{self, OutcomeStatus, Section};

/// The field named by an INVALID_ARGUMENT status's field violation.
fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status
        .get_details_bad_request()
        .expect("field violations attached");
    details.field_violations[0].field.clone()
}

fn all_sections() -> Vec<i32> {
    trama_proto::sections::ALL
        .iter()
        .map(|s| *s as i32)
        .collect()
}

#[tokio::test]
async fn record_is_merged_from_every_partner_with_provenance() {
    let fed = Sandbox::start().await;
    let mut client = fed.client("comune");
    // Find the listening centre's local id for the person, who has no tax
    // code there.
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
            max_candidates: 5,
        })
        .await
        .expect("find answers")
        .into_inner();
    let best = &found.groups[0];
    assert_eq!(best.tax_code, featured_tax_code());
    let mut orgs: Vec<String> = best
        .candidates
        .iter()
        .map(|c| {
            c.identity
                .as_ref()
                .unwrap()
                .provenance
                .as_ref()
                .unwrap()
                .source_organisation
                .clone()
        })
        .collect();
    orgs.sort();
    assert_eq!(
        orgs,
        ["asl", "caf", "caritas", "comune", "consorzio"],
        "the misspelt name finds the person at every partner"
    );
    assert!(
        best.candidates
            .iter()
            .all(|c| c.matched_fields.contains(&"birth_date".to_string()))
    );
    assert!(!found.partial);

    let caritas_id = best
        .candidates
        .iter()
        .filter_map(|c| c.identity.as_ref())
        .find(|i| i.provenance.as_ref().unwrap().source_organisation == "caritas")
        .and_then(|i| i.local_id.clone())
        .expect("caritas local id");
    let response = client
        .get_record(v1::GetRecordRequest {
            context: context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![caritas_id],
            }),
            sections: all_sections(),
        })
        .await
        .expect("record answers")
        .into_inner();
    assert_eq!(response.outcomes.len(), 5, "one outcome per source");
    assert!(
        response
            .outcomes
            .iter()
            .all(|o| o.status == OutcomeStatus::Ok as i32),
        "{:?}",
        response.outcomes
    );
    assert!(!response.partial);
    let record = response.record.expect("a record");
    assert_eq!(record.identities.len(), 5);
    let s = record.sections.expect("sections");
    // Each partner contributed its own kind of fact, with provenance.
    let by = |p: Option<&v1::Provenance>| p.unwrap().source_organisation.clone();
    assert!(
        s.case_memberships
            .iter()
            .any(|e| by(e.provenance.as_ref()) == "comune")
    );
    assert!(s.health.iter().any(|e| by(e.provenance.as_ref()) == "asl"));
    assert!(
        s.interventions
            .iter()
            .any(|e| by(e.provenance.as_ref()) == "caritas")
    );
    let isee = s
        .socio_economic
        .iter()
        .find(|e| by(e.provenance.as_ref()) == "caf" && e.isee.is_some())
        .expect("an ISEE from the CAF");
    assert_eq!(
        isee.isee.as_ref().unwrap().value.as_ref().unwrap().cents,
        485_000
    );
    assert!(
        isee.provenance
            .as_ref()
            .unwrap()
            .record_id
            .starts_with("INPS-ISEE-")
    );
    // Local codes were translated to the common code systems.
    let parcel = s
        .interventions
        .iter()
        .find(|e| by(e.provenance.as_ref()) == "caritas")
        .unwrap();
    assert_eq!(
        parcel.kind.as_ref().unwrap().system,
        "urn:trama:cs:intervention"
    );
    // The misspelt given name at the listening centre is a visible conflict.
    let conflict = record
        .conflicts
        .iter()
        .find(|c| c.field == "identity.given_name")
        .expect("given name conflict");
    assert!(
        conflict
            .values
            .iter()
            .any(|v| v.value == "Giusepe" && v.source_organisations == ["caritas"])
    );
    // The gateway's log never carries the person's data.
    let log = fed.log("gateway");
    assert!(log.contains("record answered"));
    for secret in [
        featured_tax_code().as_str(),
        "Giuseppe",
        "Angelo",
        "Cremona",
    ] {
        assert!(!log.contains(secret), "the gateway log carries `{secret}`");
    }
}

#[tokio::test]
async fn a_stopped_connector_is_an_unavailable_source_in_a_partial_answer() {
    let mut fed = Sandbox::start().await;
    assert!(fed.running.kill("asl").await);
    let mut client = fed.client("comune");
    let response = client
        .get_record(v1::GetRecordRequest {
            context: context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            sections: vec![Section::Health as i32, Section::Housing as i32],
        })
        .await
        .expect("answers despite a dead source")
        .into_inner();
    assert!(response.partial);
    let outcome = |org: &str| {
        response
            .outcomes
            .iter()
            .find(|o| o.organisation == org)
            .unwrap()
            .status
    };
    assert_eq!(outcome("asl"), OutcomeStatus::Unavailable as i32);
    assert_eq!(outcome("comune"), OutcomeStatus::Ok as i32);
    // The listening centre holds no tax code for the person.
    assert_eq!(outcome("caritas"), OutcomeStatus::NotFound as i32);
    assert!(response.record.unwrap().sections.unwrap().health.is_empty());
    // The federation's directory shows the dead source.
    let sources = client
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("sources")
        .into_inner();
    let health = |org: &str| {
        sources
            .sources
            .iter()
            .find(|s| s.organisation == org)
            .unwrap()
            .health
    };
    assert_eq!(health("asl"), v1::SourceHealth::Unreachable as i32);
    assert_eq!(health("comune"), v1::SourceHealth::Serving as i32);
    // Each connector that answered says its software version, which the
    // gateway accepts; the dead one says nothing and is not accepted.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(sources.gateway_version, version);
    assert!(version.starts_with(sources.accepted_software.trim_end_matches('x')));
    let comune = sources
        .sources
        .iter()
        .find(|s| s.organisation == "comune")
        .unwrap();
    assert_eq!(
        (comune.software_version.as_str(), comune.software_accepted),
        (version, true)
    );
    let asl = sources
        .sources
        .iter()
        .find(|s| s.organisation == "asl")
        .unwrap();
    assert_eq!(
        (asl.software_version.as_str(), asl.software_accepted),
        ("", false)
    );
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let fed = Sandbox::start().await;
    let mut client = fed.client("comune");
    let find = |query: v1::SubjectQuery, purpose: &str| v1::FindSubjectRequest {
        context: context(purpose),
        query: Some(query),
        max_candidates: 0,
    };
    let cases = [
        // Wrong length.
        (
            find(
                v1::SubjectQuery {
                    tax_code: "DNGGPP58L14D150".into(),
                    ..Default::default()
                },
                "presa_in_carico",
            ),
            "query.tax_code",
        ),
        // Bad check character.
        (
            find(
                v1::SubjectQuery {
                    tax_code: "RSSMRA85T10A562T".into(),
                    ..Default::default()
                },
                "presa_in_carico",
            ),
            "query.tax_code",
        ),
        // No identifier at all.
        (
            find(
                v1::SubjectQuery {
                    given_name: "Mario".into(),
                    ..Default::default()
                },
                "presa_in_carico",
            ),
            "query",
        ),
        // No purpose.
        (
            find(
                v1::SubjectQuery {
                    tax_code: featured_tax_code(),
                    ..Default::default()
                },
                "",
            ),
            "context.purpose",
        ),
        // A name of 5,000 characters is not a name.
        (
            find(
                v1::SubjectQuery {
                    family_name: "Rossi".repeat(1000),
                    given_name: "Maria".into(),
                    ..Default::default()
                },
                "presa_in_carico",
            ),
            "query.family_name",
        ),
    ];
    for (request, field) in cases {
        let status = client.find_subject(request).await.expect_err("refused");
        assert_eq!(violated_field(&status), field, "{status:?}");
    }
    let record = |sections: Vec<i32>, subject: Option<v1::SubjectKey>| v1::GetRecordRequest {
        context: context("presa_in_carico"),
        subject,
        sections,
    };
    let key = Some(v1::SubjectKey {
        tax_code: featured_tax_code(),
        local_ids: vec![],
    });
    let cases = [
        (
            record(vec![Section::Housing as i32, 99], key.clone()),
            "sections[1]",
        ),
        (
            record(vec![Section::Unspecified as i32], key.clone()),
            "sections[0]",
        ),
        (record(vec![], key.clone()), "sections"),
        (
            record(
                vec![Section::Housing as i32],
                Some(v1::SubjectKey::default()),
            ),
            "subject",
        ),
        (
            record(
                vec![Section::Housing as i32],
                Some(v1::SubjectKey {
                    tax_code: String::new(),
                    local_ids: vec![v1::LocalId {
                        organisation: "acli".into(),
                        id: "1".into(),
                    }],
                }),
            ),
            "subject.local_ids[0].organisation",
        ),
    ];
    for (request, field) in cases {
        let status = client.get_record(request).await.expect_err("refused");
        assert_eq!(violated_field(&status), field, "{status:?}");
    }
}

#[tokio::test]
async fn the_gateway_refuses_other_cas_and_wrong_roles() {
    let fed = Sandbox::start().await;
    let request = || v1::ListSourcesRequest::default();

    // A client certificate from another CA (same federation name): the
    // handshake fails and the gateway logs it.
    let other = fed.tmp.path().join("other-pki");
    trama_tls::pki::init(&other, "demo").unwrap();
    let files = trama_tls::pki::issue(
        &other,
        &trama_tls::pki::IssueRequest {
            organisation: "comune".into(),
            role: trama_tls::Role::Client,
            hosts: vec![],
            valid_days: 30,
            not_before_days_ago: 0,
        },
    )
    .unwrap();
    let foreign = trama_tls::TlsFiles {
        ca: fed.dir().join("pki/ca.pem"),
        cert: files.cert,
        key: files.key,
        crl: None,
    };
    let status = fed
        .client_with(&foreign)
        .list_sources(request())
        .await
        .expect_err("another CA is refused");
    assert_ne!(status.code(), Code::Ok);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        fed.log("gateway").contains("tls handshake refused"),
        "the refusal is logged"
    );

    // A certificate of this federation with role connector.
    let status = fed
        .client_with(&fed.tls("comune", "connector"))
        .list_sources(request())
        .await
        .expect_err("a connector identity is refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("role connector"),
        "{}",
        status.message()
    );

    // The real client is served.
    let sources = fed
        .client("caritas")
        .list_sources(request())
        .await
        .expect("served")
        .into_inner();
    assert_eq!(sources.sources.len(), 5);
    assert!(
        sources
            .sources
            .iter()
            .all(|s| s.health == v1::SourceHealth::Serving as i32)
    );
}

#[tokio::test]
async fn connectors_accept_only_the_gateway() {
    let fed = Sandbox::start().await;
    let address = fed.connector_address("caritas");
    for (org, role) in [("comune", "client"), ("comune", "connector")] {
        let config = trama_tls::client::client_config(&fed.tls(org, role)).unwrap();
        let channel = trama_tls::client::channel(
            &address,
            config,
            trama_tls::client::ExpectedPeer {
                federation: "demo".into(),
                organisation: Some("caritas".into()),
                role: trama_tls::Role::Connector,
            },
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        let mut client = v1::connector_client::ConnectorClient::new(channel);
        let status = client
            .fetch_record(v1::FetchRecordRequest {
                tax_code: featured_tax_code(),
                sections: vec![Section::Interventions as i32],
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{org}-{role}: {status:?}"
        );
        assert!(
            status.message().contains("accepts only role gateway"),
            "{}",
            status.message()
        );
    }
    assert!(fed.log("caritas").contains("caller refused"));
}

#[tokio::test]
async fn a_stalled_connector_times_out_within_the_callers_deadline() {
    let fed = Sandbox::start().await;
    let pid = fed.running.pid("caf").expect("caf runs");
    // Freeze the process: its socket stays open, it answers nothing.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut client = fed.client("comune");
    let mut request = tonic::Request::new(v1::GetRecordRequest {
        context: context("presa_in_carico"),
        subject: Some(v1::SubjectKey {
            tax_code: featured_tax_code(),
            local_ids: vec![],
        }),
        sections: vec![Section::SocioEconomic as i32],
    });
    request.set_timeout(std::time::Duration::from_millis(600));
    let started = std::time::Instant::now();
    let response = client
        .get_record(request)
        .await
        .expect("a partial answer, not an error")
        .into_inner();
    let elapsed = started.elapsed();
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status();
    assert!(
        elapsed < std::time::Duration::from_millis(1500),
        "answered after {elapsed:?}"
    );
    assert!(response.partial);
    let caf = response
        .outcomes
        .iter()
        .find(|o| o.organisation == "caf")
        .unwrap();
    assert_eq!(caf.status, OutcomeStatus::Timeout as i32, "{caf:?}");
    let comune = response
        .outcomes
        .iter()
        .find(|o| o.organisation == "comune")
        .unwrap();
    assert_eq!(comune.status, OutcomeStatus::Ok as i32);
    assert!(comune.entries > 0);
}

/// The comune's case work asking the featured person's needs by tax code
/// alone (the calls the locator serves).
fn needs_by_tax_code() -> v1::GetRecordRequest {
    v1::GetRecordRequest {
        context: context("presa_in_carico"),
        subject: Some(v1::SubjectKey {
            tax_code: featured_tax_code(),
            local_ids: vec![],
        }),
        sections: vec![Section::Needs as i32],
    }
}

#[tokio::test]
async fn the_locator_asks_only_the_sources_that_hold_the_person() {
    let fed = Sandbox::start().await;
    let mut client = fed.client("comune");
    let ask = needs_by_tax_code;
    // First: everyone is asked; caritas holds the person under a local id
    // only, so by tax code it does not find them.
    let first = client.get_record(ask()).await.unwrap().into_inner();
    let caritas = |r: &v1::GetRecordResponse| {
        r.outcomes
            .iter()
            .find(|o| o.organisation == "caritas")
            .cloned()
            .unwrap()
    };
    assert_eq!(caritas(&first).status, OutcomeStatus::NotFound as i32);
    assert!(caritas(&first).latency_ms > 0 || !caritas(&first).message.contains("locator"));
    // Then: caritas is not asked again, and says why.
    let second = client.get_record(ask()).await.unwrap().into_inner();
    let c = caritas(&second);
    assert_eq!(c.status, OutcomeStatus::NotFound as i32);
    assert!(c.message.contains("locator cache"), "{c:?}");
    assert_eq!(
        second.outcomes.len(),
        5,
        "every source still has its outcome"
    );
    assert_eq!(
        second.record.as_ref().map(|r| r.identities.len()),
        first.record.as_ref().map(|r| r.identities.len()),
        "the same record from fewer calls"
    );
    for org in ["comune", "asl", "caf"] {
        let o = second
            .outcomes
            .iter()
            .find(|o| o.organisation == org)
            .unwrap();
        assert_eq!(o.status, OutcomeStatus::Ok as i32, "{org}");
    }
}

#[tokio::test]
async fn a_search_by_tax_code_tells_the_locator_who_holds_the_person() {
    let fed = Sandbox::start().await;
    let mut client = fed.client("comune");
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: context("presa_in_carico"),
            query: Some(v1::SubjectQuery {
                tax_code: featured_tax_code(),
                ..Default::default()
            }),
            max_candidates: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!found.partial, "{:?}", found.outcomes);
    // The record read that follows the search asks only the sources that
    // returned the person with this tax code: not caritas, which holds
    // them under a local id only.
    let record = client
        .get_record(needs_by_tax_code())
        .await
        .unwrap()
        .into_inner();
    let caritas = record
        .outcomes
        .iter()
        .find(|o| o.organisation == "caritas")
        .unwrap();
    assert!(caritas.message.contains("locator cache"), "{caritas:?}");
    for org in ["comune", "asl", "caf"] {
        let o = record
            .outcomes
            .iter()
            .find(|o| o.organisation == org)
            .unwrap();
        assert_eq!(o.status, OutcomeStatus::Ok as i32, "{org}: {o:?}");
    }
}
