//! Liveness and metrics for operators: `/healthz` (database reachable) and `/metrics`, and a
//! plain start page at `/` so a person opening the printed URL sees the server is up.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::openapi::{ErrorBody, HealthBody};
use crate::app::AppState;
use crate::documents::Listener;
use crate::error::ApiError;
use crate::metrics::Gauges;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// Liveness: whether the database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "The server and its database are up", body = HealthBody),
        (status = 503, description = "The database does not answer \
            (`database-unavailable`)", body = ErrorBody),
    )
)]
async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.storage.ping().await.map_err(|e| {
        tracing::error!(%e, "health check: database unreachable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database-unavailable",
            "database unreachable",
        )
    })?;
    Ok(Json(json!({
        "status": "ok",
        "database": state.storage.backend(),
        "photoStore": state.photos.kind(),
        "instance": state.storage.instance_id(),
        "listener": state.documents.listener(),
        "servers": state.sync.servers(),
    })))
}

fn listener_name(listener: Listener) -> &'static str {
    match listener {
        Listener::Alone => "alone",
        Listener::Listening => "listening",
        Listener::Lost => "lost",
    }
}

/// Counters for Prometheus, in its text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format \
            0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 500, description = "The database failed (`storage-error`)", body = ErrorBody),
    )
)]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let documents = state.storage.count_documents().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&Gauges {
            documents,
            loaded: state.documents.loaded(),
            peers: state.sync.connected(),
            instance: state.storage.instance_id(),
            listener: listener_name(state.documents.listener()),
            servers: state.sync.servers(),
        }),
    ))
}

/// The start page, so a person opening the printed URL sees the server is up.
#[utoipa::path(
    get,
    path = "/",
    tag = "health",
    responses(
        (status = 200, description = "A short HTML page (Vietnamese / \
            English)", content_type = "text/html; charset=utf-8", body = String),
    )
)]
async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>sansang</title><h1>Sẵn sàng số</h1>",
        "<p>Máy chủ đồng bộ khảo sát hộ gia đình đang chạy. / The survey sync server is running.</p>",
        "<p><a href=\"/review\">Trưởng thôn duyệt hộ / Hamlet heads: review households</a></p>",
        "<ul><li><a href=\"/healthz\">/healthz</a></li><li><a href=\"/metrics\">/metrics</a></li></ul>",
        "</html>"
    ))
}
