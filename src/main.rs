//! The `tailsift` command line: run the daemon, or validate a config file.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tailsift::config;
use tailsift::server::{self, Listeners};

#[derive(Parser)]
#[command(
    name = "tailsift",
    version,
    about = "Tail-sampling proxy for OpenTelemetry traces"
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Check a configuration file and exit: 0 when it is valid.
    Validate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.config else {
        eprintln!("tailsift: --config FILE is required (see config.example.yaml)");
        return ExitCode::from(2);
    };
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => {
            println!(
                "{}: valid ({} rules, {} exporters)",
                path.display(),
                cfg.sampling.rules.len(),
                cfg.exporters.len()
            );
            ExitCode::SUCCESS
        }
        Command::Run => run(cfg),
    }
}

fn run(cfg: config::Config) -> ExitCode {
    tailsift::telemetry::logs::init(&cfg.telemetry.logs);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tailsift: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let listeners = match Listeners::bind(&cfg).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(1);
            }
        };
        match server::run(cfg, listeners, shutdown_signal()).await {
            Ok(summary) => {
                tracing::info!(
                    sent_spans = summary.export.sent_spans,
                    failed_spans = summary.export.failed_spans,
                    "tailsift stopped"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::from(1)
            }
        }
    })
}

/// Completes on the first SIGTERM or SIGINT; a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("second signal: exiting without flushing");
        std::process::exit(130);
    });
}
