//! The frame of every page, the language, the signed-in reviewer, and the little CSS and
//! JavaScript the pages need (served from here: no CDN, nothing fetched from elsewhere).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::policy::can_ever;
use crate::auth::{Action, Caller, Principal};
use crate::storage::User;

/// Name of the cookie that remembers the language chosen.
pub const LANG_COOKIE: &str = "sansang_lang";

/// The language of the pages: Vietnamese unless English was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// One of two texts.
    pub fn t(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    fn parse(text: &str) -> Option<Lang> {
        match text {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From the cookie; Vietnamese by default.
    pub fn of(headers: &HeaderMap) -> Lang {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, value)| Lang::parse(value))
            .unwrap_or(Lang::Vi)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(&parts.headers))
    }
}

/// A local page to go back to: only paths under `/review`, so a link cannot send anyone away.
pub fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/review")
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/review".to_owned(),
    }
}

/// `GET /review/lang?to=en&next=/review/…`: remembers the language for a year, goes back.
pub async fn switch_language(
    axum::extract::Query(query): axum::extract::Query<LangQuery>,
) -> Response {
    let lang = Lang::parse(&query.to).unwrap_or(Lang::Vi);
    let mut response = Redirect::to(&local_next(query.next.as_deref())).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(serde::Deserialize)]
pub struct LangQuery {
    pub to: String,
    pub next: Option<String>,
}

/// A signed-in person who reviews (a hamlet head or an admin), with the form token of their
/// session. Anyone else is sent to the sign-in page or told the pages are not for them.
pub struct Reviewer {
    pub caller: Caller,
    pub user: User,
    pub csrf: String,
    pub lang: Lang,
}

impl Reviewer {
    /// Whether a posted form carries this session's token.
    pub fn form_is_ours(&self, token: &str) -> bool {
        !token.is_empty() && token == self.csrf
    }
}

/// The form token of a session: derived from the session's hash, so it needs no storage and
/// changes with every sign-in. Another site can neither read it nor guess it.
pub fn csrf_token(session_hash: &str) -> String {
    let digest = Sha256::digest(format!("sansang form {session_hash}").as_bytes());
    hex::encode(&digest[..16])
}

/// The signed-in person of a page request, or the response that sends them to sign in.
async fn signed_in(parts: &mut Parts, state: &AppState) -> Result<(Caller, User, Lang), Response> {
    let lang = Lang::of(&parts.headers);
    let caller = match Caller::from_request_parts(parts, state).await {
        Ok(caller) => caller,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let here = parts.uri.path_and_query().map_or("/review", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            return Err(Redirect::to(&format!("/review/login?next={next}")).into_response());
        }
        Err(e) => return Err(message_page(lang, e.status, &e.message)),
    };
    let Principal::User(user) = &caller.principal else {
        return Err(message_page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Trang này dành cho cán bộ.", "These pages are for staff."),
        ));
    };
    let user = user.clone();
    Ok((caller, user, lang))
}

impl FromRequestParts<AppState> for Reviewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (caller, user, lang) = signed_in(parts, state).await?;
        if !can_ever(&caller.principal, Action::Review) {
            // Commune staff land on their dashboard instead.
            if can_ever(&caller.principal, Action::Export) && parts.uri.path() == "/review" {
                return Err(Redirect::to("/dashboard").into_response());
            }
            return Err(message_page(
                lang,
                StatusCode::FORBIDDEN,
                lang.t(
                    "Tài khoản của bạn không duyệt hộ gia đình.",
                    "Your account does not review households.",
                ),
            ));
        }
        let csrf = csrf_token(caller.session_hash.as_deref().unwrap_or_default());
        Ok(Reviewer {
            caller,
            user,
            csrf,
            lang,
        })
    }
}

/// Any signed-in person (for signing out).
pub struct Person {
    pub caller: Caller,
    pub csrf: String,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (caller, _, lang) = signed_in(parts, state).await?;
        let csrf = csrf_token(caller.session_hash.as_deref().unwrap_or_default());
        Ok(Person { caller, csrf, lang })
    }
}

/// A signed-in commune staff member or admin, for the dashboard.
pub struct Staff {
    pub caller: Caller,
    pub user: User,
    pub csrf: String,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (caller, user, lang) = signed_in(parts, state).await?;
        if !matches!(
            user.role,
            crate::storage::Role::Admin | crate::storage::Role::CommuneStaff
        ) {
            return Err(message_page(
                lang,
                StatusCode::FORBIDDEN,
                lang.t(
                    "Bảng theo dõi dành cho cán bộ xã.",
                    "The dashboard is for commune staff.",
                ),
            ));
        }
        let csrf = csrf_token(caller.session_hash.as_deref().unwrap_or_default());
        Ok(Staff {
            caller,
            user,
            csrf,
            lang,
        })
    }
}

/// The page frame: title, the language switch, the signed-in person and sign-out.
pub fn page(
    lang: Lang,
    title: &str,
    here: &str,
    reviewer: Option<&Reviewer>,
    body: Markup,
) -> Markup {
    page_for(lang, title, here, reviewer.map(|r| r.csrf.as_str()), body)
}

/// The page frame for any signed-in person (`csrf`: their form token, for signing out).
pub fn page_for(lang: Lang, title: &str, here: &str, csrf: Option<&str>, body: Markup) -> Markup {
    let other = match lang {
        Lang::Vi => ("en", "English"),
        Lang::En => ("vi", "Tiếng Việt"),
    };
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · sẵn sàng số" }
                link rel="icon" href="/review/static/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/review/static/review.css";
                script src="/review/static/review.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/review" { "sẵn sàng số" }
                    nav {
                        a href={ "/review/lang?to=" (other.0) "&next=" (next) } lang=(other.0) { (other.1) }
                        @if let Some(csrf) = csrf {
                            form.inline method="post" action="/review/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button.link type="submit" { (lang.t("Đăng xuất", "Sign out")) }
                            }
                        }
                    }
                }
                main id="main" {
                    (body)
                }
            }
        }
    }
}

/// A page with one message, for refusals.
pub fn message_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (lang.t("Không thể tiếp tục", "Cannot continue")) }
        p.notice.error role="alert" { (message) }
        p { a href="/review" { (lang.t("Về danh sách", "Back to the list")) } }
    };
    (
        status,
        Html(page(lang, "sẵn sàng số", "/review", None, body).into_string()),
    )
        .into_response()
}

/// An HTML response with a status.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    // Personal data: never kept by a shared cache, and not framed by another site.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers.insert(
        header::HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
        ),
    );
    response
}

/// Milliseconds as a Vietnam date and time, day first, as people there write it.
pub fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let t = t.to_offset(crate::VIETNAM);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

const STYLESHEET: &str = include_str!("review.css");
const SCRIPT: &str = include_str!("review.js");
const ICON: &str = include_str!("icon.svg");

pub async fn icon() -> Response {
    static_file("image/svg+xml", ICON)
}

pub async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", STYLESHEET)
}

pub async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

fn static_file(content_type: &'static str, text: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
