//! The default photo store: one file per object under a local folder, written atomically.
//!
//! Layout: `<root>/<variant>/<first two hex>/<hash>`, exactly [`PhotoKey::object_name`]. A write
//! goes to `.tmp-<uuid>` in the destination folder, is fsynced, renamed over the final name, and
//! the folder is fsynced, so a reader sees the old object or the new one, never a partial one, and
//! an acknowledged write survives a power cut. All file work runs on tokio's blocking pool.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tracing::instrument;

use super::{PhotoKey, PhotoStore, PhotoStoreError, Result, Variant};

/// Temp files start with this; nothing the store names does, so `list` can skip them.
const TEMP_PREFIX: &str = ".tmp-";

/// A [`PhotoStore`] over a local folder.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    /// Opens the store at `root`, creating the folder if needed. Blocking: call it before the
    /// runtime starts or from a blocking task (as [`super::open`] does).
    pub fn new(root: PathBuf) -> Result<Self> {
        crate::private::create_dir_all(&root)
            .map_err(|e| io_error("create", "store root", &root, e))?;
        Ok(FolderStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &PhotoKey) -> PathBuf {
        self.root
            .join(key.variant.as_str())
            .join(key.sha256.prefix())
            .join(key.sha256.as_str())
    }

    /// Runs `work` on the blocking pool, naming `object` if the task itself fails.
    async fn blocking<T, F>(&self, object: String, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|source| PhotoStoreError::Task { object, source })?
    }
}

#[async_trait]
impl PhotoStore for FolderStore {
    fn kind(&self) -> &'static str {
        "folder"
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn put(&self, key: &PhotoKey, bytes: Vec<u8>) -> Result<()> {
        let root = self.root.clone();
        let key = key.clone();
        let path = self.path_of(&key);
        self.blocking(key.object_name(), move || {
            write_atomically(&root, &key, &path, &bytes)
        })
        .await
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn get(&self, key: &PhotoKey) -> Result<Option<Vec<u8>>> {
        let object = key.object_name();
        let path = self.path_of(key);
        self.blocking(object.clone(), move || match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", object, &path, e)),
        })
        .await
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn exists(&self, key: &PhotoKey) -> Result<bool> {
        let object = key.object_name();
        let path = self.path_of(key);
        self.blocking(object.clone(), move || match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("inspect", object, &path, e)),
        })
        .await
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn delete(&self, key: &PhotoKey) -> Result<bool> {
        let object = key.object_name();
        let path = self.path_of(key);
        // The emptied prefix folder stays: removing it could race a put that just created it.
        self.blocking(object.clone(), move || match fs::remove_file(&path) {
            Ok(()) => {
                sync_parent(&path).map_err(|e| io_error("sync folder of", &object, &path, e))?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("delete", object, &path, e)),
        })
        .await
    }

    #[instrument(skip_all)]
    async fn list(&self) -> Result<Vec<PhotoKey>> {
        let root = self.root.clone();
        self.blocking("all objects".to_owned(), move || list_keys(&root))
            .await
    }
}

fn write_atomically(root: &Path, key: &PhotoKey, path: &Path, bytes: &[u8]) -> Result<()> {
    let object = key.object_name();
    let variant_dir = root.join(key.variant.as_str());
    let dir = variant_dir.join(key.sha256.prefix());
    ensure_dir(&variant_dir)
        .map_err(|e| io_error("create folder for", &object, &variant_dir, e))?;
    ensure_dir(&dir).map_err(|e| io_error("create folder for", &object, &dir, e))?;

    let temp = TempFile(dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4())));
    let mut file = crate::private::options()
        .write(true)
        .create_new(true)
        .open(&temp.0)
        .map_err(|e| io_error("create temp file for", &object, &temp.0, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", &object, &temp.0, e))?;
    drop(file);
    fs::rename(&temp.0, path).map_err(|e| io_error("rename into place", &object, path, e))?;
    temp.disarm();
    sync_dir(&dir).map_err(|e| io_error("sync folder of", &object, &dir, e))
}

/// Creates `dir` unless it exists, and makes a new entry durable by syncing its parent.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    match crate::private::create_dir(dir) {
        Ok(()) => sync_parent(dir),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            if fs::metadata(dir)?.is_dir() {
                Ok(())
            } else {
                Err(io::Error::new(
                    ErrorKind::NotADirectory,
                    "exists and is not a folder",
                ))
            }
        }
        Err(e) => Err(e),
    }
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes the temp file unless the write got as far as renaming it into place, including when
/// the write returns early with an error or panics.
struct TempFile(PathBuf);

impl TempFile {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.0)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove photo temp file");
        }
    }
}

/// Walks `<root>/<variant>/<prefix>/` and keeps the file names that parse back into keys.
fn list_keys(root: &Path) -> Result<Vec<PhotoKey>> {
    let mut keys = Vec::new();
    for variant in Variant::ALL {
        let variant_dir = root.join(variant.as_str());
        for prefix in read_dir_or_empty(&variant_dir)? {
            if !prefix.file_type.is_dir() {
                continue;
            }
            for entry in read_dir_or_empty(&prefix.path)? {
                if !entry.file_type.is_file() {
                    continue;
                }
                let (Some(prefix_name), Some(file_name)) =
                    (prefix.name.to_str(), entry.name.to_str())
                else {
                    continue;
                };
                let name = format!("{}/{prefix_name}/{file_name}", variant.as_str());
                if let Some(key) = PhotoKey::from_object_name(&name) {
                    keys.push(key);
                }
            }
        }
    }
    keys.sort();
    Ok(keys)
}

struct Entry {
    name: std::ffi::OsString,
    path: PathBuf,
    file_type: fs::FileType,
}

/// The entries of `dir`; a folder that does not exist (nothing stored yet) is empty.
fn read_dir_or_empty(dir: &Path) -> Result<Vec<Entry>> {
    let listing_error = |e| io_error("list", "objects", dir, e);
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        // A stray file where a variant folder belongs holds no objects.
        Err(e) if e.kind() == ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(e) => return Err(listing_error(e)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(listing_error)?;
        let file_type = entry.file_type().map_err(listing_error)?;
        entries.push(Entry {
            name: entry.file_name(),
            path: entry.path(),
            file_type,
        });
    }
    Ok(entries)
}

fn io_error(
    action: &'static str,
    object: impl Into<String>,
    path: &Path,
    source: io::Error,
) -> PhotoStoreError {
    PhotoStoreError::Io {
        action,
        object: object.into(),
        path: path.display().to_string(),
        source,
    }
}
