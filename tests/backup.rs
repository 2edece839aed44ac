//! Backing up and restoring a gateway's audit log, as the operations guide
//! tells an operator to: the log is copied while the gateway serves
//! (`VACUUM INTO`, what `sqlite3 audit.db ".backup ..."` does: a consistent
//! copy without stopping writers), more calls are audited and sealed by a
//! shipped checkpoint, then the older copy is restored. `trama audit
//! verify` then says exactly what the restore lost: the entries after the
//! copy, which the shipped checkpoints prove existed.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::process::Command;

use sqlx::Connection;
use support::{Sandbox, ctx, exe, featured_tax_code};
use trama_proto::v1::{self, Section};

/// Reads the featured person's needs as the comune's social worker.
async fn read_record(fed: &Sandbox) {
    fed.client("comune")
        .get_record(v1::GetRecordRequest {
            context: ctx(
                "assistente_sociale",
                "presa_in_carico",
                support::FEATURED_CASE,
            ),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            sections: vec![Section::Needs as i32],
        })
        .await
        .expect("served");
}

/// `trama audit verify` of the gateway: whether it passed, and what it said.
fn verify(fed: &Sandbox) -> (bool, String) {
    let out = Command::new(exe())
        .args(["audit", "verify", "--gateway"])
        .arg(fed.dir().join("gateway.toml"))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[tokio::test]
async fn a_restore_older_than_the_shipped_checkpoints_is_reported_precisely() {
    let mut fed = Sandbox::start().await;
    for _ in 0..3 {
        read_record(&fed).await;
    }
    // The copy, taken while the gateway serves.
    let audit = fed.dir().join("audit.db");
    let copy = fed.tmp.path().join("audit-backup.db");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", audit.display()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        copy.display()
    )))
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let mut copied = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM trama_audit_entry")
        .fetch_one(&mut copied)
        .await
        .unwrap();
    copied.close().await.unwrap();
    assert!(last >= 3, "the copy holds the calls made before it");

    // More calls, sealed at a graceful stop by a checkpoint that is also
    // shipped to the checkpoint file.
    for _ in 0..2 {
        read_record(&fed).await;
    }
    fed.running.shut_down().await;
    let (ok, said) = verify(&fed);
    assert!(ok, "the log as it was verifies: {said}");

    // The older copy put back in place of the log.
    for leftover in ["audit.db-wal", "audit.db-shm"] {
        let _ = std::fs::remove_file(fed.dir().join(leftover));
    }
    std::fs::copy(&copy, &audit).unwrap();
    let (ok, said) = verify(&fed);
    assert!(!ok, "a restore that lost entries passed: {said}");
    assert!(
        said.contains(&format!("the log was truncated after entry {last}")),
        "{said}"
    );
    fed.cleanup().await;
}
