//! Three real tailsift processes on one nats-server; each trace's spans are spread over them
//! at random. Every trace reaches the sink whole or not at all, with the oracle's verdict, in
//! steady state and while the group resizes 3 -> 4 -> 2.

use crate::nats::Nats;
use crate::support::proc::Proc;
use crate::support::{GrpcSink, Sink};
use crate::traffic::{check, config, Ledger};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Sends batches of `per_batch` traces every 50ms for `for_`.
pub async fn send_for(
    ledger: &mut Ledger,
    targets: &[SocketAddr],
    per_batch: usize,
    for_: Duration,
) {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        ledger.send(targets, per_batch).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the sink has received nothing new for a second (bounded: 15s).
pub async fn settled(sink: &GrpcSink) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let until = Instant::now() + Duration::from_secs(15);
    let mut last = sink.spans().len();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sink.spans().len();
        if now == last || Instant::now() > until {
            return;
        }
        last = now;
    }
}

pub async fn instance(dir: &tempfile::TempDir, nats: &Nats, sink: &str, group: &str) -> Proc {
    Proc::spawn(dir.path(), "", &config(&nats.url(), sink, group), None).await
}

/// A nats-server, a sink and `n` instances of `group` with `rules`, every one a member.
pub struct Group {
    pub nats: Nats,
    pub sink: GrpcSink,
    pub url: String,
    pub dirs: Vec<tempfile::TempDir>,
    pub procs: Vec<Proc>,
}

impl Group {
    pub async fn start(n: usize, group: &str, rules: &str) -> Group {
        let nats = Nats::start();
        let sink = GrpcSink::default();
        let url = sink.serve().await;
        let dirs: Vec<_> = (0..n + 1).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut procs = Vec::new();
        for d in &dirs[..n] {
            let body = crate::traffic::config_with(&nats.url(), &url, group, rules);
            procs.push(Proc::spawn(d.path(), "", &body, None).await);
        }
        assert!(
            members(&procs.iter().collect::<Vec<_>>(), n as u32).await,
            "{n} members"
        );
        Group {
            nats,
            sink,
            url,
            dirs,
            procs,
        }
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.procs.iter().map(|p| p.grpc).collect()
    }
}

/// Waits (bounded) until every instance counts `n` members.
pub async fn members(procs: &[&Proc], n: u32) -> bool {
    crate::support::wait_for_async(Duration::from_secs(5), || async {
        for p in procs {
            let m = crate::support::Metrics::parse(
                &crate::support::http_get(p.metrics, "/metrics").await.text(),
            );
            if m.get("tailsift_cluster_members", &[]) != Some(f64::from(n)) {
                return false;
            }
        }
        true
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_keep_every_trace_whole_with_the_single_instance_verdict() {
    let nats = Nats::start();
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut procs = Vec::new();
    for d in &dirs {
        procs.push(instance(d, &nats, &url, "whole").await);
    }
    assert!(
        members(&procs.iter().collect::<Vec<_>>(), 3).await,
        "three members"
    );
    let targets: Vec<SocketAddr> = procs.iter().map(|p| p.grpc).collect();
    let mut ledger = Ledger::default();
    send_for(&mut ledger, &targets, 20, Duration::from_secs(3)).await;
    settled(&sink).await;
    let r = check(&ledger, &sink.spans());
    assert!(r.checked > 500, "{} traces checked", r.checked);
    assert!(r.kept > r.checked / 10, "{} of {} kept", r.kept, r.checked);
    assert!(
        r.split.is_empty(),
        "{} of {} traces split: {:x?}",
        r.split.len(),
        r.checked,
        &r.split[..r.split.len().min(5)]
    );
    assert!(
        r.wrong.is_empty(),
        "{} wrong: {:?}",
        r.wrong.len(),
        &r.wrong[..r.wrong.len().min(5)]
    );
    let mut splits = 0.0;
    for p in &procs {
        let m = crate::support::Metrics::parse(
            &crate::support::http_get(p.metrics, "/metrics").await.text(),
        );
        splits += m.sum("tailsift_cluster_split_traces_total", &[]);
    }
    assert_eq!(splits, 0.0, "no instance counted a split");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_resizes_three_four_two_under_load_without_splitting_traces() {
    let Group {
        nats,
        sink,
        url,
        dirs,
        procs,
    } = Group::start(3, "resize", crate::traffic::RULES).await;
    let [mut a, mut b, c]: [Proc; 3] = procs.try_into().ok().expect("three");
    let mut ledger = Ledger::default();
    send_for(
        &mut ledger,
        &[a.grpc, b.grpc, c.grpc],
        15,
        Duration::from_millis(1500),
    )
    .await;
    let d = instance(&dirs[3], &nats, &url, "resize").await;
    send_for(
        &mut ledger,
        &[a.grpc, b.grpc, c.grpc, d.grpc],
        15,
        Duration::from_millis(1500),
    )
    .await;
    // The balancer stops sending to a and b, which are then stopped with SIGTERM.
    let stopping = async {
        a.terminate(Duration::from_secs(15)).await;
        b.terminate(Duration::from_secs(15)).await;
    };
    let left = [c.grpc, d.grpc];
    let sending = send_for(&mut ledger, &left, 15, Duration::from_secs(2));
    tokio::join!(stopping, sending);
    assert!(members(&[&c, &d], 2).await, "two members left");
    settled(&sink).await;
    let r = check(&ledger, &sink.spans());
    assert!(r.checked > 500, "{} traces checked", r.checked);
    let allowed = r.checked / 1000;
    assert!(
        r.split.len() <= allowed,
        "{} of {} traces split",
        r.split.len(),
        r.checked
    );
    assert!(
        r.wrong.len() <= allowed,
        "{} wrong: {:?}",
        r.wrong.len(),
        &r.wrong[..r.wrong.len().min(5)]
    );
}
