//! Structured logs: text or JSON on stderr, level from the config (RUST_LOG overrides), and the
//! daemon's start and stop lines, which say what was really loaded and what happened.

use crate::config::units::{format_duration, format_size};
use crate::config::{Config, LogConfig, LogFormat};
use crate::exporter::ShutdownReport;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. Later calls are ignored. Colours only when stderr is a
/// terminal: a file or the journal gets plain text.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// `1 exporter`, `2 exporters`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// What decides: `6 rules` or `3 tail_sampling policies`.
pub fn deciders(config: &Config) -> String {
    match &config.tail_sampling {
        Some(ts) => {
            let n = ts.policies.len();
            format!(
                "{n} tail_sampling {}",
                if n == 1 { "policy" } else { "policies" }
            )
        }
        None => plural(config.sampling.rules.len(), "rule"),
    }
}

/// The notes the loaded configuration carries (decimal sizes and the like).
pub fn notes(config: &Config) {
    for note in &config.notes {
        tracing::info!(note = %note, "configuration note");
    }
}

/// The start line: what is loaded, and the limits as parsed.
pub fn started(config: &Config) {
    let s = &config.sampling;
    tracing::info!(
        memory_limit = %format_size(s.memory_limit_bytes()),
        max_buffer_bytes = %format_size(s.max_buffer_bytes.get()),
        max_traces = s.max_traces,
        decision_wait = %format_duration(s.decision_wait.get()),
        root_wait = %format_duration(s.root_wait.get()),
        "tailsift started: {}, {}",
        deciders(config),
        plural(config.exporters.len(), "exporter"),
    );
}

/// One line per exporter, then the totals, as fields.
pub fn flushed(report: &ShutdownReport) {
    for (name, e) in &report.exporters {
        tracing::info!(
            exporter = %name,
            sent_spans = e.sent_spans,
            failed_spans = e.failed_spans,
            unsent_at_deadline = e.shutdown_failed_spans,
            batches_sent = e.batches_sent,
            batches_failed = e.batches_failed,
            retries = e.retries,
            "exporter flushed"
        );
    }
    let line = format!("{} flushed", plural(report.exporters.len(), "exporter"));
    if report.deadline_passed {
        tracing::warn!(
            sent_spans = report.sent_spans,
            failed_spans = report.failed_spans,
            unsent_at_deadline = report.shutdown_failed_spans,
            "{line}; shutdown_timeout passed before everything was delivered"
        );
    } else {
        tracing::info!(
            sent_spans = report.sent_spans,
            failed_spans = report.failed_spans,
            "{line}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_with_their_plural() {
        assert_eq!(plural(1, "exporter"), "1 exporter");
        assert_eq!(plural(0, "rule"), "0 rules");
        assert_eq!(plural(3, "rule"), "3 rules");
        let c = crate::config::parse(
            "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:0 } } }\n\
             exporters: { out: { protocol: file, path: x } }\n\
             tail_sampling: { policies: [ { name: all, type: always_sample } ] }\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(deciders(&c), "1 tail_sampling policy");
    }
}
