//! Test clients of TLS receivers, built on tokio-rustls directly (not on tailsift's own TLS
//! code): a raw connection, OTLP/gRPC and OTLP/HTTP requests.

use super::client::HttpResponse;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::Status;

/// A TLS connection to `addr`, verified as `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// The certificate the server presented.
pub fn peer_leaf(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref()
        .1
        .peer_certificates()
        .expect("a server certificate")[0]
        .clone()
}

#[derive(Clone)]
struct Connect {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

impl tonic::codegen::Service<http::Uri> for Connect {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: http::Uri) -> Self::Future {
        let (addr, config) = (self.addr, self.config.clone());
        Box::pin(async move { Ok(TokioIo::new(tls_connect(addr, config).await?)) })
    }
}

/// An OTLP/gRPC export over TLS (the config must offer ALPN `h2`), with a bearer token if given.
pub async fn export_grpc_tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    req: &ExportTraceServiceRequest,
    token: Option<&str>,
) -> Result<ExportTraceServiceResponse, Status> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
            .unwrap()
            .connect_with_connector(Connect { addr, config })
            .await
            .map_err(|e| Status::unavailable(tailsift::tls::connect::error_chain(&e)))?;
    let mut request = tonic::Request::new(req.clone());
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    TraceServiceClient::new(channel)
        .export(request)
        .await
        .map(|r| r.into_inner())
}

/// One HTTP/1.1 request over TLS.
pub async fn http_request_tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> io::Result<HttpResponse> {
    let tls = tls_connect(addr, config).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .map_err(|e| io::Error::other(tailsift::tls::connect::error_chain(&e)))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    Ok(HttpResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}
