//! Conformance suite for photo stores: one story per behaviour, run against every backend.
//!
//! Each story takes an `Arc<dyn PhotoStore>` holding nothing yet. Adding a backend (S3) is one
//! `conformance!` line with a function that opens a fresh, empty store.

#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use sansang_server::photos::{self, FolderStore, PhotoKey, PhotoStore, Sha256Hex, Variant};

/// A fresh store and whatever must live as long as it (a temp folder, a bucket guard).
struct Fresh {
    store: Arc<dyn PhotoStore>,
    _keep: Box<dyn Any + Send>,
}

async fn fresh_folder() -> Result<Fresh> {
    let dir = tempfile::tempdir()?;
    let store = photos::open(&dir.path().display().to_string()).await?;
    ensure!(store.kind() == "folder");
    Ok(Fresh {
        store,
        _keep: Box::new(dir),
    })
}

/// Generates one test per story for a backend.
macro_rules! conformance {
    ($backend:ident, $fresh:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn round_trip_each_variant() -> Result<()> {
                stories::round_trip_each_variant($fresh().await?.store).await
            }

            #[tokio::test]
            async fn put_is_idempotent() -> Result<()> {
                stories::put_is_idempotent($fresh().await?.store).await
            }

            #[tokio::test]
            async fn missing_is_none() -> Result<()> {
                stories::missing_is_none($fresh().await?.store).await
            }

            #[tokio::test]
            async fn delete_then_delete_again() -> Result<()> {
                stories::delete_then_delete_again($fresh().await?.store).await
            }

            #[tokio::test]
            async fn list_is_exact_and_sorted() -> Result<()> {
                stories::list_is_exact_and_sorted($fresh().await?.store).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_puts() -> Result<()> {
                stories::concurrent_puts($fresh().await?.store).await
            }
        }
    };
}

conformance!(folder, fresh_folder);

/// A few kilobytes of non-text bytes, different for each `seed`, starting like a JPEG.
fn photo_bytes(seed: u8) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
    bytes.extend((0..4096u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes.extend([0x00, 0xff, 0xd9]);
    bytes
}

fn key_for(bytes: &[u8], variant: Variant) -> PhotoKey {
    PhotoKey::new(Sha256Hex::of(bytes), variant)
}

mod stories {
    use super::*;

    pub async fn round_trip_each_variant(store: Arc<dyn PhotoStore>) -> Result<()> {
        for (seed, variant) in Variant::ALL.into_iter().enumerate() {
            let bytes = photo_bytes(seed as u8);
            let key = key_for(&bytes, variant);
            store.put(&key, bytes.clone()).await?;
            let got = store.get(&key).await?.context("stored photo not found")?;
            ensure!(got == bytes, "{key}: bytes differ after a round trip");
            ensure!(store.exists(&key).await?, "{key}: exists says no");
        }
        // Same hash, other variants: distinct objects.
        let bytes = photo_bytes(0);
        let original = key_for(&bytes, Variant::Original);
        let thumb = key_for(&bytes, Variant::Thumb);
        ensure!(
            !store.exists(&thumb).await?,
            "a thumb appeared from nowhere"
        );
        store.put(&thumb, b"small".to_vec()).await?;
        ensure!(store.get(&original).await? == Some(bytes));
        ensure!(store.get(&thumb).await? == Some(b"small".to_vec()));
        Ok(())
    }

    pub async fn put_is_idempotent(store: Arc<dyn PhotoStore>) -> Result<()> {
        let bytes = photo_bytes(7);
        let key = key_for(&bytes, Variant::Original);
        store.put(&key, bytes.clone()).await?;
        store.put(&key, bytes.clone()).await?;
        ensure!(store.get(&key).await? == Some(bytes));
        ensure!(store.list().await? == vec![key]);
        Ok(())
    }

    pub async fn missing_is_none(store: Arc<dyn PhotoStore>) -> Result<()> {
        let key = key_for(b"never uploaded", Variant::Evidence);
        ensure!(store.get(&key).await?.is_none());
        ensure!(!store.exists(&key).await?);
        ensure!(store.list().await?.is_empty());
        Ok(())
    }

    pub async fn delete_then_delete_again(store: Arc<dyn PhotoStore>) -> Result<()> {
        let bytes = photo_bytes(3);
        let key = key_for(&bytes, Variant::Evidence);
        store.put(&key, bytes).await?;
        ensure!(store.delete(&key).await?, "first delete removed nothing");
        ensure!(
            !store.delete(&key).await?,
            "second delete removed something"
        );
        ensure!(!store.exists(&key).await?);
        ensure!(store.get(&key).await?.is_none());
        ensure!(store.list().await?.is_empty());
        Ok(())
    }

    pub async fn list_is_exact_and_sorted(store: Arc<dyn PhotoStore>) -> Result<()> {
        let mut expected = Vec::new();
        for seed in 0..6u8 {
            let bytes = photo_bytes(seed);
            let key = key_for(&bytes, Variant::ALL[usize::from(seed) % 3]);
            store.put(&key, bytes).await?;
            expected.push(key);
        }
        let deleted = expected.remove(2);
        ensure!(store.delete(&deleted).await?);
        expected.sort();
        ensure!(store.list().await? == expected);
        Ok(())
    }

    pub async fn concurrent_puts(store: Arc<dyn PhotoStore>) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for seed in 0..16u8 {
            let store = store.clone();
            tasks.spawn(async move {
                let bytes = photo_bytes(seed);
                // Half share one variant folder, so folder creation races too.
                let variant = if seed % 2 == 0 {
                    Variant::Thumb
                } else {
                    Variant::ALL[usize::from(seed) % 3]
                };
                let key = key_for(&bytes, variant);
                store.put(&key, bytes.clone()).await.map(|()| (key, bytes))
            });
        }
        let mut expected = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (key, bytes) = done??;
            ensure!(store.get(&key).await? == Some(bytes), "{key} unreadable");
            expected.push(key);
        }
        expected.sort();
        ensure!(store.list().await? == expected);
        Ok(())
    }
}

// ---- Keys and locations ----

#[test]
fn sha256_hex_accepts_only_64_lowercase_hex() -> Result<()> {
    let good = Sha256Hex::of(b"abc");
    ensure!(good.as_str() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ensure!(Sha256Hex::parse(good.as_str())? == good);

    let rejected = [
        "../../etc/passwd".to_owned(),
        good.as_str().to_uppercase(),
        good.as_str()[..63].to_owned(),
        format!("{}0", good.as_str()),
        format!("{}g", &good.as_str()[..63]),
        format!("{}/", &good.as_str()[..63]),
        format!("../{}", &good.as_str()[..61]),
        String::new(),
    ];
    for text in rejected {
        let error = Sha256Hex::parse(&text)
            .err()
            .context(format!("accepted {text:?}"))?;
        ensure!(error.code() == "photo-hash-invalid");
    }
    Ok(())
}

#[test]
fn object_names_come_from_the_key_only() -> Result<()> {
    let hash = Sha256Hex::of(b"abc");
    let key = PhotoKey::new(hash.clone(), Variant::Evidence);
    ensure!(key.object_name() == format!("evidence/ba/{hash}"));
    ensure!(PhotoKey::from_object_name(&key.object_name()) == Some(key));
    ensure!(PhotoKey::from_object_name(&format!("evidence/ba/../{hash}")).is_none());
    ensure!(PhotoKey::from_object_name("evidence/ba/.tmp-1234").is_none());
    Ok(())
}

#[tokio::test]
async fn open_accepts_paths_and_file_urls_and_refuses_s3() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nested = dir.path().join("a").join("photos");
    let store = photos::open(&format!("file://{}", nested.display())).await?;
    ensure!(store.kind() == "folder");
    ensure!(nested.is_dir(), "file:// root not created");

    let error = photos::open("s3://bucket/photos")
        .await
        .err()
        .context("s3 opened")?;
    ensure!(
        error.to_string().contains("S3 store not built yet"),
        "{error}"
    );
    ensure!(error.code() == "photo-store-location");
    ensure!(photos::open("ftp://host/photos").await.is_err());
    ensure!(photos::open("file://relative/photos").await.is_err());
    ensure!(photos::open("").await.is_err());
    Ok(())
}

// ---- Folder store specifics ----

/// Every file under `root` whose name starts like a temp file.
fn temp_files(root: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

#[tokio::test]
async fn folder_list_ignores_temp_and_foreign_files() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = FolderStore::new(dir.path().to_path_buf())?;
    let bytes = photo_bytes(1);
    let key = key_for(&bytes, Variant::Original);
    store.put(&key, bytes).await?;

    let hash = key.sha256.as_str();
    let prefix = key.sha256.prefix();
    let wrong_prefix = if prefix == "00" { "01" } else { "00" };
    let stray = [
        ".tmp-0000".to_owned(),
        "notes.txt".to_owned(),
        hash.to_owned(),
        format!("original/{prefix}/.tmp-{hash}"),
        format!("original/{prefix}/{}", hash.to_uppercase()),
        format!("original/{prefix}/readme"),
        format!("original/{wrong_prefix}/{hash}"),
        format!("thumbs/{prefix}/{hash}"),
        format!("evidence/{hash}"),
    ];
    for name in &stray {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, b"not a photo")?;
    }
    // A folder where an object could be is not an object either.
    let other = Sha256Hex::of(b"other");
    std::fs::create_dir_all(
        dir.path()
            .join("thumb")
            .join(other.prefix())
            .join(other.as_str()),
    )?;

    ensure!(store.list().await? == vec![key]);
    Ok(())
}

#[tokio::test]
async fn folder_failed_put_leaves_nothing_behind() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = FolderStore::new(dir.path().to_path_buf())?;

    // We run as root, so permissions would not stop us: make the variant folder a plain file.
    std::fs::write(dir.path().join("original"), b"in the way")?;
    let bytes = photo_bytes(2);
    let key = key_for(&bytes, Variant::Original);
    let error = store
        .put(&key, bytes.clone())
        .await
        .err()
        .context("put succeeded")?;
    ensure!(error.code() == "photo-store-io", "{error}");
    ensure!(
        error.to_string().contains(&key.object_name()),
        "no object in: {error}"
    );
    ensure!(temp_files(dir.path())?.is_empty());

    // Fail later, at the rename: the final name is a non-empty folder.
    let key = key_for(&bytes, Variant::Evidence);
    let blocker = dir.path().join(key.object_name());
    std::fs::create_dir_all(&blocker)?;
    std::fs::write(blocker.join("keep"), b"x")?;
    let error = store
        .put(&key, bytes)
        .await
        .err()
        .context("put over a folder succeeded")?;
    ensure!(error.code() == "photo-store-io", "{error}");
    ensure!(
        temp_files(dir.path())?.is_empty(),
        "temp file left after a failed rename"
    );
    ensure!(store.list().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn folder_objects_live_at_their_object_names() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = FolderStore::new(dir.path().to_path_buf())?;
    let bytes = photo_bytes(4);
    let key = key_for(&bytes, Variant::Thumb);
    store.put(&key, bytes.clone()).await?;
    ensure!(std::fs::read(dir.path().join(key.object_name()))? == bytes);
    ensure!(temp_files(dir.path())?.is_empty());
    Ok(())
}
