//! The breach stories.

use reqwest::Method;
use sansang_server::breach;
use sansang_server::documents::DocumentId;
use sansang_server::storage::Actor;
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;

use crate::fixture::{document_of, household_of, world};

pub async fn who_was_touched_by_a_phone_or_a_person(db: &TestDb) {
    let w = world(db).await;
    let storage = w.app.state.storage.as_ref();
    let start = sansang_server::now_millis();
    let sync_url = w.sync_url();

    // The phone makes a household of its own (nothing flows back: no read), then fetches one
    // made by someone else (its content flows to the phone: a read).
    let mut phone = SyncClient::connect(&sync_url, w.token("phone"), "phone-breach")
        .await
        .unwrap();
    let h = household_of("T01", "Số 9, xóm Đê", &[("m1", "Lò Văn Sáu")]);
    let mut doc = document_of(&h);
    let own = DocumentId::random();
    let mut own_doc = doc.document().clone();
    phone.sync_document(&own, &mut own_doc).await.unwrap();
    phone.request_document(&w.doc_t01).await.unwrap();
    // Asking twice on one connection is one read.
    phone.request_document(&w.doc_t01).await.unwrap();

    // The hamlet head reads one household over the API; commune staff export the detail.
    let (status, _) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{}", w.doc_t01),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let response = w
        .app
        .http
        .get(format!("{}/api/v1/exports/households.csv", w.app.url))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let end = sansang_server::now_millis();

    let by_phone = breach::touched(storage, Actor::Device(w.phone_id.clone()), start, end)
        .await
        .unwrap();
    let read: Vec<&str> = by_phone
        .households
        .iter()
        .filter(|h| h.actions.contains("document.read"))
        .map(|h| h.document_id.as_str())
        .collect();
    assert_eq!(read, vec![w.doc_t01.as_str()], "{:?}", by_phone.households);
    let changed: Vec<&str> = by_phone
        .households
        .iter()
        .filter(|h| h.actions.contains("document.change"))
        .map(|h| h.document_id.as_str())
        .collect();
    assert_eq!(changed, vec![own.as_str()]);
    let own_entry = by_phone
        .households
        .iter()
        .find(|h| h.document_id == own.as_str())
        .unwrap();
    assert_eq!(own_entry.persons, vec!["Lò Văn Sáu".to_owned()]);
    assert_eq!(own_entry.address, "Số 9, xóm Đê");

    let head1 = storage
        .get_user_by_username("head1")
        .await
        .unwrap()
        .unwrap();
    let by_head = breach::touched(storage, Actor::User(head1.id), start, end)
        .await
        .unwrap();
    assert_eq!(by_head.households.len(), 1);
    assert_eq!(by_head.households[0].document_id, w.doc_t01.as_str());
    assert_eq!(
        by_head.households[0].persons,
        vec!["Đinh Thị Quế".to_owned()]
    );
    assert!(by_head.households[0].actions.contains("household.read"));

    // The export touched every household of the commune 10846, and none of 20000.
    let staff = storage
        .get_user_by_username("staff")
        .await
        .unwrap()
        .unwrap();
    let by_staff = breach::touched(storage, Actor::User(staff.id), start, end)
        .await
        .unwrap();
    let mut ids: Vec<&str> = by_staff
        .households
        .iter()
        .map(|h| h.document_id.as_str())
        .collect();
    ids.sort();
    let mut want = vec![w.doc_t01.as_str(), w.doc_t02.as_str(), own.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert!(
        by_staff
            .households
            .iter()
            .all(|h| h.actions.contains("export.households"))
    );
    let csv = String::from_utf8(by_staff.csv()).unwrap();
    assert!(csv.contains("Lò Văn Sáu"), "{csv}");

    // Outside the window: nothing.
    let later = breach::touched(
        storage,
        Actor::User(head1_id(&w).await),
        end + 1,
        end + 60_000,
    )
    .await
    .unwrap();
    assert!(later.households.is_empty());
    w.app.stop().await;
}

async fn head1_id(w: &crate::fixture::World) -> String {
    w.app
        .state
        .storage
        .get_user_by_username("head1")
        .await
        .unwrap()
        .unwrap()
        .id
}
