//! Review decisions: pinned to the heads they were made on, numbered per household, one winner
//! between two deciders, the history kept, the latest decision listed with the heads of now.

use sansang_server::storage::{DecideOutcome, Decision, Review, Role, Storage};
use sansang_tests::db::TestDb;

use crate::fixtures::{
    COMMUNE, all_changes, edit, projection, scope, seed_communes, sorted_heads, survey_doc, update,
    user,
};

const DOC: &str = "2Xq7pNvB9sKcW4dT1hJmRfYe8uLa";
const OTHER_DOC: &str = "3Yr8qPwC1tLdX5eU2iKnSgZf9vMb";

fn offer(version: i64, decision: Decision, heads: &[String], by: &str) -> Review {
    Review {
        document_id: DOC.into(),
        version,
        decision,
        comment: (decision != Decision::Approved).then(|| "Sai năm sinh".to_owned()),
        heads: heads.to_vec(),
        decided_by: by.into(),
        decided_at: 1_700_000_000_000 + version,
    }
}

pub async fn decisions_are_pinned_numbered_and_kept(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;
    let head = user("lan", Role::HamletHead, Some(COMMUNE), &["01"]);
    let other = user("binh", Role::HamletHead, Some(COMMUNE), &["01"]);
    storage.create_user(&head).await.unwrap();
    storage.create_user(&other).await.unwrap();

    // No household projected under that id: nothing to decide on.
    assert_eq!(
        storage
            .decide(&offer(1, Decision::Approved, &["ab".repeat(32)], &head.id))
            .await
            .unwrap(),
        DecideOutcome::NoHousehold
    );

    let mut doc = survey_doc("Số 3, xóm Bến", 1);
    let heads = sorted_heads(&mut doc);
    let changes = all_changes(&mut doc);
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            changes,
            Some(projection("01", "Số 3, xóm Bến", heads.clone())),
        ))
        .await
        .unwrap();

    // Stale heads.
    let stale = vec!["00".repeat(32)];
    assert_eq!(
        storage
            .decide(&offer(1, Decision::Approved, &stale, &head.id))
            .await
            .unwrap(),
        DecideOutcome::DocumentChanged {
            current_heads: heads.clone()
        }
    );
    // A version that skips one.
    assert!(matches!(
        storage
            .decide(&offer(2, Decision::Approved, &heads, &head.id))
            .await
            .unwrap(),
        DecideOutcome::DecidedMeanwhile(None)
    ));

    let first = offer(1, Decision::CorrectionRequested, &heads, &head.id);
    assert_eq!(
        storage.decide(&first).await.unwrap(),
        DecideOutcome::Decided(first.clone())
    );
    // The second head saw no decision: told of the first.
    assert_eq!(
        storage
            .decide(&offer(1, Decision::Approved, &heads, &other.id))
            .await
            .unwrap(),
        DecideOutcome::DecidedMeanwhile(Some(first.clone()))
    );
    assert_eq!(
        storage.current_review(DOC).await.unwrap(),
        Some(first.clone())
    );

    // A phone changes the household: the decision stays, listed against the new heads.
    let change = edit(&mut doc, "address", "Số 3A, xóm Bến");
    let new_heads = sorted_heads(&mut doc);
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            vec![change],
            Some(projection("01", "Số 3A, xóm Bến", new_heads.clone())),
        ))
        .await
        .unwrap();
    let listed = storage
        .reviewed_households(COMMUNE, Some("01"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].review, first);
    assert_eq!(listed[0].current_heads, new_heads);
    assert!(
        storage
            .reviewed_households(COMMUNE, Some("02"))
            .await
            .unwrap()
            .is_empty()
    );

    // Approved on the new heads: history holds both, oldest first.
    let second = offer(2, Decision::Approved, &new_heads, &other.id);
    assert_eq!(
        storage.decide(&second).await.unwrap(),
        DecideOutcome::Decided(second.clone())
    );
    assert_eq!(
        storage.review_history(DOC).await.unwrap(),
        vec![first, second.clone()]
    );
    assert_eq!(storage.current_review(DOC).await.unwrap(), Some(second));
    assert!(storage.review_history(OTHER_DOC).await.unwrap().is_empty());
    assert_eq!(storage.current_review(OTHER_DOC).await.unwrap(), None);
}

/// Eight heads decide on the same version at once: exactly one is recorded.
pub async fn concurrent_decisions_have_one_winner(db: &TestDb) {
    let storage = std::sync::Arc::new(db.storage().await);
    seed_communes(&storage).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let u = user(
            &format!("head{i}"),
            Role::HamletHead,
            Some(COMMUNE),
            &["01"],
        );
        storage.create_user(&u).await.unwrap();
        ids.push(u.id);
    }
    let mut doc = survey_doc("Số 9, xóm Chùa", 1);
    let heads = sorted_heads(&mut doc);
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            all_changes(&mut doc),
            Some(projection("01", "Số 9, xóm Chùa", heads.clone())),
        ))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let (storage, heads) = (storage.clone(), heads.clone());
        tasks.spawn(async move {
            storage
                .decide(&offer(1, Decision::Approved, &heads, &id))
                .await
                .unwrap()
        });
    }
    let mut decided = 0;
    let mut told = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            DecideOutcome::Decided(_) => decided += 1,
            DecideOutcome::DecidedMeanwhile(Some(_)) => told += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((decided, told), (1, 7));
    assert_eq!(storage.review_history(DOC).await.unwrap().len(), 1);
}
