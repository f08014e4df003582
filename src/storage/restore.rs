//! Replay at start, before `/readyz` reports ready: decisions back into the cache, then every
//! request still owed back into the pipeline, pausing while the pipeline is over its limits.

use super::Replay;
use crate::pipeline::Pipeline;
use std::time::{Duration, Instant};

/// How long replay waits for room in one go before it goes on regardless (the exporters' queues
/// and `memory_limit` bound what replay adds, as they bound what clients send).
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Feeds what the log holds into `pipeline`; returns (requests, spans) replayed.
pub async fn replay_into(pipeline: &Pipeline, mut replay: Replay) -> (u64, u64) {
    let started = Instant::now();
    let decisions = replay.take_decisions();
    let restored = decisions.len();
    pipeline.restore_decisions(decisions);
    let (mut requests, mut spans) = (0u64, 0u64);
    for r in replay.by_ref() {
        spans += pipeline.replay(r) as u64;
        requests += 1;
        // Let due traces be decided and exporters drain when the pipeline is full.
        let paused = Instant::now();
        while pipeline.overloaded().is_some() && paused.elapsed() < MAX_PAUSE {
            pipeline.tick();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if requests % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(replay);
    pipeline.tick();
    if requests > 0 || restored > 0 {
        tracing::info!(
            requests,
            spans,
            decisions = restored,
            secs = started.elapsed().as_secs_f64(),
            "storage log replayed"
        );
    }
    (requests, spans)
}
