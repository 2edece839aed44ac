//! Every security rule, over real processes on loopback: certificates
//! (none, expired, revoked), purpose-based policy at the gateway (missing
//! purpose, missing case id, a purpose that does not cover a section, a
//! Caritas operator asking for health data, a forged operator role), a
//! stated case bound to a real open case of the person at the caller's own
//! organisation, the partners' own export policies, replays, the access
//! log, policy reload, and tampering with the audit log.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    FEATURED_CASE, Policy, Sandbox, connector_audit, ctx, exe, featured_tax_code, gateway_audit,
    scrape,
};
use tonic::Code;
use trama_proto::v1::{self, Section};

fn record(context: Option<v1::RequestContext>, sections: &[Section]) -> v1::GetRecordRequest {
    v1::GetRecordRequest {
        context,
        subject: Some(v1::SubjectKey {
            tax_code: featured_tax_code(),
            local_ids: vec![],
        }),
        sections: sections.iter().map(|s| *s as i32).collect(),
    }
}

/// The rule named in a `PERMISSION_DENIED` from the gateway's policy.
fn rule(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    status
        .get_details_error_info()
        .and_then(|i| i.metadata.get("rule").cloned())
        .unwrap_or_default()
}

/// The access log of the featured person, as the DPO reads it.
async fn access_log(fed: &Sandbox) -> Vec<v1::AccessEntry> {
    fed.client("comune")
        .access_log(v1::AccessLogRequest {
            context: ctx("audit", "controllo_accessi", ""),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            limit: 0,
            ..Default::default()
        })
        .await
        .expect("the DPO reads the access log")
        .into_inner()
        .entries
}

#[tokio::test]
async fn the_gateway_applies_purpose_based_policy_and_audits_every_decision() {
    let fed = Sandbox::start().await;
    let mut comune = fed.client("comune");
    let mut caritas = fed.client("caritas");

    // A social worker taking the person in charge, with a case: all sections.
    let all: Vec<Section> = trama_proto::sections::ALL.to_vec();
    let full = comune
        .get_record(record(
            ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
            &all,
        ))
        .await
        .expect("served")
        .into_inner();
    let sections = full.record.unwrap().sections.unwrap();
    assert!(!sections.health.is_empty() && !sections.needs.is_empty());

    // The same without a case id.
    let status = comune
        .get_record(record(
            ctx("assistente_sociale", "presa_in_carico", ""),
            &[Section::Needs],
        ))
        .await
        .expect_err("no case id");
    assert_eq!(rule(&status), "case-id-required");
    assert!(status.message().contains("case_id"), "{}", status.message());
    // A case id of blanks or invisible characters is no case id: refused
    // as invalid before any policy is asked.
    for blank in ["   ", "\u{200B}", " \u{FEFF}\u{2060} "] {
        let status = comune
            .get_record(record(
                ctx("assistente_sociale", "presa_in_carico", blank),
                &[Section::Needs, Section::Health],
            ))
            .await
            .expect_err("an invisible case id");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("context.case_id"),
            "{}",
            status.message()
        );
    }

    // A purpose that does not cover health data.
    let status = comune
        .get_record(record(
            ctx("assistente_sociale", "orientamento", ""),
            &[Section::Needs, Section::Health],
        ))
        .await
        .expect_err("orientamento does not cover health");
    assert_eq!(rule(&status), "health-needs-a-health-purpose");
    assert!(
        status.message().contains("section health"),
        "{}",
        status.message()
    );

    // A Caritas operator asking for health data.
    let status = caritas
        .get_record(record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &[Section::Health],
        ))
        .await
        .expect_err("no health data for caritas");
    assert_eq!(rule(&status), "health-needs-a-health-purpose");

    // A Caritas operator asking for needs: no rule permits it.
    let status = caritas
        .get_record(record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &[Section::Needs],
        ))
        .await
        .expect_err("no needs for caritas");
    assert_eq!(rule(&status), "default-deny");

    // The Caritas system forging a municipal social worker's role.
    let status = caritas
        .get_record(record(
            ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
            &[Section::Needs],
        ))
        .await
        .expect_err("forged role");
    assert_eq!(rule(&status), "roles-caritas");

    // What Caritas may learn: whether the person is followed, and by whom.
    let followed = caritas
        .get_record(record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &[Section::CaseMembership],
        ))
        .await
        .expect("served")
        .into_inner();
    let s = followed.record.clone().unwrap().sections.unwrap();
    assert!(!s.case_memberships.is_empty());
    assert!(
        s.case_memberships
            .iter()
            .all(|c| !c.case_manager.is_empty())
    );
    assert!(s.needs.is_empty() && s.health.is_empty() && s.housing.is_empty());
    // The health authority is not even asked: Caritas may not look people
    // up there (that the person is known to the health authority is
    // itself health information).
    let asl = followed
        .outcomes
        .iter()
        .find(|o| o.organisation == "asl")
        .unwrap();
    assert_eq!(asl.status, v1::OutcomeStatus::Denied as i32);
    assert!(
        asl.message.starts_with("denied by policy"),
        "{}",
        asl.message
    );
    assert!(
        followed
            .record
            .as_ref()
            .unwrap()
            .identities
            .iter()
            .all(|i| i.provenance.as_ref().unwrap().source_organisation != "asl"),
        "no identity from a source the caller may not find at"
    );

    // Programmazione reads aggregates only.
    let status = comune
        .get_record(record(
            ctx("ufficio_di_piano", "programmazione", ""),
            &[Section::Housing],
        ))
        .await
        .expect_err("statistics never read a person");
    assert_eq!(rule(&status), "programmazione-aggregates-only");

    // Only the DPO reads the access log.
    let status = comune
        .access_log(v1::AccessLogRequest {
            context: ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect_err("not a DPO");
    assert_eq!(rule(&status), "default-deny");

    // A valid client without a purpose: refused naming the field, and
    // audited like any other call.
    let status = comune
        .get_record(record(ctx("assistente_sociale", "", ""), &[Section::Needs]))
        .await
        .expect_err("no purpose");
    assert_eq!(status.code(), Code::InvalidArgument);

    let entries = gateway_audit(&fed).await;
    let last = entries.last().unwrap();
    assert_eq!(
        (last.decision.as_str(), last.status.as_str()),
        ("invalid", "INVALID_ARGUMENT")
    );
    assert!(last.reason.contains("context.purpose"), "{}", last.reason);
    assert!(
        !last.subjects.is_empty(),
        "the subject asked about is recorded"
    );
    let denials = entries.iter().filter(|e| e.decision == "deny").count();
    assert_eq!(denials, 7, "every denial is audited");
    let forged = entries
        .iter()
        .find(|e| e.reason.contains("roles-caritas"))
        .expect("the forged role is audited");
    assert_eq!(
        (forged.organisation.as_str(), forged.operator_role.as_str()),
        ("caritas", "assistente_sociale")
    );
    // Nothing in clear: no tax code, no name, no contents, in the store
    // or in its write-ahead log (where recent entries are until the next
    // checkpoint of the file).
    let mut raw = std::fs::read(fed.dir().join("audit.db")).unwrap();
    let wal = std::fs::read(fed.dir().join("audit.db-wal")).unwrap_or_default();
    raw.extend_from_slice(&wal);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("presa_in_carico"),
        "the bytes read hold the entries just written"
    );
    assert!(!text.contains(&featured_tax_code()));
    assert!(!text.contains("D'Angelo") && !text.contains("Giuseppe"));

    // The access log lists the comune's and Caritas's accesses.
    let log = access_log(&fed).await;
    assert!(log.iter().any(|e| e.organisation == "comune"
        && e.purpose == "presa_in_carico"
        && e.decision == "permit"
        && e.sections_returned.contains(&(Section::Health as i32))));
    assert!(log.iter().any(|e| e.organisation == "caritas"
        && e.decision == "permit"
        && e.sections_returned == vec![Section::CaseMembership as i32]));
    assert!(
        log.iter()
            .any(|e| e.organisation == "caritas" && e.decision == "deny")
    );

    // A replayed request is answered again, and audited again.
    let before = access_log(&fed).await.len();
    let request = record(
        ctx(
            "assistente_sociale",
            "valutazione_multidimensionale",
            FEATURED_CASE,
        ),
        &[Section::Needs],
    );
    for _ in 0..2 {
        comune
            .get_record(request.clone())
            .await
            .expect("replay served");
    }
    let after = access_log(&fed).await;
    // +2 replays, +1 for the DPO's own previous look-up.
    assert_eq!(after.len(), before + 3, "each replay is an entry");
    assert_eq!(
        after
            .iter()
            .filter(|e| e.purpose == "valutazione_multidimensionale")
            .count(),
        2,
        "both replays are listed"
    );
    fed.cleanup().await;
}

/// An open case the comune holds for someone other than the featured
/// person, read from its own database.
async fn someone_elses_open_case(fed: &Sandbox) -> String {
    let file = fed.dir().join("comune").join("comune.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .expect("the comune's database");
    let case: String = sqlx::query_scalar(
        "SELECT c.id_cartella FROM cartelle c JOIN assistiti a ON a.id_assistito = c.id_assistito \
         WHERE c.stato = 'APERTA' AND a.codice_fiscale <> ? ORDER BY c.id_cartella LIMIT 1",
    )
    .bind(featured_tax_code())
    .fetch_one(&db)
    .await
    .expect("another person's open case");
    db.close().await;
    case
}

/// A social worker's record request for the featured person under `case`.
fn under_case(case: &str) -> v1::GetRecordRequest {
    record(
        ctx("assistente_sociale", "presa_in_carico", case),
        &[Section::Needs, Section::Health],
    )
}

/// A referral of the featured person from `org`'s operator in `role`,
/// stating `case`.
fn referral_under_case(role: &str, case: &str, key: &str) -> v1::SendReferralRequest {
    v1::SendReferralRequest {
        context: ctx(role, "segnalazione", case),
        idempotency_key: key.into(),
        target: "comune".into(),
        target_service: String::new(),
        content: Some(v1::ReferralContent {
            person: Some(v1::ReferredPerson {
                tax_code: featured_tax_code(),
                ..Default::default()
            }),
            reasons: vec!["housing".into()],
            message: "Chiede aiuto per la casa".into(),
        }),
        urgency: v1::Urgency::Routine as i32,
    }
}

/// The gateway's audit entries of `call` stating `case`.
fn stating<'e>(
    entries: &'e [trama_audit::Entry],
    call: &str,
    case: &str,
) -> Vec<&'e trama_audit::Entry> {
    entries
        .iter()
        .filter(|e| e.call == call && e.case_id == case)
        .collect()
}

#[tokio::test]
async fn a_stated_case_must_be_an_open_case_of_the_callers_organisation_with_that_person() {
    let fed = Sandbox::start().await;
    let mut comune = fed.client("comune");

    // A case id nobody holds.
    let status = comune
        .get_record(under_case("CS-X"))
        .await
        .expect_err("a made-up case");
    assert_eq!(rule(&status), "case-bound");
    let message = status.message();
    assert!(message.contains("comune"), "{message}");
    assert!(
        !message.contains(&featured_tax_code()) && !message.contains("D'Angelo"),
        "no personal data in a refusal: {message}"
    );
    // A real open case, of someone else.
    let other = someone_elses_open_case(&fed).await;
    let status = comune
        .get_record(under_case(&other))
        .await
        .expect_err("another person's case");
    assert_eq!(rule(&status), "case-bound");
    // The person's own open case.
    let answer = comune
        .get_record(under_case(FEATURED_CASE))
        .await
        .expect("the person's own case")
        .into_inner();
    let sections = answer.record.unwrap().sections.unwrap();
    assert!(!sections.health.is_empty() && !sections.needs.is_empty());

    // A search under a case: the case must include someone the search
    // finds at the comune.
    let search = |case: &str| v1::FindSubjectRequest {
        context: ctx("assistente_sociale", "presa_in_carico", case),
        query: Some(v1::SubjectQuery {
            family_name: "D'Angelo".into(),
            given_name: "Giuseppe".into(),
            birth_date: Some(v1::Date {
                year: 1958,
                month: 7,
                day: 14,
            }),
            ..Default::default()
        }),
        max_candidates: 5,
    };
    let found = comune
        .find_subject(search(FEATURED_CASE))
        .await
        .expect("a search under the person's case")
        .into_inner();
    assert!(!found.groups.is_empty());
    let status = comune
        .find_subject(search(&other))
        .await
        .expect_err("a search under someone else's case");
    assert_eq!(rule(&status), "case-bound");

    // The health authority's connector maps no cases: the demo's gateway
    // takes the CPS's case ids as stated, by its explicit rule.
    fed.client("asl")
        .send_referral(referral_under_case(
            "operatore_cps",
            "CPS-2026-0117",
            "cps-case-1",
        ))
        .await
        .expect("the CPS's case, taken as stated");
    // Caritas maps no cases either, and no rule takes its cases as stated:
    // refused, naming the rule and the fix.
    let status = fed
        .client("caritas")
        .send_referral(referral_under_case(
            "operatore_centro_ascolto",
            "CDA-7",
            "cda-7",
        ))
        .await
        .expect_err("a case nobody can check");
    assert_eq!(rule(&status), "case-bound");
    assert!(
        status.message().contains("taken_as_stated"),
        "{}",
        status.message()
    );

    // The audit says whether each case was verified.
    let entries = gateway_audit(&fed).await;
    let check = |call: &str, case: &str| -> Vec<(String, String)> {
        stating(&entries, call, case)
            .iter()
            .map(|e| (e.decision.clone(), e.case_check.clone()))
            .collect()
    };
    let refused = vec![("deny".to_string(), "refused".to_string())];
    assert_eq!(check("GetRecord", "CS-X"), refused);
    assert_eq!(check("GetRecord", &other), refused);
    assert_eq!(check("FindSubject", &other), refused);
    assert_eq!(check("SendReferral", "CDA-7"), refused);
    let verified = vec![("permit".to_string(), "verified".to_string())];
    assert_eq!(check("GetRecord", FEATURED_CASE), verified);
    assert_eq!(check("FindSubject", FEATURED_CASE), verified);
    assert_eq!(
        check("SendReferral", "CPS-2026-0117"),
        vec![("permit".to_string(), "unverified".to_string())]
    );
    let denied = stating(&entries, "GetRecord", "CS-X")[0];
    assert!(denied.reason.contains("case-bound"), "{}", denied.reason);
    // Entries that state no case say nothing of one.
    assert!(
        entries
            .iter()
            .filter(|e| e.case_id.is_empty())
            .all(|e| e.case_check.is_empty())
    );

    // The comune's connector answered and audited each check of its cases
    // (the search's, the record's), and nothing else was asked of it for
    // the refused calls.
    let checks: Vec<(String, String)> = connector_audit(&fed, "comune")
        .await
        .into_iter()
        .filter(|e| e.call == "CheckCase")
        .map(|e| (e.case_id, e.case_check))
        .collect();
    for (case, answer) in [
        ("CS-X", "refused"),
        (other.as_str(), "refused"),
        (FEATURED_CASE, "verified"),
    ] {
        assert!(
            checks.contains(&(case.to_string(), answer.to_string())),
            "{case}: {checks:?}"
        );
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn cases_taken_as_stated_by_the_explicit_rule_are_recorded_unverified() {
    let fed = Sandbox::start_with(|b| b.cases_taken_as_stated(&["comune", "asl"])).await;
    fed.client("comune")
        .get_record(under_case("CS-X"))
        .await
        .expect("the comune's case ids taken as stated");
    let entries = gateway_audit(&fed).await;
    let e = stating(&entries, "GetRecord", "CS-X");
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].decision.as_str(), e[0].case_check.as_str()),
        ("permit", "unverified")
    );
    assert!(
        connector_audit(&fed, "comune")
            .await
            .iter()
            .all(|e| e.call != "CheckCase"),
        "the comune's connector is not asked"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn a_confirmed_case_is_remembered_for_a_bounded_time() {
    let fed = Sandbox::start_with(|b| b.case_cache_seconds(2)).await;
    let mut comune = fed.client("comune");
    let checks = || async {
        connector_audit(&fed, "comune")
            .await
            .iter()
            .filter(|e| e.call == "CheckCase")
            .count()
    };
    comune
        .get_record(under_case(FEATURED_CASE))
        .await
        .expect("the person's own case");
    comune
        .get_record(under_case(FEATURED_CASE))
        .await
        .expect("again");
    assert_eq!(checks().await, 1, "confirmed once, then remembered");

    // The comune closes the case in its own software: within the time a
    // confirmation is remembered it still counts, then no longer.
    let file = fed.dir().join("comune").join("comune.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("the comune's database");
    sqlx::query("UPDATE cartelle SET stato = 'CHIUSA' WHERE id_cartella = ?")
        .bind(FEATURED_CASE)
        .execute(&db)
        .await
        .expect("the case closed");
    db.close().await;
    comune
        .get_record(under_case(FEATURED_CASE))
        .await
        .expect("remembered for two seconds");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = comune
        .get_record(under_case(FEATURED_CASE))
        .await
        .expect_err("a closed case, once forgotten");
    assert_eq!(rule(&status), "case-bound");
    assert_eq!(checks().await, 2);
    fed.cleanup().await;
}

#[tokio::test]
async fn a_partner_export_policy_holds_whatever_the_gateway_allowed() {
    let mut fed = Sandbox::start().await;
    // The gateway lets a comune desk read needs for orientamento; the asl
    // and the caf release nothing for that purpose, the comune's connector
    // releases needs.
    let answer = fed
        .client("comune")
        .get_record(record(
            ctx("sportello", "orientamento", ""),
            &[Section::Needs],
        ))
        .await
        .expect("served")
        .into_inner();
    let outcome = |org: &str| {
        answer
            .outcomes
            .iter()
            .find(|o| o.organisation == org)
            .cloned()
            .unwrap()
    };
    for org in ["asl", "caf"] {
        let o = outcome(org);
        assert_eq!(o.status, v1::OutcomeStatus::Denied as i32, "{org}: {o:?}");
        assert!(o.message.starts_with("denied by source"), "{}", o.message);
    }
    assert_eq!(outcome("comune").status, v1::OutcomeStatus::Ok as i32);
    assert!(!answer.record.unwrap().sections.unwrap().needs.is_empty());
    assert!(
        !answer.partial,
        "a refusal is an answer, not a missing source"
    );

    // The connector audits its own refusals and releases.
    fed.running.shut_down().await;
    for org in ["asl", "comune"] {
        let out = Command::new(exe())
            .args(["audit", "verify", "--connector"])
            .arg(fed.dir().join(org).join("connector.toml"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{org}: {stdout}");
        assert!(
            stdout.contains("1 entries") || stdout.contains("entries,"),
            "{stdout}"
        );
    }
    let url = trama_audit::Store::sqlite_url(&fed.dir().join("asl/audit.db"));
    let store = trama_audit::Store::open(&url, false).await.unwrap();
    let rows = store.entries_after(0, 100).await.unwrap();
    let entry = trama_audit::Entry::from_payload(&rows.last().unwrap().payload).unwrap();
    assert_eq!(
        (
            entry.call.as_str(),
            entry.organisation.as_str(),
            entry.decision.as_str()
        ),
        ("FetchRecord", "comune", "deny")
    );
    store.close().await;
}

/// A client presenting no certificate at all.
fn client_without_certificate(
    fed: &Sandbox,
) -> v1::federation_client::FederationClient<tonic::transport::Channel> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(fed.dir().join("pki/ca.pem")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(trama_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let channel = trama_tls::client::channel(
        &fed.running.gateway,
        Arc::new(config),
        trama_tls::client::ExpectedPeer {
            federation: "demo".into(),
            organisation: None,
            role: trama_tls::Role::Gateway,
        },
        Duration::from_secs(5),
    )
    .unwrap();
    v1::federation_client::FederationClient::new(channel)
}

#[tokio::test]
async fn missing_expired_and_revoked_certificates_are_refused() {
    let fed = Sandbox::start().await;
    let sources = || v1::ListSourcesRequest::default();

    // No client certificate.
    let status = client_without_certificate(&fed)
        .list_sources(sources())
        .await
        .expect_err("no certificate");
    assert_ne!(status.code(), Code::Ok);

    // An expired certificate of this federation.
    let pki = fed.dir().join("pki");
    let expired = trama_tls::pki::issue(
        &pki,
        &trama_tls::pki::IssueRequest {
            organisation: "caf".into(),
            role: trama_tls::Role::Client,
            hosts: vec![],
            valid_days: -1,
            not_before_days_ago: 30,
        },
    )
    .unwrap();
    let files = trama_tls::TlsFiles {
        ca: pki.join("ca.pem"),
        cert: expired.cert,
        key: expired.key,
        crl: None,
    };
    let status = fed
        .client_with(&files)
        .list_sources(sources())
        .await
        .expect_err("expired");
    assert_ne!(status.code(), Code::Ok);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = fed.log("gateway");
    assert!(log.contains("tls handshake refused"), "refusals are logged");

    // Revoked: a connection opened before the revocation is cut off at its
    // next call, and new connections are refused at the handshake.
    let mut open = fed.client("caritas");
    open.list_sources(sources()).await.expect("served before");
    trama_tls::pki::revoke(&pki, &pki.join("caritas-client.pem")).unwrap();
    let started = Instant::now();
    let refused = loop {
        match open.list_sources(sources()).await {
            Err(status) => break status,
            Ok(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(_) => panic!("the revoked certificate is still served after 15 s"),
        }
    };
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("revoked"),
        "{}",
        refused.message()
    );
    let status = fed
        .client("caritas")
        .list_sources(sources())
        .await
        .expect_err("revoked, new connection");
    assert_ne!(status.code(), Code::Ok);
    // Others are still served.
    fed.client("comune")
        .list_sources(sources())
        .await
        .expect("the comune is not revoked");
    fed.cleanup().await;
}

#[tokio::test]
async fn the_policy_reloads_without_restart_and_a_broken_one_is_refused() {
    let fed = Sandbox::start().await;
    let mut caritas = fed.client("caritas");
    let ask = || {
        record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &[Section::CaseMembership],
        )
    };
    caritas.get_record(ask()).await.expect("allowed at start");

    // A broken policy is refused; the previous one stays in force.
    fed.running
        .set_policy(&Policy::text(
            "permit (principal, action, resource) when { context.purpse == \"x\" };",
        ))
        .unwrap();
    let started = Instant::now();
    while !fed.log("gateway").contains("policy not reloaded") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the broken policy is noticed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    caritas.get_record(ask()).await.expect("still allowed");

    // The same policy without the Caritas rule: denied within seconds.
    let without = Policy::demo()
        .without("caritas-verifica-presa-in-carico")
        .unwrap();
    fed.running.set_policy(&without).unwrap();
    let started = Instant::now();
    let status = loop {
        match caritas.get_record(ask()).await {
            Err(s) => break s,
            Ok(_) => {
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "the new policy applies"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    assert_eq!(rule(&status), "default-deny");
    fed.cleanup().await;
}

#[tokio::test]
async fn audit_verify_catches_an_edited_audit_database() {
    let mut fed = Sandbox::start().await;
    let mut comune = fed.client("comune");
    for _ in 0..3 {
        comune
            .get_record(record(
                ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
                &[Section::Needs],
            ))
            .await
            .expect("served");
    }
    // A graceful stop seals the log with a signed checkpoint.
    fed.running.shut_down().await;
    let verify = || {
        let out = Command::new(exe())
            .args(["audit", "verify", "--gateway"])
            .arg(fed.dir().join("gateway.toml"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (ok, out) = verify();
    assert!(ok, "{out}");
    assert!(
        out.contains("3 entries") && out.contains("last valid checkpoint: entry 3"),
        "{out}"
    );

    // Rewrite which case entry 2 was for.
    let url = trama_audit::Store::sqlite_url(&fed.dir().join("audit.db"));
    let store = trama_audit::Store::open(&url, true).await.unwrap();
    store
        .execute_owned(format!(
            "UPDATE trama_audit_entry SET payload = replace(payload, '{FEATURED_CASE}', 'CS-7') WHERE seq = 2"
        ))
        .await
        .unwrap();
    let (ok, out) = verify();
    assert!(!ok, "{out}");
    assert!(out.contains("entry 2: contents altered"), "{out}");

    // Truncate the tail (and the checkpoint in the database): the shipped
    // checkpoint file still covers it.
    store
        .execute("DELETE FROM trama_audit_entry WHERE seq = 3")
        .await
        .unwrap();
    store
        .execute("DELETE FROM trama_audit_checkpoint")
        .await
        .unwrap();
    let (ok, out) = verify();
    assert!(!ok, "{out}");
    assert!(out.contains("truncated"), "{out}");
    store.close().await;
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn certificate_expiry_and_policy_denials_show_in_metrics() {
    let fed = Sandbox::start().await;
    let status = fed
        .client("caritas")
        .get_record(record(
            ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            &[Section::Health],
        ))
        .await
        .expect_err("denied");
    assert_eq!(rule(&status), "health-needs-a-health-purpose");
    let started = Instant::now();
    let metrics = loop {
        let m = scrape(&fed).await;
        if gauge(&m, "trama_certificate_expiry_days").is_some() {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The demo issues 30-day certificates and a ten-year CA.
    let cert = gauge(&metrics, "trama_certificate_expiry_days").unwrap();
    assert!((29.0..=30.1).contains(&cert), "{cert}");
    let ca = gauge(&metrics, "trama_ca_expiry_days").unwrap();
    assert!(ca > 3000.0, "{ca}");
    assert!(
        metrics.contains("trama_policy_denials_total{rule=\"health-needs-a-health-purpose\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("trama_audit_entries_total 1"), "{metrics}");
    fed.cleanup().await;
}

#[tokio::test]
async fn the_access_log_says_when_the_audit_chain_was_altered() {
    let fed = Sandbox::start().await;
    fed.client("comune")
        .get_record(record(
            ctx("assistente_sociale", "presa_in_carico", FEATURED_CASE),
            &[Section::Housing],
        ))
        .await
        .expect("read");
    // Someone with the database edits which case the read was for.
    let url = trama_audit::Store::sqlite_url(&fed.dir().join("audit.db"));
    let store = trama_audit::Store::open(&url, true).await.unwrap();
    store
        .execute_owned(format!(
            "UPDATE trama_audit_entry SET payload = replace(payload, '{FEATURED_CASE}', 'CS-7')"
        ))
        .await
        .unwrap();
    store.close().await;
    let answer = fed
        .client("comune")
        .access_log(v1::AccessLogRequest {
            context: ctx("audit", "controllo_accessi", ""),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            limit: 0,
            ..Default::default()
        })
        .await
        .expect("the DPO reads the access log")
        .into_inner();
    let chain = answer
        .chain
        .expect("the chain is verified for every answer");
    assert!(!chain.intact, "{chain:?}");
    assert!(
        chain
            .problems
            .iter()
            .any(|p| p.contains("contents altered")),
        "{chain:?}"
    );
    assert!(
        chain.entries >= 1 && !chain.checked_at.is_empty(),
        "{chain:?}"
    );
}

#[tokio::test]
async fn list_sources_says_which_sections_an_operator_may_read_and_why_not() {
    let fed = Sandbox::start().await;
    let desk = fed
        .client("caritas")
        .list_sources(v1::ListSourcesRequest {
            context: ctx("operatore_centro_ascolto", "verifica_presa_in_carico", ""),
            purposes: Vec::new(),
        })
        .await
        .expect("listed")
        .into_inner();
    let comune = desk
        .sources
        .iter()
        .find(|s| s.organisation == "comune")
        .expect("the comune");
    let allowed: Vec<i32> = comune
        .access
        .iter()
        .filter(|a| a.allowed)
        .map(|a| a.section)
        .collect();
    assert_eq!(allowed, vec![Section::CaseMembership as i32], "{comune:?}");
    let asl = desk
        .sources
        .iter()
        .find(|s| s.organisation == "asl")
        .unwrap();
    let health = asl
        .access
        .iter()
        .find(|a| a.section == Section::Health as i32)
        .expect("the asl provides health");
    assert_eq!(health.rule, "health-needs-a-health-purpose");
    assert!(health.reason.contains("GDPR art. 9"), "{health:?}");
    // The asl's sections are closed to the desk, each with a reason.
    let asl = desk
        .sources
        .iter()
        .find(|s| s.organisation == "asl")
        .unwrap();
    assert!(
        !asl.access.is_empty()
            && asl
                .access
                .iter()
                .all(|a| !a.allowed && !a.reason.is_empty())
    );

    // Without a context, nothing is said about access; a context missing
    // its role is refused like any call's.
    let plain = fed
        .client("caritas")
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert!(plain.sources.iter().all(|s| s.access.is_empty()));
    let mut no_role = ctx("", "verifica_presa_in_carico", "").unwrap();
    no_role.operator = Some(v1::Operator {
        id: "op-1".into(),
        role: String::new(),
    });
    let refused = fed
        .client("caritas")
        .list_sources(v1::ListSourcesRequest {
            context: Some(no_role),
            purposes: Vec::new(),
        })
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("context.operator.role"),
        "{refused:?}"
    );
}

/// What a role may do with each purpose, as a console asks before
/// offering screens: the answer follows the policy, names the purposes
/// that need a case, and says nothing a call would not (a role the
/// organisation may not state, a purpose of another organisation's rule,
/// all get nothing); asking without a context, or too much, is refused
/// naming the field.
#[tokio::test]
async fn a_role_learns_its_purposes_from_the_policy_and_nothing_more() {
    let fed = Sandbox::start().await;
    let purposes: Vec<String> = [
        "presa_in_carico",
        "verifica_presa_in_carico",
        "orientamento",
        "programmazione",
        "controllo_accessi",
        "inventata",
    ]
    .map(String::from)
    .to_vec();
    let ask = |org: &'static str, role: &'static str| {
        let purposes = purposes.clone();
        let mut client = fed.client(org);
        async move {
            client
                .list_sources(v1::ListSourcesRequest {
                    context: ctx(role, "orientamento", ""),
                    purposes,
                })
                .await
                .map(|r| r.into_inner().purposes)
        }
    };
    let allowed = |answer: &[v1::PurposeAccess]| -> Vec<(String, Vec<String>, bool)> {
        answer
            .iter()
            .filter(|p| !p.actions.is_empty())
            .map(|p| (p.purpose.clone(), p.actions.clone(), p.needs_case))
            .collect()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let social = ask("comune", "assistente_sociale").await.unwrap();
    assert_eq!(social.len(), purposes.len(), "one answer per purpose asked");
    assert_eq!(
        allowed(&social),
        vec![
            (
                "presa_in_carico".into(),
                s(&["find", "read", "refer"]),
                true
            ),
            ("orientamento".into(), s(&["find", "read"]), false),
        ]
    );
    let planner = ask("comune", "ufficio_di_piano").await.unwrap();
    assert_eq!(
        allowed(&planner),
        vec![("programmazione".into(), s(&["aggregate"]), false)]
    );
    let dpo = ask("comune", "audit").await.unwrap();
    assert_eq!(
        allowed(&dpo),
        vec![("controllo_accessi".into(), s(&["access_log"]), false)]
    );
    let desk = ask("caritas", "operatore_centro_ascolto").await.unwrap();
    assert_eq!(
        allowed(&desk),
        vec![(
            "verifica_presa_in_carico".into(),
            s(&["find", "read"]),
            false
        )]
    );
    // A role the organisation may not state learns nothing.
    let forged = ask("caritas", "assistente_sociale").await.unwrap();
    assert!(allowed(&forged).is_empty(), "{forged:?}");

    let mut client = fed.client("comune");
    let no_context = client
        .list_sources(v1::ListSourcesRequest {
            context: None,
            purposes: purposes.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_context.code(), Code::InvalidArgument);
    assert!(no_context.message().contains("purposes"), "{no_context:?}");
    let too_many = client
        .list_sources(v1::ListSourcesRequest {
            context: ctx("assistente_sociale", "orientamento", ""),
            purposes: vec!["orientamento".into(); 51],
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert!(too_many.message().contains("at most 50"), "{too_many:?}");
}

/// A context stated for operator `id`.
fn as_operator(id: &str, role: &str, purpose: &str, case: &str) -> Option<v1::RequestContext> {
    ctx(role, purpose, case).map(|c| v1::RequestContext {
        operator: Some(v1::Operator {
            id: id.into(),
            role: role.into(),
        }),
        ..c
    })
}

/// The access log listed by `filters`, no person, as the DPO.
fn review(filters: v1::AccessLogRequest) -> v1::AccessLogRequest {
    v1::AccessLogRequest {
        context: as_operator("dpo-01", "audit", "controllo_accessi", ""),
        ..filters
    }
}

/// The field named in an `INVALID_ARGUMENT`'s `BadRequest`.
fn bad_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_dpo_reviews_an_operators_accesses_and_nobody_else_can() {
    let fed = Sandbox::start().await;
    let mut comune = fed.client("comune");
    // Laura reads the featured person's record under their case; Marco
    // searches by name under the same case, so the person is only one of
    // his search's candidates.
    let laura = as_operator(
        "laura.ferrari",
        "assistente_sociale",
        "presa_in_carico",
        FEATURED_CASE,
    );
    for sections in [&[Section::Needs][..], &[Section::Needs, Section::Health]] {
        comune
            .get_record(record(laura.clone(), sections))
            .await
            .expect("laura reads the record");
    }
    let marco = as_operator(
        "marco.bianchi",
        "assistente_sociale",
        "presa_in_carico",
        FEATURED_CASE,
    );
    comune
        .find_subject(v1::FindSubjectRequest {
            context: marco,
            query: Some(v1::SubjectQuery {
                family_name: "D'Angelo".into(),
                given_name: "Giuseppe".into(),
                ..Default::default()
            }),
            max_candidates: 5,
        })
        .await
        .expect("marco searches");

    // The DPO lists Laura's accesses without naming anyone: her read,
    // with the case she stated and the rule that allowed it.
    let by_laura = v1::AccessLogRequest {
        operator_id: "laura.ferrari".into(),
        ..Default::default()
    };
    let listed = comune
        .access_log(review(by_laura.clone()))
        .await
        .expect("the DPO's review")
        .into_inner();
    assert!(
        listed
            .entries
            .iter()
            .all(|e| e.operator.as_ref().is_some_and(|o| o.id == "laura.ferrari")),
        "{listed:?}"
    );
    let read = listed.entries.first().expect("laura's reads are listed");
    assert_eq!(listed.entries.len(), 2, "{listed:?}");
    assert_eq!(
        (
            read.case_id.as_str(),
            read.case_check.as_str(),
            read.rule.as_str()
        ),
        (FEATURED_CASE, "verified", "comune-presa-in-carico")
    );
    assert!(!read.as_candidate && read.sections_returned.contains(&(Section::Health as i32)));
    // Nothing in the answer names a person: no tax code, no name, no
    // pseudonym of the log.
    let everything = comune
        .access_log(review(v1::AccessLogRequest::default()))
        .await
        .expect("the whole log, newest first")
        .into_inner();
    let shown = format!("{everything:?}");
    assert!(!shown.contains(&featured_tax_code()) && !shown.contains("D'Angelo"));
    for e in gateway_audit(&fed).await {
        for p in e.subjects.iter().chain(&e.candidates) {
            assert!(!shown.contains(p.as_str()), "a pseudonym is shown");
        }
    }

    // A filter added to a listing by person shows no more than the
    // listing by person: where the person was only a candidate of Marco's
    // search, his case and rule stay hidden.
    let about = |filters: v1::AccessLogRequest| {
        review(v1::AccessLogRequest {
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            ..filters
        })
    };
    let marcos = comune
        .access_log(about(v1::AccessLogRequest {
            operator_id: "marco.bianchi".into(),
            ..Default::default()
        }))
        .await
        .expect("the person's accesses by marco")
        .into_inner();
    let search = marcos.entries.first().expect("marco's search is listed");
    assert!(search.as_candidate, "{search:?}");
    assert_eq!(
        (
            search.case_id.as_str(),
            search.rule.as_str(),
            search.reason.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(search.call, "FindSubject", "codes, not words");

    // Pages of one entry, following the cursor, list what one page did.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = comune
            .access_log(review(v1::AccessLogRequest {
                limit: 1,
                page_token: token.clone(),
                ..by_laura.clone()
            }))
            .await
            .expect("a page")
            .into_inner();
        paged.extend(page.entries.iter().map(|e| e.seq));
        if page.next_page_token.is_empty() {
            break;
        }
        assert_ne!(page.next_page_token, token, "the cursor moves");
        token = page.next_page_token;
    }
    let first: Vec<u64> = listed.entries.iter().map(|e| e.seq).collect();
    assert_eq!(paged, first, "one entry a page, the same entries");
    // A period in the future holds nothing; bad periods are named.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let none = comune
        .access_log(review(v1::AccessLogRequest {
            from: later.clone(),
            ..by_laura.clone()
        }))
        .await
        .expect("an empty period")
        .into_inner();
    assert!(none.entries.is_empty() && none.next_page_token.is_empty());
    for (bad, field) in [
        (
            v1::AccessLogRequest {
                from: "14/07/2026".into(),
                ..Default::default()
            },
            "from",
        ),
        (
            v1::AccessLogRequest {
                from: later.clone(),
                to: later,
                ..Default::default()
            },
            "to",
        ),
        (
            v1::AccessLogRequest {
                operator_id: "laura ferrari".into(),
                ..Default::default()
            },
            "operator_id",
        ),
        (
            v1::AccessLogRequest {
                page_token: "gateway-a".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let status = comune.access_log(review(bad)).await.expect_err("refused");
        assert_eq!(bad_field(&status), field, "{status:?}");
    }

    // Nobody else lists the log: a social worker, the DPO's role for a
    // data subject's request without the person, another organisation
    // claiming the DPO's role.
    let social = v1::AccessLogRequest {
        // The officer's purpose, stated by someone without the role.
        context: as_operator(
            "laura.ferrari",
            "assistente_sociale",
            "controllo_accessi",
            "",
        ),
        ..by_laura.clone()
    };
    let status = comune.access_log(social).await.expect_err("not the DPO");
    assert_eq!(rule(&status), "default-deny");
    let request = v1::AccessLogRequest {
        context: as_operator("dpo-01", "audit", "richiesta_interessato", ""),
        ..by_laura.clone()
    };
    let status = comune
        .access_log(request.clone())
        .await
        .expect_err("a data subject's request names the person");
    assert_eq!(rule(&status), "log-review-is-the-dpos");
    comune
        .access_log(v1::AccessLogRequest {
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            ..request
        })
        .await
        .expect("the same request about the person");
    let status = fed
        .client("caritas")
        .access_log(review(by_laura.clone()))
        .await
        .expect_err("caritas has no DPO role");
    assert_eq!(rule(&status), "roles-caritas");

    // Every listing is itself audited, with its filters and no subject.
    let entries = gateway_audit(&fed).await;
    let reviews: Vec<_> = entries
        .iter()
        .filter(|e| e.call == "AccessLog" && e.filters.contains("operator=laura.ferrari"))
        .collect();
    assert!(
        reviews
            .iter()
            .filter(|e| e.purpose == "controllo_accessi")
            .all(|e| e.subjects.is_empty()),
        "a review names nobody"
    );
    assert!(
        reviews
            .iter()
            .any(|e| e.purpose == "richiesta_interessato" && !e.subjects.is_empty()),
        "a listing about the person names them, as a pseudonym"
    );
    assert!(
        reviews
            .iter()
            .any(|e| e.decision == "permit" && e.operator_id == "dpo-01")
    );
    assert!(
        reviews
            .iter()
            .any(|e| e.decision == "deny" && e.organisation == "caritas")
    );
    assert!(
        reviews
            .iter()
            .any(|e| e.filters.contains("page=") && e.decision == "permit"),
        "the page asked is recorded"
    );
    fed.cleanup().await;
}
