//! Sampling for AI pipelines against the real daemon: `slower_than` stage sketches, trace
//! aggregates, GenAI and media fidelity, `min_per_key` and capture on demand.

mod support;

#[path = "pipelines/adaptive.rs"]
mod adaptive;
#[path = "pipelines/capture.rs"]
mod capture;
#[path = "pipelines/fidelity.rs"]
mod fidelity;
#[path = "pipelines/readme.rs"]
mod readme;
#[path = "pipelines/stages.rs"]
mod stages;
