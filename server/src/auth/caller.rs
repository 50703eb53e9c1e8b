//! The signed-in caller of a request: a person by session (bearer token or cookie) or a phone by
//! device token, looked up on every request so a revoked token stops working at once.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};

use super::policy::{Action, Principal, Scope, allows, can_ever};
use super::token::{self, DEVICE_PREFIX, MAX_TOKEN_LEN, SESSION_PREFIX};
use crate::app::AppState;
use crate::error::ApiError;
use crate::storage::Actor;

/// Name of the session cookie of the web pages.
pub const SESSION_COOKIE: &str = "sansang_session";

/// Who is asking, and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub address: Option<String>,
    /// Hex hash of the session token, when signed in as a person.
    pub session_hash: Option<String>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }

    /// Ok when the policy allows; otherwise the error that hides whether the thing exists.
    pub fn require(&self, action: Action, scope: Scope<'_>) -> Result<(), ApiError> {
        if allows(&self.principal, action, scope) {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }

    /// The role-level check before any resource is named: a plain 403 for a caller whose role
    /// can never do `action` (a phone reading the audit log, commune staff issuing codes).
    pub fn require_role(&self, action: Action) -> Result<(), ApiError> {
        if can_ever(&self.principal, action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Bạn không có quyền làm việc này / you may not do this",
            ))
        }
    }
}

/// The caller's address, when the server was started with connect info: the peer's, or the
/// forwarded one behind a trusted proxy.
pub fn remote_address(parts: &Parts, state: &AppState) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| state.caller_address(*addr, &parts.headers))
}

fn unauthenticated(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The bearer token of the request and whether it came from the cookie.
pub fn presented_token(headers: &HeaderMap) -> Result<(String, bool), ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            unauthenticated(
                "bad-authorization-header",
                "Authorization header is not text",
            )
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN && !t.contains(' '))
            .ok_or_else(|| {
                unauthenticated(
                    "bad-authorization-header",
                    "Authorization must be `Bearer <token>`",
                )
            })?;
        return Ok((token.to_owned(), false));
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    match cookie {
        Some(token) if !token.is_empty() && token.len() <= MAX_TOKEN_LEN => Ok((token, true)),
        _ => Err(unauthenticated(
            "unauthenticated",
            "Hãy đăng nhập / sign in first",
        )),
    }
}

/// Cookie-authenticated writes must come from our own pages: SameSite=Strict already keeps
/// other sites' forms out, and a foreign `Origin` is refused as a second line.
fn check_origin(parts: &Parts) -> Result<(), ApiError> {
    same_origin(&parts.method, &parts.headers)
}

/// Ok for reads, for requests without `Origin` (not sent by a browser from another site), and
/// for an `Origin` naming this server's host; `403 cross-origin` otherwise.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || origin_is_ours(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-origin",
            "request from another site refused",
        ))
    }
}

/// Whether the request carries no `Origin` (not a browser on another site) or one naming this
/// server's host. A WebSocket upgrade is a GET, so the sync socket asks this whatever the method.
pub fn origin_is_ours(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host.is_some() && origin_host == host
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, from_cookie) = presented_token(&parts.headers)?;
        if from_cookie {
            check_origin(parts)?;
        }
        authenticate(state, &token, from_cookie, remote_address(parts, state)).await
    }
}

/// Finds who holds `token`: a live session of an enabled person, or (not from a cookie) a phone
/// that is not revoked.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    from_cookie: bool,
    address: Option<String>,
) -> Result<Caller, ApiError> {
    let invalid = || unauthenticated("invalid-token", "token unknown, expired or revoked");
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid());
    }
    let hash = token::hash(token);
    if token.starts_with(SESSION_PREFIX) {
        let session = state
            .storage
            .get_session(&hash)
            .await?
            .ok_or_else(invalid)?;
        if session.expires_at <= crate::now_millis() {
            state.storage.delete_session(&hash).await?;
            return Err(invalid());
        }
        let user = state
            .storage
            .get_user(&session.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid)?;
        Ok(Caller {
            principal: Principal::User(user),
            address,
            session_hash: Some(hash),
        })
    } else if token.starts_with(DEVICE_PREFIX) && !from_cookie {
        let device = state
            .storage
            .get_device_by_token_hash(&hash)
            .await?
            .filter(|d| d.revoked_at.is_none())
            .ok_or_else(invalid)?;
        Ok(Caller {
            principal: Principal::Device(device),
            address,
            session_hash: None,
        })
    } else {
        Err(invalid())
    }
}

impl Caller {
    /// Whether the caller's token still works (not revoked, not signed out, not disabled): long
    /// connections ask this as they go, so revocation cuts them off at once.
    pub async fn still_valid(&self, state: &AppState) -> Result<bool, ApiError> {
        // One read each: a sync socket asks before every message.
        Ok(match &self.principal {
            Principal::Device(d) => state.storage.device_live(&d.id).await?,
            Principal::User(u) => match &self.session_hash {
                Some(hash) => {
                    state
                        .storage
                        .session_live(hash, &u.id, crate::now_millis())
                        .await?
                }
                None => false,
            },
        })
    }
}
