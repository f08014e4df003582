//! Configuration: the schema, units, loading with key-path errors, and validation.

mod matchers;
pub mod schema;
pub mod units;

pub use schema::*;
pub use units::{ByteSize, Dur};
