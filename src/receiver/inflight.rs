//! Bytes in flight: every request reserves its bytes against `memory_limit` before they are
//! read (by `Content-Length` or the gRPC frame header, or chunk by chunk), grows the
//! reservation as inflation or transcoding produces more, and hands it over to the buffer's
//! [`Retained`](crate::otlp::Retained) accounting once its spans are ingested.
//!
//! Reservations are taken with a compare-and-swap against the limit, so requests arriving
//! together can never all pass a check made before any of them was counted.

use crate::pipeline::{Pipeline, Refusal};
use crate::telemetry::names;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The counter of bytes reserved by requests being received (one per pipeline).
#[derive(Debug, Default)]
pub struct InFlight {
    bytes: AtomicU64,
    /// `tailsift_receiver_inflight_bytes`, looked up on first use.
    gauge: std::sync::OnceLock<metrics::Gauge>,
}

impl InFlight {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    fn gauge(&self) -> &metrics::Gauge {
        self.gauge
            .get_or_init(|| metrics::gauge!(names::RECEIVER_INFLIGHT_BYTES))
    }
}

/// One request's share of [`InFlight`], released when dropped.
pub struct Reservation {
    pipeline: Arc<Pipeline>,
    bytes: u64,
}

impl Reservation {
    /// An empty reservation, grown as the request is read.
    pub fn new(pipeline: &Arc<Pipeline>) -> Reservation {
        Reservation {
            pipeline: pipeline.clone(),
            bytes: 0,
        }
    }

    /// Bytes this request holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reserves `n` more bytes, or refuses (retryably) when they would take what is held past
    /// `memory_limit`.
    pub fn grow(&mut self, n: u64) -> Result<(), Refusal> {
        if n == 0 {
            return Ok(());
        }
        let p = &self.pipeline;
        let limit = p.memory_limit();
        let others = p.held_bytes();
        let counter = &p.inflight().bytes;
        let mut cur = counter.load(Ordering::Acquire);
        loop {
            let total = others.saturating_add(cur).saturating_add(n);
            if total > limit {
                p.note_memory_refusal();
                return Err(Refusal::Overloaded(format!(
                    "tailsift is over its memory limit ({others} bytes held and {cur} being received; \
                     {n} more would pass the limit of {limit} bytes)"
                )));
            }
            match counter.compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.bytes += n;
        p.inflight().gauge().increment(n as f64);
        Ok(())
    }

    /// Grows the reservation to at least `total` bytes.
    pub fn grow_to(&mut self, total: u64) -> Result<(), Refusal> {
        self.grow(total.saturating_sub(self.bytes))
    }

    /// Gives back `n` bytes (their buffer was freed).
    pub fn release(&mut self, n: u64) {
        let n = n.min(self.bytes);
        if n == 0 {
            return;
        }
        let inflight = self.pipeline.inflight();
        inflight.bytes.fetch_sub(n, Ordering::AcqRel);
        inflight.gauge().decrement(n as f64);
        self.bytes -= n;
    }

    /// Shrinks the reservation to `total` bytes.
    pub fn shrink_to(&mut self, total: u64) {
        self.release(self.bytes.saturating_sub(total));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}
