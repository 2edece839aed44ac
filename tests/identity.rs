//! Identities and revocation over real processes: a client certificate
//! carrying two federation identities is refused by the gateway, and a CRL
//! older than the one in force, written back into the file, does not
//! un-revoke a certificate.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::Sandbox;
use tonic::Code;
use trama_proto::v1;
use trama_tls::pki::{self, IssueRequest};
use trama_tls::{Role, TlsFiles};

/// A copy of the federation's CA in `dir`, to issue extra certificates
/// from without touching the sandbox's own files.
fn copy_of_ca(fed: &Sandbox, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for file in [pki::CA_CERT, pki::CA_KEY, pki::FEDERATION_FILE] {
        std::fs::copy(fed.dir().join("pki").join(file), dir.join(file)).unwrap();
    }
}

#[tokio::test]
async fn a_client_certificate_with_two_identities_is_refused_by_the_gateway() {
    let fed = Sandbox::start().await;
    let other = fed.tmp.path().join("extra-pki");
    copy_of_ca(&fed, &other);
    let request = IssueRequest {
        organisation: "caritas".into(),
        role: Role::Client,
        hosts: vec![],
        valid_days: 30,
        not_before_days_ago: 0,
    };
    let issued =
        pki::issue_with_extra_uris(&other, &request, &["trama://demo/org/comune/client".into()])
            .unwrap();
    let files = TlsFiles {
        ca: fed.dir().join("pki/ca.pem"),
        cert: issued.cert,
        key: issued.key,
        crl: None,
    };

    // The caritas desk's own certificate is served; the one that also
    // says comune is not, whichever identity comes first.
    fed.client("caritas")
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("one identity");
    let refused = fed
        .client_with(&files)
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect_err("two identities");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("2 trama:// identities"),
        "{}",
        refused.message()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = fed.log("gateway");
    assert!(
        log.lines()
            .any(|l| l.contains("caller refused") && l.contains("2 trama:// identities")),
        "the refusal is logged"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn an_older_crl_written_back_does_not_unrevoke_a_certificate() {
    let fed = Sandbox::start().await;
    let pki = fed.dir().join("pki");
    let crl = pki.join(pki::CRL_FILE);
    let older = std::fs::read(&crl).unwrap();
    let sources = || v1::ListSourcesRequest::default();
    fed.client("caritas")
        .list_sources(sources())
        .await
        .expect("served before");

    pki::revoke(&pki, &pki.join("caritas-client.pem")).unwrap();
    let started = Instant::now();
    while fed.client("caritas").list_sources(sources()).await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the revocation never took effect"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The list before the revocation, back in the file: the gateway sees
    // the change within its poll interval and must keep the newer list.
    std::fs::write(&crl, &older).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        let answer = fed.client("caritas").list_sources(sources()).await;
        assert!(
            answer.is_err(),
            "the older CRL un-revoked the caritas certificate"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = fed.log("gateway");
    let refusal = log
        .lines()
        .find(|l| l.contains("tls reload refused"))
        .expect("the refused reload is logged");
    assert!(
        refusal.contains(&crl.display().to_string())
            && refusal.contains("older than the one in force"),
        "{refusal}"
    );
    fed.client("comune")
        .list_sources(sources())
        .await
        .expect("others are still served");
    fed.cleanup().await;
}

/// Issues `org`'s `role` certificate from the CA in `dir`, for this
/// machine's names.
fn issue_from(dir: &Path, org: &str, role: Role) -> pki::IssuedFiles {
    pki::issue(
        dir,
        &IssueRequest {
            organisation: org.into(),
            role,
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            valid_days: 30,
            not_before_days_ago: 0,
        },
    )
    .unwrap()
}

/// `GetRecord` of the featured person, asking caritas's sections, as the
/// comune: caritas's outcome.
async fn caritas_answers(fed: &Sandbox) -> i32 {
    let answer = fed
        .client("comune")
        .get_record(v1::GetRecordRequest {
            context: support::context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: support::featured_tax_code(),
                local_ids: vec![],
            }),
            sections: vec![v1::Section::Needs as i32],
        })
        .await
        .expect("a record")
        .into_inner();
    answer
        .outcomes
        .iter()
        .find(|o| o.organisation == "caritas")
        .map_or(-1, |o| o.status)
}

#[tokio::test]
async fn the_ca_rolls_over_with_both_cas_trusted_during_the_switch() {
    let mut fed = Sandbox::start().await;
    let pki_dir = fed.dir().join("pki");
    let next = fed.tmp.path().join("pki-next");
    pki::init(&next, "demo").unwrap();
    let client = issue_from(&next, "comune", Role::Client);
    let both = fed.tmp.path().join("both-ca.pem");
    let mut trusted = std::fs::read(pki_dir.join(pki::CA_CERT)).unwrap();
    trusted.extend(std::fs::read(next.join(pki::CA_CERT)).unwrap());
    std::fs::write(&both, &trusted).unwrap();
    let files = TlsFiles {
        ca: both.clone(),
        cert: client.cert,
        key: client.key,
        crl: None,
    };
    let sources = || v1::ListSourcesRequest::default();

    // Before the switch the gateway trusts only the old CA: a certificate
    // of the new one is refused.
    let refused = fed.client_with(&files).list_sources(sources()).await;
    assert!(
        refused.is_err(),
        "a certificate of an untrusted CA was served"
    );

    // Every node trusts both (their ca.pem and crl.pem hold both CAs'):
    // they reload within seconds, and the new CA's client is served.
    let mut crls = std::fs::read(pki_dir.join(pki::CRL_FILE)).unwrap();
    crls.extend(std::fs::read(next.join(pki::CRL_FILE)).unwrap());
    std::fs::write(pki_dir.join(pki::CRL_FILE), &crls).unwrap();
    std::fs::write(pki_dir.join(pki::CA_CERT), &trusted).unwrap();
    let started = Instant::now();
    while fed
        .client_with(&files)
        .list_sources(sources())
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the new CA's client is still refused with both CAs trusted: {}",
            fed.log("gateway")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Caritas's connector is re-issued by the new CA while the gateway
    // keeps its old certificate: each still trusts the other's CA.
    let before = caritas_answers(&fed).await;
    assert_ne!(before, v1::OutcomeStatus::Unavailable as i32);
    let renewed = issue_from(&next, "caritas", Role::Connector);
    std::fs::copy(&renewed.key, pki_dir.join("caritas-connector-key.pem")).unwrap();
    std::fs::copy(&renewed.cert, pki_dir.join("caritas-connector.pem")).unwrap();
    // A new connection, so the gateway sees the renewed certificate.
    fed.running.crash("caritas").await;
    fed.running.restart("caritas").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        caritas_answers(&fed).await,
        before,
        "the gateway on the old CA and caritas on the new one answer each other as before"
    );
    let served = std::fs::read_to_string(pki_dir.join("caritas-connector.pem")).unwrap();
    assert_eq!(served, std::fs::read_to_string(&renewed.cert).unwrap());
    fed.cleanup().await;
}
