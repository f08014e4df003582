//! The daemon's metrics live in one process-wide recorder, and a test binary runs its tests in
//! parallel threads of one process. A test that asserts on metric values (or counts panics)
//! takes [`exclusive`]: no other daemon of the binary runs while it holds it. Every in-process
//! daemon (and exporter) a test starts holds [`shared`] for its lifetime. While a test holds
//! [`exclusive`], its scrapes of this process report counters relative to its start.

use std::cell::Cell;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static LOCK: RwLock<()> = RwLock::const_new(());

thread_local! {
    /// Set while this thread's test holds the exclusive guard, so the daemons it starts itself
    /// (from the test body, which runs on this thread) do not wait for it.
    static EXCLUSIVE_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Held by a test whose assertions read the process-wide metrics.
pub struct Exclusive {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        EXCLUSIVE_HERE.with(|e| e.set(false));
        super::prom::Metrics::set_baseline(false);
    }
}

/// Waits until no other daemon of this test binary runs, and keeps it so until dropped.
pub async fn exclusive() -> Exclusive {
    let guard = LOCK.write().await;
    EXCLUSIVE_HERE.with(|e| e.set(true));
    // Counters start from what earlier tests left: scrapes report what this test caused.
    super::prom::Metrics::set_baseline(true);
    Exclusive { _guard: guard }
}

/// Held by every in-process daemon or exporter a test runs.
pub struct Shared {
    _guard: Option<RwLockReadGuard<'static, ()>>,
}

/// Waits while a test holds [`exclusive`] (unless it is this thread's own test).
pub async fn shared() -> Shared {
    if EXCLUSIVE_HERE.with(|e| e.get()) {
        return Shared { _guard: None };
    }
    Shared {
        _guard: Some(LOCK.read().await),
    }
}

/// [`shared`] for a synchronous test (one that runs deciders or exporters without a runtime).
pub fn shared_blocking() -> Shared {
    if EXCLUSIVE_HERE.with(|e| e.get()) {
        return Shared { _guard: None };
    }
    Shared {
        _guard: Some(LOCK.blocking_read()),
    }
}
