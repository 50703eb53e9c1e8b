//! Conformance suite for photo stores: one story per behaviour, run against every backend.
//!
//! Each story takes an `Arc<dyn PhotoStore>` holding nothing yet. A backend is one
//! `conformance!` line with a function that opens a fresh, empty store, or `None` to skip.
//!
//! S3 runs against the S3-protocol server at `SANSANG_TEST_S3_ENDPOINT` (default
//! `http://127.0.0.1:9387`, moto's server started by `scripts/start-s3-test-server`), a fresh
//! bucket per test. When nothing answers there the S3 tests print `SKIPPED s3` and pass, except
//! under `CI=true`, where they fail.

#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use sansang_server::photos::{
    self, FolderStore, PhotoKey, PhotoStore, S3Credentials, S3Location, S3Store, Sha256Hex, Variant,
};
use sansang_tests::db::running_in_ci;

/// A fresh store and whatever must live as long as it (a temp folder, a bucket guard).
struct Fresh {
    store: Arc<dyn PhotoStore>,
    _keep: Box<dyn Any + Send>,
}

async fn fresh_folder() -> Result<Option<Fresh>> {
    let dir = tempfile::tempdir()?;
    let store = photos::open(&dir.path().display().to_string()).await?;
    ensure!(store.kind() == "folder");
    Ok(Some(Fresh {
        store,
        _keep: Box::new(dir),
    }))
}

/// A fresh bucket on the test S3 server, the store under the key prefix `photos/`.
async fn fresh_s3() -> Result<Option<Fresh>> {
    let Some(store) = fresh_s3_store("photos/").await? else {
        return Ok(None);
    };
    ensure!(store.kind() == "s3");
    Ok(Some(Fresh {
        store: Arc::new(store),
        // moto keeps buckets in memory only; the server dies with the machine.
        _keep: Box::new(()),
    }))
}

const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:9387";

/// The test S3 server's endpoint, or `None` (after saying so) when nothing answers there outside
/// CI. Under `CI=true` an unreachable server is an error.
async fn s3_endpoint() -> Result<Option<String>> {
    let endpoint = std::env::var("SANSANG_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| DEFAULT_S3_ENDPOINT.to_owned());
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let connected = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(authority.clone()),
    )
    .await;
    let why = match connected {
        Ok(Ok(_)) => return Ok(Some(endpoint)),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out connecting".to_owned(),
    };
    let message = format!("no S3 server answers at {endpoint} ({why})");
    if running_in_ci() {
        bail!(
            "CI=true and {message}; run scripts/start-s3-test-server or set \
             SANSANG_TEST_S3_ENDPOINT"
        );
    }
    // Straight to the process's stderr: the harness captures `eprintln!`, and a skipped backend
    // must show in the output of a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED s3: {message} (scripts/start-s3-test-server starts one; CI=true makes this a \
         failure)"
    );
    Ok(None)
}

/// The URL of `bucket` (under `prefix`) on the test server.
fn s3_url(endpoint: &str, bucket: &str, prefix: &str) -> String {
    format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&path_style=true")
}

fn test_credentials() -> S3Credentials {
    S3Credentials::new("test", "test")
}

/// A store on a new, empty bucket `sansang-test-<uuid>`.
async fn fresh_s3_store(prefix: &str) -> Result<Option<S3Store>> {
    let Some(endpoint) = s3_endpoint().await? else {
        return Ok(None);
    };
    let bucket = format!("sansang-test-{}", uuid::Uuid::new_v4().simple());
    let location = S3Location::parse(&s3_url(&endpoint, &bucket, prefix))?;
    let store = S3Store::new(location, test_credentials());
    store.ensure_bucket().await?;
    Ok(Some(store))
}

/// Generates one test per story for a backend.
macro_rules! conformance {
    ($backend:ident, $fresh:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn round_trip_each_variant() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::round_trip_each_variant(fresh.store).await,
                    None => Ok(()),
                }
            }

            #[tokio::test]
            async fn put_is_idempotent() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::put_is_idempotent(fresh.store).await,
                    None => Ok(()),
                }
            }

            #[tokio::test]
            async fn missing_is_none() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::missing_is_none(fresh.store).await,
                    None => Ok(()),
                }
            }

            #[tokio::test]
            async fn delete_then_delete_again() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::delete_then_delete_again(fresh.store).await,
                    None => Ok(()),
                }
            }

            #[tokio::test]
            async fn list_is_exact_and_sorted() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::list_is_exact_and_sorted(fresh.store).await,
                    None => Ok(()),
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_puts() -> Result<()> {
                match $fresh().await? {
                    Some(fresh) => stories::concurrent_puts(fresh.store).await,
                    None => Ok(()),
                }
            }
        }
    };
}

conformance!(folder, fresh_folder);
conformance!(s3, fresh_s3);

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

// ---- Moving photos between stores ----

/// Every object moves from a folder to `target`; an earlier run that stopped half-way (one copy
/// done, one copy with other bytes) is finished, not redone; the source empties only with
/// `delete_source`, after each copy is read back equal.
async fn migrate_story(target: Arc<dyn PhotoStore>) -> Result<()> {
    use sansang_server::photos::maintenance::{MigrateReport, migrate};
    let source = fresh_folder().await?.context("a folder store")?;
    let mut keys = Vec::new();
    for seed in 0..7u8 {
        let bytes = photo_bytes(seed);
        let key = key_for(&bytes, Variant::ALL[usize::from(seed) % 3]);
        source.store.put(&key, bytes).await?;
        keys.push(key);
    }
    keys.sort();
    // What a cut-off run left: one object copied, one half-written with other bytes.
    target
        .put(
            &keys[0],
            source.store.get(&keys[0]).await?.context("source")?,
        )
        .await?;
    target.put(&keys[1], b"torn".to_vec()).await?;

    let mut seen = Vec::new();
    let report = migrate(
        source.store.as_ref(),
        target.as_ref(),
        false,
        |done, total| seen.push((done, total)),
    )
    .await?;
    ensure!(
        report
            == MigrateReport {
                objects: 7,
                copied: 6,
                already_there: 1,
                deleted_from_source: 0,
            },
        "{report:?}"
    );
    ensure!(seen.last() == Some(&(7, 7)) && seen.len() == 7, "{seen:?}");
    ensure!(target.list().await? == keys);
    for key in &keys {
        ensure!(
            target.get(key).await? == source.store.get(key).await?,
            "{key}"
        );
    }

    // Again, deleting the source: nothing to copy, everything leaves the folder.
    let report = migrate(source.store.as_ref(), target.as_ref(), true, |_, _| {}).await?;
    ensure!(
        (
            report.copied,
            report.already_there,
            report.deleted_from_source
        ) == (0, 7, 7),
        "{report:?}"
    );
    ensure!(source.store.list().await?.is_empty());
    ensure!(target.list().await? == keys);
    Ok(())
}

#[tokio::test]
async fn migrate_folder_to_folder() -> Result<()> {
    let target = fresh_folder().await?.context("a folder store")?;
    migrate_story(target.store).await
}

#[tokio::test]
async fn migrate_folder_to_s3() -> Result<()> {
    match fresh_s3().await? {
        Some(target) => migrate_story(target.store).await,
        None => Ok(()),
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
async fn open_accepts_paths_and_file_urls_and_checks_s3_urls() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nested = dir.path().join("a").join("photos");
    let store = photos::open(&format!("file://{}", nested.display())).await?;
    ensure!(store.kind() == "folder");
    ensure!(nested.is_dir(), "file:// root not created");

    // Refused before any credential is read or request sent.
    let error = photos::open("s3://bucket/photos?endpont=http://127.0.0.1:1")
        .await
        .err()
        .context("s3 with a misspelt parameter opened")?;
    ensure!(error.to_string().contains("unknown"), "{error}");
    ensure!(error.code() == "photo-store-location");
    let error = photos::open("s3://id:hunter2@bucket/photos")
        .await
        .err()
        .context("s3 with credentials in the URL opened")?;
    ensure!(error.code() == "photo-store-location");
    ensure!(!error.to_string().contains("hunter2"), "{error}");
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

// ---- S3 store specifics ----

/// Listing pages through a continuation token: 5 objects, 2 per page.
#[tokio::test]
async fn s3_list_follows_pages() -> Result<()> {
    let Some(store) = fresh_s3_store("").await? else {
        return Ok(());
    };
    let store = store.with_page_size(2);
    let mut expected = Vec::new();
    for seed in 10..15u8 {
        let bytes = photo_bytes(seed);
        let key = key_for(&bytes, Variant::ALL[usize::from(seed) % 3]);
        store.put(&key, bytes).await?;
        expected.push(key);
    }
    expected.sort();
    ensure!(store.list().await? == expected);
    Ok(())
}

/// What was uploaded comes back byte for byte, with the stored length and content type S3
/// reports: catches uploads stored with aws-chunked framing in them.
#[tokio::test]
async fn s3_bytes_are_stored_exactly() -> Result<()> {
    let Some(store) = fresh_s3_store("p/").await? else {
        return Ok(());
    };
    // Over a megabyte, not a multiple of any chunk size, every byte value present.
    let bytes: Vec<u8> = (0..1_048_583u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (variant, content_type) in [
        (Variant::Original, "application/octet-stream"),
        (Variant::Evidence, "image/jpeg"),
        (Variant::Thumb, "image/jpeg"),
    ] {
        let key = key_for(&bytes, variant);
        store.put(&key, bytes.clone()).await?;
        let got = store.get(&key).await?.context("uploaded object missing")?;
        ensure!(got.len() == bytes.len(), "{key}: {} bytes back", got.len());
        ensure!(got == bytes, "{key}: bytes differ");

        let head = store
            .client()
            .head_object()
            .bucket(&store.location().bucket)
            .key(format!("p/{}", key.object_name()))
            .send()
            .await?;
        ensure!(head.content_length() == Some(bytes.len() as i64));
        ensure!(head.content_type() == Some(content_type), "{key}: {head:?}");
    }
    Ok(())
}

/// Objects outside the prefix, and objects under it the store did not name, are not listed.
#[tokio::test]
async fn s3_list_ignores_foreign_objects_and_other_prefixes() -> Result<()> {
    let Some(store) = fresh_s3_store("photos/").await? else {
        return Ok(());
    };
    let bytes = photo_bytes(1);
    let key = key_for(&bytes, Variant::Original);
    store.put(&key, bytes).await?;

    let hash = key.sha256.as_str();
    let prefix = key.sha256.prefix();
    let foreign = [
        key.object_name(),
        format!("other/{}", key.object_name()),
        format!("photos/original/{prefix}/{}", hash.to_uppercase()),
        format!("photos/original/{prefix}/{hash}.jpg"),
        format!("photos/thumbs/{prefix}/{hash}"),
        format!("photos/{hash}"),
        "photos/readme.txt".to_owned(),
    ];
    for name in &foreign {
        store
            .client()
            .put_object()
            .bucket(&store.location().bucket)
            .key(name)
            .body(b"not a photo".to_vec().into())
            .send()
            .await?;
    }
    ensure!(store.list().await? == vec![key.clone()]);

    // The same bucket without the prefix sees only `original/…/<hash>` at the root.
    let root = S3Store::new(
        S3Location {
            prefix: String::new(),
            ..store.location().clone()
        },
        test_credentials(),
    );
    ensure!(root.list().await? == vec![key.clone()]);
    ensure!(root.get(&key).await? == Some(b"not a photo".to_vec()));
    Ok(())
}

/// Opening a store whose bucket does not exist fails at once, naming bucket and endpoint.
#[tokio::test]
async fn s3_missing_bucket_is_named_at_open() -> Result<()> {
    let Some(endpoint) = s3_endpoint().await? else {
        return Ok(());
    };
    let bucket = format!("missing-bucket-{}", uuid::Uuid::new_v4().simple());
    for url in [
        s3_url(&endpoint, &bucket, ""),
        format!("s3://{bucket}?endpoint={endpoint}"),
    ] {
        let error = S3Store::connect(&url, test_credentials())
            .await
            .err()
            .context("a missing bucket opened")?;
        ensure!(
            error.code() == "photo-store-bucket-missing",
            "{url}: {error}"
        );
        let message = error.to_string();
        ensure!(message.contains(&bucket), "{message}");
        ensure!(message.contains(&endpoint), "{message}");
    }
    // Nothing was created on the way.
    let store = S3Store::new(
        S3Location::parse(&s3_url(&endpoint, &bucket, ""))?,
        test_credentials(),
    );
    ensure!(store.check_bucket().await.is_err());
    Ok(())
}

/// An unreachable endpoint is a backend error naming the bucket and endpoint, not a hang, and
/// the credentials appear nowhere in it.
#[tokio::test]
async fn s3_unreachable_endpoint_fails_with_context() -> Result<()> {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let credentials = S3Credentials::new("AKIDSANSANGEXAMPLE", "sEcReT-never-printed");
    let error = S3Store::connect(&s3_url(&endpoint, "some-bucket", ""), credentials.clone())
        .await
        .err()
        .context("opened a store on a closed port")?;
    ensure!(error.code() == "photo-store-backend", "{error}");
    let message = format!("{error} {error:?} {credentials:?}");
    ensure!(
        message.contains("some-bucket") && message.contains(&endpoint),
        "{message}"
    );
    ensure!(!message.contains("sEcReT"), "{message}");
    Ok(())
}
