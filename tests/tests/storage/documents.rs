//! Documents: the idempotent change log, compaction, scope, counts, concurrent writers, and the
//! connection settings that make acknowledged changes durable.

use std::sync::Arc;

use sansang_server::storage::{Backend, SqlStorage, Storage, StorageError, StoredChange};
use sansang_tests::db::{TestBackend, TestDb};
use sqlx::Row;

use crate::fixtures::{
    COMMUNE, OTHER_COMMUNE, all_changes, edit, projection, rebuild, root_str, scope, sorted_heads,
    survey_doc, update,
};

const DOC: &str = "2xqvRMqX3ZmaUdhdq8GfH6eqAXCf";

pub async fn change_log_is_idempotent(db: &TestDb) {
    let storage = db.storage().await;
    assert_eq!(storage.load_document(DOC).await.expect("load"), None);

    let mut doc = survey_doc("Số 12, ngõ 3", 3);
    let first = all_changes(&mut doc);
    assert_eq!(first.len(), 3);
    let here = scope(Some(COMMUNE), Some("01"));

    let new = storage
        .apply_document_update(&update(DOC, here.clone(), first.clone(), None))
        .await
        .expect("apply");
    assert_eq!(new.inserted, 3, "three new changes");
    assert_eq!(new.scope, here, "the scope stored, read back in the update");
    let again = storage
        .apply_document_update(&update(DOC, here.clone(), first.clone(), None))
        .await
        .expect("apply again");
    assert_eq!(again.inserted, 0, "nothing new the second time");

    // One old change and one new: only the new one counts, and goes last.
    let fourth = edit(&mut doc, "notes", "Gia đình đi vắng buổi sáng");
    let mixed = vec![first[1].clone(), fourth.clone()];
    let new = storage
        .apply_document_update(&update(DOC, here.clone(), mixed, None))
        .await
        .expect("apply mixed");
    assert_eq!(new.inserted, 1);

    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.snapshot, None);
    assert!(stored.snapshot_heads.is_empty());
    assert_eq!(stored.scope, here, "the scope loaded with the document");
    let mut expected = first.clone();
    expected.push(fourth);
    assert_eq!(stored.changes, expected, "every change, in received order");

    let mut rebuilt = rebuild(&stored);
    assert_eq!(sorted_heads(&mut rebuilt), sorted_heads(&mut doc));
    assert_eq!(
        root_str(&rebuilt, "notes").as_deref(),
        Some("Gia đình đi vắng buổi sáng")
    );

    // An update with no changes still records the document (and its scope).
    let empty = "3pWzbt1Gz5LjTYoUDbgsKqk9nHxU";
    let new = storage
        .apply_document_update(&update(empty, here, Vec::new(), None))
        .await
        .expect("apply empty");
    assert_eq!(new.inserted, 0);
    let stored = storage
        .load_document(empty)
        .await
        .expect("load")
        .expect("stored");
    assert!(stored.changes.is_empty());
    storage.close().await;
}

/// Compaction is fenced by the document's sequence number: a snapshot made from a copy that
/// missed a later change is refused whole, one made from a copy holding every change replaces
/// the log; a copy catches up from any sequence number, and a write from a copy that is behind
/// is refused with nothing written.
pub async fn compaction_keeps_later_changes(db: &TestDb) {
    let storage = db.storage().await;
    let here = scope(Some(COMMUNE), Some("02"));
    let mut doc = survey_doc("Xóm Chùa", 3);
    let merged = all_changes(&mut doc);
    let written = storage
        .apply_document_update(&update(DOC, here.clone(), merged.clone(), None))
        .await
        .expect("apply");
    assert_eq!((written.last_seq, written.snapshot_seq), (3, 0));

    // A server saves the document as it knows it (three changes)...
    let stale_snapshot = doc.save();
    let stale_heads = sorted_heads(&mut doc);
    // ...while another server stores one more change.
    let late = edit(&mut doc, "address", "Xóm Chùa, nhà thứ hai");
    let written = storage
        .apply_document_update(&update(DOC, here.clone(), vec![late.clone()], None))
        .await
        .expect("apply late");
    assert_eq!(written.last_seq, 4);
    let compacted = storage
        .compact_document(DOC, &stale_snapshot, &stale_heads, 3)
        .await
        .expect("compact");
    assert!(!compacted, "a snapshot missing the late change is refused");
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.snapshot, None);
    assert_eq!(stored.changes.len(), 4, "no change deleted");

    // From a copy holding all four, the snapshot replaces the log.
    let snapshot = doc.save();
    let snapshot_heads = sorted_heads(&mut doc);
    let mut reversed_heads = snapshot_heads.clone();
    reversed_heads.reverse();
    assert!(
        storage
            .compact_document(DOC, &snapshot, &reversed_heads, 4)
            .await
            .expect("compact")
    );
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.snapshot.as_deref(), Some(snapshot.as_slice()));
    assert_eq!(stored.snapshot_heads, snapshot_heads, "heads stored sorted");
    assert!(stored.changes.is_empty());
    assert_eq!((stored.last_seq, stored.snapshot_seq), (4, 4));
    assert_eq!(
        root_str(&rebuild(&stored), "address").as_deref(),
        Some("Xóm Chùa, nhà thứ hai")
    );
    // The same compaction again is not done twice.
    assert!(
        !storage
            .compact_document(DOC, &snapshot, &snapshot_heads, 4)
            .await
            .expect("compact again")
    );

    // A copy at sequence 2 is behind the snapshot: it gets the snapshot. One at 4 needs nothing.
    let behind = storage
        .load_document_after(DOC, 2)
        .await
        .expect("load after")
        .expect("stored");
    assert_eq!(behind.snapshot.as_deref(), Some(snapshot.as_slice()));
    assert!(behind.changes.is_empty());
    let current = storage
        .load_document_after(DOC, 4)
        .await
        .expect("load after")
        .expect("stored");
    assert_eq!((current.snapshot, current.changes.len()), (None, 0));

    // One more change: a copy at 4 gets just that one.
    let fifth = edit(&mut doc, "address", "Xóm Chùa, nhà thứ ba");
    let mut fenced = update(DOC, here.clone(), vec![fifth.clone()], None);
    fenced.expected_seq = Some(4);
    let written = storage
        .apply_document_update(&fenced)
        .await
        .expect("a write from a copy at the database's sequence");
    assert_eq!((written.last_seq, written.snapshot_seq), (5, 4));
    let after = storage
        .load_document_after(DOC, 4)
        .await
        .expect("load after")
        .expect("stored");
    assert_eq!(after.snapshot, None);
    assert_eq!(after.changes, vec![fifth.clone()]);
    assert_eq!(after.last_seq, 5);

    // A write from a copy still at 4 is refused, and leaves nothing behind.
    let sixth = edit(&mut doc, "address", "Xóm Chùa, nhà thứ tư");
    let mut behind_write = update(DOC, here.clone(), vec![sixth], None);
    behind_write.expected_seq = Some(4);
    let err = storage
        .apply_document_update(&behind_write)
        .await
        .expect_err("a write from a copy that is behind");
    assert!(
        matches!(
            err,
            StorageError::Stale {
                expected: 4,
                found: 5,
                ..
            }
        ),
        "got {err:?}"
    );
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.last_seq, 5);
    assert_eq!(stored.changes, vec![fifth]);

    // A change the snapshot contains, sent again by a phone after compaction, is harmless: the
    // rebuilt document is the same.
    storage
        .apply_document_update(&update(DOC, here, vec![merged[0].clone()], None))
        .await
        .expect("apply old again");
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    let mut rebuilt = rebuild(&stored);
    assert_eq!(
        root_str(&rebuilt, "address").as_deref(),
        Some("Xóm Chùa, nhà thứ ba")
    );
    assert_eq!(
        rebuilt.get_changes(&[]).len(),
        5,
        "the three, the late one, the fifth"
    );

    assert!(
        !storage
            .compact_document("no-such-doc", &snapshot, &snapshot_heads, 1)
            .await
            .expect("compact unknown"),
        "nothing to compact"
    );
    storage.close().await;
}

pub async fn scope_and_counts(db: &TestDb) {
    let storage = db.storage().await;
    assert_eq!(storage.count_documents().await.expect("count"), 0);
    assert_eq!(storage.document_scope(DOC).await.expect("scope"), None);

    // Unknown scope first (the phone's first change only had the schema)...
    let mut doc = survey_doc("Tổ 5", 1);
    let changes = all_changes(&mut doc);
    storage
        .apply_document_update(&update(DOC, scope(None, None), changes, None))
        .await
        .expect("apply");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(None, None))
    );
    assert!(
        storage
            .list_document_ids(COMMUNE)
            .await
            .expect("ids")
            .is_empty()
    );

    // ...then the commune and hamlet arrive...
    let c = edit(&mut doc, "hamletId", "05");
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("05")),
            vec![c],
            None,
        ))
        .await
        .expect("apply");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(Some(COMMUNE), Some("05")))
    );

    // ...and a later update that cannot tell keeps them, while a new hamlet replaces the old.
    let c = edit(&mut doc, "notes", "…");
    storage
        .apply_document_update(&update(DOC, scope(None, None), vec![c], None))
        .await
        .expect("apply");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(Some(COMMUNE), Some("05")))
    );
    let c = edit(&mut doc, "hamletId", "06");
    storage
        .apply_document_update(&update(DOC, scope(None, Some("06")), vec![c], None))
        .await
        .expect("apply");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(Some(COMMUNE), Some("06")))
    );

    // Ids listed per commune, sorted bytewise (upper case before lower case).
    for id in ["b9Xk", "Z1aa", "a0Yz"] {
        storage
            .apply_document_update(&update(id, scope(Some(COMMUNE), None), Vec::new(), None))
            .await
            .expect("apply");
    }
    storage
        .apply_document_update(&update(
            "elsewhere",
            scope(Some(OTHER_COMMUNE), None),
            Vec::new(),
            None,
        ))
        .await
        .expect("apply");
    assert_eq!(
        storage.list_document_ids(COMMUNE).await.expect("ids"),
        vec!["2xqvRMqX3ZmaUdhdq8GfH6eqAXCf", "Z1aa", "a0Yz", "b9Xk"]
    );
    assert_eq!(storage.count_documents().await.expect("count"), 5);
    storage.close().await;
}

/// Twenty phones at once, each on its own document, plus audit writes: all succeed. On SQLite
/// this is what the writer lock is for.
pub async fn concurrent_writers(db: &TestDb) {
    let storage = Arc::new(db.storage().await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let storage = Arc::clone(&storage);
        tasks.push(tokio::spawn(async move {
            let id = format!("doc-{i:02}");
            let mut doc = survey_doc(&format!("Nhà số {i}"), 2);
            let changes = all_changes(&mut doc);
            let heads = sorted_heads(&mut doc);
            let hamlet = if i % 2 == 0 { "01" } else { "02" };
            let p = projection(hamlet, &format!("Nhà số {i}"), heads);
            let first = update(&id, scope(Some(COMMUNE), Some(hamlet)), changes, Some(p));
            let new = storage
                .apply_document_update(&first)
                .await
                .expect("apply")
                .inserted;
            // A second round on the same document, racing the other tasks' first rounds.
            let c: StoredChange = edit(&mut doc, "notes", &format!("lần {i}"));
            let second = update(&id, scope(Some(COMMUNE), Some(hamlet)), vec![c], None);
            new + storage
                .apply_document_update(&second)
                .await
                .expect("apply")
                .inserted
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 3);
    }
    assert_eq!(storage.count_documents().await.expect("count"), 20);
    assert_eq!(
        storage
            .list_households(COMMUNE, None)
            .await
            .expect("list")
            .len(),
        20
    );
    for i in 0..20 {
        let stored = storage
            .load_document(&format!("doc-{i:02}"))
            .await
            .expect("load")
            .expect("stored");
        assert_eq!(stored.changes.len(), 3);
    }
    storage.close().await;
}

/// Twenty documents written at the same moment, one of them an erased id: that one is refused
/// and leaves nothing behind, every other is written whole. On SQLite the file's write lock is
/// held meanwhile by another connection, so the updates queue and go in one shared transaction
/// (group commit): the refusal must not undo the others, nor the others keep its row.
pub async fn writers_at_once_succeed_or_fail_alone(db: &TestDb) {
    let storage = Arc::new(db.storage().await);
    let gone = "doc-07";
    let mut doc = survey_doc("Nhà đã xoá", 1);
    storage
        .apply_document_update(&update(
            gone,
            scope(Some(COMMUNE), Some("01")),
            all_changes(&mut doc),
            None,
        ))
        .await
        .expect("apply");
    storage
        .erase_document(&sansang_server::storage::Tombstone {
            document_id: gone.into(),
            replaced_by: None,
            erased_at: 1,
        })
        .await
        .expect("erase");

    let mut holder = storage.pool().acquire().await.expect("connection");
    if db.backend == TestBackend::Sqlite {
        sqlx::query("begin immediate")
            .execute(&mut *holder)
            .await
            .expect("holding the write lock");
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let storage = Arc::clone(&storage);
        tasks.push(tokio::spawn(async move {
            let id = format!("doc-{i:02}");
            let mut doc = survey_doc(&format!("Nhà số {i}"), 2);
            let heads = sorted_heads(&mut doc);
            let p = projection("01", &format!("Nhà số {i}"), heads);
            let u = update(
                &id,
                scope(Some(COMMUNE), Some("01")),
                all_changes(&mut doc),
                Some(p),
            );
            storage.apply_document_update(&u).await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if db.backend == TestBackend::Sqlite {
        sqlx::query("commit")
            .execute(&mut *holder)
            .await
            .expect("releasing the write lock");
    }
    drop(holder);
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("task");
        if i == 7 {
            assert!(
                matches!(result, Err(StorageError::Erased { ref id }) if id == gone),
                "{result:?}"
            );
        } else {
            assert_eq!(result.expect("written").inserted, 2, "doc-{i:02}");
        }
    }
    assert_eq!(storage.document_scope(gone).await.expect("scope"), None);
    assert_eq!(storage.load_document(gone).await.expect("load"), None);
    assert_eq!(storage.count_documents().await.expect("count"), 19);
    assert_eq!(
        storage
            .list_households(COMMUNE, None)
            .await
            .expect("list")
            .len(),
        19
    );
    storage.close().await;
}

/// Ten phones send concurrent edits of one document at once: every change is stored once, with
/// its own place in the log, and the document rebuilds with all of them.
pub async fn concurrent_writers_same_document(db: &TestDb) {
    let storage = Arc::new(db.storage().await);
    let mut base = survey_doc("Nhà chung", 1);
    let here = scope(Some(COMMUNE), Some("01"));
    storage
        .apply_document_update(&update(DOC, here.clone(), all_changes(&mut base), None))
        .await
        .expect("apply base");
    let mut tasks = Vec::new();
    for i in 0..10 {
        let storage = Arc::clone(&storage);
        let mut fork = base.fork();
        let here = here.clone();
        tasks.push(tokio::spawn(async move {
            let change = edit(&mut fork, &format!("visit{i}"), "có mặt");
            storage
                .apply_document_update(&update(DOC, here, vec![change], None))
                .await
                .expect("apply")
        }));
    }
    let mut new = 0;
    for task in tasks {
        new += task.await.expect("task").inserted;
    }
    assert_eq!(new, 10);
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.changes.len(), 11);
    let distinct: i64 =
        sqlx::query("select count(distinct seq) as n from changes where document_id = $1")
            .bind(DOC)
            .fetch_one(storage.pool())
            .await
            .expect("count")
            .get("n");
    assert_eq!(distinct, 11, "every change has its own place in the log");
    let rebuilt = rebuild(&stored);
    for i in 0..10 {
        assert_eq!(
            root_str(&rebuilt, &format!("visit{i}")).as_deref(),
            Some("có mặt")
        );
    }
    storage.close().await;
}

/// On SQLite: WAL, `synchronous=full` and foreign keys on every pooled connection.
pub async fn connection_settings(db: &TestDb) {
    let storage = db.storage().await;
    storage.ping().await.expect("ping");
    let expected = match db.backend {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(storage.backend(), expected);
    if db.backend == TestBackend::Sqlite {
        // Hold several connections at once so more than one pooled connection is checked.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = storage.pool().acquire().await.expect("acquire");
            let pragma = |name: &'static str| sqlx::query(name);
            let mode: String = pragma("pragma journal_mode")
                .fetch_one(&mut *conn)
                .await
                .expect("journal_mode")
                .get(0);
            assert_eq!(mode, "wal");
            let sync: i64 = pragma("pragma synchronous")
                .fetch_one(&mut *conn)
                .await
                .expect("synchronous")
                .get(0);
            assert_eq!(sync, 2, "synchronous=full");
            let fk: i64 = pragma("pragma foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .expect("foreign_keys")
                .get(0);
            assert_eq!(fk, 1);
            held.push(conn);
        }
    }
    storage.close().await;
}

/// Closing and reconnecting (migrations already applied) finds everything again.
pub async fn reopening_keeps_everything(db: &TestDb) {
    let mut doc = survey_doc("Thôn Đoài", 2);
    let changes = all_changes(&mut doc);
    let heads = sorted_heads(&mut doc);
    {
        let storage = db.storage().await;
        storage
            .apply_document_update(&update(
                DOC,
                scope(Some(COMMUNE), Some("01")),
                changes.clone(),
                Some(projection("01", "Thôn Đoài", heads.clone())),
            ))
            .await
            .expect("apply");
        storage.close().await;
    }
    let storage: SqlStorage = db.storage().await;
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.changes, changes);
    assert_eq!(
        storage
            .get_projection(DOC)
            .await
            .expect("projection")
            .map(|p| p.heads),
        Some(heads)
    );
    storage.close().await;
}

/// A job of the installation runs on one server at a time: on PostgreSQL a second server over
/// the database is told no while the first holds it, and gets it once it is released or its
/// holder's connection is gone; SQLite, which one server opens, always says yes.
pub async fn jobs_run_on_one_server_at_a_time(db: &TestDb) {
    let one = db.storage().await;
    let two = db.storage().await;
    let held = one.try_job("retention").await.expect("try").expect("free");
    let shared = db.backend == sansang_tests::db::TestBackend::Postgres;
    let other = two.try_job("retention").await.expect("try");
    assert_eq!(other.is_none(), shared, "held by the first server");
    let sweep = two.try_job("photo-sweep").await.expect("try");
    assert!(sweep.is_some(), "another job is free");
    drop(other);
    held.release().await;
    let taken = two
        .try_job("retention")
        .await
        .expect("try")
        .expect("released");
    // A holder that goes away without releasing (a server killed mid-job) frees it too.
    drop(taken);
    let mut freed = None;
    for _ in 0..50 {
        freed = one.try_job("retention").await.expect("try");
        if freed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(freed.is_some(), "a dropped lock is freed");
    drop(freed);
    // Started on three servers at the same moment, the hour's job runs on one of them.
    let three = db.storage().await;
    for round in 0..5 {
        let tries = tokio::join!(
            one.try_job("retention"),
            two.try_job("retention"),
            three.try_job("retention"),
        );
        let taken: Vec<_> = [tries.0, tries.1, tries.2]
            .into_iter()
            .filter_map(|t| t.expect("try"))
            .collect();
        assert_eq!(
            taken.len(),
            if shared { 1 } else { 3 },
            "round {round}: servers that took the job"
        );
        for job in taken {
            job.release().await;
        }
    }
    one.close().await;
    two.close().await;
    three.close().await;
}

/// The servers serving a database are counted by their registrations: two on PostgreSQL while
/// both are held, one again the moment a holder's connection goes without a word (a server
/// killed); SQLite always has one.
pub async fn servers_are_counted_while_registered(db: &TestDb) {
    let one = db.storage().await;
    let two = db.storage().await;
    let shared = db.backend == sansang_tests::db::TestBackend::Postgres;
    let first = one.register_instance(2).await.expect("register");
    assert_eq!(one.count_instances().await.expect("count"), 1);
    let second = two.register_instance(2).await.expect("register");
    assert_eq!(
        one.count_instances().await.expect("count"),
        if shared { 2 } else { 1 }
    );
    drop(second);
    let mut counted = 0;
    for _ in 0..50 {
        counted = one.count_instances().await.expect("count");
        if counted == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        counted, 1,
        "a server whose connection is gone is not counted"
    );
    first.release().await;
    one.close().await;
    two.close().await;
}
