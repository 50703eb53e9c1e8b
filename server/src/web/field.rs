//! The volunteers' field app (`field-app/`, an offline-first web app on automerge-repo) served
//! at `/field/`. Its built files are embedded at compile time (`build.rs`), so one binary runs a
//! whole commune; `field_app_dir` serves a folder instead (for working on the app without
//! rebuilding the server). Files under `assets/` have content hashes in their names and are
//! cached for a year; everything else (the page, the service worker, the manifest) is
//! revalidated, so a new server version reaches the phones on their next visit online. The build
//! writes a gzip copy beside each large file (`X.gz`, 3.9 MB of app and Automerge's wasm become
//! 1.2 MB): a phone that accepts gzip gets it, which matters on one bar of signal.

use std::borrow::Cow;
use std::path::{Component, Path};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AppState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/field_app.rs"));
}

/// The app needs WebAssembly (Automerge) and a WebSocket to this server, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; \
     img-src 'self' blob: data:; style-src 'self'; worker-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn redirect() -> Redirect {
    Redirect::permanent("/field/")
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers).await
}

pub async fn file(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &path, &headers).await
}

/// Whether the request accepts gzip: a `gzip` coding in `Accept-Encoding` not refused with
/// `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let named = parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            named && !refused
        })
}

/// A file of the app: from `field_app_dir` when configured, else the embedded build.
async fn read(state: &AppState, path: &str) -> std::io::Result<Option<Cow<'static, [u8]>>> {
    let Some(dir) = &state.config.field_app_dir else {
        return Ok(embedded::FILES
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, bytes)| Cow::Borrowed(*bytes)));
    };
    match tokio::fs::read(dir.join(path)).await {
        Ok(bytes) => Ok(Some(Cow::Owned(bytes))),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn serve(state: &AppState, path: &str, request: &HeaderMap) -> Response {
    if !safe(path) {
        return not_found();
    }
    let found = async {
        if accepts_gzip(request)
            && let Some(bytes) = read(state, &format!("{path}.gz")).await?
        {
            return Ok(Some((bytes, true)));
        }
        Ok::<_, std::io::Error>(read(state, path).await?.map(|bytes| (bytes, false)))
    };
    let (bytes, gzipped) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) if path == "index.html" => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the field app is not built into this server (field-app/dist is missing)",
            )
                .into_response();
        }
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(path, error = %e, "reading the field app");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the field app cannot be read",
            )
                .into_response();
        }
    };
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = bytes.into_owned().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such file in the field app").into_response()
}

/// Only plain relative names: no `..`, no absolute paths, no hidden files.
fn safe(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path).components().all(|c| match c {
            Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
            _ => false,
        })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// How many files are embedded (0 when the app was not built in).
pub fn embedded_files() -> usize {
    embedded::FILES.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_sent_only_to_who_accepts_it() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("gzip; q=0.0, br"));
        assert!(!with("identity"));
        assert!(!with("x-gzip"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(safe("index.html"));
        assert!(safe("assets/index-abc123.js"));
        for bad in [
            "",
            "../Cargo.toml",
            "assets/../../x",
            "/etc/passwd",
            ".env",
            "a/.git/config",
            "a\\b",
        ] {
            assert!(!safe(bad), "{bad}");
        }
    }
}
