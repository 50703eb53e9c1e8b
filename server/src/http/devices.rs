//! Volunteers' phones: issuing enrollment codes, enrolling a phone with one, listing and revoking
//! phones. A revoked token stops working at the next request, since tokens are checked each time.

use crate::http::json::ApiPath;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiJson;
use super::openapi::{EnrolledDeviceResponse, ErrorBody, IssuedCodeResponse};
use crate::app::AppState;
use crate::audit;
use crate::auth::enrollment::{self, CodeRequest, EnrollmentError};
use crate::auth::policy::allows;
use crate::auth::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::storage::{Actor, Device};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/enrollments", post(issue_code))
        .route("/api/v1/devices/enroll", post(enroll_device))
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/{id}/revoke", post(revoke_device))
}

impl From<EnrollmentError> for ApiError {
    fn from(e: EnrollmentError) -> Self {
        match e {
            EnrollmentError::Storage(inner) => inner.into(),
            other => ApiError::bad_request(other.code(), other.to_string()),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueCode {
    pub volunteer: String,
    pub hamlets: Vec<String>,
    /// Hours the code stays valid, 1 to 168; 24 when absent.
    pub valid_hours: Option<u64>,
    /// Only for an installation admin, who belongs to no commune.
    pub commune_code: Option<String>,
}

/// The commune a request acts on: the caller's own, or the one an installation admin names.
fn commune_of(caller: &Caller, asked: Option<&str>) -> Result<String, ApiError> {
    match (caller.principal.commune(), asked) {
        (Some(own), _) => Ok(own.to_owned()),
        (None, Some(asked)) => Ok(asked.to_owned()),
        (None, None) => Err(ApiError::bad_request(
            "commune-required",
            "name the commune (communeCode)",
        )),
    }
}

/// Issues a one-time enrollment code (and its QR code) for a volunteer's phone.
#[utoipa::path(
    post,
    path = "/api/v1/enrollments",
    tag = "devices",
    request_body = IssueCode,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "The code, shown this once", body = IssuedCodeResponse),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`), no \
            commune named by an installation admin (`commune-required`), or an invalid request \
            (`invalid-volunteer`, `hamlets-required`, `unknown-hamlet`, \
            `invalid-validity`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller's role never manages phones (`forbidden`), or a \
            cookie sent from another origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's \
            (`not-found`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn issue_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IssueCode>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_role(Action::ManageDevices)?;
    let commune = commune_of(&caller, body.commune_code.as_deref())?;
    for hamlet in &body.hamlets {
        caller.require(Action::ManageDevices, Scope::hamlet(&commune, hamlet))?;
    }
    if body.hamlets.is_empty() {
        caller.require(Action::ManageDevices, Scope::commune(&commune))?;
    }
    let hours = body.valid_hours.unwrap_or(24);
    let public_url = state.public_url();
    let issued = enrollment::issue(
        state.storage.as_ref(),
        caller.actor(),
        CodeRequest {
            commune_code: &commune,
            volunteer: &body.volunteer,
            hamlets: &body.hamlets,
            validity: Duration::from_secs(hours.saturating_mul(3600)),
        },
        &public_url,
    )
    .await?;
    audit::record(
        &state,
        &caller,
        "enrollment.issue",
        None,
        Some(format!(
            "volunteer {}, hamlets {}",
            issued.enrollment.volunteer,
            issued.enrollment.hamlets.join(",")
        )),
    )
    .await?;
    let body = json!({
        "code": issued.code,
        "enrollUrl": issued.enroll_url,
        "qrSvg": enrollment::qr_svg(&issued.enroll_url),
        "enrollment": issued.enrollment,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Enroll {
    pub code: String,
}

/// Typed enrollment codes longer than this are refused unread.
const MAX_TYPED_CODE_BYTES: usize = 128;

/// Anyone holding a valid code may enrol; guessing is throttled per address.
#[utoipa::path(
    post,
    path = "/api/v1/devices/enroll",
    tag = "devices",
    request_body = Enroll,
    responses(
        (status = 201, description = "The phone is enrolled; its token is shown this \
            once", body = EnrolledDeviceResponse),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`), or a code \
            that is unknown, used, expired or too long (`enrollment-code-unknown`, \
            `enrollment-code-used`, `enrollment-code-expired`, \
            `enrollment-code-too-long`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes from this address \
            (`too-many-attempts`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn enroll_device(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<Enroll>,
) -> Result<Response, ApiError> {
    let address = state.caller_address(remote, &headers);
    // A code is a few dozen characters however it is typed; a longer one is refused before it is
    // counted, looked up or written anywhere.
    if body.code.len() > MAX_TYPED_CODE_BYTES {
        return Err(ApiError::bad_request(
            "enrollment-code-too-long",
            format!("code: longer than {MAX_TYPED_CODE_BYTES} bytes"),
        ));
    }
    // Counted before the code is looked up, so guesses sent at once cannot all pass the check.
    let throttle = &state.throttles.enrollment_codes;
    let storage = state.storage.as_ref();
    if let Err(wait) = throttle.attempt(storage, &[&address]).await? {
        return Ok(crate::http::auth::too_many(wait));
    }
    let (token, device) = match enrollment::redeem(storage, &body.code).await {
        Ok(ok) => {
            throttle.forgive(storage, &[&address]).await?;
            ok
        }
        Err(e) => {
            if matches!(e, EnrollmentError::Storage(_)) {
                throttle.forgive(storage, &[&address]).await?;
            } else {
                audit::record_as(
                    &state,
                    Actor::System,
                    None,
                    Some(address),
                    "device.enroll-failed",
                    None,
                    Some(e.code().to_owned()),
                )
                .await?;
            }
            return Err(e.into());
        }
    };
    audit::record_as(
        &state,
        Actor::Device(device.id.clone()),
        Some(&device.commune_code),
        Some(address),
        "device.enroll",
        None,
        Some(format!("volunteer {}", device.volunteer)),
    )
    .await?;
    let sync_url = state
        .public_url()
        .replacen("http", "ws", 1)
        .trim_end_matches('/')
        .to_owned()
        + "/api/v1/sync";
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "device": device,
            "syncUrl": sync_url,
        })),
    )
        .into_response())
}

/// Whether the caller may manage this phone: some hamlet of it is theirs to manage.
fn manages(caller: &Caller, device: &Device) -> bool {
    device.hamlets.iter().any(|h| {
        allows(
            &caller.principal,
            Action::ManageDevices,
            Scope::hamlet(&device.commune_code, h),
        )
    })
}

/// The phones of the caller's commune that the caller manages, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/v1/devices",
    tag = "devices",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Phones, oldest first", body = Vec<Device>),
        (status = 400, description = "An installation admin, who belongs to no commune \
            (`commune-required`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller's role never manages phones \
            (`forbidden`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Device>>, ApiError> {
    let Some(commune) = caller.principal.commune() else {
        return Err(ApiError::bad_request(
            "commune-required",
            "installation admins list devices per commune with `sansang admin devices list`",
        ));
    };
    caller.require_role(Action::ManageDevices)?;
    let devices: Vec<Device> = state
        .storage
        .list_devices(commune)
        .await?
        .into_iter()
        .filter(|d| manages(&caller, d))
        .collect();
    audit::record(&state, &caller, "device.list", None, None).await?;
    Ok(Json(devices))
}

/// Revokes a phone: its token stops working at its next request.
#[utoipa::path(
    post,
    path = "/api/v1/devices/{id}/revoke",
    tag = "devices",
    params(("id" = String, Path, description = "Device id (UUID)")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The phone, now revoked", body = Device),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller's role never manages phones (`forbidden`), or a \
            cookie sent from another origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "No such phone, or not one the caller manages \
            (`not-found`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Device>, ApiError> {
    caller.require_role(Action::ManageDevices)?;
    let device = state
        .storage
        .get_device(&id)
        .await?
        .filter(|d| manages(&caller, d))
        .ok_or_else(ApiError::not_found)?;
    state
        .storage
        .revoke_device(&device.id, crate::now_millis())
        .await?;
    // Its open sockets end now, not at their next ping.
    state
        .sync
        .recheck(&crate::auth::policy::device_key(&device.id));
    audit::record(
        &state,
        &caller,
        "device.revoke",
        None,
        Some(format!("device {} of {}", device.id, device.volunteer)),
    )
    .await?;
    let revoked = state
        .storage
        .get_device(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(revoked))
}
