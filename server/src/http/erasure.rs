//! A person's rights over the API: everything held about a household or one member as one
//! archive, and its erasure (commune admins only). See [`crate::erasure`].

use crate::http::json::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::json::ApiJson;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller};
use crate::erasure::{self, Erased, ErasureError, Subject};
use crate::error::ApiError;

#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households/{id}/export", get(export_household))
        .route("/api/v1/households/{id}/erase", post(erase_household))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// One member's id: only that member and their photos (otherwise the whole household).
    pub member: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EraseRequest {
    /// One member's id; without it the whole household is erased.
    pub member: Option<String>,
    /// Why (the request's reference, not the person's name): kept in the audit log.
    pub reason: String,
}

fn subject(member: Option<String>) -> Result<Subject, ApiError> {
    match member {
        None => Ok(Subject::Household),
        Some(m) if m.trim().is_empty() || m.len() > 100 => Err(ApiError::bad_request(
            "invalid-field",
            "member: a member id of the household",
        )),
        Some(m) => Ok(Subject::Member(m)),
    }
}

fn refused(e: ErasureError) -> ApiError {
    match e {
        ErasureError::NotFound => ApiError::not_found(),
        ErasureError::NoSuchMember(m) => ApiError::bad_request(
            "invalid-field",
            format!("member: the household has no member {m}"),
        ),
        ErasureError::Failed(e) => ApiError::internal("erasure-failed", e),
    }
}

/// Everything held about a household (or one member): `household.json` and the photos.
#[utoipa::path(
    get,
    path = "/api/v1/households/{id}/export",
    tag = "households",
    params(("id" = String, Path, description = "Household document id"), ExportQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A tar archive: household.json (content, reviews, access log) and photos/", content_type = "application/x-tar", body = Vec<u8>),
        (status = 400, description = "`invalid-field`: no such member", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`, `invalid-token`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: only the commune's admin", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`not-found`", body = crate::http::openapi::ErrorBody),
    )
)]
pub async fn export_household(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let (id, _) = super::household_scope(&state, &caller, &id, Action::Administer).await?;
    let subject = subject(query.member)?;
    let bytes = erasure::export(&state, &id, &subject)
        .await
        .map_err(refused)?;
    let what = match &subject {
        Subject::Household => "household".to_owned(),
        Subject::Member(m) => format!("member {m}"),
    };
    audit::record(
        &state,
        &caller,
        "person.export",
        Some(id.as_str()),
        Some(what),
    )
    .await?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.tar\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Erases a household, or one member of it (the household then lives on as a new document
/// without them); old history, photos and projection are purged and a tombstone refuses the
/// old history from phones.
#[utoipa::path(
    post,
    path = "/api/v1/households/{id}/erase",
    tag = "households",
    params(("id" = String, Path, description = "Household document id")),
    request_body = EraseRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 415, description = "`json-expected`: the body is not sent as application/json", body = crate::http::openapi::ErrorBody),
        (status = 200, description = "Erased", body = Erased),
        (status = 400, description = "`invalid-field`: no such member, no reason", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`, `invalid-token`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: only the commune's admin", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`not-found`", body = crate::http::openapi::ErrorBody),
    )
)]
pub async fn erase_household(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<EraseRequest>,
) -> Result<Json<Erased>, ApiError> {
    let (id, _) = super::household_scope(&state, &caller, &id, Action::Administer).await?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request(
            "invalid-field",
            "reason: why the data is erased (the request's reference), up to 500 characters",
        ));
    }
    let subject = subject(request.member)?;
    let erased = erasure::erase(
        &state,
        caller.actor(),
        caller.address.clone(),
        &id,
        &subject,
        reason,
    )
    .await
    .map_err(refused)?;
    Ok(Json(erased))
}
