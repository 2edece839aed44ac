//! `trama pki`: the federation's certificates on the command line. A
//! development federation issues every key at the CA (`init`, `issue`);
//! real organisations keep their keys: each makes a key and a request
//! (`request`), the federation's CA signs it (`sign`). The CA revokes
//! (`revoke`), issues the consoles' HTTPS certificates (`web`) and makes
//! the linkage key for statistics (`linkage-key`). Nothing in force is
//! overwritten.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use trama_tls::Role;

/// `trama pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a federation CA.
    Init {
        /// Directory for the PKI (created if missing).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long, default_value = "demo")]
        federation: String,
    },
    /// Issue a node certificate and its key at the CA (a development federation; a real
    /// organisation keeps its key: `request` there, `sign` here). Refuses to overwrite a
    /// certificate.
    Issue {
        /// Directory of the PKI.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The organisation id, for example comune.
        #[arg(long)]
        org: String,
        /// The node's role.
        #[arg(long, value_parser = ["gateway", "connector", "client"])]
        role: String,
        /// Host names or IP addresses the node serves on (repeatable).
        #[arg(long = "host", default_values = ["localhost", "127.0.0.1"])]
        hosts: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: i64,
    },
    /// At a partner: make the node's private key (it stays here, mode 0600) and a certificate
    /// signing request to send to the federation's CA (`<org>-<role>.csr`).
    Request {
        /// Where to write the key and the request.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        federation: String,
        /// The organisation id, for example comune.
        #[arg(long)]
        org: String,
        /// The node's role.
        #[arg(long, value_parser = ["gateway", "connector", "client"])]
        role: String,
        /// Host names or IP addresses the node serves on (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// At the federation's CA: sign a partner's certificate signing request, once it asks for
    /// exactly one identity of this federation. Refuses to overwrite a certificate.
    Sign {
        /// Directory of the PKI (the CA).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The request the partner sent (`<org>-<role>.csr`).
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate (default: beside the request, `<org>-<role>.pem`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: i64,
    },
    /// Revoke a certificate: add it to the federation's CRL (pki/crl.pem). Nodes that name the
    /// CRL in their `[tls] crl` reload it within seconds and refuse the certificate, also on
    /// connections already open.
    Revoke {
        /// Directory of the PKI.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// The certificate to revoke (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Issue an HTTPS certificate for a web console, signed by the federation CA: server
    /// authentication only, no trama:// identity (it can never act as a node).
    Web {
        /// Directory of the PKI.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// A name for the files (`<name>-web.pem`, `<name>-web-key.pem`).
        #[arg(long)]
        name: String,
        /// Host names or IP addresses browsers reach the console at (repeatable).
        #[arg(long = "host", default_values = ["localhost", "127.0.0.1"])]
        hosts: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: i64,
    },
    /// Create the federation linkage key for statistics: give the same file to every connector
    /// (`[statistics] linkage_key`), never to the gateway. Refuses to overwrite a key.
    LinkageKey {
        /// Where to write it (mode 0600).
        #[arg(long, default_value = "linkage.key")]
        out: PathBuf,
    },
}

/// Runs `trama pki`.
pub fn run(command: PkiCommand) -> anyhow::Result<()> {
    match command {
        PkiCommand::Init { dir, federation } => init(&dir, &federation),
        PkiCommand::Issue {
            dir,
            org,
            role,
            hosts,
            days,
        } => issue(&dir, &org, &role, hosts, days),
        PkiCommand::Request {
            dir,
            federation,
            org,
            role,
            hosts,
        } => request(&dir, federation, org, &role, hosts),
        PkiCommand::Sign {
            dir,
            csr,
            out,
            days,
        } => sign(&dir, &csr, out, days),
        PkiCommand::Revoke { dir, cert } => revoke(&dir, &cert),
        PkiCommand::Web {
            dir,
            name,
            hosts,
            days,
        } => web(&dir, &name, &hosts, days),
        PkiCommand::LinkageKey { out } => linkage_key(&out),
    }
}

fn init(dir: &Path, federation: &str) -> anyhow::Result<()> {
    let ca = trama_tls::pki::init(dir, federation)?;
    println!(
        "created the CA of federation {federation}: {}",
        ca.display()
    );
    println!(
        "keep {} secret (mode 0600)",
        dir.join(trama_tls::pki::CA_KEY).display()
    );
    Ok(())
}

/// Refuses to replace the certificate at `path`, naming the way out.
fn not_in_force(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} already exists: a certificate in force is not replaced; revoke it (trama pki revoke) and move it away first, or write elsewhere",
            path.display()
        );
    }
    Ok(())
}

fn issue(dir: &Path, org: &str, role: &str, hosts: Vec<String>, days: i64) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    not_in_force(&dir.join(format!("{org}-{role}.pem")))?;
    let files = trama_tls::pki::issue(
        dir,
        &trama_tls::pki::IssueRequest {
            organisation: org.to_string(),
            role,
            hosts,
            valid_days: days,
            not_before_days_ago: 0,
        },
    )?;
    let federation = trama_tls::pki::federation_of(dir)?;
    println!("issued trama://{federation}/org/{org}/{role}");
    println!("  certificate {}", files.cert.display());
    println!("  private key {} (mode 0600)", files.key.display());
    Ok(())
}

fn request(
    dir: &Path,
    federation: String,
    organisation: String,
    role: &str,
    hosts: Vec<String>,
) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    if role != Role::Client && hosts.is_empty() {
        bail!("--host: a {role} serves: name the host names or addresses it is reached at");
    }
    let who = trama_tls::csr::NodeRequest {
        federation,
        organisation,
        role,
        hosts,
    };
    let files = trama_tls::csr::request(dir, &who)?;
    println!(
        "  private key {} (mode 0600): it stays here",
        files.key.display()
    );
    println!(
        "  request     {}: send it to the federation's CA (trama pki sign --csr ...)",
        files.csr.display()
    );
    Ok(())
}

fn sign(dir: &Path, csr: &Path, out: Option<PathBuf>, days: i64) -> anyhow::Result<()> {
    let out = match out {
        Some(out) => out,
        None => csr.with_extension("pem"),
    };
    not_in_force(&out)?;
    let signed = trama_tls::csr::sign(dir, csr, days, &out)?;
    println!(
        "signed {} for {}",
        signed.identity.uri(),
        if signed.hosts.is_empty() {
            "no host".to_string()
        } else {
            signed.hosts.join(", ")
        }
    );
    println!(
        "  certificate {}: send it back with ca.pem and crl.pem",
        signed.cert.display()
    );
    Ok(())
}

fn revoke(dir: &Path, cert: &Path) -> anyhow::Result<()> {
    let crl = trama_tls::pki::revoke(dir, cert)?;
    println!(
        "revoked {}; CRL written to {}",
        cert.display(),
        crl.display()
    );
    println!(
        "nodes naming this CRL in [tls] crl refuse the certificate after their next reload (a few seconds, or SIGHUP)"
    );
    Ok(())
}

fn web(dir: &Path, name: &str, hosts: &[String], days: i64) -> anyhow::Result<()> {
    not_in_force(&dir.join(format!("{name}-web.pem")))?;
    let files = trama_tls::pki::issue_web(dir, name, hosts, days)?;
    println!("issued an HTTPS certificate for {}", hosts.join(", "));
    println!("  certificate {}", files.cert.display());
    println!("  private key {} (mode 0600)", files.key.display());
    Ok(())
}

fn linkage_key(out: &Path) -> anyhow::Result<()> {
    trama_audit::Pseudonymiser::generate(out)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "created the federation linkage key {} (mode 0600): copy it to every connector, never to the gateway",
        out.display()
    );
    Ok(())
}
