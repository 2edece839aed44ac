//! The README's first command, as a script runs it: `trama demo --once`
//! builds the federation, walks through, and exits 0.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::process::Command;

#[test]
fn demo_once_walks_through_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(support::exe())
        .current_dir(dir.path())
        .args(["demo", "--once", "--port", "0", "--subjects", "400"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("IDENTITY, as each source holds it"));
    assert!(stdout.contains("conflict on given_name"));
    assert!(stdout.contains("caritas/centro-ascolto"));
    assert!(stdout.contains("caf/caf-isee #INPS-ISEE-"));
    assert!(stdout.contains("trama query --profile"));
    // The processes were stopped: the demo directory can be recreated.
    let again = Command::new(support::exe())
        .current_dir(dir.path())
        .args(["demo", "--once", "--port", "0", "--subjects", "50"])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
