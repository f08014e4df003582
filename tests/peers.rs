//! tailsift against the real programs around it, built from source by `tests/peers/build.sh`:
//! Jaeger v2 as its backend, the OpenTelemetry Collector's `tail_sampling` as its oracle, and
//! the Collector's `loadbalancing` exporter in front of a fleet. Without the binaries the tests
//! print why and return, except under `CI=true`, where they fail.

mod support;

#[path = "peers/bins.rs"]
mod bins;
#[path = "peers/cases.rs"]
mod cases;
#[path = "peers/compression.rs"]
mod compression;
#[path = "peers/corpus.rs"]
mod corpus;
#[path = "peers/differences.rs"]
mod differences;
#[path = "peers/front.rs"]
mod front;
#[path = "peers/jaeger.rs"]
mod jaeger;
#[path = "peers/oracle.rs"]
mod oracle;
#[path = "peers/pair.rs"]
mod pair;
