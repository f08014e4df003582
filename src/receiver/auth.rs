//! Bearer-token authentication of the receivers and `/metrics`: accepted tokens come from a
//! file (reloaded when it changes) and are checked on a request's headers, before its body is
//! read; tokens are compared as SHA-256 digests in constant time.

use crate::config::AuthConfig;
use crate::telemetry::names;
use crate::tls::{File, Reloading, TlsError};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use subtle::ConstantTimeEq;
use tonic::codegen::{http, BoxFuture, Service};

/// The accepted tokens, as digests.
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

/// A receiver's (or `/metrics`') tokens, reloaded when the file changes.
pub type Auth = Arc<Reloading<Tokens>>;

impl Tokens {
    /// Parses a token file: one token per line; blank lines and `#` comments are skipped.
    fn parse(file: &File, contents: &[u8]) -> Result<Tokens, TlsError> {
        let err = |m: String| TlsError::new(&file.key, format!("`{}`: {m}", file.path.display()));
        let text = std::str::from_utf8(contents)
            .map_err(|_| err("is not UTF-8 text (one token per line)".into()))?;
        let mut digests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if t.contains(char::is_whitespace) || HeaderValue::from_str(t).is_err() {
                return Err(err(format!(
                    "line {}: a token is one word of visible ASCII characters",
                    i + 1
                )));
            }
            digests.push(Sha256::digest(t.as_bytes()).into());
        }
        if digests.is_empty() {
            return Err(err(
                "holds no token: every request would be refused (one token per line)".into(),
            ));
        }
        Ok(Tokens { digests })
    }

    /// Whether `Authorization: Bearer <token>` carries one of the tokens. Every token is
    /// compared, whatever matches, so the time taken says nothing about them.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&digest);
        }
        found.into()
    }
}

fn file(cfg: &AuthConfig, key: &str) -> File {
    File::new(key, "bearer_token_file", &cfg.bearer_token_file)
}

/// Reads the token file once (what `validate` checks).
pub fn load(cfg: &AuthConfig, key: &str) -> Result<Tokens, TlsError> {
    let f = file(cfg, key);
    let contents = crate::tls::material::read(std::slice::from_ref(&f))?;
    Tokens::parse(&f, &contents[0])
}

/// Starts the reloading tokens of the `auth:` at `key` (e.g. `receivers.otlp.grpc.auth`).
pub fn start(cfg: &AuthConfig, key: &str) -> Result<Auth, TlsError> {
    let f = file(cfg, key);
    let parse_as = f.clone();
    Reloading::start(key, vec![f], cfg.reload_interval.get(), move |c| {
        Tokens::parse(&parse_as, &c[0])
    })
}

const REFUSED: &str = "missing or invalid bearer token: send `Authorization: Bearer <token>`";

/// The gRPC receiver's service behind a token check: a request without a valid token is
/// answered UNAUTHENTICATED before its body is read.
#[derive(Clone)]
pub struct RequireToken<S> {
    inner: S,
    auth: Auth,
}

impl<S> RequireToken<S> {
    pub fn new(inner: S, auth: Auth) -> Self {
        RequireToken { inner, auth }
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for RequireToken<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for RequireToken<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if self.auth.get().allows(req.headers()) {
            return Box::pin(self.inner.call(req));
        }
        metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => "grpc", "outcome" => "unauthenticated")
            .increment(1);
        Box::pin(async move { Ok(tonic::Status::unauthenticated(REFUSED).into_http()) })
    }
}

/// `router` behind a token check, except for `open` paths. `otlp`: answer (and count) as the
/// OTLP/HTTP receiver; otherwise a plain-text 401. The body is never read when refused.
pub fn require_token(
    router: axum::Router,
    auth: Auth,
    open: &'static [&'static str],
    otlp: bool,
) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let auth = auth.clone();
            async move {
                if open.contains(&req.uri().path()) || auth.get().allows(req.headers()) {
                    return next.run(req).await;
                }
                let mut resp = if otlp {
                    refuse_otlp(req.headers())
                } else {
                    (StatusCode::UNAUTHORIZED, format!("{REFUSED}\n")).into_response()
                };
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                resp
            }
        },
    ))
}

fn refuse_otlp(headers: &HeaderMap) -> Response {
    use super::http::{content_encoding, error, Encoding};
    let (enc, label) = match content_encoding(headers) {
        Some(Encoding::Json) => (Encoding::Json, "http_json"),
        Some(Encoding::Protobuf) => (Encoding::Protobuf, "http_protobuf"),
        None => (Encoding::Protobuf, "http_other"),
    };
    metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => label, "outcome" => "unauthenticated")
        .increment(1);
    error(
        enc,
        StatusCode::UNAUTHORIZED,
        tonic::Code::Unauthenticated,
        REFUSED.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Tokens, TlsError> {
        let f = File::new(
            "receivers.otlp.grpc.auth",
            "bearer_token_file",
            "/t".as_ref(),
        );
        Tokens::parse(&f, text.as_bytes())
    }

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn only_listed_tokens_with_the_bearer_scheme_pass() {
        let t = tokens("# team a\n  alpha-1  \n\nbeta.2\n").unwrap();
        assert!(t.allows(&with("Bearer alpha-1")));
        assert!(t.allows(&with("bearer beta.2")));
        assert!(!t.allows(&with("Bearer alpha")));
        assert!(!t.allows(&with("Bearer alpha-12")));
        assert!(!t.allows(&with("Basic alpha-1")));
        assert!(!t.allows(&with("alpha-1")));
        assert!(!t.allows(&with("Bearer # team a")));
        assert!(!t.allows(&HeaderMap::new()));
    }

    #[test]
    fn bad_token_files_are_refused_with_the_key_and_line() {
        let e = tokens("# nothing\n\n").err().unwrap();
        assert_eq!(e.key, "receivers.otlp.grpc.auth.bearer_token_file");
        assert!(e.message.contains("holds no token"), "{e}");
        let e = tokens("ok\ntwo words\n").err().unwrap();
        assert!(e.message.contains("line 2"), "{e}");
    }
}
