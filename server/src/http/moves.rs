//! Moving a household to another hamlet, and the quarantine of documents sent from outside a
//! phone's hamlets, over HTTP. See [`crate::moves`].

use crate::http::json::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::json::ApiJson;
use super::openapi::ErrorBody;
use crate::app::AppState;
use crate::audit;
use crate::auth::policy::allows;
use crate::auth::{Action, Caller, Principal, Scope};
use crate::documents::DocumentId;
use crate::error::ApiError;
use crate::moves::{self, MoveError, Moved};
use crate::storage::Quarantined;

// One `.route(` a line, methods inline: the OpenAPI test reads routes from the source.
#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households/{id}/move", post(move_household))
        .route("/api/v1/quarantine", get(list_quarantine))
        .route("/api/v1/quarantine/{id}/release", post(release))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveRequest {
    /// The hamlet the household goes to (of the same commune).
    pub hamlet_id: String,
}

/// The hamlet asked for, checked for length before anything.
fn hamlet_of(body: &MoveRequest) -> Result<&str, ApiError> {
    let hamlet = body.hamlet_id.trim();
    if hamlet.is_empty() || hamlet.len() > 64 {
        return Err(ApiError::bad_request(
            "invalid-field",
            "hamletId: a hamlet code of 1 to 64 characters",
        ));
    }
    Ok(hamlet)
}

fn refused(e: MoveError) -> ApiError {
    match e {
        MoveError::NotFound => ApiError::not_found(),
        e @ MoveError::UnknownHamlet { .. } => {
            ApiError::bad_request("unknown-hamlet", e.to_string())
        }
        e @ (MoveError::Quarantined | MoveError::NotQuarantined) => ApiError::new(
            StatusCode::CONFLICT,
            "wrong-quarantine-state",
            e.to_string(),
        ),
        MoveError::Document(e) => e.into(),
        MoveError::Storage(e) => e.into(),
    }
}

/// The Automerge actor of the caller's changes.
fn actor_of(caller: &Caller) -> automerge::ActorId {
    match &caller.principal {
        Principal::User(u) => crate::review::reviewer_actor(&u.id),
        Principal::Device(d) => crate::review::reviewer_actor(&format!("device {}", d.id)),
    }
}

/// Moves a household to another hamlet of its commune: a hamlet head between their own
/// hamlets, the commune's admin between any. The hamlet is written into the document, so the
/// new hamlet's phones receive it and the old hamlet's are no longer sent it. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/households/{id}/move",
    tag = "households",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    request_body = MoveRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Moved (or already there)", body = Moved),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`) or a \
            hamlet the commune does not have (`unknown-hamlet`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller never moves households (`forbidden`), or a \
            cookie sent from another origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "No such household, or the household or the hamlet is not \
            the caller's (`not-found`)", body = ErrorBody),
        (status = 409, description = "The household is quarantined: released by an admin \
            instead (`wrong-quarantine-state`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn move_household(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> Result<Json<Moved>, ApiError> {
    // Phones and commune staff never move households; hamlet heads and admins do.
    if matches!(caller.principal, Principal::Device(_)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Bạn không có quyền làm việc này / you may not do this",
        ));
    }
    caller.require_role(Action::Review)?;
    let hamlet = hamlet_of(&body)?;
    let id = DocumentId::parse(&id).map_err(|_| ApiError::not_found())?;
    let principal = caller.principal.clone();
    let moved = moves::move_household(&state, &id, hamlet, actor_of(&caller), |c, from, to| {
        let may = |h: &str| allows(&principal, Action::Review, Scope::hamlet(c, h));
        from.is_none_or(may) && may(to)
    })
    .await
    .map_err(refused)?;
    audit::record(
        &state,
        &caller,
        "household.move",
        Some(id.as_str()),
        Some(format!(
            "{} → {}",
            moved.from.as_deref().unwrap_or("(no hamlet)"),
            moved.to
        )),
    )
    .await?;
    Ok(Json(moved))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    /// Only for an installation admin, who belongs to no commune: one commune's documents.
    pub commune: Option<String>,
}

/// The documents phones sent for a hamlet outside their own, set aside for the commune's admin:
/// in no household list, synced only with the phone that sent each.
#[utoipa::path(
    get,
    path = "/api/v1/quarantine",
    tag = "households",
    params(QuarantineQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Quarantined documents, oldest change first", body = Vec<Quarantined>),
        (status = 400, description = "A malformed query string, answered in plain text",
            body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn list_quarantine(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<QuarantineQuery>,
) -> Result<Json<Vec<Quarantined>>, ApiError> {
    caller.require_role(Action::Administer)?;
    // A commune's admin sees their commune's; the query names one only for installation admins.
    let commune = match caller.principal.commune() {
        Some(own) => Some(own.to_owned()),
        None => query.commune,
    };
    let list = state.storage.list_quarantined(commune.as_deref()).await?;
    audit::record(&state, &caller, "quarantine.list", None, None).await?;
    Ok(Json(list))
}

/// Releases a quarantined document into a hamlet of its commune (the commune's admin): the
/// hamlet is written into it, and it joins that hamlet's list and phones. Audited. To erase it
/// instead, `POST /api/v1/households/{id}/erase`.
#[utoipa::path(
    post,
    path = "/api/v1/quarantine/{id}/release",
    tag = "households",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    request_body = MoveRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Released into the hamlet", body = Moved),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`) or a \
            hamlet the commune does not have (`unknown-hamlet`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`), or a cookie sent from another \
            origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "No such document, or not of the caller's commune \
            (`not-found`)", body = ErrorBody),
        (status = 409, description = "The document is not quarantined \
            (`wrong-quarantine-state`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> Result<Json<Moved>, ApiError> {
    caller.require_role(Action::Administer)?;
    let hamlet = hamlet_of(&body)?;
    let id = DocumentId::parse(&id).map_err(|_| ApiError::not_found())?;
    let principal = caller.principal.clone();
    let released = moves::release(&state, &id, hamlet, actor_of(&caller), |c| {
        allows(&principal, Action::Administer, Scope::commune(c))
    })
    .await
    .map_err(refused)?;
    audit::record(
        &state,
        &caller,
        "quarantine.release",
        Some(id.as_str()),
        Some(format!("to {}", released.to)),
    )
    .await?;
    Ok(Json(released))
}
