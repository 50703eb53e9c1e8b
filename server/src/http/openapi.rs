//! The OpenAPI 3.1 document of the HTTP API at `/api/openapi.json`, generated from the handlers'
//! `#[utoipa::path]` attributes and the types' `ToSchema` derives. Every route of every router
//! must be listed in [`ApiDoc`]: `tests/tests/openapi.rs` fails on a route left out.
//!
//! The bodies that handlers build with `json!` have their shape described here, next to the
//! document, by the `*Body`/`*Response` types below; they are never constructed.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::app::AppState;
use crate::auth::caller::SESSION_COOKIE;
use crate::error::ApiError;
use crate::storage::{Backend, Device, Enrollment, User};

/// Name of the bearer-token security scheme (sessions of people, tokens of phones). The handlers'
/// `security(("bearer" = []), ("cookie" = []))` must spell these names: the macro takes literals.
pub const BEARER: &str = "bearer";
/// Name of the session-cookie security scheme (the web pages).
pub const COOKIE: &str = "cookie";

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sansang",
        version = env!("CARGO_PKG_VERSION"),
        description = "Sync server of the household digital-readiness survey: sign-in, phones, \
                       households, accounts and the audit log.\n\n\
                       Máy chủ đồng bộ của khảo sát mức độ sẵn sàng số của hộ gia đình.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(
        super::health::index,
        super::health::healthz,
        super::health::metrics,
        openapi_json,
        super::auth::sign_in,
        super::auth::sign_out,
        super::auth::change_password,
        super::auth::me,
        super::devices::issue_code,
        super::devices::enroll_device,
        super::devices::list_devices,
        super::devices::revoke_device,
        super::households::list_households,
        super::households::read_household,
        super::moves::move_household,
        super::moves::list_quarantine,
        super::moves::release,
        super::erasure::export_household,
        super::erasure::erase_household,
        super::users::list_users,
        super::users::create_user,
        super::users::reset_password,
        super::audit::read_audit,
        crate::sync::open_socket,
        crate::http::photos::upload_photo,
        crate::http::photos::read_photo,
        crate::http::reviews::review_queue,
        crate::http::reviews::decide,
        crate::http::reviews::review_history,
        crate::http::reviews::resolve,
        crate::http::reviews::not_duplicate,
        crate::http::indices::read_indices,
        crate::http::indices::read_targets,
        crate::http::indices::write_targets,
        crate::http::indices::summary_csv,
        crate::http::indices::summary_xlsx,
        crate::http::indices::households_csv,
        crate::http::indices::households_xlsx,
        crate::sync::http::sync_over_http,
        crate::http::roster::import_roster,
        crate::http::roster::read_roster,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, metrics, start page / Tình trạng máy chủ"),
        (name = "auth", description = "Signing in and out, passwords / Đăng nhập, mật khẩu"),
        (name = "devices", description = "Enrollment codes and phones / Mã đăng ký và điện thoại"),
        (name = "households", description = "Projected households / Hộ gia đình"),
        (name = "users", description = "Accounts of people / Tài khoản"),
        (name = "audit", description = "The audit log / Nhật ký truy cập"),
        (name = "sync", description = "Syncing household documents / Đồng bộ hồ sơ hộ gia đình"),
        (name = "photos", description = "Photo evidence / Ảnh minh chứng"),
        (name = "reviews", description = "Review by hamlet heads / Thôn trưởng duyệt hộ"),
        (name = "indices", description = "Readiness indices, targets, exports / Chỉ số, mục tiêu, xuất báo cáo"),
        (name = "roster", description = "The commune's household list / Danh sách hộ của xã"),
        (name = "meta", description = "This document / Tài liệu API"),
    )
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate: `Authorization: Bearer <token>` (a person's session
/// token or a phone's device token) and the `sansang_session` cookie of the web pages.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A person's session token (from /api/v1/auth/login) or a phone's device \
                         token (from /api/v1/devices/enroll).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by /api/v1/auth/login (people only); writes with it must \
                 not come from another origin.",
            ))),
        );
    }
}

/// The document, serialised once.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().map_err(|e| e.to_string()));

/// [`ApiDoc`] as JSON, with the schemas of Rust primitives inlined: a field typed by an alias
/// (`Millis` is an `i64`) is generated as a `$ref` to a component named `i64`, which says nothing
/// to a reader of the document.
pub fn document() -> serde_json::Result<String> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    let primitives: Vec<(String, Value)> = match doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        Some(schemas) => {
            let names: Vec<String> = schemas
                .keys()
                .filter(|name| PRIMITIVES.contains(&name.as_str()))
                .cloned()
                .collect();
            names
                .into_iter()
                .filter_map(|name| {
                    let schema = schemas.remove(&name)?;
                    Some((format!("#/components/schemas/{name}"), schema))
                })
                .collect()
        }
        None => Vec::new(),
    };
    if !primitives.is_empty() {
        inline_refs(&mut doc, &primitives);
    }
    serde_json::to_string(&doc)
}

const PRIMITIVES: &[&str] = &[
    "bool", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    "f32", "f64", "String", "str",
];

/// Replaces every `{"$ref": <one of targets>, ...}` by the target's schema, keeping the siblings
/// of the `$ref` (a description).
fn inline_refs(value: &mut Value, targets: &[(String, Value)]) {
    match value {
        Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| targets.iter().find(|(location, _)| location == r));
            if let Some((_, Value::Object(schema))) = target {
                let schema = schema.clone();
                map.remove("$ref");
                for (key, item) in schema {
                    map.entry(key).or_insert(item);
                }
            }
            map.values_mut().for_each(|v| inline_refs(v, targets));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| inline_refs(v, targets)),
        _ => {}
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses(
        (
            status = 200,
            description = "The OpenAPI 3.1 document of this API",
            content_type = "application/json",
            body = Object
        ),
    )
)]
async fn openapi_json() -> Result<Response, ApiError> {
    match &*DOCUMENT {
        Ok(json) => {
            Ok(([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response())
        }
        Err(e) => Err(ApiError::internal("openapi-failed", e)),
    }
}

/// Every error: a stable code for programs and a plain message (often Vietnamese / English) for
/// people. Server faults (500) carry a generic message.
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable, kebab-case: `not-found`, `forbidden`, `invalid-token`, `wrong-credentials`...
    #[schema(example = "not-found")]
    pub code: String,
    #[schema(example = "Không tìm thấy / not found")]
    pub message: String,
}

/// `/healthz` when the database answers.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: String,
    pub database: Backend,
    /// Kind of photo store, e.g. `folder`.
    pub photo_store: String,
    /// This server's name among the servers over one database (new at each start).
    pub instance: String,
    /// Whether it hears the other servers' changes: `alone` on SQLite, `listening`, or `lost`
    /// while its listening connection to PostgreSQL is down.
    pub listener: crate::documents::Listener,
    /// Servers serving the database now (holders of a server lock on PostgreSQL), sharing the per-token sync
    /// budgets.
    pub servers: usize,
}

/// A new session: the token (also set as the `sansang_session` cookie) and who signed in.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub user: User,
}

/// Who the caller is: a person or a phone.
#[derive(ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MeResponse {
    User { user: User },
    Device { device: Device },
}

/// An enrollment code just issued: the only time the code itself is shown.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCodeResponse {
    pub code: String,
    /// The field app's address with the code, what the QR code holds.
    pub enroll_url: String,
    /// The QR code of `enrollUrl`, an SVG document.
    pub qr_svg: String,
    pub enrollment: Enrollment,
}

/// A phone just enrolled: its device token (shown once) and where to sync.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrolledDeviceResponse {
    /// Bearer token of the phone.
    pub token: String,
    pub device: Device,
    /// WebSocket URL of the sync endpoint.
    pub sync_url: String,
}

/// One household as the server has projected it from its document.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdResponse {
    /// automerge-repo document id (bs58check).
    pub id: String,
    /// `automerge:<id>`.
    pub url: String,
    pub commune_code: Option<String>,
    pub hamlet_id: Option<String>,
    /// The household with its members, findings and conflicts (`sansang_shared::Projection`).
    #[schema(value_type = Object)]
    pub projection: serde_json::Value,
    /// The photos the household references: uploaded or pending, and near-duplicates elsewhere.
    pub photos: Vec<super::households::PhotoState>,
    pub review: HouseholdReview,
    /// Other households of the hamlet that are possibly the same one (the same address once
    /// normalised); each also shows as a `possible-duplicate` finding.
    pub duplicate_of: Vec<String>,
}

/// Where a household stands in review, and its latest decision.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdReview {
    pub state: crate::review::ReviewState,
    pub current: Option<crate::storage::Review>,
}

/// An account just created; `password` is the generated one, `null` when the request gave one.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUserResponse {
    pub user: User,
    pub password: Option<String>,
}

/// A password just reset: the new, generated password, shown once.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetResponse {
    pub user: User,
    pub password: String,
}
