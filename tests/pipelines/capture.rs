//! Capture on demand against the daemon: the API behind the telemetry token, the real
//! `tailsift capture` CLI, a capture hit, listed, removed and expired, and one surviving a
//! restart with storage on.

use crate::support::*;
use std::time::Duration;
use tailsift::fixtures::{request, span};

const CONFIG: &str = r#"
telemetry:
  metrics:
    endpoint: "127.0.0.1:0"
    auth: { bearer_token_file: "TOKEN_FILE" }
sampling:
  decision_wait: 300ms
  root_wait: 50ms
  rules:
    - name: rest
      drop: true
fidelity:
  lite: { drop_events: true }
"#;

const TOKEN: &str = "scrape-and-capture";

async fn cli(daemon: &Daemon, token_file: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tailsift"))
        .arg("capture")
        .args(["--endpoint", &format!("http://{}", daemon.metrics)])
        .args(["--token-file", token_file])
        .args(args)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("the CLI answers")
        .expect("the CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn user_trace(
    trace: u128,
    user: &str,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    request(
        "video",
        vec![
            span(trace, 1).name("POST /v1/video"),
            span(trace, 2)
                .name("upscale")
                .parent(1)
                .attr("user.id", user),
        ],
    )
}

#[tokio::test]
async fn a_capture_is_added_hit_listed_removed_and_expires() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_file = token_file.to_str().unwrap().to_string();
    let (daemon, sink) = crate::with_sink(&CONFIG.replace("TOKEN_FILE", &token_file)).await;
    let url = format!("http://{}/api/v1/captures", daemon.metrics);

    // Same auth as /metrics.
    let open = http_request(http::Method::GET, &url, &[], "")
        .await
        .unwrap();
    assert_eq!(open.status, 401);

    let (ok, id, err) = cli(
        &daemon,
        &token_file,
        &["add", "--user", "u-42", "--ttl", "2s"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(id.starts_with("c-"), "{id}");
    let (ok, other, _) = cli(
        &daemon,
        &token_file,
        &[
            "add",
            "--attribute",
            "session.id=s-1",
            "--ttl",
            "1h",
            "--fidelity",
            "lite",
        ],
    )
    .await;
    assert!(ok);
    // Refusals are explained.
    let (ok, _, err) = cli(&daemon, &token_file, &["add", "--attribute", "tenant=a"]).await;
    assert!(!ok && err.contains("`tenant` is not capturable"), "{err}");
    let (ok, _, err) = cli(
        &daemon,
        &token_file,
        &["add", "--user", "x", "--fidelity", "huge"],
    )
    .await;
    assert!(!ok && err.contains("unknown fidelity"), "{err}");

    daemon
        .send_ok(Transport::Grpc, &user_trace(0x42, "u-42"))
        .await;
    daemon
        .send_ok(Transport::Grpc, &user_trace(0x43, "u-7"))
        .await;
    assert!(
        sink.wait_for_spans(2, PATIENCE).await,
        "the captured trace is kept"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = sink.spans();
    assert_eq!(spans.len(), 2, "u-7 is dropped by the rules");
    assert!(spans
        .iter()
        .all(|s| trace_of(s) == 0x42 && rule_of(s) == Some("_capture")));

    let (ok, listed, _) = cli(&daemon, &token_file, &["list", "--json"]).await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let caps = v["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    let mine = caps.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(mine["hits"], 1);
    assert_eq!(mine["match"]["user"], "u-42");
    let (ok, table, _) = cli(&daemon, &token_file, &["list"]).await;
    assert!(
        ok && table.contains(&other) && table.contains("lite"),
        "{table}"
    );

    let (ok, _, _) = cli(&daemon, &token_file, &["remove", &other]).await;
    assert!(ok);
    let (ok, _, err) = cli(&daemon, &token_file, &["remove", &other]).await;
    assert!(!ok && err.contains("no capture"), "{err}");

    // After its ttl the capture is gone and u-42 is dropped like everyone else.
    let expired = wait_for_async(Duration::from_secs(5), || async {
        let r = http_request(
            http::Method::GET,
            &url,
            &[("authorization", &format!("Bearer {TOKEN}"))],
            "",
        )
        .await
        .unwrap();
        r.text().contains("\"captures\":[]")
    })
    .await;
    assert!(expired, "expired and removed");
    daemon
        .send_ok(Transport::Grpc, &user_trace(0x44, "u-42"))
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.spans().len(), 2, "nothing more is kept");
    let auth = format!("Bearer {TOKEN}");
    let scraped = http_request(
        http::Method::GET,
        &format!("http://{}/metrics", daemon.metrics),
        &[("authorization", &auth)],
        "",
    )
    .await
    .unwrap();
    let m = Metrics::parse(&scraped.text()).since_baseline();
    assert_eq!(m.get("tailsift_capture_hits_total", &[]), Some(1.0));
    assert_eq!(
        m.get("tailsift_capture_events_total", &[("event", "expired")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("tailsift_capture_events_total", &[("event", "removed")]),
        Some(1.0)
    );
    assert_eq!(m.get("tailsift_captures", &[]), Some(0.0));
    daemon.stop().await;
}

#[tokio::test]
async fn a_capture_survives_a_restart_with_storage_on() {
    let _only = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_file = token_file.to_str().unwrap().to_string();
    let store = dir.path().join("storage");
    let yaml = format!(
        "{}storage:\n  directory: \"{}\"\n",
        CONFIG.replace("TOKEN_FILE", &token_file),
        store.display()
    );
    let (daemon, _) = crate::with_sink(&yaml).await;
    let (ok, id, err) = cli(
        &daemon,
        &token_file,
        &["add", "--user", "u-42", "--ttl", "1h"],
    )
    .await;
    assert!(ok, "{err}");
    daemon.stop().await;

    let (daemon, sink) = crate::with_sink(&yaml).await;
    let (ok, listed, err) = cli(&daemon, &token_file, &["list", "--json"]).await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let ids: Vec<&str> = v["captures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [id.as_str()],
        "the capture is active again after the restart"
    );
    daemon
        .send_ok(Transport::Grpc, &user_trace(0x52, "u-42"))
        .await;
    assert!(
        sink.wait_for_spans(2, PATIENCE).await,
        "the restored capture keeps u-42's trace"
    );
    assert!(sink.spans().iter().all(|s| rule_of(s) == Some("_capture")));
    daemon.stop().await;
}
