//! Leases on request records: held by a request's spans and by the export items carrying its
//! kept spans; the record is released when the last holder lets go, unless one marked it owed.

use super::log::Log;
use crate::exporter::{FailReason, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The claim of one request record: released when the last holder drops it, unless marked owed.
pub struct Lease {
    log: Arc<Log>,
    position: u64,
    owed: AtomicBool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("position", &self.position)
            .finish()
    }
}

impl Lease {
    pub(super) fn new(log: Arc<Log>, position: u64) -> Lease {
        Lease {
            log,
            position,
            owed: AtomicBool::new(false),
        }
    }

    /// The record's position in the log (segment and offset).
    pub(super) fn position(&self) -> u64 {
        self.position
    }

    /// Some of the record's spans are still owed to an exporter: keep the record for the next start.
    pub fn keep_owed(&self) {
        self.owed.store(true, Ordering::Release);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.owed.load(Ordering::Acquire) {
            self.log.release(self.position);
        }
    }
}

/// The leases of one export item's spans, settled by the item's acknowledgement: delivered,
/// or failed for a reason that retrying later would not change, releases them; a shutdown,
/// or an acknowledgement dropped without an outcome (an exporter stopped), keeps them owed.
#[derive(Debug, Default)]
pub struct Held {
    pub(super) leases: Vec<Arc<Lease>>,
    settled: bool,
}

impl Held {
    /// Adds the lease of a span's record (once per run of spans from one request).
    pub fn add(&mut self, lease: &Arc<Lease>) {
        if !self.leases.last().is_some_and(|l| Arc::ptr_eq(l, lease)) {
            self.leases.push(lease.clone());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// An acknowledgement that settles these leases with the item's outcome.
    pub fn into_ack(self) -> crate::exporter::Ack {
        crate::exporter::Ack::new(move |outcome| {
            let mut held = self;
            held.settled = outcome != Outcome::Failed(FailReason::Shutdown);
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.settled {
            for l in &self.leases {
                l.keep_owed();
            }
        }
    }
}
