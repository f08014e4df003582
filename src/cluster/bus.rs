//! The NATS side of the cluster: connects (in the background, retrying for ever), publishes
//! this instance's decisions in compressed batches every `cluster.batch_wait`, announces it
//! with heartbeats, shares the captures on demand, and hands peers' decisions, heartbeats and
//! captures to [`Cluster`]. The connection's
//! state drives [`Cluster::set_bus_up`]: while it is down the instance decides alone.

use super::sketch::Sketch;
use super::wire::{self, MAX_BATCH};
use super::Cluster;
use crate::telemetry::names;
use futures::StreamExt;
use metrics::{counter, gauge};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long shutdown waits for the last publications to reach the server.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

fn subject(c: &Cluster, what: &str) -> String {
    format!("tailsift.{}.{what}", c.cfg.group)
}

async fn connect(c: &Arc<Cluster>) -> Result<async_nats::Client, String> {
    let servers: Vec<async_nats::ServerAddr> = c
        .cfg
        .nats
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|e| format!("cluster.nats `{s}`: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let events = c.clone();
    async_nats::ConnectOptions::new()
        .name(format!("tailsift {}", c.instance))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((100 * attempt as u64).clamp(100, 2000))
        })
        .event_callback(move |event| {
            let c = events.clone();
            async move {
                match event {
                    async_nats::Event::Connected => c.set_bus_up(true),
                    async_nats::Event::Disconnected | async_nats::Event::Closed => {
                        c.set_bus_up(false)
                    }
                    other => tracing::debug!(%other, "cluster bus event"),
                }
            }
        })
        .connect(servers)
        .await
        .map_err(|e| e.to_string())
}

/// Publishes what waits in the outbox, in batches.
async fn publish(c: &Cluster, client: &async_nats::Client, subject: &str) {
    let pending = c.take_outbox();
    if pending.is_empty() {
        return;
    }
    if !c.bus_up() {
        counter!(names::CLUSTER_UNPUBLISHED_DECISIONS).increment(pending.len() as u64);
        return;
    }
    for chunk in pending.chunks(MAX_BATCH) {
        let body = wire::encode_batch(&c.instance, chunk);
        let len = body.len() as u64;
        match client.publish(subject.to_string(), body).await {
            Ok(()) => {
                counter!(names::CLUSTER_PUBLISHED_DECISIONS).increment(chunk.len() as u64);
                counter!(names::CLUSTER_BUS_BYTES, "direction" => "sent").increment(len);
            }
            Err(e) => {
                crate::warn_limited!(error = %e, "cluster: decisions not published");
                counter!(names::CLUSTER_UNPUBLISHED_DECISIONS).increment(chunk.len() as u64);
            }
        }
    }
}

fn on_decisions(c: &Cluster, payload: &[u8]) {
    counter!(names::CLUSTER_BUS_BYTES, "direction" => "received").increment(payload.len() as u64);
    match wire::decode_batch(payload) {
        Ok((sender, _)) if sender == c.instance => {}
        Ok((_, heard)) => {
            counter!(names::CLUSTER_RECEIVED_DECISIONS).increment(heard.len() as u64);
            c.heard(heard);
        }
        Err(e) => {
            crate::warn_limited!(error = %e, "cluster: unreadable decision batch ignored");
            counter!(names::CLUSTER_BAD_MESSAGES, "kind" => "decisions").increment(1);
        }
    }
}

fn on_heartbeat(c: &Cluster, payload: &[u8]) {
    match wire::decode_heartbeat(payload) {
        Ok(hb) if hb.instance == c.instance => {}
        Ok(hb) => {
            let period = Duration::from_millis(u64::from(hb.period_ms.max(10)));
            let sketch = Sketch::from_bytes(&hb.sketch);
            let now = Instant::now();
            c.members()
                .heard(&hb.instance, period, hb.leaving, hb.window, sketch, now);
        }
        Err(e) => {
            crate::warn_limited!(error = %e, "cluster: unreadable heartbeat ignored");
            counter!(names::CLUSTER_BAD_MESSAGES, "kind" => "heartbeat").increment(1);
        }
    }
}

/// Captures on demand travel as JSON (they are few, and JSON is what the capture API and the
/// storage directory use): `{"instance": .., "captures": [..], "removed": [[id, expiry], ..]}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct CaptureState {
    instance: String,
    #[serde(flatten)]
    shared: crate::capture::Shared,
}

/// Largest capture state read from the bus; larger messages are ignored as unreadable.
const MAX_CAPTURE_STATE: usize = 1 << 20;

/// Publishes this instance's captures (with each heartbeat), when it has any to share.
async fn publish_captures(c: &Cluster, client: &async_nats::Client, subject: &str) {
    let Some(captures) = c.captures() else { return };
    let shared = captures.shared_state();
    if shared.captures.is_empty() && shared.removed.is_empty() {
        return;
    }
    let state = CaptureState {
        instance: c.instance.clone(),
        shared,
    };
    if let Ok(body) = serde_json::to_vec(&state) {
        counter!(names::CLUSTER_BUS_BYTES, "direction" => "sent").increment(body.len() as u64);
        if let Err(e) = client.publish(subject.to_string(), body.into()).await {
            crate::warn_limited!(error = %e, "cluster: captures not published");
        }
    }
}

fn on_captures(c: &Cluster, payload: &[u8]) {
    counter!(names::CLUSTER_BUS_BYTES, "direction" => "received").increment(payload.len() as u64);
    let state = (payload.len() <= MAX_CAPTURE_STATE)
        .then(|| serde_json::from_slice::<CaptureState>(payload).ok())
        .flatten();
    match state {
        Some(s) if s.instance == c.instance => {}
        Some(s) => {
            if let Some(captures) = c.captures() {
                captures.merge_shared(s.shared);
            }
        }
        None => {
            crate::warn_limited!("cluster: unreadable captures message ignored");
            counter!(names::CLUSTER_BAD_MESSAGES, "kind" => "captures").increment(1);
        }
    }
}

/// Runs the bus until `stop` turns true; then publishes what is left and says goodbye.
pub async fn run(c: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    if *stop.borrow_and_update() {
        return;
    }
    let client = match connect(&c).await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cluster bus cannot start: deciding alone");
            return;
        }
    };
    let (decisions_subject, heartbeat_subject) =
        (subject(&c, "decisions"), subject(&c, "heartbeat"));
    let subscribe = |s: String| {
        let client = client.clone();
        async move { client.subscribe(s).await }
    };
    let captures_subject = subject(&c, "captures");
    let (mut decisions, mut beats, mut captures) = match (
        subscribe(decisions_subject.clone()).await,
        subscribe(heartbeat_subject.clone()).await,
        subscribe(captures_subject.clone()).await,
    ) {
        (Ok(d), Ok(b), Ok(k)) => (d, b, k),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(error = %e, "cluster bus cannot subscribe: deciding alone");
            return;
        }
    };
    let period = c.cfg.heartbeat.get();
    let period_ms = period.as_millis().min(u128::from(u32::MAX)) as u32;
    let mut flush = tokio::time::interval(c.cfg.batch_wait.get());
    let mut heartbeat = tokio::time::interval(period);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = decisions.next() => match m {
                Some(m) => on_decisions(&c, &m.payload),
                None => break,
            },
            m = beats.next() => match m {
                Some(m) => on_heartbeat(&c, &m.payload),
                None => break,
            },
            m = captures.next() => match m {
                Some(m) => on_captures(&c, &m.payload),
                None => break,
            },
            _ = flush.tick() => {
                c.set_bus_up(client.connection_state() == async_nats::connection::State::Connected);
                publish(&c, &client, &decisions_subject).await;
            }
            _ = heartbeat.tick() => {
                if c.bus_up() {
                    let (done, before) = c.completed_windows();
                    let hb = wire::encode_heartbeat(&c.instance, period_ms, false, done.as_ref());
                    let _ = client.publish(heartbeat_subject.clone(), hb).await;
                    publish_captures(&c, &client, &captures_subject).await;
                    // Peers' sketches of the window just completed arrive around now; the
                    // share comes from the one before, which they all have reported.
                    let (w, own) = match &before {
                        Some((w, s)) => (*w, Some(s)),
                        None => (0, None),
                    };
                    let n = c.members().refresh(w, own, Instant::now());
                    gauge!(names::CLUSTER_MEMBERS).set(f64::from(n));
                    gauge!(names::CLUSTER_BUDGET_SHARE).set(c.members().share().fraction());
                }
            }
            r = stop.changed() => if r.is_err() || *stop.borrow_and_update() { break },
        }
    }
    publish(&c, &client, &decisions_subject).await;
    if c.bus_up() {
        let bye = wire::encode_heartbeat(&c.instance, period_ms, true, None);
        let _ = client.publish(heartbeat_subject, bye).await;
        let _ = tokio::time::timeout(FLUSH_WAIT, client.flush()).await;
    }
    c.set_bus_up(false);
}
