//! Signing in and out on the pages, through the same checks and back-off as the API.

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{Lang, Person, local_next, page, respond};
use crate::app::AppState;
use crate::audit;
use crate::auth::caller::SESSION_COOKIE;
use crate::http::auth::{SESSION_LIFETIME, SignIn, SignInRefused, session_cookie, sign_in_person};

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    pub next: Option<String>,
}

fn form_page(lang: Lang, next: &str, username: &str, error: Option<&str>) -> maud::Markup {
    let body = html! {
        h1 { (lang.t("Đăng nhập để duyệt hộ", "Sign in to review households")) }
        @if let Some(error) = error {
            p.notice.error role="alert" id="signin-error" { (error) }
        }
        form method="post" action="/review/login" {
            input type="hidden" name="next" value=(next);
            label for="username" { (lang.t("Tên đăng nhập", "Username")) }
            input type="text" id="username" name="username" value=(username)
                autocomplete="username" autocapitalize="none" required;
            label for="password" { (lang.t("Mật khẩu", "Password")) }
            input type="password" id="password" name="password"
                autocomplete="current-password" required;
            p { button type="submit" { (lang.t("Đăng nhập", "Sign in")) } }
            p.status role="status" {}
        }
    };
    page(
        lang,
        lang.t("Đăng nhập", "Sign in"),
        "/review/login",
        None,
        body,
    )
}

/// `GET /review/login`
pub async fn form(lang: Lang, Query(query): Query<NextQuery>) -> Response {
    let next = local_next(query.next.as_deref());
    respond(StatusCode::OK, form_page(lang, &next, "", None))
}

/// `POST /review/login`: a session cookie and back to where the person was going.
pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = local_next(form.next.as_deref());
    // Another site's form must not sign a person in (login CSRF): a foreign `Origin` is refused.
    if let Err(e) = crate::auth::caller::same_origin(&axum::http::Method::POST, &headers) {
        return super::layout::message_page(lang, e.status, &e.message);
    }
    // What is shown back is never longer than a username can be.
    let shown: String = form.username.chars().take(64).collect();
    let body = SignIn {
        username: form.username.clone(),
        password: form.password,
    };
    let refused =
        |status, message: &str| respond(status, form_page(lang, &next, &shown, Some(message)));
    let address = state.caller_address(remote, &headers);
    match sign_in_person(&state, &body, address).await {
        Ok(Ok(signed_in)) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&state, &signed_in.token, SESSION_LIFETIME),
            );
            response
        }
        Ok(Err(SignInRefused::WrongCredentials)) => refused(
            StatusCode::UNAUTHORIZED,
            lang.t(
                "Sai tên đăng nhập hoặc mật khẩu.",
                "Wrong username or password.",
            ),
        ),
        Ok(Err(SignInRefused::UsernameTooLong)) => refused(
            StatusCode::BAD_REQUEST,
            lang.t("Tên đăng nhập quá dài.", "The username is too long."),
        ),
        Ok(Err(SignInRefused::Busy)) => {
            let mut response = refused(
                StatusCode::TOO_MANY_REQUESTS,
                lang.t(
                    "Máy chủ đang bận. Hãy thử lại sau 1 giây.",
                    "The server is busy. Try again in a second.",
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Ok(Err(SignInRefused::PasswordTooLong)) => refused(
            StatusCode::BAD_REQUEST,
            lang.t("Mật khẩu quá dài.", "The password is too long."),
        ),
        Ok(Err(SignInRefused::TooMany(wait))) => {
            let message = match lang {
                Lang::Vi => format!(
                    "Sai quá nhiều lần. Hãy thử lại sau {} giây.",
                    wait.as_secs().max(1)
                ),
                Lang::En => format!(
                    "Too many failures. Try again in {} seconds.",
                    wait.as_secs().max(1)
                ),
            };
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(e) => refused(e.status, &e.message),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /review/logout`: ends the session and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    reviewer: Person,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.csrf.is_empty() || form.csrf != reviewer.csrf {
        return super::layout::message_page(
            reviewer.lang,
            StatusCode::FORBIDDEN,
            reviewer.lang.t(
                "Biểu mẫu đã cũ, hãy tải lại trang.",
                "This form is stale: reload the page.",
            ),
        );
    }
    if let Some(hash) = &reviewer.caller.session_hash {
        if let Err(e) = state.storage.delete_session(hash).await {
            tracing::warn!(%e, "ending a session");
        }
        state.sync.recheck(&reviewer.caller.principal.key());
        let _ = audit::record(&state, &reviewer.caller, "auth.logout", None, None).await;
    }
    let mut response = Redirect::to("/review/login").into_response();
    let cleared = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
