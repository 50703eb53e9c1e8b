//! Phones sync household documents over the automerge-repo WebSocket protocol at
//! `GET /api/v1/sync` (docs/sync-protocol.md): authenticated on upgrade, scoped by the access
//! policy, durable before acknowledging.

pub mod client;
pub mod connection;
pub mod http;
pub mod hub;
pub mod receive;
pub mod wire;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::caller::{authenticate, origin_is_ours, presented_token};

pub use hub::SyncHub;

/// Largest frame accepted: a sync message carrying a whole household with photos' metadata is
/// far smaller; anything bigger is refused by the socket layer before it is buffered.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

pub fn router() -> Router<AppState> {
    let socket = Router::new().route("/api/v1/sync", get(open_socket));
    let fallback = Router::new().route("/api/v1/sync/{documentId}", post(http::sync_over_http));
    socket.merge(fallback.layer(DefaultBodyLimit::max(MAX_FRAME_BYTES)))
}

#[derive(Deserialize)]
pub struct SyncQuery {
    /// For clients that cannot set headers (browsers, the JavaScript client).
    pub token: Option<String>,
}

/// The sync socket: household documents over the automerge-repo protocol.
///
/// A WebSocket speaking the automerge-repo sync protocol (docs/sync-protocol.md). A missing or
/// bad token is answered inside the socket, by an `error` message and a close, not by refusing
/// the upgrade.
#[utoipa::path(
    get,
    path = "/api/v1/sync",
    tag = "sync",
    params(
        ("token" = Option<String>, Query, description = "Device or session token, for clients \
            that cannot set the Authorization header"),
    ),
    security(("bearer" = []), ("cookie" = []), ()),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; binary CBOR frames of \
            at most 4 MiB"),
        (status = 400, description = "Not a WebSocket upgrade request, or a malformed query \
            string", content_type = "text/plain", body = String),
    )
)]
pub async fn open_socket(
    State(app): State<AppState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    Query(query): Query<SyncQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let presented = match query.token {
        Some(token) => Some((token, false)),
        None => presented_token(&headers).ok(),
    };
    let address = Some(app.caller_address(remote, &headers));
    let caller = match presented {
        // A cookie is sent by the browser whichever site opened the socket: only our own pages'
        // sockets are taken on it (`Origin` names this server).
        Some((_, true)) if !origin_is_ours(&headers) => {
            tracing::warn!("sync socket refused: a cookie sent from another site");
            None
        }
        Some((token, from_cookie)) => authenticate(&app, &token, from_cookie, address).await.ok(),
        None => None,
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection::run(socket, app, caller))
}

/// An ephemeral message a phone sent to another server over the database (wire bytes, from its
/// notice): relayed to this server's sockets that follow the document, as one of their own
/// phones' would be. Anything else is dropped.
pub fn relay_from_elsewhere(hub: &hub::SyncHub, bytes: &[u8]) {
    let Ok(message @ wire::Message::Ephemeral { .. }) = wire::decode(bytes) else {
        return;
    };
    let wire::Message::Ephemeral { document_id, .. } = &message else {
        return;
    };
    let Ok(document) = crate::documents::DocumentId::parse(document_id) else {
        return;
    };
    hub.publish(hub::Relay {
        document,
        origin: 0,
        message,
    });
}
