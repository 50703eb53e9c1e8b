//! What one token's sync may cost is bounded, each limit a setting, each refusal naming it:
//! the bytes a message's changes hold once inflated, the size of a household document, the
//! messages of one token handled at once (the HTTP fallback and the sockets together), the
//! sockets of one token, the length of the strings a peer sends.

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ROOT};
use sansang_server::documents::DocumentId;
use sansang_server::sync::client::{ClientError, SyncClient};
use sansang_server::sync::wire::Message;
use sansang_shared::write;
use sansang_tests::db::TestDb;

use crate::fixture::{World, household_of, world_with};

fn doc_of(address: &str) -> Automerge {
    let h = household_of("T01", address, &[("m1", "Hà Văn Chín")]);
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &h).unwrap();
    doc.commit();
    doc.document().clone()
}

/// Notes of `bytes` bytes that compress to almost nothing.
fn with_notes(doc: &Automerge, bytes: usize) -> Automerge {
    let mut doc = doc.clone();
    let mut tx = doc.transaction();
    tx.put(ROOT, "notes", "a".repeat(bytes)).unwrap();
    tx.commit();
    doc
}

/// Rounds of the HTTP fallback as a phone makes them, with `doc`, until the server answers
/// other than `200`: that status and body (`204` when both sides are in sync).
pub async fn post_rounds(w: &World, id: &DocumentId, doc: &Automerge) -> (u16, serde_json::Value) {
    let mut doc = doc.clone();
    let mut state = automerge::sync::State::new();
    for _ in 0..6 {
        let Some(message) = doc.generate_sync_message(&mut state) else {
            return (204, serde_json::Value::Null);
        };
        let response = w
            .app
            .http
            .post(format!("{}/api/v1/sync/{id}", w.app.url))
            .bearer_auth(w.token("phone"))
            .body(message.encode())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            return (status, response.json().await.unwrap_or_default());
        }
        let reply = automerge::sync::Message::decode(&response.bytes().await.unwrap()).unwrap();
        doc.receive_sync_message(&mut state, reply).unwrap();
    }
    (200, serde_json::Value::Null)
}

/// Sends a change of `bytes` bytes of notes on `base` without the changes it depends on.
async fn send_orphan(
    client: &mut SyncClient,
    peer: &str,
    id: &DocumentId,
    base: &mut Automerge,
    n: usize,
    bytes: usize,
) {
    let mut tx = base.transaction();
    tx.put(ROOT, "notes", format!("{n}").repeat(bytes)).unwrap();
    tx.commit();
    let mut last = base.get_last_local_change().unwrap().clone();
    client
        .send(&Message::Sync {
            sender_id: peer.into(),
            target_id: client.server_peer_id.clone(),
            document_id: id.to_string(),
            data: automerge::sync::Message {
                heads: base.get_heads(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![last.bytes().to_vec()].into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            }
            .encode(),
        })
        .await
        .unwrap();
}

/// Reads until the server refuses, and checks the refusal says each of `words`.
async fn assert_refused(client: &mut SyncClient, words: &[&str]) {
    let refusal = loop {
        match client.recv().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    match refusal {
        ClientError::Refused(message) => {
            assert!(words.iter().all(|w| message.contains(w)), "{message}")
        }
        other => panic!("expected a refusal saying {words:?}, got {other:?}"),
    }
}

pub async fn sync_costs_are_bounded_per_token(db: &TestDb) {
    let w = world_with(db, |c| {
        c.sync_held_bytes_per_connection = 100 << 10;
        c.max_held_changes = 2;
        c.sync_documents_per_connection = 3;
        c.max_document_bytes = 64 << 10;
        c.sync_message_max_bytes = 1 << 20;
        c.sync_connections_per_token = 2;
        c.sync_inflight_messages_per_token = 1;
    })
    .await;
    let url = w.sync_url();
    let mut phone = SyncClient::connect(&url, w.token("phone"), "phone-1")
        .await
        .unwrap();
    let id = DocumentId::random();
    let doc = doc_of("Số 2, xóm Giữa");
    let mut synced = doc.clone();
    phone.sync_document(&id, &mut synced).await.unwrap();
    let heads = || async {
        w.app
            .state
            .documents
            .lock(&id)
            .await
            .unwrap()
            .doc()
            .get_heads()
    };
    let stored = heads().await;

    // A change that makes the household 200 KB: refused, naming the limit, nothing stored.
    let mut big = with_notes(&synced, 200 << 10);
    match phone.sync_document(&id, &mut big).await {
        Err(ClientError::Refused(message)) => {
            assert!(message.contains("max_document_bytes"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(heads().await, stored);
    // Changes holding 2 MB in one message (a few KB on the wire): refused before they are
    // applied, over the fallback as over the socket.
    let huge = with_notes(&synced, 2 << 20);
    let (status, body) = post_rounds(&w, &id, &huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "too-large");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("sync_message_max_bytes"),
        "{body}"
    );
    let (status, body) = post_rounds(&w, &id, &with_notes(&synced, 200 << 10)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_document_bytes"),
        "{body}"
    );
    assert_eq!(heads().await, stored);

    // Messages of one token at once over the fallback: one handled at a time, the others told to
    // come back; none lost, and the phone's socket still works.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let http = w.app.http.clone();
        let token = w.token("phone").to_owned();
        let url = w.app.url.clone();
        // The whole new household in one message, as a phone that knows the server lacks it.
        let message = {
            let doc = with_notes(&doc_of(&format!("Số {i}")), 40 << 10);
            automerge::sync::Message {
                heads: doc.get_heads(),
                need: Vec::new(),
                have: Vec::new(),
                changes: doc
                    .get_changes(&[])
                    .into_iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect::<Vec<_>>()
                    .into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            }
            .encode()
        };
        set.spawn(async move {
            let response = http
                .post(format!("{url}/api/v1/sync/{}", DocumentId::random()))
                .bearer_auth(token)
                .body(message)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().contains_key("retry-after");
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (
                status,
                retry,
                body["code"].as_str().unwrap_or("").to_owned(),
            )
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = set.join_next().await {
        answers.push(answer.unwrap());
    }
    assert!(
        answers.iter().all(|(s, retry, code)| *s == 200
            || *s == 204
            || (*s == 429 && *retry && code == "sync-busy")),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(s, _, _)| *s == 429),
        "one message of the token at a time: {answers:?}"
    );

    // Changes whose dependencies never come wait inside the document, within its bound: two of
    // 40 KB are more than the 64 KiB allowed, and the second is refused, naming the limit.
    let mut orphans = SyncClient::connect(&url, w.token("phone"), "phone-orphans")
        .await
        .unwrap();
    let orphan_id = DocumentId::random();
    let mut base = doc_of("Số 5, xóm Cuối");
    for n in 0..2 {
        send_orphan(
            &mut orphans,
            "phone-orphans",
            &orphan_id,
            &mut base,
            n,
            40 << 10,
        )
        .await;
    }
    assert_refused(
        &mut orphans,
        &["missing dependencies", "max_document_bytes"],
    )
    .await;
    drop(orphans);
    // And over the documents of one socket: three of 40 KB each are more than its 100 KiB.
    let mut spread = SyncClient::connect(&url, w.token("phone"), "phone-spread")
        .await
        .unwrap();
    for n in 0..3 {
        let mut base = doc_of(&format!("Số {n}, xóm Rải"));
        send_orphan(
            &mut spread,
            "phone-spread",
            &DocumentId::random(),
            &mut base,
            n,
            40 << 10,
        )
        .await;
    }
    assert_refused(&mut spread, &["sync_held_bytes_per_connection"]).await;
    drop(spread);
    // And in number: three small ones on one document are more than the two allowed.
    let mut many = SyncClient::connect(&url, w.token("phone"), "phone-many")
        .await
        .unwrap();
    let (many_id, mut base) = (DocumentId::random(), doc_of("Số 6, xóm Đếm"));
    for n in 0..3 {
        send_orphan(&mut many, "phone-many", &many_id, &mut base, n, 10).await;
    }
    assert_refused(&mut many, &["max_held_changes"]).await;
    drop(many);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Documents of one socket: three, and a fourth is answered unavailable.
    let mut docs = SyncClient::connect(&url, w.token("phone"), "phone-docs")
        .await
        .unwrap();
    for n in 0..3 {
        let mut doc = doc_of(&format!("Số {n}, xóm Nhiều"));
        docs.sync_document(&DocumentId::random(), &mut doc)
            .await
            .unwrap();
    }
    let mut fourth = doc_of("Số 4, xóm Nhiều");
    assert!(matches!(
        docs.sync_document(&DocumentId::random(), &mut fourth).await,
        Err(ClientError::Unavailable(_))
    ));
    drop(docs);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Sockets of one token: two at most (the first was closed by the refusals above); another
    // token still connects.
    let mut second = SyncClient::connect(&url, w.token("phone"), "phone-2")
        .await
        .unwrap();
    let _third = SyncClient::connect(&url, w.token("phone"), "phone-3")
        .await
        .unwrap();
    match SyncClient::connect(&url, w.token("phone"), "phone-4").await {
        Err(ClientError::Refused(message)) => {
            assert!(message.contains("sync_connections_per_token"), "{message}")
        }
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("a third socket of one token was taken"),
    }
    SyncClient::connect(&url, w.token("head1"), "head1-laptop")
        .await
        .unwrap();

    // Strings a peer sends have lengths: a session id of 5,000 bytes is refused, naming it.
    second
        .send(&Message::Ephemeral {
            sender_id: "phone-2".into(),
            target_id: second.server_peer_id.clone(),
            document_id: id.to_string(),
            count: 1,
            session_id: "s".repeat(5000),
            data: vec![0xa0],
        })
        .await
        .unwrap();
    match second.recv().await {
        Err(ClientError::Refused(message)) => {
            assert!(message.contains("sessionId"), "{message}")
        }
        other => panic!("expected a refusal naming sessionId, got {other:?}"),
    }
    w.app.stop().await;
}

/// A socket forgets its sync state for a document it has not touched for
/// `sync_state_idle_seconds` (memory does not grow with households × phones), and keeps
/// following it: another phone's edit is still pushed, starting again from the heads (the
/// protocol's signal of a peer that starts afresh), and both copies converge.
pub async fn idle_sync_states_start_again(db: &TestDb) {
    let w = world_with(db, |c| {
        c.sync_ping_interval_seconds = 1;
        c.sync_state_idle_seconds = 1;
    })
    .await;
    let url = w.sync_url();
    let mut phone = SyncClient::connect(&url, w.token("phone"), "phone-idle")
        .await
        .unwrap();
    let id = DocumentId::random();
    let mut ours = doc_of("Số 4, xóm Đông");
    phone.sync_document(&id, &mut ours).await.unwrap();

    // Idle over two sweeps, reading (so the pings are answered): nothing arrives.
    let idle = tokio::time::timeout(std::time::Duration::from_millis(3500), phone.recv()).await;
    assert!(idle.is_err(), "nothing is sent to an idle phone: {idle:?}");

    let mut other = SyncClient::connect(&url, w.token("phone"), "phone-other")
        .await
        .unwrap();
    let theirs = other.request_document(&id).await.unwrap();
    let mut theirs = with_notes(&theirs, 12);
    other.sync_document(&id, &mut theirs).await.unwrap();

    let pushed = loop {
        match phone.recv().await.unwrap() {
            Message::Sync {
                document_id, data, ..
            } if document_id == id.to_string() => {
                break automerge::sync::Message::decode(&data).unwrap();
            }
            _ => continue,
        }
    };
    assert!(
        pushed.have.first().is_some_and(|h| h.last_sync.is_empty()),
        "the push starts from nothing known of the peer: {:?}",
        pushed.have
    );
    ours.receive_sync_message(phone.state_mut(&id), pushed)
        .unwrap();
    phone.sync_document(&id, &mut ours).await.unwrap();
    let heads = |d: &Automerge| {
        let mut h = d.get_heads();
        h.sort();
        h
    };
    assert_eq!(heads(&ours), heads(&theirs), "the idle phone has the edit");

    // And what the idle phone writes next is stored.
    let mut ours = with_notes(&ours, 20);
    phone.sync_document(&id, &mut ours).await.unwrap();
    let stored = w.app.state.documents.lock(&id).await.unwrap().doc().clone();
    assert_eq!(heads(&stored), heads(&ours));
    w.app.stop().await;
}
