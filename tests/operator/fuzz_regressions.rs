//! The fuzz targets' invariants (fuzz/checks/) on every input kept in the repository: each
//! target's corpus (fuzz/corpus/<target>/) and the inputs that once broke it
//! (fuzz/regressions/<target>/, one file each). This runs with the ordinary tests, without the
//! nightly toolchain or cargo-fuzz.

#[path = "../../fuzz/checks/mod.rs"]
mod checks;

use std::io::Write;
use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("dir entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `target`'s check on each of its inputs, in a thread with the stack a fuzz target has
/// (8 MiB), naming the inputs that fail.
fn replay(target: &'static str) {
    let corpus = inputs("corpus", target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ has seeds");
    let mut failed = Vec::new();
    let regressions = inputs("regressions", target);
    for path in corpus.into_iter().chain(regressions.iter().cloned()) {
        let data = std::fs::read(&path).expect("readable input");
        let shown = path.display().to_string();
        if regressions.contains(&path) {
            // Named first, past the test harness's capture: a stack overflow aborts the binary.
            let _ = writeln!(std::io::stderr(), "{target}: checking {shown}");
        }
        let run = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || checks::run(target, &data))
            .expect("thread");
        if run.join().is_err() {
            failed.push(shown);
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: the checks fail on (see the panics above):\n{}",
        failed.join("\n")
    );
}

#[test]
fn ingest_inputs() {
    replay("ingest");
}

#[test]
fn otlp_json_inputs() {
    replay("otlp_json");
}

#[test]
fn config_inputs() {
    replay("config");
}

#[test]
fn ottl_inputs() {
    replay("ottl");
}

#[test]
fn storage_inputs() {
    replay("storage");
}
