//! Counting failed TLS handshakes by reason (the receivers' accept loop calls
//! [`handshake_failed`]), and [`incoming`]: a listener that runs each connection's handshake
//! concurrently (bounded in time and number) and yields only finished ones to tonic or axum,
//! which the tests' TLS backends serve with.

use crate::receiver::handshake::Handshake;
use crate::telemetry::names;
use crate::telemetry::warn::{RateLimited, INTERVAL};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

/// Longest time a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at most; connections beyond are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Connections whose handshake finished, in the order they finished.
pub struct Incoming<Io> {
    rx: mpsc::Receiver<(Io, SocketAddr)>,
    local: SocketAddr,
}

/// Accepts on `listener` and hands each connection to `handshake`; `receiver` (grpc, http)
/// labels failures in logs and metrics. The accept task ends when the result is dropped.
pub fn incoming<H: Handshake>(
    listener: TcpListener,
    handshake: H,
    receiver: &'static str,
) -> io::Result<Incoming<H::Io>> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let warn = Arc::new(RateLimited::new(INTERVAL));
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = tx.closed() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: wait instead of spinning.
                        tracing::warn!(receiver, error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                failed(&warn, receiver, peer, "too_many_handshakes", None);
                continue;
            };
            let (tx, handshake, warn) = (tx.clone(), handshake.clone(), warn.clone());
            tokio::spawn(async move {
                let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake.handshake(tcp)).await;
                drop(permit);
                match done {
                    Ok(Ok(io)) => {
                        let _ = tx.send((io, peer)).await;
                    }
                    Ok(Err(e)) => failed(&warn, receiver, peer, reason(&e), Some(&e)),
                    Err(_) => failed(&warn, receiver, peer, "timeout", None),
                }
            });
        }
    });
    Ok(Incoming { rx, local })
}

/// Counts (and logs, at most once per 10 s per process) a handshake that failed on the
/// receivers' accept loop; `error` is `None` when it did not finish in time.
pub fn handshake_failed(receiver: &'static str, peer: SocketAddr, error: Option<&io::Error>) {
    static WARN: RateLimited = RateLimited::new(INTERVAL);
    let why = error.map_or("timeout", reason);
    failed(&WARN, receiver, peer, why, error);
}

/// Why a handshake failed, as a metric label.
fn reason(e: &io::Error) -> &'static str {
    use rustls::Error as E;
    match e.get_ref().and_then(|i| i.downcast_ref::<E>()) {
        Some(E::NoCertificatesPresented) => "no_client_certificate",
        Some(E::InvalidCertificate(_)) => "bad_client_certificate",
        Some(E::AlertReceived(_)) => "refused_by_client",
        Some(_) => "protocol",
        None => "io",
    }
}

fn failed(
    warn: &RateLimited,
    receiver: &'static str,
    peer: SocketAddr,
    reason: &'static str,
    error: Option<&io::Error>,
) {
    metrics::counter!(names::TLS_HANDSHAKE_FAILURES, "receiver" => receiver, "reason" => reason)
        .increment(1);
    let Some(suppressed) = warn.check() else {
        return;
    };
    let error = error
        .map(|e| e.to_string())
        .unwrap_or_else(|| match reason {
            "timeout" => format!("no complete handshake within {HANDSHAKE_TIMEOUT:?}"),
            _ => format!("more than {MAX_PENDING_HANDSHAKES} handshakes in progress"),
        });
    tracing::warn!(receiver, %peer, reason, error, suppressed,
        "TLS handshake failed; the connection is closed");
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> axum::serve::Listener for Incoming<Io> {
    type Io = Io;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Io, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A connection as tonic serves it, with its addresses for `Request::remote_addr`.
pub struct Conn<Io> {
    io: Io,
    info: tonic::transport::server::TcpConnectInfo,
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> futures::Stream for Incoming<Io> {
    type Item = io::Result<Conn<Io>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let local = self.local;
        self.rx.poll_recv(cx).map(|c| {
            c.map(|(io, peer)| {
                Ok(Conn {
                    io,
                    info: tonic::transport::server::TcpConnectInfo {
                        local_addr: Some(local),
                        remote_addr: Some(peer),
                    },
                })
            })
        })
    }
}

impl<Io: Send + 'static> tonic::transport::server::Connected for Conn<Io> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Conn<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Conn<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
