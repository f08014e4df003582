//! Cost per span as the number of live traces grows: instructions (and simulated cache misses)
//! of the daemon's pipeline per span, counted by callgrind, with 10k, 100k and 1M traces
//! waiting in the buffer.
//!
//! Each size runs in a child process under `valgrind --tool=callgrind` with instrumentation off
//! while the buffer is filled: N traces of 4 spans without their roots (second halves that wait
//! for `decision_wait`, 60 s), each request 512 spans over 4 resource groups. Then, with
//! instrumentation on, the measured batch goes through the same [`Pipeline`] the daemon runs
//! (ingest, buffer insert, decide when due, annotate and encode kept spans for the exporter):
//! 17 requests of 512 spans in the production load shape (8-span traces split over two
//! consecutive requests, 4 resource groups, 1% error traces; keep errors + 10%), a decision
//! tick after each on a paused clock advanced by the default tick (10 ms), then ticks until
//! every measured trace is decided. Only [`measured_step`] is counted
//! (`--toggle-collect`), so the fill, the clock and the exporter's tasks are not.
//!
//! `cargo bench --bench live_traces` (needs `valgrind`; `-- --traces 10000,100000` picks the
//! sizes, `-- --no-cache-sim` leaves out the cache simulation). Without `--bench` (as
//! `cargo test --benches` runs it) it runs one small size natively as a check.

use bytes::Bytes;
use std::hint::black_box;
use std::process::Command;
use std::time::Duration;
use tailsift::fixtures;
use tailsift::pipeline::{Pipeline, Protocol};

const SERVICES: usize = 4;
/// Fill traces per request (4 spans each: 512 spans per request).
const FILL_TRACES_PER_REQUEST: usize = 128;
/// Measured requests (of 64 traces' halves each: 512 spans).
const MEASURED_REQUESTS: u64 = 17;
const TICK: Duration = Duration::from_millis(10);

/// Valgrind client requests (callgrind's START/STOP_INSTRUMENTATION), as `valgrind.h` issues
/// them on x86-64: a no-op when not running under valgrind.
mod callgrind {
    const BASE: usize = ((b'C' as usize) << 24) | ((b'T' as usize) << 16);
    const START_INSTRUMENTATION: usize = BASE + 4;
    const STOP_INSTRUMENTATION: usize = BASE + 5;

    #[cfg(target_arch = "x86_64")]
    fn request(code: usize) {
        let args: [usize; 6] = [code, 0, 0, 0, 0, 0];
        let mut result: usize = 0;
        // SAFETY: the magic preamble rotates rdi by 128 bits in total (leaving it unchanged)
        // and `xchg rbx, rbx` is a no-op; natively the sequence does nothing. Under valgrind it
        // is a client request reading the six words at rax and writing its answer to rdx.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
                "xchg rbx, rbx",
                inout("rdx") result,
                in("rax") args.as_ptr(),
                inout("rdi") 0usize => _,
            );
        }
        std::hint::black_box(result);
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn request(_code: usize) {}

    pub fn start() {
        request(START_INSTRUMENTATION);
    }
    pub fn stop() {
        request(STOP_INSTRUMENTATION);
    }
}

fn config(dir: &std::path::Path, traces: usize) -> tailsift::config::Config {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: \"127.0.0.1:0\" }} }} }}\n\
         sampling:\n  decision_wait: 60s\n  root_wait: 100ms\n\
         \x20 max_traces: {max_traces}\n  max_buffer_bytes: 64GiB\n  memory_limit: 96GiB\n  rules:\n\
         \x20   - {{ name: errors, when: {{ span: {{ status: error }} }}, keep: true }}\n\
         \x20   - {{ name: rest, probability: 0.1 }}\n\
         exporters:\n  out: {{ protocol: file, path: \"{}\" }}\n",
        dir.join("kept.jsonl").display(),
        max_traces = traces * 2 + 100_000,
    );
    tailsift::config::parse(&yaml, "live_traces bench").expect("valid config")
}

/// A request of `traces` second halves (4 spans, no root) and where each trace's id sits in
/// it, so copies can be given fresh ids without encoding again.
fn fill_template(traces: usize) -> (Vec<u8>, Vec<Vec<usize>>) {
    let mut groups: Vec<Vec<_>> = vec![Vec::new(); SERVICES];
    let ids: Vec<u128> = (0..traces as u128)
        .map(|t| (t + 1).wrapping_mul(0x51_7cc1_b727_220a_95fe_c0ff_ee00_1234))
        .collect();
    for &id in &ids {
        for (i, s) in fixtures::pipeline_trace(id, 8, false)
            .into_iter()
            .enumerate()
            .skip(4)
        {
            groups[i % SERVICES].push(s.build());
        }
    }
    let req = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .enumerate()
            .flat_map(|(i, spans)| {
                fixtures::request_with(&format!("service-{i}"), vec![], spans).resource_spans
            })
            .collect(),
    };
    let body = fixtures::encode(&req).to_vec();
    let at = ids
        .iter()
        .map(|&id| {
            let needle = fixtures::trace_id(id);
            let found: Vec<usize> = body
                .windows(16)
                .enumerate()
                .filter(|(_, w)| *w == needle)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(found.len(), 4, "each fill trace id appears once per span");
            found
        })
        .collect();
    (body, at)
}

/// One measured step: a request (if any) through ingest and the buffer, then a decision tick.
#[inline(never)]
fn measured_step(pipeline: &Pipeline, body: Option<Bytes>) {
    if let Some(body) = body {
        let a = pipeline
            .accept(Protocol::Grpc, body)
            .expect("measured request accepted");
        black_box(a);
    }
    pipeline.tick();
}

/// Fills the buffer with `traces` live traces, then runs the measured batch; prints what it
/// measured for the parent.
fn child(traces: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), traces);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let engine = tailsift::reload::Engine::compile(&config).expect("rules compile");
        let exporters = tailsift::exporter::Exporters::start(&config.exporters, false)
            .expect("exporters start");
        let pipeline = Pipeline::new(&config, engine.decider(), exporters);

        let full = fill_template(FILL_TRACES_PER_REQUEST);
        let last = fill_template(traces % FILL_TRACES_PER_REQUEST);
        let mut filled = 0usize;
        let mut request = 0u64;
        while filled < traces {
            let n = FILL_TRACES_PER_REQUEST.min(traces - filled);
            let (template, at) = if n == FILL_TRACES_PER_REQUEST {
                &full
            } else {
                &last
            };
            let mut body = template.clone();
            for (t, places) in at.iter().enumerate() {
                // Fresh, random-looking ids: a high byte no measured trace id has in practice.
                let id = fixtures::trace_id(
                    (((request << 8) | t as u64) as u128 + 1)
                        .wrapping_mul(0x9e37_79b9_7f4a_7c15_0000_0000_0000_0001)
                        | (0xfe_u128 << 120),
                );
                for &p in places {
                    body[p..p + 16].copy_from_slice(&id);
                }
            }
            pipeline
                .accept(Protocol::Grpc, Bytes::from(body))
                .expect("fill request accepted");
            filled += n;
            request += 1;
            if request.is_multiple_of(64) {
                tokio::time::advance(TICK).await;
                pipeline.tick();
            }
        }
        let live = pipeline.buffer().stats().traces;
        assert_eq!(live as usize, traces, "every fill trace is live");

        let bodies: Vec<Bytes> = (0..MEASURED_REQUESTS)
            .map(|seq| fixtures::encode(&fixtures::split_trace_request(seq, 64, SERVICES)))
            .collect();
        let spans = MEASURED_REQUESTS * 512 - 256;
        tokio::time::advance(Duration::from_secs(1)).await;
        callgrind::start();
        for body in bodies {
            measured_step(&pipeline, Some(body));
            tokio::time::advance(TICK).await;
        }
        // The last request's first halves (with their roots) are due after root_wait.
        for _ in 0..15 {
            measured_step(&pipeline, None);
            tokio::time::advance(TICK).await;
        }
        callgrind::stop();
        let after = pipeline.buffer().stats().traces;
        assert_eq!(
            after as usize, traces,
            "every measured trace is decided, every fill trace still live"
        );
        println!("measured_spans {spans} live_traces {live}");
    });
    // The filled buffer is not torn down: freeing it is not what is measured.
    std::process::exit(0);
}

struct Row {
    traces: usize,
    spans: u64,
    events: Vec<(String, u64)>,
}

impl Row {
    fn get(&self, names: &[&str]) -> Option<f64> {
        let mut sum = 0;
        for n in names {
            sum += self.events.iter().find(|(e, _)| e == n)?.1;
        }
        Some(sum as f64 / self.spans as f64)
    }
}

fn parent(sizes: &[usize], cache_sim: bool) {
    let exe = std::env::current_exe().expect("own path");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = Vec::new();
    for &traces in sizes {
        let out = dir.path().join(format!("callgrind.{traces}"));
        let output = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--instr-atstart=no",
                "--collect-atstart=no",
                "--toggle-collect=*measured_step*",
                "--dump-instr=no",
                "--dump-line=no",
                "--compress-strings=no",
            ])
            .arg(format!(
                "--cache-sim={}",
                if cache_sim { "yes" } else { "no" }
            ))
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .args(["--child", &traces.to_string()])
            .output()
            .expect("valgrind runs (is it installed?)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child for {traces} traces failed: {}\n{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        let spans: u64 = stdout
            .split_whitespace()
            .skip_while(|w| *w != "measured_spans")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("child reports measured spans");
        let text = std::fs::read_to_string(&out).expect("callgrind output");
        let names: Vec<String> = text
            .lines()
            .find_map(|l| l.strip_prefix("events:"))
            .expect("events line")
            .split_whitespace()
            .map(String::from)
            .collect();
        let totals: Vec<u64> = text
            .lines()
            .find_map(|l| {
                // Not `summary:`, which is not the total when collection was toggled.
                l.strip_prefix("totals:")
            })
            .expect("totals line")
            .split_whitespace()
            .map(|n| n.parse().expect("a count"))
            .collect();
        rows.push(Row {
            traces,
            spans,
            events: names.into_iter().zip(totals).collect(),
        });
    }
    println!("live traces  instructions/span  vs first  D1 misses/span  LL misses/span");
    let base = rows[0].get(&["Ir"]).unwrap_or(f64::NAN);
    for r in &rows {
        let ir = r.get(&["Ir"]).unwrap_or(f64::NAN);
        let d1 = r.get(&["D1mr", "D1mw"]);
        let ll = r.get(&["DLmr", "DLmw"]);
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:>11}  {:>17.0}  {:>8.3}  {:>14}  {:>14}",
            r.traces,
            ir,
            ir / base,
            show(d1),
            show(ll)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let n = args[i + 1].parse().expect("--child N");
        return child(n);
    }
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--traces")
        .map(|i| {
            args[i + 1]
                .split(',')
                .map(|n| n.parse().expect("--traces N,N,..."))
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: a quick native check that the measured run works.
        let status = Command::new(std::env::current_exe().expect("own path"))
            .args(["--child", "1000"])
            .status()
            .expect("child runs");
        assert!(status.success());
        return;
    }
    parent(&sizes, !args.iter().any(|a| a == "--no-cache-sim"));
}
