//! Retry policy: the one classification of export errors, exponential backoff with jitter, Retry-After and RetryInfo.

use super::ExportError;
use rand::Rng;
use std::time::{Duration, SystemTime};
use tonic::Code;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Permanent: the batch fails with reason `not_retryable`.
    No,
    /// Transient: try again, after the server's delay when it named one, else after a backoff.
    Yes { after: Option<Duration> },
}

/// The single place that decides whether a failed export attempt may be retried (OTLP spec:
/// <https://opentelemetry.io/docs/specs/otlp/#failures>).
pub fn classify(err: &ExportError) -> Retry {
    match err {
        ExportError::Grpc(status) => match status.code() {
            Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
            | Code::OutOfRange
            | Code::DataLoss => Retry::Yes {
                after: grpc_retry_delay(status.details()),
            },
            _ => Retry::No,
        },
        ExportError::Http {
            status,
            retry_after,
            ..
        } => match status {
            429 | 502 | 503 | 504 => Retry::Yes {
                after: *retry_after,
            },
            _ => Retry::No,
        },
        ExportError::Transport(_) | ExportError::Timeout(_) => Retry::Yes { after: None },
        // Local I/O (the `file` exporter): out of descriptors (EMFILE, ENFILE), a full disk
        // (ENOSPC), EIO, a missing or unwritable directory: each may clear, so retry with backoff
        // until `retry.max_elapsed` rather than lose the batch at the first failure.
        ExportError::Io(_) => Retry::Yes { after: None },
        ExportError::Config { .. } | ExportError::Malformed(_) => Retry::No,
    }
}

/// Exponential backoff: `initial * 2^attempt`, capped at `max`, with equal jitter (the delay
/// lies in `[base/2, base]`, so it never collapses to zero and never exceeds the cap).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The un-jittered delay before retry number `attempt` (0 = first retry).
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The jittered delay before retry number `attempt`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let base = self.base(attempt).as_nanos().min(u64::MAX as u128) as u64;
        let half = base / 2;
        Duration::from_nanos(half + rng.random_range(0..=base - half))
    }
}

/// Parses an HTTP `Retry-After` value: delay seconds, or an HTTP date (a past date means now).
/// Longest server-requested retry delay honoured (a day); `max_elapsed` usually ends it sooner.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;

pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        // Capped at a day: a larger answer is nonsense, and must not overflow time arithmetic.
        return Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `google.rpc.RetryInfo.retry_delay` from a `grpc-status-details-bin` payload (a `google.rpc.Status`).
pub fn grpc_retry_delay(details: &[u8]) -> Option<Duration> {
    use prost::Message;
    if details.is_empty() {
        return None;
    }
    let status = rpc::Status::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let delay = rpc::RetryInfo::decode(any.value.as_slice())
        .ok()?
        .retry_delay?;
    if delay.seconds < 0 || delay.nanos < 0 {
        return None;
    }
    Some(Duration::new(delay.seconds as u64, 0) + Duration::from_nanos(delay.nanos as u64))
}

/// The `google.rpc` messages a `RetryInfo` is read from.
pub use crate::otlp::rpc;

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use rand::SeedableRng;
    use tonic::Status;

    fn http(status: u16, retry_after: Option<Duration>) -> ExportError {
        ExportError::Http {
            status,
            retry_after,
            message: String::new(),
        }
    }

    #[test]
    fn classification_table() {
        let yes = Retry::Yes { after: None };
        let cases: Vec<(ExportError, Retry)> = vec![
            (Status::unavailable("x").into(), yes),
            (Status::resource_exhausted("x").into(), yes),
            (Status::deadline_exceeded("x").into(), yes),
            (Status::aborted("x").into(), yes),
            (Status::cancelled("x").into(), yes),
            (Status::out_of_range("x").into(), yes),
            (Status::data_loss("x").into(), yes),
            (Status::invalid_argument("x").into(), Retry::No),
            (Status::unauthenticated("x").into(), Retry::No),
            (Status::permission_denied("x").into(), Retry::No),
            (Status::unimplemented("x").into(), Retry::No),
            (Status::internal("x").into(), Retry::No),
            (Status::not_found("x").into(), Retry::No),
            (http(429, None), yes),
            (http(502, None), yes),
            (
                http(503, Some(Duration::from_secs(3))),
                Retry::Yes {
                    after: Some(Duration::from_secs(3)),
                },
            ),
            (http(504, None), yes),
            (http(400, None), Retry::No),
            (http(401, None), Retry::No),
            (http(404, None), Retry::No),
            (http(413, None), Retry::No),
            (http(500, None), Retry::No),
            (ExportError::Transport("connection refused".into()), yes),
            (ExportError::Timeout(Duration::from_secs(1)), yes),
            (ExportError::Io(std::io::Error::other("disk")), yes),
            (ExportError::Io(std::io::Error::from_raw_os_error(24)), yes), // EMFILE
            (ExportError::Io(std::io::Error::from_raw_os_error(23)), yes), // ENFILE
            (ExportError::Io(std::io::Error::from_raw_os_error(28)), yes), // ENOSPC
            (ExportError::Io(std::io::Error::from_raw_os_error(5)), yes),  // EIO
            (ExportError::Io(std::io::Error::from_raw_os_error(20)), yes), // ENOTDIR
            (ExportError::Malformed("bad".into()), Retry::No),
        ];
        for (err, expected) in cases {
            assert_eq!(classify(&err), expected, "{err}");
        }
    }

    fn retry_info_details(seconds: i64, nanos: i32) -> Vec<u8> {
        let info = rpc::RetryInfo {
            retry_delay: Some(rpc::Duration { seconds, nanos }),
        };
        rpc::Status {
            code: Code::Unavailable as i32,
            message: "slow down".into(),
            details: vec![rpc::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn grpc_retry_info_is_honoured() {
        let details = retry_info_details(2, 500_000_000);
        let status = Status::with_details(Code::ResourceExhausted, "busy", details.into());
        assert_eq!(
            classify(&status.into()),
            Retry::Yes {
                after: Some(Duration::from_millis(2500))
            }
        );
        assert_eq!(grpc_retry_delay(b"\xff\xff garbage"), None);
        assert_eq!(grpc_retry_delay(&retry_info_details(-1, 0)), None);
        // Details on a permanent error do not make it retryable.
        let details = retry_info_details(1, 0);
        let status = Status::with_details(Code::InvalidArgument, "bad", details.into());
        assert_eq!(classify(&status.into()), Retry::No);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 GMT
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a past date means retry now"
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(86_400)),
            "absurd delays are capped, never overflow"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let bases: Vec<u64> = (0..6).map(|a| b.base(a).as_millis() as u64).collect();
        assert_eq!(bases, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.base(u32::MAX), Duration::from_secs(1), "no overflow");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 0..8 {
            let base = b.base(attempt);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d >= base / 2 && d <= base,
                    "attempt {attempt}: {d:?} outside [{:?}, {base:?}]",
                    base / 2
                );
                seen.insert(d);
            }
            assert!(seen.len() > 100, "jitter spreads the delays");
        }
    }
}
