//! The sync stories, each against a fresh server and database.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ROOT, ReadDoc};
use sansang_server::documents::DocumentId;
use sansang_server::sync::client::{ClientError, SyncClient};
use sansang_server::sync::wire::{self, Message};
use sansang_shared::model::{Consent, Relation, Vneid};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use sansang_tests::db::TestDb;

use crate::fixture::{World, world};

const HEAD: &str = "7a3c0d1e-5b6f-4a8b-9c0d-1e2f3a4b5c6d";

fn sync_url(w: &World) -> String {
    format!("ws://{}/api/v1/sync", w.app.addr)
}

async fn phone(w: &World, peer: &str) -> SyncClient {
    SyncClient::connect(&sync_url(w), w.token("phone"), peer)
        .await
        .unwrap()
}

/// A household of `hamlet` as a phone writes it.
fn household(hamlet: &str, actor: &[u8]) -> Automerge {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some(hamlet.into()),
        address: Some("Số 9, xóm Trại".into()),
        consent: Some(Consent {
            given: Some(true),
            ..Consent::default()
        }),
        ..Household::default()
    };
    h.members.insert(
        HEAD.into(),
        Member {
            full_name: Some("Lương Văn Bảy".into()),
            birth_year: Some(1969),
            relation: Some(Relation::Head),
            vneid: Some(Vneid::Level1),
            ..Member::default()
        },
    );
    let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
    write::household(&mut doc, &h).unwrap();
    doc.commit();
    doc.document().clone()
}

/// The projection the server stored for `id`.
async fn stored_projection(w: &World, id: &DocumentId) -> sansang_shared::Projection {
    let storage = &w.app.state.storage;
    storage.get_projection(id.as_str()).await.unwrap().unwrap()
}

fn set_vneid(doc: &mut Automerge, value: &str) {
    let mut tx = doc.transaction();
    let (_, members) = tx.get(ROOT, "members").unwrap().unwrap();
    let (_, head) = tx.get(&members, HEAD).unwrap().unwrap();
    tx.put(&head, "vneid", value).unwrap();
    tx.commit();
}

pub async fn phones_store_and_fetch_documents(db: &TestDb) {
    let w = world(db).await;
    let mut a = phone(&w, "phone-a").await;
    assert!(a.server_peer_id.starts_with("sansang-"));
    assert_eq!(a.server_metadata.is_ephemeral, Some(false));
    let storage_id = a.server_metadata.storage_id.clone().unwrap();

    let id = DocumentId::random();
    let mut doc = household("T01", b"phone-a");
    a.sync_document(&id, &mut doc).await.unwrap();
    // Acknowledged means stored: the database has exactly the phone's heads.
    let stored = stored_projection(&w, &id).await;
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    assert_eq!(stored.heads, heads);
    assert_eq!(
        stored.household.members[HEAD].full_name.as_deref(),
        Some("Lương Văn Bảy")
    );

    // Another phone of the hamlet fetches it.
    let mut b = phone(&w, "phone-b").await;
    assert_eq!(
        b.server_metadata.storage_id.as_deref(),
        Some(storage_id.as_str()),
        "stable storage id"
    );
    let fetched = b.request_document(&id).await.unwrap();
    assert_eq!(fetched.get_heads(), doc.get_heads());

    // A later edit reaches the server, and the other phone gets it pushed.
    set_vneid(&mut doc, "level2");
    a.sync_document(&id, &mut doc).await.unwrap();
    let mut copy = fetched;
    b.receive_push(&id, &mut copy).await.unwrap();
    assert_eq!(copy.get_heads(), doc.get_heads());
    let projection = stored_projection(&w, &id).await;
    assert_eq!(
        projection.household.members[HEAD].vneid,
        Some(Vneid::Level2)
    );
    let audited = w
        .app
        .state
        .storage
        .list_audit(&sansang_server::storage::AuditFilter {
            document_id: Some(id.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audited
            .iter()
            .filter(|e| e.action == "document.change")
            .count()
            >= 2
    );
    w.app.stop().await;
}

pub async fn concurrent_edits_merge_and_show_the_conflict(db: &TestDb) {
    let w = world(db).await;
    let id = DocumentId::random();
    let mut doc_a = household("T01", b"phone-a");
    let mut a = phone(&w, "phone-a").await;
    a.sync_document(&id, &mut doc_a).await.unwrap();
    let mut b = phone(&w, "phone-b").await;
    let mut doc_b = b.request_document(&id).await.unwrap();

    // Offline, each volunteer records a different VNeID level for the same person.
    set_vneid(&mut doc_a, "level2");
    set_vneid(&mut doc_b, "none");
    drop(a);
    drop(b);
    let mut a = phone(&w, "phone-a2").await;
    a.sync_document(&id, &mut doc_a).await.unwrap();
    let mut b = phone(&w, "phone-b2").await;
    b.sync_document(&id, &mut doc_b).await.unwrap();
    a.receive_push(&id, &mut doc_a).await.unwrap();
    assert_eq!(doc_a.get_heads(), doc_b.get_heads(), "both phones converge");

    let projection = stored_projection(&w, &id).await;
    assert_eq!(projection.conflicts.len(), 1, "{:?}", projection.conflicts);
    let mut values: Vec<&str> = projection.conflicts[0]
        .values
        .iter()
        .map(|v| v.value.as_str().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, ["level2", "none"]);
    w.app.stop().await;
}

pub async fn documents_stay_inside_the_callers_hamlets(db: &TestDb) {
    let w = world(db).await;
    // T02's household, known to the server, is as unavailable to a T01 phone as an unknown one.
    let mut t01 = phone(&w, "phone-t01").await;
    for id in [w.doc_t02.clone(), w.doc_other.clone(), DocumentId::random()] {
        match t01.request_document(&id).await {
            Err(ClientError::Unavailable(got)) => assert_eq!(got, id.to_string()),
            other => panic!(
                "{id}: expected unavailable, got {:?}",
                other.map(|d| d.get_heads())
            ),
        }
    }
    // A T01 phone writing a T02 household: stored, quarantined, in no list.
    let id = DocumentId::random();
    let mut stray = household("T02", b"phone-t01");
    t01.sync_document(&id, &mut stray).await.unwrap();
    let scope = w
        .app
        .state
        .storage
        .document_scope(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert!(scope.quarantined);
    let listed = w
        .app
        .state
        .storage
        .list_households("10846", Some("T02"))
        .await
        .unwrap();
    assert!(listed.iter().all(|h| h.document_id != id.as_str()));
    // The phone that made it may go on syncing it; nothing is lost.
    set_vneid(&mut stray, "level2");
    t01.sync_document(&id, &mut stray).await.unwrap();
    let stored = stored_projection(&w, &id).await;
    assert_eq!(stored.household.members[HEAD].vneid, Some(Vneid::Level2));
    // The hamlet head of T01 may sync T01's household with their own session.
    let mut head = SyncClient::connect(&sync_url(&w), w.token("head1"), "head1-phone")
        .await
        .unwrap();
    head.request_document(&w.doc_t01).await.unwrap();
    // Commune staff read but do not change: the socket does not share documents with them.
    let mut staff = SyncClient::connect(&sync_url(&w), w.token("staff"), "staff-laptop")
        .await
        .unwrap();
    assert!(matches!(
        staff.request_document(&w.doc_t01).await,
        Err(ClientError::Unavailable(_))
    ));
    w.app.stop().await;
}

pub async fn bad_input_is_refused_and_harms_nobody(db: &TestDb) {
    let w = world(db).await;
    let id = DocumentId::random();
    let mut doc = household("T01", b"phone-a");
    let mut good = phone(&w, "phone-good").await;
    good.sync_document(&id, &mut doc).await.unwrap();

    // A peer that will not share a document says so; the socket stays open.
    let unavailable = Message::DocUnavailable {
        sender_id: "phone-good".into(),
        target_id: good.server_peer_id.clone(),
        document_id: id.to_string(),
    };
    good.send(&unavailable).await.unwrap();

    // An invalid document id is refused for that message only.
    let mut c = phone(&w, "phone-c").await;
    c.send(&Message::Request {
        sender_id: "phone-c".into(),
        target_id: c.server_peer_id.clone(),
        document_id: "../../etc/passwd".into(),
        data: vec![0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84],
    })
    .await
    .unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        Message::DocUnavailable { .. }
    ));

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xff\x00 not cbor".to_vec()),
        (
            "corrupt sync data",
            wire::encode(&Message::Sync {
                sender_id: "phone-bad".into(),
                target_id: "x".into(),
                document_id: id.to_string(),
                data: vec![0x42, 0xff, 0xff, 0xff],
            }),
        ),
        (
            // Fuzzing's 30-byte bundle chunk that made Automerge reserve gigabytes and abort
            // the server: now screened out before Automerge sees it.
            "a change that exhausts the decoder",
            wire::encode(&Message::Sync {
                sender_id: "phone-bad".into(),
                target_id: "x".into(),
                document_id: id.to_string(),
                data: automerge::sync::Message {
                    heads: Vec::new(),
                    need: Vec::new(),
                    have: Vec::new(),
                    changes: vec![
                        include_bytes!(
                            "../../../fuzz/corpus/household_document/regression-bundle-oom"
                        )
                        .to_vec(),
                    ]
                    .into(),
                    flags: None,
                    version: automerge::sync::MessageVersion::V1,
                }
                .encode(),
            }),
        ),
        (
            "another peer's id",
            wire::encode(&Message::Sync {
                sender_id: "someone-else".into(),
                target_id: "x".into(),
                document_id: id.to_string(),
                data: vec![0x42],
            }),
        ),
    ];
    for (what, bytes) in cases {
        let mut bad = phone(&w, "phone-bad").await;
        bad.send_raw(bytes).await.unwrap();
        match bad.recv().await {
            Err(ClientError::Refused(reason)) => {
                assert!(!reason.is_empty(), "{what}");
                if what.contains("exhausts") {
                    assert!(reason.contains("bundle"), "{what}: {reason}");
                }
            }
            other => panic!("{what}: expected an error and close, got {other:?}"),
        }
        assert!(
            matches!(bad.recv().await, Err(ClientError::Closed)),
            "{what}: closed after the error"
        );
    }
    // The well-behaved phone is unaffected, and the document is intact.
    set_vneid(&mut doc, "registered");
    good.sync_document(&id, &mut doc).await.unwrap();
    let stored = stored_projection(&w, &id).await;
    assert_eq!(
        stored.household.members[HEAD].vneid,
        Some(Vneid::Registered)
    );
    w.app.stop().await;
}

pub async fn revoked_and_unknown_tokens_are_cut_off(db: &TestDb) {
    let w = world(db).await;
    let url = sync_url(&w);
    match SyncClient::connect(&url, "sd_not-a-token", "p").await {
        Err(ClientError::Refused(reason)) => {
            assert!(reason.contains("unauthenticated"), "{reason}")
        }
        other => panic!("expected refusal, got {:?}", other.map(|c| c.peer_id)),
    }
    let mut client = phone(&w, "phone-r").await;
    let id = DocumentId::random();
    let mut doc = household("T01", b"phone-r");
    client.sync_document(&id, &mut doc).await.unwrap();
    w.app
        .state
        .storage
        .revoke_device(&w.phone_id, sansang_server::now_millis())
        .await
        .unwrap();
    set_vneid(&mut doc, "level2");
    match client.sync_document(&id, &mut doc).await {
        Err(ClientError::Refused(reason)) => assert_eq!(reason, "token revoked"),
        other => panic!("expected the revoked phone to be cut off, got {other:?}"),
    }
    let stored = stored_projection(&w, &id).await;
    assert_eq!(
        stored.household.members[HEAD].vneid,
        Some(Vneid::Level1),
        "nothing after revocation"
    );
    // A second join with a peer id in use replaces the older socket.
    let (first_url, token) = (url.clone(), w.token("head1").to_owned());
    let mut first = SyncClient::connect(&first_url, &token, "same-peer")
        .await
        .unwrap();
    let _second = SyncClient::connect(&url, &token, "same-peer")
        .await
        .unwrap();
    assert!(matches!(first.recv().await, Err(ClientError::Closed)));
    w.app.stop().await;
}

/// One exchange over the HTTP fallback; `None` when the server has nothing to say (204).
async fn post_sync(
    w: &World,
    token: &str,
    id: &DocumentId,
    message: Vec<u8>,
    request: bool,
) -> (u16, Option<Vec<u8>>) {
    let response = w
        .app
        .http
        .post(format!("{}/api/v1/sync/{id}?request={request}", w.app.url))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(message)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, (status == 200).then(|| body.to_vec()))
}

/// Syncs over HTTP until the server holds our heads; returns how many round trips it took.
async fn sync_over_http(
    w: &World,
    token: &str,
    id: &DocumentId,
    doc: &mut Automerge,
    request: bool,
) -> usize {
    use automerge::sync::{Message as SyncMessage, State, SyncDoc};
    // The client keeps its sync state; the server starts afresh with every request.
    let mut state = State::new();
    for round in 1..=10 {
        let Some(message) = doc.generate_sync_message(&mut state) else {
            return round;
        };
        let (status, reply) = post_sync(w, token, id, message.encode(), request).await;
        assert!(status == 200 || status == 204, "status {status}");
        if let Some(reply) = reply {
            doc.receive_sync_message(&mut state, SyncMessage::decode(&reply).unwrap())
                .unwrap();
        }
        let mut ours = doc.get_heads();
        ours.sort();
        let stored = w
            .app
            .state
            .storage
            .get_projection(id.as_str())
            .await
            .unwrap();
        let mut theirs: Vec<String> = stored.map(|p| p.heads).unwrap_or_default();
        theirs.sort();
        let ours: Vec<String> = ours.iter().map(|h| h.to_string()).collect();
        if !ours.is_empty() && ours == theirs {
            return round;
        }
    }
    panic!("HTTP sync did not settle in 10 round trips");
}

pub async fn the_http_fallback_syncs_like_the_socket(db: &TestDb) {
    let w = world(db).await;
    let token = w.token("phone").to_owned();
    let id = DocumentId::random();
    let mut doc = household("T01", b"phone-http");
    let rounds = sync_over_http(&w, &token, &id, &mut doc, false).await;
    assert!(rounds <= 3, "{rounds} round trips");
    let stored = stored_projection(&w, &id).await;
    assert_eq!(
        stored.household.members[HEAD].full_name.as_deref(),
        Some("Lương Văn Bảy")
    );

    // A socket client sees what came over HTTP.
    let mut socket = phone(&w, "phone-socket").await;
    let fetched = socket.request_document(&id).await.unwrap();
    assert_eq!(fetched.get_heads(), doc.get_heads());

    // Same access rules and bad input refused with a code.
    let empty = Automerge::new();
    let first = {
        use automerge::sync::{State, SyncDoc};
        empty
            .generate_sync_message(&mut State::new())
            .unwrap()
            .encode()
    };
    assert_eq!(
        post_sync(&w, &token, &w.doc_t02, first.clone(), true)
            .await
            .0,
        404
    );
    assert_eq!(
        post_sync(&w, &token, &DocumentId::random(), first.clone(), true)
            .await
            .0,
        404
    );
    assert_eq!(
        post_sync(&w, &token, &id, vec![0x42, 0xff, 0x00], false)
            .await
            .0,
        400
    );
    assert_eq!(post_sync(&w, "sd_wrong", &id, first, false).await.0, 401);
    w.app.stop().await;
}
