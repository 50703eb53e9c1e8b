//! Photo evidence over HTTP: phones upload by content hash, people and phones fetch the evidence
//! image or the thumbnail of photos of households they may read.

use crate::http::json::{ApiPath, ApiQuery};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::audit;
use crate::auth::policy::allows;
use crate::auth::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::photos::ingest::{self, Format, IngestError};
use crate::photos::{PhotoKey, Sha256Hex, Variant};
use crate::storage::PhotoRecord;

/// Photos decoded at once: decoding is CPU- and memory-heavy, so it is capped by the cores.
pub fn decode_slots() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new(cores))
}

pub fn router() -> Router<AppState> {
    let photos = Router::new().route("/api/v1/photos/{sha256}", put(upload_photo).get(read_photo));
    // One byte over the limit is enough to tell a body is too large.
    photos.layer(DefaultBodyLimit::max(
        ingest::Limits::default().max_bytes + 1,
    ))
}

fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Internal(detail) => ApiError::internal("photo-processing-failed", detail),
        other => ApiError::new(other.status(), other.code(), other.to_string()),
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "jpeg",
        Format::Png => "png",
        Format::Webp => "webp",
    }
}

/// Uploads a photo whose sha256 is `sha256`; uploading it again answers with the same record.
#[utoipa::path(
    put,
    path = "/api/v1/photos/{sha256}",
    tag = "photos",
    params(("sha256" = String, Path, description = "Lowercase hex sha256 of the body")),
    request_body(content = Vec<u8>, content_type = "image/jpeg",
        description = "The photo as taken: JPEG, PNG or WebP"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Taken in: metadata stripped, evidence and thumbnail stored", body = PhotoRecord),
        (status = 200, description = "Already uploaded: the same record", body = PhotoRecord),
        (status = 400, description = "`photo-hash-malformed`, `photo-hash-mismatch`, `photo-empty`", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`, `invalid-token`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: the caller may not change households", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "`photo-too-large`", body = crate::http::openapi::ErrorBody),
        (status = 415, description = "`unsupported-format` (HEIC, zip...)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "`photo-dimensions-too-large`, `photo-corrupt`", body = crate::http::openapi::ErrorBody),
    )
)]
pub async fn upload_photo(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(sha256): ApiPath<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    caller.require_role(Action::Change)?;
    let hash = Sha256Hex::parse(&sha256).map_err(|_| {
        ApiError::bad_request(
            "photo-hash-malformed",
            "the path must be the photo's sha256 as 64 lowercase hex digits",
        )
    })?;
    let limits = ingest::Limits::default();
    let too_large = || {
        ingest_error(IngestError::TooLarge {
            max: limits.max_bytes,
        })
    };
    // Refused before reading when the length is announced.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large());
    }
    // Read only now, after the caller and the announced length were checked: a body over the
    // limit is answered at its headers, not after 20 MiB were taken in.
    let body = axum::body::to_bytes(body, limits.max_bytes)
        .await
        .map_err(|e| {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large()
            } else {
                ApiError::bad_request(
                    "body-unreadable",
                    format!("the body could not be read: {e}"),
                )
            }
        })?;
    if body.is_empty() {
        return Err(ingest_error(IngestError::Empty));
    }
    let actual = Sha256Hex::of(&body);
    if actual != hash {
        return Err(ingest_error(IngestError::HashMismatch {
            expected: hash.to_string(),
            actual: actual.to_string(),
        }));
    }
    if let Some(existing) = state.storage.get_photo(hash.as_str()).await? {
        // Removed by the retention rule: not taken back in from a phone that still has it.
        if state.storage.photo_retired(hash.as_str()).await?.is_some() {
            return Ok((StatusCode::OK, Json(existing)).into_response());
        }
        // A record whose objects a sweep removed meanwhile is taken in again below.
        let evidence = PhotoKey::new(hash.clone(), Variant::Evidence);
        if state
            .photos
            .exists(&evidence)
            .await
            .map_err(|e| ApiError::internal("photo-store-failed", e))?
        {
            return Ok((StatusCode::OK, Json(existing)).into_response());
        }
    }
    let permit = state
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal("photo-processing-failed", e))?;
    let input = body.clone();
    let processed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        ingest::process(&input, &limits)
    })
    .await
    .map_err(|e| ApiError::internal("photo-processing-failed", e))?
    .map_err(ingest_error)?;

    let keep_original = state.config.keep_original_photos;
    let mut objects = vec![
        (
            PhotoKey::new(hash.clone(), Variant::Evidence),
            processed.evidence,
        ),
        (PhotoKey::new(hash.clone(), Variant::Thumb), processed.thumb),
    ];
    if keep_original {
        objects.push((
            PhotoKey::new(hash.clone(), Variant::Original),
            body.to_vec(),
        ));
    }
    for (key, bytes) in objects.iter().cloned() {
        state
            .photos
            .put(&key, bytes)
            .await
            .map_err(|e| ApiError::internal("photo-store-failed", e))?;
    }
    let record = PhotoRecord {
        sha256: hash.to_string(),
        format: format_name(processed.format).to_owned(),
        width: i64::from(processed.width),
        height: i64::from(processed.height),
        evidence_width: i64::from(processed.evidence_size.0),
        evidence_height: i64::from(processed.evidence_size.1),
        phash: processed.phash as i64,
        uploaded_by: caller.actor(),
        uploaded_at: crate::now_millis(),
        original_kept: keep_original,
    };
    let new = match state.storage.record_photo(&record).await {
        Ok(new) => new,
        Err(e) => {
            // No record, no objects: a half-taken photo would never be cleaned up.
            for (key, _) in &objects {
                let _ = state.photos.delete(key).await;
            }
            return Err(e.into());
        }
    };
    audit::record(
        &state,
        &caller,
        "photo.upload",
        None,
        Some(format!("photo {hash}")),
    )
    .await?;
    if !new {
        // Another upload of the same bytes won the race: answer with its record.
        let existing = state
            .storage
            .get_photo(hash.as_str())
            .await?
            .ok_or_else(ApiError::not_found)?;
        return Ok((StatusCode::OK, Json(existing)).into_response());
    }
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// `thumb` for the thumbnail (≤ 320 px); the evidence image (≤ 2048 px) otherwise.
    pub size: Option<String>,
}

/// The evidence image or thumbnail of a photo of a household the caller may read.
#[utoipa::path(
    get,
    path = "/api/v1/photos/{sha256}",
    tag = "photos",
    params(("sha256" = String, Path, description = "Lowercase hex sha256"), PhotoQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The JPEG, without any metadata", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "`invalid-size`", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "`unauthenticated`, `invalid-token`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`not-found`: unknown, not uploaded yet, or of a household the caller may not read", body = crate::http::openapi::ErrorBody),
        (status = 410, description = "`photo-removed`: removed by the retention rule a set time after approval", body = crate::http::openapi::ErrorBody),
    )
)]
pub async fn read_photo(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(sha256): ApiPath<String>,
    ApiQuery(query): ApiQuery<PhotoQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = Sha256Hex::parse(&sha256).map_err(|_| ApiError::not_found())?;
    let variant = match query.size.as_deref() {
        None | Some("evidence") => Variant::Evidence,
        Some("thumb") => Variant::Thumb,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid-size",
                "size is `thumb` or `evidence`",
            ));
        }
    };
    let in_scope: Vec<String> = state
        .storage
        .photo_documents(hash.as_str())
        .await?
        .into_iter()
        .filter(|(_, scope)| {
            // A quarantined household's photos are its sender's and the admins' only.
            if scope.quarantined {
                return crate::sync::receive::may_see_quarantined(&caller, scope);
            }
            let commune = scope.commune_code.as_deref().unwrap_or_default();
            let resource = match scope.hamlet_id.as_deref() {
                Some(h) => Scope::hamlet(commune, h),
                None => Scope::commune(commune),
            };
            allows(&caller.principal, Action::Read, resource)
        })
        .map(|(id, _)| id)
        .collect();
    // Shown by one of them: a household without recorded consent holds its photos back.
    let mut readable = false;
    for id in &in_scope {
        if let Some(p) = state.storage.get_projection(id).await?
            && p.household.photos.contains_key(hash.as_str())
        {
            readable = true;
            break;
        }
    }
    if !readable {
        return Err(ApiError::not_found());
    }
    if state.storage.photo_retired(hash.as_str()).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "photo-removed",
            "this evidence photo was removed a set time after the household's approval (retention)",
        ));
    }
    let etag = format!("\"{}-{}\"", hash, variant.as_str());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let bytes = state
        .photos
        .get(&PhotoKey::new(hash.clone(), variant))
        .await
        .map_err(|e| ApiError::internal("photo-store-failed", e))?
        .ok_or_else(ApiError::not_found)?;
    audit::record(
        &state,
        &caller,
        "photo.read",
        None,
        Some(format!("photo {hash}")),
    )
    .await?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}
