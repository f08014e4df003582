//! `tailsift capture add|list|remove`: a client of the capture API on a running daemon's
//! telemetry endpoint.

use super::api::{AddRequest, ListResponse, PATH};
use super::{CaptureMatch, Listed};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Where the API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port` of the telemetry endpoint.
    pub base: String,
    /// The bearer token, when `/metrics` needs one.
    pub token: Option<String>,
}

/// A failed call, with what the daemon said.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    #[error("{0}: {1}")]
    Refused(StatusCode, String),
    #[error("unexpected answer: {0}")]
    Garbled(String),
}

async fn call(
    t: &Target,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), CliError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let url = format!("{}{path}", t.base.trim_end_matches('/'));
    let mut req = Request::builder()
        .method(method)
        .uri(&url)
        .header("content-type", "application/json");
    if let Some(tok) = &t.token {
        req = req.header("authorization", format!("Bearer {tok}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CliError::Unreachable(url.clone(), e.to_string()))?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| CliError::Unreachable(url.clone(), "timed out".into()))?
        .map_err(|e| CliError::Unreachable(url.clone(), e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Unreachable(url.clone(), e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        return Err(CliError::Refused(status, msg));
    }
    Ok((status, body))
}

/// Adds a capture; returns it as the daemon listed it.
pub async fn add(
    t: &Target,
    matcher: CaptureMatch,
    ttl: &str,
    fidelity: &str,
) -> Result<Listed, CliError> {
    let req = AddRequest {
        matcher,
        ttl: ttl.to_string(),
        fidelity: fidelity.to_string(),
    };
    let body = serde_json::to_vec(&req).unwrap_or_default();
    let (_, got) = call(t, Method::POST, PATH, body).await?;
    serde_json::from_slice(&got).map_err(|e| CliError::Garbled(e.to_string()))
}

/// The active captures.
pub async fn list(t: &Target) -> Result<Vec<Listed>, CliError> {
    let (_, got) = call(t, Method::GET, PATH, Vec::new()).await?;
    serde_json::from_slice::<ListResponse>(&got)
        .map(|l| l.captures)
        .map_err(|e| CliError::Garbled(e.to_string()))
}

/// Removes a capture by id.
pub async fn remove(t: &Target, id: &str) -> Result<(), CliError> {
    call(t, Method::DELETE, &format!("{PATH}/{id}"), Vec::new()).await?;
    Ok(())
}

/// One line per capture, for people.
pub fn table(captures: &[Listed]) -> String {
    let mut out = String::from(
        "id                match                                      fidelity  hits  expires in\n",
    );
    for c in captures {
        let m = serde_json::to_string(&c.capture.matcher).unwrap_or_default();
        out.push_str(&format!(
            "{:<17} {:<42} {:<9} {:>5} {}\n",
            c.capture.id,
            m,
            c.capture.fidelity,
            c.hits,
            crate::config::units::format_duration(Duration::from_secs(c.expires_in_secs))
        ));
    }
    out
}
