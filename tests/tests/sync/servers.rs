//! Several servers over one database. On PostgreSQL, two servers behind no proxy at all, a
//! phone on each editing one household: every acknowledged edit is kept, whichever server
//! compacts. On SQLite, a second server on the same file is refused at start.

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc};
use sansang_server::app::{App, AppState};
use sansang_server::config::{Config, Secret};
use sansang_server::documents::DocumentId;
use sansang_server::storage::Storage;
use sansang_server::sync::client::SyncClient;
use sansang_server::sync::wire::Message;
use sansang_tests::app::TestApp;
use sansang_tests::db::{TestBackend, TestDb};

use crate::fixture::{World, document_of, household_of, world_with};

/// Compaction after every four changes, so both servers compact while the phones edit.
fn compact_often(config: &mut Config) {
    config.compact_after_changes = 4;
}

/// One edit by `doc`'s actor, as a phone makes it: the notes and a key of its own.
fn edit(doc: &mut Automerge, key: &str) -> ChangeHash {
    let mut tx = doc.transaction();
    tx.put(ROOT, "notes", key).unwrap();
    tx.put(ROOT, key, true).unwrap();
    tx.commit();
    doc.get_heads()[0]
}

pub async fn several_servers_share_one_database(db: &TestDb) {
    match db.backend {
        TestBackend::Sqlite => a_second_server_on_a_sqlite_file_is_refused(db).await,
        TestBackend::Postgres => two_servers_keep_every_acknowledged_edit(db).await,
    }
}

async fn a_second_server_on_a_sqlite_file_is_refused(db: &TestDb) {
    let w = world_with(db, compact_often).await;
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        data_dir: data_dir.path().to_owned(),
        database_url: Some(Secret::new(db.url.clone())),
        ..Config::default()
    };
    let state = AppState::open(config.clone()).await.unwrap();
    let Err(refused) = App::bind(state).await else {
        panic!("a second server started on the SQLite file of a running one");
    };
    let message = format!("{refused:#}");
    assert!(
        message.contains("another sansang server") && message.contains("PostgreSQL"),
        "the refusal says why and what to use instead: {message}"
    );
    // Once the first one stops, the file is free again.
    w.app.stop().await;
    let state = AppState::open(config).await.unwrap();
    let app = App::bind(state).await.expect("the only server on the file");
    drop(app);
}

async fn phone_on(app: &TestApp, w: &World, peer: &str) -> SyncClient {
    SyncClient::connect(
        &format!("ws://{}/api/v1/sync", app.addr),
        w.token("phone"),
        peer,
    )
    .await
    .unwrap()
}

/// The scenario of the multi-server issue: phone 1 on server A creates a household, phone 2 on
/// server B makes ten acknowledged edits, phone 1 ten more through A; a fresh server on the
/// database holds all twenty, and so do both phones.
async fn two_servers_keep_every_acknowledged_edit(db: &TestDb) {
    let w = world_with(db, compact_often).await;
    let b = TestApp::spawn_with(db, compact_often).await;
    let id = DocumentId::random();
    let mut one = {
        let mut doc = document_of(&household_of(
            "T01",
            "Số 2, xóm Đông",
            &[("m1", "Lê Văn Một")],
        ));
        doc.set_actor(ActorId::from(b"phone-one".as_slice()));
        doc.document().clone()
    };
    let mut phone1 = phone_on(&w.app, &w, "phone-one").await;
    phone1.sync_document(&id, &mut one).await.unwrap();

    let mut phone2 = phone_on(&b, &w, "phone-two").await;
    let mut two = phone2.request_document(&id).await.unwrap();
    two.set_actor(ActorId::from(b"phone-two".as_slice()));
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        acknowledged.push(edit(&mut two, &format!("b{i}")));
        phone2.sync_document(&id, &mut two).await.unwrap();
    }
    for i in 0..10 {
        acknowledged.push(edit(&mut one, &format!("a{i}")));
        phone1.sync_document(&id, &mut one).await.unwrap();
    }
    // Phone 1 wrote through a server whose copy was behind: it got phone 2's edits back.
    for i in 0..10 {
        assert!(
            one.get(ROOT, format!("b{i}")).unwrap().is_some(),
            "phone 1 lacks b{i}"
        );
    }

    // Phone 2 hears phone 1's edits from server B, which heard of them from server A.
    until_it_has(&mut phone2, &id, &mut two, "a9").await;
    for i in 0..10 {
        assert!(
            two.get(ROOT, format!("a{i}")).unwrap().is_some(),
            "phone 2 lacks a{i}"
        );
    }
    assert!(metric(&w.app, "sansang_notices_sent_total").await > 0.0);
    assert!(metric(&b, "sansang_notices_received_total").await > 0.0);
    for app in [&w.app, &b] {
        let health: serde_json::Value = app.get("/healthz").await.json().await.unwrap();
        assert_eq!(health["listener"], "listening", "{health}");
    }
    let a_id = w
        .app
        .get("/healthz")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["instance"]
        .clone();
    let b_id = b
        .get("/healthz")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["instance"]
        .clone();
    assert_ne!(a_id, b_id, "each server has its own instance id");

    // Presence (an ephemeral message) crosses too: phone 1's, sent to A, reaches phone 2 on B.
    phone1
        .send(&Message::Ephemeral {
            sender_id: "phone-one".into(),
            target_id: phone1.server_peer_id.clone(),
            document_id: id.to_string(),
            count: 1,
            session_id: "session-one".into(),
            data: vec![0xa1, 0x61, 0x70, 0x01],
        })
        .await
        .unwrap();
    let relayed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match phone2.recv().await.unwrap() {
                Message::Ephemeral {
                    sender_id,
                    target_id,
                    session_id,
                    data,
                    ..
                } => break (sender_id, target_id, session_id, data),
                // Sync messages meanwhile are taken in, as the client would.
                Message::Sync {
                    document_id, data, ..
                } if document_id == id.as_str() => {
                    let message = automerge::sync::Message::decode(&data).unwrap();
                    two.receive_sync_message(phone2.state_mut(&id), message)
                        .unwrap();
                }
                _ => {}
            }
        }
    })
    .await
    .expect("phone 1's presence never reached phone 2 on the other server");
    assert_eq!(
        relayed,
        (
            "phone-one".to_owned(),
            "phone-two".to_owned(),
            "session-one".to_owned(),
            vec![0xa1, 0x61, 0x70, 0x01]
        )
    );

    // The listening connections die (a database restart, a proxy's idle cut): both servers
    // listen again, and edits go on reaching the other server's phones.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cut, 2, "one listener per server");
    for app in [&w.app, &b] {
        let mut tries = 0;
        loop {
            let health: serde_json::Value = app.get("/healthz").await.json().await.unwrap();
            let back: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity
                 where datname = current_database() and query ilike 'listen%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if health["listener"] == "listening" && back == 2 {
                break;
            }
            tries += 1;
            assert!(tries < 100, "not listening again: {health}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    pool.close().await;
    acknowledged.push(edit(&mut one, "after-the-cut"));
    phone1.sync_document(&id, &mut one).await.unwrap();
    until_it_has(&mut phone2, &id, &mut two, "after-the-cut").await;

    // What the database holds, read by a server that never saw either phone.
    let c = TestApp::spawn_with(db, compact_often).await;
    let mut phone3 = phone_on(&c, &w, "phone-three").await;
    let fresh = phone3.request_document(&id).await.unwrap();
    let missing: Vec<String> = acknowledged
        .iter()
        .filter(|h| fresh.get_change_by_hash(h).is_none())
        .map(ToString::to_string)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged edits lost: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    let mut heads = fresh.get_heads();
    heads.sort();
    let mut expected = one.get_heads();
    expected.sort();
    assert_eq!(heads, expected, "the database holds what phone 1 holds");
    let projection = c
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.household.notes.as_deref(), Some("after-the-cut"));
    let stored = c
        .state
        .storage
        .load_document(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.snapshot.is_some() && stored.changes.len() < 4,
        "compacted as the edits came: {} changes in the log",
        stored.changes.len()
    );
    assert!(
        metric(&w.app, "sansang_document_catch_ups_total").await > 0.0,
        "server A caught up with server B's changes"
    );
    c.stop().await;
    b.stop().await;
    w.app.stop().await;
}

/// Waits (10 s at most) for the server to push `key` to `phone`'s copy.
async fn until_it_has(phone: &mut SyncClient, id: &DocumentId, doc: &mut Automerge, key: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while doc.get(ROOT, key).unwrap().is_none() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::timeout(left, phone.receive_push(id, doc))
            .await
            .unwrap_or_else(|_| panic!("{key} never reached the phone on the other server"))
            .unwrap();
    }
}

/// The value of an unlabelled metric of `app`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// Budgets allowing two sockets per token, the servers counted every second.
fn two_sockets(config: &mut Config) {
    config.sync_connections_per_token = 2;
    config.servers_count_seconds = 1;
}

/// Waits (10 s at most) until `app` counts `n` servers over its database.
async fn until_servers(app: &TestApp, n: u64) {
    for _ in 0..100 {
        let health: serde_json::Value = app.get("/healthz").await.json().await.unwrap();
        if health["servers"] == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} never counted {n} servers", app.url);
}

/// Per-token sync budgets hold across servers: each of N servers gives a token its share, so
/// a phone spread over all of them by a load balancer gets no more than from one. Here the
/// sockets a token may hold: two in all, one on each of two servers, both again on the one left.
pub async fn the_servers_share_each_tokens_budget(db: &TestDb) {
    let w = world_with(db, two_sockets).await;
    until_servers(&w.app, 1).await;
    if db.backend == TestBackend::Sqlite {
        // One server: the whole budget.
        let _a = phone_on(&w.app, &w, "p-1").await;
        let _b = phone_on(&w.app, &w, "p-2").await;
        w.app.stop().await;
        return;
    }
    let b = TestApp::spawn_with(db, two_sockets).await;
    until_servers(&w.app, 2).await;
    until_servers(&b, 2).await;
    let on_a = phone_on(&w.app, &w, "p-1").await;
    let refused = SyncClient::connect(
        &format!("ws://{}/api/v1/sync", w.app.addr),
        w.token("phone"),
        "p-2",
    )
    .await;
    match refused {
        Err(sansang_server::sync::client::ClientError::Refused(message)) => {
            assert!(message.contains("sync_connections_per_token"), "{message}");
        }
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("server A gave the token both sockets while B serves too"),
    }
    let on_b = phone_on(&b, &w, "p-2").await;
    // B stops: A alone again gives the whole budget.
    drop(on_b);
    b.stop().await;
    until_servers(&w.app, 1).await;
    let _second_on_a = phone_on(&w.app, &w, "p-3").await;
    drop(on_a);
    w.app.stop().await;
}

/// A rolling upgrade: while a server of older projection rules still serves the database it may
/// overwrite projections the new server wrote; once it is gone, the new server writes them all
/// again, so none written by the older rules is left behind.
pub async fn a_rolling_upgrade_leaves_no_older_projection(db: &TestDb) {
    if db.backend == TestBackend::Sqlite {
        // One server per SQLite file: an upgrade stops the old one first.
        return;
    }
    let w = world_with(db, |c| c.servers_count_seconds = 1).await;
    let storage = w.app.state.storage.clone();
    let id = w.doc_t01.as_str();
    let current = storage.get_projection(id).await.unwrap().unwrap();
    // The older server: registered with rules 1, writing a projection as its rules would.
    let old = db.storage().await;
    let old_server = old.register_instance(1).await.unwrap();
    let mut by_old_rules = current.clone();
    by_old_rules.household.address = Some("VIẾT BỞI LUẬT CŨ".into());
    old.apply_document_update(&sansang_server::storage::DocumentUpdate {
        document_id: id.to_owned(),
        scope: Default::default(),
        changes: Vec::new(),
        expected_seq: None,
        projection: Some(by_old_rules),
        stored_projection: None,
        audit: Vec::new(),
    })
    .await
    .unwrap();
    // While it serves, the new server leaves it be (the old one would write again anyway).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let meanwhile = storage.get_projection(id).await.unwrap().unwrap();
    assert_eq!(
        meanwhile.household.address.as_deref(),
        Some("VIẾT BỞI LUẬT CŨ")
    );
    // The older server stops: every projection is written again by the new rules.
    old_server.release().await;
    old.close().await;
    let mut tries = 0;
    loop {
        let now = storage.get_projection(id).await.unwrap().unwrap();
        if now.household.address == current.household.address {
            break;
        }
        tries += 1;
        assert!(tries < 100, "the older rules' projection was left behind");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    w.app.stop().await;
}

/// A change that waits on server A for a dependency the phone had given server B is stored by A
/// as soon as B's notice lets it in: no change lives only in one server's memory.
pub async fn a_change_let_in_by_a_catch_up_is_stored(db: &TestDb) {
    if db.backend == TestBackend::Sqlite {
        return;
    }
    let w = world_with(db, compact_often).await;
    let b = TestApp::spawn_with(db, compact_often).await;
    let id = w.doc_t01.clone();
    // A has the household in memory.
    let mut doc = w.app.state.documents.load(&id).await.unwrap().unwrap();
    let base = doc.get_heads();
    let first = edit(&mut doc, "first");
    let second = edit(&mut doc, "second");
    let first_change = doc.get_change_by_hash(&first).unwrap().clone();
    let second_change = doc.get_change_by_hash(&second).unwrap().clone();
    assert_eq!(doc.get_changes(&base).len(), 2);
    // The second, without the first, reaches A: it waits there, nothing is stored.
    let applied = w
        .app
        .state
        .documents
        .apply_changes(&id, vec![second_change])
        .await
        .unwrap();
    assert_eq!(applied.new_changes, 0);
    // The first reaches B, which stores it and tells A.
    b.state
        .documents
        .apply_changes(&id, vec![first_change])
        .await
        .unwrap();
    let mut tries = 0;
    loop {
        let stored = w
            .app
            .state
            .storage
            .load_document(id.as_str())
            .await
            .unwrap()
            .unwrap();
        if stored.changes.iter().any(|c| c.hash == second.to_string()) {
            break;
        }
        tries += 1;
        assert!(tries < 100, "the change let in on A was never stored");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.stop().await;
    w.app.stop().await;
}

/// An erasure through one server while a phone edits the household through another (on
/// SQLite, both phones on the one server): the editing phone and a phone that only follows the
/// household are both told `doc-replaced`, the follower without sending anything; the other
/// server keeps nothing of the old document, and an edit made after it is refused, not stored
/// under the erased id.
pub async fn an_erasure_reaches_the_phones_of_every_server(db: &TestDb) {
    let w = world_with(db, compact_often).await;
    let other = match db.backend {
        TestBackend::Postgres => Some(TestApp::spawn_with(db, compact_often).await),
        TestBackend::Sqlite => None,
    };
    let b = other.as_ref().unwrap_or(&w.app);
    let photo = w.upload_photo(&crate::fixture::jpeg(320, 240, 77)).await;
    let mut h = household_of("T01", "Số 9, xóm Bắc", &[("m1", "Lê Thị Chín")]);
    crate::fixture::add_photo(&mut h, &photo, "m1");
    let id = DocumentId::random();
    let mut created = document_of(&h).document().clone();
    let mut creator = phone_on(&w.app, &w, "phone-creator").await;
    creator.sync_document(&id, &mut created).await.unwrap();

    let mut follower = phone_on(b, &w, "phone-follower").await;
    follower.request_document(&id).await.unwrap();
    let mut editor = phone_on(b, &w, "phone-editor").await;
    let mut edited = editor.request_document(&id).await.unwrap();
    edited.set_actor(ActorId::from(b"phone-editor".as_slice()));
    let (acknowledged, mut edits) = tokio::sync::watch::channel(0usize);
    let editing = {
        let id = id.clone();
        tokio::spawn(async move {
            for i in 0..2000 {
                edit(&mut edited, &format!("e{i}"));
                if let Err(e) = editor.sync_document(&id, &mut edited).await {
                    return (e, editor, edited);
                }
                let _ = acknowledged.send(i + 1);
            }
            panic!("2000 edits, and the erasure never reached the editing phone");
        })
    };
    // Erased through A while B's phone is in the middle of its edits.
    edits.wait_for(|n| *n >= 5).await.unwrap();
    let (status, erased) = w
        .call(
            "admin",
            reqwest::Method::POST,
            &format!("/api/v1/households/{id}/erase"),
            Some(serde_json::json!({ "reason": "hộ chuyển đi, yêu cầu số 21" })),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["photosRemoved"], 1);

    // The phone that only follows it is told without asking: on the other server, which hears
    // of the erasure from its notice, and on SQLite's one server, by the erasure itself.
    told_replaced(&mut follower, &id).await;
    drop(follower);
    let (error, mut editor, mut edited) =
        tokio::time::timeout(std::time::Duration::from_secs(20), editing)
            .await
            .expect("the editing phone went on editing an erased household")
            .unwrap();
    assert!(
        matches!(
            &error,
            sansang_server::sync::client::ClientError::Replaced {
                replaced_by: None,
                ..
            }
        ),
        "the editing phone is told doc-replaced: {error:?}"
    );
    // Nothing of it anywhere: not in B's database reads, not in its projection, and an edit
    // sent afterwards through B is refused again rather than stored.
    edit(&mut edited, "after-the-erasure");
    let again = editor.sync_document(&id, &mut edited).await;
    assert!(
        matches!(
            again,
            Err(sansang_server::sync::client::ClientError::Replaced { .. })
        ),
        "{again:?}"
    );
    for app in [&w.app, b] {
        let storage = &app.state.storage;
        assert!(storage.load_document(id.as_str()).await.unwrap().is_none());
        assert!(storage.get_projection(id.as_str()).await.unwrap().is_none());
        assert!(
            !storage
                .list_document_ids("10846")
                .await
                .unwrap()
                .contains(&id.as_str().to_owned())
        );
    }
    let response = b
        .http
        .get(format!("{}/api/v1/photos/{photo}", b.url))
        .bearer_auth(w.token("head1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        404,
        "the erased household's photo is gone"
    );
    // A household nobody edits, erased through the server its follower is on: told by that
    // server itself, with no other phone's change to prompt it.
    let quiet = DocumentId::random();
    let mut quiet_doc = document_of(&household_of(
        "T01",
        "Số 10, xóm Bắc",
        &[("m1", "Lê Văn Mười")],
    ))
    .document()
    .clone();
    creator.sync_document(&quiet, &mut quiet_doc).await.unwrap();
    let mut near = phone_on(&w.app, &w, "phone-near").await;
    near.request_document(&quiet).await.unwrap();
    let (status, erased) = w
        .call(
            "admin",
            reqwest::Method::POST,
            &format!("/api/v1/households/{quiet}/erase"),
            Some(serde_json::json!({ "reason": "hộ chuyển đi, yêu cầu số 22" })),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    told_replaced(&mut near, &quiet).await;
    drop((creator, editor, near));
    if let Some(b) = other {
        b.stop().await;
    }
    w.app.stop().await;
}

/// Waits (10 s at most) for `phone` to be told `doc-replaced` for `id`, with nothing to replace it.
async fn told_replaced(phone: &mut SyncClient, id: &DocumentId) {
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Message::DocReplaced {
                document_id,
                replaced_by,
                ..
            } = phone.recv().await.unwrap()
            {
                break (document_id, replaced_by);
            }
        }
    })
    .await
    .expect("the following phone was never told the household was erased");
    assert_eq!(told, (id.to_string(), None));
}

/// A TCP forwarder to PostgreSQL that can go silent on the connections that `LISTEN`, the way a
/// NAT or a firewall drops a connection without a word: nothing passes either way any more, and
/// neither end is told. Every other connection, and every one opened after the cut, goes on.
struct SilentCut {
    port: u16,
    /// Connections numbered below this one that listen are silent (0: none).
    cut: std::sync::Arc<std::sync::atomic::AtomicU64>,
    opened: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Copies `from` to `to` until either closes, holding each read while `silent()`; marks
/// `listens` when what passes holds a `LISTEN`.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: impl Fn() -> bool,
    listens: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(listens) = &listens
            && buf[..n]
                .windows(6)
                .any(|w| w.eq_ignore_ascii_case(b"listen"))
        {
            listens.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        while silent() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl SilentCut {
    async fn start(to: std::net::SocketAddr) -> SilentCut {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let cut = Arc::new(AtomicU64::new(0));
        let opened = Arc::new(AtomicU64::new(0));
        let (all_cut, all_opened) = (cut.clone(), opened.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = socket.accept().await else {
                    return;
                };
                let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                    continue;
                };
                let number = all_opened.fetch_add(1, Ordering::SeqCst) + 1;
                let listens = Arc::new(AtomicBool::new(false));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let silent = {
                    let (cut, listens) = (all_cut.clone(), listens.clone());
                    move || number < cut.load(Ordering::SeqCst) && listens.load(Ordering::SeqCst)
                };
                // Only what the client sends can say LISTEN.
                tokio::spawn(forward(
                    client_read,
                    server_write,
                    silent.clone(),
                    Some(listens),
                ));
                tokio::spawn(forward(server_read, client_write, silent, None));
            }
        });
        SilentCut { port, cut, opened }
    }

    /// Silences the listening connections open now.
    fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.cut
            .store(self.opened.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
}

/// A listening connection that dies without a word (no reset, no error: a NAT's idle cut) is
/// noticed by its probe and replaced, and the other server's edits reach this server's phones
/// again. Without the probe the server would wait on the dead connection for ever.
pub async fn a_listener_cut_without_a_word_is_replaced(db: &TestDb) {
    if db.backend == TestBackend::Sqlite {
        // One server per SQLite file: nothing listens.
        return;
    }
    let w = world_with(db, compact_often).await;
    let target: url::Url = db.url.parse().unwrap();
    let to = std::net::SocketAddr::new(
        target.host_str().unwrap().parse().unwrap(),
        target.port().unwrap_or(5432),
    );
    let silent = SilentCut::start(to).await;
    let mut through = target.clone();
    through.set_port(Some(silent.port)).unwrap();
    let b = TestApp::spawn_with(db, |config| {
        compact_often(config);
        config.database_url = Some(Secret::new(through.to_string()));
        config.listener_probe_seconds = 1;
    })
    .await;
    let id = DocumentId::random();
    let mut one = document_of(&household_of(
        "T01",
        "Số 4, xóm Nam",
        &[("m1", "Hà Văn Bốn")],
    ))
    .document()
    .clone();
    one.set_actor(ActorId::from(b"phone-one".as_slice()));
    let mut phone1 = phone_on(&w.app, &w, "phone-one").await;
    phone1.sync_document(&id, &mut one).await.unwrap();
    let mut phone2 = phone_on(&b, &w, "phone-two").await;
    let mut two = phone2.request_document(&id).await.unwrap();
    edit(&mut one, "before-the-cut");
    phone1.sync_document(&id, &mut one).await.unwrap();
    until_it_has(&mut phone2, &id, &mut two, "before-the-cut").await;
    let lost_before = metric(&b, "sansang_notice_listener_lost_total").await;

    // B's listening connection goes silent; its pool's connections are untouched.
    silent.cut();
    edit(&mut one, "during-the-cut");
    phone1.sync_document(&id, &mut one).await.unwrap();
    // Within a few probes B has a new listener, and what was announced meanwhile reaches
    // phone 2 (B offers every followed document again once listening).
    until_it_has(&mut phone2, &id, &mut two, "during-the-cut").await;
    assert!(
        metric(&b, "sansang_notice_listener_lost_total").await > lost_before,
        "B took its silent listener as lost"
    );
    let health: serde_json::Value = b.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["listener"], "listening", "{health}");
    edit(&mut one, "after-the-cut");
    phone1.sync_document(&id, &mut one).await.unwrap();
    until_it_has(&mut phone2, &id, &mut two, "after-the-cut").await;
    drop((phone1, phone2));
    b.stop().await;
    w.app.stop().await;
}
