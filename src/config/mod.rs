//! Configuration: the schema, units, loading with key-path errors, and validation.

pub mod action;
mod expand;
pub mod exporter;
pub mod go_units;
mod load;
pub(crate) mod matchers;
mod overrides;
pub mod schema;
pub mod schema_cluster;
pub mod schema_pipelines;
pub mod schema_samplers;
pub mod schema_storage;
pub mod schema_tls;
mod secrets;
pub mod tail_sampling;
mod tail_sampling_settings;
pub mod units;
mod validate;
mod validate_cluster;
mod validate_exporters;
mod validate_pipelines;
mod validate_rules;
mod validate_samplers;
mod validate_tls;

#[cfg(test)]
pub(crate) mod tests;

pub use action::{ActionError, ActionSpec};
pub use load::{load, load_with, parse, parse_with, ConfigError};
pub use schema::*;
pub use schema_cluster::ClusterConfig;
pub use schema_pipelines::{
    AttributeAggregate, CaptureSettings, FidelityPreset, MediaReduction, MinPerKey, SlowerThan,
    SpanCount,
};
pub use schema_samplers::{AdaptiveAction, KeyField, RateLimitAction};
pub use schema_storage::{StorageConfig, SyncMode};
pub use schema_tls::{AuthConfig, TlsConfig};
pub use units::{ByteSize, Dur};
pub use validate::ValidationError;
