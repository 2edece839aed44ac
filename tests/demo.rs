//! The README's first command, as a script runs it: `trama demo --once`
//! builds the federation, walks through, and exits 0; `trama demo` keeps
//! serving until it is stopped, and its processes stop with it. Then the
//! soak and the federation benchmark, which start their federations the
//! same way.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `trama args` in `dir`, asserts it succeeded, and returns what it
/// printed.
fn trama_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(support::exe())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn demo_once_walks_through_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = trama_ok(
        dir.path(),
        &["demo", "--once", "--port", "0", "--subjects", "400"],
    );
    assert!(stdout.contains("IDENTITY, as each source holds it"));
    assert!(stdout.contains("conflict on given_name"));
    assert!(stdout.contains("caritas/centro-ascolto"));
    assert!(stdout.contains("caf/caf-isee #INPS-ISEE-"));
    assert!(stdout.contains("trama query --profile"));
    // Caritas sees only whether and by whom the person is followed; the DPO
    // sees both accesses.
    assert!(stdout.contains("Followed by: comune"), "{stdout}");
    assert!(
        stdout.contains("PermissionDenied: section health"),
        "{stdout}"
    );
    assert!(stdout.contains("The DPO reads who accessed"), "{stdout}");
    assert!(
        stdout.contains("The planning office counts people by need and district"),
        "{stdout}"
    );
    assert!(stdout.contains("two or more partners"), "{stdout}");
    assert!(
        stdout.contains("the comune's social services: https://127.0.0.1:")
            && stdout.contains("sign in as laura.ferrari"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the Caritas listening centre's desk: https://"),
        "{stdout}"
    );
    // An account for every role the walkthrough shows, and the citizens'
    // catalogue.
    for shown in [
        "sign in as piano.zona",
        "sign in as dpo",
        "sign in as anna.volontaria",
        "the citizens' catalogue of services (no sign-in): https://127.0.0.1:",
    ] {
        assert!(stdout.contains(shown), "{shown} in {stdout}");
    }
    // The processes were stopped: the demo directory can be recreated.
    trama_ok(
        dir.path(),
        &["demo", "--once", "--port", "0", "--subjects", "50"],
    );
}

/// Processes other than `except` whose command line names a path under
/// `dir`.
fn processes_under(dir: &Path, except: u32) -> Vec<u32> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let names_dir = cmdline
            .split(|b| *b == 0)
            .any(|arg| String::from_utf8_lossy(arg).starts_with(&dir));
        if names_dir && pid != except && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn kill(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// Kills what a failed test leaves running.
struct Leftovers(Vec<u32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for pid in &self.0 {
            kill("-KILL", *pid);
        }
    }
}

/// Starts `trama demo`, waits until it serves, sends it `signal`, and
/// asserts that its gateway, connectors and consoles are gone within
/// seconds.
fn the_demo_stops_its_processes_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let federation = dir.path().join("federation");
    let mut demo = Command::new(support::exe())
        .current_dir(dir.path())
        .args(["demo", "--port", "0", "--subjects", "200", "--dir"])
        .arg(&federation)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut leftovers = Leftovers(vec![demo.id()]);
    // Read the demo's output to the end (a closed pipe would fail its last
    // lines), telling when it serves.
    let (tx, serving) = std::sync::mpsc::channel();
    let stdout = demo.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("The federation keeps serving") {
                let _ = tx.send(());
            }
        }
    });
    serving
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo serves");
    let children = processes_under(&federation, demo.id());
    leftovers.0.extend(&children);
    assert_eq!(
        children.len(),
        8,
        "five connectors, a gateway and two consoles: {children:?}"
    );

    kill(signal, demo.id());
    let started = Instant::now();
    loop {
        let running: Vec<u32> = children.iter().copied().filter(|p| alive(*p)).collect();
        if running.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after {signal} to the demo: {running:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(demo.wait().unwrap().success(), "the demo exits cleanly");
}

#[test]
fn sigterm_to_the_demo_stops_its_gateway_connectors_and_consoles() {
    the_demo_stops_its_processes_on("-TERM");
}

#[test]
fn sigint_to_the_demo_stops_its_gateway_connectors_and_consoles() {
    the_demo_stops_its_processes_on("-INT");
}

#[test]
fn a_short_soak_answers_everything_and_audits_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = trama_ok(
        dir.path(),
        &[
            "soak",
            "--duration",
            "3",
            "--warmup",
            "1",
            "--every",
            "1",
            "--concurrency",
            "4",
            "--subjects",
            "300",
            "--frozen",
            "caf",
        ],
    );
    assert!(stdout.contains("errors by kind: none"), "{stdout}");
    assert!(
        stdout.contains("answered calls missing from the audit log: 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("caf:"),
        "the frozen source shows in the outcomes: {stdout}"
    );
    assert!(
        stdout.contains("audit verify --gateway") && !stdout.contains("FAILED"),
        "{stdout}"
    );
}

#[test]
fn the_federation_bench_measures_every_baseline_and_writes_its_table() {
    let dir = tempfile::tempdir().unwrap();
    trama_ok(
        dir.path(),
        &[
            "bench",
            "federation",
            "--subjects",
            "300",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--concurrency",
            "8",
            "--scale-sources",
            "6",
            "--case-load",
            "50",
            "--in-flight",
            "40",
            "--markdown",
            "table.md",
            "--json",
            "table.json",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("table.json")).unwrap())
            .unwrap();
    let runs = json["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["run"].as_str().unwrap()).collect();
    // Gateway, direct and naive at 1 and 8 in flight, 4 and 6 sources, memory.
    for name in ["a", "a1", "b", "d", "a4", "a6", "m"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for r in runs {
        assert!(r["answered"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    }
    let markdown = std::fs::read_to_string(dir.path().join("table.md")).unwrap();
    assert!(
        markdown.contains("| run | what | in flight |"),
        "{markdown}"
    );
    assert!(markdown.contains("the gateway adds"), "{markdown}");
    assert!(markdown.contains("6 sources against 4: p99"), "{markdown}");
    // The hit ratio was read from the gateways' metrics, not left out.
    for name in ["a4", "a6"] {
        let what = runs
            .iter()
            .find(|r| r["run"] == name)
            .and_then(|r| r["what"].as_str())
            .unwrap();
        assert!(
            what.contains("locator hit ratio") && what.ends_with('%'),
            "{what}"
        );
    }
    assert!(markdown.contains("gateway RSS"), "{markdown}");
}
