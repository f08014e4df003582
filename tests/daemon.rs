//! The daemon's data path end to end: real receivers on 127.0.0.1:0, rules, sampling, late spans,
//! overload, shutdown, supervision, metrics and hostile input.
//!
//! One test binary per area (modules under `tests/daemon/`), so `support/` is compiled once per
//! area rather than once per file.

mod attack;
mod support;

#[path = "daemon/exporters.rs"]
mod exporters;
#[path = "daemon/flow.rs"]
mod flow;
#[path = "daemon/input.rs"]
mod input;
#[path = "daemon/late.rs"]
mod late;
#[path = "daemon/lifecycle.rs"]
mod lifecycle;
#[path = "daemon/malformed.rs"]
mod malformed;
#[path = "daemon/metrics.rs"]
mod metrics;
#[path = "daemon/mutation_attack.rs"]
mod mutation_attack;
#[path = "daemon/overload.rs"]
mod overload;
#[path = "daemon/poison.rs"]
mod poison;
#[path = "daemon/rules.rs"]
mod rules;
#[path = "daemon/sampling.rs"]
mod sampling;
#[path = "daemon/shutdown.rs"]
mod shutdown;
#[path = "daemon/supervision.rs"]
mod supervision;
