//! Referrals over real processes: the health authority's CPS refers a
//! person to the comune's social services; the gateway stores the referral
//! sealed, delivers it exactly once into the comune's own inbox table
//! (`segnalazioni_in`) through its connector, deletes the content once the
//! connector acknowledges, and the sender follows the status the comune's
//! own software writes. Delivery survives the target being down, the
//! gateway killed with SIGKILL and a lost acknowledgement; a retried send
//! is one referral; bad input and every refusal name the field or the
//! state.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Sandbox, featured_tax_code};
use tonic::Code;
use trama_lab::sandbox::Mode;
use trama_lab::seed::Partner;
use trama_proto::v1;

const MESSAGE: &str = "Persona seguita dal CPS, chiede aiuto per la casa dopo le dimissioni";

fn cps() -> Option<v1::RequestContext> {
    support::ctx("operatore_cps", "segnalazione", "CPS-2026-0117")
}

fn request(key: &str, message: &str) -> v1::SendReferralRequest {
    v1::SendReferralRequest {
        context: cps(),
        idempotency_key: key.into(),
        target: "comune".into(),
        target_service: String::new(),
        content: Some(v1::ReferralContent {
            person: Some(v1::ReferredPerson {
                tax_code: featured_tax_code(),
                ..Default::default()
            }),
            reasons: vec!["mental-health".into(), "housing".into()],
            message: message.into(),
        }),
        urgency: v1::Urgency::Urgent as i32,
    }
}

async fn start() -> Sandbox {
    Sandbox::start_with(|b| b.referral_poll_seconds(1)).await
}

async fn send(fed: &Sandbox, key: &str) -> v1::SendReferralResponse {
    fed.client("asl")
        .send_referral(request(key, MESSAGE))
        .await
        .expect("sent")
        .into_inner()
}

async fn get(fed: &Sandbox, org: &str, id: &str) -> Result<v1::Referral, tonic::Status> {
    fed.client(org)
        .get_referral(v1::GetReferralRequest {
            context: cps(),
            id: id.into(),
        })
        .await
        .map(|r| r.into_inner().referral.expect("a referral"))
}

/// Reads the referral until `done` holds (at most 30 s).
async fn until(
    fed: &Sandbox,
    id: &str,
    what: &str,
    done: impl Fn(&v1::Referral) -> bool,
) -> v1::Referral {
    let started = Instant::now();
    loop {
        let r = get(fed, "asl", id).await.expect("readable by its sender");
        if done(&r) {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never {what}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn delivered(r: &v1::Referral) -> bool {
    r.delivery == v1::Delivery::Delivered as i32
}

async fn comune_db(fed: &Sandbox) -> sqlx::SqlitePool {
    let file = fed.dir().join("comune").join("comune.db");
    sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("the comune's database")
}

/// Rows of the comune's inbox for `id`.
async fn inbox_rows(fed: &Sandbox, id: &str) -> i64 {
    let db = comune_db(fed).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segnalazioni_in WHERE id_trama = ?")
        .bind(id)
        .fetch_one(&db)
        .await
        .expect("counted");
    db.close().await;
    n
}

fn holds(file: &Path, clear: &str) -> bool {
    let bytes = std::fs::read(file).unwrap_or_default();
    bytes.windows(clear.len()).any(|w| w == clear.as_bytes())
}

#[tokio::test]
async fn a_referral_arrives_once_and_the_sender_sees_the_comune_accept_it() {
    let fed = start().await;
    let sent = send(&fed, "cps-0117-1").await;
    assert!(!sent.replayed);
    let r = sent.referral.expect("stored");
    assert_eq!(r.status, v1::ReferralStatus::Requested as i32);
    let r = until(&fed, &r.id, "delivered", delivered).await;
    assert_eq!(inbox_rows(&fed, &r.id).await, 1);
    // The comune's operators read what it says, from the comune's own
    // table; its sender, who wrote it, gets none of it back.
    let at_target = get(&fed, "comune", &r.id)
        .await
        .expect("the target reads it");
    let content = at_target.content.expect("read from the comune's table");
    assert_eq!(
        content.person.map(|p| p.tax_code),
        Some(featured_tax_code())
    );
    assert_eq!(content.reasons, ["mental-health", "housing"]);
    assert_eq!(content.message, MESSAGE);
    assert_eq!(r.content, None, "the sender gets no content back");
    let db = comune_db(&fed).await;
    let (cf, reasons, state): (String, String, String) = sqlx::query_as(
        "SELECT codice_fiscale, motivi, stato FROM segnalazioni_in WHERE id_trama = ?",
    )
    .bind(&r.id)
    .fetch_one(&db)
    .await
    .expect("the row");
    assert_eq!(
        (cf.as_str(), reasons.as_str(), state.as_str()),
        (
            featured_tax_code().as_str(),
            "mental-health,housing",
            "NUOVA"
        )
    );

    // The content is gone from the gateway's store, and never was there
    // in clear text.
    let store = fed.dir().join("referrals.db");
    let store_db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", store.display()))
        .await
        .expect("the gateway's referral store");
    let sealed: Option<String> =
        sqlx::query_scalar("SELECT sealed FROM trama_referral WHERE id = ?")
            .bind(&r.id)
            .fetch_one(&store_db)
            .await
            .expect("the referral's row");
    assert_eq!(sealed, None, "content deleted once delivered");
    store_db.close().await;
    for file in ["referrals.db", "referrals.db-wal"] {
        for clear in [MESSAGE, featured_tax_code().as_str(), "mental-health"] {
            assert!(
                !holds(&fed.dir().join(file), clear),
                "{file} holds `{clear}`"
            );
        }
    }

    // A retried send is the same referral; the same key with another
    // content is refused.
    let again = send(&fed, "cps-0117-1").await;
    assert!(again.replayed);
    assert_eq!(again.referral.expect("the same").id, r.id);
    let other = fed
        .client("asl")
        .send_referral(request("cps-0117-1", "un altro messaggio"))
        .await
        .expect_err("refused");
    assert_eq!(other.code(), Code::AlreadyExists);
    assert!(
        other.message().contains("idempotency_key"),
        "{}",
        other.message()
    );
    assert_eq!(inbox_rows(&fed, &r.id).await, 1);

    // The comune's own software accepts it in its own table.
    sqlx::query(
        "UPDATE segnalazioni_in SET stato = 'PRESA', operatore = 'laura.ferrari', \
         aggiornata = strftime('%Y-%m-%d %H:%M:%S', 'now') WHERE id_trama = ?",
    )
    .bind(&r.id)
    .execute(&db)
    .await
    .expect("accepted in the comune's software");
    db.close().await;
    let accepted = until(&fed, &r.id, "accepted", |r| {
        r.status == v1::ReferralStatus::Accepted as i32
    })
    .await;
    let last = accepted.history.last().expect("a history");
    assert_eq!(
        (
            last.organisation.as_str(),
            last.operator_id.as_str(),
            last.via.as_str()
        ),
        ("comune", "laura.ferrari", "partner-system")
    );

    // Both sides audited it, as about the person.
    let entries = support::gateway_audit(&fed).await;
    let send = entries
        .iter()
        .find(|e| e.call == "SendReferral" && e.status == "OK")
        .expect("the send audited");
    assert!(!send.subjects.is_empty(), "{send:?}");
    assert!(send.sections_asked.contains(&format!("referral:{}", r.id)));
    assert!(
        !serde_json::to_string(&entries)
            .unwrap_or_default()
            .contains(MESSAGE),
        "no content in the audit log"
    );
    fed.cleanup().await;
}

/// A client that builds its keys from the person's tax code: the gateway
/// keeps only a keyed fingerprint of the key, so the tax code is nowhere in
/// its store, and a retry with the same key is still the same referral.
#[tokio::test]
async fn a_key_built_from_a_tax_code_is_kept_only_as_a_fingerprint() {
    let fed = start().await;
    let tax_code = featured_tax_code();
    let key = format!("cps-{tax_code}");
    let sent = send(&fed, &key).await;
    assert!(!sent.replayed);
    let r = sent.referral.expect("stored");
    assert_eq!(r.idempotency_key, key, "the sender is told its own key");
    until(&fed, &r.id, "delivered", delivered).await;

    let again = send(&fed, &key).await;
    assert!(again.replayed, "the same key is the same referral");
    assert_eq!(again.referral.expect("the same").id, r.id);
    // Neither side reads the key back from the gateway.
    for org in ["asl", "comune"] {
        let read = get(&fed, org, &r.id).await.expect("a party reads it");
        assert_eq!(read.idempotency_key, "", "{org} reads no key");
    }

    let store = fed.dir().join("referrals.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", store.display()))
        .await
        .expect("the gateway's referral store");
    let keys: Vec<String> = sqlx::query_scalar("SELECT key_fingerprint FROM trama_referral")
        .fetch_all(&db)
        .await
        .expect("the fingerprints");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].len(), 64, "a keyed hash: {}", keys[0]);
    db.close().await;
    for file in ["referrals.db", "referrals.db-wal", "referrals.db-shm"] {
        for clear in [tax_code.as_str(), key.as_str()] {
            assert!(
                !holds(&fed.dir().join(file), clear),
                "{file} holds `{clear}`"
            );
        }
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn a_target_down_at_send_gets_it_once_when_back() {
    let mut fed = start().await;
    assert!(fed.running.crash("comune").await);
    let r = send(&fed, "down-1")
        .await
        .referral
        .expect("stored while down");
    let waiting = until(&fed, &r.id, "retried", |r| r.delivery_attempts >= 1).await;
    assert_eq!(waiting.delivery, v1::Delivery::Pending as i32);
    assert!(
        !waiting.delivery_problem.is_empty(),
        "says why: {waiting:?}"
    );
    fed.running
        .restart("comune")
        .await
        .expect("the comune back");
    until(&fed, &r.id, "delivered", delivered).await;
    assert_eq!(inbox_rows(&fed, &r.id).await, 1);
    fed.cleanup().await;
}

#[tokio::test]
async fn a_gateway_killed_after_storing_delivers_once_after_restart() {
    let mut fed = start().await;
    assert!(fed.running.crash("comune").await);
    let r = send(&fed, "crash-1").await.referral.expect("stored");
    // Stored and answered; SIGKILL before it could be delivered.
    assert!(fed.running.kill("gateway").await);
    fed.running
        .restart("comune")
        .await
        .expect("the comune back");
    fed.running
        .restart("gateway")
        .await
        .expect("the gateway back");
    until(&fed, &r.id, "delivered", delivered).await;
    assert_eq!(inbox_rows(&fed, &r.id).await, 1);
    fed.cleanup().await;
}

#[tokio::test]
async fn a_lost_acknowledgement_leaves_one_row_at_the_target() {
    let fed =
        Sandbox::start_with(|b| b.referral_poll_seconds(1).fault_proxy(Partner::Comune)).await;
    let proxy = fed.running.proxy("comune").expect("the comune's proxy");
    proxy.set(Mode::LoseAnswers);
    let r = send(&fed, "lost-ack-1").await.referral.expect("stored");
    // The connector writes the row; the gateway never hears so.
    let started = Instant::now();
    while inbox_rows(&fed, &r.id).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "never written");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waiting = until(&fed, &r.id, "retried", |r| r.delivery_attempts >= 1).await;
    assert_eq!(waiting.delivery, v1::Delivery::Pending as i32);
    proxy.set(Mode::Drop);
    proxy.set(Mode::Pass);
    until(&fed, &r.id, "delivered", delivered).await;
    assert_eq!(
        inbox_rows(&fed, &r.id).await,
        1,
        "redelivered, not rewritten"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn an_overdue_referral_is_flagged_in_lists_and_metrics() {
    let fed = Sandbox::start_with(|b| b.referral_poll_seconds(1).referral_deadline_days(0)).await;
    let r = send(&fed, "late-1").await.referral.expect("stored");
    let list = |org: &'static str, r#box: v1::ReferralBox| {
        let mut client = fed.client(org);
        async move {
            client
                .list_referrals(v1::ListReferralsRequest {
                    context: cps(),
                    r#box: r#box as i32,
                    overdue_only: true,
                    ..Default::default()
                })
                .await
                .expect("listed")
                .into_inner()
        }
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let outbox = list("asl", v1::ReferralBox::Outbox).await;
    assert_eq!(outbox.overdue, 1);
    assert!(outbox.referrals.iter().any(|x| x.id == r.id && x.overdue));
    let inbox = list("comune", v1::ReferralBox::Inbox).await;
    assert!(inbox.referrals.iter().any(|x| x.id == r.id && x.overdue));
    let started = Instant::now();
    loop {
        let metrics = support::scrape(&fed).await;
        if metrics.contains("trama_referrals_overdue 1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{metrics}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn bad_referrals_and_forbidden_steps_are_refused_naming_why() {
    let fed = start().await;
    let refused = |req: v1::SendReferralRequest| {
        let mut client = fed.client("asl");
        async move { client.send_referral(req).await.expect_err("refused") }
    };
    let cases: Vec<(v1::SendReferralRequest, Code, &str)> = vec![
        (
            v1::SendReferralRequest {
                target: "prefettura".into(),
                ..request("b1", "m")
            },
            Code::FailedPrecondition,
            "prefettura",
        ),
        (
            v1::SendReferralRequest {
                target: "caritas".into(),
                ..request("b2", "m")
            },
            Code::FailedPrecondition,
            "caritas does not take referrals",
        ),
        (
            {
                let mut r = request("b3", "m");
                r.content.as_mut().unwrap().person = None;
                r
            },
            Code::InvalidArgument,
            "content.person",
        ),
        (
            {
                let mut r = request("b4", "m");
                r.content.as_mut().unwrap().reasons = vec!["sfratto".into()];
                r
            },
            Code::InvalidArgument,
            "content.reasons[0]",
        ),
        (
            request("b5", &"x".repeat(4_001)),
            Code::InvalidArgument,
            "4000",
        ),
        (
            v1::SendReferralRequest {
                idempotency_key: String::new(),
                ..request("b6", "m")
            },
            Code::InvalidArgument,
            "idempotency_key",
        ),
        (
            v1::SendReferralRequest {
                context: support::ctx("assistente_sociale", "segnalazione", ""),
                ..request("b7", "m")
            },
            Code::PermissionDenied,
            "default-deny",
        ),
    ];
    for (req, code, says) in cases {
        let status = refused(req).await;
        assert_eq!(status.code(), code, "{says}: {}", status.message());
        let details = format!("{} {:?}", status.message(), status.details());
        assert!(
            status.message().contains(says) || details.contains(says),
            "{says}: {}",
            status.message()
        );
    }

    let r = send(&fed, "ok-1").await.referral.expect("stored");
    // Only its parties see it.
    let stranger = get(&fed, "caritas", &r.id)
        .await
        .expect_err("not caritas's");
    assert_eq!(stranger.code(), Code::NotFound);
    // The comune cannot complete what it has not accepted; the sender
    // cannot accept it; a rejection needs a reason.
    let change = |org: &'static str, status: v1::ReferralStatus, reason: &str| {
        let mut client = fed.client(org);
        let req = v1::UpdateReferralRequest {
            context: cps(),
            id: r.id.clone(),
            status: status as i32,
            reason: reason.into(),
        };
        async move { client.update_referral(req).await }
    };
    let early = change("comune", v1::ReferralStatus::Completed, "")
        .await
        .expect_err("refused");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(
        early.message().contains("is requested"),
        "{}",
        early.message()
    );
    let wrong = change("asl", v1::ReferralStatus::Accepted, "")
        .await
        .expect_err("refused");
    assert_eq!(wrong.code(), Code::FailedPrecondition);
    let bare = change("comune", v1::ReferralStatus::Rejected, " ")
        .await
        .expect_err("refused");
    assert!(bare.message().contains("reason"), "{}", bare.message());
    let rejected = change("comune", v1::ReferralStatus::Rejected, "non residente")
        .await
        .expect("rejected")
        .into_inner()
        .referral
        .expect("the referral");
    assert_eq!(rejected.status_reason, "non residente");
    fed.cleanup().await;
}

#[tokio::test]
async fn a_target_whose_rules_refuse_the_sender_rejects_it_and_keeps_nothing() {
    let fed = Sandbox::start_with(|b| {
        b.referral_poll_seconds(1).export(
            Partner::Comune,
            vec![trama_lab::sandbox::ExportRule::referrals_from(
                &["caritas"],
                &["segnalazione"],
            )],
        )
    })
    .await;
    let r = send(&fed, "rules-1").await.referral.expect("stored");
    let r = until(&fed, &r.id, "refused", |r| {
        r.delivery == v1::Delivery::Refused as i32
    })
    .await;
    assert_eq!(r.status, v1::ReferralStatus::Rejected as i32);
    assert!(r.status_reason.contains("asl"), "{}", r.status_reason);
    assert_eq!(inbox_rows(&fed, &r.id).await, 0);
    fed.cleanup().await;
}

#[tokio::test]
async fn gateways_as_replicas_keep_referrals_in_postgresql() {
    let Some(server) = support::postgres() else {
        return;
    };
    let name = support::unique_name("trama_t_referrals");
    let url = trama_lab::sandbox::databases::fresh_database(&server, &name)
        .await
        .expect("a database of its own");
    let store = url.clone();
    let fed = Sandbox::start_with(move |b| b.referral_poll_seconds(1).referral_store(store)).await;
    let r = send(&fed, "pg-1").await.referral.expect("stored");
    until(&fed, &r.id, "delivered", delivered).await;
    assert!(send(&fed, "pg-1").await.replayed, "one referral per key");
    let db = sqlx::PgPool::connect(&url).await.expect("the store");
    let (sealed, status): (Option<String>, i64) =
        sqlx::query_as("SELECT sealed, status FROM trama_referral WHERE id = $1")
            .bind(&r.id)
            .fetch_one(&db)
            .await
            .expect("the referral's row");
    assert_eq!(sealed, None, "content deleted once delivered");
    assert_eq!(status, v1::ReferralStatus::Requested as i64);
    db.close().await;
    assert!(
        !fed.dir().join("referrals.db").exists(),
        "no SQLite store beside PostgreSQL"
    );
    fed.cleanup().await;
    let _ = trama_lab::sandbox::databases::drop_database(&server, &name).await;
}

/// A PostgreSQL store written by the version that kept keys as sent: the
/// gateway fingerprints them when it starts, and the key still finds its
/// referral.
#[tokio::test]
async fn a_store_that_kept_keys_in_clear_is_fingerprinted_when_the_gateway_starts() {
    let Some(server) = support::postgres() else {
        return;
    };
    let name = support::unique_name("trama_t_clear_keys");
    let url = trama_lab::sandbox::databases::fresh_database(&server, &name)
        .await
        .expect("a database of its own");
    let key = format!("cps-{}", featured_tax_code());
    let db = sqlx::PgPool::connect(&url).await.expect("the store");
    sqlx::query(
        "CREATE TABLE trama_referral (id TEXT PRIMARY KEY, sender TEXT NOT NULL, \
         sender_operator TEXT NOT NULL, idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, \
         target TEXT NOT NULL, target_service TEXT NOT NULL, urgency BIGINT NOT NULL, \
         purpose TEXT NOT NULL, case_id TEXT NOT NULL, status BIGINT NOT NULL, \
         status_reason TEXT NOT NULL, created BIGINT NOT NULL, due BIGINT NOT NULL, \
         delivery BIGINT NOT NULL, attempts BIGINT NOT NULL, next_attempt BIGINT NOT NULL, \
         problem TEXT NOT NULL, delivered BIGINT NOT NULL, sealed TEXT, subjects TEXT NOT NULL, \
         UNIQUE (sender, idempotency_key))",
    )
    .execute(&db)
    .await
    .expect("the earlier table");
    sqlx::query(
        "INSERT INTO trama_referral VALUES ('r-before', 'asl', 'op-cps-01', $1, 'f', 'comune', '', \
         3, 'segnalazione', 'CPS-2026-0117', 1, '', 1, 2, 2, 0, 1, '', 1, NULL, '')",
    )
    .bind(&key)
    .execute(&db)
    .await
    .expect("a referral of the earlier version");

    let store = url.clone();
    let fed = Sandbox::start_with(move |b| b.referral_store(store)).await;
    // The key finds the referral it was used for (with other content:
    // refused, naming it).
    let reused = fed
        .client("asl")
        .send_referral(request(&key, MESSAGE))
        .await
        .expect_err("the key is taken");
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
    assert!(
        reused.message().contains("r-before"),
        "{}",
        reused.message()
    );
    let kept: Vec<String> = sqlx::query_scalar("SELECT key_fingerprint FROM trama_referral")
        .fetch_all(&db)
        .await
        .expect("the fingerprints");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].len(), 64, "{}", kept[0]);
    assert!(!kept[0].contains(&featured_tax_code()));
    db.close().await;
    fed.cleanup().await;
    let _ = trama_lab::sandbox::databases::drop_database(&server, &name).await;
}

#[tokio::test]
async fn a_change_made_through_trama_reaches_the_partners_own_table() {
    let fed = start().await;
    let r = send(&fed, "write-back-1").await.referral.expect("stored");
    until(&fed, &r.id, "delivered", delivered).await;
    fed.client("comune")
        .update_referral(v1::UpdateReferralRequest {
            context: support::ctx("assistente_sociale", "segnalazione", ""),
            id: r.id.clone(),
            status: v1::ReferralStatus::Accepted as i32,
            reason: String::new(),
        })
        .await
        .expect("accepted in the console");
    // The comune's own software sees it in its table.
    let db = comune_db(&fed).await;
    let started = Instant::now();
    loop {
        let (state, operator): (String, Option<String>) =
            sqlx::query_as("SELECT stato, operatore FROM segnalazioni_in WHERE id_trama = ?")
                .bind(&r.id)
                .fetch_one(&db)
                .await
                .expect("the row");
        if state == "PRESA" {
            assert_eq!(operator.as_deref(), Some("op-test"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.close().await;
    // Read back from the table, it is the same step: recorded once.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = get(&fed, "asl", &r.id).await.expect("read");
    assert_eq!(r.history.len(), 2, "{:?}", r.history);
    fed.cleanup().await;
}

#[tokio::test]
async fn a_comune_on_postgresql_takes_referrals_and_its_changes_are_followed() {
    let Some(server) = support::postgres() else {
        return;
    };
    let fed = Sandbox::start_with(move |b| b.referral_poll_seconds(1).postgres(Some(server))).await;
    let r = send(&fed, "pg-inbox-1").await.referral.expect("stored");
    until(&fed, &r.id, "delivered", delivered).await;
    let url = fed
        .running
        .database_url("comune")
        .expect("the comune's database")
        .to_string();
    let db = sqlx::PgPool::connect(&url)
        .await
        .expect("the comune on PostgreSQL");
    let (state, born): (String, Option<time::Date>) =
        sqlx::query_as("SELECT stato, data_nascita FROM segnalazioni_in WHERE id_trama = $1")
            .bind(&r.id)
            .fetch_one(&db)
            .await
            .expect("the row");
    assert_eq!((state.as_str(), born), ("NUOVA", None));
    sqlx::query(
        "UPDATE segnalazioni_in SET stato = 'IN_CORSO', operatore = 'laura.ferrari', \
         aggiornata = to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS') WHERE id_trama = $1",
    )
    .bind(&r.id)
    .execute(&db)
    .await
    .expect("changed in the comune's software");
    // Taken through `accepted` between two reads: followed, the step
    // between inferred.
    let moved = until(&fed, &r.id, "in progress", |r| {
        r.status == v1::ReferralStatus::InProgress as i32
    })
    .await;
    let vias: Vec<&str> = moved.history.iter().map(|e| e.via.as_str()).collect();
    assert_eq!(vias, ["trama", "inferred", "partner-system"], "{moved:?}");
    // Backwards is not a step the referral's life allows: ignored.
    sqlx::query(
        "UPDATE segnalazioni_in SET stato = 'PRESA', \
         aggiornata = to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS') WHERE id_trama = $1",
    )
    .bind(&r.id)
    .execute(&db)
    .await
    .expect("moved back in the comune's software");
    db.close().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let now = get(&fed, "asl", &r.id).await.expect("read");
    assert_eq!(now.status, v1::ReferralStatus::InProgress as i32);
    fed.cleanup().await;
}

/// Sets a referral's row in the comune's own table as its software would:
/// status, note and operator, changed now.
async fn comune_sets(db: &sqlx::SqlitePool, id: &str, state: &str, note: &str) {
    sqlx::query(
        "UPDATE segnalazioni_in SET stato = ?, nota_stato = ?, operatore = 'marta.sociale', \
         aggiornata = strftime('%Y-%m-%d %H:%M:%S', 'now') WHERE id_trama = ?",
    )
    .bind(state)
    .bind(note)
    .bind(id)
    .execute(db)
    .await
    .expect("changed in the comune's software");
}

/// Sends `n` referrals (keys `prefix-i`) and waits until each is in the
/// comune's table.
async fn delivered_referrals(fed: &Sandbox, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let r = send(fed, &format!("{prefix}-{i}"))
            .await
            .referral
            .expect("stored");
        ids.push(r.id);
    }
    for id in &ids {
        until(fed, id, "delivered", delivered).await;
    }
    ids
}

fn named(status: v1::ReferralStatus) -> i32 {
    status as i32
}

/// The comune's software moves referrals through several statuses faster
/// than the gateway reads its table, and while its connector and then the
/// gateway are down: every sender ends in the comune's final status, the
/// steps between recorded as inferred, in the order of the referral's
/// life; a status no step reaches (backwards) changes nothing.
#[tokio::test]
async fn every_step_the_partner_takes_between_reads_is_followed_to_its_final_status() {
    use v1::ReferralStatus::*;
    let mut fed = start().await;
    let ids = delivered_referrals(&fed, "jump", 8).await;
    let db = comune_db(&fed).await;
    // Between two reads (the gateway reads every second): two or three
    // statuses in a few milliseconds.
    let finals = [
        ("IN_CORSO", InProgress, vec![Accepted, InProgress]),
        ("CHIUSA", Completed, vec![Accepted, Completed]),
        ("NON_RIUSCITA", Failed, vec![Accepted, Failed]),
        ("RIFIUTATA", Rejected, vec![Rejected]),
    ];
    for (id, (state, _, _)) in ids[..4].iter().zip(&finals) {
        comune_sets(&db, id, "PRESA", "").await;
        comune_sets(&db, id, state, "").await;
    }
    // While the comune's connector is down: moved, then read when it is
    // back.
    assert!(fed.running.kill("comune").await);
    for (id, (state, _, _)) in ids[4..].iter().zip(&finals) {
        comune_sets(&db, id, state, "").await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    fed.running
        .restart("comune")
        .await
        .expect("the comune back");
    for (id, (_, status, steps)) in ids.iter().zip(finals.iter().chain(&finals)) {
        let r = until(&fed, id, "in the comune's final status", |r| {
            r.status == named(*status)
        })
        .await;
        let seen: Vec<i32> = r.history.iter().skip(1).map(|e| e.status).collect();
        let expected: Vec<i32> = steps.iter().map(|s| named(*s)).collect();
        assert_eq!(seen, expected, "{id}: {:?}", r.history);
        let last = r.history.last().expect("a history");
        assert_eq!(last.via, "partner-system");
        assert_eq!(last.operator_id, "marta.sociale");
        for inferred in &r.history[1..r.history.len() - 1] {
            assert_eq!(inferred.via, "inferred", "{:?}", r.history);
        }
        if matches!(status, Failed | Rejected) {
            assert!(!last.reason.is_empty(), "a closure says why: {last:?}");
        }
    }
    let metrics = support::scrape(&fed).await;
    assert!(
        metrics.contains("trama_referral_steps_inferred_total"),
        "inferred steps are counted"
    );
    // The gateway down while the comune closes one: followed after its
    // restart, from where it had read.
    assert!(fed.running.kill("gateway").await);
    comune_sets(&db, &ids[0], "CHIUSA", "").await;
    fed.running
        .restart("gateway")
        .await
        .expect("the gateway back");
    let r = until(&fed, &ids[0], "completed", |r| r.status == named(Completed)).await;
    assert_eq!(r.history.len(), 4, "{:?}", r.history);
    // Backwards is not a step: the referral stays completed.
    comune_sets(&db, &ids[0], "PRESA", "").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = get(&fed, "asl", &ids[0]).await.expect("read");
    assert_eq!(r.status, named(Completed));
    assert_eq!(r.history.len(), 4, "{:?}", r.history);
    db.close().await;
    fed.cleanup().await;
}

/// The sender withdraws a referral: the comune's own table says so, as
/// its software reads it.
#[tokio::test]
async fn a_cancellation_reaches_the_targets_own_table() {
    let fed = start().await;
    let ids = delivered_referrals(&fed, "cancel", 1).await;
    let withdrawn = fed
        .client("asl")
        .update_referral(v1::UpdateReferralRequest {
            context: cps(),
            id: ids[0].clone(),
            status: v1::ReferralStatus::Cancelled as i32,
            reason: "inviata due volte".into(),
        })
        .await
        .expect("cancelled by its sender")
        .into_inner();
    assert_eq!(
        withdrawn.referral.map(|r| r.status),
        Some(v1::ReferralStatus::Cancelled as i32)
    );
    let db = comune_db(&fed).await;
    let started = Instant::now();
    loop {
        let (state, note): (String, Option<String>) =
            sqlx::query_as("SELECT stato, nota_stato FROM segnalazioni_in WHERE id_trama = ?")
                .bind(&ids[0])
                .fetch_one(&db)
                .await
                .expect("the row");
        if state == "ANNULLATA" {
            assert_eq!(note.as_deref(), Some("inviata due volte"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.close().await;
    fed.cleanup().await;
}

/// Referrals that waited through a long outage of the comune are
/// delivered as soon as its connector answers again, not at the end of
/// their back-off (16 s by then).
#[tokio::test]
async fn a_partner_back_gets_its_waiting_referrals_at_once() {
    let mut fed = start().await;
    assert!(fed.running.crash("comune").await);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = send(&fed, &format!("outage-{i}"))
            .await
            .referral
            .expect("stored");
        ids.push(r.id);
    }
    for id in &ids {
        until(&fed, id, "retried five times", |r| r.delivery_attempts >= 5).await;
    }
    fed.running
        .restart("comune")
        .await
        .expect("the comune back");
    let back = Instant::now();
    for id in &ids {
        until(&fed, id, "delivered", delivered).await;
    }
    let took = back.elapsed();
    eprintln!("the last of 5 waiting referrals delivered {took:?} after the comune came back");
    // After five attempts the next was 16 s away.
    assert!(
        took < Duration::from_secs(8),
        "delivered {took:?} after the comune came back"
    );
    fed.cleanup().await;
}

/// The comune's connector reads a referral's content for the comune's
/// own operators only: asked on the sender's behalf (even with the
/// gateway's own certificate), it refuses and reads nothing; the gateway
/// gives the sender no content either.
#[tokio::test]
async fn a_referrals_content_is_read_for_its_target_only() {
    let fed = start().await;
    let r = send(&fed, "read-1").await.referral.expect("stored");
    until(&fed, &r.id, "delivered", delivered).await;
    let config = trama_tls::client::client_config(&fed.tls("gateway", "gateway")).unwrap();
    let channel = trama_tls::client::channel(
        &fed.connector_address("comune"),
        config,
        trama_tls::client::ExpectedPeer {
            federation: "demo".into(),
            organisation: Some("comune".into()),
            role: trama_tls::Role::Connector,
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let mut connector = v1::connector_client::ConnectorClient::new(channel);
    let refused = connector
        .read_referral(v1::ReadReferralRequest {
            id: r.id.clone(),
            context: cps(),
            client_organisation: "asl".into(),
        })
        .await
        .expect_err("not the comune's own operator");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("own operators"), "{refused:?}");
    let own = connector
        .read_referral(v1::ReadReferralRequest {
            id: r.id.clone(),
            context: support::ctx("assistente_sociale", "segnalazione", ""),
            client_organisation: "comune".into(),
        })
        .await
        .expect("the comune's own")
        .into_inner();
    assert!(own.found);
    let by_sender = get(&fed, "asl", &r.id).await.expect("read by its sender");
    assert_eq!(by_sender.content, None);
    fed.cleanup().await;
}

#[tokio::test]
async fn a_referral_store_and_key_restored_from_a_backup_deliver_what_was_waiting() {
    let mut fed = start().await;
    // The comune is down: the referral waits in the store, sealed.
    assert!(fed.running.crash("comune").await);
    let r = send(&fed, "backup-1").await.referral.expect("stored");
    // The backup, as the operations guide says: the store copied while the
    // gateway serves, the key copied apart.
    let (store, key) = (
        fed.dir().join("referrals.db"),
        fed.dir().join("referrals.key"),
    );
    let (store_copy, key_copy) = (
        fed.tmp.path().join("referrals-backup.db"),
        fed.tmp.path().join("referrals-backup.key"),
    );
    let pool = sqlite_pool(&store).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        store_copy.display()
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    std::fs::copy(&key, &key_copy).unwrap();

    // The gateway's machine is lost with its files; both are put back.
    assert!(fed.running.kill("gateway").await);
    for lost in [
        "referrals.db",
        "referrals.db-wal",
        "referrals.db-shm",
        "referrals.key",
    ] {
        let _ = std::fs::remove_file(fed.dir().join(lost));
    }
    std::fs::copy(&store_copy, &store).unwrap();
    std::fs::copy(&key_copy, &key).unwrap();
    fed.running
        .restart("comune")
        .await
        .expect("the comune back");
    fed.running
        .restart("gateway")
        .await
        .expect("the gateway back");

    // The sealed content opens with the restored key and reaches the inbox once.
    let done = until(&fed, &r.id, "delivered after the restore", delivered).await;
    assert_eq!(
        done.status,
        v1::ReferralStatus::Requested as i32,
        "{done:?}"
    );
    assert_eq!(inbox_rows(&fed, &r.id).await, 1);
    fed.cleanup().await;
}

/// A pool on the SQLite file at `path`, to copy it as a backup tool would.
async fn sqlite_pool(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// The consortium's cooperatives take requests for a service too: the
/// listening centre sends one for home care, it lands once in the
/// consortium's own table, and the coordinators' change of status reaches
/// the sender.
#[tokio::test]
async fn the_consortium_takes_a_request_for_a_service_and_its_answer_reaches_the_sender() {
    let fed = start().await;
    let sent = fed
        .client("caritas")
        .send_referral(v1::SendReferralRequest {
            context: support::ctx("operatore_centro_ascolto", "segnalazione", ""),
            idempotency_key: "cdA-gab-sad-1".into(),
            target: "consorzio".into(),
            target_service: "consorzio/GAB-SAD".into(),
            content: Some(v1::ReferralContent {
                person: Some(v1::ReferredPerson {
                    tax_code: featured_tax_code(),
                    ..Default::default()
                }),
                reasons: vec!["loneliness".into()],
                message: "Vive solo, non riesce più a lavarsi da solo.".into(),
            }),
            urgency: v1::Urgency::Routine as i32,
        })
        .await
        .expect("sent")
        .into_inner();
    let id = sent.referral.expect("stored").id;
    let started = Instant::now();
    let consorzio = fed.dir().join("consorzio").join("consorzio.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", consorzio.display()))
        .await
        .expect("the consortium's database");
    loop {
        let r = get(&fed, "caritas", &id)
            .await
            .expect("readable by its sender");
        if delivered(&r) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never delivered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (service, state): (String, String) =
        sqlx::query_as("SELECT servizio, stato FROM richieste_in WHERE id_trama = ?")
            .bind(&id)
            .fetch_one(&db)
            .await
            .expect("the request in the consortium's table");
    assert!(service.ends_with("GAB-SAD"), "{service}");
    assert_eq!(state, "RICEVUTA");
    // A coordinator takes it up in the consortium's own system.
    sqlx::query(
        "UPDATE richieste_in SET stato = 'ACCOLTA', coordinatore = 'coord-gab-02', \
         modificata = strftime('%Y-%m-%d %H:%M:%S', 'now') WHERE id_trama = ?",
    )
    .bind(&id)
    .execute(&db)
    .await
    .expect("the coordinator's change");
    db.close().await;
    let started = Instant::now();
    loop {
        let r = get(&fed, "caritas", &id)
            .await
            .expect("readable by its sender");
        if r.status == v1::ReferralStatus::Accepted as i32 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never accepted: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fed.cleanup().await;
}
