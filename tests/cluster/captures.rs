//! Captures on demand shared by the group: one added on one instance is active on the others
//! (and keeps a trace whose spans reach only them); one removed there is gone everywhere.

use crate::support::*;
use crate::whole::Group;
use std::net::SocketAddr;
use std::time::Duration;
use tailsift::fixtures::{request, span};

const RULES: &str = "
    - { name: rest, drop: true }
";

async fn api(p: SocketAddr, method: http::Method, path: &str, body: &str) -> (u16, String) {
    let url = format!("http://{p}/api/v1/captures{path}");
    let r = http_request(
        method,
        &url,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
    .expect("the capture API answers");
    (r.status, r.text())
}

async fn listed(p: SocketAddr) -> Vec<String> {
    let (status, text) = api(p, http::Method::GET, "", "").await;
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["captures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_added_on_one_instance_applies_on_all_and_its_removal_too() {
    let g = Group::start(3, "captures", RULES).await;
    let (a, b, c) = (&g.procs[0], &g.procs[1], &g.procs[2]);
    let (status, text) = api(
        a.metrics,
        http::Method::POST,
        "",
        r#"{"match": {"user": "u-42"}, "ttl": "10m"}"#,
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let everywhere = wait_for_async(Duration::from_secs(5), || async {
        listed(b.metrics).await == [id.clone()] && listed(c.metrics).await == [id.clone()]
    })
    .await;
    assert!(everywhere, "the capture reached b and c");

    // A trace whose spans reach only b: kept by the capture there (the rules drop it).
    let t = 0x4242_u128 << 64 | 0x77;
    let req = request(
        "video",
        vec![
            span(t, 1).name("POST /v1/video"),
            span(t, 2).name("upscale").parent(1).attr("user.id", "u-42"),
        ],
    );
    export_grpc(b.grpc, &req).await.expect("accepted");
    assert!(
        g.sink.wait_for_spans(2, Duration::from_secs(10)).await,
        "b kept u-42's trace under the shared capture"
    );
    assert!(g
        .sink
        .spans()
        .iter()
        .all(|s| rule_of(s) == Some("_capture")));

    // Removed on c: gone on a and b, and a's earlier state does not bring it back.
    let (status, text) = api(c.metrics, http::Method::DELETE, &format!("/{id}"), "").await;
    assert_eq!(status, 204, "{text}");
    let gone = wait_for_async(Duration::from_secs(5), || async {
        listed(a.metrics).await.is_empty() && listed(b.metrics).await.is_empty()
    })
    .await;
    assert!(gone, "the removal reached a and b");
    tokio::time::sleep(Duration::from_millis(800)).await;
    for p in [a, b, c] {
        assert!(listed(p.metrics).await.is_empty(), "still removed");
    }
}
