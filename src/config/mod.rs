//! Configuration: the schema, units, loading with key-path errors, and validation.

mod load;
mod matchers;
pub mod schema;
pub mod units;
mod validate;
mod validate_exporters;
mod validate_rules;

#[cfg(test)]
mod tests;

pub use load::{load, parse, ConfigError};
pub use schema::*;
pub use units::{ByteSize, Dur};
pub use validate::ValidationError;
