//! Sign-in back-off, sessions, cookies and password changes; enrollment codes used once and
//! phones cut off the moment they are revoked.

use reqwest::{Method, StatusCode};
use sansang_server::auth::token;
use sansang_server::storage::{Actor, Enrollment};
use sansang_tests::db::TestDb;
use serde_json::{Value, json};

use crate::fixture::{PASSWORD, sign_in, world};

/// Failed sign-ins in the audit log.
async fn failed_sign_ins(app: &sansang_tests::app::TestApp) -> usize {
    app.state
        .storage
        .list_audit(&sansang_server::storage::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.login-failed")
        .count()
}

pub async fn sign_in_is_throttled_and_sessions_end(db: &TestDb) {
    let w = world(db).await;
    let app = &w.app;

    // Wrong passwords: a few are answered plainly, then the account must wait, even with the
    // right password.
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(
            sign_in(app, "head2", &format!("sai-mật-khẩu-{i}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], [401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let throttled = sign_in(app, "head2", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(
        failed_sign_ins(app).await,
        5,
        "only checked attempts are audited"
    );

    // A megabyte of password is refused without hashing it; malformed headers are 401s.
    let huge = sign_in(app, "head1", &"x".repeat(1 << 20)).await;
    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        huge.json::<Value>().await.unwrap()["code"],
        "password-too-long"
    );
    for header in [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer a b",
        "bearer ss_x",
    ] {
        let response = app
            .http
            .get(format!("{}/api/v1/me", app.url))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        let code = response.json::<Value>().await.unwrap()["code"].clone();
        assert!(
            code == "bad-authorization-header" || code == "invalid-token",
            "{header}: {code}"
        );
    }

    // The cookie works for reads; a write from another site is refused.
    let signed_in = sign_in(app, "head1", PASSWORD).await;
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me = app
        .http
        .get(format!("{}/api/v1/me", app.url))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let forged = app
        .http
        .post(format!("{}/api/v1/auth/logout", app.url))
        .header("cookie", &pair)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Changing the password ends every session; the new one signs in.
    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({ "currentPassword": "sai", "newPassword": "mật khẩu mới dài" })),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("wrong-credentials"))
    );
    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({ "currentPassword": PASSWORD, "newPassword": "ngắn" })),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("password-too-short"))
    );
    let (status, _) = w
        .call(
            "head1",
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({ "currentPassword": PASSWORD, "newPassword": "mật khẩu mới dài" })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.call("head1", Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "old session ended");
    assert_eq!(sign_in(app, "head1", PASSWORD).await.status(), 401);
    assert_eq!(
        sign_in(app, "head1", "mật khẩu mới dài").await.status(),
        200
    );

    // Signing out ends the session.
    let (status, _) = w
        .call("staff", Method::POST, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.call("staff", Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    w.app.stop().await;
}

pub async fn devices_enrol_once_and_are_cut_off_when_revoked(db: &TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let (status, issued) = w
        .call(
            "head1",
            Method::POST,
            "/api/v1/enrollments",
            Some(json!({ "volunteer": "  Hà Thị Xuân ", "hamlets": ["T01"], "validHours": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let code = issued["code"].as_str().unwrap().to_owned();
    assert!(issued["qrSvg"].as_str().unwrap().starts_with("<?xml"));
    assert!(issued["enrollUrl"].as_str().unwrap().ends_with(&code));
    assert_eq!(issued["enrollment"]["volunteer"], "Hà Thị Xuân");

    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            "/api/v1/enrollments",
            Some(json!({ "volunteer": "X", "hamlets": ["T09"] })),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (404, Some("not-found")),
        "T09 is no hamlet of theirs"
    );

    let enrol = |code: String| async move {
        let response = app
            .http
            .post(format!("{}/api/v1/devices/enroll", app.url))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    // Typed the way a person types it: lower case, spaces.
    let (status, enrolled) = enrol(code.to_lowercase().replace('-', " ")).await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let token = enrolled["token"].as_str().unwrap().to_owned();
    assert_eq!(enrolled["device"]["hamlets"], json!(["T01"]));
    assert!(enrolled["syncUrl"].as_str().unwrap().starts_with("ws://"));
    let (status, body) = enrol(code.clone()).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("enrollment-code-used"))
    );

    // An expired code, written as the issuing path would but a day old.
    let expired = "ABCD-EFGH-JKMN";
    let now = sansang_server::now_millis();
    app.state
        .storage
        .create_enrollment(&Enrollment {
            code_hash: token::hash(&token::normalise_code(expired)),
            volunteer: "Cũ".into(),
            commune_code: "10846".into(),
            hamlets: vec!["T01".into()],
            created_by: Actor::System,
            created_at: now - 2 * 86_400_000,
            expires_at: now - 86_400_000,
            used_at: None,
            device_id: None,
        })
        .await
        .unwrap();
    let (status, body) = enrol(expired.to_owned()).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("enrollment-code-expired"))
    );

    // The new phone reads its hamlet; revoked, the same token is refused at once.
    let read = |token: String| {
        let url = format!("{}/api/v1/households/{}", app.url, w.doc_t01);
        async move {
            app.http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(read(token.clone()).await, 200);
    let device_id = enrolled["device"]["id"].as_str().unwrap();
    let (status, _) = w
        .call(
            "head2",
            Method::POST,
            &format!("/api/v1/devices/{device_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "head of T02 cannot revoke a T01 phone"
    );
    let (status, revoked) = w
        .call(
            "head1",
            Method::POST,
            &format!("/api/v1/devices/{device_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revokedAt"].is_number(), "{revoked}");
    assert_eq!(read(token).await, 401);
    // Guessing codes is throttled per address (10 free failures).
    let mut last = StatusCode::OK;
    for i in 0..12 {
        last = enrol(format!("ZZZZ-ZZZZ-ZZ{i:02}")).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    w.app.stop().await;
}

/// Sends `n` sign-ins at once for `username` with passwords from `password(i)`; their statuses
/// and error codes.
async fn sign_ins_at_once(
    w: &crate::fixture::World,
    n: usize,
    username: impl Fn(usize) -> String,
    password: impl Fn(usize) -> String,
) -> Vec<(u16, String, bool)> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let http = w.app.http.clone();
        let url = format!("{}/api/v1/auth/login", w.app.url);
        let body = json!({ "username": username(i), "password": password(i) });
        set.spawn(async move {
            let response = http.post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (
                status,
                body["code"].as_str().unwrap_or("").to_owned(),
                retry_after,
            )
        });
    }
    let mut out = Vec::new();
    while let Some(result) = set.join_next().await {
        out.push(result.unwrap());
    }
    out
}

/// Guesses sent in parallel are counted before any password is hashed, so no more of them are
/// checked than the back-off allows; hashing runs a few at a time and the rest are told to come
/// back; an address full of failures does not keep out an account that is not itself locked.
pub async fn parallel_guesses_are_held_back(db: &TestDb) {
    let w = world(db).await;
    let statuses = sign_ins_at_once(&w, 60, |_| "head2".into(), |i| format!("đoán-{i}")).await;
    let checked = statuses.iter().filter(|(s, _, _)| *s == 401).count();
    assert!(
        (1..=5).contains(&checked),
        "at most the 5 free failures are checked: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|(s, code, retry)| *s == 401 || (*s == 429 && *retry && !code.is_empty())),
        "the rest are told to wait: {statuses:?}"
    );
    assert_eq!(
        failed_sign_ins(&w.app).await,
        checked,
        "only checked attempts are audited"
    );

    // Names nobody has, many at once from the same address: answered 401 or "busy, come back",
    // never queued without bound.
    let statuses = sign_ins_at_once(&w, 120, |i| format!("không-ai-{i}"), |_| "x".into()).await;
    let busy = statuses
        .iter()
        .filter(|(s, code, retry)| *s == 429 && code == "server-busy" && *retry)
        .count();
    assert!(
        statuses.iter().all(|(s, _, _)| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(busy > 0, "the hashing queue is bounded: {statuses:?}");

    // The address is full of failures; head1's account is fine and signs in from it.
    assert_eq!(sign_in(&w.app, "head1", PASSWORD).await.status(), 200);

    // Enrollment codes guessed at once: counted before they are looked up.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let http = w.app.http.clone();
        let url = format!("{}/api/v1/devices/enroll", w.app.url);
        set.spawn(async move {
            http.post(url)
                .json(&json!({ "code": format!("SAIMA{i:04}") }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut codes = Vec::new();
    while let Some(status) = set.join_next().await {
        codes.push(status.unwrap());
    }
    let looked_up = codes.iter().filter(|s| **s == 400).count();
    assert!((1..=10).contains(&looked_up), "{codes:?}");
    assert_eq!(looked_up + codes.iter().filter(|s| **s == 429).count(), 40);
    // Overlong input is refused before anything: names, passwords and codes.
    let long_name = sign_in(&w.app, &"a".repeat(300), PASSWORD).await;
    assert_eq!(long_name.status(), 400);
    assert_eq!(
        long_name.json::<Value>().await.unwrap()["code"],
        "username-too-long"
    );
    let long_code = w
        .app
        .http
        .post(format!("{}/api/v1/devices/enroll", w.app.url))
        .json(&json!({ "code": "A".repeat(10_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(long_code.status(), 400);
    w.app.stop().await;
}

/// A wrong sign-in of `username` as seen from `forwarded` (in `X-Forwarded-For`).
async fn wrong_sign_in_from(
    app: &sansang_tests::app::TestApp,
    username: &str,
    forwarded: &str,
) -> u16 {
    app.http
        .post(format!("{}/api/v1/auth/login", app.url))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "username": username, "password": "sai-mật-khẩu" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Behind a load balancer every caller has the balancer's address: with it in `trusted_proxies`
/// the back-off counts per forwarded address, and without it a forged header counts for nothing.
pub async fn the_callers_address_comes_through_trusted_proxies_only(db: &TestDb) {
    // The test's requests come from 127.0.0.1, here the proxy.
    let w =
        crate::fixture::world_with(db, |c| c.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let app = &w.app;
    for _ in 0..5 {
        assert_eq!(wrong_sign_in_from(app, "head1", "198.51.100.1").await, 401);
    }
    assert_eq!(
        wrong_sign_in_from(app, "head1", "198.51.100.1").await,
        429,
        "that address's guesses wait"
    );
    // What a caller writes itself sits left of what the proxy appended, and is not believed.
    assert_eq!(
        wrong_sign_in_from(app, "head1", "198.51.100.1, 198.51.100.2").await,
        401,
        "another caller, behind the same proxy, is not held back by the first one's typos"
    );
    let audited = app
        .state
        .storage
        .list_audit(&sansang_server::storage::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let addresses: Vec<&str> = audited
        .iter()
        .filter(|e| e.action == "auth.login-failed")
        .filter_map(|e| e.address.as_deref())
        .collect();
    assert!(
        addresses.contains(&"198.51.100.1") && addresses.contains(&"198.51.100.2"),
        "{addresses:?}"
    );
    assert!(!addresses.contains(&"127.0.0.1"), "{addresses:?}");
    w.app.stop().await;

    // The same requests to a server that trusts no proxy: the header is the caller's own
    // writing, and every guess counts against 127.0.0.1.
    let app = sansang_tests::app::TestApp::spawn(db).await;
    for i in 0..5 {
        assert_eq!(
            wrong_sign_in_from(&app, "head2", &format!("198.51.100.{i}")).await,
            401
        );
    }
    assert_eq!(wrong_sign_in_from(&app, "head2", "198.51.100.9").await, 429);
    app.stop().await;
}

/// The back-off is kept in the database: on PostgreSQL a second server over it refuses the
/// guesses the first one counted, and on either backend a restart forgets none of them.
pub async fn back_off_holds_across_servers_and_restarts(db: &TestDb) {
    let w = world(db).await;
    for i in 0..5 {
        let status = sign_in(&w.app, "head2", &format!("sai-{i}")).await.status();
        assert_eq!(status, 401);
    }
    let second = if db.backend == sansang_tests::db::TestBackend::Postgres {
        let other = sansang_tests::app::TestApp::spawn(db).await;
        let refused = sign_in(&other, "head2", PASSWORD).await;
        assert_eq!(
            refused.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the other server counts the first one's guesses"
        );
        assert!(refused.headers().contains_key("retry-after"));
        Some(other)
    } else {
        None
    };
    w.app.stop().await;
    if let Some(other) = second {
        other.stop().await;
    }
    let restarted = sansang_tests::app::TestApp::spawn(db).await;
    assert_eq!(
        sign_in(&restarted, "head2", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a restart forgets nothing"
    );
    restarted.stop().await;
}
