//! The audit log over real databases: concurrent appends are chained and
//! verified, and every kind of tampering is found where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use trama_audit::chain::{SignatureVerifier, Signer};
use trama_audit::log::read_checkpoint_file;
use trama_audit::search::{Cursor, Filter, Found, Search, search};
use trama_audit::{AuditLog, Entry, LogOptions, Store, verify};

struct Keys {
    key: PathBuf,
    cert: PathBuf,
}

fn keys(dir: &Path) -> Keys {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["gateway.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let k = Keys {
        key: dir.join("key.pem"),
        cert: dir.join("cert.pem"),
    };
    std::fs::write(&k.key, key.serialize_pem()).unwrap();
    std::fs::write(&k.cert, cert.pem()).unwrap();
    k
}

fn entry(i: usize) -> Entry {
    Entry {
        call: "GetRecord".into(),
        organisation: "comune".into(),
        operator_id: format!("op-{i}"),
        operator_role: "assistente_sociale".into(),
        purpose: "presa_in_carico".into(),
        case_id: "CS-1".into(),
        subjects: vec![format!("subject-{}", i % 7)],
        sections_asked: vec!["needs".into()],
        decision: "permit".into(),
        status: "OK".into(),
        ..Entry::default()
    }
}

/// Writes `n` entries from concurrent tasks, with a checkpoint every 10.
async fn fill(url: &str, keys: &Keys, file: &Path, n: usize) -> Store {
    let store = Store::open(url, true).await.unwrap();
    let (first, _) = store.head().await.unwrap();
    let log = AuditLog::open(
        store.clone(),
        Signer::load(&keys.key).unwrap(),
        LogOptions {
            checkpoint_every: 10,
            checkpoint_interval: Duration::from_secs(3600),
            checkpoint_file: Some(file.to_path_buf()),
            max_batch: 16,
        },
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(entry(i)).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap());
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (first + 1..=first + n as i64).collect::<Vec<_>>(),
        "one seq per entry, after those already there"
    );
    log.checkpoint().await.unwrap();
    store
}

async fn check(store: &Store, keys: &Keys, file: &Path) -> trama_audit::Report {
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let shipped = read_checkpoint_file(file).unwrap();
    verify::verify(store, &verifier, &shipped).await.unwrap()
}

fn at(report: &trama_audit::Report, seq: i64) -> bool {
    report.problems.iter().any(|p| p.seq == seq)
}

#[tokio::test]
async fn sqlite_log_is_chained_and_every_tampering_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &keys, &file, 45).await;

    let report = check(&store, &keys, &file).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 45);
    assert_eq!(report.last_checkpoint.as_ref().map(|c| c.0), Some(45));
    let found = store
        .by_subject(&["subject-3".into()], i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        (0..45).filter(|i| i % 7 == 3).count(),
        "entries about subject-3"
    );

    // Altered contents.
    store
        .execute("UPDATE trama_audit_entry SET payload = replace(payload, 'presa_in_carico', 'orientamento') WHERE seq = 12")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(at(&report, 12), "{:?}", report.problems);
    assert!(!at(&report, 11), "{:?}", report.problems);

    // Deleted entry (and its index rows).
    store
        .execute("DELETE FROM trama_audit_entry WHERE seq = 20")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(at(&report, 20), "{:?}", report.problems);
    assert!(at(&report, 21), "the next entry no longer follows");

    // Reordered: two entries swap their contents and hashes.
    store
        .execute(
            "UPDATE trama_audit_entry SET seq = CASE seq WHEN 30 THEN -31 WHEN 31 THEN -30 END WHERE seq IN (30, 31)",
        )
        .await
        .unwrap();
    store
        .execute("UPDATE trama_audit_entry SET seq = -seq WHERE seq < 0")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(at(&report, 30) && at(&report, 31), "{:?}", report.problems);

    // Inserted: a forged entry chained onto the last one, hash and all,
    // is still caught by the signed checkpoint of the shipped file only if
    // it replaces a covered entry; here the tail is simply truncated.
    store
        .execute("DELETE FROM trama_audit_entry WHERE seq > 40")
        .await
        .unwrap();
    store
        .execute("DELETE FROM trama_audit_checkpoint WHERE seq > 40")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.seq == 45 && p.what.contains("truncated")),
        "{:?}",
        report.problems
    );
    store.close().await;
}

#[tokio::test]
async fn an_inserted_entry_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &keys, &file, 12).await;
    // Make room and slip an entry in between 5 and 6.
    store
        .execute("UPDATE trama_audit_entry SET seq = seq + 1000 WHERE seq > 5")
        .await
        .unwrap();
    store
        .execute("UPDATE trama_audit_entry SET seq = seq - 999 WHERE seq > 1000")
        .await
        .unwrap();
    store
        .execute("INSERT INTO trama_audit_entry (seq, prev_hash, hash, payload) SELECT 6, hash, hash, payload FROM trama_audit_entry WHERE seq = 5")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(at(&report, 6) && at(&report, 7), "{:?}", report.problems);
    store.close().await;
}

#[tokio::test]
async fn a_forged_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_keys = self::keys(other.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &keys, &file, 5).await;
    // Checked against another node's certificate: not this key.
    let verifier = SignatureVerifier::load(&other_keys.cert).unwrap();
    let report = verify::verify(&store, &verifier, &[]).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("none of the certificates")),
        "{:?}",
        report.problems
    );
    // A checkpoint rewritten to cover a different hash.
    store
        .execute(
            "UPDATE trama_audit_checkpoint SET hash = \
             CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2)",
        )
        .await
        .unwrap();
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let report = verify::verify(&store, &verifier, &[]).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("no valid signature")),
        "{:?}",
        report.problems
    );
    store.close().await;
}

#[tokio::test]
async fn postgres_log_uses_the_same_code() {
    let Some(server) = std::env::var("TRAMA_TEST_POSTGRES").ok() else {
        assert!(
            std::env::var("CI").is_err(),
            "TRAMA_TEST_POSTGRES is not set in CI: the PostgreSQL audit test cannot run"
        );
        eprintln!(
            "SKIPPED: set TRAMA_TEST_POSTGRES=postgres://... to run the PostgreSQL audit test"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let admin = Store::open(&server, false).await.unwrap();
    let name = format!("trama_audit_test_{}", std::process::id());
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name}"))
        .await;
    admin
        .execute_owned(format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let store = fill(&url, &keys, &file, 30).await;
    let report = check(&store, &keys, &file).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 30);
    store
        .execute("UPDATE trama_audit_entry SET payload = payload || ' ' WHERE seq = 7")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(at(&report, 7), "{:?}", report.problems);
    store.close().await;
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

#[tokio::test]
async fn an_entry_slipped_in_below_one_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &keys, &file, 4).await;
    store
        .execute("INSERT INTO trama_audit_entry (seq, prev_hash, hash, payload) SELECT 0, prev_hash, hash, payload FROM trama_audit_entry WHERE seq = 1")
        .await
        .unwrap();
    store
        .execute("INSERT INTO trama_audit_subject (pseudonym, seq) VALUES ('subject-1', 0)")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.seq == 0 && p.what.contains("inserted")),
        "{:?}",
        report.problems
    );
    let found = store
        .by_subject(&["subject-1".into()], i64::MAX, 100)
        .await
        .unwrap();
    assert!(
        found.iter().all(|(seq, _)| *seq >= 1),
        "the access log ignores it"
    );
    store.close().await;
}

#[tokio::test]
async fn checkpoints_signed_before_a_key_renewal_verify_with_the_earlier_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let old = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &old, &file, 12).await;
    // Renewal: a new key and certificate at the same paths' neighbours.
    let renewed_dir = tempfile::tempdir().unwrap();
    let new = keys(renewed_dir.path());
    let log = AuditLog::open(
        store.clone(),
        Signer::load(&new.key).unwrap(),
        LogOptions {
            checkpoint_every: 10,
            checkpoint_interval: Duration::from_secs(3600),
            checkpoint_file: Some(file.clone()),
            max_batch: 16,
        },
    )
    .await
    .unwrap();
    for i in 0..3 {
        log.append(entry(i)).await.unwrap();
    }
    log.checkpoint().await.unwrap();
    let shipped = read_checkpoint_file(&file).unwrap();
    let only_new = SignatureVerifier::load(&new.cert).unwrap();
    let report = verify::verify(&store, &only_new, &shipped).await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.what.contains("--cert")),
        "{:?}",
        report.problems
    );
    let both = SignatureVerifier::load_all(&[new.cert.clone(), old.cert.clone()]).unwrap();
    let report = verify::verify(&store, &both, &shipped).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.last_checkpoint.map(|c| c.0), Some(15));
    store.close().await;
}

#[test]
fn a_checkpoint_line_cut_short_by_a_crash_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.jsonl");
    let good =
        r#"{"seq":1,"hash":"h","time":"t","scheme":"ed25519","signature":"00","key_id":"k"}"#;
    std::fs::write(&path, format!("{good}\n{}", &good[..20])).unwrap();
    assert_eq!(read_checkpoint_file(&path).unwrap().len(), 1);
    std::fs::write(&path, format!("{}\n{good}\n", &good[..20])).unwrap();
    assert!(
        read_checkpoint_file(&path).is_err(),
        "a broken line inside is an error"
    );
}

#[tokio::test]
async fn a_postgres_store_belongs_to_one_node_and_one_session() {
    let Some(server) = std::env::var("TRAMA_TEST_POSTGRES").ok() else {
        assert!(
            std::env::var("CI").is_err(),
            "TRAMA_TEST_POSTGRES is not set in CI: the PostgreSQL audit test cannot run"
        );
        eprintln!(
            "SKIPPED: set TRAMA_TEST_POSTGRES=postgres://... to run the PostgreSQL audit test"
        );
        return;
    };
    let admin = Store::open(&server, false).await.unwrap();
    let name = format!("trama_audit_owner_{}", std::process::id());
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name}"))
        .await;
    admin
        .execute_owned(format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let node = |identity: &str| trama_audit::Owner {
        identity: identity.into(),
        config: PathBuf::from("/etc/trama/gateway.toml"),
        listen: "0.0.0.0:7400".into(),
    };
    let gateway = node("trama://demo/org/hub/gateway");
    let first = Store::open_owned(&url, "", &gateway).await.unwrap();
    let second = Store::open_owned(&url, "", &gateway).await.map(drop);
    assert!(
        matches!(second, Err(trama_audit::AuditError::InUse { .. })),
        "{second:?}"
    );
    first.close().await;
    drop(first);
    let other = Store::open_owned(&url, "", &node("trama://demo/org/comune/connector"))
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    let Err(message) = other else {
        panic!("another node opened the gateway's store")
    };
    assert!(
        message.contains("belongs to trama://demo/org/hub/gateway"),
        "{message}"
    );
    Store::open_owned(&url, "", &gateway)
        .await
        .unwrap()
        .close()
        .await;
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

/// Writes 30 entries a minute apart from 2026-07-14 08:00 UTC: every third
/// by `laura`, the others by `anna`; entry `i` about `subject-{i % 5}`.
async fn timed(url: &str, keys: &Keys) -> Store {
    let store = Store::open(url, true).await.unwrap();
    let log = AuditLog::open(
        store.clone(),
        Signer::load(&keys.key).unwrap(),
        LogOptions::default(),
    )
    .await
    .unwrap();
    for i in 0..30 {
        let e = Entry {
            operator_id: if i % 3 == 0 { "laura" } else { "anna" }.into(),
            subjects: vec![format!("subject-{}", i % 5)],
            time: format!("2026-07-14T08:{i:02}:00Z"),
            ..entry(i)
        };
        log.append(e).await.unwrap();
    }
    store
}

fn instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Every page of a search, following its cursor: each page's entries.
async fn found_pages(
    store: &Store,
    subjects: &[String],
    filter: &Filter,
    limit: usize,
) -> Vec<Vec<Found>> {
    let mut from = Cursor::default();
    let mut out = Vec::new();
    loop {
        let page = search(
            store,
            Search {
                subjects,
                filter,
                from: &from,
                limit,
                scan: 1000,
            },
        )
        .await
        .unwrap();
        out.push(page.entries);
        let Some(next) = page.next else { return out };
        assert_ne!(next, from, "the cursor moves");
        from = next;
    }
}

/// Every page of a search of one chain: each page's sequence numbers.
async fn pages(store: &Store, subjects: &[String], filter: &Filter, limit: usize) -> Vec<Vec<i64>> {
    let pages = found_pages(store, subjects, filter, limit).await;
    pages
        .iter()
        .map(|page| page.iter().map(|f| f.seq).collect())
        .collect()
}

/// The access log's searches, on any engine: filters, pages, the period,
/// the bound on entries read, and the subject index.
async fn searches(store: &Store) {
    let laura = Filter {
        operator_id: Some("laura".into()),
        ..Filter::default()
    };
    let got = pages(store, &[], &laura, 4).await;
    assert_eq!(
        got,
        vec![vec![28, 25, 22, 19], vec![16, 13, 10, 7], vec![4, 1]],
        "laura's entries (i = 0, 3, ... are seq 1, 4, ...), newest first"
    );
    let period = Filter {
        from: instant("2026-07-14T10:10:00+02:00"),
        to: instant("2026-07-14T08:20:00Z"),
        ..laura.clone()
    };
    assert_eq!(
        pages(store, &[], &period, 100).await,
        vec![vec![19, 16, 13]]
    );
    // A filter nothing matches, read 5 entries at a time: empty pages that
    // go on, down to the end of the log.
    let nobody = Filter {
        operator_id: Some("nobody".into()),
        ..Filter::default()
    };
    let page = search(
        store,
        Search {
            subjects: &[],
            filter: &nobody,
            from: &Cursor::default(),
            limit: 10,
            scan: 5,
        },
    )
    .await
    .unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(
        page.next.map(|c| c.token()).as_deref(),
        Some(":26"),
        "the last entry read"
    );
    // By subject: subject-3 is i = 3, 8, 13, ...: laura's of them is i = 3
    // and 18 (seq 4 and 19).
    let subject = ["subject-3".to_string()];
    assert_eq!(
        pages(store, &subject, &laura, 1).await,
        vec![vec![19], vec![4]],
        "the last page, having read the chain to its end, says there is no more"
    );
}

#[tokio::test]
async fn the_access_log_is_searched_in_pages_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let store = timed(&Store::sqlite_url(&dir.path().join("audit.db")), &keys).await;
    searches(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_access_log_is_searched_in_pages_on_postgres() {
    let Some(server) = std::env::var("TRAMA_TEST_POSTGRES").ok() else {
        assert!(
            std::env::var("CI").is_err(),
            "TRAMA_TEST_POSTGRES is not set in CI: the PostgreSQL audit test cannot run"
        );
        eprintln!(
            "SKIPPED: set TRAMA_TEST_POSTGRES=postgres://... to run the PostgreSQL audit test"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let admin = Store::open(&server, false).await.unwrap();
    let name = format!("trama_audit_search_{}", std::process::id());
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name}"))
        .await;
    admin
        .execute_owned(format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let store = timed(&format!("{base}/{name}"), &keys).await;
    searches(&store).await;
    store.close().await;
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

#[tokio::test]
async fn retention_removes_sealed_entries_and_what_stays_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let file = dir.path().join("checkpoints.jsonl");
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let store = fill(&url, &keys, &file, 45).await;

    // Everything sealed so far is older than the cut.
    let (horizon, removed) = store.prune("2999-01-01T00:00:00Z").await.unwrap().unwrap();
    assert_eq!((horizon.seq, removed), (45, 45));
    assert!(
        store
            .by_subject(&["subject-3".into()], i64::MAX, 100)
            .await
            .unwrap()
            .is_empty(),
        "the subject index goes with the entries"
    );
    let report = check(&store, &keys, &file).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.horizon.as_ref().map(|h| h.seq), Some(45));
    assert_eq!(report.entries, 0);

    // The log goes on from the checkpoint that anchors it.
    let store = fill(&url, &keys, &file, 12).await;
    let report = check(&store, &keys, &file).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!((report.entries, report.last_seq), (12, 57));
    assert!(
        store.prune("1999-01-01T00:00:00Z").await.unwrap().is_none(),
        "nothing that old"
    );

    // Entries removed and passed off as retention: the horizon moved to an
    // entry no checkpoint seals.
    store
        .execute("UPDATE trama_audit_horizon SET seq = 50, hash = (SELECT hash FROM trama_audit_entry WHERE seq = 50)")
        .await
        .unwrap();
    store
        .execute("DELETE FROM trama_audit_subject WHERE seq <= 50")
        .await
        .unwrap();
    store
        .execute("DELETE FROM trama_audit_entry WHERE seq <= 50")
        .await
        .unwrap();
    let report = check(&store, &keys, &file).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.seq == 50 && p.what.contains("removed outside retention")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_store_of_the_first_schema_version_is_migrated_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(&dir.path().join("audit.db"));
    let pool = trama_plumbing::durable::open(&url, true, &[])
        .await
        .unwrap();
    let first = trama_plumbing::schema::Schema {
        store: "audit log",
        migrations: &trama_audit::store::SCHEMA.migrations[..1],
    };
    assert_eq!(first.migrate(&pool, &url).await.unwrap(), 1);
    assert_eq!(trama_plumbing::schema::applied(&pool).await, Some(1));
    pool.close().await;

    // A reader (trama audit verify) does not migrate: it says what to do.
    let refused = Store::open_current(&url)
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    assert!(
        refused
            .as_ref()
            .is_err_and(|m| m.contains("schema version 1") && m.contains("start the node once")),
        "{refused:?}"
    );
    let store = Store::open(&url, true).await.unwrap();
    assert_eq!(
        store.horizon().await.unwrap(),
        None,
        "the horizon's table is there"
    );
    let pool = trama_plumbing::durable::open(&url, false, &[])
        .await
        .unwrap();
    assert_eq!(
        trama_plumbing::schema::applied(&pool).await,
        Some(trama_audit::store::SCHEMA.known())
    );
}

/// A database of its own on the test PostgreSQL server, `None` (skipping,
/// loudly) without one outside CI: the admin handle and the URL.
async fn postgres_database(tag: &str) -> Option<(Store, String)> {
    let Some(server) = std::env::var("TRAMA_TEST_POSTGRES").ok() else {
        assert!(
            std::env::var("CI").is_err(),
            "TRAMA_TEST_POSTGRES is not set in CI: the PostgreSQL audit test cannot run"
        );
        eprintln!(
            "SKIPPED: set TRAMA_TEST_POSTGRES=postgres://... to run the PostgreSQL audit test"
        );
        return None;
    };
    let admin = Store::open(&server, false).await.unwrap();
    let name = format!("trama_audit_{tag}_{}", std::process::id());
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin
        .execute_owned(format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some((admin, format!("{base}/{name}")))
}

/// Opens `chain` of the store at `url` for the gateway and writes `times`
/// entries (one each, by `operator`), checkpointed into `file`.
async fn replica(url: &str, chain: &str, keys: &Keys, file: &Path, times: &[String]) -> Store {
    let owner = trama_audit::Owner {
        identity: "trama://demo/org/hub/gateway".into(),
        config: PathBuf::from("/etc/trama/gateway.toml"),
        listen: "0.0.0.0:7400".into(),
    };
    let store = Store::open_owned(url, chain, &owner).await.unwrap();
    let log = AuditLog::open(
        store.clone(),
        Signer::load(&keys.key).unwrap(),
        LogOptions {
            checkpoint_file: Some(file.to_path_buf()),
            ..LogOptions::default()
        },
    )
    .await
    .unwrap();
    for (i, time) in times.iter().enumerate() {
        let e = Entry {
            operator_id: format!("{chain}-{i}"),
            time: time.clone(),
            ..entry(i)
        };
        log.append(e).await.unwrap();
    }
    log.checkpoint().await.unwrap();
    store
}

#[tokio::test]
async fn replicas_write_their_own_chains_read_and_verified_together() {
    let Some((admin, url)) = postgres_database("replicas").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let minute = |m: usize| format!("2026-07-14T08:{m:02}:00Z");
    // Replica a writes the even minutes, b the odd ones: 10 entries each.
    let even: Vec<String> = (0..20).step_by(2).map(minute).collect();
    let odd: Vec<String> = (1..20).step_by(2).map(minute).collect();
    let (file_a, file_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a = replica(&url, "gateway-a", &keys, &file_a, &even).await;
    let b = replica(&url, "gateway-b", &keys, &file_b, &odd).await;
    assert_eq!(a.head().await.unwrap().0, 10, "each chain counts its own");
    assert_eq!(b.head().await.unwrap().0, 10);
    // A second process on a chain another holds: refused, naming it.
    let again = Store::open_owned(
        &url,
        "gateway-a",
        &trama_audit::Owner {
            identity: "trama://demo/org/hub/gateway".into(),
            config: PathBuf::from("/etc/trama/gateway.toml"),
            listen: "0.0.0.0:7400".into(),
        },
    )
    .await
    .map(drop)
    .map_err(|e| e.to_string());
    assert!(
        again.as_ref().is_err_and(|m| m.contains("gateway-a")),
        "{again:?}"
    );

    // Either replica's handle lists every access, newest first, in pages.
    let listed: Vec<(String, String)> = found_pages(&b, &[], &Filter::default(), 3)
        .await
        .into_iter()
        .flatten()
        .map(|f| (f.chain, f.entry.time))
        .collect();
    let mut want: Vec<(String, String)> = (0..20)
        .rev()
        .map(|m| {
            let chain = if m % 2 == 0 { "gateway-a" } else { "gateway-b" };
            (chain.to_string(), minute(m))
        })
        .collect();
    assert_eq!(listed, want, "every entry once, merged by time");
    // A period: the chains are cut where they leave it.
    let period = Filter {
        from: instant("2026-07-14T08:15:00Z"),
        ..Filter::default()
    };
    let recent = found_pages(&a, &[], &period, 100).await;
    want.truncate(5);
    assert_eq!(
        recent[0]
            .iter()
            .map(|f| (f.chain.clone(), f.entry.time.clone()))
            .collect::<Vec<_>>(),
        want
    );

    // Both chains verify; deleting one whole is found by its checkpoints.
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let mut shipped = read_checkpoint_file(&file_a).unwrap();
    shipped.extend(read_checkpoint_file(&file_b).unwrap());
    let reports = verify::verify_all(&a, &verifier, &shipped).await.unwrap();
    let names: Vec<&str> = reports.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(names, ["gateway-a", "gateway-b"]);
    assert!(
        reports.iter().all(|(_, r)| r.ok() && r.entries == 10),
        "{reports:?}"
    );
    for table in ["entry", "subject", "checkpoint", "owner"] {
        a.execute_owned(format!(
            "DELETE FROM trama_audit_{table} WHERE chain = 'gateway-b'"
        ))
        .await
        .unwrap();
    }
    let reports = verify::verify_all(&a, &verifier, &shipped).await.unwrap();
    let (_, b_report) = &reports[1];
    assert!(
        b_report
            .problems
            .iter()
            .any(|p| p.what.contains("truncated")),
        "{reports:?}"
    );
    assert!(reports[0].1.ok(), "the other chain is untouched");
    a.close().await;
    b.close().await;
    let (_, name) = url.rsplit_once('/').unwrap();
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

#[tokio::test]
async fn a_postgres_log_of_one_chain_keeps_it_when_replicas_begin() {
    let Some((admin, url)) = postgres_database("upgrade").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    // A log of one gateway alone: schema version 2 first, then entries in
    // the one chain (written through the store, which brings the schema to
    // this version as a restarted gateway would), and its owner.
    let pool = trama_plumbing::durable::open(&url, true, &[])
        .await
        .unwrap();
    let two = trama_plumbing::schema::Schema {
        store: "audit log",
        migrations: &trama_audit::store::SCHEMA.migrations[..2],
    };
    two.migrate(&pool, &url).await.unwrap();
    pool.close().await;
    let file = dir.path().join("before.jsonl");
    let before = fill(&url, &keys, &file, 12).await;
    before
        .execute(
            "INSERT INTO trama_audit_owner (id, identity, config, listen, since) \
             VALUES (1, 'trama://demo/org/hub/gateway', '/etc/trama/gateway.toml', '0.0.0.0:7400', '2026-01-01T00:00:00Z')",
        )
        .await
        .unwrap_or_default();
    before.close().await;
    // A replica joins: the entries written alone stay the chain "", the
    // replica writes a chain of its own, and both verify.
    let b = replica(
        &url,
        "gateway-b",
        &keys,
        &dir.path().join("b.jsonl"),
        &["2026-07-14T09:00:00Z".into()],
    )
    .await;
    assert_eq!(b.chains().await.unwrap(), ["", "gateway-b"]);
    let mut shipped = read_checkpoint_file(&file).unwrap();
    shipped.extend(read_checkpoint_file(&dir.path().join("b.jsonl")).unwrap());
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let reports = verify::verify_all(&b, &verifier, &shipped).await.unwrap();
    let counted: Vec<(&str, i64, bool)> = reports
        .iter()
        .map(|(c, r)| (c.as_str(), r.entries, r.ok()))
        .collect();
    assert_eq!(
        counted,
        [("", 12, true), ("gateway-b", 1, true)],
        "{reports:?}"
    );
    b.close().await;
    let (_, name) = url.rsplit_once('/').unwrap();
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

/// Appends `n` entries to `store`'s chain without a checkpoint, as a
/// replica killed before its next one leaves them.
async fn unsealed(store: &Store, n: usize) {
    let (mut seq, mut prev) = store.head().await.unwrap();
    let mut batch = Vec::new();
    for i in 0..n {
        seq += 1;
        let payload = entry(i).to_payload();
        let hash = trama_audit::chain::entry_hash(seq, &prev, &payload);
        batch.push(trama_audit::store::NewEntry {
            seq,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
            payload,
            subjects: entry(i).subjects,
        });
    }
    let mut conn = store.connection().await.unwrap();
    store.append(&mut conn, &batch).await.unwrap();
}

#[tokio::test]
async fn a_starting_replica_seals_the_chains_of_replicas_that_are_gone() {
    let Some((admin, url)) = postgres_database("orphans").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let owner = trama_audit::Owner {
        identity: "trama://demo/org/hub/gateway".into(),
        config: PathBuf::from("/etc/trama/gateway.toml"),
        listen: "0.0.0.0:7400".into(),
    };
    // A replica killed after 7 entries, none sealed; one still running
    // with 3 entries past its last checkpoint.
    let gone = Store::open_owned(&url, "gateway-7f9c", &owner)
        .await
        .unwrap();
    unsealed(&gone, 7).await;
    gone.close().await;
    drop(gone);
    let busy = Store::open_owned(&url, "gateway-x2b1", &owner)
        .await
        .unwrap();
    unsealed(&busy, 3).await;

    let here = Store::open_owned(&url, "gateway-new", &owner)
        .await
        .unwrap();
    let file = dir.path().join("new.jsonl");
    let signer = Signer::load(&keys.key).unwrap();
    let mut sealed = 0;
    // The killed replica's session may take a moment to end.
    for _ in 0..50 {
        sealed = trama_audit::orphans::seal_orphans(&here, &signer, Some(file.clone()))
            .await
            .unwrap();
        if sealed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sealed, 1, "the gone replica's chain, not the running one's");
    let shipped = read_checkpoint_file(&file).unwrap();
    assert_eq!(
        shipped
            .iter()
            .map(|c| (c.chain.as_str(), c.seq))
            .collect::<Vec<_>>(),
        [("gateway-7f9c", 7)]
    );
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let reports = verify::verify_all(&here, &verifier, &shipped)
        .await
        .unwrap();
    let gone_report = &reports.iter().find(|(c, _)| c == "gateway-7f9c").unwrap().1;
    assert!(gone_report.ok(), "{gone_report:?}");
    assert_eq!(gone_report.last_checkpoint.as_ref().map(|c| c.0), Some(7));
    assert_eq!(
        busy.last_checkpoint_seq().await.unwrap(),
        0,
        "not the running one's"
    );
    // Sealed, the gone replica's chain is cut by retention like the others
    // (sealed more than "no time" ago: retention compares to the second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    trama_audit::retention::prune_once(&here, Duration::ZERO).await;
    assert_eq!(
        here.on_chain("gateway-7f9c")
            .horizon()
            .await
            .unwrap()
            .map(|h| h.seq),
        Some(7)
    );
    busy.close().await;
    here.close().await;
    let (_, name) = url.rsplit_once('/').unwrap();
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}

#[tokio::test]
async fn a_checkpoint_moved_to_another_chain_does_not_vouch_for_it() {
    let Some((admin, url)) = postgres_database("moved").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let minutes = |from: usize| -> Vec<String> {
        (from..from + 10)
            .map(|m| format!("2026-07-14T09:{m:02}:00Z"))
            .collect()
    };
    let (file_a, file_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a = replica(&url, "gateway-a", &keys, &file_a, &minutes(0)).await;
    let b = replica(&url, "gateway-b", &keys, &file_b, &minutes(20)).await;
    // The attack: b's entries deleted, a's checkpoint at entry 10 copied
    // into b and made b's retention horizon, as if retention had cut there.
    for sql in [
        "DELETE FROM trama_audit_subject WHERE chain = 'gateway-b'",
        "DELETE FROM trama_audit_entry WHERE chain = 'gateway-b'",
        "DELETE FROM trama_audit_checkpoint WHERE chain = 'gateway-b'",
        "INSERT INTO trama_audit_checkpoint (chain, seq, hash, time, scheme, signature, key_id) \
         SELECT 'gateway-b', seq, hash, time, scheme, signature, key_id FROM trama_audit_checkpoint \
         WHERE chain = 'gateway-a' AND seq = 10",
        "INSERT INTO trama_audit_horizon (id, chain, seq, hash, pruned_at) \
         SELECT 1, 'gateway-b', seq, hash, '2026-07-15T00:00:00Z' FROM trama_audit_checkpoint \
         WHERE chain = 'gateway-a' AND seq = 10",
    ] {
        a.execute_owned(sql.to_string()).await.unwrap();
    }
    let verifier = SignatureVerifier::load(&keys.cert).unwrap();
    let reports = verify::verify_all(&a, &verifier, &[]).await.unwrap();
    let (_, b_report) = reports.iter().find(|(c, _)| c == "gateway-b").unwrap();
    assert!(!b_report.ok(), "a's checkpoint vouched for b: {b_report:?}");
    assert!(
        b_report
            .problems
            .iter()
            .any(|p| p.what.contains("no valid signature")),
        "{b_report:?}"
    );
    a.close().await;
    b.close().await;
    let (_, name) = url.rsplit_once('/').unwrap();
    let _ = admin
        .execute_owned(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin.close().await;
}
