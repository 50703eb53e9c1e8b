//! The audit log for admins, filterable by person or phone, household and time.

use crate::http::json::ApiQuery;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::openapi::ErrorBody;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::storage::{Actor, AuditEntry, AuditFilter};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(read_audit))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `user` or `device`, with `actorId`.
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    /// Household document id.
    pub household: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// At most 1,000; 100 when absent.
    pub limit: Option<i64>,
}

/// The audit log, newest first, filtered by person or phone, household and time: the caller's
/// commune's entries only, every commune's for an installation admin.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Audit entries", body = Vec<AuditEntry>),
        (status = 400, description = "`actorKind` other than `user` or `device`, or without \
            `actorId` (`invalid-actor`); a malformed query string is answered in plain \
            text", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller may not read the audit log \
            (`forbidden`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn read_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require_role(Action::ReadAudit)?;
    let actor = match (query.actor_kind.as_deref(), query.actor_id) {
        (None, None) => None,
        (Some("user"), Some(id)) => Some(Actor::User(id)),
        (Some("device"), Some(id)) => Some(Actor::Device(id)),
        _ => {
            return Err(ApiError::bad_request(
                "invalid-actor",
                "actorKind must be `user` or `device`, given with actorId",
            ));
        }
    };
    // A commune's admin reads its own commune's trail; only an installation admin (no commune)
    // reads every commune's and the installation's own entries.
    let filter = AuditFilter {
        commune_code: caller.principal.commune().map(str::to_owned),
        actor,
        document_id: query.household,
        since: query.since,
        until: query.until,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let entries = state.storage.list_audit(&filter).await?;
    audit::record(&state, &caller, "audit.read", None, None).await?;
    Ok(Json(entries))
}
