//! The one error type of the HTTP layer: a status, a stable code and a plain message; server
//! faults are logged with their detail and answered without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::documents::DocumentError;
use crate::storage::StorageError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// Unknown and forbidden look the same, so ids cannot be probed.
    pub fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Không tìm thấy / not found",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A fault of the server: logged in full, answered with a generic message.
    pub fn internal(code: &'static str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(code, %detail, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "Lỗi máy chủ / internal server error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { what } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            StorageError::Conflict { what } => ApiError::new(
                StatusCode::CONFLICT,
                "already-exists",
                format!("{what} already exists"),
            ),
            // Other servers kept writing the document while this one caught up, several times.
            StorageError::Stale { id, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "document-busy",
                format!("document {id} is being written by other servers; try again"),
            ),
            other => ApiError::internal("storage-error", other),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Corrupt(detail) => {
                ApiError::new(StatusCode::BAD_REQUEST, "automerge-corrupt", detail)
            }
            DocumentError::Storage(inner) => inner.into(),
            DocumentError::ChangedMeanwhile => ApiError::new(
                StatusCode::CONFLICT,
                "changed-since-opened",
                "Hộ này đã thay đổi từ khi bạn mở, hãy xem lại / the household changed since you \
                 opened it: look at it again",
            ),
            other => ApiError::internal(other.code(), other),
        }
    }
}
