//! What one connection is doing, for its timeouts: requests in flight, when it went idle, and
//! when the head of its next request began to arrive.
//!
//! - Before its first request, a connection must deliver a complete request head within
//!   `header_read_timeout` of connecting (handshake included).
//! - On HTTP/1, once the first byte of a later request arrives, its head must be complete within
//!   `header_read_timeout` (slowloris).
//! - With no request in flight and no head arriving, the connection is closed after
//!   `idle_timeout` (HTTP/1 keep-alive and HTTP/2 alike; HTTP/2 control frames such as PINGs do
//!   not count as activity).

use super::serve::ConnLimits;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the connection last had no request in flight.
    idle_since: Instant,
    /// When the head of the next request began (connect time before the first request).
    head_since: Option<Instant>,
    /// HTTP/2 (its preface seen): bytes between requests are control frames, not heads.
    http2: bool,
}

/// Shared between a connection's watchdog, its service wrapper and its I/O wrapper.
#[derive(Debug)]
pub struct Activity(Mutex<State>);

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl Activity {
    pub fn new(connected: Instant) -> Activity {
        Activity(Mutex::new(State {
            in_flight: 0,
            idle_since: connected,
            head_since: Some(connected),
            http2: false,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes arrived.
    fn read(&self, first_bytes: &[u8], now: Instant) {
        let mut s = self.state();
        if first_bytes.starts_with(H2_PREFACE) {
            s.http2 = true;
        }
        if s.in_flight == 0 && s.head_since.is_none() && !s.http2 {
            s.head_since = Some(now);
        }
    }

    fn request_started(&self) {
        let mut s = self.state();
        s.in_flight += 1;
        s.head_since = None;
    }

    fn request_ended(&self, now: Instant) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = now;
        }
    }

    /// When the watchdog should look again.
    pub fn deadline(&self, limits: ConnLimits, now: Instant) -> Instant {
        let s = self.state();
        if s.in_flight > 0 {
            return now + limits.idle_timeout.min(limits.header_read_timeout);
        }
        match s.head_since {
            Some(h) => h + limits.header_read_timeout,
            None => s.idle_since + limits.idle_timeout,
        }
    }

    /// Why the connection should be closed now, if it should.
    pub fn expired(&self, limits: ConnLimits, now: Instant) -> Option<&'static str> {
        let s = self.state();
        if s.in_flight > 0 {
            return None;
        }
        if s.head_since
            .is_some_and(|h| now >= h + limits.header_read_timeout)
        {
            return Some("header_read_timeout");
        }
        // An HTTP/1 head still arriving is judged by the header timeout alone.
        if s.head_since.is_none() && now >= s.idle_since + limits.idle_timeout {
            return Some("idle_timeout");
        }
        None
    }
}

/// Counts a connection's requests in flight around an inner tower service.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

/// Marks the end of a request however its future ends (completed or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended(Instant::now());
    }
}

impl<S, Req> hyper::service::Service<Req> for Tracked<S>
where
    S: tonic::codegen::Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: Req) -> Self::Future {
        self.activity.request_started();
        let guard = InFlight(self.activity.clone());
        let mut svc = self.inner.clone();
        Box::pin(async move {
            let _guard = guard;
            std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
            svc.call(req).await
        })
    }
}

/// Reports reads to the connection's [`Activity`].
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        TrackedIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let end = buf.filled().len().min(before + H2_PREFACE.len());
            self.activity
                .read(&buf.filled()[before..end], Instant::now());
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    const LIMITS: ConnLimits = ConnLimits {
        max_connections: 1,
        header_read_timeout: secs(2),
        idle_timeout: secs(10),
    };

    #[tokio::test(start_paused = true)]
    async fn first_head_must_arrive_within_the_header_timeout() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert_eq!(a.deadline(LIMITS, t0), t0 + secs(2));
        assert_eq!(a.expired(LIMITS, t0 + Duration::from_millis(1999)), None);
        assert_eq!(a.expired(LIMITS, t0 + secs(2)), Some("header_read_timeout"));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keep_alive_is_judged_by_the_idle_timeout_and_a_slow_head_by_the_header_timeout() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        a.request_started();
        assert_eq!(a.expired(LIMITS, t0 + secs(60)), None, "in flight");
        let t1 = t0 + secs(60);
        a.request_ended(t1);
        // Idle keep-alive: the header timeout does not apply.
        assert_eq!(a.expired(LIMITS, t1 + secs(5)), None);
        assert_eq!(a.expired(LIMITS, t1 + secs(10)), Some("idle_timeout"));
        // One byte of a new head starts the header clock.
        let t2 = t1 + secs(9);
        a.read(b"P", t2);
        assert_eq!(a.deadline(LIMITS, t2), t2 + secs(2));
        assert_eq!(a.expired(LIMITS, t1 + secs(10)), None);
        assert_eq!(a.expired(LIMITS, t2 + secs(2)), Some("header_read_timeout"));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_control_frames_are_not_heads() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        a.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", t0);
        a.request_started();
        let t1 = t0 + secs(1);
        a.request_ended(t1);
        a.read(b"\x00\x00\x08\x06", t1 + secs(1)); // a PING
        assert_eq!(a.expired(LIMITS, t1 + secs(5)), None);
        assert_eq!(a.expired(LIMITS, t1 + secs(10)), Some("idle_timeout"));
    }
}
