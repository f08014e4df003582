//! The capture API on the telemetry endpoint (behind the same bearer token as `/metrics`):
//! `GET /api/v1/captures`, `POST /api/v1/captures`, `DELETE /api/v1/captures/{id}`.

use super::{CaptureError, CaptureMatch, Captures, Listed};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::time::Instant;

/// The path of the collection.
pub const PATH: &str = "/api/v1/captures";

/// `POST /api/v1/captures`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    #[serde(rename = "match")]
    pub matcher: CaptureMatch,
    /// How long it lasts: `30s`, `15m`, `2h` (at most `sampling.capture.max_ttl`).
    pub ttl: String,
    /// `full` (default) or a fidelity profile's name.
    #[serde(default = "full")]
    pub fidelity: String,
}

fn full() -> String {
    "full".to_string()
}

/// `GET /api/v1/captures`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse {
    pub captures: Vec<Listed>,
}

fn json(status: StatusCode, v: &impl Serialize) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// Finds the captures of the rules loaded now: a config reload replaces the rule set (and
/// carries its captures over), so the API looks them up per request.
pub type Current = Arc<dyn Fn() -> Option<Arc<Captures>> + Send + Sync>;

/// The API's routes, to merge into the telemetry endpoint's router.
pub fn router(current: Current) -> Router {
    Router::new()
        .route(PATH, get(list).post(add))
        .route(&format!("{PATH}/{{id}}"), delete(remove))
        .with_state(current)
}

/// The answer when the loaded config takes no captures (a reload switched to `tail_sampling`
/// policies).
fn no_captures() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "the loaded configuration takes no captures (tail_sampling policies)",
    )
}

async fn list(State(current): State<Current>) -> Response {
    let Some(c) = current() else {
        return no_captures();
    };
    json(
        StatusCode::OK,
        &ListResponse {
            captures: c.list(Instant::now()),
        },
    )
}

async fn add(State(current): State<Current>, body: Bytes) -> Response {
    let Some(c) = current() else {
        return no_captures();
    };
    let req: AddRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let ttl = match crate::config::units::parse_duration(&req.ttl) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("ttl: {e}")),
    };
    match c.add(req.matcher, ttl, &req.fidelity) {
        Ok(capture) => json(
            StatusCode::CREATED,
            &Listed {
                capture,
                hits: 0,
                expires_in_secs: ttl.as_secs(),
            },
        ),
        Err(e @ CaptureError::Invalid(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ CaptureError::Full(_)) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn remove(State(current): State<Current>, Path(id): Path<String>) -> Response {
    let Some(c) = current() else {
        return no_captures();
    };
    if c.remove(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no capture `{id}`"))
    }
}
