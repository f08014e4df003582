//! The Collector's tail_sampling configuration: policies, validation, and the daemon running it.
//!
//! One test binary per area (modules under `tests/collector/`), so `support/` is compiled once per
//! area rather than once per file.

mod support;

#[path = "collector/daemon.rs"]
mod daemon;
#[path = "collector/policies.rs"]
mod policies;
#[path = "collector/validate.rs"]
mod validate;
