//! Quarantine and settings: a quarantined document stays stored and readable but leaves every
//! household list, and only `set_quarantined` moves the flag; a setting is written once, by
//! whichever caller comes first.

use std::sync::Arc;

use sansang_server::storage::{DocumentScope, SqlStorage, Storage, StorageError};
use sansang_tests::db::TestDb;

use crate::fixtures::{
    COMMUNE, all_changes, edit, projection, scope, sorted_heads, survey_doc, update,
};

const DOC: &str = "5hQmVw2kXr8TzP3nYc6LbJ9sFdGa";
const NEIGHBOUR: &str = "6jRnWx3mYs9UaQ4oZd7McK1tGeHb";
const ELSEWHERE: &str = "7kSoXy4nZt1VbR5pAe8NdL2uHfJc";

/// Document ids of the household list of the commune (`None`) or one hamlet.
async fn listed(storage: &SqlStorage, hamlet_id: Option<&str>) -> Vec<String> {
    storage
        .list_households(COMMUNE, hamlet_id)
        .await
        .expect("list households")
        .into_iter()
        .map(|h| h.document_id)
        .collect()
}

fn quarantined_scope(hamlet_id: &str) -> DocumentScope {
    DocumentScope {
        quarantined: true,
        quarantined_by: None,
        ..scope(Some(COMMUNE), Some(hamlet_id))
    }
}

pub async fn quarantine_hides_from_lists_only(db: &TestDb) {
    let storage = db.storage().await;
    let mut doc = survey_doc("Số 3, xóm Mới", 2);
    let p = projection("01", "Số 3, xóm Mới", sorted_heads(&mut doc));
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            all_changes(&mut doc),
            Some(p.clone()),
        ))
        .await
        .expect("apply");
    for (id, hamlet, address) in [
        (NEIGHBOUR, "01", "Số 5, xóm Mới"),
        (ELSEWHERE, "02", "Tổ 2"),
    ] {
        let mut other = survey_doc(address, 1);
        let heads = sorted_heads(&mut other);
        storage
            .apply_document_update(&update(
                id,
                scope(Some(COMMUNE), Some(hamlet)),
                all_changes(&mut other),
                Some(projection(hamlet, address, heads)),
            ))
            .await
            .expect("apply other");
    }

    // A stored document starts out of quarantine, and is listed.
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(Some(COMMUNE), Some("01")))
    );
    assert_eq!(
        listed(&storage, None).await,
        vec![DOC, NEIGHBOUR, ELSEWHERE]
    );
    assert_eq!(listed(&storage, Some("01")).await, vec![DOC, NEIGHBOUR]);

    // Quarantined: the scope says so and no list shows it...
    storage
        .set_quarantined(DOC, true)
        .await
        .expect("quarantine");
    storage
        .set_quarantined(DOC, true)
        .await
        .expect("quarantine twice");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(quarantined_scope("01"))
    );
    assert_eq!(listed(&storage, None).await, vec![NEIGHBOUR, ELSEWHERE]);
    assert_eq!(listed(&storage, Some("01")).await, vec![NEIGHBOUR]);
    assert_eq!(listed(&storage, Some("02")).await, vec![ELSEWHERE]);

    // ...but it is still stored and readable (and synced back to its phone).
    assert_eq!(
        storage.get_projection(DOC).await.expect("projection"),
        Some(p)
    );
    let stored = storage
        .load_document(DOC)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.changes, all_changes(&mut doc));
    assert_eq!(
        storage.list_document_ids(COMMUNE).await.expect("ids").len(),
        3,
        "still one of the commune's documents"
    );

    // A later update, with a scope that says "not quarantined", keeps the flag...
    let c = edit(&mut doc, "notes", "Gửi từ máy của thôn khác");
    let p = projection("01", "Số 3, xóm Mới (sửa)", sorted_heads(&mut doc));
    let new = storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            vec![c],
            Some(p.clone()),
        ))
        .await
        .expect("apply while quarantined");
    assert_eq!(new.inserted, 1);
    assert!(new.scope.quarantined, "the update returns the flag it kept");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(quarantined_scope("01"))
    );
    assert_eq!(listed(&storage, Some("01")).await, vec![NEIGHBOUR]);
    assert_eq!(
        storage.get_projection(DOC).await.expect("projection"),
        Some(p)
    );

    // ...and an update whose scope says "quarantined" quarantines the document in the same
    // write, naming who sent it: never listed, not even for a moment.
    let fresh = "8mTpYz5oAu2WcS6qBf9PeM3vJgKd";
    let mut by_phone = quarantined_scope("02");
    by_phone.quarantined_by = Some("device:d-7".to_owned());
    storage
        .apply_document_update(&update(fresh, by_phone.clone(), Vec::new(), None))
        .await
        .expect("apply fresh");
    assert_eq!(
        storage.document_scope(fresh).await.expect("scope"),
        Some(by_phone)
    );
    assert_eq!(listed(&storage, Some("02")).await, vec![ELSEWHERE]);

    // Released: listed again, in its place.
    storage.set_quarantined(DOC, false).await.expect("release");
    assert_eq!(
        storage.document_scope(DOC).await.expect("scope"),
        Some(scope(Some(COMMUNE), Some("01")))
    );
    assert_eq!(
        listed(&storage, None).await,
        vec![DOC, NEIGHBOUR, ELSEWHERE]
    );
    assert_eq!(listed(&storage, Some("01")).await, vec![DOC, NEIGHBOUR]);

    // Only stored documents can be quarantined.
    let err = storage
        .set_quarantined("no-such-doc", true)
        .await
        .expect_err("quarantine unknown");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
    assert_eq!(
        storage.document_scope("no-such-doc").await.expect("scope"),
        None
    );
    storage.close().await;
}

pub async fn setting_is_written_once(db: &TestDb) {
    let storage = db.storage().await;
    let key = "session-secret";
    assert_eq!(
        storage
            .setting_or_insert(key, "giá trị đầu tiên")
            .await
            .expect("insert"),
        "giá trị đầu tiên"
    );
    assert_eq!(
        storage
            .setting_or_insert(key, "second value")
            .await
            .expect("read"),
        "giá trị đầu tiên",
        "the first value stays"
    );
    assert_eq!(
        storage
            .setting_or_insert("other-key", "")
            .await
            .expect("other key"),
        "",
        "keys are independent, and an empty value is a value"
    );
    storage.close().await;

    // Kept across restarts.
    let storage = db.storage().await;
    assert_eq!(
        storage
            .setting_or_insert(key, "third value")
            .await
            .expect("reopen"),
        "giá trị đầu tiên"
    );
    storage.close().await;
}

/// Eight callers race to store different values under one key: all get the same answer.
pub async fn setting_race_has_one_winner(db: &TestDb) {
    let storage = Arc::new(db.storage().await);
    let key = "installation-id";
    let mut tasks = Vec::new();
    for i in 0..8 {
        let storage = Arc::clone(&storage);
        tasks.push(tokio::spawn(async move {
            storage
                .setting_or_insert(key, &format!("value-{i}"))
                .await
                .expect("setting_or_insert")
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let winner = answers[0].clone();
    assert!(
        (0..8).any(|i| winner == format!("value-{i}")),
        "one caller's value: {winner}"
    );
    assert!(
        answers.iter().all(|a| *a == winner),
        "every caller gets the same value: {answers:?}"
    );
    assert_eq!(
        storage.setting_or_insert(key, "late").await.expect("late"),
        winner
    );
    storage.close().await;
}
