//! The bus's wire format: decision batches (`proto/tailsift/cluster/v1`) encoded with prost and
//! deflate-compressed, and heartbeats. Rules travel by name, never by index.

use crate::otlp::TraceId;
use crate::proto::cluster::v1::{Decision, DecisionBatch, Heartbeat};
use bytes::Bytes;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use prost::Message;
use std::io::{Read, Write};
use std::sync::Arc;

/// Largest decompressed batch accepted (a peer's bug or a stranger's message must not cost
/// memory): well above what `MAX_BATCH` decisions take.
const MAX_INFLATED: u64 = 8 << 20;

/// Most decisions in one published batch (NATS's default payload limit is 1 MiB).
pub const MAX_BATCH: usize = 8192;

/// A decision on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub trace_id: TraceId,
    pub rule: Arc<str>,
    pub keep: bool,
    pub threshold: u64,
    pub fidelity: Option<Arc<str>>,
}

/// A peer's decision as read from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub trace_id: TraceId,
    pub rule: String,
    pub keep: bool,
    pub threshold: u64,
    pub fidelity: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a deflate stream of at most {MAX_INFLATED} bytes: {0}")]
    Inflate(String),
    #[error("not a DecisionBatch: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("decision {0}: {1}")]
    Invalid(usize, &'static str),
}

/// Index of `name` in `names`, added if new.
fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    match names.iter().position(|n| n == name) {
        Some(i) => i as u32,
        None => {
            names.push(name.to_string());
            (names.len() - 1) as u32
        }
    }
}

/// One compressed batch of `decisions` from `instance`.
pub fn encode_batch(instance: &str, decisions: &[Outgoing]) -> Bytes {
    let mut batch = DecisionBatch {
        instance: instance.to_string(),
        ..Default::default()
    };
    for d in decisions {
        let rule = intern(&mut batch.rules, &d.rule);
        let fidelity = match &d.fidelity {
            Some(f) => 1 + intern(&mut batch.fidelities, f),
            None => 0,
        };
        batch.decisions.push(Decision {
            trace_id: Bytes::copy_from_slice(&d.trace_id),
            rule,
            keep: d.keep,
            threshold: d.threshold,
            fidelity,
        });
    }
    let mut z = DeflateEncoder::new(Vec::new(), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&batch.encode_to_vec());
    Bytes::from(z.finish().unwrap_or_default())
}

/// Reads a batch: the sender and its decisions.
pub fn decode_batch(payload: &[u8]) -> Result<(String, Vec<Heard>), WireError> {
    let mut raw = Vec::new();
    DeflateDecoder::new(payload)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut raw)
        .map_err(|e| WireError::Inflate(e.to_string()))?;
    if raw.len() as u64 > MAX_INFLATED {
        return Err(WireError::Inflate("too large".into()));
    }
    let batch = DecisionBatch::decode(raw.as_slice())?;
    let mut out = Vec::with_capacity(batch.decisions.len());
    for (i, d) in batch.decisions.into_iter().enumerate() {
        let trace_id: TraceId = d
            .trace_id
            .as_ref()
            .try_into()
            .map_err(|_| WireError::Invalid(i, "trace_id is not 16 bytes"))?;
        let rule = batch
            .rules
            .get(d.rule as usize)
            .ok_or(WireError::Invalid(i, "rule index out of range"))?
            .clone();
        let fidelity = match d.fidelity {
            0 => None,
            f => Some(
                batch
                    .fidelities
                    .get(f as usize - 1)
                    .ok_or(WireError::Invalid(i, "fidelity index out of range"))?
                    .clone(),
            ),
        };
        out.push(Heard {
            trace_id,
            rule,
            keep: d.keep,
            threshold: d.threshold,
            fidelity,
        });
    }
    Ok((batch.instance, out))
}

/// A heartbeat, with the sketch of the traffic decided in `window` when there is one.
pub fn encode_heartbeat(
    instance: &str,
    period_ms: u32,
    leaving: bool,
    sketch: Option<&(u64, super::sketch::Sketch)>,
) -> Bytes {
    Bytes::from(
        Heartbeat {
            instance: instance.to_string(),
            period_ms,
            leaving,
            window: sketch.map_or(0, |s| s.0),
            sketch: sketch.map_or_else(Bytes::new, |s| Bytes::copy_from_slice(&s.1 .0)),
        }
        .encode_to_vec(),
    )
}

pub fn decode_heartbeat(payload: &[u8]) -> Result<Heartbeat, prost::DecodeError> {
    Heartbeat::decode(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u8, rule: &str, keep: bool) -> Outgoing {
        Outgoing {
            trace_id: [i; 16],
            rule: rule.into(),
            keep,
            threshold: u64::from(i) << 40,
            fidelity: keep.then(|| Arc::from("lite")),
        }
    }

    #[test]
    fn a_batch_round_trips_with_names_not_indexes() {
        let sent = vec![
            d(1, "errors", true),
            d(2, "rest", false),
            d(3, "errors", true),
        ];
        let (who, heard) = decode_batch(&encode_batch("a1", &sent)).expect("decodes");
        assert_eq!(who, "a1");
        assert_eq!(heard.len(), 3);
        for (s, h) in sent.iter().zip(&heard) {
            assert_eq!(
                (
                    s.trace_id,
                    &*s.rule,
                    s.keep,
                    s.threshold,
                    s.fidelity.as_deref()
                ),
                (
                    h.trace_id,
                    h.rule.as_str(),
                    h.keep,
                    h.threshold,
                    h.fidelity.as_deref()
                )
            );
        }
    }

    #[test]
    fn damaged_or_hostile_payloads_are_errors() {
        assert!(decode_batch(b"not deflate at all").is_err());
        // A bomb: 16 MiB of zeros compress to a few KiB.
        let mut z = DeflateEncoder::new(Vec::new(), Compression::best());
        z.write_all(&vec![0u8; 16 << 20]).expect("in memory");
        let bomb = z.finish().expect("in memory");
        assert!(matches!(decode_batch(&bomb), Err(WireError::Inflate(_))));
        // An out-of-range rule index.
        let bad = DecisionBatch {
            instance: "x".into(),
            rules: vec![],
            fidelities: vec![],
            decisions: vec![Decision {
                trace_id: Bytes::from_static(&[1; 16]),
                rule: 3,
                keep: true,
                threshold: 0,
                fidelity: 0,
            }],
        };
        let mut z = DeflateEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&bad.encode_to_vec()).expect("in memory");
        let err = decode_batch(&z.finish().expect("in memory")).unwrap_err();
        assert!(err.to_string().contains("rule index"), "{err}");
    }

    #[test]
    fn heartbeats_round_trip() {
        let sk = (42, crate::cluster::sketch::Sketch::default());
        let hb = decode_heartbeat(&encode_heartbeat("b2", 1000, true, Some(&sk))).expect("decodes");
        assert_eq!(
            (hb.instance.as_str(), hb.period_ms, hb.leaving),
            ("b2", 1000, true)
        );
        assert_eq!(
            (hb.window, hb.sketch.len()),
            (42, crate::cluster::sketch::REGISTERS)
        );
    }
}
