//! Signing in and out, changing one's password, and `me`: sessions for people, as a bearer token
//! for the API and an HttpOnly, SameSite=Strict cookie for the web pages.

use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use unicode_normalization::UnicodeNormalization;

use super::json::ApiJson;
use super::openapi::{ErrorBody, LoginResponse, MeResponse};
use crate::app::AppState;
use crate::audit;
use crate::auth::caller::SESSION_COOKIE;
use crate::auth::hashing::HashError;
use crate::auth::{Caller, Principal, password, throttle, token};
use crate::error::ApiError;
use crate::storage::{Actor, Session};

/// How long a sign-in lasts: a week, so a hamlet head is not asked every morning.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// New passwords shorter than this are refused.
const MIN_PASSWORD_CHARS: usize = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(sign_in))
        .route("/api/v1/auth/logout", post(sign_out))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/me", get(me))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub username: String,
    pub password: String,
}

pub fn too_many(wait: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
        format!(
            "Sai quá nhiều lần, hãy thử lại sau {} giây / too many failures, retry in {} s",
            wait.as_secs().max(1),
            wait.as_secs().max(1)
        ),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The server is checking as many passwords as it may at once: come back in a second.
pub fn busy() -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "server-busy",
        "Máy chủ đang bận, hãy thử lại sau 1 giây / server busy, retry in 1 s",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The session cookie; `Secure` when the server is reached over TLS.
pub fn session_cookie(state: &AppState, token: &str, max_age: Duration) -> HeaderValue {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Signs a person in: a session token for the API, and the same token as an HttpOnly cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in for a week", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "`sansang_session=<token>; Path=/; \
                HttpOnly; SameSite=Strict; Max-Age=604800` (`; Secure` behind HTTPS)"))),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`), \
            password too long (`password-too-long`) or username too long \
            (`username-too-long`)", body = ErrorBody),
        (status = 401, description = "Wrong username or password, or a disabled account \
            (`wrong-credentials`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 429, description = "Too many failures for this account, or for it from \
            this address (`too-many-attempts`), or too many sign-ins being checked at once \
            (`server-busy`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let address = state.caller_address(remote, &headers);
    let signed_in = match sign_in_person(&state, &body, address).await? {
        Ok(signed_in) => signed_in,
        Err(SignInRefused::TooMany(wait)) => return Ok(too_many(wait)),
        Err(SignInRefused::Busy) => return Ok(busy()),
        Err(SignInRefused::UsernameTooLong) => {
            return Err(ApiError::bad_request(
                "username-too-long",
                "tên đăng nhập quá dài / username too long",
            ));
        }
        Err(SignInRefused::PasswordTooLong) => {
            return Err(ApiError::bad_request(
                "password-too-long",
                "mật khẩu quá dài / password too long",
            ));
        }
        Err(SignInRefused::WrongCredentials) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong-credentials",
                "Sai tên đăng nhập hoặc mật khẩu / wrong username or password",
            ));
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&state, &signed_in.token, SESSION_LIFETIME),
    );
    let body = json!({
        "token": signed_in.token,
        "expiresAt": signed_in.expires_at,
        "user": signed_in.user,
    });
    Ok((headers, Json(body)).into_response())
}

/// A person signed in: the session token (shown once) and who they are.
pub struct SignedIn {
    pub token: String,
    pub expires_at: i64,
    pub user: crate::storage::User,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefused {
    /// Too many failures for the account (or the account at this address): wait this long.
    TooMany(Duration),
    /// Too many password checks at once on the server: come back after a second.
    Busy,
    PasswordTooLong,
    UsernameTooLong,
    WrongCredentials,
}

/// Longest username a sign-in reads (in bytes, before it is normalised): accounts have at most
/// 64 characters, and nothing longer is looked up, counted, audited or hashed.
pub const MAX_USERNAME_BYTES: usize = 256;

/// Checks a person's name and password with back-off, and opens a session; shared by the API and
/// the sign-in page. Failures and successes are audited.
///
/// Lengths are checked first; then the attempt is counted against the account and the account at
/// this address before the password is hashed, so parallel guesses cannot all pass; the hash
/// runs in the bounded pool ([`crate::auth::hashing`]).
pub async fn sign_in_person(
    state: &AppState,
    body: &SignIn,
    address: String,
) -> Result<Result<SignedIn, SignInRefused>, ApiError> {
    if body.username.len() > MAX_USERNAME_BYTES {
        return Ok(Err(SignInRefused::UsernameTooLong));
    }
    if body.password.len() > password::MAX_PASSWORD_BYTES {
        return Ok(Err(SignInRefused::PasswordTooLong));
    }
    let username: String = body
        .username
        .trim()
        .nfc()
        .collect::<String>()
        .to_lowercase();
    if username.chars().count() > crate::accounts::MAX_USERNAME_CHARS {
        return Ok(Err(SignInRefused::UsernameTooLong));
    }
    let throttles = &state.throttles;
    let storage = state.storage.as_ref();
    let at_address = throttle::account_at(&username, &address);
    if let Err(wait) = throttles.accounts.attempt(storage, &[&username]).await? {
        return Ok(Err(SignInRefused::TooMany(wait)));
    }
    let refused = match throttles
        .account_addresses
        .attempt(storage, &[&at_address])
        .await
    {
        Ok(Ok(())) => None,
        Ok(Err(wait)) => Some(Ok(Err(SignInRefused::TooMany(wait)))),
        Err(e) => Some(Err(e.into())),
    };
    if let Some(answer) = refused {
        throttles.accounts.forgive(storage, &[&username]).await?;
        return answer;
    }
    let forgive = || async {
        throttles.accounts.forgive(storage, &[&username]).await?;
        throttles
            .account_addresses
            .forgive(storage, &[&at_address])
            .await
    };
    let user = match state.storage.get_user_by_username(&username).await {
        Ok(user) => user,
        Err(e) => {
            forgive().await?;
            return Err(e.into());
        }
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // An unknown name costs the same hashing time as a wrong password.
    let matches = match state.hashing.verify(body.password.clone(), hash).await {
        Ok(matches) => matches,
        Err(HashError::Busy(_)) => {
            // Not the caller's guess that failed: the server was busy.
            forgive().await?;
            return Ok(Err(SignInRefused::Busy));
        }
        Err(HashError::Failed(e)) => {
            forgive().await?;
            return Err(ApiError::internal("password-check-failed", e));
        }
    };
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        other => {
            // The attempt stays counted. A failure on a known account is its commune's to see;
            // a name nobody has is the installation's.
            let (actor, commune) = other.map_or((Actor::System, None), |u| {
                (Actor::User(u.id), u.commune_code)
            });
            audit::record_as(
                state,
                actor,
                commune.as_deref(),
                Some(address),
                "auth.login-failed",
                None,
                Some(format!("username {username}")),
            )
            .await?;
            return Ok(Err(SignInRefused::WrongCredentials));
        }
    };
    throttles.accounts.succeed(storage, &[&username]).await?;
    throttles
        .account_addresses
        .succeed(storage, &[&at_address])
        .await?;
    let token = token::new_token(token::SESSION_PREFIX);
    let now = crate::now_millis();
    let session = Session {
        token_hash: token::hash(&token),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + SESSION_LIFETIME.as_millis() as i64,
        address: Some(address.clone()),
    };
    state.storage.create_session(&session).await?;
    audit::record_as(
        state,
        Actor::User(user.id.clone()),
        user.commune_code.as_deref(),
        Some(address),
        "auth.login",
        None,
        None,
    )
    .await?;
    Ok(Ok(SignedIn {
        token,
        expires_at: session.expires_at,
        user,
    }))
}

/// Signs out: ends this session and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Signed out",
            headers(("Set-Cookie" = String, description = "`sansang_session=` with `Max-Age=0`"))),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "Cookie sent from another origin \
            (`cross-origin`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn sign_out(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if let Some(hash) = &caller.session_hash {
        state.storage.delete_session(hash).await?;
        state.sync.recheck(&caller.principal.key());
    }
    audit::record(&state, &caller, "auth.logout", None, None).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&state, "", Duration::ZERO),
    );
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Checks a new password's length (in characters, so Vietnamese text counts fairly).
pub fn check_new_password(new: &str) -> Result<(), ApiError> {
    if new.len() > password::MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(
            "password-too-long",
            "mật khẩu quá dài / password too long",
        ));
    }
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            "password-too-short",
            format!(
                "mật khẩu cần ít nhất {MIN_PASSWORD_CHARS} ký tự / at least {MIN_PASSWORD_CHARS} characters"
            ),
        ));
    }
    Ok(())
}

/// Changes the caller's password and ends every session of theirs, this one included.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    request_body = PasswordChange,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Password changed; every session of the person has ended"),
        (status = 400, description = "Malformed body (`invalid-json`, `invalid-field`) or a new \
            password too short or too long (`password-too-short`, \
            `password-too-long`)", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`), or a wrong current password \
            (`wrong-credentials`)", body = ErrorBody),
        (status = 403, description = "A phone, which has no password (`forbidden`), or a cookie \
            sent from another origin (`cross-origin`)", body = ErrorBody),
        (status = 413, description = "Body too large (`body-unreadable`)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json \
            (`json-expected`)", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords \
            (`too-many-attempts`), or too many passwords being checked at once \
            (`server-busy`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let Principal::User(user) = &caller.principal else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "phones have no password",
        ));
    };
    check_new_password(&body.new_password)?;
    if body.current_password.len() > password::MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(
            "password-too-long",
            "mật khẩu quá dài / password too long",
        ));
    }
    // Counted before the hash, as for signing in.
    let accounts = &state.throttles.accounts;
    let storage = state.storage.as_ref();
    if let Err(wait) = accounts.attempt(storage, &[&user.username]).await? {
        return Ok(too_many(wait));
    }
    let hash = user.password_hash.clone();
    let checked = state
        .hashing
        .verify_and_rehash(body.current_password, hash, body.new_password)
        .await;
    let new_hash = match checked {
        Ok(new_hash) => new_hash,
        Err(HashError::Busy(_)) => {
            accounts.forgive(storage, &[&user.username]).await?;
            return Ok(busy());
        }
        Err(HashError::Failed(e)) => {
            accounts.forgive(storage, &[&user.username]).await?;
            return Err(ApiError::internal("password-hash-failed", e));
        }
    };
    let Some(new_hash) = new_hash else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong-credentials",
            "mật khẩu hiện tại không đúng / current password is wrong",
        ));
    };
    state.storage.set_password_hash(&user.id, &new_hash).await?;
    state.storage.delete_user_sessions(&user.id).await?;
    state.sync.recheck(&crate::auth::policy::user_key(&user.id));
    audit::record(&state, &caller, "user.password-change", None, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who the caller is: the signed-in person or the enrolled phone.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 500, description = "Server fault", body = ErrorBody),
    )
)]
async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(match &caller.principal {
        Principal::User(user) => json!({ "kind": "user", "user": user }),
        Principal::Device(device) => json!({ "kind": "device", "device": device }),
    })
}
