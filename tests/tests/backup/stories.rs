//! The backup stories.

use std::collections::BTreeMap;
use std::path::Path;

use automerge::Automerge;
use sansang_server::app::AppState;
use sansang_server::backup;
use sansang_server::config::{Config, Secret};
use sansang_server::documents::DocumentId;
use sansang_server::photos::Sha256Hex;
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;

use crate::fixture::{World, add_photo, document_of, household_of, jpeg, world};

fn photo(seed: u32) -> Vec<u8> {
    jpeg(640, 480, (seed * 40) as u8)
}

fn household(n: usize, photos: &[String]) -> Automerge {
    let name = format!("Nguyễn Văn Lưu {n}");
    let mut h = household_of("T01", &format!("Số {n}, xóm Sao Lưu"), &[("m1", &name)]);
    for sha in photos {
        add_photo(&mut h, sha, "m1");
    }
    document_of(&h).document().clone()
}

/// Households synced by a phone over the real socket; their ids.
async fn sync_households(w: &World, peer: &str, from: usize, count: usize) -> Vec<DocumentId> {
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), peer)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in from..from + count {
        let id = DocumentId::random();
        let mut doc = household(n, &[]);
        phone.sync_document(&id, &mut doc).await.unwrap();
        ids.push(id);
    }
    ids
}

async fn heads(state: &AppState, id: &DocumentId) -> Option<Vec<automerge::ChangeHash>> {
    let doc = state.documents.load(id).await.unwrap()?;
    let mut heads = doc.get_heads();
    heads.sort();
    Some(heads)
}

/// An empty place of the same backend as `db`: a new database and a new data folder.
async fn fresh_place(db: &TestDb) -> (TestDb, tempfile::TempDir, Config) {
    let target = TestDb::new(db.backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        database_url: Some(Secret::new(target.url.clone())),
        ..Config::default()
    };
    if db.backend == sansang_tests::db::TestBackend::Sqlite {
        // The restored file goes where the configuration says, inside the new folder.
        config.database_url = Some(Secret::new(format!(
            "sqlite://{}",
            dir.path().join("restored.db").display()
        )));
    }
    (target, dir, config)
}

pub async fn a_backup_taken_while_phones_sync_restores_whole(db: &TestDb) {
    let w = world(db).await;
    // Photos uploaded by the phone, referenced by households it syncs.
    let originals: Vec<Vec<u8>> = (0..3).map(photo).collect();
    let mut shas = Vec::new();
    for bytes in &originals {
        shas.push(w.upload_photo(bytes).await);
    }
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-photos")
        .await
        .unwrap();
    let mut before = vec![w.doc_t01.clone(), w.doc_t02.clone(), w.doc_other.clone()];
    for (n, sha) in shas.iter().enumerate() {
        let id = DocumentId::random();
        let mut doc = household(100 + n, std::slice::from_ref(sha));
        phone.sync_document(&id, &mut doc).await.unwrap();
        before.push(id);
    }
    before.extend(sync_households(&w, "phone-a", 0, 20).await);
    let mut expected = BTreeMap::new();
    for id in &before {
        expected.insert(id.clone(), heads(&w.app.state, id).await.unwrap());
    }

    // The backup runs while another phone keeps syncing new households.
    let archive_dir = tempfile::tempdir().unwrap();
    let archive = archive_dir.path().join("backup.tar");
    let config = (*w.app.state.config).clone();
    let (manifest, during) = tokio::join!(
        backup::backup(&config, &archive),
        sync_households(&w, "phone-b", 1000, 30)
    );
    let manifest = manifest.unwrap();
    assert!(archive.exists());
    // Personal data is readable by the server's user only: the archive, the data folder, the
    // SQLite database and the photo folder with everything in it.
    let mut private = vec![archive.clone(), w.app.data_dir.path().to_owned()];
    if let Some(file) = backup::sqlite_path(&db.url) {
        private.push(file);
    }
    private.extend(everything_under(&w.app.data_dir.path().join("photos")));
    assert!(
        private.len() > 6,
        "photos are there to look at: {private:?}"
    );
    for path in &private {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
    assert!(!archive.with_extension("partial").exists());
    assert_eq!(manifest.backend, db.backend.name());
    let documents = manifest.tables["documents"] as usize;
    assert!(
        documents >= before.len() && documents <= before.len() + during.len(),
        "{documents} documents in the backup"
    );
    // Each photo: the evidence and the thumbnail (the original is not kept by default).
    assert_eq!(
        manifest.photos.len(),
        2 * shas.len(),
        "{:?}",
        manifest.photos
    );
    assert!(manifest.missing_photos.is_empty());

    // Restored into a new place: every document as it was, every photo's bytes.
    let (_target, _dir, restored_config) = fresh_place(db).await;
    let restored = backup::restore(&restored_config, &archive).await.unwrap();
    assert_eq!(restored.documents, documents);
    let state = AppState::open(restored_config.clone()).await.unwrap();
    for (id, want) in &expected {
        assert_eq!(heads(&state, id).await.as_ref(), Some(want), "{id}");
    }
    // Households synced during the backup are there whole or not at all.
    let mut caught = 0;
    for id in &during {
        if let Some(got) = heads(&state, id).await {
            assert_eq!(Some(got), heads(&w.app.state, id).await, "{id}");
            caught += 1;
        }
    }
    assert_eq!(before.len() + caught, documents);
    let original_keys = w.app.state.photos.list().await.unwrap();
    let restored_keys = state.photos.list().await.unwrap();
    assert_eq!(restored_keys, original_keys);
    for key in &restored_keys {
        let a = w.app.state.photos.get(key).await.unwrap().unwrap();
        let b = state.photos.get(key).await.unwrap().unwrap();
        assert_eq!(Sha256Hex::of(&a), Sha256Hex::of(&b), "{key}");
    }
    // People, reviews' prerequisites and the audit trail came back too: the head signs in.
    let users = state.storage.list_users(Some("10846")).await.unwrap();
    assert_eq!(users.len(), 4);
    let projection = state
        .storage
        .get_projection(before[3].as_str())
        .await
        .unwrap();
    assert!(projection.is_some(), "projections are restored");
    state.storage.close().await;
    w.app.stop().await;
}

fn rewrite_archive(from: &Path, to: &Path, damage: impl Fn(&str, &mut Vec<u8>)) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        damage(&name, &mut bytes);
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        out.append_data(&mut header, &name, bytes.as_slice())
            .unwrap();
    }
    out.finish().unwrap();
}

pub async fn a_restore_writes_nothing_it_cannot_finish(db: &TestDb) {
    let w = world(db).await;
    w.upload_photo(&photo(7)).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("backup.tar");
    let config = (*w.app.state.config).clone();
    backup::backup(&config, &archive).await.unwrap();
    // An archive is never overwritten.
    let again = backup::backup(&config, &archive).await.unwrap_err();
    assert!(format!("{again:#}").contains("already exists"), "{again:#}");

    // A photo whose bytes changed in the archive: refused before anything is written.
    let damaged = dir.path().join("damaged.tar");
    rewrite_archive(&archive, &damaged, |name, bytes| {
        if name.starts_with("photos/evidence/") && bytes.len() > 100 {
            bytes[100] ^= 0xff;
        }
    });
    let (target, place, restored_config) = fresh_place(db).await;
    let error = backup::restore(&restored_config, &damaged)
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("damaged"), "{error:#}");
    if db.backend == sansang_tests::db::TestBackend::Sqlite {
        assert!(!place.path().join("restored.db").exists());
    } else {
        let storage = sansang_server::storage::SqlStorage::connect(&target.url)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("select count(*) from documents")
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
        storage.pool().close().await;
    }
    assert!(
        !place.path().join("photos").exists()
            || std::fs::read_dir(place.path().join("photos"))
                .unwrap()
                .count()
                == 0
    );

    // A good restore, then another into the same place: refused, the first one kept.
    backup::restore(&restored_config, &archive).await.unwrap();
    let error = backup::restore(&restored_config, &archive)
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("already exists") || text.contains("already holds"),
        "{text}"
    );
    // A backup of the other backend is refused by name.
    let other = dir.path().join("other.tar");
    rewrite_archive(&archive, &other, |name, bytes| {
        if name == "sansang-backup.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let flipped = if manifest["backend"] == "sqlite" {
                "postgres"
            } else {
                "sqlite"
            };
            manifest["backend"] = flipped.into();
            *bytes = serde_json::to_vec(&manifest).unwrap();
        }
    });
    let (_t2, _p2, config2) = fresh_place(db).await;
    let error = backup::restore(&config2, &other).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("is a backup of a"),
        "{error:#}"
    );
    w.app.stop().await;
}

/// `dir` and every folder and file under it.
fn everything_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(everything_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
