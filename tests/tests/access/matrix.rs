//! Every role against every endpoint that exists, with the status each must get. Forbidden and
//! unknown look the same (404) wherever an id or a hamlet is named.

use reqwest::Method;
use sansang_tests::db::TestDb;
use serde_json::json;

use crate::fixture::world;

/// What is asked, how, where, with which body, and the status each role must get.
type Row = (
    &'static str,
    Method,
    String,
    Option<serde_json::Value>,
    [u16; 7],
);

const ROLES: [&str; 7] = [
    "admin",
    "staff",
    "head1",
    "head2",
    "other",
    "phone",
    "anonymous",
];

pub async fn role_by_resource_matrix(db: &TestDb) {
    let w = world(db).await;
    let t01 = format!("/api/v1/households/{}", w.doc_t01);
    let t02 = format!("/api/v1/households/{}", w.doc_t02);
    let other = format!("/api/v1/households/{}", w.doc_other);
    let enrol_t01 = json!({ "volunteer": "Lý Văn Mới", "hamlets": ["T01"] });
    let new_user = |name: &str| json!({ "username": name, "displayName": "Người mới", "role": "commune-staff" });
    // (what, method, path, body, statuses in the order of ROLES)
    let rows: Vec<Row> = vec![
        (
            "list T01",
            Method::GET,
            "/api/v1/households?hamlet=T01".into(),
            None,
            [200, 200, 200, 404, 200, 200, 401],
        ),
        (
            "list T02",
            Method::GET,
            "/api/v1/households?hamlet=T02".into(),
            None,
            [200, 200, 404, 200, 200, 404, 401],
        ),
        (
            "list mine",
            Method::GET,
            "/api/v1/households".into(),
            None,
            [200, 200, 200, 200, 200, 200, 401],
        ),
        (
            "read T01",
            Method::GET,
            t01.clone(),
            None,
            [200, 200, 200, 404, 404, 200, 401],
        ),
        (
            "read T02",
            Method::GET,
            t02,
            None,
            [200, 200, 404, 200, 404, 404, 401],
        ),
        (
            "read other commune",
            Method::GET,
            other,
            None,
            [404, 404, 404, 404, 200, 404, 401],
        ),
        (
            "read unknown",
            Method::GET,
            "/api/v1/households/not-an-id".into(),
            None,
            [404, 404, 404, 404, 404, 404, 401],
        ),
        (
            "issue code T01",
            Method::POST,
            "/api/v1/enrollments".into(),
            Some(enrol_t01),
            [201, 403, 201, 404, 201, 403, 401],
        ),
        (
            "list devices",
            Method::GET,
            "/api/v1/devices".into(),
            None,
            [200, 403, 200, 200, 200, 403, 401],
        ),
        (
            "revoke unknown device",
            Method::POST,
            "/api/v1/devices/nope/revoke".into(),
            None,
            [404, 403, 404, 404, 404, 403, 401],
        ),
        (
            "list users",
            Method::GET,
            "/api/v1/users".into(),
            None,
            [200, 403, 403, 403, 200, 403, 401],
        ),
        (
            "create user",
            Method::POST,
            "/api/v1/users".into(),
            Some(new_user("canbo9")),
            [201, 403, 403, 403, 201, 403, 401],
        ),
        (
            "read audit",
            Method::GET,
            "/api/v1/audit".into(),
            None,
            [200, 403, 403, 403, 200, 403, 401],
        ),
        (
            "me",
            Method::GET,
            "/api/v1/me".into(),
            None,
            [200, 200, 200, 200, 200, 200, 401],
        ),
        (
            "review queue T01",
            Method::GET,
            "/api/v1/reviews?hamlet=T01".into(),
            None,
            // `other` is an admin of another commune: its own T01.
            [200, 403, 200, 404, 200, 403, 401],
        ),
        (
            "review history T01",
            Method::GET,
            format!("{t01}/reviews"),
            None,
            [200, 200, 200, 404, 404, 200, 401],
        ),
        (
            "decide T01 (refused decision)",
            Method::POST,
            format!("{t01}/reviews"),
            Some(json!({ "decision": "maybe", "heads": ["0".repeat(64)], "version": 0 })),
            [400, 403, 400, 404, 404, 403, 401],
        ),
        (
            "resolve T01 (no conflict)",
            Method::POST,
            format!("{t01}/resolve"),
            Some(json!({ "path": "/address", "value": "Số 9" })),
            [409, 403, 409, 404, 404, 403, 401],
        ),
        (
            "indices T01",
            Method::GET,
            "/api/v1/indices?hamlet=T01".into(),
            None,
            [200, 200, 200, 404, 200, 403, 401],
        ),
        (
            "summary export",
            Method::GET,
            "/api/v1/exports/summary.csv".into(),
            None,
            [200, 200, 200, 200, 200, 403, 401],
        ),
        (
            "household detail export",
            Method::GET,
            "/api/v1/exports/households.csv".into(),
            None,
            [200, 200, 403, 403, 200, 403, 401],
        ),
        (
            "set targets (out of range)",
            Method::PUT,
            "/api/v1/targets/2026".into(),
            Some(json!({ "basicSkills": 200 })),
            [400, 403, 403, 403, 400, 403, 401],
        ),
        (
            "read unknown photo",
            Method::GET,
            format!("/api/v1/photos/{}", "a".repeat(64)),
            None,
            [404, 404, 404, 404, 404, 404, 401],
        ),
    ];
    let mut wrong = Vec::new();
    for (what, method, path, body, want) in &rows {
        for (who, want) in ROLES.iter().zip(want) {
            // A user created by one admin must not collide with the next one's.
            let body = body.clone().map(|mut b| {
                if b.get("username").is_some() {
                    b["username"] = json!(format!("canbo-{who}"));
                }
                b
            });
            let (status, answer) = w.call(who, method.clone(), path, body).await;
            if status.as_u16() != *want {
                wrong.push(format!(
                    "{what} as {who}: got {status} {answer}, want {want}"
                ));
            } else if status.is_client_error() {
                assert!(
                    answer["code"].is_string(),
                    "{what} as {who}: error without a code: {answer}"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Lists hold only what the caller may see.
    let (_, mine) = w
        .call("head1", Method::GET, "/api/v1/households", None)
        .await;
    let hamlets: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hamletId"].as_str().unwrap())
        .collect();
    assert_eq!(hamlets, ["T01"]);
    let (_, all) = w
        .call("staff", Method::GET, "/api/v1/households", None)
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, devices) = w.call("head2", Method::GET, "/api/v1/devices", None).await;
    assert_eq!(devices, json!([]), "head of T02 does not see T01's phone");
    let (_, devices) = w.call("head1", Method::GET, "/api/v1/devices", None).await;
    assert_eq!(devices[0]["id"], w.phone_id.as_str());
    assert!(devices[0].get("tokenHash").is_none());

    // Every read of a household is in the audit log, with who read it.
    let (_, entries) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/audit?household={}", w.doc_t01),
            None,
        )
        .await;
    let readers: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "household.read")
        .map(|e| e["actor"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        readers.len(),
        4,
        "admin, staff, head1 and the phone read it: {entries}"
    );
    assert!(readers.contains(&"device".to_owned()));
    w.app.stop().await;
}
