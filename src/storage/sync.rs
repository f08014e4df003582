//! Group commit for `sync: fsync`: one thread flushes the active segment whenever records were
//! written since its last flush, so requests arriving together share one `fdatasync`. Waiters
//! learn, through a watch channel, how many records are known durable (or failed to become so).

use super::log::Log;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use tokio::sync::watch;

/// Records flushed so far, and the count up to which a flush failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    pub durable: u64,
    pub failed: u64,
}

pub(super) struct Syncer {
    dirty: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
    flushed: watch::Sender<Flushed>,
}

impl Syncer {
    /// Starts the flushing thread for `log`; it ends when the log is dropped or [`Syncer::stop`].
    pub fn start(log: Weak<Log>) -> Arc<Syncer> {
        let s = Arc::new(Syncer {
            dirty: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            flushed: watch::channel(Flushed::default()).0,
        });
        let me = s.clone();
        std::thread::Builder::new()
            .name("tailsift-fsync".into())
            .spawn(move || me.run(log))
            .expect("spawning the storage flush thread");
        s
    }

    /// Records were written: flush soon.
    pub fn notify(&self) {
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_one();
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.notify();
    }

    pub fn subscribe(&self) -> watch::Receiver<Flushed> {
        self.flushed.subscribe()
    }

    fn run(&self, log: Weak<Log>) {
        loop {
            {
                let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
                while !*dirty && !self.stop.load(Ordering::Acquire) {
                    dirty = self.wake.wait(dirty).unwrap_or_else(|p| p.into_inner());
                }
                *dirty = false;
            }
            let Some(log) = log.upgrade() else { return };
            let (file, written) = {
                let inner = log.lock();
                (inner.active.as_ref().map(|a| a.file.clone()), inner.written)
            };
            let result = file.map_or(Ok(()), |f| f.sync_data());
            self.flushed.send_modify(|f| match &result {
                Ok(()) => f.durable = f.durable.max(written),
                Err(_) => f.failed = f.failed.max(written),
            });
            if let Err(e) = result {
                crate::warn_limited!(error = %e, "flushing the storage log to disk failed; the requests waiting for it are refused (retryable)");
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

/// Waits until record number `n` is flushed; `false` when its flush failed.
pub async fn wait(mut rx: watch::Receiver<Flushed>, n: u64) -> bool {
    match rx.wait_for(|f| f.durable >= n || f.failed >= n).await {
        Ok(f) => f.durable >= n,
        Err(_) => false,
    }
}
