//! Readiness indices, the year's targets and the summary exports over HTTP. What is published
//! or exported has its small cells suppressed; `raw=true` gives the counts as computed to those
//! who may read the households behind them.

use crate::http::json::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sansang_shared::indices::{IndicatorKey, Targets, View};
use sansang_shared::publish;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::ApiJson;
use super::openapi::ErrorBody;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::{exports, indices};

// One `.route(` a line, methods inline: the OpenAPI test reads routes from the source.
#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/indices", get(read_indices))
        .route("/api/v1/targets/{year}", get(read_targets).put(write_targets))
        .route("/api/v1/exports/summary.csv", get(summary_csv))
        .route("/api/v1/exports/summary.xlsx", get(summary_xlsx))
        .route("/api/v1/exports/households.csv", get(households_csv))
        .route("/api/v1/exports/households.xlsx", get(households_xlsx))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct IndicesQuery {
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
    /// One hamlet; a hamlet head with several hamlets must name one.
    pub hamlet: Option<String>,
    /// `approved` (the default: what is reported upward) or `all-surveyed`.
    pub view: Option<String>,
    /// The reference year of ages and targets; this year in Vietnam by default.
    pub year: Option<i64>,
    /// `true`: counts as computed, no suppression (JSON only).
    pub raw: Option<bool>,
}

/// What an indices request is about, once checked.
struct Asked {
    commune: String,
    hamlets: Option<Vec<String>>,
    view: View,
    year: i64,
}

fn check(caller: &Caller, q: &IndicesQuery) -> Result<Asked, ApiError> {
    caller.require_role(Action::Export)?;
    let view = match q.view.as_deref() {
        None | Some("") | Some("approved") => View::Approved,
        Some("all-surveyed") => View::AllSurveyed,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid-view",
                "view: approved or all-surveyed",
            ));
        }
    };
    let year = check_year(q.year.unwrap_or_else(crate::reference_year))?;
    let commune = commune_of(caller, q.commune.as_ref())?;
    let hamlets = match (&q.hamlet, caller.principal.hamlets()) {
        (Some(h), _) => {
            caller.require(Action::Export, Scope::hamlet(&commune, h))?;
            Some(vec![h.clone()])
        }
        (None, Some([only])) => {
            caller.require(Action::Export, Scope::hamlet(&commune, only))?;
            Some(vec![only.clone()])
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "hamlet-required",
                "hamlet: name one of your hamlets",
            ));
        }
        (None, None) => {
            caller.require(Action::Export, Scope::commune(&commune))?;
            None
        }
    };
    Ok(Asked {
        commune,
        hamlets,
        view,
        year,
    })
}

async fn computed(state: &AppState, asked: &Asked) -> Result<indices::CommuneIndices, ApiError> {
    Ok(indices::compute(
        state.storage.as_ref(),
        &asked.commune,
        asked.hamlets.as_deref(),
        asked.view,
        asked.year,
    )
    .await?)
}

/// The indices of a commune (or a hamlet) and of each hamlet, with survey coverage.
#[utoipa::path(
    get,
    path = "/api/v1/indices",
    tag = "indices",
    params(IndicesQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`report` (published unless `raw`), `coverage` by hamlet (with a roster: `listed`, and the households to check as `possibleDuplicates`), `notVisited` (hamlets with the most listed households not visited yet), `targets`", body = Object),
        (status = 400, description = "`invalid-view`, `invalid-year`, `commune-required`, `hamlet-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller never sees indices (phones)", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's (`not-found`)", body = ErrorBody),
    )
)]
pub async fn read_indices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IndicesQuery>,
) -> Result<Json<Value>, ApiError> {
    let asked = check(&caller, &q)?;
    let raw = q.raw.unwrap_or(false);
    let c = computed(&state, &asked).await?;
    let (report, coverage) = if raw {
        (
            serde_json::to_value(&c.report),
            serde_json::to_value(&c.coverage),
        )
    } else {
        let published = publish::publish(&c.report, state.config.suppression_threshold);
        let coverage = indices::publish_coverage(&c.coverage, &published);
        (
            serde_json::to_value(&published),
            serde_json::to_value(&coverage),
        )
    };
    let report = report.map_err(|e| ApiError::internal("indices-json", e))?;
    let coverage = coverage.map_err(|e| ApiError::internal("indices-json", e))?;
    audit::record(
        &state,
        &caller,
        if raw {
            "indices.read-raw"
        } else {
            "indices.read"
        },
        None,
        Some(format!("commune {}", asked.commune)),
    )
    .await?;
    Ok(Json(json!({
        "communeCode": asked.commune,
        "referenceYear": asked.year,
        "view": asked.view,
        "raw": raw,
        "report": report,
        "coverage": coverage,
        "notVisited": c.not_visited,
        "targets": c.targets,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommuneQuery {
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
}

/// The commune asked about: one's own (naming another is answered as unknown), or for an
/// installation admin the one named.
pub(super) fn commune_of(caller: &Caller, asked: Option<&String>) -> Result<String, ApiError> {
    match (caller.principal.commune(), asked) {
        (Some(own), Some(asked)) if own != asked => Err(ApiError::not_found()),
        (Some(own), _) => Ok(own.to_owned()),
        (None, Some(asked)) => Ok(asked.clone()),
        (None, None) => Err(ApiError::bad_request(
            "commune-required",
            "name the commune",
        )),
    }
}

fn check_year(year: i64) -> Result<i64, ApiError> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(ApiError::bad_request(
            "invalid-year",
            "year: a year between 2000 and 2100",
        ))
    }
}

/// The commune's targets for a year (the plan's until an admin sets others).
#[utoipa::path(
    get,
    path = "/api/v1/targets/{year}",
    tag = "indices",
    params(("year" = i64, Path, description = "The year"), CommuneQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Targets in percent; null: shown without a target", body = Object),
        (status = 400, description = "`invalid-year`, `commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
    )
)]
pub async fn read_targets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(year): ApiPath<i64>,
    ApiQuery(q): ApiQuery<CommuneQuery>,
) -> Result<Json<Targets>, ApiError> {
    caller.require_role(Action::Export)?;
    let year = check_year(year)?;
    let commune = commune_of(&caller, q.commune.as_ref())?;
    Ok(Json(
        indices::targets(state.storage.as_ref(), &commune, year).await?,
    ))
}

/// Sets the commune's targets for a year (admins): each a percentage from 0 to 100, or null.
#[utoipa::path(
    put,
    path = "/api/v1/targets/{year}",
    tag = "indices",
    params(("year" = i64, Path, description = "The year"), CommuneQuery),
    request_body(content = Object, description = "`{digitalIdentity, paymentAccount, smartphonePeople, smartphoneHouseholds, basicSkills, vneidConfirmed, digitalHousehold, mentoring}`"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 415, description = "`json-expected`: the body is not sent as application/json", body = crate::http::openapi::ErrorBody),
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "`invalid-target` (with `field`), `unknown-field`, `invalid-year`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 404, description = "Another commune (`not-found`)", body = ErrorBody),
    )
)]
pub async fn write_targets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(year): ApiPath<i64>,
    ApiQuery(q): ApiQuery<CommuneQuery>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    caller.require_role(Action::Administer)?;
    let year = check_year(year)?;
    let commune = commune_of(&caller, q.commune.as_ref())?;
    caller.require(Action::Administer, Scope::commune(&commune))?;
    let known: Vec<&str> = IndicatorKey::ALL.iter().map(|k| k.target_field()).collect();
    if let Some(map) = body.as_object()
        && let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str()))
    {
        return Ok(field_error(
            "unknown-field",
            unknown,
            &format!(
                "{unknown}: not a target; the targets are {}",
                known.join(", ")
            ),
        ));
    }
    let targets: Targets = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request("invalid-field", format!("targets: {e}")))?;
    if let Err(e) = targets.validate() {
        return Ok(field_error("invalid-target", e.field, &e.to_string()));
    }
    indices::set_targets(state.storage.as_ref(), &commune, year, &targets).await?;
    audit::record(
        &state,
        &caller,
        "targets.set",
        None,
        Some(format!("commune {commune}, year {year}")),
    )
    .await?;
    Ok(Json(targets).into_response())
}

fn field_error(code: &str, field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "code": code, "message": message, "field": field })),
    )
        .into_response()
}

/// The published summary's rows for an export, audited.
async fn summary_rows(
    state: &AppState,
    caller: &Caller,
    q: &IndicesQuery,
    what: &str,
) -> Result<(Vec<(&'static str, Vec<exports::Cell>)>, String), ApiError> {
    let asked = check(caller, q)?;
    let c = computed(state, &asked).await?;
    let published = publish::publish(&c.report, state.config.suppression_threshold);
    let name = state
        .storage
        .get_commune(&asked.commune)
        .await?
        .map_or_else(|| asked.commune.clone(), |c| c.name);
    let coverage = indices::publish_coverage(&c.coverage, &published);
    let rows = exports::summary_rows(&published, (&asked.commune, &name), &coverage);
    audit::record(
        state,
        caller,
        "export.summary",
        None,
        Some(format!("{what}, commune {}", asked.commune)),
    )
    .await?;
    let file = match &asked.hamlets {
        Some(h) if h.len() == 1 => format!("tong-hop-{}-{}-{}", asked.commune, h[0], asked.year),
        _ => format!("tong-hop-{}-{}", asked.commune, asked.year),
    };
    Ok((rows, file))
}

fn download(bytes: Vec<u8>, content_type: &'static str, file: &str) -> Response {
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // File names are built from checked codes only: ASCII letters, digits and dashes.
    let safe: String = file
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// The published summary as CSV (UTF-8 with BOM).
#[utoipa::path(
    get,
    path = "/api/v1/exports/summary.csv",
    tag = "indices",
    params(IndicesQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "CSV, one row per area and indicator", content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "`invalid-view`, `invalid-year`, `commune-required`, `hamlet-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's (`not-found`)", body = ErrorBody),
    )
)]
pub async fn summary_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IndicesQuery>,
) -> Result<Response, ApiError> {
    let (rows, file) = summary_rows(&state, &caller, &q, "csv").await?;
    Ok(download(
        exports::summary_csv(&rows),
        "text/csv; charset=utf-8",
        &format!("{file}.csv"),
    ))
}

/// The published summary as an Excel workbook: sheets "Xã" and "Thôn".
#[utoipa::path(
    get,
    path = "/api/v1/exports/summary.xlsx",
    tag = "indices",
    params(IndicesQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 400, description = "`invalid-view`, `invalid-year`, `commune-required`, `hamlet-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's (`not-found`)", body = ErrorBody),
    )
)]
pub async fn summary_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IndicesQuery>,
) -> Result<Response, ApiError> {
    let (rows, file) = summary_rows(&state, &caller, &q, "xlsx").await?;
    let bytes = exports::summary_xlsx(&rows).map_err(|e| ApiError::internal("xlsx-failed", e))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{file}.xlsx"),
    ))
}

/// The household detail's rows for an export: commune staff and admins only; audited as a
/// read of personal data.
async fn detail_rows(
    state: &AppState,
    caller: &Caller,
    q: &IndicesQuery,
    what: &str,
) -> Result<(Vec<Vec<exports::Cell>>, String), ApiError> {
    let staff = matches!(
        &caller.principal,
        crate::auth::Principal::User(u)
            if matches!(u.role, crate::storage::Role::Admin | crate::storage::Role::CommuneStaff)
    );
    if !staff {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Chỉ cán bộ xã tải danh sách chi tiết / the detail is for commune staff",
        ));
    }
    let asked = check(caller, q)?;
    let rows = indices::household_detail(
        state.storage.as_ref(),
        &asked.commune,
        asked.hamlets.as_deref(),
        asked.year,
    )
    .await?;
    audit::record(
        state,
        caller,
        "export.households",
        None,
        Some(format!(
            "{what}, commune {}, {} rows",
            asked.commune,
            rows.len()
        )),
    )
    .await?;
    Ok((
        rows,
        format!("chi-tiet-ho-{}-{}", asked.commune, asked.year),
    ))
}

/// Every surveyed household and member (commune staff only), as CSV.
#[utoipa::path(
    get,
    path = "/api/v1/exports/households.csv",
    tag = "indices",
    params(IndicesQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "CSV, one row per member", content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "`invalid-year`, `commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: commune staff and admins only", body = ErrorBody),
        (status = 404, description = "Another commune (`not-found`)", body = ErrorBody),
    )
)]
pub async fn households_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IndicesQuery>,
) -> Result<Response, ApiError> {
    let (rows, file) = detail_rows(&state, &caller, &q, "csv").await?;
    Ok(download(
        exports::csv(&exports::HOUSEHOLD_HEADERS, &rows),
        "text/csv; charset=utf-8",
        &format!("{file}.csv"),
    ))
}

/// Every surveyed household and member (commune staff only), as an Excel workbook.
#[utoipa::path(
    get,
    path = "/api/v1/exports/households.xlsx",
    tag = "indices",
    params(IndicesQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The workbook, sheet \"Hộ gia đình\"", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 400, description = "`invalid-year`, `commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: commune staff and admins only", body = ErrorBody),
        (status = 404, description = "Another commune (`not-found`)", body = ErrorBody),
    )
)]
pub async fn households_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IndicesQuery>,
) -> Result<Response, ApiError> {
    let (rows, file) = detail_rows(&state, &caller, &q, "xlsx").await?;
    let bytes =
        exports::households_xlsx(&rows).map_err(|e| ApiError::internal("xlsx-failed", e))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{file}.xlsx"),
    ))
}
