//! The retention stories.

use reqwest::Method;
use sansang_server::app::AppState;
use sansang_server::documents::DocumentId;
use sansang_server::photos::{PhotoKey, Sha256Hex, Variant};
use sansang_server::retention;
use sansang_server::storage::{Decision, Review};
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;

use crate::fixture::{World, add_photo, document_of, household_of, jpeg, world};

const DAY: i64 = 86_400_000;

/// A household of `hamlet` with `photos` of its head, synced by the phone.
async fn household(w: &World, hamlet: &str, n: usize, photos: &[&str]) -> DocumentId {
    let name = format!("Chủ hộ {n}");
    let mut h = household_of(hamlet, &format!("Số {n}"), &[("m1", &name)]);
    for sha in photos {
        add_photo(&mut h, sha, "m1");
    }
    let mut doc = document_of(&h).document().clone();
    let id = DocumentId::random();
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), &format!("phone-{n}"))
        .await
        .unwrap();
    phone.sync_document(&id, &mut doc).await.unwrap();
    id
}

async fn approve(w: &World, id: &DocumentId, at: i64) {
    let storage = w.app.state.storage.as_ref();
    let head = storage
        .get_user_by_username("head1")
        .await
        .unwrap()
        .unwrap();
    let heads = storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap()
        .heads;
    storage
        .decide(&Review {
            document_id: id.as_str().to_owned(),
            version: 1,
            decision: Decision::Approved,
            comment: None,
            heads,
            decided_by: head.id,
            decided_at: at,
        })
        .await
        .unwrap();
}

async fn objects(state: &AppState, sha: &str) -> usize {
    let hash = Sha256Hex::parse(sha).unwrap();
    let mut n = 0;
    for variant in Variant::ALL {
        if state
            .photos
            .exists(&PhotoKey::new(hash.clone(), variant))
            .await
            .unwrap()
        {
            n += 1;
        }
    }
    n
}

pub async fn evidence_and_quarantine_are_kept_only_as_long_as_configured(db: &TestDb) {
    let w = world(db).await;
    let now = sansang_server::now_millis();
    let a = w.upload_photo(&jpeg(320, 240, 1)).await;
    let b = w.upload_photo(&jpeg(320, 240, 2)).await;
    let shared = w.upload_photo(&jpeg(320, 240, 3)).await;
    let approved = household(&w, "T01", 1, &[&a, &shared]).await;
    let _open = household(&w, "T01", 2, &[&b]).await;
    let _other = household(&w, "T01", 3, &[&shared]).await;
    approve(&w, &approved, now).await;
    // Sent for a hamlet outside the phone's: quarantined.
    let stray = household(&w, "T02", 4, &[]).await;
    assert!(
        w.app
            .state
            .storage
            .document_scope(stray.as_str())
            .await
            .unwrap()
            .unwrap()
            .quarantined
    );

    // The same database and photo store, with the limits set.
    let mut config = (*w.app.state.config).clone();
    config.evidence_retention_days = Some(30);
    config.quarantine_retention_days = Some(60);
    let state = AppState::open(config).await.unwrap();

    // Too early: nothing goes.
    let early = retention::apply(&state, now + 10 * DAY).await.unwrap();
    assert_eq!(early, retention::Applied::default());
    assert_eq!(objects(&state, &a).await, 2, "evidence and thumbnail");

    // After 31 days: the approved household's own photo goes; the one another household still
    // under review uses stays, as does the unapproved household's.
    let month = retention::apply(&state, now + 31 * DAY).await.unwrap();
    assert_eq!(month.photos_removed, 1, "{month:?}");
    assert_eq!(month.quarantined_erased, 0);
    assert_eq!(objects(&state, &a).await, 0);
    assert_eq!(objects(&state, &b).await, 2);
    assert_eq!(objects(&state, &shared).await, 2);
    let response = w
        .app
        .http
        .get(format!("{}/api/v1/photos/{a}", w.app.url))
        .bearer_auth(w.token("head1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 410);
    let (_, body) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{approved}"),
            None,
        )
        .await;
    let states: Vec<(&str, &str)> = body["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["sha256"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&(a.as_str(), "removed")), "{states:?}");
    assert!(
        states.contains(&(shared.as_str(), "uploaded")),
        "{states:?}"
    );
    // A phone that still has the photo uploads it again: accepted, not taken back in.
    let again = w.upload_photo(&jpeg(320, 240, 1)).await;
    assert_eq!(again, a);
    assert_eq!(objects(&state, &a).await, 0);

    // After 61 days the quarantined document is erased; the households stay.
    let later = retention::apply(&state, now + 61 * DAY).await.unwrap();
    assert_eq!(later.quarantined_erased, 1, "{later:?}");
    assert!(
        state
            .storage
            .tombstone(stray.as_str())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        state
            .storage
            .get_projection(approved.as_str())
            .await
            .unwrap()
            .is_some()
    );

    let report = retention::report(&state).await.unwrap();
    assert!(
        report.contains("evidence photos: 3 recorded, 1 already removed"),
        "{report}"
    );
    assert!(report.contains("quarantined documents: 0"), "{report}");
    assert!(report.contains("removed after 30 days"), "{report}");
    state.storage.close().await;
    w.app.stop().await;
}
