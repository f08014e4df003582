//! The attacker of tests/daemon/mutation_attack.rs: hostile requests over OTLP/HTTP (protobuf and JSON,
//! each with and without gzip, under garbage content types too) and OTLP/gRPC (raw frames,
//! honest or lying), from a seeded RNG so a failing run can be replayed.

pub mod mutate;
pub mod send;

use rand::rngs::StdRng;
use rand::Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the attackers saw, shared between their tasks.
#[derive(Default)]
pub struct Tally {
    pub sent: AtomicUsize,
    /// Requests the daemon accepted (some damage leaves a valid request).
    pub accepted: AtomicUsize,
    pub failures: Mutex<Vec<String>>,
    /// The slowest answers: (time, what was sent).
    pub slowest: Mutex<Vec<(Duration, String)>>,
}

impl Tally {
    fn took(&self, t: Duration, what: &str) {
        let mut s = self.slowest.lock().unwrap();
        if s.len() < 5 || t > s[s.len() - 1].0 {
            s.push((t, what.to_string()));
            s.sort_by_key(|e| std::cmp::Reverse(e.0));
            s.truncate(5);
        }
    }

    fn fail(&self, what: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    }
}

/// A gzip bomb: 16 MiB of zeros in about 16 KiB.
pub fn bomb() -> Vec<u8> {
    send::gzip(&vec![0u8; 16 << 20])
}

const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/x-protobuf"),
    Some("application/json"),
    Some("application/x-protobuf; charset=utf-8"),
    Some("application/protobuf"),
    Some("text/plain"),
    Some("application/grpc"),
    Some("multipart/form-data; boundary=x"),
    None,
];

/// What the attackers share: where to send, how much, and where to count.
pub struct Plan {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// Hostile requests to send at most, by all attackers together.
    pub budget: usize,
    /// Whether to send the attacks the daemon is known not to survive yet.
    pub stop: Arc<AtomicBool>,
    pub tally: Arc<Tally>,
    pub bomb: Arc<Vec<u8>>,
}

/// One attacker: sends hostile requests from an RNG seeded with `seed` until the plan's stop
/// is set or its budget is spent.
pub async fn run(plan: Arc<Plan>, seed: u64) {
    use rand::SeedableRng;
    let mut rng = StdRng::seed_from_u64(seed);
    let (http, grpc, tally) = (plan.http, plan.grpc, &plan.tally);
    let mut channel = send::channel(grpc);
    let mut client = send::http_client();
    while !plan.stop.load(Ordering::SeqCst) {
        let n = tally.sent.fetch_add(1, Ordering::SeqCst);
        if n >= plan.budget {
            break;
        }
        let started = Instant::now();
        let target = Target {
            http,
            client: &client,
            channel: &mut channel,
        };
        let (what, result) = one(&mut rng, n as u64, target, &plan.bomb).await;
        tally.took(started.elapsed(), &what);
        match result {
            Ok(code) if code == 200 || code == 0 => {
                tally.accepted.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => {
                tally.fail(format!("request {n} ({what}): {e}"));
                channel = send::channel(grpc);
                client = send::http_client();
            }
        }
    }
}

/// One hostile request; returns a description and the outcome (HTTP status or gRPC code).
/// Where hostile requests go.
struct Target<'a> {
    http: SocketAddr,
    client: &'a send::HttpClient,
    channel: &'a mut tonic::transport::Channel,
}

async fn one(
    rng: &mut StdRng,
    n: u64,
    t: Target<'_>,
    bomb: &[u8],
) -> (String, Result<i32, String>) {
    let (attack, proto) = mutate::protobuf(rng, n);
    let gz = rng.random_bool(0.5);
    match rng.random_range(0..6) {
        0 | 1 => {
            let ct = if rng.random_bool(0.85) {
                CONTENT_TYPES[0]
            } else {
                CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())]
            };
            let (ce, body) = encode(rng, gz, proto, bomb);
            let r = send::http(t.client, t.http, ct, ce, body).await;
            (
                format!("HTTP protobuf {attack:?} {ct:?} {ce:?}"),
                r.map(i32::from),
            )
        }
        2 | 3 => {
            let json = mutate::json(rng, n);
            let ct = if rng.random_bool(0.85) {
                CONTENT_TYPES[1]
            } else {
                CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())]
            };
            let (ce, body) = encode(rng, gz, json, bomb);
            let r = send::http(t.client, t.http, ct, ce, body).await;
            (format!("HTTP JSON {ct:?} {ce:?}"), r.map(i32::from))
        }
        _ => {
            let honest = rng.random_bool(0.8);
            let (encoding, message) = if gz {
                (Some("gzip"), send::gzip(&proto))
            } else {
                (None, proto)
            };
            let body = if honest {
                send::frame(gz, &message)
            } else {
                lying_frames(rng, gz, &message)
            };
            let (ct, encoding) = match rng.random_range(0..12) {
                0 => ("application/grpc+json", encoding),
                1 => ("text/plain", encoding),
                2 => ("application/grpc", Some("snappy")),
                _ => ("application/grpc", encoding),
            };
            let r = send::grpc(t.channel, ct, encoding, body, honest).await;
            (
                format!("gRPC {attack:?} {ct} {encoding:?} honest={honest}"),
                r,
            )
        }
    }
}

/// The body and its `Content-Encoding`: plain, gzip, broken gzip, a gzip bomb, or a lie.
fn encode(
    rng: &mut StdRng,
    gz: bool,
    body: Vec<u8>,
    bomb: &[u8],
) -> (Option<&'static str>, Vec<u8>) {
    if !gz {
        return (None, body);
    }
    match rng.random_range(0..10) {
        0 => (Some("gzip"), bomb.to_vec()),
        1 => (Some("gzip"), body), // claims gzip, is not
        2 => {
            let mut z = send::gzip(&body);
            mutate::bytes(rng, &mut z);
            (Some("gzip"), z)
        }
        3 => (Some("br"), body),
        _ => (Some("gzip"), send::gzip(&body)),
    }
}

/// gRPC frames that lie: a length longer or shorter than the message, a compressed flag with
/// nothing compressed, several frames, a 4 GiB length, or no frame at all.
fn lying_frames(rng: &mut StdRng, gz: bool, message: &[u8]) -> Vec<u8> {
    let mut f = send::frame(gz, message);
    match rng.random_range(0..6) {
        0 => f[1..5].copy_from_slice(&(message.len() as u32 + 100).to_be_bytes()),
        1 => f[1..5].copy_from_slice(&(message.len() as u32 / 2).to_be_bytes()),
        2 => f[0] = 1 - f[0],
        3 => f.extend(send::frame(gz, message)),
        4 => f[1..5].copy_from_slice(&u32::MAX.to_be_bytes()),
        _ => f.truncate(rng.random_range(0..5)),
    }
    f
}
