//! Config reload without restart. On SIGHUP, or when the config file's contents change (polled,
//! so an editor's rename, a `kubectl apply` of a ConfigMap swapping its `..data` symlink, or an
//! edit in place are all seen), the file is read and validated again exactly as at start (the
//! same `--set` overrides, `${env:VAR}` expansion). A valid config swaps the decider (rules or
//! `tail_sampling` policies, fidelity profiles, adaptive targets) and the annotation settings
//! at once ([`Pipeline::reload`]); buffered traces stay and are decided by the new rules. An
//! invalid one is logged with its key paths and the running config stays. Settings only a
//! restart applies ([`restart`]) are named in a warning.

pub mod engine;
pub mod restart;

pub use engine::Engine;

use crate::config::{self, Config};
use crate::pipeline::Pipeline;
use crate::telemetry::names;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::Signal;

/// How often the config file is read to see whether it changed.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the config comes from, as given on the command line.
pub struct Source {
    pub path: PathBuf,
    /// `--set` overrides, applied again on every reload.
    pub set: Vec<String>,
    /// SIGHUP, installed before anything else at start (its default action ends the process).
    pub hangup: Option<Signal>,
    pub poll: Duration,
}

/// What set a reload off.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Signal,
    FileChanged,
}

impl Trigger {
    fn label(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChanged => "config file changed",
        }
    }
}

/// Watches the source and applies valid configs to the pipeline.
pub struct Reloader {
    source: Source,
    pipeline: Arc<Pipeline>,
    /// The config the daemon started with: what restart-only settings are compared against.
    started: Config,
    /// The rules in use, and the config they came from.
    rules: Vec<config::Rule>,
    engine: Engine,
    /// The file's contents last seen; `None` when it could not be read.
    seen: Option<String>,
}

impl Reloader {
    /// A reloader for a daemon started with `config` (read from `source`) and `engine`.
    pub fn new(source: Source, pipeline: Arc<Pipeline>, config: Config, engine: Engine) -> Self {
        for outcome in ["applied", "rejected"] {
            metrics::counter!(names::CONFIG_RELOADS, "outcome" => outcome).increment(0);
        }
        let seen = std::fs::read_to_string(&source.path).ok();
        Reloader {
            source,
            pipeline,
            rules: config.sampling.rules.clone(),
            started: config,
            engine,
            seen,
        }
    }

    /// Runs until `stop` completes.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), String> {
        let mut stop = std::pin::pin!(stop);
        let mut hangup = self.source.hangup.take();
        let mut poll = tokio::time::interval(self.source.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let signalled = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => return Ok(()),
                s = signalled => match s {
                    Some(()) => self.reload(Trigger::Signal),
                    // The signal driver is gone (runtime shutting down): keep polling.
                    None => hangup = None,
                },
                _ = poll.tick() => {
                    if self.file_changed() {
                        self.reload(Trigger::FileChanged);
                    }
                }
            }
        }
    }

    /// Whether the file's contents differ from the last ones seen. A file that cannot be read
    /// (mid-swap, removed) is not a change: the next readable contents are.
    fn file_changed(&mut self) -> bool {
        std::fs::read_to_string(&self.source.path)
            .is_ok_and(|text| self.seen.as_deref() != Some(text.as_str()))
    }

    fn reload(&mut self, trigger: Trigger) {
        let origin = self.source.path.display().to_string();
        let text = match std::fs::read_to_string(&self.source.path) {
            Ok(t) => t,
            Err(e) => {
                return rejected(
                    trigger,
                    &format!("{origin}: cannot read the configuration file: {e}"),
                )
            }
        };
        self.seen = Some(text.clone());
        let env = |name: &str| std::env::var(name).ok();
        let new = match config::parse_with(&text, &origin, &self.source.set, &env) {
            Ok(c) => c,
            Err(e) => return rejected(trigger, &e.to_string()),
        };
        let engine = match Engine::compile_after(&new, Some(&self.engine)) {
            Ok(e) => e,
            Err(e) => return rejected(trigger, &format!("{origin}: {e}")),
        };
        let carried = engine.adopt(&new.sampling.rules, &self.engine, &self.rules);
        let Some(generation) = self.pipeline.reload(&new, engine.decider()) else {
            return; // shutting down
        };
        metrics::counter!(names::CONFIG_RELOADS, "outcome" => "applied").increment(1);
        tracing::info!(
            trigger = trigger.label(),
            generation,
            carried_state = ?carried,
            "configuration reloaded: {}",
            crate::telemetry::logs::deciders(&new)
        );
        let stale = restart::changed(&self.started, &new);
        if !stale.is_empty() {
            tracing::warn!(
                "configuration reloaded, but these settings changed and take effect only after a restart: {}",
                stale.join(", ")
            );
        }
        crate::telemetry::logs::notes(&new);
        self.rules = new.sampling.rules;
        self.engine = engine;
    }
}

/// Logs a reload that left the running config in place (one line per problem) and counts it.
fn rejected(trigger: Trigger, errors: &str) {
    metrics::counter!(names::CONFIG_RELOADS, "outcome" => "rejected").increment(1);
    tracing::error!(
        trigger = trigger.label(),
        "configuration reload rejected; the running configuration stays:\n{errors}"
    );
}
