//! Where a household belongs: a phone cannot move one out of its hamlets, a hamlet head or the
//! admin moves it through the API and the old hamlet's phones stop receiving it; a new
//! household from outside a phone's hamlets waits in quarantine for the admin, seen by nobody
//! else; a peer id stays with the token that holds it.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ROOT, ReadDoc};
use reqwest::Method;
use sansang_server::auth::enrollment::{self, CodeRequest};
use sansang_server::documents::DocumentId;
use sansang_server::storage::Actor;
use sansang_server::sync::client::{ClientError, SyncClient};
use sansang_server::sync::wire::Message;
use sansang_shared::write;
use sansang_tests::db::TestDb;
use serde_json::json;

use crate::fixture::{World, household_of, world};

/// A phone enrolled for `hamlet` of 10846; its token.
async fn enrol(w: &World, hamlet: &str) -> String {
    let storage = w.app.state.storage.as_ref();
    let issued = enrollment::issue(
        storage,
        Actor::System,
        CodeRequest {
            commune_code: "10846",
            volunteer: "Phạm Thị Hai",
            hamlets: &[hamlet.to_owned()],
            validity: enrollment::DEFAULT_VALIDITY,
        },
        &w.app.url,
    )
    .await
    .unwrap();
    enrollment::redeem(storage, &issued.code).await.unwrap().0
}

fn doc_of(hamlet: &str, address: &str) -> Automerge {
    let h = household_of(hamlet, address, &[("m1", "Vi Văn Tám")]);
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &h).unwrap();
    doc.commit();
    doc.document().clone()
}

fn put(doc: &mut Automerge, key: &str, value: &str) {
    let mut tx = doc.transaction();
    tx.put(ROOT, key, value).unwrap();
    tx.commit();
}

/// `who` asks for the household at `path` (a move or a release) to go to `hamlet`.
async fn to_hamlet(
    w: &World,
    who: &str,
    path: &str,
    hamlet: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    w.call(who, Method::POST, path, Some(json!({ "hamletId": hamlet })))
        .await
}

async fn listed(w: &World, who: &str, hamlet: &str) -> Vec<String> {
    let (status, body) = w
        .call(
            who,
            Method::GET,
            &format!("/api/v1/households?hamlet={hamlet}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .or_else(|| body["households"].as_array())
        .unwrap()
        .iter()
        .map(|h| h["documentId"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn households_move_only_through_the_hamlet_head(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let mut t01 = SyncClient::connect(&url, w.token("phone"), "phone-t01")
        .await
        .unwrap();
    let id = DocumentId::random();
    let mut doc = doc_of("T01", "Số 3, xóm Đông");
    t01.sync_document(&id, &mut doc).await.unwrap();
    let stored_heads = w
        .app
        .state
        .documents
        .lock(&id)
        .await
        .unwrap()
        .doc()
        .get_heads();

    // The phone points it at a hamlet that does not exist: refused whole, naming the field.
    let mut moved = doc.clone();
    put(&mut moved, "hamletId", "T99");
    match t01.sync_document(&id, &mut moved).await {
        Err(ClientError::Refused(message)) => {
            assert!(message.contains("hamletId"), "{message}")
        }
        other => panic!("expected a refusal naming hamletId, got {other:?}"),
    }
    let heads = w
        .app
        .state
        .documents
        .lock(&id)
        .await
        .unwrap()
        .doc()
        .get_heads();
    assert_eq!(heads, stored_heads, "nothing of the refused change is kept");
    let projection = w
        .app
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.household.hamlet_id.as_deref(), Some("T01"));
    assert!(listed(&w, "head1", "T01").await.contains(&id.to_string()));
    // The same over the HTTP fallback, and for the commune.
    let mut to_other_commune = doc.clone();
    put(&mut to_other_commune, "communeCode", "20000");
    for (changed, field) in [(&moved, "hamletId"), (&to_other_commune, "communeCode")] {
        let (status, body) = crate::limits::post_rounds(&w, &id, changed).await;
        assert_eq!(status, 403, "{field}: {body}");
        assert_eq!(body["code"], "change-refused");
        assert!(
            body["message"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
    let heads = w
        .app
        .state
        .documents
        .lock(&id)
        .await
        .unwrap()
        .doc()
        .get_heads();
    assert_eq!(heads, stored_heads);

    // A T02 phone sees nothing of it; the T01 head cannot move it to T02 (not theirs).
    let t02_token = enrol(&w, "T02").await;
    let mut t02 = SyncClient::connect(&url, &t02_token, "phone-t02")
        .await
        .unwrap();
    assert!(matches!(
        t02.request_document(&id).await,
        Err(ClientError::Unavailable(_))
    ));
    let path = format!("/api/v1/households/{id}/move");
    let (status, _) = to_hamlet(&w, "head1", &path, "T02").await;
    assert_eq!(status, 404);
    let (status, _) = to_hamlet(&w, "phone", &path, "T02").await;
    assert_eq!(status, 403);
    let (status, body) = to_hamlet(&w, "admin", &path, "T99").await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("unknown-hamlet"))
    );

    // A T01 phone has it open on a socket when it moves.
    let mut watcher = SyncClient::connect(&url, w.token("phone"), "phone-t01-watcher")
        .await
        .unwrap();
    watcher.request_document(&id).await.unwrap();

    // The admin moves it: T02's head lists it, T02's phone fetches it, T01 no longer does.
    let (status, body) = to_hamlet(&w, "admin", &path, "T02").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some("T01"), Some("T02"))
    );
    assert!(listed(&w, "head2", "T02").await.contains(&id.to_string()));
    assert!(!listed(&w, "admin", "T01").await.contains(&id.to_string()));
    let fetched = t02.request_document(&id).await.unwrap();
    assert_eq!(
        sansang_shared::read::project(&fetched, &fetched.get_heads(), 2026)
            .household
            .hamlet_id
            .as_deref(),
        Some("T02")
    );
    // T02's phone edits it: the T01 socket that had it open is sent nothing of it any more.
    let mut edited = fetched.clone();
    put(&mut edited, "notes", "ghi chú của thôn T02");
    t02.sync_document(&id, &mut edited).await.unwrap();
    watcher.set_wait(std::time::Duration::from_secs(2));
    loop {
        match watcher.recv().await {
            // A last answer to the exchange before the move may still arrive; only changes
            // count as pushed.
            Ok(Message::Sync {
                document_id, data, ..
            }) if document_id == id.to_string() => {
                let message = automerge::sync::Message::decode(&data).unwrap();
                assert!(
                    message.changes.is_empty(),
                    "the moved household was pushed to the old hamlet's phone"
                );
            }
            Ok(_) => continue,
            Err(ClientError::Timeout(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut fresh = SyncClient::connect(&url, w.token("phone"), "phone-t01-again")
        .await
        .unwrap();
    assert!(matches!(
        fresh.request_document(&id).await,
        Err(ClientError::Unavailable(_))
    ));
    let (_, log) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/audit?household={id}"),
            None,
        )
        .await;
    assert!(log.to_string().contains("household.move"), "{log}");
    w.app.stop().await;
}

/// The hamlet a copy of a household says it is in.
fn hamlet_in(doc: &Automerge) -> Option<String> {
    sansang_shared::read::project(doc, &doc.get_heads(), 2026)
        .household
        .hamlet_id
}

/// A T01 phone edits a household without pause while the admin moves it to T02: every edit
/// before the move is stored, then the phone is told the household is gone; at no moment does
/// it receive the move (or anything after it), and it is never cut off for racing it.
pub async fn a_move_racing_a_phone_reaches_none_of_it(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let id = DocumentId::random();
    let mut doc = doc_of("T01", "Số 9, xóm Bắc");
    let mut maker = SyncClient::connect(&url, w.token("phone"), "phone-t01-maker")
        .await
        .unwrap();
    maker.sync_document(&id, &mut doc).await.unwrap();

    let (started, mut going) = tokio::sync::mpsc::channel::<()>(1);
    let token = w.token("phone").to_owned();
    let racing = id.clone();
    let racer = tokio::spawn(async move {
        let id = racing;
        let mut phone = SyncClient::connect(&url, &token, "phone-t01-racer")
            .await
            .unwrap();
        let mut copy = phone.request_document(&id).await.unwrap();
        let mut acknowledged = None;
        for round in 0..5000 {
            put(&mut copy, "notes", &format!("lần {round}"));
            match phone.sync_document(&id, &mut copy).await {
                Ok(()) => acknowledged = Some(round),
                Err(ClientError::Unavailable(_)) => break,
                Err(e) => panic!(
                    "round {round}: a phone racing a move is told the household is gone, not {e}"
                ),
            }
            assert_eq!(
                hamlet_in(&copy).as_deref(),
                Some("T01"),
                "round {round}: the move reached the old hamlet's phone"
            );
            if round == 5 {
                let _ = started.try_send(());
            }
        }
        assert_eq!(
            hamlet_in(&copy).as_deref(),
            Some("T01"),
            "the move reached the old hamlet's phone with the refusal"
        );
        acknowledged
    });
    going.recv().await.expect("the racing phone syncs");
    let path = format!("/api/v1/households/{id}/move");
    let (status, body) = to_hamlet(&w, "admin", &path, "T02").await;
    assert_eq!(status, 200, "{body}");
    let acknowledged = tokio::time::timeout(std::time::Duration::from_secs(60), racer)
        .await
        .expect("the racing phone is told within a minute")
        .unwrap()
        .expect("edits were acknowledged before the move");

    // What the server holds: the move, and the racing phone's last acknowledged edit.
    let guard = w.app.state.documents.lock(&id).await.unwrap();
    let stored = guard.doc().clone();
    drop(guard);
    assert_eq!(hamlet_in(&stored).as_deref(), Some("T02"));
    let projection = w
        .app
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.household.hamlet_id.as_deref(), Some("T02"));
    let notes = automerge::ReadDoc::get(&stored, ROOT, "notes")
        .unwrap()
        .and_then(|(v, _)| v.as_str().map(str::to_owned));
    assert_eq!(
        notes,
        Some(format!("lần {acknowledged}")),
        "the last acknowledged edit is stored"
    );
    w.app.stop().await;
}

pub async fn new_households_from_outside_wait_for_the_admin(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let mut t01 = SyncClient::connect(&url, w.token("phone"), "phone-t01")
        .await
        .unwrap();
    // A T01 phone creates a household for T02: stored, quarantined, its sender syncs it.
    let id = DocumentId::random();
    let mut stray = doc_of("T02", "Số 8, xóm Tây");
    t01.sync_document(&id, &mut stray).await.unwrap();
    put(&mut stray, "notes", "thêm ghi chú");
    t01.sync_document(&id, &mut stray).await.unwrap();

    // Nobody else: not T02's phone, not T02's head, not the commune's staff.
    let t02_token = enrol(&w, "T02").await;
    let mut t02 = SyncClient::connect(&url, &t02_token, "phone-t02")
        .await
        .unwrap();
    assert!(matches!(
        t02.request_document(&id).await,
        Err(ClientError::Unavailable(_))
    ));
    let read = format!("/api/v1/households/{id}");
    for who in ["head2", "staff", "other"] {
        let (status, _) = w.call(who, Method::GET, &read, None).await;
        assert_eq!(status, 404, "{who}");
    }
    assert!(!listed(&w, "head2", "T02").await.contains(&id.to_string()));
    // The admin sees it in the quarantine, and releases it into T01.
    let (status, list) = w
        .call("admin", Method::GET, "/api/v1/quarantine", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["documentId"] == id.to_string())
        .cloned()
        .unwrap();
    assert_eq!(entry["hamletId"], "T02");
    assert!(
        entry["quarantinedBy"]
            .as_str()
            .unwrap()
            .starts_with("device:")
    );
    for who in ["head1", "staff", "phone"] {
        let (status, _) = w.call(who, Method::GET, "/api/v1/quarantine", None).await;
        assert_eq!(status, 403, "{who}");
    }
    let (_, other) = w
        .call("other", Method::GET, "/api/v1/quarantine", None)
        .await;
    assert!(!other.to_string().contains(&id.to_string()), "{other}");
    let release = format!("/api/v1/quarantine/{id}/release");
    let (status, _) = to_hamlet(&w, "other", &release, "T01").await;
    assert_eq!(status, 404, "another commune's admin");
    let (status, body) = to_hamlet(&w, "admin", &release, "T01").await;
    assert_eq!(status, 200, "{body}");
    assert!(listed(&w, "head1", "T01").await.contains(&id.to_string()));
    let (status, body) = w.call("head1", Method::GET, &read, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["projection"]["household"]["notes"], "thêm ghi chú");
    let (status, _) = to_hamlet(&w, "admin", &release, "T01").await;
    assert_eq!(status, 409, "released once");
    // The sending phone receives the hamlet it was put in.
    t01.receive_push(&id, &mut stray).await.unwrap();
    assert_eq!(
        sansang_shared::read::project(&stray, &stray.get_heads(), 2026)
            .household
            .hamlet_id
            .as_deref(),
        Some("T01")
    );
    w.app.stop().await;
}

pub async fn a_peer_id_stays_with_its_token(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let mut t01 = SyncClient::connect(&url, w.token("phone"), "phone-shared-id")
        .await
        .unwrap();
    let t02_token = enrol(&w, "T02").await;
    // Another phone joining with the same peer id is refused...
    match SyncClient::connect(&url, &t02_token, "phone-shared-id").await {
        Err(ClientError::Refused(message)) => assert!(message.contains("peer id"), "{message}"),
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("a second token took over the peer id"),
    }
    // ...and the first one keeps working.
    let id = DocumentId::random();
    let mut doc = doc_of("T01", "Số 1, xóm Bắc");
    t01.sync_document(&id, &mut doc).await.unwrap();
    // The same token reconnecting takes its peer id back (a phone whose socket dropped).
    let mut again = SyncClient::connect(&url, w.token("phone"), "phone-shared-id")
        .await
        .unwrap();
    again.request_document(&id).await.unwrap();
    w.app.stop().await;
}

/// Revoking a phone, or a person signing out, ends their open sockets at once: an idle socket
/// is told within a few seconds, long before its next ping (15 s), and is sent nothing more.
pub async fn revocation_ends_open_sockets_at_once(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let mut idle = SyncClient::connect(&url, w.token("phone"), "phone-idle")
        .await
        .unwrap();
    idle.set_wait(std::time::Duration::from_secs(5));
    let (_, devices) = w.call("head1", Method::GET, "/api/v1/devices", None).await;
    assert!(devices.to_string().contains(&w.phone_id), "{devices}");
    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            &format!("/api/v1/devices/{}/revoke", w.phone_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    match idle.recv().await {
        Err(ClientError::Refused(reason)) => assert_eq!(reason, "token revoked"),
        other => panic!("expected the revoked phone's socket to end, got {other:?}"),
    }
    // A person signing out: that session's socket ends; another person's goes on.
    let mut head = SyncClient::connect(&url, w.token("head1"), "head1-socket")
        .await
        .unwrap();
    head.set_wait(std::time::Duration::from_secs(5));
    let mut other = SyncClient::connect(&url, w.token("head2"), "head2-socket")
        .await
        .unwrap();
    let (status, _) = w
        .call("head1", Method::POST, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(status, 204);
    match head.recv().await {
        Err(ClientError::Refused(reason)) => assert_eq!(reason, "token revoked"),
        other => panic!("expected the signed-out socket to end, got {other:?}"),
    }
    other.request_document(&w.doc_t02).await.unwrap();
    w.app.stop().await;
}

/// Sends `changes` of document `id` on `client`'s socket as one sync message announcing `heads`
/// (changes whose dependencies are left out on purpose), and waits for the server's answer.
async fn send_changes(
    client: &mut SyncClient,
    peer: &str,
    id: &DocumentId,
    heads: Vec<automerge::ChangeHash>,
    changes: Vec<Vec<u8>>,
) {
    client
        .send(&Message::Sync {
            sender_id: peer.into(),
            target_id: client.server_peer_id.clone(),
            document_id: id.to_string(),
            data: automerge::sync::Message {
                heads,
                need: Vec::new(),
                have: Vec::new(),
                changes: changes.into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            }
            .encode(),
        })
        .await
        .unwrap();
    loop {
        match client.recv().await.unwrap() {
            Message::Sync { document_id, .. } if document_id == id.to_string() => return,
            _ => continue,
        }
    }
}

/// The server applies a phone's message to the document in memory itself: a message refused
/// after it was applied (a T01 phone moving the household to T02) leaves nothing of it there —
/// not in the copy, not pushed, not stored by the next write — while a change another phone
/// sent before, still waiting for the change it depends on, survives the refusal and is stored
/// once that change arrives.
pub async fn a_refused_message_leaves_nothing_behind(db: &TestDb) {
    let w = world(db).await;
    let url = w.sync_url();
    let id = DocumentId::random();
    let mut doc = doc_of("T01", "Số 5, xóm Nam");
    let mut keeper = SyncClient::connect(&url, w.token("phone"), "phone-t01-keeper")
        .await
        .unwrap();
    keeper.sync_document(&id, &mut doc).await.unwrap();

    // Two edits on the keeper's phone; the second is sent first, alone: it waits on the server.
    put(&mut doc, "notes", "một");
    let first = doc.get_last_local_change().unwrap().clone();
    put(&mut doc, "notes", "hai");
    let mut second = doc.get_last_local_change().unwrap().clone();
    let mut first_bytes = first.clone();
    send_changes(
        &mut keeper,
        "phone-t01-keeper",
        &id,
        doc.get_heads(),
        vec![second.bytes().to_vec()],
    )
    .await;
    let server_has = |hash: automerge::ChangeHash| {
        let documents = &w.app.state.documents;
        let id = id.clone();
        async move {
            documents
                .lock(&id)
                .await
                .unwrap()
                .doc()
                .get_change_by_hash(&hash)
                .is_some()
        }
    };
    assert!(!server_has(second.hash()).await, "the second edit waits");

    // Another T01 phone moves it to T02: applied, then refused by the gate.
    let mut hostile = SyncClient::connect(&url, w.token("phone"), "phone-t01-hostile")
        .await
        .unwrap();
    let mut theirs = hostile.request_document(&id).await.unwrap();
    put(&mut theirs, "hamletId", "T02");
    let moved = theirs.get_last_local_change().unwrap().hash();
    match hostile.sync_document(&id, &mut theirs).await {
        Err(ClientError::Refused(message)) => {
            assert!(message.contains("hamletId"), "{message}")
        }
        other => panic!("expected a refusal naming hamletId, got {other:?}"),
    }
    assert!(
        !server_has(moved).await,
        "the refused change is not in the copy"
    );

    // The first edit arrives: both edits are stored, the refused change is not.
    send_changes(
        &mut keeper,
        "phone-t01-keeper",
        &id,
        doc.get_heads(),
        vec![first_bytes.bytes().to_vec()],
    )
    .await;
    assert!(server_has(first.hash()).await);
    assert!(
        server_has(second.hash()).await,
        "the change that waited survived the refusal"
    );
    let projection = w
        .app
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.household.hamlet_id.as_deref(), Some("T01"));
    assert_eq!(projection.household.notes.as_deref(), Some("hai"));
    // What the database holds, read by a server that starts afresh, and what a third phone is
    // given, agree.
    let stored = w
        .app
        .state
        .storage
        .load_document(id.as_str())
        .await
        .unwrap()
        .unwrap();
    let hashes: Vec<String> = stored.changes.iter().map(|c| c.hash.clone()).collect();
    assert!(
        !hashes.contains(&moved.to_string()),
        "the refused change is not stored"
    );
    let mut third = SyncClient::connect(&url, w.token("phone"), "phone-t01-third")
        .await
        .unwrap();
    let given = third.request_document(&id).await.unwrap();
    assert!(
        given.get_change_by_hash(&moved).is_none(),
        "the refused change is not pushed"
    );
    assert_eq!(given.get_heads(), doc.get_heads());
    w.app.stop().await;
}
