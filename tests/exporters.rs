//! The exporters against real OTLP sinks: batching, retry, salvage of refused batches, lifecycle.
//!
//! One test binary per area (modules under `tests/exporters/`), so `support/` is compiled once per
//! area rather than once per file.

mod exporter_support;
mod support;

#[path = "exporters/lifecycle.rs"]
mod lifecycle;
#[path = "exporters/otlp.rs"]
mod otlp;
#[path = "exporters/salvage.rs"]
mod salvage;
