//! Batching: concatenates encoded `ExportTraceServiceRequest`s into one request, closed by spans, bytes or age.
//!
//! Concatenating two encoded messages of the same protobuf type encodes their merge; for
//! `ExportTraceServiceRequest` (one repeated field) that is the union of their `resource_spans`.
//! So batching never decodes or re-encodes a span.

use super::{Ack, ExportItem};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// One export request: the concatenated bodies of its items.
#[derive(Debug, Clone)]
pub struct Batch {
    pub body: Bytes,
    pub spans: usize,
    pub items: usize,
    /// The acknowledgements of the items in the batch, resolved with it.
    pub acks: Vec<Ack>,
}

/// When a batch is closed.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_spans: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Collects items from the exporter's channel into batches.
pub struct Batcher {
    limits: BatchLimits,
    rx: UnboundedReceiver<ExportItem>,
    parts: Vec<Bytes>,
    acks: Vec<Ack>,
    spans: usize,
    bytes: usize,
    /// When the open batch must be closed (its first item's arrival + `timeout`).
    deadline: Option<Instant>,
    /// An item that did not fit into the batch just closed; it opens the next one.
    carry: Option<ExportItem>,
}

impl Batcher {
    pub fn new(limits: BatchLimits, rx: UnboundedReceiver<ExportItem>) -> Batcher {
        Batcher {
            limits,
            rx,
            parts: Vec::new(),
            acks: Vec::new(),
            spans: 0,
            bytes: 0,
            deadline: None,
            carry: None,
        }
    }

    /// The next closed batch; `None` once the channel is closed and everything was handed out.
    /// Once the channel is closed, a partial batch is closed at once. Cancel-safe: state lives
    /// in `self` and nothing is awaited between receiving an item and storing it.
    pub async fn next(&mut self) -> Option<Batch> {
        loop {
            if let Some(item) = self.carry.take() {
                if let Some(full) = self.push(item) {
                    return Some(full);
                }
            }
            let item = match self.deadline {
                Some(deadline) => tokio::select! {
                    biased;
                    _ = tokio::time::sleep_until(deadline) => return self.close(),
                    item = self.rx.recv() => item,
                },
                None => self.rx.recv().await,
            };
            match item {
                Some(item) => {
                    if let Some(full) = self.push(item) {
                        return Some(full);
                    }
                }
                None => return self.close(),
            }
        }
    }

    /// Stops accepting and returns everything not yet handed out, as (spans, bytes, the
    /// items' acknowledgements).
    pub fn abandon(&mut self) -> (usize, usize, Vec<Ack>) {
        self.rx.close();
        let mut spans = self.spans;
        let mut bytes = self.bytes;
        let mut acks = std::mem::take(&mut self.acks);
        self.parts.clear();
        (self.spans, self.bytes, self.deadline) = (0, 0, None);
        let carried = self.carry.take();
        for item in carried
            .into_iter()
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
        {
            spans += item.spans;
            bytes += item.body.len();
            acks.extend(item.ack);
        }
        (spans, bytes, acks)
    }

    /// Adds an item; returns a batch when one closed.
    fn push(&mut self, item: ExportItem) -> Option<Batch> {
        let l = self.limits;
        if !self.parts.is_empty()
            && (self.spans + item.spans > l.max_spans || self.bytes + item.body.len() > l.max_bytes)
        {
            // Does not fit: close the open batch, the item opens the next one.
            self.carry = Some(item);
            return self.close();
        }
        if self.parts.is_empty() {
            self.deadline = Some(Instant::now() + l.timeout);
        }
        self.spans += item.spans;
        self.bytes += item.body.len();
        self.parts.push(item.body);
        self.acks.extend(item.ack);
        if self.spans >= l.max_spans || self.bytes >= l.max_bytes {
            return self.close();
        }
        None
    }

    fn close(&mut self) -> Option<Batch> {
        if self.parts.is_empty() {
            return None;
        }
        let items = self.parts.len();
        let body = if items == 1 {
            self.parts.pop().unwrap_or_default()
        } else {
            let mut buf = BytesMut::with_capacity(self.bytes);
            for part in self.parts.drain(..) {
                buf.extend_from_slice(&part);
            }
            buf.freeze()
        };
        let batch = Batch {
            body,
            spans: self.spans,
            items,
            acks: std::mem::take(&mut self.acks),
        };
        (self.spans, self.bytes, self.deadline) = (0, 0, None);
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    use tokio::sync::mpsc;

    fn request(service: &str, spans: usize) -> ExportTraceServiceRequest {
        let spans = (0..spans)
            .map(|i| Span {
                trace_id: vec![7; 16],
                span_id: vec![i as u8 + 1; 8],
                name: format!("{service}-{i}"),
                ..Default::default()
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn item(spans: usize, bytes: usize) -> ExportItem {
        ExportItem::new(Bytes::from(vec![0u8; bytes]), spans)
    }

    fn limits(max_spans: usize, max_bytes: usize, timeout_ms: u64) -> BatchLimits {
        BatchLimits {
            max_spans,
            max_bytes,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn concatenated_requests_decode_as_their_merge() {
        let a = request("a", 2);
        let b = request("b", 3);
        let mut cat = a.encode_to_vec();
        cat.extend_from_slice(&b.encode_to_vec());
        let merged = ExportTraceServiceRequest::decode(cat.as_slice()).unwrap();
        let mut expected = a.resource_spans.clone();
        expected.extend(b.resource_spans.clone());
        assert_eq!(merged.resource_spans, expected);
    }

    #[tokio::test]
    async fn batch_body_is_the_concatenation_and_decodes() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(5, 1 << 20, 1000), rx);
        let (a, b) = (request("a", 2), request("b", 3));
        for r in [&a, &b] {
            let body = Bytes::from(r.encode_to_vec());
            tx.send(ExportItem::new(
                body,
                r.resource_spans[0].scope_spans[0].spans.len(),
            ))
            .unwrap();
        }
        let batch = batcher.next().await.unwrap();
        assert_eq!((batch.spans, batch.items), (5, 2));
        let decoded = ExportTraceServiceRequest::decode(batch.body).unwrap();
        assert_eq!(decoded.resource_spans.len(), 2);
        assert_eq!(decoded.resource_spans[1], b.resource_spans[0]);
    }

    #[tokio::test(start_paused = true)]
    async fn closes_on_span_count() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(4, 1 << 20, 1000), rx);
        for _ in 0..5 {
            tx.send(item(2, 10)).unwrap();
        }
        let start = Instant::now();
        let b = batcher.next().await.unwrap();
        assert_eq!((b.spans, b.items, b.body.len()), (4, 2, 20));
        let b = batcher.next().await.unwrap();
        assert_eq!((b.spans, b.items), (4, 2));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "full batches close without waiting"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closes_on_bytes_without_exceeding_them() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(1000, 100, 1000), rx);
        tx.send(item(1, 60)).unwrap();
        tx.send(item(1, 60)).unwrap(); // would make 120 > 100: closes the first batch
        tx.send(item(1, 40)).unwrap(); // 60 + 40 = 100: closes at the limit
        tx.send(item(1, 250)).unwrap(); // bigger than the limit alone: a batch of its own
        let sizes: Vec<usize> = [
            batcher.next().await.unwrap(),
            batcher.next().await.unwrap(),
            batcher.next().await.unwrap(),
        ]
        .iter()
        .map(|b| b.body.len())
        .collect();
        assert_eq!(sizes, vec![60, 100, 250]);
    }

    #[tokio::test(start_paused = true)]
    async fn closes_on_timeout_after_first_item() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(1000, 1 << 20, 200), rx);
        let start = Instant::now();
        tx.send(item(1, 10)).unwrap();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            tx2.send(item(2, 10)).unwrap();
        });
        let b = batcher.next().await.unwrap();
        assert_eq!((b.spans, b.items), (3, 2));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "age counts from the first item"
        );
        // An idle batcher does not wake up with empty batches.
        let idle = tokio::time::timeout(Duration::from_secs(60), batcher.next()).await;
        assert!(idle.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn channel_close_flushes_partial_batch_at_once() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(1000, 1 << 20, 10_000), rx);
        tx.send(item(3, 10)).unwrap();
        drop(tx);
        let start = Instant::now();
        assert_eq!(batcher.next().await.unwrap().spans, 3);
        assert!(batcher.next().await.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn abandon_returns_everything_not_handed_out() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut batcher = Batcher::new(limits(3, 1 << 20, 10_000), rx);
        tx.send(item(2, 10)).unwrap();
        tx.send(item(2, 10)).unwrap(); // closes [2], carries the second
        tx.send(item(1, 5)).unwrap();
        assert_eq!(batcher.next().await.unwrap().spans, 2);
        let (spans, bytes, acks) = batcher.abandon();
        assert_eq!((spans, bytes, acks.len()), (3, 15, 0));
        assert!(tx.send(item(1, 1)).is_err(), "closed after abandon");
    }
}
