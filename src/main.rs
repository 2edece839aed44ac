//! `trama`: parse the command line, set up logging, and hand over to the
//! library that runs the subcommand.

use clap::Parser;
use trama::cli::{self, Cli, Command, READY};
use trama_telemetry::traces;

/// mimalloc instead of the system allocator: a call through the gateway
/// allocates and frees many small buffers across threads, where glibc's
/// allocator spent a sixth of the gateway's time (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, leaving out a cause whose text the
/// message already carries (many errors repeat their source).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Runs a node with its own logs and traces, or another command with
/// logs only. The tracing guard lives until the command ends, so spans
/// still buffered are exported then.
async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gateway {
            check_config: Some(path),
            ..
        } => {
            let _logs = traces::init_logs()?;
            let report = trama_gateway::check::check_config(&path).await;
            cli::config_report(&report.passed, &report.problems)?;
        }
        Command::Gateway { config, .. } => {
            let config = trama_gateway::GatewayConfig::load(&config.unwrap_or_default())?;
            let _tracing = traces::init("trama-gateway", &config.tracing)?;
            trama_gateway::serve(config, |addr| println!("{READY}{addr}"), shutdown_signal())
                .await?;
        }
        Command::Connector {
            action: Some(cli::ConnectorAction::Try(args)),
            ..
        } => {
            let _logs = traces::init_logs()?;
            cli::connector_try(args).await?;
        }
        Command::Connector {
            action: Some(cli::ConnectorAction::Init(args)),
            ..
        } => {
            let _logs = traces::init_logs()?;
            cli::connector_init(args).await?;
        }
        Command::Connector {
            check_config: Some(path),
            ..
        } => {
            let _logs = traces::init_logs()?;
            let report = trama_connector::startup::check_config(&path).await;
            cli::config_report(&report.passed, &report.problems)?;
        }
        Command::Console {
            check_config: Some(path),
            ..
        } => {
            let _logs = traces::init_logs()?;
            let report = trama_console::check::check_config(&path).await;
            cli::config_report(&report.passed, &report.problems)?;
        }
        Command::Console {
            config: Some(config),
            hash_password: false,
            ..
        } => {
            let config = trama_console::ConsoleConfig::load(&config)?;
            let _tracing = traces::init("trama-console", &config.tracing)?;
            trama_console::serve(config, |addr| println!("{READY}{addr}"), shutdown_signal())
                .await?;
        }
        Command::Connector { config, .. } => {
            let config = trama_connector::ConnectorConfig::load(&config.unwrap_or_default())?;
            let _tracing = traces::init(
                &format!("trama-connector-{}", config.organisation),
                &config.tracing,
            )?;
            trama_connector::serve(config, |addr| println!("{READY}{addr}"), shutdown_signal())
                .await?;
        }
        command => {
            let _logs = traces::init_logs()?;
            run_command(command).await?;
        }
    }
    Ok(())
}

/// The commands that are not nodes.
async fn run_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Gateway { .. } | Command::Connector { .. } => {}
        Command::Conformance(args) => cli::conformance(args).await?,
        Command::Check { config } => {
            let config = trama_connector::ConnectorConfig::load(&config)?;
            let connector = trama_connector::startup::prepare(&config).await?;
            println!(
                "ok: {} maps {} section(s) of {} and matches the database",
                config.mapping.display(),
                connector.mapping.sections.len(),
                connector.mapping.system
            );
            if !connector.mapping.services.is_empty() {
                let (published, problems) =
                    trama_connector::startup::offer_report(&config, &connector).await;
                println!("{published}");
                for p in &problems {
                    eprintln!("{p}");
                }
                anyhow::ensure!(
                    problems.is_empty(),
                    "{} row(s) of the offer do not map",
                    problems.len()
                );
            }
        }
        Command::Pki { command } => trama::pki::run(command)?,
        Command::Console { .. } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!password.is_empty(), "no password on standard input");
            let hash =
                trama_console::accounts::hash_password(password).map_err(anyhow::Error::msg)?;
            println!("{hash}");
        }
        Command::Query(args) => cli::query(*args).await?,
        Command::Audit { command } => match command {
            cli::AuditCommand::Verify {
                gateway,
                connector,
                certs,
                checkpoints,
            } => cli::audit_verify(gateway, connector, certs, checkpoints).await?,
        },
        #[cfg(feature = "lab")]
        Command::Lab(command) => trama::lab::run(command).await?,
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM, for a graceful shutdown.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
