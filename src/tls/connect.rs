//! The exporters' connector: TCP through hyper-util's `HttpConnector`, then for `https://` a
//! rustls handshake with the exporter's current client config. Used by the OTLP/HTTP client and
//! under the OTLP/gRPC channel; its errors carry rustls's reason and the endpoint.

use super::ClientTls;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tonic::codegen::Service;

/// Connects to `http://` endpoints in plaintext and to `https://` ones over TLS.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: Option<ClientTls>,
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    /// `tls`: the client config for `https://` (none: `https://` is refused). `server_name`:
    /// the name to verify instead of the endpoint's host (`server_name_override`).
    pub fn new(
        mut http: HttpConnector,
        tls: Option<ClientTls>,
        server_name: Option<&str>,
    ) -> Result<Connector, String> {
        http.enforce_http(false);
        let server_name = server_name
            .map(|n| {
                ServerName::try_from(n.to_string())
                    .map_err(|e| format!("`{n}` is not a valid server name: {e}"))
            })
            .transpose()?;
        Ok(Connector {
            http,
            tls,
            server_name,
        })
    }
}

/// The error and its sources, `: `-separated (hyper and tonic hide the useful part in sources).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(src) = next {
        let m = src.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        next = src.source();
    }
    s
}

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.http
            .poll_ready(cx)
            .map_err(|e| io::Error::other(error_chain(&e)))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let host = uri
            .host()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_string();
        let connecting = self.http.call(uri);
        let tls = self.tls.clone();
        let name = self.server_name.clone();
        Box::pin(async move {
            let tcp = connecting.await.map_err(|e| {
                io::Error::other(format!(
                    "cannot connect to {authority}: {}",
                    error_chain(&e)
                ))
            })?;
            if !https {
                return Ok(Stream::Plain(tcp));
            }
            let Some(tls) = tls else {
                return Err(io::Error::other(format!(
                    "{authority}: https:// needs TLS settings"
                )));
            };
            let name = match name {
                Some(n) => n,
                None => ServerName::try_from(host.clone()).map_err(|e| {
                    io::Error::other(format!("`{host}` is not a valid TLS server name: {e}"))
                })?,
            };
            let stream = tokio_rustls::TlsConnector::from(tls.get())
                .connect(name, tcp.into_inner())
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("TLS handshake with {authority} failed: {}", error_chain(&e)),
                    )
                })?;
            Ok(Stream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}

/// A connection to an exporter's backend.
pub enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain(_) => Connected::new(),
            Stream::Tls(s) => {
                let h2 = s.inner().get_ref().1.alpn_protocol() == Some(b"h2");
                if h2 {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
