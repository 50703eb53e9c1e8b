//! Review by hamlet heads over HTTP: the queue of a hamlet by state with counts, a decision on a
//! household pinned to the heads it was made on, and a household's decision history.

use crate::http::json::{ApiPath, ApiQuery};
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::json::ApiJson;
use super::openapi::ErrorBody;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Action, Caller, Principal};
use crate::error::ApiError;
use crate::review::{self, ReviewState};
use crate::storage::{DecideOutcome, Decision, Review};
use sansang_shared::model::ReviewNote;
use sansang_shared::{read, write};

// One `.route(` a line, methods inline: the OpenAPI test reads routes from the source.
#[rustfmt::skip]
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reviews", get(review_queue))
        .route("/api/v1/households/{id}/reviews", post(decide).get(review_history))
        .route("/api/v1/households/{id}/resolve", post(resolve))
        .route("/api/v1/households/{id}/not-duplicate", post(not_duplicate))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// One hamlet; all of the caller's hamlets (or the whole commune) when absent.
    pub hamlet: Option<String>,
    /// Only for an installation admin, who belongs to no commune.
    pub commune: Option<String>,
    /// `new`, `needs-attention`, `changed-since-review`, `approved`, `rejected` or
    /// `correction-requested`; every state when absent. Counts always cover every state.
    pub state: Option<String>,
}

/// A household in the review queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    pub document_id: String,
    pub hamlet_id: Option<String>,
    pub address: Option<String>,
    pub member_count: i64,
    pub finding_count: i64,
    pub conflict_count: i64,
    pub updated_at: i64,
    pub state: ReviewState,
    /// Households of the hamlet that are possibly the same one (the same address once
    /// normalised, or the same member's name and birth year), rejected ones left out.
    pub duplicate_of: Vec<String>,
    /// The latest decision, when there is one.
    pub review: Option<Review>,
}

/// The queue: counts per state over the whole scope, and the households of the state asked for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewQueue {
    #[schema(value_type = std::collections::BTreeMap<String, usize>)]
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    pub households: Vec<QueueItem>,
}

/// The households a hamlet head has to review, by state, with counts.
#[utoipa::path(
    get,
    path = "/api/v1/reviews",
    tag = "reviews",
    params(QueueQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Counts per state and the households asked for", body = ReviewQueue),
        (status = 400, description = "`invalid-state`, `commune-required`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie (`unauthenticated`, \
            `bad-authorization-header`, `invalid-token`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller never reviews (phones, commune staff)", body = ErrorBody),
        (status = 404, description = "A hamlet or commune that is not the caller's (`not-found`)", body = ErrorBody),
    )
)]
pub async fn review_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> Result<Json<ReviewQueue>, ApiError> {
    Ok(Json(build_queue(&state, &caller, &query).await?))
}

/// The queue as both the API and the pages show it; audited.
pub async fn build_queue(
    state: &AppState,
    caller: &Caller,
    query: &QueueQuery,
) -> Result<ReviewQueue, ApiError> {
    caller.require_role(Action::Review)?;
    let wanted = match query.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ReviewState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid-state",
                format!(
                    "state: expected one of {}",
                    ReviewState::ALL.map(ReviewState::as_str).join(", ")
                ),
            )
        })?),
    };
    let (commune, hamlets) = super::listing_scope(
        caller,
        Action::Review,
        query.commune.as_ref(),
        query.hamlet.as_ref(),
    )?;
    // Households of the roster nobody has surveyed yet (no consent, no member): nothing to
    // review, and a whole list of them would bury the households that have something.
    let listed: std::collections::HashSet<String> = state
        .storage
        .list_roster(&commune)
        .await?
        .into_iter()
        .map(|e| e.document_id)
        .collect();
    let apart = crate::duplicates::apart(state.storage.as_ref(), &commune).await?;
    let mut items = Vec::new();
    for hamlet in &hamlets {
        let summaries = state
            .storage
            .list_households(&commune, hamlet.as_deref())
            .await?;
        let reviewed = state
            .storage
            .reviewed_households(&commune, hamlet.as_deref())
            .await?;
        let mut reviewed: std::collections::HashMap<String, _> = reviewed
            .into_iter()
            .map(|r| (r.review.document_id.clone(), r))
            .collect();
        let members = state
            .storage
            .member_names(&commune, hamlet.as_deref())
            .await?;
        // Possible duplicates among the households not rejected (a listed one not visited yet
        // counts: a volunteer may have made a new household for a listed house).
        let duplicates = crate::duplicates::among_summaries(
            &summaries,
            |id| {
                reviewed
                    .get(id)
                    .is_some_and(|r| r.review.decision == Decision::Rejected)
            },
            &members,
            &apart,
        );
        for s in summaries {
            if listed.contains(&s.document_id) && !s.consent_given && s.member_count == 0 {
                continue;
            }
            let r = reviewed.remove(&s.document_id);
            let duplicate_of = duplicates.get(&s.document_id).cloned().unwrap_or_default();
            let review_state = ReviewState::of(&s, !duplicate_of.is_empty(), r.as_ref());
            items.push(QueueItem {
                document_id: s.document_id,
                hamlet_id: s.hamlet_id,
                address: s.address,
                member_count: s.member_count,
                finding_count: s.finding_count,
                conflict_count: s.conflict_count,
                updated_at: s.updated_at,
                state: review_state,
                duplicate_of,
                review: r.map(|r| r.review),
            });
        }
    }
    let counts = review::count_states(items.iter().map(|i| i.state));
    if let Some(wanted) = wanted {
        items.retain(|i| i.state == wanted);
    }
    // Oldest change first: what has waited longest is looked at first.
    items.sort_by(|a, b| (a.updated_at, &a.document_id).cmp(&(b.updated_at, &b.document_id)));
    let detail = match &query.hamlet {
        Some(h) => format!("commune {commune}, hamlet {h}"),
        None => format!("commune {commune}"),
    };
    audit::record(state, caller, "review.queue", None, Some(detail)).await?;
    Ok(ReviewQueue {
        counts,
        households: items,
    })
}

/// A decision as a hamlet head sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approved`, `rejected` (needs `comment`: the reason) or `correction-requested` (needs
    /// `comment`: what to correct).
    pub decision: String,
    pub comment: Option<String>,
    /// The document heads of the household as the reviewer saw it (`projection.heads`).
    pub heads: Vec<String>,
    /// The version of the latest decision the reviewer saw; 0 when there was none.
    pub version: i64,
}

/// A refusal that tells the reviewer what to do next: the field at fault, or the state now.
fn refusal(status: StatusCode, code: &str, message: &str, extra: serde_json::Value) -> Response {
    let mut body = json!({ "code": code, "message": message });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    (status, Json(body)).into_response()
}

fn bad_field(code: &str, field: &str, message: &str) -> Response {
    refusal(
        StatusCode::BAD_REQUEST,
        code,
        message,
        json!({ "field": field }),
    )
}

fn is_change_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub use super::household_scope;

/// Approves, rejects or asks for a correction, on the heads the reviewer saw.
#[utoipa::path(
    post,
    path = "/api/v1/households/{id}/reviews",
    tag = "reviews",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    request_body = DecisionRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 415, description = "`json-expected`: the body is not sent as application/json", body = crate::http::openapi::ErrorBody),
        (status = 201, description = "Recorded", body = Review),
        (status = 200, description = "The same decision sent twice (a double-submitted form): the one recorded", body = Review),
        (status = 400, description = "`invalid-decision`, `reason-required`, `comment-required`, \
            `comment-too-long`, `invalid-heads`, `invalid-version`, `invalid-field`; `field` names \
            the field at fault", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller never reviews (phones, commune staff)", body = ErrorBody),
        (status = 404, description = "No such household, or not the caller's (`not-found`)", body = ErrorBody),
        (status = 409, description = "`changed-since-opened` (with `currentHeads`: reload and look \
            again) or `decided-meanwhile` (with `current`, the decision another reviewer made)", body = ErrorBody),
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    Ok(match decide_core(&state, &caller, &id, &request).await? {
        DecisionOutcome::Recorded { review, created } => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(review)).into_response()
        }
        DecisionOutcome::Invalid(e) => bad_field(e.code, e.field, &e.message),
        DecisionOutcome::Changed(heads) => changed_since_opened(heads),
        DecisionOutcome::Meanwhile(current) => decided_meanwhile(current),
    })
}

/// What became of a decision.
#[derive(Debug)]
pub enum DecisionOutcome {
    /// Recorded now (`created`), or found recorded by the same form sent before.
    Recorded {
        review: Review,
        created: bool,
    },
    Invalid(review::InvalidDecision),
    /// The household changed since it was opened: its heads now.
    Changed(Vec<String>),
    /// Someone else decided meanwhile: their decision.
    Meanwhile(Option<Review>),
}

fn invalid(code: &'static str, field: &'static str, message: &str) -> DecisionOutcome {
    DecisionOutcome::Invalid(review::InvalidDecision {
        code,
        field,
        message: message.to_owned(),
    })
}

/// A decision as both the API and the pages make it; 404 for a household the caller may not
/// review, 403 for a caller who never reviews.
pub async fn decide_core(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: &DecisionRequest,
) -> Result<DecisionOutcome, ApiError> {
    caller.require_role(Action::Review)?;
    let (id, _) = household_scope(state, caller, id, Action::Review).await?;
    let Principal::User(user) = &caller.principal else {
        return Err(ApiError::not_found());
    };
    let Some(decision) = Decision::parse(&request.decision) else {
        return Ok(invalid(
            "invalid-decision",
            "decision",
            "decision: expected approved, rejected or correction-requested",
        ));
    };
    let comment = match review::check_comment(decision, request.comment.as_deref()) {
        Ok(c) => c,
        Err(e) => return Ok(DecisionOutcome::Invalid(e)),
    };
    if request.heads.is_empty() || !request.heads.iter().all(|h| is_change_hash(h)) {
        return Ok(invalid(
            "invalid-heads",
            "heads",
            "heads: the document heads as 64-character lowercase hex change hashes",
        ));
    }
    if request.version < 0 {
        return Ok(invalid(
            "invalid-version",
            "version",
            "version: the latest decision's version, 0 when there is none",
        ));
    }
    let mut heads = request.heads.clone();
    heads.sort();
    heads.dedup();

    // Under the document's lock: no phone's change slips between the checks and the note.
    let mut guard = state.documents.lock_fresh(&id).await?;
    if !guard.stored() {
        return Err(ApiError::not_found());
    }
    let current = state.storage.current_review(id.as_str()).await?;
    let seen = current.as_ref().map_or(0, |r| r.version);
    if seen != request.version {
        // The same form sent twice: the first one counted, and this is no conflict.
        if let Some(c) = &current
            && c.version == request.version + 1
            && c.decided_by == user.id
            && c.decision == decision
            && c.comment == comment
        {
            return Ok(DecisionOutcome::Recorded {
                review: c.clone(),
                created: false,
            });
        }
        return Ok(DecisionOutcome::Meanwhile(current));
    }
    let now_heads = sorted_heads(guard.doc());
    if now_heads != heads {
        return Ok(DecisionOutcome::Changed(now_heads));
    }
    // The decision goes into the document too, so it reaches the volunteers' phones. Should the
    // database then not record it, the note written is taken back (see below).
    let previous_note = read::project(
        guard.doc(),
        &guard.doc().get_heads(),
        crate::reference_year(),
    )
    .household
    .review;
    let note = ReviewNote {
        decision: Some(decision.as_str().to_owned()),
        comment: comment.clone(),
        decided_by: Some(user.display_name.clone()),
        decided_at: Some(review::rfc3339(crate::now_millis())),
        version: Some(seen + 1),
    };
    let applied = match guard
        .change_as(
            review::reviewer_actor(&user.id),
            &format!("review: {}", decision.as_str()),
            |tx| {
                let obj = tx.put_object(automerge::ROOT, "review", automerge::ObjType::Map)?;
                write::review(tx, &obj, &note)
            },
        )
        .await
    {
        // A phone's change reached another server between the check and the note.
        Err(crate::documents::DocumentError::ChangedMeanwhile) => {
            return Ok(DecisionOutcome::Changed(sorted_heads(guard.doc())));
        }
        other => other?,
    };
    let heads = applied
        .projection
        .map(|p| p.heads)
        .unwrap_or_else(|| sorted_heads(guard.doc()));
    let offered = Review {
        document_id: id.as_str().to_owned(),
        version: seen + 1,
        decision,
        comment,
        heads,
        decided_by: user.id.clone(),
        decided_at: crate::now_millis(),
    };
    let outcome = state.storage.decide(&offered).await;
    if !matches!(outcome, Ok(DecideOutcome::Decided(_))) {
        // Not recorded (a database fault, or another server's decision on the same database):
        // the phones must not see a decision nobody made.
        let undone = guard
            .change_as(
                review::reviewer_actor(&user.id),
                "review: undo, not recorded",
                |tx| match &previous_note {
                    Some(old) => {
                        let obj =
                            tx.put_object(automerge::ROOT, "review", automerge::ObjType::Map)?;
                        write::review(tx, &obj, old)
                    }
                    None => tx.delete(automerge::ROOT, "review"),
                },
            )
            .await;
        if let Err(e) = undone {
            tracing::error!(document = %id, %e, "a review note not recorded could not be taken back");
        }
    }
    Ok(match outcome? {
        DecideOutcome::Decided(review) => {
            drop(guard);
            audit::record(
                state,
                caller,
                "household.review",
                Some(id.as_str()),
                Some(format!(
                    "{} (decision {})",
                    decision.as_str(),
                    review.version
                )),
            )
            .await?;
            DecisionOutcome::Recorded {
                review,
                created: true,
            }
        }
        // Only another server on the same database can get here: the lock orders this one's.
        DecideOutcome::DocumentChanged { current_heads } => DecisionOutcome::Changed(current_heads),
        DecideOutcome::DecidedMeanwhile(current) => DecisionOutcome::Meanwhile(current),
        DecideOutcome::NoHousehold => return Err(ApiError::not_found()),
    })
}

fn sorted_heads(doc: &automerge::Automerge) -> Vec<String> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    heads
}

fn changed_since_opened(current_heads: Vec<String>) -> Response {
    refusal(
        StatusCode::CONFLICT,
        "changed-since-opened",
        "Hộ này đã thay đổi từ khi bạn mở, hãy xem lại / the household changed since you \
         opened it: look at it again",
        json!({ "currentHeads": current_heads }),
    )
}

fn decided_meanwhile(current: Option<Review>) -> Response {
    refusal(
        StatusCode::CONFLICT,
        "decided-meanwhile",
        "Người khác vừa quyết định hộ này / someone else decided on this household meanwhile",
        json!({ "current": current }),
    )
}

/// A reviewer's choice among a field's conflicting values, or a corrected value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveRequest {
    /// JSON pointer of the field, as in the household's `projection.conflicts[].path`
    /// (`/members/<member id>/vneid`).
    pub path: String,
    /// The value to keep: one of the conflicting values or a correction (a string, a whole
    /// number or true/false).
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

/// Two households a hamlet head has looked at side by side.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotDuplicateRequest {
    /// The other household's id.
    pub other: String,
}

/// Records that the household and `other` are not the same house although they look alike:
/// they are never flagged as possible duplicates of each other again.
#[utoipa::path(
    post,
    path = "/api/v1/households/{id}/not-duplicate",
    tag = "reviews",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    request_body = NotDuplicateRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 415, description = "`json-expected`: the body is not sent as application/json", body = crate::http::openapi::ErrorBody),
        (status = 200, description = "Recorded (again is the same)", body = Object),
        (status = 400, description = "`same-household`: `other` is this household; `invalid-field`", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller never reviews", body = ErrorBody),
        (status = 404, description = "Either household unknown or not the caller's, or in another commune (`not-found`)", body = ErrorBody),
    )
)]
pub async fn not_duplicate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<NotDuplicateRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (id, other) = not_duplicate_core(&state, &caller, &id, &request.other).await?;
    Ok(Json(
        json!({ "household": id.as_str(), "notDuplicateOf": other.as_str() }),
    ))
}

/// Records that households `id` and `other` are not the same one, as the API and the household
/// page ask; both must be households the caller reviews, of one commune.
pub async fn not_duplicate_core(
    state: &AppState,
    caller: &Caller,
    id: &str,
    other: &str,
) -> Result<(crate::documents::DocumentId, crate::documents::DocumentId), ApiError> {
    caller.require_role(Action::Review)?;
    let (id, scope) = super::household_scope(state, caller, id, Action::Review).await?;
    let (other, other_scope) = super::household_scope(state, caller, other, Action::Review).await?;
    if other == id {
        return Err(ApiError::bad_request(
            "same-household",
            "other: another household than this one",
        ));
    }
    let commune = scope.commune_code.clone().unwrap_or_default();
    if other_scope.commune_code.as_deref() != Some(commune.as_str()) {
        return Err(ApiError::not_found());
    }
    // Only people review (require_role above), so this is a user's id.
    let by = match caller.actor() {
        crate::storage::Actor::User(u) | crate::storage::Actor::Device(u) => u,
        crate::storage::Actor::System => "system".to_owned(),
    };
    let entry = audit::entry(
        caller,
        "household.not-duplicate",
        Some(id.as_str()),
        Some(format!("not the same household as {other}")),
    );
    state
        .storage
        .mark_not_duplicates(&commune, id.as_str(), other.as_str(), &by, &entry)
        .await?;
    Ok((id, other))
}

/// Resolves a conflict: writes the chosen value as an ordinary change authored by the
/// reviewer, which phones receive through sync.
#[utoipa::path(
    post,
    path = "/api/v1/households/{id}/resolve",
    tag = "reviews",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    request_body = ResolveRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 415, description = "`json-expected`: the body is not sent as application/json", body = crate::http::openapi::ErrorBody),
        (status = 200, description = "Written: the household as projected now", body = super::openapi::HouseholdResponse),
        (status = 400, description = "`invalid-path`, `invalid-value`, `invalid-field`; `field` names the field at fault", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller never reviews", body = ErrorBody),
        (status = 404, description = "No such household, or not the caller's (`not-found`)", body = ErrorBody),
        (status = 409, description = "`conflict-gone`: the field holds one value now (someone resolved it)", body = ErrorBody),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<Response, ApiError> {
    Ok(match resolve_core(&state, &caller, &id, &request).await? {
        ResolveOutcome::Resolved(projection) => (
            StatusCode::OK,
            Json(json!({ "id": id, "projection": projection })),
        )
            .into_response(),
        ResolveOutcome::Invalid(e) => bad_field(e.code, e.field, &e.message),
        ResolveOutcome::Gone => conflict_gone(),
    })
}

/// What became of a resolution.
#[derive(Debug)]
pub enum ResolveOutcome {
    /// Written; the household as projected now.
    Resolved(Option<Box<sansang_shared::Projection>>),
    Invalid(review::InvalidDecision),
    /// The field holds one value by now.
    Gone,
}

fn conflict_gone() -> Response {
    refusal(
        StatusCode::CONFLICT,
        "conflict-gone",
        "Trường này không còn giá trị mâu thuẫn / this field holds one value now",
        json!({ "field": "path" }),
    )
}

/// A resolution as both the API and the pages make it.
pub async fn resolve_core(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: &ResolveRequest,
) -> Result<ResolveOutcome, ApiError> {
    caller.require_role(Action::Review)?;
    let (id, _) = household_scope(state, caller, id, Action::Review).await?;
    let Principal::User(user) = &caller.principal else {
        return Err(ApiError::not_found());
    };
    let invalid = |code, field, message: &str| {
        Ok(ResolveOutcome::Invalid(review::InvalidDecision {
            code,
            field,
            message: message.to_owned(),
        }))
    };
    let Some(segments) = review::conflict_path(&request.path) else {
        return invalid(
            "invalid-path",
            "path",
            "path: a field of the household or of a member, as in projection.conflicts[].path",
        );
    };
    let Some(value) = review::scalar(&request.value) else {
        return invalid(
            "invalid-value",
            "value",
            "value: a string, a whole number or true/false",
        );
    };
    let mut guard = state.documents.lock_fresh(&id).await?;
    if !guard.stored() {
        return Err(ApiError::not_found());
    }
    let projection = read::project(
        guard.doc(),
        &guard.doc().get_heads(),
        crate::reference_year(),
    );
    let Some(conflict) = projection.conflicts.iter().find(|c| c.path == request.path) else {
        return Ok(ResolveOutcome::Gone);
    };
    // Two phones created the same part (a member's skills, the consent) at once: writing a
    // value there would replace a whole part. Its fields are settled one by one instead.
    if conflict
        .values
        .iter()
        .any(|v| v.value.is_object() || v.value.is_array())
    {
        return invalid(
            "conflict-of-parts",
            "path",
            "path: two phones created this part at once; settle its fields one by one",
        );
    }
    let applied = guard
        .change_as(
            review::reviewer_actor(&user.id),
            &format!("resolve {}", request.path),
            |tx| {
                let (parents, key) = segments.split_at(segments.len() - 1);
                let mut obj = automerge::ROOT;
                for segment in parents {
                    obj = match tx.get(&obj, segment.as_str())? {
                        Some((automerge::Value::Object(_), child)) => child,
                        _ => return Err(automerge::AutomergeError::InvalidObjId(segment.clone())),
                    };
                }
                tx.put(&obj, key[0].as_str(), value)
            },
        )
        .await?;
    drop(guard);
    audit::record(
        state,
        caller,
        "household.resolve",
        Some(id.as_str()),
        Some(request.path.clone()),
    )
    .await?;
    Ok(ResolveOutcome::Resolved(applied.projection.map(Box::new)))
}

/// Every decision on a household, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/households/{id}/reviews",
    tag = "reviews",
    params(("id" = String, Path, description = "automerge-repo document id (bs58check)")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The decisions, oldest first", body = Vec<Review>),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 404, description = "No such household, or not the caller's (`not-found`)", body = ErrorBody),
    )
)]
pub async fn review_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Review>>, ApiError> {
    let (id, _) = household_scope(&state, &caller, &id, Action::Read).await?;
    let history = state.storage.review_history(id.as_str()).await?;
    audit::record(&state, &caller, "review.history", Some(id.as_str()), None).await?;
    Ok(Json(history))
}
