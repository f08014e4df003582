//! What operators run: the CLI, simulate (and its agreement with the daemon), deploy manifests,
//! the official Python SDK as a client, and replayed fuzz regressions.
//!
//! One test binary per area (modules under `tests/operator/`), so `support/` is compiled once per
//! area rather than once per file.

mod support;

#[path = "operator/cli.rs"]
mod cli;
#[path = "operator/deploy_manifests.rs"]
mod deploy_manifests;
#[path = "operator/fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "operator/interop_python.rs"]
mod interop_python;
#[path = "operator/simulate.rs"]
mod simulate;
#[path = "operator/simulate_matches_daemon.rs"]
mod simulate_matches_daemon;
