//! The erasure stories.

use std::io::Read;
use std::path::Path;

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use reqwest::Method;
use sansang_server::documents::DocumentId;
use sansang_server::photos::{PhotoKey, Sha256Hex, Variant};
use sansang_server::sync::client::{ClientError, SyncClient};
use sansang_tests::db::{TestBackend, TestDb};
use serde_json::{Value, json};

use crate::fixture::{World, add_photo, document_of, household_of, jpeg, world};

/// Values that exist only for the member to be erased: one current, one only in the history.
const NAME: &str = "XOABO7781 Nguyen Thi";
const OLD_NAME: &str = "OLDSECRET4410";
const KEPT: &str = "Tran Van KEEP5521";

/// A household with two members, each with a photo; the second member's name was first
/// written as OLD_NAME, then corrected. Synced by the phone; returns its id and the phone's copy.
async fn household(w: &World, photo_kept: &str, photo_erased: &str) -> (DocumentId, AutoCommit) {
    let mut h = household_of("T01", "Số 7, xóm Giữa", &[("m1", KEPT), ("m2", OLD_NAME)]);
    add_photo(&mut h, photo_kept, "m1");
    add_photo(&mut h, photo_erased, "m2");
    let mut doc = document_of(&h);
    let members = doc.get(ROOT, "members").unwrap().unwrap().1;
    let m2 = doc.get(&members, "m2").unwrap().unwrap().1;
    doc.put(&m2, "fullName", NAME).unwrap();
    // The erased member gave the consent, is named in the notes and mentors the other member.
    let consent = doc.get(ROOT, "consent").unwrap().unwrap().1;
    doc.put(&consent, "by", NAME).unwrap();
    doc.put(
        ROOT,
        "notes",
        format!("Đã hỏi bà {}, hẹn quay lại", NAME.to_uppercase()),
    )
    .unwrap();
    let m1 = doc.get(&members, "m1").unwrap().unwrap().1;
    doc.put(&m1, "mentorId", "m2").unwrap();
    doc.commit();
    let id = DocumentId::random();
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-erasure")
        .await
        .unwrap();
    let mut copy = doc.document().clone();
    phone.sync_document(&id, &mut copy).await.unwrap();
    (id, doc)
}

/// Every file under `dir` (recursively) whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// PostgreSQL's relation names by file node, to say which table still holds a value.
async fn relation_names(db: &TestDb) -> std::collections::HashMap<String, String> {
    let mut names = std::collections::HashMap::new();
    if db.backend != TestBackend::Postgres {
        return names;
    }
    let storage = sansang_server::storage::SqlStorage::connect(&db.url)
        .await
        .unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select relfilenode::text, relname::text from pg_class where relfilenode <> 0",
    )
    .fetch_all(storage.pool())
    .await
    .unwrap();
    storage.pool().close().await;
    names.extend(rows);
    names
}

/// The folders holding this database's files.
async fn database_files(db: &TestDb) -> std::path::PathBuf {
    match db.backend {
        TestBackend::Sqlite => {
            let path = sansang_server::backup::sqlite_path(&db.url).unwrap();
            path.parent().unwrap().to_owned()
        }
        TestBackend::Postgres => {
            let storage = sansang_server::storage::SqlStorage::connect(&db.url)
                .await
                .unwrap();
            let dir: String = sqlx::query_scalar("select current_setting('data_directory')")
                .fetch_one(storage.pool())
                .await
                .unwrap();
            let oid: String = sqlx::query_scalar(
                "select oid::text from pg_database where datname = current_database()",
            )
            .fetch_one(storage.pool())
            .await
            .unwrap();
            // Dirty pages reach the files at a checkpoint.
            sqlx::query("checkpoint")
                .execute(storage.pool())
                .await
                .unwrap();
            storage.pool().close().await;
            Path::new(&dir).join("base").join(oid)
        }
    }
}

pub async fn a_member_is_erased_and_nothing_of_them_remains(db: &TestDb) {
    let w = world(db).await;
    let kept_photo = w.upload_photo(&jpeg(320, 240, 10)).await;
    let erased_photo = w.upload_photo(&jpeg(320, 240, 200)).await;
    let (id, mut phone_copy) = household(&w, &kept_photo, &erased_photo).await;
    // Read by the hamlet head before: the audit log knows, and keeps knowing. The head then asks
    // for a correction, naming the member in the comment.
    let (status, read) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, review) = w
        .call(
            "head1",
            Method::POST,
            &format!("/api/v1/households/{id}/reviews"),
            Some(json!({
                "decision": "correction-requested",
                "comment": format!("Chụp lại ảnh của {NAME}"),
                "heads": read["projection"]["heads"],
                "version": 0,
            })),
        )
        .await;
    assert!(status.is_success(), "{status} {review}");

    // Only the commune's admin may export or erase.
    for who in ["head1", "staff", "other", "phone"] {
        let (status, _) = w
            .call(
                who,
                Method::POST,
                &format!("/api/v1/households/{id}/erase"),
                Some(json!({ "member": "m2", "reason": "yêu cầu số 12" })),
            )
            .await;
        assert!(status == 403 || status == 404, "{who}: {status}");
    }

    // The member's export: their data and photo, not the other member's.
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/households/{id}/export?member=m2",
            w.app.url
        ))
        .bearer_auth(w.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let archive = response.bytes().await.unwrap();
    let mut names = Vec::new();
    let mut manifest = String::new();
    for entry in tar::Archive::new(archive.as_ref()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "household.json" {
            entry.read_to_string(&mut manifest).unwrap();
        }
        names.push(name);
    }
    assert!(
        manifest.contains(NAME) && !manifest.contains(KEPT),
        "{manifest}"
    );
    assert!(
        names.contains(&format!("photos/{erased_photo}-evidence.jpg")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(&kept_photo)), "{names:?}");
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert!(
        manifest["accessLog"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "household.read")
    );

    // A reason is required.
    let (status, body) = w
        .call(
            "admin",
            Method::POST,
            &format!("/api/v1/households/{id}/erase"),
            Some(json!({ "member": "m2", "reason": " " })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("reason"),
        "{body}"
    );
    let (status, erased) = w
        .call(
            "admin",
            Method::POST,
            &format!("/api/v1/households/{id}/erase"),
            Some(json!({ "member": "m2", "reason": "yêu cầu số 12" })),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["photosRemoved"], 1);
    let new_id = DocumentId::parse(erased["replacedBy"].as_str().unwrap()).unwrap();

    // What remains: the household without the member, under a new id; the old id is gone.
    let (status, body) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{new_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(
        text.contains(KEPT)
            && !text.to_lowercase().contains(&NAME.to_lowercase())
            && !text.contains(OLD_NAME),
        "{text}"
    );
    // In its place: who consented is said to be erased, the consent itself stands; the other
    // member's mentor is gone; the notes and the review comment say a name was erased.
    let household = &body["projection"]["household"];
    assert_eq!(
        household["consent"]["by"],
        sansang_server::erasure::CONSENT_BY_ERASED,
        "{body}"
    );
    assert_eq!(household["consent"]["given"], true, "{body}");
    assert!(
        household["members"]["m1"].get("mentorId").is_none(),
        "{body}"
    );
    assert!(
        household["notes"]
            .as_str()
            .unwrap()
            .contains(sansang_server::erasure::NAME_ERASED),
        "{body}"
    );
    // The replacement's whole saved document, every value of it.
    let saved = w.app.state.documents.lock(&new_id).await.unwrap();
    let saved_json = sansang_shared::read::document_json(saved.doc());
    drop(saved);
    let saved_text = serde_json::to_string(&saved_json.root).unwrap()
        + &serde_json::to_string(&saved_json.conflicts).unwrap();
    assert!(
        !saved_text.to_lowercase().contains(&NAME.to_lowercase()) && saved_text.contains(KEPT),
        "{saved_text}"
    );
    // And the commune's export of its households.
    let export = w
        .app
        .http
        .get(format!("{}/api/v1/exports/households.csv", w.app.url))
        .bearer_auth(w.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let export = export.text().await.unwrap();
    assert!(export.contains(KEPT), "{export}");
    assert!(
        !export.to_lowercase().contains(&NAME.to_lowercase()),
        "{export}"
    );
    let (status, _) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let photo = |sha: String| {
        let w = &w;
        async move {
            w.app
                .http
                .get(format!("{}/api/v1/photos/{sha}", w.app.url))
                .bearer_auth(w.token("head1"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(photo(kept_photo.clone()).await, 200);
    assert_eq!(photo(erased_photo.clone()).await, 404);
    let hash = Sha256Hex::parse(&erased_photo).unwrap();
    for variant in Variant::ALL {
        let key = PhotoKey::new(hash.clone(), variant);
        assert!(!w.app.state.photos.exists(&key).await.unwrap(), "{key}");
    }

    // The phone still holds the old history: refused, and told what replaced it.
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-late")
        .await
        .unwrap();
    let members = phone_copy.get(ROOT, "members").unwrap().unwrap().1;
    let m2 = phone_copy.get(&members, "m2").unwrap().unwrap().1;
    phone_copy.put(&m2, "birthYear", 1973).unwrap();
    phone_copy.commit();
    let mut copy = phone_copy.document().clone();
    match phone.sync_document(&id, &mut copy).await {
        Err(ClientError::Replaced { replaced_by, .. }) => {
            assert_eq!(replaced_by, Some(new_id.url()));
        }
        other => panic!("expected the document to be replaced, got {other:?}"),
    }
    let over_http = w
        .app
        .http
        .post(format!("{}/api/v1/sync/{id}", w.app.url))
        .bearer_auth(w.token("phone"))
        .body({
            let mut state = automerge::sync::State::new();
            phone_copy
                .document()
                .generate_sync_message(&mut state)
                .unwrap()
                .encode()
        })
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 410);
    assert!(
        !sansang_server::erasure::remains(w.app.state.storage.as_ref(), id.as_str())
            .await
            .unwrap()
    );

    // The audit log says what was done, not what was erased.
    let (_, log) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/audit?household={id}"),
            None,
        )
        .await;
    let log = log.to_string();
    assert!(
        log.contains("person.erase") && log.contains("yêu cầu số 12"),
        "{log}"
    );
    assert!(!log.contains(NAME) && !log.contains(OLD_NAME), "{log}");

    // No erased value in any file of the database or the photo store.
    let files = database_files(db).await;
    let relations = relation_names(db).await;
    // The photo folder goes with the server's data folder when it stops: looked at first.
    let stored: Vec<String> = walk(&w.app.data_dir.path().join("photos"));
    w.app.stop().await;
    for needle in [NAME, OLD_NAME] {
        let found: Vec<String> = files_holding(&files, needle.as_bytes())
            .into_iter()
            .map(|f| {
                let node = f.rsplit('/').next().unwrap_or_default().to_owned();
                let name = relations.get(&node).cloned().unwrap_or_default();
                format!("{f} ({name})")
            })
            .collect();
        assert!(found.is_empty(), "{needle} is still in {found:?}");
    }
    assert!(
        !files_holding(&files, KEPT.as_bytes()).is_empty(),
        "the check can see what is there"
    );
    assert!(
        stored.iter().all(|p| !p.contains(&erased_photo)),
        "{stored:?}"
    );
    assert!(stored.iter().any(|p| p.contains(&kept_photo)), "{stored:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

pub async fn a_household_is_erased_whole(db: &TestDb) {
    let w = world(db).await;
    let a = w.upload_photo(&jpeg(320, 240, 30)).await;
    let b = w.upload_photo(&jpeg(320, 240, 60)).await;
    let (id, mut doc) = household(&w, &a, &b).await;
    let (status, erased) = w
        .call(
            "admin",
            Method::POST,
            &format!("/api/v1/households/{id}/erase"),
            Some(json!({ "reason": "hộ chuyển đi, yêu cầu số 13" })),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert!(erased["replacedBy"].is_null());
    assert_eq!(erased["photosRemoved"], 2);
    let (status, _) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/households/{id}/export"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The id is never used again, not even by a phone starting over.
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-again")
        .await
        .unwrap();
    let mut copy = doc.document().clone();
    match phone.sync_document(&id, &mut copy).await {
        Err(ClientError::Replaced { replaced_by, .. }) => assert_eq!(replaced_by, None),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let listed = w
        .app
        .state
        .storage
        .list_document_ids("10846")
        .await
        .unwrap();
    assert!(!listed.contains(&id.as_str().to_owned()));
    w.app.stop().await;
}
