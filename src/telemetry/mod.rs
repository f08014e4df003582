//! The daemon's own telemetry: metric names, the Prometheus recorder, health endpoints, logs.

pub mod dynamic;
pub mod logs;
pub mod metrics;
pub mod names;
pub mod warn;
