//! The queue: a hamlet head's households by review state, with the count of each state.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Lang, Reviewer, message_page, page, respond, when};
use crate::app::AppState;
use crate::http::reviews::{QueueItem, QueueQuery, build_queue};
use crate::review::ReviewState;

#[derive(Deserialize)]
pub struct PageQuery {
    pub hamlet: Option<String>,
    pub state: Option<String>,
}

/// The label of a state, in the order the tabs show them.
pub fn state_label(lang: Lang, state: ReviewState) -> &'static str {
    let en = match state {
        ReviewState::New => "New",
        ReviewState::NeedsAttention => "Needs attention",
        ReviewState::PossibleDuplicate => "Possible duplicate",
        ReviewState::ChangedSinceReview => "Changed since review",
        ReviewState::Approved => "Approved",
        ReviewState::Rejected => "Rejected",
        ReviewState::CorrectionRequested => "Correction requested",
    };
    lang.t(state.label_vi(), en)
}

/// The badge colour of a state.
pub fn state_class(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Approved => "badge good",
        ReviewState::Rejected | ReviewState::NeedsAttention => "badge bad",
        ReviewState::ChangedSinceReview
        | ReviewState::CorrectionRequested
        | ReviewState::PossibleDuplicate => "badge warn",
        ReviewState::New => "badge",
    }
}

fn link(hamlet: Option<&str>, state: Option<ReviewState>) -> String {
    let mut query = Vec::new();
    if let Some(h) = hamlet {
        let h: String = url::form_urlencoded::byte_serialize(h.as_bytes()).collect();
        query.push(format!("hamlet={h}"));
    }
    if let Some(s) = state {
        query.push(format!("state={}", s.as_str()));
    }
    if query.is_empty() {
        "/review".to_owned()
    } else {
        format!("/review?{}", query.join("&"))
    }
}

fn item(lang: Lang, i: &QueueItem) -> Markup {
    html! {
        li {
            a.card href={ "/review/households/" (i.document_id) } {
                strong { (i.address.as_deref().unwrap_or(lang.t("(chưa ghi địa chỉ)", "(no address yet)"))) }
                " "
                span class=(state_class(i.state)) { (state_label(lang, i.state)) }
                div.meta {
                    (i.member_count) " " (lang.t("người", "people"))
                    @if i.finding_count > 0 {
                        " · " span.badge.warn { (i.finding_count) " " (lang.t("lưu ý", "findings")) }
                    }
                    @if i.conflict_count > 0 {
                        " · " span.badge.bad { (i.conflict_count) " " (lang.t("mâu thuẫn", "conflicts")) }
                    }
                    " · " (lang.t("cập nhật", "updated")) " " (when(i.updated_at))
                }
            }
        }
    }
}

/// `GET /review[?hamlet=…][&state=…]`
pub async fn page_handler(
    State(state): State<AppState>,
    reviewer: Reviewer,
    Query(query): Query<PageQuery>,
) -> Response {
    let lang = reviewer.lang;
    let wanted = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(ReviewState::parse);
    let hamlet = query.hamlet.clone().filter(|h| !h.is_empty());
    let api_query = QueueQuery {
        hamlet: hamlet.clone(),
        commune: None,
        state: wanted.map(|s| s.as_str().to_owned()),
    };
    let queue = match build_queue(&state, &reviewer.caller, &api_query).await {
        Ok(q) => q,
        Err(e) => return message_page(lang, e.status, &e.message),
    };
    let commune = reviewer.user.commune_code.clone().unwrap_or_default();
    let names = state
        .storage
        .list_hamlets(&commune)
        .await
        .unwrap_or_default();
    let mine: Vec<(String, String)> = names
        .into_iter()
        .filter(|h| reviewer.user.hamlets.is_empty() || reviewer.user.hamlets.contains(&h.id))
        .map(|h| (h.id, h.name))
        .collect();
    let here = link(hamlet.as_deref(), wanted);
    let shown_hamlet = hamlet.as_deref().or(match mine.as_slice() {
        [(only, _)] => Some(only.as_str()),
        _ => None,
    });
    let title = match shown_hamlet.and_then(|h| mine.iter().find(|(id, _)| id == h)) {
        Some((_, name)) => name.clone(),
        None => lang.t("Hộ cần duyệt", "Households to review").to_owned(),
    };
    let total: usize = queue.counts.values().sum();
    let body = html! {
        h1 { (title) }
        p.meta { (reviewer.user.display_name) " · " (total) " " (lang.t("hộ", "households")) }
        @if mine.len() > 1 {
            nav aria-label=(lang.t("Thôn", "Hamlets")) {
                ul.tabs {
                    li { a href=(link(None, wanted)) aria-current=[hamlet.is_none().then_some("page")] { (lang.t("Tất cả các thôn", "All hamlets")) } }
                    @for (id, name) in &mine {
                        li { a href=(link(Some(id), wanted)) aria-current=[(hamlet.as_deref() == Some(id.as_str())).then_some("page")] { (name) } }
                    }
                }
            }
        }
        nav aria-label=(lang.t("Trạng thái", "States")) {
            ul.tabs id="states" {
                li { a href=(link(hamlet.as_deref(), None)) aria-current=[wanted.is_none().then_some("page")] {
                    (lang.t("Tất cả", "All")) " " span.count { (total) } } }
                @for s in ReviewState::ALL {
                    li { a href=(link(hamlet.as_deref(), Some(s))) data-state=(s.as_str())
                        aria-current=[(wanted == Some(s)).then_some("page")] {
                        (state_label(lang, s)) " " span.count { (queue.counts.get(s.as_str()).copied().unwrap_or(0)) } } }
                }
            }
        }
        @if queue.households.is_empty() {
            p.notice { (lang.t("Không có hộ nào ở mục này.", "No household here.")) }
        } @else {
            ul.list id="households" {
                @for i in &queue.households { (item(lang, i)) }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(lang, &title, &here, Some(&reviewer), body),
    )
}
