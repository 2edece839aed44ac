//! The federation's processes: `trama gateway` and `trama connector`
//! started from the real binary, each with its log in `logs/<name>.log`,
//! and waited for until they print that they serve.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use trama_node::server::READY;

/// How long a server may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `exe <args> <config>` with its log in `logs/<name>.log`, and
/// waits for its ready line; returns the process and the address it serves.
/// The process is killed if its handle is dropped.
pub async fn spawn(
    exe: &Path,
    name: &str,
    args: &[&str],
    config: &Path,
    logs: &Path,
) -> anyhow::Result<(Child, String)> {
    let log_path = logs.join(format!("{name}.log"));
    // Appended to, so a restarted process keeps its earlier log.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting the {name} process"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(address) = line.strip_prefix(READY) {
                return Some(address.trim().to_string());
            }
        }
        None
    })
    .await;
    if let Ok(Some(address)) = ready {
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        return Ok((child, address));
    }
    let _ = child.kill().await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    bail!(
        "the {name} process did not start; last lines of {}:\n{}",
        log_path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

/// Sends SIGTERM to a child process, asking it to shut down.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        signal(pid, "-TERM");
    }
}

/// Sends `sig` (`-TERM`, `-STOP`, `-CONT`...) to process `pid` with
/// `kill(1)`, which needs no unsafe code here.
pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Asks `child` to shut down (SIGTERM, so a gateway or connector seals its
/// audit log with a last signed checkpoint), and kills it if it has not
/// stopped within `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    terminate(child);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
