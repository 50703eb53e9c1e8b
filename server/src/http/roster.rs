//! Importing the commune's household list (roster) over HTTP: the file as the body (xlsx or
//! CSV), checked whole; `dryRun=true` answers what would change without writing. See
//! [`crate::roster`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiQuery;
use super::openapi::ErrorBody;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::roster::{self, RosterError, Summary};
use crate::storage::RosterEntry;

/// Largest roster file taken (a commune of 10,000 households is well under 2 MiB as xlsx).
pub const MAX_ROSTER_BYTES: usize = 8 << 20;

// One `.route(` a line, methods inline: the OpenAPI test reads routes from the source.
#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/roster", get(read_roster))
        .route("/api/v1/roster/import", post(import_roster))
        .layer(DefaultBodyLimit::max(MAX_ROSTER_BYTES + 1))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
    /// `true`: check the file and say what would change; nothing is written.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RosterQuery {
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
    /// One hamlet.
    pub hamlet: Option<String>,
}

/// An import of a commune's roster under way on this server ([`AppState::roster_imports`]):
/// one at a time each, so a second upload (a double tap) is told instead of racing the first.
struct Importing {
    running: Arc<Mutex<HashSet<String>>>,
    commune: String,
}

impl Importing {
    fn start(state: &AppState, commune: &str) -> Option<Importing> {
        let running = state.roster_imports.clone();
        let started = running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(commune.to_owned());
        started.then(|| Importing {
            running,
            commune: commune.to_owned(),
        })
    }
}

impl Drop for Importing {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.commune);
    }
}

/// Imports the commune's household list (commune staff and admins). The whole file is checked
/// first; any problem is answered with every problem found (line and column) and nothing is
/// written. Importing the same file again changes nothing; a later file updates addresses and
/// adds households, and never deletes one.
#[utoipa::path(
    post,
    path = "/api/v1/roster/import",
    tag = "roster",
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "text/csv",
        description = "The roster as xlsx (first sheet) or CSV (UTF-8, with or without BOM): a header row with hamlet (thôn), code (mã hộ), address (địa chỉ), optionally head (chủ hộ) and members (số nhân khẩu)"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Imported (or, with dryRun, what would change)", body = Summary),
        (status = 400, description = "`roster-empty`, `commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: commune staff and admins only", body = ErrorBody),
        (status = 404, description = "Another commune (`not-found`)", body = ErrorBody),
        (status = 409, description = "`roster-import-running`: an import of this commune is under way", body = ErrorBody),
        (status = 413, description = "`roster-too-large`", body = ErrorBody),
        (status = 422, description = "`roster-invalid`: `problems` lists each `{line, column, message}`; nothing was written", body = ErrorBody),
    )
)]
pub async fn import_roster(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    caller.require_role(Action::ImportRoster)?;
    let commune = super::indices::commune_of(&caller, q.commune.as_ref())?;
    caller.require(Action::ImportRoster, Scope::commune(&commune))?;
    if state.storage.get_commune(&commune).await?.is_none() {
        return Err(ApiError::not_found());
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "roster-too-large",
            format!("a roster file of at most {MAX_ROSTER_BYTES} bytes"),
        )
    };
    let bytes = axum::body::to_bytes(body, MAX_ROSTER_BYTES)
        .await
        .map_err(|e| {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large()
            } else {
                ApiError::bad_request(
                    "body-unreadable",
                    format!("the body could not be read: {e}"),
                )
            }
        })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "roster-empty",
            "send the roster file as the body",
        ));
    }
    let Some(_running) = Importing::start(&state, &commune) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "roster-import-running",
            "an import of this commune's roster is under way; try again when it is done",
        ));
    };
    // Parsing a large sheet is CPU work: off the async workers.
    let parsed = tokio::task::spawn_blocking(move || roster::read(&bytes))
        .await
        .map_err(|e| ApiError::internal("roster-import-failed", e))?;
    let result = match parsed {
        Ok((rows, problems)) => {
            let now = crate::now_millis();
            roster::plan(state.storage.as_ref(), &commune, rows, problems, now).await
        }
        Err(problems) => Err(RosterError::Problems(problems)),
    };
    let plan = match result {
        Ok(plan) => plan,
        Err(e) => return Ok(refusal(e)),
    };
    if q.dry_run == Some(true) {
        return Ok(Json(plan.preview()).into_response());
    }
    let entry = audit::entry(&caller, "roster.import", None, None);
    match roster::apply(&state, &plan, &entry, &mut |_, _| {}).await {
        Ok(summary) => Ok(Json(summary).into_response()),
        Err(e) => Ok(refusal(e)),
    }
}

fn refusal(e: RosterError) -> Response {
    match e {
        RosterError::Problems(problems) => {
            let first = problems
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            let body = json!({
                "code": "roster-invalid",
                "message": format!(
                    "{} problem(s) in the file, nothing imported; the first: {first}",
                    problems.len()
                ),
                "problems": problems,
            });
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        RosterError::Storage(e) => ApiError::from(e).into_response(),
        e @ RosterError::Document { .. } => {
            ApiError::internal("roster-import-failed", e).into_response()
        }
    }
}

/// The commune's roster (one hamlet's with `hamlet`), with the document of each listed
/// household: commune staff and admins, and hamlet heads and phones for their own hamlets.
#[utoipa::path(
    get,
    path = "/api/v1/roster",
    tag = "roster",
    params(RosterQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Sorted by hamlet, then code", body = Vec<RosterEntry>),
        (status = 400, description = "`commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: not one of the caller's hamlets", body = ErrorBody),
        (status = 404, description = "Another commune (`not-found`)", body = ErrorBody),
    )
)]
pub async fn read_roster(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RosterQuery>,
) -> Result<Json<Vec<RosterEntry>>, ApiError> {
    caller.require_role(Action::Read)?;
    let (commune, hamlets) =
        super::listing_scope(&caller, Action::Read, q.commune.as_ref(), q.hamlet.as_ref())?;
    let entries = state
        .storage
        .list_roster(&commune)
        .await?
        .into_iter()
        .filter(|e| {
            hamlets
                .iter()
                .any(|h| h.as_deref().is_none_or(|h| h == e.hamlet_id))
        })
        .collect::<Vec<_>>();
    audit::record(
        &state,
        &caller,
        "roster.read",
        None,
        Some(format!("{} listed households", entries.len())),
    )
    .await?;
    Ok(Json(entries))
}
