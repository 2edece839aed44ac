//! Two gateways behind one federation, sharing PostgreSQL: each writes its
//! own chain of one audit log, either answers `AccessLog` with every
//! access, a replica killed with SIGKILL under load loses no answered
//! call, `trama audit verify` passes for every chain, and a client's
//! allowance holds across both.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::web::Browser;
use support::{ConsoleAccount, Sandbox, context, exe, featured_tax_code};
use tonic::transport::Channel;
use trama_proto::v1::federation_client::FederationClient;
use trama_proto::v1::{self, Section};

/// Two fresh databases on the test server: the audit log's and the
/// referral store's (each store migrates its own schema).
async fn databases() -> Option<(String, String, String, Vec<String>)> {
    let server = support::postgres()?;
    let mut names = Vec::new();
    let mut urls = Vec::new();
    for prefix in ["trama_t_audit", "trama_t_refs"] {
        let name = support::unique_name(prefix);
        let url = trama_lab::sandbox::databases::fresh_database(&server, &name)
            .await
            .expect("a database of its own");
        names.push(name);
        urls.push(url);
    }
    Some((server, urls[0].clone(), urls[1].clone(), names))
}

async fn drop_databases(server: &str, names: &[String]) {
    for name in names {
        let _ = trama_lab::sandbox::databases::drop_database(server, name).await;
    }
}

/// A federation whose gateway `gateway` and its replica `gateway-b` share
/// the audit log and the referral store in PostgreSQL; caritas may make 12
/// calls and then one an hour. Returns the replica's address.
async fn two_gateways(audit: &str, referrals: &str) -> (Sandbox, String) {
    let (audit, referrals) = (audit.to_string(), referrals.to_string());
    let mut fed = Sandbox::start_with(move |b| {
        b.cases_taken_as_stated(&["comune"])
            .audit_database(audit)
            .referral_store(referrals)
            .client_limit("caritas", 1.0 / 3600.0, 12.0)
    })
    .await;
    let b = fed
        .running
        .start_replica("gateway-b")
        .await
        .expect("the replica starts");
    (fed, b)
}

fn record(case: &str) -> v1::GetRecordRequest {
    let mut ctx = context("presa_in_carico");
    if let Some(c) = ctx.as_mut() {
        c.case_id = case.into();
    }
    v1::GetRecordRequest {
        context: ctx,
        subject: Some(v1::SubjectKey {
            tax_code: featured_tax_code(),
            local_ids: vec![],
        }),
        sections: vec![Section::Needs as i32],
    }
}

fn client_at(fed: &Sandbox, address: &str, org: &str) -> FederationClient<Channel> {
    fed.running
        .client_at(address, &fed.tls(org, "client"))
        .expect("a channel")
}

/// Workers that alternate their calls between the two gateways until
/// `stop`; each returns the case ids answered and the errors seen.
fn alternating_load(
    clients: [FederationClient<Channel>; 2],
    workers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(Vec<String>, usize)>> {
    (0..workers)
        .map(|w| {
            let mut clients = clients.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut answered, mut failed, mut i) = (Vec::new(), 0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let case = format!("CS-R-{w}-{i}");
                    let mut request = tonic::Request::new(record(&case));
                    request.set_timeout(Duration::from_millis(2500));
                    match clients[i % 2].get_record(request).await {
                        Ok(_) => answered.push(case),
                        Err(_) => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    i += 1;
                }
                (answered, failed)
            })
        })
        .collect()
}

/// The OK entries of every chain of the audit log at `url`, by case id,
/// with the chain each is in.
async fn audited(url: &str) -> Vec<(String, trama_audit::Entry)> {
    let store = trama_audit::Store::open(url, false).await.unwrap();
    let mut all = Vec::new();
    for chain in store.chains().await.unwrap() {
        let rows = store
            .on_chain(&chain)
            .entries_after(0, 1_000_000)
            .await
            .unwrap();
        for r in rows {
            all.push((
                chain.clone(),
                trama_audit::Entry::from_payload(&r.payload).unwrap(),
            ));
        }
    }
    store.close().await;
    all
}

fn dpo_review() -> v1::AccessLogRequest {
    v1::AccessLogRequest {
        context: support::ctx("audit", "controllo_accessi", ""),
        call: "GetRecord".into(),
        limit: 1000,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_replica_killed_under_load_loses_no_answered_call_and_both_list_every_access() {
    let Some((server, audit_url, referral_url, names)) = databases().await else {
        return;
    };
    let (mut fed, b) = two_gateways(&audit_url, &referral_url).await;
    let a = fed.running.gateway.clone();
    let clients = [client_at(&fed, &a, "comune"), client_at(&fed, &b, "comune")];

    let stop = Arc::new(AtomicBool::new(false));
    let workers = alternating_load(clients, 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        fed.running.crash("gateway-b").await,
        "kill -9 of the replica"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut failed) = (HashSet::new(), 0);
    for w in workers {
        let (a, f) = w.await.unwrap();
        answered.extend(a);
        failed += f;
    }
    eprintln!("answered {} calls, {failed} failed", answered.len());
    assert!(answered.len() > 20, "calls answered: {}", answered.len());
    assert!(failed > 0, "the kill was felt");

    // The replica comes back on its chain; nothing answered is missing.
    let b = fed.running.restart_at("gateway-b").await.unwrap();
    client_at(&fed, &b, "comune")
        .get_record(record("CS-R-AFTER"))
        .await
        .expect("the replica serves again");
    let entries = audited(&audit_url).await;
    let ok: HashSet<&str> = entries
        .iter()
        .filter(|(_, e)| e.status == "OK")
        .map(|(_, e)| e.case_id.as_str())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|c| !ok.contains(c.as_str()))
        .collect();
    assert!(lost.is_empty(), "answered, not audited: {lost:?}");
    let chains: HashSet<&str> = entries.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(chains, HashSet::from(["gateway", "gateway-b"]));

    // Either replica lists every access, the other's included.
    for address in [&a, &b] {
        let listed = client_at(&fed, address, "comune")
            .access_log(dpo_review())
            .await
            .expect("the DPO's review")
            .into_inner();
        let cases: HashSet<&str> = listed.entries.iter().map(|e| e.case_id.as_str()).collect();
        let missing: Vec<&String> = answered
            .iter()
            .filter(|c| !cases.contains(c.as_str()))
            .collect();
        assert!(missing.is_empty(), "{address} does not list {missing:?}");
        let replicas: HashSet<&str> = listed.entries.iter().map(|e| e.replica.as_str()).collect();
        assert_eq!(replicas, HashSet::from(["gateway", "gateway-b"]));
        let check = listed.chain.expect("the log's verification");
        assert!(check.intact, "{:?}", check.problems);
        assert_eq!(check.replicas.len(), 2, "{check:?}");
    }

    // `trama audit verify` verifies both chains, with both checkpoint files.
    fed.running.shut_down().await;
    let dir = fed.dir();
    let out = std::process::Command::new(exe())
        .args(["audit", "verify", "--gateway"])
        .arg(dir.join("gateway.toml"))
        .arg("--checkpoints")
        .arg(dir.join("audit-gateway-b-checkpoints.jsonl"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    for replica in ["replica gateway\n", "replica gateway-b\n"] {
        assert!(said.contains(replica), "{said}");
    }
    fed.cleanup().await;
    drop_databases(&server, &names).await;
}

#[tokio::test]
async fn a_clients_allowance_holds_across_replicas() {
    let Some((server, audit_url, referral_url, names)) = databases().await else {
        return;
    };
    let (fed, b) = two_gateways(&audit_url, &referral_url).await;
    let a = fed.running.gateway.clone();
    let mut clients = [
        client_at(&fed, &a, "caritas"),
        client_at(&fed, &b, "caritas"),
    ];
    // 30 calls alternating between the replicas: 12 pass in all, not 12
    // at each.
    let mut admitted = [0, 0];
    for i in 0..30 {
        let asked = clients[i % 2]
            .list_sources(v1::ListSourcesRequest::default())
            .await;
        match asked {
            Ok(_) => admitted[i % 2] += 1,
            Err(s) => assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}"),
        }
    }
    eprintln!(
        "admitted by gateway: {}, by gateway-b: {}",
        admitted[0], admitted[1]
    );
    assert_eq!(admitted[0] + admitted[1], 12, "{admitted:?}");
    assert!(admitted[0] > 0 && admitted[1] > 0, "{admitted:?}");
    fed.cleanup().await;
    drop_databases(&server, &names).await;
}

fn laura() -> ConsoleAccount {
    ConsoleAccount {
        username: "laura.ferrari".into(),
        name: "Laura Ferrari".into(),
        role: "assistente_sociale".into(),
        password: "una password lunga per la demo".into(),
    }
}

/// Starts console `name` of the comune keeping its sessions in `database`
/// with the key file beside the federation's files; returns its address.
async fn console(fed: &mut Sandbox, name: &str, database: &str) -> String {
    let mut file = fed.running.console_file(name, "comune", vec![laura()]);
    file.extra =
        format!("\n[sessions]\ndatabase = \"{database}\"\nkey_file = \"console-sessions.key\"\n");
    fed.running
        .start_console_file(file)
        .await
        .expect("the console starts")
}

#[tokio::test]
async fn two_consoles_share_sessions_and_a_restart_signs_nobody_out() {
    let Some(server) = support::postgres() else {
        return;
    };
    let name = support::unique_name("trama_t_sessions");
    let sessions = trama_lab::sandbox::databases::fresh_database(&server, &name)
        .await
        .expect("a database of its own");
    let mut fed = Sandbox::start().await;
    // The session key every replica is given, made once beforehand.
    trama_plumbing::sealed::create_key_file(&fed.dir().join("console-sessions.key")).unwrap();
    let a = console(&mut fed, "console-a", &sessions).await;
    let b = console(&mut fed, "console-b", &sessions).await;
    let ca = fed.dir().join("pki/ca.pem");

    // Signed in through one console, the session works through the other.
    let mut at_a = Browser::new(&a, &ca);
    let signed = at_a
        .sign_in("laura.ferrari", "una password lunga per la demo")
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let mut at_b = Browser::new(&b, &ca);
    at_b.cookie.clone_from(&at_a.cookie);
    let home = at_b.get("/find").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Laura Ferrari"), "{}", home.body);

    // The first console restarts: nobody is signed out.
    assert!(fed.running.kill("console-a").await);
    let a = console(&mut fed, "console-a", &sessions).await;
    let mut again = Browser::new(&a, &ca);
    again.cookie.clone_from(&at_a.cookie);
    assert_eq!(again.get("/find").await.status, 200, "after a restart");

    // Signing out through one console ends the session on both.
    let page = at_b.get("/find").await;
    let out = at_b.post("/logout", &format!("csrf={}", page.csrf())).await;
    assert_eq!(out.status, 303, "{}", out.body);
    let ended = again.get("/find").await;
    assert_eq!(
        (ended.status, ended.header("location")),
        (303, Some("/login")),
        "signed out everywhere"
    );

    // The database holds no cookie value and no name in clear.
    let db = sqlx::PgPool::connect(&sessions).await.expect("the store");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id_hash, sealed FROM trama_console_secret")
            .fetch_all(&db)
            .await
            .expect("the rows");
    let cookie = at_a.cookie.clone().unwrap_or_default();
    let value = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    for (hash, sealed) in rows {
        assert!(!value.is_empty() && hash != value && !sealed.contains(value));
        let opened = String::from_utf8_lossy(&hex::decode(&sealed).unwrap_or_default()).to_string();
        assert!(
            !opened.contains("Laura") && !opened.contains("laura"),
            "sealed"
        );
    }
    db.close().await;
    fed.cleanup().await;
    let _ = trama_lab::sandbox::databases::drop_database(&server, &name).await;
}
