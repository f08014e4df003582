//! Samplers: consistent probability sampling on the trace's randomness, adaptive sampling to a
//! throughput target, token-bucket rate limits.

pub mod adaptive;
pub mod allocate;
pub mod floor;
pub mod group;
pub mod key;
pub mod probability;
pub mod rate_limit;
