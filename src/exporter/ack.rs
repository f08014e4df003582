//! Acknowledgements: an export item may carry an [`Ack`], completed exactly once, when every
//! exporter has resolved its copy of the item: delivered, or given up on with a reason. What
//! holds data for the item (the storage log) releases it on that completion; a `Shutdown`
//! failure means the item is still owed and must be kept for the next start.

use super::FailReason;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// How an item ended, over all exporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every exporter delivered it (a backend's partial success counts as delivered: the
    /// rejected spans are counted under `partial_success`).
    Delivered,
    /// At least one exporter gave up on it; the first reason given.
    Failed(FailReason),
}

type Callback = Box<dyn FnOnce(Outcome) + Send>;

struct Inner {
    /// Copies of the item not yet resolved.
    remaining: AtomicUsize,
    failure: Mutex<Option<FailReason>>,
    done: Mutex<Option<Callback>>,
}

/// The acknowledgement of one export item, shared by every exporter's copy.
#[derive(Clone)]
pub struct Ack(Arc<Inner>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("remaining", &self.0.remaining.load(Ordering::Relaxed))
            .finish()
    }
}

impl Ack {
    /// An acknowledgement that calls `done` once, with the item's outcome.
    pub fn new(done: impl FnOnce(Outcome) + Send + 'static) -> Ack {
        Ack(Arc::new(Inner {
            remaining: AtomicUsize::new(0),
            failure: Mutex::new(None),
            done: Mutex::new(Some(Box::new(done))),
        }))
    }

    /// An acknowledgement whose outcome arrives on the returned receiver.
    pub fn channel() -> (Ack, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        (
            Ack::new(move |o| {
                let _ = tx.send(o);
            }),
            rx,
        )
    }

    /// Called once by the fan-out, before any copy is handed out: `copies` exporters will
    /// each resolve the item. With none, the item is delivered at once.
    pub(crate) fn expect(&self, copies: usize) {
        self.0.remaining.store(copies, Ordering::Release);
        if copies == 0 {
            self.complete();
        }
    }

    /// One exporter resolved its copy: `None` delivered, `Some(reason)` gave up.
    pub(crate) fn resolve(&self, failure: Option<FailReason>) {
        if let Some(reason) = failure {
            self.0
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(reason);
        }
        // Resolving more copies than were expected is a bug; it never completes twice.
        let before = self
            .0
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if before == Ok(1) {
            self.complete();
        }
    }

    fn complete(&self) {
        let done = self.0.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            let failure = *self.0.failure.lock().unwrap_or_else(|p| p.into_inner());
            done(failure.map_or(Outcome::Delivered, Outcome::Failed));
        }
    }
}

/// Resolves every ack in `acks` the same way (one exporter's batch).
pub(crate) fn resolve_all(acks: &[Ack], failure: Option<FailReason>) {
    for a in acks {
        a.resolve(failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_once_after_every_copy_with_the_first_failure() {
        let (ack, mut rx) = Ack::channel();
        ack.expect(3);
        ack.resolve(None);
        assert!(rx.try_recv().is_err(), "two copies still out");
        ack.resolve(Some(FailReason::RetriesExhausted));
        ack.resolve(Some(FailReason::Shutdown));
        assert_eq!(
            rx.try_recv(),
            Ok(Outcome::Failed(FailReason::RetriesExhausted))
        );
        ack.resolve(None); // one too many: ignored
    }

    #[test]
    fn no_exporters_means_delivered_at_once() {
        let (ack, mut rx) = Ack::channel();
        ack.expect(0);
        assert_eq!(rx.try_recv(), Ok(Outcome::Delivered));
    }
}
