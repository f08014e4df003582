use super::*;
use crate::config::parse;
use crate::decide::Decider;
use crate::fixtures::{self, span};
use crate::otlp::{ingest, TraceId};
use crate::rules::RuleSet;

const CONFIG: &str = "\
receivers: { otlp: { http: { endpoint: 127.0.0.1:0 } } }
exporters: { f: { protocol: file, path: /dev/null } }
fidelity: { lite: { drop_events: true } }
sampling:
  capture: { max_captures: 2, max_ttl: 1h }
  rules:
    - name: rest
      drop: true
";

fn rules() -> RuleSet {
    RuleSet::compile(&parse(CONFIG, "t.yaml").unwrap()).unwrap()
}

fn trace(r: &RuleSet, user: &str) -> (TraceId, Vec<Span>) {
    let req = fixtures::request_with(
        "video",
        vec![fixtures::kv_str("deployment.environment", "prod")],
        vec![
            span(7, 1).name("POST /v1/video").build(),
            span(7, 2)
                .name("upscale")
                .parent(1)
                .attr("user.id", user)
                .build(),
        ],
    );
    let got = ingest(&fixtures::encode(&req), r.interest()).unwrap().spans;
    (got[0].0, got.into_iter().map(|(_, s)| s).collect())
}

fn by_user(u: &str) -> CaptureMatch {
    CaptureMatch {
        user: Some(u.into()),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_capture_is_added_hit_listed_and_expires() {
    let r = rules();
    let c = r.captures();
    let (id, spans) = trace(&r, "u-42");
    assert!(
        !r.decide_at(&id, &spans, Instant::now()).keep,
        "dropped by `rest`"
    );
    let added = c
        .add(by_user("u-42"), Duration::from_secs(600), "lite")
        .unwrap();
    let v = r.decide_at(&id, &spans, Instant::now());
    assert!(v.keep, "the capture comes before the rules");
    assert_eq!(r.name_of(v), "_capture:lite");
    assert_eq!(r.fidelity_of(v).unwrap().name.as_ref(), "lite");
    let e = r.explain(&id, &spans, Instant::now());
    assert_eq!(e.action, format!("keep (capture {})", added.id));
    let (other, other_spans) = trace(&r, "u-7");
    assert!(!r.decide_at(&other, &other_spans, Instant::now()).keep);
    let listed = c.list(Instant::now());
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].hits, listed[0].expires_in_secs), (2, 600));
    assert!(r.rule_names().iter().any(|n| &**n == "_capture"));
    tokio::time::advance(Duration::from_secs(601)).await;
    assert!(!r.decide_at(&id, &spans, Instant::now()).keep, "expired");
    r.tick(Instant::now());
    assert!(c.list(Instant::now()).is_empty(), "removed on expiry");
}

#[tokio::test(start_paused = true)]
async fn captures_are_refused_with_reasons_and_removed_by_id() {
    let r = rules();
    let c = r.captures();
    let bad = |m: CaptureMatch, ttl: u64, f: &str| c.add(m, Duration::from_secs(ttl), f);
    let e = bad(CaptureMatch::default(), 60, "full").unwrap_err();
    assert!(e.to_string().contains("empty match"), "{e}");
    let mut m = CaptureMatch::default();
    m.attributes.insert("tenant".into(), "a".into());
    let e = bad(m, 60, "full").unwrap_err();
    assert!(e.to_string().contains("`tenant` is not capturable"), "{e}");
    let e = bad(by_user("x"), 7200, "full").unwrap_err();
    assert!(e.to_string().contains("at most 1h"), "{e}");
    let e = bad(by_user("x"), 60, "tiny").unwrap_err();
    assert!(e.to_string().contains("unknown fidelity `tiny`"), "{e}");
    let a = bad(by_user("a"), 60, "full").unwrap();
    bad(by_user("b"), 60, "full").unwrap();
    assert_eq!(
        bad(by_user("c"), 60, "full").unwrap_err(),
        CaptureError::Full(2)
    );
    assert!(c.remove(&a.id));
    assert!(!c.remove(&a.id), "removed once");
    assert_eq!(c.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_store_brings_captures_back_into_a_new_rule_set() {
    let r = rules();
    let (id, spans) = trace(&r, "u-42");
    let m = CaptureMatch {
        name: Some("upscale".into()),
        service: Some("video".into()),
        ..Default::default()
    };
    r.captures()
        .add(m, Duration::from_secs(60), "full")
        .unwrap();
    // A rebuilt rule set (a reload) given the same store has the capture again.
    let config = parse(CONFIG, "t.yaml").unwrap();
    let again = RuleSet::compile_with_store(&config, r.captures().store()).unwrap();
    let v = again.decide_at(&id, &spans, Instant::now());
    assert!(v.keep);
    assert_eq!(again.name_of(v), "_capture");
}

#[test]
fn captures_shared_by_a_peer_become_active_and_its_removals_stay_removed() {
    let (a, b) = (rules(), rules());
    let (ca, cb) = (a.captures(), b.captures());
    let added = ca
        .add(by_user("u-42"), Duration::from_secs(600), "lite")
        .unwrap();
    assert_eq!(cb.merge_shared(ca.shared_state()), 1, "b takes a's capture");
    let (id, spans) = trace(&b, "u-42");
    let v = b.decide_at(&id, &spans, Instant::now());
    assert!(v.keep, "b keeps u-42's trace under the shared capture");
    assert_eq!(
        cb.merge_shared(ca.shared_state()),
        0,
        "hearing it again adds nothing"
    );

    // Removed on b; a has not heard yet and shares its stale state: b keeps it removed.
    assert!(cb.remove(&added.id));
    assert_eq!(cb.merge_shared(ca.shared_state()), 0, "no resurrection");
    assert!(cb.is_empty());
    // a hears b's removal.
    ca.merge_shared(cb.shared_state());
    assert!(ca.is_empty(), "the removal reached a");

    // Expired captures are not taken.
    let mut old = ca.shared_state();
    old.captures.push(Capture {
        id: "c-old".into(),
        matcher: by_user("u-1"),
        fidelity: "full".into(),
        created_unix_ms: 1,
        expires_unix_ms: 2,
    });
    assert_eq!(cb.merge_shared(old), 0);
}
