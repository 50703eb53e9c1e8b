//! The HTTP fallback for networks that block WebSockets: one automerge sync message per POST,
//! answered with the server's reply, under the same authentication, access and durability as
//! the socket. The server keeps no state between requests; a client repeats until the reply
//! shows the server holds its heads (or there is no reply: 204).

use crate::http::json::{ApiPath, ApiQuery};
use automerge::sync;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::receive::{Receipt, SyncError, receive};
use crate::app::AppState;
use crate::auth::Caller;
use crate::documents::DocumentId;
use crate::error::ApiError;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HttpSyncQuery {
    /// Set when the client has no copy and only wants the document: an unknown document is
    /// then answered 404 instead of being created.
    pub request: Option<bool>,
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "doc-unavailable",
        "Không có hồ sơ này / document unavailable",
    )
}

/// One sync exchange over plain HTTP.
///
/// The body is one automerge sync message (`application/octet-stream`); the answer is the
/// server's reply message, or 204 when the server has nothing to send.
#[utoipa::path(
    post,
    path = "/api/v1/sync/{documentId}",
    tag = "sync",
    params(
        ("documentId" = String, Path, description = "automerge-repo document id (bs58check)"),
        HttpSyncQuery,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "One automerge sync message"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The server's sync message", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 204, description = "Nothing to send: the server has what the client has"),
        (status = 400, description = "`sync-message-corrupt`: the body is not a sync message", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`, `invalid-token`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`change-refused`: the change moves a stored household out of the caller's hamlets (`hamletId`, `communeCode`); nothing was stored", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`doc-unavailable`: unknown, or outside the caller's hamlets", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "`document-replaced`: erased at a person's request; the message names what remains", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "`body-unreadable`: larger than 4 MiB; `too-large`: changes holding more than `sync_message_max_bytes` once inflated, or making the household document larger than `max_document_bytes` (nothing stored)", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "`sync-busy`: the token (over all its connections) or the server is handling as many sync messages as it may", body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn sync_over_http(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(document_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HttpSyncQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = DocumentId::parse(&document_id).map_err(|_| unavailable())?;
    let max = app.config.sync_message_max_bytes;
    let (message, weight) = crate::documents::DocumentService::decode_sync_message(&body, max)
        .map_err(|e| match e {
            crate::documents::DocumentError::TooLarge(reason) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", reason)
            }
            e => ApiError::bad_request("sync-message-corrupt", format!("not a sync message: {e}")),
        })?;
    // The same budget as the token's sockets: past it, come back in a second.
    let key = caller.principal.key();
    let _admission = match app.sync.admit(&key, weight + body.len() as u64) {
        Ok(admission) => admission,
        Err(busy) => {
            let mut response =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "sync-busy", busy.to_string())
                    .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            return Ok(response);
        }
    };
    let mut state = sync::State::new();
    let requested = query.request.unwrap_or(false);
    // The token was checked by the extractor for this request; 0: not a socket.
    match receive(
        &app, &caller, &id, &mut state, message, weight, requested, 0,
    )
    .await
    {
        Ok(Receipt::Reply {
            reply: Some(reply), ..
        }) => {
            // Content sent to the caller is a read of the household, as over the socket.
            if !reply.changes.is_empty() {
                crate::audit::record(&app, &caller, "document.read", Some(id.as_str()), None)
                    .await?;
            }
            Ok((
                [(header::CONTENT_TYPE, "application/octet-stream")],
                reply.encode(),
            )
                .into_response())
        }
        Ok(Receipt::Reply { reply: None, .. }) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(Receipt::Unavailable { .. }) => Err(unavailable()),
        Ok(Receipt::Replaced { replaced_by }) => Err(ApiError::new(
            StatusCode::GONE,
            "document-replaced",
            match replaced_by {
                Some(url) => format!(
                    "this household was erased at a person's request; what remains is {url}"
                ),
                None => "this household was erased at a person's request".to_owned(),
            },
        )),
        Err(SyncError::Refused(reason)) => {
            Err(ApiError::bad_request("sync-message-corrupt", reason))
        }
        Err(SyncError::Forbidden(reason)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "change-refused",
            reason,
        )),
        Err(SyncError::TooLarge(reason)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            reason,
        )),
        Err(SyncError::Revoked) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "token unknown, expired or revoked",
        )),
        Err(SyncError::Failed(reason)) => Err(ApiError::internal("sync-failed", reason)),
    }
}
