//! The consent stories.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use reqwest::Method;
use sansang_server::documents::DocumentId;
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;

use crate::fixture::{World, add_photo, document_of, household_of, jpeg, world};

const NAME: &str = "Hà Thị Chưa Đồng Ý";
const NOTE: &str = "Ghi chú riêng của hộ";

async fn page(w: &World, who: &str, path: &str) -> (u16, String) {
    let response = w
        .app
        .http
        .get(format!("{}{path}", w.app.url))
        .header("cookie", format!("sansang_session={}", w.token(who)))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn photo_status(w: &World, who: &str, sha: &str) -> u16 {
    w.app
        .http
        .get(format!("{}/api/v1/photos/{sha}?size=thumb", w.app.url))
        .bearer_auth(w.token(who))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub async fn personal_data_waits_for_consent(db: &TestDb) {
    let w = world(db).await;
    let sha = w.upload_photo(&jpeg(400, 300, 60)).await;

    // The volunteer recorded the household before its consent, with a birth year to correct.
    let mut h = household_of("T01", "Số 4, xóm Chờ", &[("m1", NAME)]);
    h.consent = None;
    h.notes = Some(NOTE.into());
    if let Some(m) = h.members.get_mut("m1") {
        m.birth_year = Some(3000);
    }
    add_photo(&mut h, &sha, "m1");
    let mut doc = document_of(&h);
    let id = DocumentId::random();
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-consent")
        .await
        .unwrap();
    let mut synced = doc.document().clone();
    phone.sync_document(&id, &mut synced).await.unwrap();

    // Stored whole: the document still holds the name.
    let stored = w.app.state.documents.load(&id).await.unwrap().unwrap();
    assert!(format!("{:?}", sansang_shared::read::document_json(&stored).root).contains(NAME));
    // Held back everywhere else.
    let (status, body) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(!text.contains(NAME) && !text.contains(NOTE), "{text}");
    assert!(
        !text.contains("birth-year"),
        "findings about members are held back: {text}"
    );
    assert_eq!(
        body["projection"]["household"]["address"], "Số 4, xóm Chờ",
        "{text}"
    );
    let (status, html) = page(&w, "head1", &format!("/review/households/{id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains(NAME) && !html.contains(NOTE));
    assert!(html.contains("chưa ghi nhận đồng ý"), "the page says why");
    assert_eq!(photo_status(&w, "head1", &sha).await, 404);
    let direct = sansang_server::storage::SqlStorage::connect(&db.url)
        .await
        .unwrap();
    let members: i64 = sqlx::query_scalar("select count(*) from members where document_id = $1")
        .bind(id.as_str())
        .fetch_one(direct.pool())
        .await
        .unwrap();
    assert_eq!(members, 0);
    direct.pool().close().await;
    // Not an orphan: a photo held back is kept for when consent comes.
    let orphans = w
        .app
        .state
        .storage
        .orphan_photos(sansang_server::now_millis() + 1_000_000_000)
        .await
        .unwrap();
    assert!(!orphans.contains(&sha), "{orphans:?}");

    // Consent recorded on the phone: everything appears.
    let consent = doc.put_object(ROOT, "consent", ObjType::Map).unwrap();
    doc.put(&consent, "given", true).unwrap();
    doc.put(&consent, "by", NAME).unwrap();
    doc.commit();
    let mut synced = doc.document().clone();
    phone.sync_document(&id, &mut synced).await.unwrap();
    let (_, body) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    let text = body.to_string();
    assert!(text.contains(NAME) && text.contains("birth-year"), "{text}");
    let (_, html) = page(&w, "head1", &format!("/review/households/{id}")).await;
    assert!(html.contains(NAME) && !html.contains("chưa ghi nhận đồng ý"));
    assert_eq!(photo_status(&w, "head1", &sha).await, 200);

    // A projection written by an older server, before consent held data back, is written
    // again when the server starts.
    let mut h2 = h.clone();
    h2.photos.clear();
    let mut old = document_of(&h2);
    let old_id = DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&old_id, old.get_changes(&[]))
        .await
        .unwrap();
    let storage = w.app.state.storage.clone();
    let heads = old.get_heads();
    let shown_whole = sansang_shared::read::project(old.document(), &heads, 2026);
    storage
        .apply_document_update(&sansang_server::storage::DocumentUpdate {
            document_id: old_id.as_str().to_owned(),
            scope: Default::default(),
            changes: Vec::new(),
            expected_seq: None,
            projection: Some(shown_whole),
            stored_projection: None,
            audit: Vec::new(),
        })
        .await
        .unwrap();
    storage.put_setting("projection-rules", "1").await.unwrap();
    let stale = storage
        .get_projection(old_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stale.household.members.len(),
        1,
        "the old projection shows the member"
    );
    w.app.stop().await;
    let again = sansang_tests::app::TestApp::spawn(db).await;
    let fresh = again
        .state
        .storage
        .get_projection(old_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.household.members.is_empty());
    assert_eq!(
        again
            .state
            .storage
            .get_setting("projection-rules")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    again.stop().await;
}
