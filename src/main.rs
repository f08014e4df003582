//! The `tailsift` command line: run the daemon, validate a config file, or simulate the rules
//! on recorded traces.

mod capture_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailsift::config;
use tailsift::server::{self, Listeners};

// The daemon's allocator: the system allocator unless built with the `mimalloc` or `jemalloc`
// feature; see the README's "Allocator" for why.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Override one configuration value: `key.path=value`, the path as error messages write
    /// it (`receivers.otlp.grpc.endpoint=0.0.0.0:4317`, `sampling.rules[0].probability=0.1`),
    /// the value in YAML. Repeatable; applied in order over the file, before validation.
    #[arg(long = "set", global = true, value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Check a configuration file and exit: 0 when it is valid.
    Validate,
    /// Replay recorded traces through the rules, without any network, and print what each
    /// rule would keep.
    Simulate {
        /// Recorded traces: OTLP JSON lines (the `file` exporter's output, or the OpenTelemetry
        /// Collector file exporter's), or protobuf with a 4-byte big-endian length before each
        /// request (the Collector file exporter's `format: proto`).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Output: a table, or one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Say which rule decided this trace and why (32 hex digits; repeatable).
        #[arg(long, value_name = "TRACE_ID")]
        explain: Vec<String>,
    },
    /// Add, list or remove captures on a running daemon (its telemetry endpoint: `--endpoint`,
    /// or `telemetry.metrics` of `--config`, with its bearer token file).
    Capture {
        #[command(subcommand)]
        action: capture_cmd::Action,
        /// The telemetry endpoint, `http://HOST:PORT`.
        #[arg(long)]
        endpoint: Option<String>,
        /// A file whose first line is the bearer token of the telemetry endpoint.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Capture {
        action,
        endpoint,
        token_file,
    }) = cli.command
    {
        return match capture_cmd::target(endpoint, token_file, cli.config.as_deref(), &cli.set) {
            Ok(t) => capture_cmd::run(t, action),
            Err(e) => {
                eprintln!("tailsift capture: {e}");
                ExitCode::from(2)
            }
        };
    }
    // The daemon's runtime and SIGHUP handler come before anything else: SIGHUP's default
    // action ends the process; from here on it reloads the config instead.
    let daemon = match cli.command {
        None | Some(Command::Run) => match Daemon::start() {
            Ok(d) => Some(d),
            Err(code) => return code,
        },
        _ => None,
    };
    let Some(path) = cli.config else {
        eprintln!("tailsift: --config FILE is required (see config.example.yaml)");
        return ExitCode::from(2);
    };
    let cfg = match config::load_with(&path, &cli.set) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => {
            use tailsift::telemetry::logs::{deciders, plural};
            println!(
                "{}: valid ({}, {})",
                path.display(),
                deciders(&cfg),
                plural(cfg.exporters.len(), "exporter")
            );
            for note in &cfg.notes {
                println!("note: {note}");
            }
            ExitCode::SUCCESS
        }
        Command::Run => match daemon {
            Some(d) => d.run(cfg, path, cli.set),
            None => ExitCode::from(1),
        },
        Command::Simulate {
            input,
            format,
            explain,
        } => simulate(&cfg, &input, format, &explain),
        Command::Capture { .. } => unreachable!("handled before the config is loaded"),
    }
}

fn simulate(cfg: &config::Config, input: &Path, format: Format, explain: &[String]) -> ExitCode {
    use tailsift::simulate;
    let mut ids = Vec::new();
    for s in explain {
        match simulate::parse_trace_id(s) {
            Some(id) => ids.push(id),
            None => {
                eprintln!("tailsift: --explain {s}: a trace id is 32 hex digits");
                return ExitCode::from(2);
            }
        }
    }
    let decider = match server::decider(cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tailsift: {e}");
            return ExitCode::from(1);
        }
    };
    let report = simulate::input::read(input, simulate::InputFormat::Auto)
        .map_err(simulate::SimulateError::from)
        .and_then(|requests| simulate::replay(&*decider, cfg, &requests, &ids));
    match report {
        Ok(r) => {
            match format {
                Format::Table => print!("{}", r.table()),
                Format::Json => println!("{:#}", r.json()),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tailsift: {e}");
            ExitCode::from(1)
        }
    }
}

/// The daemon's runtime, with SIGHUP caught.
struct Daemon {
    rt: tokio::runtime::Runtime,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Daemon {
    fn start() -> Result<Daemon, ExitCode> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                eprintln!("tailsift: cannot start the runtime: {e}");
                ExitCode::from(1)
            })?;
        let hangup = {
            let _in_runtime = rt.enter();
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::hangup()) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!(
                        "tailsift: cannot handle SIGHUP ({e}); reload by editing the config file"
                    );
                    None
                }
            }
        };
        Ok(Daemon { rt, hangup })
    }

    fn run(self, cfg: config::Config, path: PathBuf, set: Vec<String>) -> ExitCode {
        tailsift::telemetry::logs::init(&cfg.telemetry.logs);
        tailsift::telemetry::logs::notes(&cfg);
        let source = tailsift::reload::Source {
            path,
            set,
            hangup: self.hangup,
            poll: tailsift::reload::POLL_INTERVAL,
        };
        self.rt.block_on(async move {
            let listeners = match Listeners::bind(&cfg).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(1);
                }
            };
            match server::run_reloadable(cfg, listeners, shutdown_signal(), source).await {
                Ok(summary) => stopped(&summary),
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(1)
                }
            }
        })
    }
}

/// Exit status of a shutdown that had to drop accepted spans: they were not delivered by
/// `shutdown_timeout` (a backend down or too slow).
const EXIT_DROPPED_AT_SHUTDOWN: u8 = 3;

/// The last log line and the exit status of a clean stop: 0, or [`EXIT_DROPPED_AT_SHUTDOWN`]
/// when spans were dropped.
fn stopped(summary: &tailsift::server::Summary) -> ExitCode {
    let export = &summary.export;
    if summary.kept_on_disk && export.shutdown_failed_spans > 0 {
        tracing::info!(
            sent_spans = export.sent_spans,
            undelivered_spans = export.shutdown_failed_spans,
            "tailsift stopped; spans not delivered by shutdown_timeout stay in the storage log for the next start"
        );
        return ExitCode::SUCCESS;
    }
    if export.shutdown_failed_spans == 0 {
        tracing::info!(
            sent_spans = export.sent_spans,
            failed_spans = export.failed_spans,
            "tailsift stopped"
        );
        return ExitCode::SUCCESS;
    }
    let per_exporter: Vec<String> = export
        .exporters
        .iter()
        .filter(|(_, e)| e.shutdown_failed_spans > 0)
        .map(|(name, e)| format!("{name}: {}", e.shutdown_failed_spans))
        .collect();
    tracing::error!(
        dropped_spans = export.shutdown_failed_spans,
        sent_spans = export.sent_spans,
        "tailsift stopped, but {} accepted spans were dropped: not delivered by shutdown_timeout ({}); exit status {EXIT_DROPPED_AT_SHUTDOWN}",
        export.shutdown_failed_spans,
        per_exporter.join(", ")
    );
    ExitCode::from(EXIT_DROPPED_AT_SHUTDOWN)
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
