//! Review by hamlet heads over the real HTTP API on SQLite and PostgreSQL: the queue and its
//! counts, decisions pinned to the heads the head saw, stale pages and racing heads told, a
//! double-submitted form counted once, scope and roles, the history kept.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use reqwest::Method;
use sansang_server::documents::DocumentId;
use sansang_server::review::reviewer_actor;
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;
use serde_json::{Value, json};
use tokio::time::timeout;

use fixture::{World, world};

fn sync_url(w: &World) -> String {
    format!("ws://{}/api/v1/sync", w.app.addr)
}

async fn queue(w: &World, who: &str, query: &str) -> Value {
    let (status, body) = w
        .call(who, Method::GET, &format!("/api/v1/reviews{query}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn household(w: &World, who: &str, id: &DocumentId) -> Value {
    let (status, body) = w
        .call(who, Method::GET, &format!("/api/v1/households/{id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn decide(w: &World, who: &str, id: &DocumentId, body: Value) -> (u16, Value) {
    let (status, body) = w
        .call(
            who,
            Method::POST,
            &format!("/api/v1/households/{id}/reviews"),
            Some(body),
        )
        .await;
    (status.as_u16(), body)
}

/// A volunteer's phone changes the household's address, as sync would.
async fn phone_edit(w: &World, id: &DocumentId, address: &str) {
    let stored = w.app.state.documents.load(id).await.unwrap().unwrap();
    let mut doc = AutoCommit::load(&stored.save())
        .unwrap()
        .with_actor(ActorId::random());
    let before = doc.get_heads();
    doc.put(ROOT, "address", address).unwrap();
    doc.commit();
    let changes = doc.get_changes(&before);
    w.app
        .state
        .documents
        .apply_changes(id, changes)
        .await
        .unwrap();
}

pub async fn heads_review_their_hamlet(db: &TestDb) {
    let w = world(db).await;
    let id = w.doc_t01.clone();

    let q = queue(&w, "head1", "").await;
    assert_eq!(q["households"].as_array().unwrap().len(), 1, "{q}");
    assert_eq!(q["households"][0]["documentId"], id.as_str());
    let first_state = q["households"][0]["state"].as_str().unwrap().to_owned();
    assert!(
        ["new", "needs-attention"].contains(&first_state.as_str()),
        "{q}"
    );
    assert_eq!(q["counts"][&first_state], 1);
    assert_eq!(q["counts"].as_object().unwrap().len(), 7);

    let opened = household(&w, "head1", &id).await;
    assert_eq!(opened["review"]["state"], first_state.as_str());
    assert_eq!(opened["review"]["current"], Value::Null);
    let heads = opened["projection"]["heads"].clone();

    // Bad decisions name the field at fault and record nothing.
    for (body, code, field) in [
        (
            json!({"decision": "correction-requested", "heads": heads, "version": 0}),
            "comment-required",
            "comment",
        ),
        (
            json!({"decision": "rejected", "comment": "   ", "heads": heads, "version": 0}),
            "reason-required",
            "comment",
        ),
        (
            json!({"decision": "maybe", "heads": heads, "version": 0}),
            "invalid-decision",
            "decision",
        ),
        (
            json!({"decision": "approved", "heads": ["not-a-hash"], "version": 0}),
            "invalid-heads",
            "heads",
        ),
        (
            json!({"decision": "approved", "heads": heads, "version": -1}),
            "invalid-version",
            "version",
        ),
    ] {
        let (status, answer) = decide(&w, "head1", &id, body).await;
        assert_eq!(
            (status, answer["code"].as_str(), answer["field"].as_str()),
            (400, Some(code), Some(field)),
            "{answer}"
        );
    }
    let (status, answer) = decide(&w, "head1", &id, json!({"decision": "approved"})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid-field"))
    );

    // Who may decide: the head of the hamlet and an admin; the others are told as usual.
    let approve = json!({"decision": "approved", "heads": heads, "version": 0});
    for (who, id, status) in [
        ("head2", &w.doc_t01, 404),
        ("head1", &w.doc_t02, 404),
        ("head1", &w.doc_other, 404),
        ("other", &w.doc_t01, 404),
        ("staff", &w.doc_t01, 403),
        ("phone", &w.doc_t01, 403),
        ("anonymous", &w.doc_t01, 401),
    ] {
        let (got, answer) = decide(&w, who, id, approve.clone()).await;
        assert_eq!(got, status, "{who}: {answer}");
    }
    let (status, _) = w.call("staff", Method::GET, "/api/v1/reviews", None).await;
    assert_eq!(status, 403);
    let (status, answer) = w
        .call("head1", Method::GET, "/api/v1/reviews?state=maybe", None)
        .await;
    assert_eq!(
        (status.as_u16(), answer["code"].as_str()),
        (400, Some("invalid-state"))
    );
    let (status, _) = w
        .call("head1", Method::GET, "/api/v1/reviews?hamlet=T02", None)
        .await;
    assert_eq!(status, 404);

    // A correction request, sent twice by a double tap: recorded once.
    let request = json!({
        "decision": "correction-requested",
        "comment": "Năm sinh của thành viên thứ hai <script>alert(1)</script>",
        "heads": heads,
        "version": 0,
    });
    // A volunteer's phone holds the household and stays connected.
    let mut phone = SyncClient::connect(&sync_url(&w), w.token("phone"), "phone-of-an")
        .await
        .unwrap();
    let mut on_phone = phone.request_document(&id).await.unwrap();
    let (status, first) = decide(&w, "head1", &id, request.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["version"], 1);
    // The decision is written into the document for the phones: its heads come after that note.
    let noted = household(&w, "head1", &id).await;
    assert_eq!(first["heads"], noted["projection"]["heads"]);
    assert_ne!(first["heads"], heads);
    assert_eq!(noted["review"]["state"], "correction-requested");
    let note = &noted["projection"]["household"]["review"];
    assert_eq!(note["decision"], "correction-requested");
    assert_eq!(note["comment"], request["comment"]);
    assert_eq!(note["version"], 1);
    // ... and reaches the phone over the socket, authored by the reviewer.
    timeout(
        Duration::from_secs(10),
        phone.receive_push(&id, &mut on_phone),
    )
    .await
    .expect("the note reaches the phone")
    .unwrap();
    let (_, review) = on_phone.get(ROOT, "review").unwrap().unwrap();
    let (comment, _) = on_phone.get(&review, "comment").unwrap().unwrap();
    assert_eq!(
        comment.into_string().ok().as_deref(),
        request["comment"].as_str(),
        "the volunteer reads the comment"
    );
    let authors: Vec<ActorId> = on_phone
        .get_changes(&[])
        .iter()
        .map(|c| c.actor_id().clone())
        .collect();
    assert!(authors.contains(&reviewer_actor(first["decidedBy"].as_str().unwrap())));
    let (status, again) = decide(&w, "head1", &id, request.clone()).await;
    assert_eq!((status, &again), (200, &first));
    let q = queue(&w, "head1", "?state=correction-requested").await;
    assert_eq!(q["counts"]["correction-requested"], 1);
    assert_eq!(q["counts"][&first_state], 0);
    assert_eq!(q["households"][0]["review"]["comment"], request["comment"]);

    // An admin deciding on the page they opened before that: told someone decided meanwhile.
    let (status, raced) = decide(&w, "admin", &id, approve.clone()).await;
    assert_eq!(
        (status, raced["code"].as_str()),
        (409, Some("decided-meanwhile"))
    );
    assert_eq!(raced["current"], first);

    // The volunteer corrects it: the household is changed since review.
    phone_edit(&w, &id, "Số 1A, T01").await;
    let reopened = household(&w, "head1", &id).await;
    assert_eq!(reopened["review"]["state"], "changed-since-review");
    assert_eq!(reopened["review"]["current"], first);
    let new_heads = reopened["projection"]["heads"].clone();
    assert_ne!(new_heads, heads);
    let q = queue(&w, "head1", "?state=changed-since-review").await;
    assert_eq!(q["households"].as_array().unwrap().len(), 1);

    // The old page's decision is refused, with the heads of now.
    let (status, stale) = decide(
        &w,
        "head1",
        &id,
        json!({"decision": "approved", "heads": heads, "version": 1}),
    )
    .await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (409, Some("changed-since-opened"))
    );
    assert_eq!(stale["currentHeads"], new_heads);

    let (status, approved) = decide(
        &w,
        "head1",
        &id,
        json!({"decision": "approved", "heads": new_heads, "version": 1}),
    )
    .await;
    assert_eq!(status, 201, "{approved}");
    assert_eq!(approved["version"], 2);
    let q = queue(&w, "head1", "").await;
    assert_eq!(q["counts"]["approved"], 1);
    assert_eq!(q["counts"]["changed-since-review"], 0);

    // The history keeps both decisions, for whoever may read the household.
    let (status, history) = w
        .call(
            "staff",
            Method::GET,
            &format!("/api/v1/households/{id}/reviews"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(history, json!([first, approved]));
    let (status, _) = w
        .call(
            "head2",
            Method::GET,
            &format!("/api/v1/households/{id}/reviews"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (_, audit) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/audit?household={id}"),
            None,
        )
        .await;
    let reviews = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "household.review")
        .count();
    assert_eq!(reviews, 2, "{audit}");
    w.app.stop().await;
}

/// Two phones set one member's VNeID level differently while offline; the head sees both and
/// keeps one, written as the reviewer's change; the conflict is gone for everyone.
pub async fn heads_resolve_conflicts(db: &TestDb) {
    let w = world(db).await;
    let id = w.doc_t01.clone();
    let opened = household(&w, "head1", &id).await;
    let member = opened["projection"]["household"]["members"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let stored = w.app.state.documents.load(&id).await.unwrap().unwrap();
    let mut changes = Vec::new();
    for level in ["level1", "level2"] {
        let mut phone = AutoCommit::load(&stored.save())
            .unwrap()
            .with_actor(ActorId::random());
        let before = phone.get_heads();
        let (_, members) = phone.get(ROOT, "members").unwrap().unwrap();
        let (_, m) = phone.get(&members, member.as_str()).unwrap().unwrap();
        phone.put(&m, "vneid", level).unwrap();
        phone.commit();
        changes.extend(phone.get_changes(&before));
    }
    w.app
        .state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    let path = format!("/members/{member}/vneid");
    let conflicted = household(&w, "head1", &id).await;
    let conflict = conflicted["projection"]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path.as_str())
        .expect("the conflict is listed")
        .clone();
    assert_eq!(
        conflict["values"].as_array().unwrap().len(),
        2,
        "{conflict}"
    );
    assert_eq!(conflicted["review"]["state"], "needs-attention");

    let resolve = |who: &'static str, body: Value| {
        let w = &w;
        let id = id.clone();
        async move {
            let (status, answer) = w
                .call(
                    who,
                    Method::POST,
                    &format!("/api/v1/households/{id}/resolve"),
                    Some(body),
                )
                .await;
            (status.as_u16(), answer)
        }
    };
    for (body, code, field) in [
        (
            json!({"path": "/review/decision", "value": "approved"}),
            "invalid-path",
            "path",
        ),
        (
            json!({"path": "members", "value": "level2"}),
            "invalid-path",
            "path",
        ),
        (
            json!({"path": path, "value": {"level": 2}}),
            "invalid-value",
            "value",
        ),
        (
            json!({"path": "/address", "value": "Số 2"}),
            "conflict-gone",
            "path",
        ),
    ] {
        let (status, answer) = resolve("head1", body).await;
        assert_eq!(
            (answer["code"].as_str(), answer["field"].as_str()),
            (Some(code), Some(field)),
            "{status} {answer}"
        );
    }
    for (who, status) in [("head2", 404), ("staff", 403), ("phone", 403)] {
        let (got, _) = resolve(who, json!({"path": path, "value": "level2"})).await;
        assert_eq!(got, status, "{who}");
    }

    let (status, resolved) = resolve("head1", json!({"path": path, "value": "level2"})).await;
    assert_eq!(status, 200, "{resolved}");
    let now = household(&w, "head1", &id).await;
    assert!(
        !now["projection"]["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == path.as_str()),
        "{now}"
    );
    assert_eq!(
        now["projection"]["household"]["members"][&member]["vneid"],
        "level2"
    );
    assert_eq!(resolved["projection"]["heads"], now["projection"]["heads"]);
    // The same choice again: nothing left to resolve.
    let (status, again) = resolve("head1", json!({"path": path, "value": "level2"})).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("conflict-gone"))
    );

    // Two phones creating the same part (a member's skills) at once: no value can be written
    // over a whole part; and where a household belongs is not settled here.
    let stored = w.app.state.documents.load(&id).await.unwrap().unwrap();
    let mut changes = Vec::new();
    for skill in ["safety", "onlineShopping"] {
        let mut phone = AutoCommit::load(&stored.save())
            .unwrap()
            .with_actor(ActorId::random());
        let before = phone.get_heads();
        let (_, members) = phone.get(ROOT, "members").unwrap().unwrap();
        let (_, m) = phone.get(&members, member.as_str()).unwrap().unwrap();
        let skills = phone
            .put_object(&m, "skills", automerge::ObjType::Map)
            .unwrap();
        phone.put(&skills, skill, true).unwrap();
        phone.commit();
        changes.extend(phone.get_changes(&before));
    }
    w.app
        .state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    let parts = format!("/members/{member}/skills");
    let (status, answer) = resolve("head1", json!({"path": parts, "value": "true"})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("conflict-of-parts")),
        "{answer}"
    );
    let (status, answer) = resolve("head1", json!({"path": "/hamletId", "value": "T02"})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid-path"))
    );

    // The change is an ordinary one, by the reviewer's actor.
    let doc = w.app.state.documents.load(&id).await.unwrap().unwrap();
    let head1 = w
        .app
        .state
        .storage
        .get_user_by_username("head1")
        .await
        .unwrap()
        .unwrap();
    let by_reviewer = doc
        .get_changes(&[])
        .iter()
        .filter(|c| c.actor_id() == &reviewer_actor(&head1.id))
        .count();
    assert_eq!(
        by_reviewer, 1,
        "the resolution, by the reviewer's own actor"
    );
    w.app.stop().await;
}

sansang_tests::backend_tests!(heads_review_their_hamlet, heads_resolve_conflicts);
