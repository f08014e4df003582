//! The one accept loop of every listener (gRPC, HTTP, metrics): a connection cap, a bounded
//! handshake, header-read and idle timeouts, and graceful shutdown, for any [`Handshake`].
//!
//! Over the cap a connection is accepted and closed at once (counted), rather than left in the
//! kernel's backlog: the process never holds more descriptors than the cap, a flood is visible
//! in the metrics, and clients get an immediate answer to retry on instead of a hang. The
//! metrics endpoint has its own listener and budget, so `/healthz` stays reachable.

use super::activity::{Activity, Tracked, TrackedIo};
use super::handshake::Handshake;
use crate::telemetry::names;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    /// From connecting (or the first byte of a later request) to a complete request head.
    pub header_read_timeout: Duration,
    /// No request in flight for this long closes the connection.
    pub idle_timeout: Duration,
}

impl ConnLimits {
    /// The metrics endpoint's own small budget.
    pub const METRICS: ConnLimits = ConnLimits {
        max_connections: 64,
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
    };
}

/// Which HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// gRPC: HTTP/2 only.
    Http2,
    /// HTTP/1.1 and HTTP/2 without TLS (h2c).
    Auto,
}

/// Streams most HTTP/2 requests at once per connection.
const MAX_CONCURRENT_STREAMS: u32 = 256;
/// How long a connection closed by a timeout gets to finish its goodbye.
const CLOSE_GRACE: Duration = Duration::from_millis(200);
/// After a failed `accept()` (out of descriptors, say), how long the listener pauses.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Declares a trait that stands for a list of bounds, and implements it for every type that
/// meets them, so that the bounds are written once.
macro_rules! trait_alias {
    ($(#[$doc:meta])* $name:ident<$($p:ident),*> = $($bound:tt)+) => {
        $(#[$doc])*
        pub trait $name<$($p),*>: $($bound)+ {}
        impl<T, $($p),*> $name<$($p),*> for T where T: $($bound)+ {}
    };
}

trait_alias! {
    /// What the accept loop serves: a cloneable service of HTTP requests that never fails (errors
    /// are responses).
    HttpService<B> = tonic::codegen::Service<
        http::Request<Incoming>,
        Response = http::Response<B>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
}

trait_alias! {
    /// A response body hyper can send.
    ResponseBody<> = http_body::Body<
        Data = bytes::Bytes,
        Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    > + Send
    + 'static
}

/// Serves `listener` until `shutdown` completes, then closes idle connections, lets requests in
/// flight finish and returns when every connection has ended. Dropping the returned future
/// aborts every connection.
pub async fn serve<H, S, B>(
    listener: TcpListener,
    handshake: H,
    service: S,
    limits: ConnLimits,
    versions: Versions,
    label: &'static str,
    shutdown: impl Future<Output = ()>,
) where
    H: Handshake,
    S: HttpService<B>,
    B: ResponseBody,
{
    let builder = Arc::new(builder(versions));
    let (close_tx, close_rx) = watch::channel(false);
    let mut conns: JoinSet<()> = JoinSet::new();
    let refused = |reason: &'static str| {
        metrics::counter!(names::RECEIVER_CONNECTIONS_REFUSED, "protocol" => label, "reason" => reason)
            .increment(1)
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                metrics::counter!(names::RECEIVER_ACCEPT_ERRORS, "protocol" => label).increment(1);
                tracing::debug!(protocol = label, error = %e, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= limits.max_connections {
            refused("max_connections");
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        conns.spawn(connection(
            tcp,
            peer,
            handshake.clone(),
            builder.clone(),
            service.clone(),
            limits,
            label,
            close_rx.clone(),
        ));
    }
    drop(listener);
    let _ = close_tx.send(true);
    while conns.join_next().await.is_some() {}
}

/// The largest HTTP/2 frame the receivers accept (SETTINGS_MAX_FRAME_SIZE).
const MAX_FRAME_SIZE: u32 = 256 * 1024;

fn builder(versions: Versions) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    // Header timeouts are enforced by the connection's watchdog (`Activity`), which also covers
    // HTTP/2 and handshakes; hyper's own timer would also cut idle keep-alive connections.
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    // Frames of up to 256 KiB instead of HTTP/2's 16 KiB default: a request body arrives in
    // far fewer DATA frames (each one decoded, buffered and copied on its own), and no frame
    // can hold more than the stream's flow-control window lets a client send anyway.
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_frame_size(MAX_FRAME_SIZE);
    match versions {
        // gRPC answers carry no `Date` header (gRPC does not use it, and gRPC's own servers
        // send none): building and HPACK-encoding it was work on every request.
        Versions::Http2 => {
            b.http2().auto_date_header(false);
            b.http2_only()
        }
        Versions::Auto => b,
    }
}

/// Decrements the connection gauge however the connection task ends (also when aborted).
struct Open(&'static str);

impl Open {
    fn new(label: &'static str) -> Open {
        metrics::gauge!(names::RECEIVER_CONNECTIONS, "protocol" => label).increment(1.0);
        Open(label)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!(names::RECEIVER_CONNECTIONS, "protocol" => self.0).decrement(1.0);
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection<H, S, B>(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    handshake: H,
    builder: Arc<Builder<TokioExecutor>>,
    service: S,
    limits: ConnLimits,
    label: &'static str,
    mut close: watch::Receiver<bool>,
) where
    H: Handshake,
    S: HttpService<B>,
    B: ResponseBody,
{
    let _open = Open::new(label);
    let counted = |name: &'static str, reason: &'static str| {
        metrics::counter!(name, "protocol" => label, "reason" => reason).increment(1)
    };
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = match tokio::time::timeout(limits.header_read_timeout, handshake.handshake(tcp)).await
    {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => {
            crate::tls::listen::handshake_failed(label, peer, Some(&e));
            return counted(names::RECEIVER_CONNECTIONS_REFUSED, "handshake_failed");
        }
        Err(_) => {
            crate::tls::listen::handshake_failed(label, peer, None);
            return counted(names::RECEIVER_CONNECTIONS_REFUSED, "handshake_timeout");
        }
    };
    let io = TokioIo::new(TrackedIo::new(io, activity.clone()));
    let svc = Tracked::new(service, activity.clone());
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let check_at = activity.deadline(limits, Instant::now());
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(protocol = label, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(check_at) => {
                if let Some(reason) = activity.expired(limits, Instant::now()) {
                    counted(names::RECEIVER_CONNECTIONS_TIMED_OUT, reason);
                    // Nothing in flight: say goodbye (HTTP/2 GOAWAY, so a client's next call
                    // opens a new connection instead of failing), then close regardless.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
                    return;
                }
            }
            Ok(()) = close.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
