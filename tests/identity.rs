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
