#![allow(clippy::unwrap_used)]
//! The OpenAPI document at `/api/openapi.json`, on the real server: served as OpenAPI 3.x, and
//! complete. Every route the server serves is documented and nothing else is: the list of routes
//! below, the `.route("…")` calls found in the server's source (`server/src/http/` and every
//! other module, such as `server/src/sync/`) and the server itself are each compared with the
//! document, so a route added without its `#[utoipa::path]` (or not listed in `ApiDoc`) fails
//! here. Each operation documents its errors, and the bodies the server
//! really sends match the schemas the document gives for them.

#[allow(dead_code)]
#[path = "access/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use sansang_tests::app::TestApp;
use sansang_tests::db::{TestBackend, TestDb};
use serde_json::{Value, json};

/// Every route the server serves, as (method, path template as written in the router).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/enrollments"),
    ("POST", "/api/v1/devices/enroll"),
    ("GET", "/api/v1/devices"),
    ("POST", "/api/v1/devices/{id}/revoke"),
    ("GET", "/api/v1/households"),
    ("GET", "/api/v1/households/{id}"),
    ("POST", "/api/v1/households/{id}/move"),
    ("GET", "/api/v1/quarantine"),
    ("POST", "/api/v1/quarantine/{id}/release"),
    ("GET", "/api/v1/households/{id}/export"),
    ("POST", "/api/v1/households/{id}/erase"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/{id}/reset-password"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/sync"),
    ("POST", "/api/v1/sync/{documentId}"),
    ("PUT", "/api/v1/photos/{sha256}"),
    ("GET", "/api/v1/photos/{sha256}"),
    ("GET", "/api/v1/reviews"),
    ("POST", "/api/v1/households/{id}/reviews"),
    ("GET", "/api/v1/households/{id}/reviews"),
    ("POST", "/api/v1/households/{id}/resolve"),
    ("GET", "/api/v1/indices"),
    ("GET", "/api/v1/targets/{year}"),
    ("PUT", "/api/v1/targets/{year}"),
    ("GET", "/api/v1/exports/summary.csv"),
    ("GET", "/api/v1/exports/summary.xlsx"),
    ("GET", "/api/v1/exports/households.csv"),
    ("GET", "/api/v1/exports/households.xlsx"),
    ("GET", "/api/v1/roster"),
    ("POST", "/api/v1/roster/import"),
    ("POST", "/api/v1/households/{id}/not-duplicate"),
];

/// Operations that answer without any client error to document.
const NO_CLIENT_ERRORS: &[&str] = &["/", "/healthz", "/metrics", "/api/openapi.json"];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type Operation = (String, String);

async fn fetch_document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<Operation> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> &'d Value {
    &doc["paths"][path][method.to_lowercase()]
}

fn assert_same(what: &str, expected: &BTreeSet<Operation>, documented: &BTreeSet<Operation>) {
    let missing: Vec<_> = expected.difference(documented).collect();
    let extra: Vec<_> = documented.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} and the OpenAPI document differ:\n  not documented: {missing:?}\n  \
         documented only: {extra:?}\nAdd `#[utoipa::path]` to the handler and list it in `ApiDoc` \
         (server/src/http/openapi.rs), and list the route in ROUTES here."
    );
}

#[tokio::test]
async fn document_is_openapi_3_and_lists_every_route() {
    let db = TestDb::new(TestBackend::Sqlite).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let doc = fetch_document(&app).await;

    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "sansang");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // The list of routes and the document, both ways.
    let operations = documented(&doc);
    let routes: BTreeSet<Operation> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_same("ROUTES", &routes, &operations);

    // The routers' source: every `.route("…", get(…).post(…))` is documented, and every
    // documented path is routed.
    let in_source = routes_in_source();
    let source_operations = in_source.iter().map(|(_, m, _)| m.len()).sum::<usize>();
    assert!(
        source_operations >= ROUTES.len(),
        "found only {source_operations} routes in the source: {in_source:?}"
    );
    for (file, methods, path) in &in_source {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} (routed in {}) is not in the OpenAPI document",
            file.display()
        );
        for method in methods {
            assert!(
                operations.contains(&(method.clone(), path.clone())),
                "{method} {path} (routed in {}) is not in the OpenAPI document",
                file.display()
            );
        }
    }
    let source_paths: BTreeSet<&String> = in_source.iter().map(|(_, _, p)| p).collect();
    let documented_paths: BTreeSet<&String> = operations.iter().map(|(_, p)| p).collect();
    assert_eq!(
        source_paths, documented_paths,
        "paths routed in server/src and documented paths differ"
    );

    // The server: every documented operation is served, and no other method on its path.
    for (method, path) in &operations {
        let (status, body) = request_template(&app, method, path).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !(status == 404 && body.is_empty()),
            "{method} {path} is documented but the router does not serve it ({status})"
        );
    }
    for path in &documented_paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if operations.contains(&(method.to_owned(), (*path).clone())) {
                continue;
            }
            let (status, _) = request_template(&app, method, path).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served but not documented"
            );
        }
    }

    // Each operation documents its client errors, its path parameters and known security.
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["type"], "apiKey");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "sansang_session");
    for (method, path) in &operations {
        let op = operation(&doc, method, path);
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            !responses.is_empty(),
            "{method} {path} documents no response"
        );
        if !NO_CLIENT_ERRORS.contains(&path.as_str()) {
            assert!(
                responses.keys().any(|status| status.starts_with('4')),
                "{method} {path} documents no 4xx response"
            );
        }
        for name in path_parameters(path) {
            let documented = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name.as_str() && p["in"] == "path")
            });
            assert!(
                documented,
                "{method} {path}: path parameter {name} is not documented"
            );
        }
        for requirement in op["security"].as_array().into_iter().flatten() {
            for name in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(name),
                    "{method} {path}: unknown scheme {name}"
                );
            }
        }
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
    }

    // Every reference points to a schema of the document.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling reference {r}");
    }
    app.stop().await;
}

/// The bodies the server sends, successes and errors, validate against the schemas documented
/// for their operation and status (objects made strict: no property left undocumented).
#[tokio::test]
async fn responses_match_the_documented_schemas() {
    let db = TestDb::new(TestBackend::Sqlite).await.unwrap();
    let world = fixture::world(&db).await;
    let doc = fetch_document(&world.app).await;
    let checker = Checker { doc: &doc };
    // The checker itself refuses what the schemas do not allow.
    let error = json!({ "$ref": "#/components/schemas/Error" });
    assert!(validator(&doc, &error).is_valid(&json!({ "code": "x", "message": "y" })));
    assert!(!validator(&doc, &error).is_valid(&json!({ "code": "x" })));
    assert!(!validator(&doc, &error).is_valid(&json!({ "code": "x", "message": "y", "z": 1 })));

    let (status, body) = world.call("anonymous", Method::GET, "/healthz", None).await;
    checker.check("GET", "/healthz", status, &body);
    // A plain GET is no WebSocket upgrade: refused in plain text.
    let (status, body) = world.call("phone", Method::GET, "/api/v1/sync", None).await;
    assert_eq!(status, 400);
    checker.check("GET", "/api/v1/sync", status, &body);
    let login = json!({ "username": "staff", "password": fixture::PASSWORD });
    let (status, body) = world
        .call("anonymous", Method::POST, "/api/v1/auth/login", Some(login))
        .await;
    checker.check_ok("POST", "/api/v1/auth/login", status, &body);
    let bad = json!({ "username": "staff", "password": "not the password" });
    let (status, body) = world
        .call("anonymous", Method::POST, "/api/v1/auth/login", Some(bad))
        .await;
    assert_eq!(status, 401);
    checker.check("POST", "/api/v1/auth/login", status, &body);

    for who in ["admin", "phone"] {
        let (status, body) = world.call(who, Method::GET, "/api/v1/me", None).await;
        checker.check_ok("GET", "/api/v1/me", status, &body);
    }
    let (status, body) = world
        .call("anonymous", Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(status, 401);
    checker.check("GET", "/api/v1/me", status, &body);

    let (status, body) = world
        .call("admin", Method::GET, "/api/v1/users", None)
        .await;
    checker.check_ok("GET", "/api/v1/users", status, &body);
    let new_user = json!({
        "username": "moi",
        "displayName": "Người mới",
        "role": "hamlet-head",
        "hamlets": ["T01"],
    });
    let (status, body) = world
        .call(
            "admin",
            Method::POST,
            "/api/v1/users",
            Some(new_user.clone()),
        )
        .await;
    checker.check_ok("POST", "/api/v1/users", status, &body);
    let user_id = body["user"]["id"].as_str().unwrap().to_owned();
    let (status, body) = world
        .call("admin", Method::POST, "/api/v1/users", Some(new_user))
        .await;
    assert_eq!(status, 409);
    checker.check("POST", "/api/v1/users", status, &body);
    let path = format!("/api/v1/users/{user_id}/reset-password");
    let (status, body) = world.call("admin", Method::POST, &path, None).await;
    checker.check_ok("POST", "/api/v1/users/{id}/reset-password", status, &body);

    let code = json!({ "volunteer": "Lò Văn Mới", "hamlets": ["T01"] });
    let (status, body) = world
        .call("admin", Method::POST, "/api/v1/enrollments", Some(code))
        .await;
    checker.check_ok("POST", "/api/v1/enrollments", status, &body);
    let enroll = json!({ "code": body["code"] });
    let (status, body) = world
        .call(
            "anonymous",
            Method::POST,
            "/api/v1/devices/enroll",
            Some(enroll.clone()),
        )
        .await;
    checker.check_ok("POST", "/api/v1/devices/enroll", status, &body);
    let (status, body) = world
        .call(
            "anonymous",
            Method::POST,
            "/api/v1/devices/enroll",
            Some(enroll),
        )
        .await;
    assert_eq!(status, 400);
    checker.check("POST", "/api/v1/devices/enroll", status, &body);
    let (status, body) = world
        .call("admin", Method::GET, "/api/v1/devices", None)
        .await;
    checker.check_ok("GET", "/api/v1/devices", status, &body);
    let path = format!("/api/v1/devices/{}/revoke", world.phone_id);
    let (status, body) = world.call("admin", Method::POST, &path, None).await;
    checker.check_ok("POST", "/api/v1/devices/{id}/revoke", status, &body);

    let (status, body) = world
        .call("admin", Method::GET, "/api/v1/households", None)
        .await;
    checker.check_ok("GET", "/api/v1/households", status, &body);
    let path = format!("/api/v1/households/{}", world.doc_t01.as_str());
    let (status, body) = world.call("admin", Method::GET, &path, None).await;
    checker.check_ok("GET", "/api/v1/households/{id}", status, &body);
    let path = format!("/api/v1/households/{}", world.doc_other.as_str());
    let (status, body) = world.call("admin", Method::GET, &path, None).await;
    assert_eq!(status, 404);
    checker.check("GET", "/api/v1/households/{id}", status, &body);
    let path = format!("/api/v1/households/{}/erase", world.doc_t02.as_str());
    let (status, body) = world
        .call("admin", Method::POST, &path, Some(json!({ "reason": "" })))
        .await;
    assert_eq!(status, 400);
    checker.check("POST", "/api/v1/households/{id}/erase", status, &body);
    let (status, body) = world
        .call(
            "admin",
            Method::POST,
            &path,
            Some(json!({ "reason": "yêu cầu 1" })),
        )
        .await;
    checker.check_ok("POST", "/api/v1/households/{id}/erase", status, &body);

    let (status, body) = world
        .call("admin", Method::GET, "/api/v1/audit", None)
        .await;
    checker.check_ok("GET", "/api/v1/audit", status, &body);
    assert!(body.as_array().unwrap().len() > 5);
    let (status, body) = world
        .call("head1", Method::GET, "/api/v1/audit", None)
        .await;
    assert_eq!(status, 403);
    checker.check("GET", "/api/v1/audit", status, &body);

    let change =
        json!({ "currentPassword": fixture::PASSWORD, "newPassword": "mật-khẩu-mới-5678" });
    let (status, body) = world
        .call("head2", Method::POST, "/api/v1/auth/password", Some(change))
        .await;
    checker.check_ok("POST", "/api/v1/auth/password", status, &body);
    let (status, body) = world
        .call("head1", Method::POST, "/api/v1/auth/logout", None)
        .await;
    checker.check_ok("POST", "/api/v1/auth/logout", status, &body);
    world.app.stop().await;
}

struct Checker<'d> {
    doc: &'d Value,
}

impl Checker<'_> {
    fn check_ok(&self, method: &str, path: &str, status: StatusCode, body: &Value) {
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        self.check(method, path, status, body);
    }

    /// The status is documented for the operation, and the body matches its JSON schema (or the
    /// response documents no body and there is none).
    fn check(&self, method: &str, path: &str, status: StatusCode, body: &Value) {
        let response = &operation(self.doc, method, path)["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which is not documented: {body}"
        );
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            assert!(
                body.is_null(),
                "{method} {path} {status}: body without a documented schema: {body}"
            );
            return;
        };
        let validator = validator(self.doc, schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the body does not match the documented schema:\n  {}\nbody: \
             {body:#}\nschema: {schema:#}",
            errors.join("\n  ")
        );
    }
}

/// A JSON Schema validator for `schema`, with the document's component schemas as `$defs`,
/// every object with properties closed to others.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut defs = doc["components"]["schemas"].clone();
    close_objects(&mut defs);
    let mut root = schema.clone();
    close_objects(&mut root);
    root.as_object_mut()
        .unwrap()
        .insert("$defs".to_owned(), defs);
    let text = serde_json::to_string(&root)
        .unwrap()
        .replace("\"#/components/schemas/", "\"#/$defs/");
    jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                refs.push(r.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

/// Sends `method` to `template` with its parameters filled in, without credentials or body;
/// returns the status and the body's text.
async fn request_template(app: &TestApp, method: &str, template: &str) -> (StatusCode, String) {
    let path: Vec<String> = template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "openapi-test-id".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    let response = app
        .http
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{}", app.url, path.join("/")),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Every route in the server's source: `server/src/http/*.rs`, and the rest of `server/src` too,
/// since a module may serve its own router (`sync`). (file, methods of the method router, path) for each `.route("…", …)` and
/// `.route_service("…", …)`. Methods are those named in the call (`get(…).post(…)`); a route
/// whose methods cannot be told (`any`, `on`, a service) gives none, and only its path is
/// checked.
fn routes_in_source() -> Vec<(PathBuf, Vec<String>, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("http/health.rs")),
        "server/src/http not found under {}",
        dir.display()
    );
    assert!(!files.is_empty(), "no source in {}", dir.display());
    let mut routes = Vec::new();
    // The review pages (`server/src/web`) answer HTML to browsers, not API calls.
    for file in files
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "web"))
    {
        let source = std::fs::read_to_string(&file).unwrap();
        assert!(
            !source.contains(".nest(") && !source.contains(".nest_service("),
            "{} nests a router: teach routes_in_source() about prefixes",
            file.display()
        );
        for needle in [".route(\"", ".route_service(\""] {
            let mut rest = source.as_str();
            while let Some(at) = rest.find(needle) {
                rest = &rest[at + needle.len()..];
                let end = rest.find('"').expect("a closed path literal");
                let path = rest[..end].to_owned();
                let arguments = call_arguments(&rest[end + 1..]);
                let methods = if needle == ".route(\"" {
                    methods_in(arguments)
                } else {
                    Vec::new()
                };
                routes.push((file.clone(), methods, path));
            }
        }
    }
    routes
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text up to the parenthesis closing the call whose arguments `text` is inside of.
fn call_arguments(text: &str) -> &str {
    let mut depth = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

/// The HTTP methods of a method router expression: `get(a).post(b)`, `routing::get(a)`,
/// `get_service(s)`.
fn methods_in(arguments: &str) -> Vec<String> {
    let mut methods = Vec::new();
    for method in METHODS {
        for call in [format!("{method}("), format!("{method}_service(")] {
            let found = arguments.match_indices(&call).any(|(at, _)| {
                !arguments[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if found && !methods.contains(&method.to_uppercase()) {
                methods.push(method.to_uppercase());
            }
        }
    }
    methods
}
