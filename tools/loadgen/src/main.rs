//! `tailsift-loadgen`: the end-to-end benchmark's OTLP/gRPC load generator (`send`) and
//! counting sink (`sink`). See benches/e2e/README.md.

mod codec;
mod procfs;
mod send;
mod sink;
mod template;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "tailsift-loadgen",
    about = "OTLP/gRPC load generator and counting sink for tailsift's end-to-end benchmark"
)]
struct Cli {
    /// Runtime worker threads (default 1, so the tool leaves the other cores to the process
    /// under test).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send realistic traces (8 spans each, split across two requests, 1% errors) and print a
    /// JSON summary.
    Send(SendArgs),
    /// Receive OTLP/gRPC and count spans.
    Sink(SinkArgs),
}

#[derive(clap::Args)]
struct SendArgs {
    /// OTLP/gRPC endpoint of the process under test.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    endpoint: String,
    /// Separate HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent requests in flight per connection.
    #[arg(long, default_value_t = 2)]
    inflight: usize,
    /// Length of the measured window (after --warmup); with --unique-traces, an upper bound.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Load sent before the measured window starts.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Spans per second over all connections (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Traces started per request; a request also carries the second halves of the traces
    /// the previous request on the same stream started, so it holds 8 x this many spans.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    traces_per_request: u64,
    /// Seed of the trace ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Send exactly this many complete traces, then stop (memory runs).
    #[arg(long)]
    unique_traces: Option<u64>,
    /// Timeout of one request.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Pause of a sender after a refused or failed request.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    refusal_pause: Duration,
    /// Process under test: its CPU time (/proc/PID/stat) and peak RSS are read at the start and
    /// end of the measured window.
    #[arg(long)]
    pid: Option<u32>,
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Prometheus endpoint of the process under test, saved at the window's start and end.
    #[arg(long, requires = "metrics_dump")]
    metrics_url: Option<String>,
    /// Directory for metrics-start.txt and metrics-end.txt.
    #[arg(long)]
    metrics_dump: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4319")]
    listen: SocketAddr,
    /// JSON file rewritten every 200 ms with the counts.
    #[arg(long)]
    stats_file: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("bad duration unit in `{s}` (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tailsift-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Sink(a) => sink::run(a.listen, a.stats_file).await,
            Command::Send(a) => {
                let opts = send::SendOpts {
                    endpoint: a.endpoint,
                    connections: a.connections,
                    inflight: a.inflight,
                    duration: a.duration,
                    warmup: a.warmup,
                    rate: a.rate,
                    traces_per_request: a.traces_per_request as usize,
                    seed: a.seed,
                    unique_traces: a.unique_traces,
                    timeout: a.timeout,
                    pid: a.pid,
                    clk_tck: a.clk_tck.max(1),
                    metrics_url: a.metrics_url,
                    metrics_dump: a.metrics_dump,
                    refusal_pause: a.refusal_pause,
                };
                send::run(opts).await.map(|summary| {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&summary).unwrap_or_default()
                    );
                })
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tailsift-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
    }
}
