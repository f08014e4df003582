//! The daemon's own telemetry: metric names, the Prometheus recorder, health endpoints, logs.

pub mod describe;
pub mod dynamic;
pub mod handles;
pub mod late_errors;
pub mod logs;
pub mod metrics;
pub mod names;
pub mod startup;
pub mod warn;
