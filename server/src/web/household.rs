//! One household for its hamlet head: members and their answers, photos, findings, conflicting
//! values side by side with a way to keep one, the decision form, and who changed what when.

use std::collections::HashMap;

use automerge::{Automerge, Prop};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use sansang_shared::finding::Severity;
use sansang_shared::model::Household;
use sansang_shared::questionnaire::{self, Kind, Question, Scope as Section};
use sansang_shared::{ConflictValue, Projection};
use serde::Deserialize;
use serde_json::Value as Json;

use super::layout::{Lang, Reviewer, message_page, page, respond, when};
use super::queue::{state_class, state_label};
use crate::app::AppState;
use crate::audit;
use crate::auth::Action;
use crate::http::households::{PhotoState, photo_states};
use crate::http::reviews::{
    DecisionOutcome, DecisionRequest, ResolveOutcome, ResolveRequest, decide_core, household_scope,
    resolve_core,
};
use crate::review::{self, ReviewState};
use crate::storage::{Decision, Review};

/// Most recent changes listed in the history.
const HISTORY_CHANGES: usize = 30;

#[derive(Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// What went wrong with a form, shown at the top of the page that is shown again.
struct Problem {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}

/// What the reviewer had typed, kept when the page comes back with a problem.
#[derive(Default)]
struct Draft {
    decision: Option<String>,
    comment: String,
}

fn decision_label(lang: Lang, d: Decision) -> &'static str {
    match d {
        Decision::Approved => lang.t("Duyệt", "Approve"),
        Decision::Rejected => lang.t("Từ chối", "Reject"),
        Decision::CorrectionRequested => lang.t("Yêu cầu sửa", "Request a correction"),
    }
}

fn decided_label(lang: Lang, d: Decision) -> &'static str {
    match d {
        Decision::Approved => lang.t("Đã duyệt", "Approved"),
        Decision::Rejected => lang.t("Từ chối", "Rejected"),
        Decision::CorrectionRequested => lang.t("Yêu cầu sửa", "Correction requested"),
    }
}

fn section(scope: Section) -> Vec<Question> {
    questionnaire::v1()
        .sections
        .into_iter()
        .filter(|s| s.scope == scope)
        .flat_map(|s| s.questions)
        .collect()
}

/// The question asked at `key` (`vneid`, `skills/safety`, `consent/given`).
fn question(scope: Section, key: &str) -> Option<Question> {
    section(scope).into_iter().find(|q| q.key == key)
}

fn label(lang: Lang, q: &Question) -> String {
    match lang {
        Lang::Vi => q.label_vi.clone(),
        Lang::En => q.label_en.clone(),
    }
}

/// A recorded answer as people read it: choice labels, yes/no, the text itself.
fn shown(lang: Lang, q: Option<&Question>, value: &Json) -> String {
    match value {
        Json::Bool(true) => lang.t("Có", "Yes").to_owned(),
        Json::Bool(false) => lang.t("Không", "No").to_owned(),
        Json::String(s) => q
            .and_then(|q| q.choices.iter().find(|c| &c.value == s))
            .map_or_else(
                || s.clone(),
                |c| match lang {
                    Lang::Vi => c.label_vi.clone(),
                    Lang::En => c.label_en.clone(),
                },
            ),
        Json::Null => "—".to_owned(),
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn member_name(lang: Lang, household: &Household, id: &str) -> String {
    household
        .members
        .get(id)
        .and_then(|m| m.full_name.clone())
        .unwrap_or_else(|| lang.t("Thành viên", "Member").to_owned())
}

/// A JSON pointer into the household as a reviewer reads it: "Nguyễn Văn A · VNeID account".
fn field_label(lang: Lang, household: &Household, pointer: &str) -> String {
    let segments: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(unescape)
        .collect();
    match segments.as_slice() {
        [members, id, rest @ ..] if members == "members" && !rest.is_empty() => {
            let key = rest.join("/");
            let field = question(Section::Member, &key).map_or(key, |q| label(lang, &q));
            format!("{} · {field}", member_name(lang, household, id))
        }
        [members, id] if members == "members" => member_name(lang, household, id),
        [photos, ..] if photos == "photos" => lang.t("Ảnh", "Photo").to_owned(),
        [review, ..] if review == "review" => lang.t("Kết quả duyệt", "Review").to_owned(),
        [members] if members == "members" => lang.t("Thành viên", "Members").to_owned(),
        [consent, ..] if consent == "consent" => {
            lang.t("Đồng ý cung cấp thông tin", "Consent").to_owned()
        }
        [commune] if commune == "communeCode" => lang.t("Mã xã", "Commune code").to_owned(),
        [visits, ..] if visits == "visits" => lang.t("Lần đến hộ", "Visits").to_owned(),
        // The document's version tag is no answer anyone gave.
        [schema] if schema == "schema" => String::new(),
        [] => String::new(),
        parts => {
            let key = parts.join("/");
            question(Section::Household, &key).map_or(key, |q| label(lang, &q))
        }
    }
}

/// The question a conflicting field answers, for its choices and its kind.
fn question_at(pointer: &str) -> Option<Question> {
    let segments: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(unescape)
        .collect();
    match segments.as_slice() {
        [members, _, rest @ ..] if members == "members" && !rest.is_empty() => {
            question(Section::Member, &rest.join("/"))
        }
        parts => question(Section::Household, &parts.join("/")),
    }
}

/// A corrected value typed or chosen on the page, as the question's kind wants it.
fn typed_value(pointer: &str, text: &str) -> Option<Json> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match question_at(pointer).map(|q| q.kind) {
        Some(Kind::Integer) => text.parse::<i64>().ok().map(Json::from),
        Some(Kind::Boolean) => match text {
            "true" => Some(Json::Bool(true)),
            "false" => Some(Json::Bool(false)),
            _ => None,
        },
        _ => Some(Json::String(text.to_owned())),
    }
}

/// Names for the Automerge actors of a document: reviewers by their own actor, phones by a short
/// id (automerge-repo gives each phone's copy a random one).
struct Authors {
    reviewers: HashMap<String, String>,
}

impl Authors {
    fn name(&self, lang: Lang, actor: &str) -> String {
        match self.reviewers.get(actor) {
            Some(name) => name.clone(),
            // The end of the id: automerge-repo's ids are random, and tools often share a prefix.
            None => format!(
                "{} …{}",
                lang.t("Điện thoại", "Phone"),
                &actor[actor.len().saturating_sub(6)..]
            ),
        }
    }
}

/// One change of the history: when, by whom, which fields.
struct ChangeLine {
    at: Option<i64>,
    author: String,
    fields: Vec<String>,
}

fn change_history(
    lang: Lang,
    doc: &Automerge,
    household: &Household,
    authors: &Authors,
) -> Vec<ChangeLine> {
    let changes = doc.get_changes(&[]);
    let start = changes.len().saturating_sub(HISTORY_CHANGES);
    let mut lines: Vec<ChangeLine> = changes[start..]
        .iter()
        .map(|change| {
            let mut fields: Vec<String> = Vec::new();
            for patch in doc.diff(change.deps(), &[change.hash()]) {
                let mut pointer = String::new();
                for (_, prop) in &patch.path {
                    pointer = sansang_shared::finding::pointer(&pointer, &prop_text(prop));
                }
                if let automerge::PatchAction::PutMap { key, .. }
                | automerge::PatchAction::DeleteMap { key } = &patch.action
                {
                    pointer = sansang_shared::finding::pointer(&pointer, key);
                }
                let name = field_label(lang, household, &pointer);
                if !name.is_empty() && !fields.contains(&name) {
                    fields.push(name);
                }
            }
            ChangeLine {
                at: (change.timestamp() > 0).then(|| change.timestamp().saturating_mul(1000)),
                author: authors.name(lang, &change.actor_id().to_hex_string()),
                fields,
            }
        })
        .collect();
    lines.reverse();
    lines
}

fn prop_text(prop: &Prop) -> String {
    match prop {
        Prop::Map(key) => key.clone(),
        Prop::Seq(i) => i.to_string(),
    }
}

fn members(lang: Lang, household: &Household) -> Markup {
    let questions = section(Section::Member);
    html! {
        @for (id, member) in &household.members {
            @let answers = serde_json::to_value(member).unwrap_or(Json::Null);
            section.card aria-label=(member_name(lang, household, id)) {
                h3 { (member_name(lang, household, id)) }
                dl.answers {
                    @for q in questions.iter().filter(|q| q.key != "fullName") {
                        @let value = q.key.split('/').try_fold(&answers, |v, k| v.get(k)).cloned().unwrap_or(Json::Null);
                        dt { (label(lang, q)) }
                        dd { (shown(lang, Some(q), &value)) }
                    }
                }
            }
        }
    }
}

fn photos(lang: Lang, photos: &[PhotoState]) -> Markup {
    html! {
        div.photos {
            @for p in photos {
                @if p.status == "uploaded" {
                    a href={ "/api/v1/photos/" (p.sha256) } {
                        img src={ "/api/v1/photos/" (p.sha256) "?size=thumb" } loading="lazy"
                            alt=(lang.t("Ảnh minh chứng (chạm để phóng to)", "Evidence photo (tap to enlarge)"));
                    }
                    @if !p.duplicate_of.is_empty() {
                        span.badge.warn { (lang.t("Ảnh trùng với hộ khác", "Same photo as another household")) }
                    }
                } @else {
                    span.badge { (lang.t("Ảnh chưa tải lên", "Photo not uploaded yet")) }
                }
            }
        }
    }
}

fn conflict_value_card(
    lang: Lang,
    reviewer: &Reviewer,
    id: &str,
    path: &str,
    v: &ConflictValue,
    authors: &Authors,
    times: &HashMap<String, i64>,
) -> Markup {
    let q = question_at(path);
    let json_value = serde_json::to_string(&v.value).unwrap_or_default();
    html! {
        form.card method="post" action={ "/review/households/" (id) "/resolve" } {
            input type="hidden" name="csrf" value=(reviewer.csrf);
            input type="hidden" name="path" value=(path);
            input type="hidden" name="value" value=(json_value);
            p { strong { (shown(lang, q.as_ref(), &v.value)) } }
            p.meta {
                (authors.name(lang, &v.actor))
                @if let Some(t) = times.get(&v.actor) { " · " (when(*t)) }
            }
            button.secondary type="submit" { (lang.t("Giữ giá trị này", "Keep this value")) }
            p.status role="status" {}
        }
    }
}

fn correction_form(lang: Lang, reviewer: &Reviewer, id: &str, path: &str) -> Markup {
    let q = question_at(path);
    let input_id = format!("fix-{}", path.replace('/', "-"));
    html! {
        form.card method="post" action={ "/review/households/" (id) "/resolve" } {
            input type="hidden" name="csrf" value=(reviewer.csrf);
            input type="hidden" name="path" value=(path);
            label for=(input_id) { (lang.t("Hoặc ghi giá trị đúng", "Or enter the right value")) }
            @match q.as_ref().map(|q| q.kind) {
                Some(Kind::Choice) => {
                    select id=(input_id) name="text" {
                        @for c in q.as_ref().map(|q| q.choices.clone()).unwrap_or_default() {
                            option value=(c.value) { (match lang { Lang::Vi => c.label_vi, Lang::En => c.label_en }) }
                        }
                    }
                }
                Some(Kind::Boolean) => {
                    select id=(input_id) name="text" {
                        option value="true" { (lang.t("Có", "Yes")) }
                        option value="false" { (lang.t("Không", "No")) }
                    }
                }
                Some(Kind::Integer) => {
                    input type="text" inputmode="numeric" id=(input_id) name="text" required;
                }
                _ => { input type="text" id=(input_id) name="text" required; }
            }
            p { button type="submit" { (lang.t("Lưu giá trị này", "Save this value")) } }
            p.status role="status" {}
        }
    }
}

fn decision_form(
    lang: Lang,
    reviewer: &Reviewer,
    id: &str,
    projection: &Projection,
    current: Option<&Review>,
    draft: &Draft,
    problem: Option<&Problem>,
) -> Markup {
    let heads = projection.heads.join(",");
    let version = current.map_or(0, |r| r.version);
    let comment_error = problem.is_some_and(|p| p.field == Some("comment"));
    html! {
        form.card id="decision" method="post" action={ "/review/households/" (id) "/decision" } {
            input type="hidden" name="csrf" value=(reviewer.csrf);
            input type="hidden" name="heads" value=(heads);
            input type="hidden" name="version" value=(version);
            fieldset.choices {
                legend { (lang.t("Quyết định", "Decision")) }
                @for d in Decision::ALL {
                    label {
                        input type="radio" name="decision" value=(d.as_str())
                            checked[draft.decision.as_deref() == Some(d.as_str())] required;
                        (decision_label(lang, d))
                    }
                }
            }
            label for="comment" {
                (lang.t("Lý do / cần sửa gì (bắt buộc khi từ chối hoặc yêu cầu sửa)",
                        "Reason / what to correct (needed to reject or to ask for a correction)"))
            }
            textarea id="comment" name="comment" maxlength="2000" class=[comment_error.then_some("field-error")]
                aria-invalid=[comment_error.then_some("true")] { (draft.comment) }
            p { button type="submit" { (lang.t("Lưu quyết định", "Save the decision")) } }
            p.status role="status" {}
        }
    }
}

/// Builds the household page; `problem` and `draft` come back from a refused form.
async fn render(
    state: &AppState,
    reviewer: &Reviewer,
    id: &str,
    problem: Option<Problem>,
    draft: Draft,
    done: Option<&str>,
) -> Response {
    let lang = reviewer.lang;
    let not_found = || {
        message_page(
            lang,
            StatusCode::NOT_FOUND,
            lang.t("Không tìm thấy hộ này.", "Household not found."),
        )
    };
    let Ok((doc_id, scope)) = household_scope(state, &reviewer.caller, id, Action::Review).await
    else {
        return not_found();
    };
    let loaded = async {
        let projection = state.storage.get_projection(doc_id.as_str()).await?;
        let current = state.storage.current_review(doc_id.as_str()).await?;
        let history = state.storage.review_history(doc_id.as_str()).await?;
        let users = state
            .storage
            .list_users(scope.commune_code.as_deref())
            .await?;
        Ok::<_, crate::storage::StorageError>((projection, current, history, users))
    }
    .await;
    let (mut projection, current, history, users) = match loaded {
        Ok((Some(p), c, h, u)) => (p, c, h, u),
        Ok((None, ..)) => return not_found(),
        Err(e) => return message_page(lang, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let commune = scope.commune_code.clone().unwrap_or_default();
    let duplicate_of =
        crate::duplicates::of_household(state.storage.as_ref(), doc_id.as_str(), &scope)
            .await
            .unwrap_or_default();
    let flagged = !projection.findings.is_empty() || !projection.conflicts.is_empty();
    projection
        .findings
        .extend(crate::duplicates::findings(&duplicate_of));
    let photo_list = photo_states(state, &reviewer.caller, &doc_id, &projection, &commune)
        .await
        .unwrap_or_default();
    let doc = state.documents.load(&doc_id).await.ok().flatten();
    let names: HashMap<String, String> = users
        .iter()
        .map(|u| (u.id.clone(), u.display_name.clone()))
        .collect();
    let authors = Authors {
        reviewers: users
            .iter()
            .map(|u| {
                (
                    review::reviewer_actor(&u.id).to_hex_string(),
                    u.display_name.clone(),
                )
            })
            .collect(),
    };
    let household = &projection.household;
    let changes = doc
        .as_ref()
        .map(|d| change_history(lang, d, household, &authors))
        .unwrap_or_default();
    // When each actor last wrote, for the conflicting values.
    let mut times: HashMap<String, i64> = HashMap::new();
    if let Some(d) = &doc {
        for c in d.get_changes(&[]) {
            if c.timestamp() > 0 {
                times.insert(
                    c.actor_id().to_hex_string(),
                    c.timestamp().saturating_mul(1000),
                );
            }
        }
    }
    let mut heads = projection.heads.clone();
    heads.sort();
    let review_state = ReviewState::from_parts(
        flagged,
        !duplicate_of.is_empty(),
        current.as_ref().map(|r| (r, heads.as_slice())),
    );
    if let Err(e) = audit::record(
        state,
        &reviewer.caller,
        "household.read",
        Some(doc_id.as_str()),
        None,
    )
    .await
    {
        return message_page(lang, e.status, &e.message);
    }
    let title = household
        .address
        .clone()
        .unwrap_or_else(|| lang.t("Hộ gia đình", "Household").to_owned());
    let here = format!("/review/households/{doc_id}");
    let back = match &scope.hamlet_id {
        Some(h) => format!(
            "/review?hamlet={}",
            url::form_urlencoded::byte_serialize(h.as_bytes()).collect::<String>()
        ),
        None => "/review".to_owned(),
    };
    let body = html! {
        p { a href=(back) { "← " (lang.t("Danh sách hộ", "Households")) } }
        h1 { (title) }
        p {
            span id="review-state" class=(state_class(review_state)) data-state=(review_state.as_str()) { (state_label(lang, review_state)) }
            @if let Some(r) = &current {
                " " span.meta { (decided_label(lang, r.decision)) " · " (names.get(&r.decided_by).cloned().unwrap_or_default()) " · " (when(r.decided_at)) }
            }
        }
        @if let Some(p) = &problem {
            p.notice.error role="alert" id="problem" { (p.message) }
        }
        @if let Some(done) = done {
            p.notice.ok role="status" id="done" {
                @match done {
                    "resolved" => (lang.t("Đã lưu giá trị được chọn. Điện thoại sẽ nhận khi đồng bộ.", "The value is saved. Phones get it when they sync.")),
                    "not-duplicate" => (lang.t("Đã ghi: đây không phải cùng một hộ. Hai hộ sẽ không bị đánh dấu trùng nữa.", "Noted: not the same household. The two are not flagged again.")),
                    _ => (lang.t("Đã lưu quyết định. Tình nguyện viên sẽ thấy khi đồng bộ.", "The decision is saved. The volunteer sees it when the phone syncs.")),
                }
            }
        }
        @if let Some(r) = current.as_ref().filter(|r| r.comment.is_some()) {
            p.notice { strong { (decided_label(lang, r.decision)) ": " } (r.comment.clone().unwrap_or_default()) }
        }
        @if !duplicate_of.is_empty() {
            h2 id="duplicates" { (lang.t("Có thể trùng hộ", "Possible duplicates")) }
            p.meta { (lang.t("Cùng địa chỉ, hoặc cùng một người (họ tên và năm sinh), với hộ dưới đây: có thể một hộ đã được khảo sát hai lần. Mở hộ kia để so sánh; nếu là hai hộ khác nhau, hãy ghi lại. Nếu là cùng một hộ, từ chối bản khảo sát thừa với lý do \"trùng\".",
                             "The same address, or the same person (name and birth year), as the household below: one house may have been surveyed twice. Open the other to compare; if they are two households, say so. If they are the same, reject the extra survey with the reason \"duplicate\".")) }
            @for other in &duplicate_of {
                form.card method="post" action={ "/review/households/" (doc_id.as_str()) "/not-duplicate" } {
                    input type="hidden" name="csrf" value=(reviewer.csrf);
                    input type="hidden" name="other" value=(other);
                    p { a href={ "/review/households/" (other) } { (lang.t("Mở hộ kia", "Open the other household")) " · " (other) } }
                    button.secondary type="submit" { (lang.t("Không phải cùng một hộ", "Not the same household")) }
                    p.status role="status" {}
                }
            }
        }
        @if !projection.conflicts.is_empty() {
            h2 id="conflicts" { (lang.t("Giá trị mâu thuẫn", "Conflicting values")) }
            p.meta { (lang.t("Hai người đã ghi khác nhau. Chọn giá trị đúng hoặc ghi giá trị khác.",
                             "Two people wrote different values. Keep the right one or enter another.")) }
            @for c in &projection.conflicts {
                section.conflict aria-label=(field_label(lang, household, &c.path)) {
                    h3 { (field_label(lang, household, &c.path)) }
                    @if c.values.iter().any(|v| v.value.is_object() || v.value.is_array()) {
                        p.notice { (lang.t(
                            "Hai điện thoại cùng tạo phần này một lúc. Hãy sửa từng câu trả lời trong đó trên điện thoại.",
                            "Two phones created this part at once. Correct its answers one by one on a phone.")) }
                    } @else {
                        div.values {
                            @for v in &c.values {
                                (conflict_value_card(lang, reviewer, doc_id.as_str(), &c.path, v, &authors, &times))
                            }
                        }
                        (correction_form(lang, reviewer, doc_id.as_str(), &c.path))
                    }
                }
            }
        }
        @if !projection.findings.is_empty() || photo_list.iter().any(|p| !p.duplicate_of.is_empty()) {
            h2 { (lang.t("Cần lưu ý", "Findings")) }
            ul {
                @for f in &projection.findings {
                    li {
                        span class=(if f.severity == Severity::Error { "badge bad" } else { "badge warn" }) {
                            (if f.severity == Severity::Error { lang.t("Lỗi", "Error") } else { lang.t("Lưu ý", "Warning") })
                        }
                        " " (field_label(lang, household, &f.path)) ": "
                        (match lang { Lang::Vi => &f.message_vi, Lang::En => &f.message_en })
                    }
                }
            }
        }
        @if household.consent_given() {
            h2 { (lang.t("Thành viên", "Members")) " (" (household.members.len()) ")" }
            (members(lang, household))
        } @else {
            h2 { (lang.t("Thành viên", "Members")) }
            p.notice.held-back { (lang.t(
                "Hộ chưa ghi nhận đồng ý cung cấp thông tin. Thông tin cá nhân (thành viên, ảnh, ghi chú) được lưu nhưng chưa hiển thị cho đến khi tình nguyện viên ghi nhận sự đồng ý của hộ.",
                "The household has not recorded its consent. Its personal data (members, photos, notes) is stored but not shown until a volunteer records the household's consent.")) }
        }
        @if !photo_list.is_empty() {
            h2 { (lang.t("Ảnh minh chứng", "Photos")) }
            (photos(lang, &photo_list))
        }
        h2 { (lang.t("Quyết định của trưởng thôn", "Hamlet head's decision")) }
        (decision_form(lang, reviewer, doc_id.as_str(), &projection, current.as_ref(), &draft, problem.as_ref()))
        h2 { (lang.t("Lịch sử", "History")) }
        @if !history.is_empty() {
            table.history {
                caption.visually-hidden { (lang.t("Các quyết định", "Decisions")) }
                thead { tr { th { (lang.t("Lúc", "When")) } th { (lang.t("Ai", "Who")) } th { (lang.t("Quyết định", "Decision")) } } }
                tbody {
                    @for r in history.iter().rev() {
                        tr {
                            td { (when(r.decided_at)) }
                            td { (names.get(&r.decided_by).cloned().unwrap_or_default()) }
                            td { (decided_label(lang, r.decision)) @if let Some(c) = &r.comment { ": " (c) } }
                        }
                    }
                }
            }
        }
        table.history {
            caption.visually-hidden { (lang.t("Các thay đổi", "Changes")) }
            thead { tr { th { (lang.t("Lúc", "When")) } th { (lang.t("Ai", "Who")) } th { (lang.t("Trường", "Fields")) } } }
            tbody {
                @for c in &changes {
                    tr {
                        td { (c.at.map(when).unwrap_or_else(|| "—".to_owned())) }
                        td { (c.author) }
                        td { (c.fields.iter().take(6).cloned().collect::<Vec<_>>().join(", ")) @if c.fields.len() > 6 { ", …" } }
                    }
                }
            }
        }
    };
    let status = problem.as_ref().map_or(StatusCode::OK, |p| p.status);
    respond(status, page(lang, &title, &here, Some(reviewer), body))
}

/// `GET /review/households/{id}`
pub async fn page_handler(
    State(state): State<AppState>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    render(
        &state,
        &reviewer,
        &id,
        None,
        Draft::default(),
        query.done.as_deref(),
    )
    .await
}

fn stale_form(lang: Lang) -> Response {
    message_page(
        lang,
        StatusCode::FORBIDDEN,
        lang.t(
            "Biểu mẫu đã cũ, hãy tải lại trang.",
            "This form is stale: reload the page.",
        ),
    )
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    pub csrf: String,
    pub decision: Option<String>,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub heads: String,
    #[serde(default)]
    pub version: String,
}

fn invalid_message(lang: Lang, code: &str, fallback: &str) -> String {
    match code {
        "reason-required" => lang
            .t("Hãy ghi lý do từ chối.", "Write the reason for rejecting.")
            .to_owned(),
        "comment-required" => lang
            .t("Hãy ghi cần sửa gì.", "Write what must be corrected.")
            .to_owned(),
        "comment-too-long" => lang
            .t(
                "Nhận xét dài quá 2000 ký tự.",
                "The comment is longer than 2000 characters.",
            )
            .to_owned(),
        "invalid-decision" => lang
            .t("Hãy chọn một quyết định.", "Choose a decision.")
            .to_owned(),
        _ => fallback.to_owned(),
    }
}

/// `POST /review/households/{id}/decision`: recorded, then back to the page (so reloading it
/// sends nothing again); or the page again with what went wrong and what was typed.
pub async fn decide(
    State(state): State<AppState>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let lang = reviewer.lang;
    if !reviewer.form_is_ours(&form.csrf) {
        return stale_form(lang);
    }
    let draft = Draft {
        decision: form.decision.clone(),
        comment: form.comment.clone(),
    };
    let request = DecisionRequest {
        decision: form.decision.clone().unwrap_or_default(),
        comment: Some(form.comment.clone()),
        heads: form
            .heads
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
        version: form.version.trim().parse().unwrap_or(-1),
    };
    let problem = match decide_core(&state, &reviewer.caller, &id, &request).await {
        Ok(DecisionOutcome::Recorded { .. }) => {
            return Redirect::to(&format!("/review/households/{id}?done=decided")).into_response();
        }
        Ok(DecisionOutcome::Invalid(e)) => Problem {
            status: StatusCode::BAD_REQUEST,
            message: invalid_message(lang, e.code, &e.message),
            field: Some(e.field),
        },
        Ok(DecisionOutcome::Changed(_)) => Problem {
            status: StatusCode::CONFLICT,
            message: lang
                .t(
                    "Hộ này đã thay đổi từ khi bạn mở trang. Đây là thông tin mới nhất: hãy xem lại rồi quyết định.",
                    "This household changed since you opened it. Here it is as it is now: look again, then decide.",
                )
                .to_owned(),
            field: None,
        },
        Ok(DecisionOutcome::Meanwhile(current)) => Problem {
            status: StatusCode::CONFLICT,
            message: match current {
                Some(r) => format!(
                    "{} {}",
                    lang.t("Người khác vừa quyết định hộ này:", "Someone else decided meanwhile:"),
                    decided_label(lang, r.decision)
                ),
                None => lang.t("Người khác vừa quyết định hộ này.", "Someone else decided meanwhile.").to_owned(),
            },
            field: None,
        },
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return message_page(lang, StatusCode::NOT_FOUND, lang.t("Không tìm thấy hộ này.", "Household not found."));
        }
        Err(e) => return message_page(lang, e.status, &e.message),
    };
    render(&state, &reviewer, &id, Some(problem), draft, None).await
}

#[derive(Deserialize)]
pub struct NotDuplicateForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub other: String,
}

/// `POST /review/households/{id}/not-duplicate`: recorded, then back to the page.
pub async fn not_duplicate(
    State(state): State<AppState>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<NotDuplicateForm>,
) -> Response {
    let lang = reviewer.lang;
    if !reviewer.form_is_ours(&form.csrf) {
        return stale_form(lang);
    }
    match crate::http::reviews::not_duplicate_core(&state, &reviewer.caller, &id, &form.other).await
    {
        Ok(_) => {
            Redirect::to(&format!("/review/households/{id}?done=not-duplicate")).into_response()
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => message_page(
            lang,
            StatusCode::NOT_FOUND,
            lang.t("Không tìm thấy hộ này.", "Household not found."),
        ),
        Err(e) => message_page(lang, e.status, &e.message),
    }
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub path: String,
    /// One of the conflicting values, as JSON.
    pub value: Option<String>,
    /// A corrected value, as typed or chosen.
    pub text: Option<String>,
}

/// `POST /review/households/{id}/resolve`
pub async fn resolve(
    State(state): State<AppState>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Response {
    let lang = reviewer.lang;
    if !reviewer.form_is_ours(&form.csrf) {
        return stale_form(lang);
    }
    let value = match (&form.value, &form.text) {
        (Some(v), _) => serde_json::from_str(v).ok(),
        (None, Some(t)) => typed_value(&form.path, t),
        (None, None) => None,
    };
    let problem = match value {
        None => Problem {
            status: StatusCode::BAD_REQUEST,
            message: lang
                .t(
                    "Giá trị này không dùng được ở đây.",
                    "That value does not fit this field.",
                )
                .to_owned(),
            field: Some("value"),
        },
        Some(value) => {
            let request = ResolveRequest {
                path: form.path.clone(),
                value,
            };
            match resolve_core(&state, &reviewer.caller, &id, &request).await {
                Ok(ResolveOutcome::Resolved(_)) => {
                    return Redirect::to(&format!("/review/households/{id}?done=resolved"))
                        .into_response();
                }
                Ok(ResolveOutcome::Invalid(e)) => Problem {
                    status: StatusCode::BAD_REQUEST,
                    message: e.message,
                    field: Some(e.field),
                },
                Ok(ResolveOutcome::Gone) => Problem {
                    status: StatusCode::CONFLICT,
                    message: lang
                        .t(
                            "Trường này đã được giải quyết rồi.",
                            "This field was settled already.",
                        )
                        .to_owned(),
                    field: None,
                },
                Err(e) if e.status == StatusCode::NOT_FOUND => {
                    return message_page(
                        lang,
                        StatusCode::NOT_FOUND,
                        lang.t("Không tìm thấy hộ này.", "Household not found."),
                    );
                }
                Err(e) => return message_page(lang, e.status, &e.message),
            }
        }
    };
    render(
        &state,
        &reviewer,
        &id,
        Some(problem),
        Draft::default(),
        None,
    )
    .await
}
