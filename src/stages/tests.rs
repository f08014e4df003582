use crate::config::parse;
use crate::decide::Decider;
use crate::fixtures::{self, span};
use crate::otlp::{ingest, Span, TraceId};
use crate::rules::RuleSet;
use tokio::time::Instant;

const CONFIG: &str = "\
receivers: { otlp: { http: { endpoint: 127.0.0.1:0 } } }
exporters: { f: { protocol: file, path: /dev/null } }
sampling:
  rules:
    - name: slow-stage
      when: { span: { slower_than: { quantile: 0.99, by: [service, name], min_samples: 200, window: 10m } } }
      keep: true
    - name: rest
      drop: true
";

fn rules(yaml: &str) -> RuleSet {
    RuleSet::compile(&parse(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"))).unwrap()
}

/// One `video_synth` span of trace `t` lasting `ms`, ingested with the rules' interest.
fn synth(r: &RuleSet, service: &str, t: u128, ms: u64) -> Vec<(TraceId, Span)> {
    let req = fixtures::request(service, [span(t, 1).name("video_synth").at(0, ms)]);
    ingest(&fixtures::encode(&req), r.interest()).unwrap().spans
}

fn decide(r: &RuleSet, spans: &[(TraceId, Span)]) -> bool {
    let only: Vec<Span> = spans.iter().map(|(_, s)| s.clone()).collect();
    r.decide_at(&spans[0].0, &only, Instant::now()).keep
}

#[tokio::test(start_paused = true)]
async fn a_45s_stage_among_8s_ones_is_kept_without_a_threshold() {
    let r = rules(CONFIG);
    // Cold: even a very slow span is not judged before min_samples.
    let cold = synth(&r, "video", 1, 45_000);
    r.observe(&cold, Instant::now());
    assert!(!decide(&r, &cold), "no quantile before 200 samples");
    for t in 0..250u128 {
        let s = synth(&r, "video", 10 + t, 7_800 + (t as u64 % 5) * 100);
        r.observe(&s, Instant::now());
        assert!(
            !decide(&r, &s) || t < 10,
            "an ordinary 8 s span is not slow"
        );
    }
    let slow = synth(&r, "video", 999, 45_000);
    r.observe(&slow, Instant::now());
    assert!(decide(&r, &slow), "45 s is far above the stage's p99");
    let ordinary = synth(&r, "video", 1000, 8_000);
    r.observe(&ordinary, Instant::now());
    assert!(!decide(&r, &ordinary));
    // Another service's stage of the same name has its own sketch, still cold.
    let other = synth(&r, "video-eu", 1001, 45_000);
    r.observe(&other, Instant::now());
    assert!(!decide(&r, &other), "a stage is per service and name");
}

#[tokio::test(start_paused = true)]
async fn the_distribution_shifts_with_the_window() {
    let r = rules(CONFIG);
    for t in 0..300u128 {
        let s = synth(&r, "video", t + 1, 8_000 + (t as u64 % 7) * 50);
        r.observe(&s, Instant::now());
    }
    let twenty = synth(&r, "video", 5000, 20_000);
    r.observe(&twenty, Instant::now());
    assert!(decide(&r, &twenty));
    // The stage becomes slower for good: after a window of 20-25 s spans, 20 s is ordinary.
    tokio::time::advance(std::time::Duration::from_secs(11 * 60)).await;
    for t in 0..300u128 {
        let s = synth(&r, "video", 6000 + t, 20_000 + (t as u64 % 10) * 500);
        r.observe(&s, Instant::now());
    }
    let again = synth(&r, "video", 9000, 20_000);
    r.observe(&again, Instant::now());
    assert!(!decide(&r, &again), "the window forgot the 8 s era");
}

#[tokio::test(start_paused = true)]
async fn stages_beyond_max_stages_are_counted_and_never_slow() {
    let r = rules(&CONFIG.replace("window: 10m", "window: 10m, max_stages: 2"));
    let fam = &r.stages().families()[0];
    for svc in ["a", "b", "c"] {
        for t in 0..5u128 {
            r.observe(&synth(&r, svc, t + 1, 1000), Instant::now());
        }
    }
    assert_eq!(fam.len(), 2, "the third stage found no room");
    let s = synth(&r, "c", 77, 1000);
    assert_eq!(fam.quantile_of(&s[0].1, 0.5, 1, Instant::now()), None);
    // Idle stages free their places after two windows.
    tokio::time::advance(std::time::Duration::from_secs(21 * 60)).await;
    r.tick(Instant::now());
    assert_eq!(fam.len(), 0);
}
