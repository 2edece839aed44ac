//! Faults over real processes on loopback: a connector killed under load
//! and restarted, a connector that stalls past its budget (the circuit
//! opens, then closes when it recovers), a network partition and a dropping
//! link between the gateway and one connector (a fault proxy), a flood from
//! one organisation (rate limit), and the gateway killed with `kill -9`
//! under load and restarted. Each asserts what the clients saw and what the
//! audit logs hold afterwards. (A partner database that goes away and comes
//! back is in `engines.rs`.)
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{FederationBuilder, Mode, Partner, Sandbox, context, exe, featured_tax_code};
use tonic::Code;
use trama_proto::v1::{self, OutcomeStatus, Section};

/// The federation these tests start. Each call states a case id of its
/// own, which tells its answer apart in the audit logs; the comune holds no
/// such cases, so the gateway takes the comune's case ids as stated (as for
/// an organisation that maps no cases). What is under test here is the
/// sources' faults.
async fn start(configure: impl FnOnce(FederationBuilder) -> FederationBuilder) -> Sandbox {
    Sandbox::start_with(|b| configure(b.cases_taken_as_stated(&["comune", "asl"]))).await
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
        sections: vec![Section::Needs as i32, Section::Health as i32],
    }
}

fn outcome(r: &v1::GetRecordResponse, org: &str) -> OutcomeStatus {
    let o = r
        .outcomes
        .iter()
        .find(|o| o.organisation == org)
        .expect("an outcome per source");
    eprintln!(
        "{org}: {:?} {}",
        OutcomeStatus::try_from(o.status),
        o.message
    );
    OutcomeStatus::try_from(o.status).unwrap()
}

/// Every gateway audit entry, in order.
async fn audit_entries(fed: &Sandbox) -> Vec<trama_audit::Entry> {
    let url = trama_audit::Store::sqlite_url(&fed.dir().join("audit.db"));
    let store = trama_audit::Store::open(&url, false).await.unwrap();
    let rows = store.entries_after(0, 1_000_000).await.unwrap();
    store.close().await;
    rows.iter()
        .map(|r| trama_audit::Entry::from_payload(&r.payload).unwrap())
        .collect()
}

fn verify(args: &[&str], config: &std::path::Path) -> (bool, String) {
    let out = Command::new(exe())
        .args(["audit", "verify"])
        .args(args)
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// What one load worker saw: the answers (by case id) and the errors.
type LoadResult = (Vec<(String, v1::GetRecordResponse)>, Vec<tonic::Status>);

/// Runs `workers` loops of GetRecord, each call with its own case id, for
/// as long as `run` says; returns the case ids of the answers received and
/// the errors seen.
fn load(
    fed: &Sandbox,
    workers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<LoadResult>> {
    (0..workers)
        .map(|w| {
            let mut client = fed.client("comune");
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut errors = Vec::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let case = format!("CS-LOAD-{w}-{i}");
                    i += 1;
                    let mut request = tonic::Request::new(record(&case));
                    request.set_timeout(Duration::from_millis(2500));
                    match client.get_record(request).await {
                        Ok(r) => answers.push((case, r.into_inner())),
                        Err(s) => {
                            errors.push(s);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                (answers, errors)
            })
        })
        .collect()
}

#[tokio::test]
async fn a_connector_killed_under_load_is_unavailable_then_comes_back_by_itself() {
    let mut fed = start(|b| b).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers = load(&fed, 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fed.running.crash("asl").await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for w in workers {
        let (a, errors) = w.await.unwrap();
        assert!(
            errors.is_empty(),
            "a dead source is an outcome, not an error: {errors:?}"
        );
        answers.extend(a);
    }
    assert!(
        answers.len() > 20,
        "the others kept answering: {}",
        answers.len()
    );
    let unavailable: Vec<_> = answers
        .iter()
        .filter(|(_, r)| outcome(r, "asl") != OutcomeStatus::Ok)
        .collect();
    assert!(!unavailable.is_empty(), "the crash was seen");
    for (_, r) in &unavailable {
        assert!(r.partial, "an answer missing a source says so");
        assert!(matches!(
            outcome(r, "asl"),
            OutcomeStatus::Unavailable | OutcomeStatus::Timeout
        ));
        assert_eq!(outcome(r, "comune"), OutcomeStatus::Ok);
    }
    // Every answer received is in the audit log, with asl's outcome.
    let audited = audit_entries(&fed).await;
    for (case, r) in &answers {
        let e = audited
            .iter()
            .find(|e| &e.case_id == case)
            .unwrap_or_else(|| panic!("{case} answered but not audited"));
        let asl = e.sources.iter().find(|s| s.organisation == "asl").unwrap();
        let seen = trama_gateway::audit::outcome_name(
            r.outcomes
                .iter()
                .find(|o| o.organisation == "asl")
                .unwrap()
                .status,
        );
        assert_eq!(asl.outcome, seen, "{case}");
    }

    // The connector comes back on its address: the gateway's channel
    // reconnects by itself, the circuit closes after its cool-down.
    fed.running.restart("asl").await.unwrap();
    let mut client = fed.client("comune");
    let started = Instant::now();
    loop {
        let r = client
            .get_record(record("CS-BACK"))
            .await
            .unwrap()
            .into_inner();
        if outcome(&r, "asl") == OutcomeStatus::Ok {
            assert!(!r.partial);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "asl did not come back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let sources = client
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let asl = sources
        .sources
        .iter()
        .find(|s| s.organisation == "asl")
        .unwrap();
    assert_eq!(asl.circuit, "closed");

    // The connector's own audit survived the crash.
    fed.running.shut_down().await;
    let (ok, out) = verify(&["--connector"], &fed.dir().join("asl/connector.toml"));
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_stalled_connector_opens_its_circuit_and_closes_it_when_it_recovers() {
    let fed = start(|b| b).await;
    let pid = fed.running.pid("caf").expect("caf runs").to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut client = fed.client("comune");
    // Five failures in a row open the circuit (the demo's defaults): the
    // first calls time out; once the frozen peer stops acknowledging, its
    // connection may fail outright.
    for i in 0..5 {
        let mut request = tonic::Request::new(record(&format!("CS-STALL-{i}")));
        // Room for the gateway's answer after caf's budget, even on a
        // loaded CI machine (the audit commit comes after the budget).
        request.set_timeout(Duration::from_millis(1000));
        let r = client.get_record(request).await.unwrap().into_inner();
        let caf = outcome(&r, "caf");
        if i == 0 {
            assert_eq!(caf, OutcomeStatus::Timeout);
        } else {
            assert!(
                matches!(caf, OutcomeStatus::Timeout | OutcomeStatus::Unavailable),
                "{caf:?}"
            );
        }
        assert!(r.partial);
    }
    // Now caf is not waited for: the answer comes at once, marked partial.
    let started = Instant::now();
    let mut request = tonic::Request::new(record("CS-OPEN"));
    request.set_timeout(Duration::from_millis(2000));
    let r = client.get_record(request).await.unwrap().into_inner();
    let took = started.elapsed();
    assert_eq!(outcome(&r, "caf"), OutcomeStatus::Unavailable);
    let message = &r
        .outcomes
        .iter()
        .find(|o| o.organisation == "caf")
        .unwrap()
        .message;
    assert!(message.contains("circuit open"), "{message}");
    assert!(r.partial);
    assert!(
        took < Duration::from_millis(500),
        "an open circuit is not waited for: {took:?}"
    );
    let sources = client
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let caf = sources
        .sources
        .iter()
        .find(|s| s.organisation == "caf")
        .unwrap();
    assert_eq!(caf.circuit, "open");

    // It recovers: after the cool-down a probe goes through and closes it.
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        let r = client
            .get_record(record("CS-RECOVER"))
            .await
            .unwrap()
            .into_inner();
        if outcome(&r, "caf") == OutcomeStatus::Ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "caf did not recover"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let audited = audit_entries(&fed).await;
    let open = audited.iter().find(|e| e.case_id == "CS-OPEN").unwrap();
    let caf = open
        .sources
        .iter()
        .find(|s| s.organisation == "caf")
        .unwrap();
    assert_eq!(caf.outcome, "unavailable");
    fed.cleanup().await;
}

#[tokio::test]
async fn a_partition_and_a_dropping_link_to_one_connector_give_partial_answers() {
    // The gateway reaches the asl through a fault proxy; each source has
    // 700 ms, the caller allows 5 s.
    let fed = start(|b| b.fault_proxy(Partner::Asl).source_timeout_ms(700)).await;
    let proxy = fed.running.proxy("asl").expect("the asl's proxy");
    let mut client = fed.client("comune");
    let ask = |case: &str| {
        let mut r = tonic::Request::new(record(case));
        r.set_timeout(Duration::from_secs(5));
        r
    };
    let r = client
        .get_record(ask("CS-PASS"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&r, "asl"), OutcomeStatus::Ok);

    // A partition: packets vanish. The source times out within its own
    // budget, well before the caller's deadline; the others answer.
    proxy.set(Mode::Hold);
    let started = Instant::now();
    let r = client
        .get_record(ask("CS-HOLD"))
        .await
        .unwrap()
        .into_inner();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert_eq!(outcome(&r, "asl"), OutcomeStatus::Timeout);
    assert_eq!(outcome(&r, "comune"), OutcomeStatus::Ok);
    assert!(r.partial);

    // A dropping link: connections are cut and refused.
    proxy.set(Mode::Drop);
    let r = client
        .get_record(ask("CS-DROP"))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        outcome(&r, "asl"),
        OutcomeStatus::Unavailable | OutcomeStatus::Timeout
    ));
    assert!(r.partial);

    // The link heals: the channel reconnects by itself.
    proxy.set(Mode::Pass);
    let started = Instant::now();
    loop {
        let r = client
            .get_record(ask("CS-HEAL"))
            .await
            .unwrap()
            .into_inner();
        if outcome(&r, "asl") == OutcomeStatus::Ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the link did not heal"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let audited = audit_entries(&fed).await;
    for (case, want) in [("CS-HOLD", "timeout"), ("CS-PASS", "ok")] {
        let e = audited.iter().find(|e| e.case_id == case).unwrap();
        let asl = e.sources.iter().find(|s| s.organisation == "asl").unwrap();
        assert_eq!(asl.outcome, want, "{case}");
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn a_flood_from_one_organisation_is_limited_and_others_are_served() {
    // A tight allowance for caritas.
    let fed = start(|b| b.client_limit("caritas", 5.0, 5.0)).await;
    let mut caritas = fed.client("caritas");
    let mut limited = None;
    for _ in 0..20 {
        if let Err(s) = caritas
            .list_sources(v1::ListSourcesRequest::default())
            .await
        {
            limited = Some(s);
            break;
        }
    }
    let status = limited.expect("the flood is limited");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    use tonic_types::StatusExt;
    let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
    assert!(
        retry.is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(1)),
        "{retry:?}"
    );
    let quota = status.get_details_quota_failure().unwrap();
    assert_eq!(quota.violations[0].subject, "organisation:caritas");
    // The comune is not affected.
    fed.client("comune")
        .get_record(record("CS-OTHER"))
        .await
        .expect("another organisation is served");
    fed.cleanup().await;
}

#[tokio::test]
async fn the_gateway_killed_under_load_loses_no_answered_call() {
    let mut fed = start(|b| b).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers = load(&fed, 16, stop.clone());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(fed.running.crash("gateway").await, "kill -9");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut failed = 0;
    for w in workers {
        let (a, errors) = w.await.unwrap();
        failed += errors.len();
        answered
            .lock()
            .unwrap()
            .extend(a.into_iter().map(|(c, _)| c));
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 20,
        "calls were answered before the crash: {}",
        answered.len()
    );
    assert!(failed > 0, "the crash was felt");

    // Restart: the log continues, and verifies.
    fed.running.restart("gateway").await.unwrap();
    fed.client("comune")
        .get_record(record("CS-AFTER"))
        .await
        .expect("served after the restart");
    let audited: HashSet<String> = audit_entries(&fed)
        .await
        .into_iter()
        .filter(|e| e.status == "OK")
        .map(|e| e.case_id)
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|c| !audited.contains(*c)).collect();
    assert!(
        lost.is_empty(),
        "answered but not in the audit log: {lost:?}"
    );
    assert!(audited.contains("CS-AFTER"));
    fed.running.shut_down().await;
    let (ok, out) = verify(&["--gateway"], &fed.dir().join("gateway.toml"));
    assert!(ok, "{out}");
}

/// One source that does not answer in time no longer keeps the locator
/// from learning the others: with the asl partitioned, a read by tax code
/// teaches it that caritas (which holds the person under a local id only)
/// does not have them, so the next read skips caritas; the asl, which
/// said nothing, is asked again.
#[tokio::test]
async fn a_source_that_times_out_does_not_stop_the_locator_learning_the_others() {
    // The sources' budget (1.5 s) well inside the caller's deadline (6 s), so
    // the answer comes with its timeout however loaded the machine is.
    let fed = start(|b| b.fault_proxy(Partner::Asl).source_timeout_ms(1500)).await;
    let proxy = fed.running.proxy("asl").expect("the asl's proxy");
    proxy.set(Mode::Hold);
    let mut client = fed.client("comune");
    let ask = |case: &str| {
        let mut r = tonic::Request::new(record(case));
        r.set_timeout(Duration::from_secs(6));
        r
    };
    let message = |r: &v1::GetRecordResponse, org: &str| {
        r.outcomes
            .iter()
            .find(|o| o.organisation == org)
            .map(|o| o.message.clone())
            .unwrap_or_default()
    };
    let first = client
        .get_record(ask("CS-LEARN-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&first, "asl"), OutcomeStatus::Timeout);
    assert_eq!(outcome(&first, "caritas"), OutcomeStatus::NotFound);
    assert!(!message(&first, "caritas").contains("locator"));
    let second = client
        .get_record(ask("CS-LEARN-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        message(&second, "caritas").contains("locator cache"),
        "caritas asked again: {:?}",
        second.outcomes
    );
    assert_eq!(
        outcome(&second, "asl"),
        OutcomeStatus::Timeout,
        "asked again"
    );
    assert_eq!(outcome(&second, "comune"), OutcomeStatus::Ok);
    // Back: the asl answers, and is remembered as holding the person.
    proxy.set(Mode::Pass);
    let third = client
        .get_record(ask("CS-LEARN-3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&third, "asl"), OutcomeStatus::Ok);
    fed.cleanup().await;
}
