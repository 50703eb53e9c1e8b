//! The hamlet heads' review pages: server-rendered HTML, Vietnamese by default and English on
//! request, built for a 360 px phone on a slow connection. Every action goes through the same
//! code as the API (`http::reviews`), so the pages and the API cannot disagree. A few lines of
//! JavaScript only show "saving…" and keep a second tap from sending a form twice.

mod dashboard;
pub mod field;
mod household;
mod layout;
mod queue;
mod signin;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

// One `.route(` a line: pages are not API operations, and the OpenAPI test skips this folder.
#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(queue::page_handler))
        .route("/review/login", get(signin::form).post(signin::submit))
        .route("/review/logout", post(signin::sign_out))
        .route("/review/lang", get(layout::switch_language))
        .route("/review/households/{id}", get(household::page_handler))
        .route("/review/households/{id}/decision", post(household::decide))
        .route("/review/households/{id}/resolve", post(household::resolve))
        .route("/review/households/{id}/not-duplicate", post(household::not_duplicate))
        .route("/dashboard", get(dashboard::page_handler))
        .route("/review/static/review.css", get(layout::stylesheet))
        .route("/review/static/review.js", get(layout::script))
        .route("/review/static/icon.svg", get(layout::icon))
        .route("/field", get(field::redirect))
        .route("/field/", get(field::index))
        .route("/field/{*path}", get(field::file))
}
