//! The step between accepting a TCP connection and serving it: nothing for plaintext, a TLS
//! handshake when the receiver has `tls`. Receivers' accept loops are generic over it, so
//! connection limits and timeouts apply to every kind of connection alike.

use std::future::Future;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The future of one handshake.
pub type HandshakeFuture<Io> = Pin<Box<dyn Future<Output = io::Result<Io>> + Send>>;

/// Turns an accepted TCP connection into the stream that is served.
pub trait Handshake: Clone + Send + Sync + 'static {
    /// The stream served after the handshake.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Performs the handshake. Accept loops bound its duration (a client that connects and
    /// sends nothing must not hold a connection slot).
    fn handshake(&self, tcp: TcpStream) -> HandshakeFuture<Self::Io>;
}

/// Plaintext: the TCP stream is served as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    fn handshake(&self, tcp: TcpStream) -> HandshakeFuture<TcpStream> {
        Box::pin(async move { Ok(tcp) })
    }
}
