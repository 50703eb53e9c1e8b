//! The photo stories.

use std::io::Cursor;

use automerge::{ActorId, AutoCommit};
use image::{ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use sansang_server::documents::DocumentId;
use sansang_server::photos::Sha256Hex;
use sansang_shared::model::{Consent, PhotoKind, PhotoRef, Relation};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use sansang_tests::db::TestDb;
use serde_json::Value;

use crate::fixture::{World, world};

/// A synthetic photo: a gradient with a bright square whose place depends on `seed`.
fn photo(width: u32, height: u32, seed: u32, quality_bytes: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        let inside = (x / (width / 4)) == seed % 4 && (y / (height / 4)) == (seed / 4) % 4;
        if inside {
            Rgb([250, 240, 30])
        } else {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
        }
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, quality_bytes).unwrap();
    out.into_inner()
}

async fn upload(w: &World, who: &str, bytes: &[u8], hash: &str) -> (StatusCode, Value) {
    let response = w
        .app
        .http
        .put(format!("{}/api/v1/photos/{hash}", w.app.url))
        .bearer_auth(w.token(who))
        .header("content-type", "image/jpeg")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A photo upload that announces `length` bytes and sends none of them: the status and JSON body
/// of the answer.
async fn announce_only(w: &World, who: &str, length: usize, hash: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(w.app.addr).await.unwrap();
    let request = format!(
        "PUT /api/v1/photos/{hash} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        w.app.addr,
        w.token(who)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| body.find('{').map(|i| &body[i..]))
        .and_then(|json| {
            serde_json::Deserializer::from_str(json)
                .into_iter::<Value>()
                .next()
        })
        .and_then(Result::ok)
        .unwrap_or(Value::Null);
    (status, body)
}

async fn fetch(w: &World, who: &str, hash: &str, size: &str) -> reqwest::Response {
    w.app
        .http
        .get(format!("{}/api/v1/photos/{hash}?size={size}", w.app.url))
        .bearer_auth(w.token(who))
        .send()
        .await
        .unwrap()
}

/// A household of `hamlet` that references `photos`.
async fn household_with(w: &World, hamlet: &str, photos: &[&str]) -> DocumentId {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some(hamlet.into()),
        consent: Some(Consent {
            given: Some(true),
            ..Consent::default()
        }),
        ..Household::default()
    };
    h.members.insert(
        "m1".into(),
        Member {
            full_name: Some("Cao Thị Hạnh".into()),
            relation: Some(Relation::Head),
            ..Member::default()
        },
    );
    for sha in photos {
        h.photos.insert(
            (*sha).to_owned(),
            PhotoRef {
                kind: Some(PhotoKind::Evidence),
                member_id: Some("m1".into()),
                taken_at: None,
            },
        );
    }
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &h).unwrap();
    let id = DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, doc.get_changes(&[]))
        .await
        .unwrap();
    id
}

async fn read_household(w: &World, who: &str, id: &DocumentId) -> Value {
    let (status, body) = w
        .call(
            who,
            reqwest::Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn photos_are_taken_in_and_served_by_scope(db: &TestDb) {
    let w = world(db).await;
    let original = photo(1600, 1200, 5, ImageFormat::Jpeg);
    let hash = Sha256Hex::of(&original).to_string();

    // Referenced before it is uploaded: pending.
    let household = household_with(&w, "T01", &[&hash]).await;
    let body = read_household(&w, "head1", &household).await;
    assert_eq!(body["photos"][0]["status"], "pending");

    let (status, record) = upload(&w, "phone", &original, &hash).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["sha256"], hash.as_str());
    assert_eq!(
        (record["width"].as_i64(), record["height"].as_i64()),
        (Some(1600), Some(1200))
    );
    let (again, same) = upload(&w, "phone", &original, &hash).await;
    assert_eq!(again, StatusCode::OK);
    assert_eq!(same, record, "uploading again answers with the same record");

    let body = read_household(&w, "head1", &household).await;
    assert_eq!(body["photos"][0]["status"], "uploaded");

    // Served to those who may read the household, without any metadata.
    let evidence = fetch(&w, "head1", &hash, "evidence").await;
    assert_eq!(evidence.status(), 200);
    assert_eq!(evidence.headers()["content-type"], "image/jpeg");
    assert!(
        evidence.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("private")
    );
    let etag = evidence.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = evidence.bytes().await.unwrap();
    assert!(
        !bytes.windows(6).any(|w| w == b"Exif\0\0"),
        "no EXIF in what is served"
    );
    let thumb = image::load_from_memory(
        &fetch(&w, "phone", &hash, "thumb")
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(thumb.width() <= 320 && thumb.height() <= 320);
    let cached = w
        .app
        .http
        .get(format!("{}/api/v1/photos/{hash}", w.app.url))
        .bearer_auth(w.token("head1"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    for who in ["head2", "other"] {
        assert_eq!(fetch(&w, who, &hash, "thumb").await.status(), 404, "{who}");
    }

    // The same picture again, re-encoded (other bytes, other hash) in a T02 household: flagged
    // on both households.
    let copy = {
        let img = image::load_from_memory(&original).unwrap().resize(
            1400,
            1050,
            image::imageops::FilterType::Triangle,
        );
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let copy_hash = Sha256Hex::of(&copy).to_string();
    assert_eq!(
        upload(&w, "phone", &copy, &copy_hash).await.0,
        StatusCode::CREATED
    );
    let other = household_with(&w, "T02", &[&copy_hash]).await;
    let different = photo(1600, 1200, 10, ImageFormat::Jpeg);
    let different_hash = Sha256Hex::of(&different).to_string();
    assert_eq!(
        upload(&w, "phone", &different, &different_hash).await.0,
        StatusCode::CREATED
    );
    let third = household_with(&w, "T01", &[&different_hash]).await;

    let flagged = |body: &Value| -> Vec<String> {
        body["projection"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "photo-duplicate")
            .map(|f| f["messageEn"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = read_household(&w, "admin", &household).await;
    assert_eq!(
        first["photos"][0]["duplicateOf"],
        serde_json::json!([other.to_string()])
    );
    assert_eq!(flagged(&first).len(), 1);
    let second = read_household(&w, "admin", &other).await;
    assert_eq!(
        second["photos"][0]["duplicateOf"],
        serde_json::json!([household.to_string()])
    );
    let unrelated = read_household(&w, "admin", &third).await;
    assert!(flagged(&unrelated).is_empty(), "{unrelated}");
    w.app.stop().await;
}

/// What is sent, by whom, the bytes, the hash in the path, and the status and code expected.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    String,
    u16,
    &'static str,
);

pub async fn bad_uploads_are_refused_with_a_code(db: &TestDb) {
    let w = world(db).await;
    let good = photo(400, 300, 1, ImageFormat::Jpeg);
    let hash = Sha256Hex::of(&good).to_string();
    let zip = b"PK\x03\x04 this is a zip archive renamed photo.jpg".to_vec();
    let zip_hash = Sha256Hex::of(&zip).to_string();
    let truncated = good[..good.len() / 2].to_vec();
    let truncated_hash = Sha256Hex::of(&truncated).to_string();
    let cases: Vec<Case> = vec![
        (
            "hash mismatch",
            "phone",
            good.clone(),
            "0".repeat(64),
            400,
            "photo-hash-mismatch",
        ),
        (
            "malformed hash",
            "phone",
            good.clone(),
            "ABC123".into(),
            400,
            "photo-hash-malformed",
        ),
        (
            "empty body",
            "phone",
            Vec::new(),
            Sha256Hex::of(b"").to_string(),
            400,
            "photo-empty",
        ),
        (
            "zip renamed",
            "phone",
            zip,
            zip_hash,
            415,
            "unsupported-format",
        ),
        (
            "truncated",
            "phone",
            truncated,
            truncated_hash,
            422,
            "photo-corrupt",
        ),
        (
            "staff may not upload",
            "staff",
            good.clone(),
            hash.clone(),
            403,
            "forbidden",
        ),
    ];
    for (what, who, bytes, hash, status, code) in cases {
        let (got, body) = upload(&w, who, &bytes, &hash).await;
        assert_eq!(
            (got.as_u16(), body["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    // Over the limit: refused from the announced length, before the body is read. Sent by hand,
    // headers only: a client writing the 21 MiB body gets a broken pipe when the server answers
    // and closes first, which is the point, but hides the answer.
    let huge = vec![0u8; 21 << 20];
    let (got, body) = announce_only(&w, "phone", huge.len(), Sha256Hex::of(&huge).as_str()).await;
    assert_eq!(
        (got, body["code"].as_str()),
        (413, Some("photo-too-large")),
        "{body}"
    );
    assert_eq!(
        w.app.state.photos.list().await.unwrap(),
        vec![],
        "nothing stored"
    );
    w.app.stop().await;
}

/// A photo no household references is kept through its grace period, then removed with its
/// objects; a referenced photo never is; the same bytes uploaded again are taken in anew.
pub async fn unreferenced_photos_are_swept_after_grace(db: &TestDb) {
    use sansang_server::photos::maintenance::sweep_orphans;
    use sansang_server::photos::{PhotoKey, Variant};
    let w = world(db).await;
    let kept = photo(600, 400, 2, ImageFormat::Jpeg);
    let kept_hash = Sha256Hex::of(&kept).to_string();
    let lonely = photo(600, 400, 7, ImageFormat::Jpeg);
    let lonely_hash = Sha256Hex::of(&lonely);
    for (bytes, hash) in [
        (&kept, kept_hash.clone()),
        (&lonely, lonely_hash.to_string()),
    ] {
        assert_eq!(
            upload(&w, "phone", bytes, &hash).await.0,
            StatusCode::CREATED
        );
    }
    let household = household_with(&w, "T01", &[&kept_hash]).await;
    let (storage, store) = (w.app.state.storage.as_ref(), w.app.state.photos.as_ref());

    // Still within the grace period: uploaded after the cut-off.
    let an_hour_ago = sansang_server::now_millis() - 3_600_000;
    let report = sweep_orphans(storage, store, an_hour_ago).await.unwrap();
    assert_eq!(report.removed, 0, "{report:?}");
    assert_eq!(
        store.list().await.unwrap().len(),
        4,
        "evidence and thumb of both"
    );

    // Past it.
    let later = sansang_server::now_millis() + 1;
    let report = sweep_orphans(storage, store, later).await.unwrap();
    assert_eq!(
        (report.removed, report.objects_deleted),
        (1, 2),
        "{report:?}"
    );
    assert!(
        storage
            .get_photo(lonely_hash.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(storage.get_photo(&kept_hash).await.unwrap().is_some());
    let left: Vec<String> = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(|k| k.sha256.to_string())
        .collect();
    assert_eq!(left, vec![kept_hash.clone(), kept_hash.clone()]);
    let body = read_household(&w, "head1", &household).await;
    assert_eq!(body["photos"][0]["status"], "uploaded");

    // The phone sends it again (say, its document arrives later): taken in anew.
    let (status, _) = upload(&w, "phone", &lonely, lonely_hash.as_str()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        store
            .exists(&PhotoKey::new(lonely_hash.clone(), Variant::Thumb))
            .await
            .unwrap()
    );

    // A record whose objects went missing is healed by the next upload of the same bytes.
    store
        .delete(&PhotoKey::new(lonely_hash.clone(), Variant::Evidence))
        .await
        .unwrap();
    let (status, _) = upload(&w, "phone", &lonely, lonely_hash.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetch(&w, "admin", &kept_hash, "evidence").await.status(),
        200
    );
    assert!(
        store
            .exists(&PhotoKey::new(lonely_hash.clone(), Variant::Evidence))
            .await
            .unwrap()
    );
    w.app.stop().await;
}
