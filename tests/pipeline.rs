//! The call pipeline's rules over real processes: the policy is applied
//! before the locator is consulted, a caller's own deadline is not a
//! source's failure, invisible fields are empty, an over-size request is a
//! limit, and reflection tells stock tools exactly what the gateway serves.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::time::Duration;

use support::{FEATURED_CASE, Sandbox, ctx, featured_tax_code};
use tonic::Code;
use trama_lab::seed::Partner;
use trama_proto::v1::{self, OutcomeStatus, Section};

fn record(
    context: Option<v1::RequestContext>,
    tax_code: &str,
    sections: &[Section],
) -> v1::GetRecordRequest {
    v1::GetRecordRequest {
        context,
        subject: Some(v1::SubjectKey {
            tax_code: tax_code.into(),
            local_ids: vec![],
        }),
        sections: sections.iter().map(|s| *s as i32).collect(),
    }
}

fn outcome<'a>(r: &'a v1::GetRecordResponse, org: &str) -> &'a v1::SourceOutcome {
    r.outcomes
        .iter()
        .find(|o| o.organisation == org)
        .unwrap_or_else(|| panic!("no outcome for {org}: {:?}", r.outcomes))
}

/// The sandbox's population (seed and size as `Sandbox::start`).
fn population() -> trama_lab::seed::population::Population {
    trama_lab::seed::population::generate(11, 300)
}

#[tokio::test]
async fn the_locator_does_not_reveal_what_the_policy_hides() {
    let fed = Sandbox::start().await;
    let people = population();
    // A person the comune follows in an open case and the health authority
    // does not know.
    let mut outsider = None;
    for p in people
        .people
        .iter()
        .filter(|p| Partner::Comune.knows(p, 11) && !Partner::Asl.knows(p, 11))
    {
        let code = p.tax_code.to_string();
        if let Some(case) = support::open_case_at_comune(&fed, &code).await {
            outsider = Some((code, case));
            break;
        }
    }
    let (outsider, outsider_case) = outsider.expect("someone the asl does not know");
    let patient = featured_tax_code();
    // A social worker reads both records, each under the person's case:
    // every source answers, so the locator learns who holds each person.
    let mut comune = fed.client("comune");
    for (code, case) in [
        (&outsider, outsider_case.as_str()),
        (&patient, FEATURED_CASE),
    ] {
        let full = comune
            .get_record(record(
                ctx("assistente_sociale", "presa_in_carico", case),
                code,
                &[Section::Housing],
            ))
            .await
            .expect("served")
            .into_inner();
        assert!(!full.partial, "{:?}", full.outcomes);
    }
    // The Caritas desk may not search the health authority: its outcome
    // must read the same whether or not the person is a patient there.
    let mut caritas = fed.client("caritas");
    let mut seen = Vec::new();
    for code in [&outsider, &patient] {
        let answer = caritas
            .get_record(record(
                ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
                code,
                &[Section::CaseMembership],
            ))
            .await
            .expect("served")
            .into_inner();
        let asl = outcome(&answer, "asl").clone();
        assert_eq!(asl.status, OutcomeStatus::Denied as i32, "{asl:?}");
        assert!(!asl.message.contains("locator"), "{asl:?}");
        seen.push((asl.status, asl.message, asl.entries));
    }
    assert_eq!(seen[0], seen[1], "the asl's outcome depends on the person");
    fed.cleanup().await;
}

#[tokio::test]
async fn one_callers_deadline_opens_no_circuit() {
    let fed = Sandbox::start().await;
    let mut comune = fed.client("comune");
    // Ten impatient calls: each gives up after 1 ms.
    for _ in 0..10 {
        let mut r = tonic::Request::new(record(
            ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
            &featured_tax_code(),
            &[Section::Housing],
        ));
        r.set_timeout(Duration::from_millis(1));
        let _ = comune.get_record(r).await;
    }
    // Let the gateway finish them (calls run to their audit entry).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sources = comune
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("sources")
        .into_inner()
        .sources;
    for s in &sources {
        assert_eq!(s.circuit, "closed", "{s:?}");
    }
    // Another organisation is served by sources that never failed.
    let answer = fed
        .client("caritas")
        .get_record(record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &featured_tax_code(),
            &[Section::CaseMembership],
        ))
        .await
        .expect("served")
        .into_inner();
    assert!(!answer.partial, "{:?}", answer.outcomes);
    assert_eq!(outcome(&answer, "comune").status, OutcomeStatus::Ok as i32);
    fed.cleanup().await;
}

#[tokio::test]
async fn an_invisible_case_id_reads_nothing() {
    let fed = Sandbox::start().await;
    let mut comune = fed.client("comune");
    for invisible in ["\u{200B}", "\u{FEFF}", " \u{2060}\u{200D} "] {
        let status = comune
            .get_record(record(
                ctx("assistente_sociale", "presa_in_carico", invisible),
                &featured_tax_code(),
                &[Section::Health],
            ))
            .await
            .expect_err("an invisible case id is no case id");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("context.case_id"),
            "{}",
            status.message()
        );
    }
    // Invisible roles and purposes are refused the same way.
    let status = comune
        .get_record(record(
            ctx("\u{200B}", "presa_in_carico", FEATURED_CASE),
            &featured_tax_code(),
            &[Section::Housing],
        ))
        .await
        .expect_err("an invisible role");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    fed.cleanup().await;
}

#[tokio::test]
async fn an_oversize_request_is_a_limit_naming_its_key() {
    let fed = Sandbox::start().await;
    let status = fed
        .client("comune")
        .get_record(record(
            ctx("assistente_sociale", &"x".repeat(200_000), FEATURED_CASE),
            &featured_tax_code(),
            &[Section::Housing],
        ))
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_request_bytes"),
        "{}",
        status.message()
    );
    fed.cleanup().await;
}

/// The services a reflection client lists, and whether it can describe
/// the health service, in `v1` and `v1alpha`.
async fn reflect(fed: &Sandbox) -> [(Vec<String>, bool); 2] {
    use tonic_reflection::pb::{v1 as r1, v1alpha as ra};
    let channel = || {
        let config = trama_tls::client::client_config(&fed.tls("comune", "client")).unwrap();
        trama_tls::client::channel(
            &fed.running.gateway,
            config,
            trama_tls::client::ExpectedPeer {
                federation: "demo".into(),
                organisation: None,
                role: trama_tls::Role::Gateway,
            },
            Duration::from_secs(5),
        )
        .unwrap()
    };
    let mut v1c = r1::server_reflection_client::ServerReflectionClient::new(channel());
    let ask = |m| r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let requests = vec![
        ask(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
        ask(
            r1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "grpc.health.v1.Health".into(),
            ),
        ),
    ];
    let mut stream = v1c
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection v1")
        .into_inner();
    let mut listed = Vec::new();
    let mut described = false;
    while let Some(r) = stream.message().await.expect("answer") {
        use r1::server_reflection_response::MessageResponse as M;
        match r.message_response {
            Some(M::ListServicesResponse(l)) => {
                listed = l.service.into_iter().map(|s| s.name).collect()
            }
            Some(M::FileDescriptorResponse(f)) => described = !f.file_descriptor_proto.is_empty(),
            _ => {}
        }
    }
    let mut alpha = ra::server_reflection_client::ServerReflectionClient::new(channel());
    let list = ra::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(ra::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = alpha
        .server_reflection_info(tokio_stream::iter(vec![list]))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let mut listed_alpha = Vec::new();
    while let Some(r) = stream.message().await.expect("answer") {
        use ra::server_reflection_response::MessageResponse as M;
        if let Some(M::ListServicesResponse(l)) = r.message_response {
            listed_alpha = l.service.into_iter().map(|s| s.name).collect();
        }
    }
    [(listed, described), (listed_alpha, true)]
}

#[tokio::test]
async fn reflection_shows_what_the_gateway_serves_in_both_versions() {
    let fed = Sandbox::start().await;
    let [(v1_listed, health_described), (alpha_listed, _)] = reflect(&fed).await;
    for listed in [&v1_listed, &alpha_listed] {
        assert!(
            listed.iter().any(|s| s == "trama.v1.Federation"),
            "{listed:?}"
        );
        assert!(
            listed.iter().any(|s| s == "grpc.health.v1.Health"),
            "{listed:?}"
        );
        assert!(
            !listed.iter().any(|s| s == "trama.v1.Connector"),
            "{listed:?}"
        );
    }
    assert!(
        health_described,
        "reflection cannot describe the health service"
    );
    fed.cleanup().await;
}
