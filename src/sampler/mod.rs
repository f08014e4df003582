//! Samplers: consistent probability sampling on the trace id.

pub mod probability;
