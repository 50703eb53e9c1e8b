//! Households as the server has projected them: the list of a hamlet or commune, and one
//! household with its members, findings and conflicts. Every read is in the audit log.

use crate::http::json::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openapi::{ErrorBody, HouseholdResponse};
use crate::app::AppState;
use crate::audit;
use crate::auth::policy::allows;
use crate::auth::{Action, Caller, Scope};
use crate::documents::DocumentId;
use crate::error::ApiError;
use crate::photos::ingest;
use crate::storage::HouseholdSummary;
use sansang_shared::Finding;
use sansang_shared::finding::pointer;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households", get(list_households))
        .route("/api/v1/households/{id}", get(read_household))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub hamlet: Option<String>,
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
}

/// One hamlet when asked; otherwise the caller's hamlets (a hamlet head) or the whole commune.
#[utoipa::path(
    get,
    path = "/api/v1/households",
    tag = "households",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Households, without personal data beyond the \
            address", body = Vec<HouseholdSummary>),
        (status = 400, description = "An installation admin who names no commune \
            (`commune-required`); a malformed query string is answered in plain \
            text", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's \
            (`not-found`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn list_households(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<HouseholdSummary>>, ApiError> {
    let (commune, hamlets) = super::listing_scope(
        &caller,
        Action::Read,
        query.commune.as_ref(),
        query.hamlet.as_ref(),
    )?;
    let mut out = Vec::new();
    for hamlet in &hamlets {
        out.extend(
            state
                .storage
                .list_households(&commune, hamlet.as_deref())
                .await?,
        );
    }
    let detail = match &query.hamlet {
        Some(h) => format!("commune {commune}, hamlet {h}"),
        None => format!("commune {commune}"),
    };
    audit::record(&state, &caller, "household.list", None, Some(detail)).await?;
    Ok(Json(out))
}

/// One household with its members, findings and conflicts.
#[utoipa::path(
    get,
    path = "/api/v1/households/{id}",
    tag = "households",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The household as last projected", body = HouseholdResponse),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 404, description = "No such household, not yet readable, or not the caller's \
            (`not-found`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn read_household(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let (id, scope) = super::household_scope(&state, &caller, &id, Action::Read).await?;
    let commune = scope.commune_code.as_deref().unwrap_or_default();
    let mut projection = state
        .storage
        .get_projection(id.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let photos = photo_states(&state, &caller, &id, &projection, commune).await?;
    for photo in &photos {
        for other in &photo.duplicate_of {
            projection.findings.push(Finding::warning(
                pointer("/photos", &photo.sha256),
                "photo-duplicate",
                format!("Ảnh này (hoặc ảnh gần giống) cũng có trong hộ {other}"),
                format!(
                    "this photo, or a nearly identical one, is also attached to household {other}"
                ),
            ));
        }
    }
    let duplicate_of =
        crate::duplicates::of_household(state.storage.as_ref(), id.as_str(), &scope).await?;
    let flagged = !projection.findings.is_empty() || !projection.conflicts.is_empty();
    projection
        .findings
        .extend(crate::duplicates::findings(&duplicate_of));
    let current = state.storage.current_review(id.as_str()).await?;
    let mut heads = projection.heads.clone();
    heads.sort();
    let review_state = crate::review::ReviewState::from_parts(
        flagged,
        !duplicate_of.is_empty(),
        current.as_ref().map(|r| (r, heads.as_slice())),
    );
    audit::record(&state, &caller, "household.read", Some(id.as_str()), None).await?;
    Ok(Json(json!({
        "review": { "state": review_state, "current": current },
        "id": id.as_str(),
        "url": id.url(),
        "communeCode": scope.commune_code,
        "hamletId": scope.hamlet_id,
        "projection": projection,
        "photos": photos,
        "duplicateOf": duplicate_of,
    })))
}

/// A photo the household references: uploaded or still pending, and the other households of
/// the commune that carry the same or a nearly identical photo.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhotoState {
    pub sha256: String,
    /// `uploaded`, `pending` (referenced by the document, bytes not received yet) or `removed`
    /// (taken out of the store by the retention rule, a set time after approval).
    pub status: &'static str,
    pub duplicate_of: Vec<String>,
}

/// The photos of household `id` as `caller` may see them: `duplicateOf` names only households
/// the caller may read that gave consent.
pub async fn photo_states(
    state: &AppState,
    caller: &Caller,
    id: &DocumentId,
    projection: &sansang_shared::Projection,
    commune: &str,
) -> Result<Vec<PhotoState>, ApiError> {
    if projection.household.photos.is_empty() {
        return Ok(Vec::new());
    }
    let uses = state.storage.photo_uses(commune).await?;
    let mut out = Vec::new();
    for sha256 in projection.household.photos.keys() {
        let mine = uses
            .iter()
            .find(|u| &u.sha256 == sha256 && u.document_id == id.as_str());
        let Some(mine) = mine else {
            out.push(PhotoState {
                sha256: sha256.clone(),
                status: "pending",
                duplicate_of: Vec::new(),
            });
            continue;
        };
        let mut duplicate_of: Vec<String> = uses
            .iter()
            .filter(|u| u.document_id != id.as_str())
            .filter(|u| {
                u.consent_given
                    && u.hamlet_id.as_deref().is_some_and(|hamlet| {
                        allows(
                            &caller.principal,
                            Action::Read,
                            Scope::hamlet(commune, hamlet),
                        )
                    })
            })
            .filter(|u| {
                ingest::hamming(u.phash as u64, mine.phash as u64)
                    <= ingest::NEAR_DUPLICATE_DISTANCE
            })
            .map(|u| u.document_id.clone())
            .collect();
        duplicate_of.sort();
        duplicate_of.dedup();
        let retired = state.storage.photo_retired(sha256).await?.is_some();
        out.push(PhotoState {
            sha256: sha256.clone(),
            status: if retired { "removed" } else { "uploaded" },
            duplicate_of,
        });
    }
    Ok(out)
}
