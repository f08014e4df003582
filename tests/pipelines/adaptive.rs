//! `min_per_key`: a rare key is kept every interval however small the budget.

use crate::support::*;
use std::time::Duration;
use tailsift::fixtures::{request, span};

const CONFIG: &str = r#"
sampling:
  decision_wait: 300ms
  root_wait: 50ms
  rules:
    - name: rest
      adaptive:
        target_traces_per_sec: 0.01
        key: [root.name]
        min_probability: 0.0001
        min_per_key: { traces: 1, every: 1s }
"#;

#[tokio::test]
async fn a_rare_key_is_kept_every_interval() {
    let (daemon, sink) = crate::with_sink(CONFIG).await;
    let rounds = 3u128;
    for round in 0..rounds {
        let busy: Vec<_> = (0..300u128)
            .map(|i| span(0x1_0000 + round * 1000 + i, 1).name("GET /busy"))
            .collect();
        daemon.send_ok(Transport::Grpc, &request("svc", busy)).await;
        let rare = span(0x9_0000 + round, 1).name("GET /rare");
        daemon
            .send_ok(Transport::Grpc, &request("svc", [rare]))
            .await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let kept: Vec<u128> = sink.spans().iter().map(trace_of).collect();
    for round in 0..rounds {
        assert!(
            kept.contains(&(0x9_0000 + round)),
            "the rare key's trace of round {round} is kept: {kept:x?}"
        );
    }
    let busy = kept.iter().filter(|t| **t < 0x9_0000).count();
    assert!(
        (3..=12).contains(&busy),
        "the busy key keeps about its floor, not its 900 traces: {busy}"
    );
    daemon.stop().await;
}
