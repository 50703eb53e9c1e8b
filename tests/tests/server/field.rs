//! The field app at `/field/`: the files built into the binary are the checked-in
//! `field-app/dist/` byte for byte, with the types, caching and CSP a phone needs to install it
//! and run it offline; nothing outside the app is reachable through it.

use std::path::{Path, PathBuf};

use reqwest::redirect::Policy;
use sansang_tests::app::TestApp;
use sansang_tests::db::TestDb;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../field-app/dist")
}

fn files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, root, out);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            out.push(relative.replace('\\', "/"));
        }
    }
}

pub async fn field_app_is_served(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let mut names = Vec::new();
    files(&dist(), &dist(), &mut names);
    assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
    assert!(names.iter().any(|n| n == "sw.js"), "{names:?}");
    assert_eq!(sansang_server::web::field::embedded_files(), names.len());
    // Automerge's wasm and the app's script are large: each has a gzip copy built beside it.
    for big in names
        .iter()
        .filter(|n| n.ends_with(".wasm") || n.ends_with(".js"))
    {
        if big.starts_with("assets/") {
            assert!(
                names.contains(&format!("{big}.gz")),
                "{big} has no gzip copy"
            );
        }
    }
    for name in names.iter().filter(|n| !n.ends_with(".gz")) {
        let response = app.get(&format!("/field/{name}")).await;
        assert_eq!(response.status(), 200, "{name}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("connect-src 'self'"));
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("http"),
            "{csp}"
        );
        let cache = headers["cache-control"].to_str().unwrap();
        if name.starts_with("assets/") {
            assert!(cache.contains("immutable"), "{name}: {cache}");
        } else {
            assert_eq!(cache, "no-cache", "{name}");
        }
        let expected_type = match name.rsplit_once('.').unwrap().1 {
            "html" => "text/html; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "wasm" => "application/wasm",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "webmanifest" => "application/manifest+json",
            "json" => "application/json",
            "png" => "image/png",
            other => panic!("{name}: a file type the server does not name ({other})"),
        };
        assert_eq!(headers["content-type"], expected_type, "{name}");
        let body = response.bytes().await.unwrap();
        assert!(
            body.as_ref() == std::fs::read(dist().join(name)).unwrap(),
            "{name}: the binary serves another build than field-app/dist"
        );
    }
    // A phone that accepts gzip gets the gzip copy, labelled so; others get the file itself.
    for gz in names.iter().filter(|n| n.ends_with(".gz")) {
        let plain = gz.trim_end_matches(".gz");
        let response = app
            .http
            .get(format!("{}/field/{plain}", app.url))
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{plain}");
        assert_eq!(response.headers()["content-encoding"], "gzip", "{plain}");
        assert_eq!(response.headers()["vary"], "accept-encoding");
        let body = response.bytes().await.unwrap();
        assert!(body.starts_with(&[0x1f, 0x8b]), "{gz} is not gzip");
        assert!(
            body.as_ref() == std::fs::read(dist().join(gz)).unwrap(),
            "{gz}"
        );
        let refused = app
            .http
            .get(format!("{}/field/{plain}", app.url))
            .header("accept-encoding", "gzip;q=0, identity")
            .send()
            .await
            .unwrap();
        assert!(
            refused.headers().get("content-encoding").is_none(),
            "{plain}"
        );
        assert!(
            refused.bytes().await.unwrap().as_ref() == std::fs::read(dist().join(plain)).unwrap()
        );
    }
    // The page itself at /field/, and /field sends there.
    let index = app.get("/field/").await;
    assert_eq!(index.status(), 200);
    assert!(
        index.bytes().await.unwrap().as_ref() == std::fs::read(dist().join("index.html")).unwrap()
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let moved = no_redirects
        .get(format!("{}/field", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(moved.headers()["location"], "/field/");
    // Nothing else is reachable: unknown files, parent folders (raw and encoded), hidden files.
    for path in [
        "/field/nothing-here.js",
        "/field/../Cargo.toml",
        "/field/%2e%2e/Cargo.toml",
        "/field/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/field/.env",
    ] {
        let response = no_redirects
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 404 | 400),
            "{path}: {}",
            response.status()
        );
    }
    app.stop().await;

    // `field_app_dir` serves a folder instead, with the same refusals.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("index.html"),
        "<!doctype html><p>dev build",
    )
    .unwrap();
    std::fs::write(folder.path().join("secret.txt"), "outside the app").unwrap();
    let app_dir = folder.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    std::fs::write(app_dir.join("index.html"), "<!doctype html><p>dev build").unwrap();
    let app = TestApp::spawn_with(db, |c| c.field_app_dir = Some(app_dir.clone())).await;
    let index = app.get("/field/").await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.text().await.unwrap(), "<!doctype html><p>dev build");
    let escaped = app.get("/field/%2e%2e/secret.txt").await;
    assert!(matches!(escaped.status().as_u16(), 404 | 400));
    assert_eq!(app.get("/field/missing.js").await.status(), 404);
    app.stop().await;
}
