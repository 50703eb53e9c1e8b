//! Accounts of people, for admins: list, create (with a generated password when none is given),
//! reset a password. The same rules as `sansang admin`, through `crate::accounts`.

use crate::http::json::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiJson;
use super::openapi::{CreatedUserResponse, ErrorBody, PasswordResetResponse};
use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::storage::{Role, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}/reset-password", post(reset_password))
}

/// The accounts of the caller's commune (of every commune for an installation admin).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Accounts, by username", body = Vec<User>),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller is not an admin (`forbidden`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<User>>, ApiError> {
    caller.require_role(Action::Administer)?;
    let users = state.storage.list_users(caller.principal.commune()).await?;
    audit::record(&state, &caller, "user.list", None, None).await?;
    Ok(Json(users))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub hamlets: Vec<String>,
    /// Generated (and returned once) when absent.
    pub password: Option<String>,
    /// Only for an installation admin, who belongs to no commune.
    pub commune_code: Option<String>,
}

/// Creates an account, with a generated password when none is given.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = CreateUser,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "The account; `password` is the generated one, shown this \
            once", body = CreatedUserResponse),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`) or an \
            invalid account (`invalid-username`, `invalid-display-name`, `commune-required`, \
            `unknown-commune`, `hamlets-required`, `unknown-hamlet`, `password-too-short`, \
            `password-too-long`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller is not an admin (`forbidden`), or a cookie sent \
            from another origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "A commune that is not the caller's \
            (`not-found`)", body = ErrorBody),
        (status = 409, description = "The username is taken (`username-taken`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    let commune = caller
        .principal
        .commune()
        .map(str::to_owned)
        .or(body.commune_code.clone());
    caller.require_role(Action::Administer)?;
    let scope_commune = commune.clone().unwrap_or_default();
    caller.require(Action::Administer, Scope::commune(&scope_commune))?;
    if let Some(p) = &body.password {
        super::auth::check_new_password(p)?;
    }
    let (user, password) = accounts::create(
        state.storage.as_ref(),
        NewAccount {
            username: &body.username,
            display_name: &body.display_name,
            role: body.role,
            commune_code: commune.as_deref(),
            hamlets: &body.hamlets,
            password: body.password.as_deref(),
        },
    )
    .await?;
    audit::record(
        &state,
        &caller,
        "user.create",
        None,
        Some(format!("user {} ({})", user.username, user.role.as_str())),
    )
    .await?;
    let generated = body.password.is_none().then_some(password);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": user, "password": generated })),
    ))
}

/// Resets a person's password to a generated one.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reset-password",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The new password, shown this \
            once", body = PasswordResetResponse),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "The caller is not an admin (`forbidden`), or a cookie sent \
            from another origin (`cross-origin`)", body = ErrorBody),
        (status = 404, description = "No such account, or not of the caller's commune \
            (`not-found`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_role(Action::Administer)?;
    let user = state
        .storage
        .get_user(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let commune = user.commune_code.clone().unwrap_or_default();
    caller.require(Action::Administer, Scope::commune(&commune))?;
    let password = accounts::reset_password(state.storage.as_ref(), &user).await?;
    // The person's sessions ended: their open sync sockets too, now.
    state.sync.recheck(&crate::auth::policy::user_key(&user.id));
    audit::record(
        &state,
        &caller,
        "user.reset-password",
        None,
        Some(format!("user {}", user.username)),
    )
    .await?;
    Ok(Json(json!({ "user": user, "password": password })))
}
