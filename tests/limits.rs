//! Resource limits of the real daemon: memory_limit under load, connection caps and slow clients.
//!
//! One test binary per area (modules under `tests/limits/`), so `support/` is compiled once per
//! area rather than once per file.

mod support;

#[path = "limits/connections.rs"]
mod connections;
#[path = "limits/memory.rs"]
mod memory;
