//! Where photo bytes live: a content-addressed store trait, its keys, and the backends behind it.
//!
//! Handlers hold an `Arc<dyn PhotoStore>` picked by [`open`] from a path or URL. A store names
//! every object from a [`PhotoKey`] alone — a checked sha256 hash and a fixed variant — so no
//! client-supplied text ever becomes part of a path or object name, and path traversal is
//! impossible by construction. Checking that the bytes really hash to the key is the ingest's job,
//! not the store's: derived variants (evidence image, thumbnail) are stored under the hash of
//! their original.

mod folder;
pub mod ingest;
pub mod maintenance;
mod s3;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

pub use folder::FolderStore;
pub use s3::{S3Credentials, S3Location, S3Store};

/// Errors from a photo store, with the stable code the HTTP layer shows.
#[derive(Debug, thiserror::Error)]
pub enum PhotoStoreError {
    /// The backend's file system or network failed while working on one object.
    #[error("photo store could not {action} {object} ({path}): {source}")]
    Io {
        /// What the store was doing: "write", "rename", "read"...
        action: &'static str,
        /// The object name, or a description such as "store root".
        object: String,
        /// Where on the backend, for the operator's logs.
        path: String,
        source: std::io::Error,
    },
    /// Text offered as a sha256 hash is not 64 lowercase hex characters.
    #[error("invalid sha256 hash: {reason}")]
    InvalidHash { reason: &'static str },
    /// The store location is neither a path nor a URL scheme this build knows.
    #[error("unsupported photo store location {location:?}: {reason}")]
    UnsupportedLocation {
        location: String,
        reason: &'static str,
    },
    /// A remote store (S3) refused a request or could not be reached.
    #[error("photo store could not {action} {object} ({location}): {detail}")]
    Backend {
        /// What the store was doing: "write", "read", "list"...
        action: &'static str,
        /// The object name, or a description such as "the bucket".
        object: String,
        /// Bucket, prefix and endpoint; never credentials.
        location: String,
        /// The service's or the connection's error, with its causes.
        detail: String,
    },
    /// The configured bucket does not exist; the server never creates it by itself.
    #[error(
        "photo store bucket {bucket:?} does not exist at {endpoint}: create it, or correct \
         photo_store (SANSANG_PHOTO_STORE)"
    )]
    MissingBucket { bucket: String, endpoint: String },
    /// The S3 store has no access key pair to sign with.
    #[error("S3 photo store credentials missing: {reason}")]
    MissingCredentials { reason: &'static str },
    /// A blocking task doing the store's file work panicked or was cancelled.
    #[error("photo store task for {object} did not finish: {source}")]
    Task {
        object: String,
        source: tokio::task::JoinError,
    },
}

impl PhotoStoreError {
    /// A stable, machine-readable code for API bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoStoreError::Io { .. } => "photo-store-io",
            PhotoStoreError::InvalidHash { .. } => "photo-hash-invalid",
            PhotoStoreError::UnsupportedLocation { .. } => "photo-store-location",
            PhotoStoreError::Task { .. } => "photo-store-task",
            PhotoStoreError::Backend { .. } => "photo-store-backend",
            PhotoStoreError::MissingBucket { .. } => "photo-store-bucket-missing",
            PhotoStoreError::MissingCredentials { .. } => "photo-store-credentials",
        }
    }
}

pub type Result<T, E = PhotoStoreError> = std::result::Result<T, E>;

/// A sha256 digest as 64 lowercase hex characters; no other text can become one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Accepts exactly 64 characters of `0-9a-f`. Uppercase is refused rather than folded, so one
    /// photo has one spelling and one object name.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() != 64 {
            return Err(PhotoStoreError::InvalidHash {
                reason: "expected 64 characters",
            });
        }
        if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(PhotoStoreError::InvalidHash {
                reason: "expected only lowercase hex digits 0-9a-f",
            });
        }
        Ok(Sha256Hex(text.to_owned()))
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Hex(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two hex digits, used to fan objects out over 256 folders or prefixes.
    pub fn prefix(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sha256Hex {
    type Err = PhotoStoreError;

    fn from_str(s: &str) -> Result<Self> {
        Sha256Hex::parse(s)
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Which rendering of a photo an object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// The bytes as uploaded (kept only until processed, or by policy).
    Original,
    /// The re-encoded, metadata-free, bounded-size image reviewers see.
    Evidence,
    /// The small preview for lists.
    Thumb,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Evidence, Variant::Thumb];

    /// The name used as the first segment of the object name.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Evidence => "evidence",
            Variant::Thumb => "thumb",
        }
    }

    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored object: a photo's hash and the variant. Orders by hash, then variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhotoKey {
    pub sha256: Sha256Hex,
    pub variant: Variant,
}

impl PhotoKey {
    pub fn new(sha256: Sha256Hex, variant: Variant) -> Self {
        PhotoKey { sha256, variant }
    }

    /// The backend-neutral object name, `<variant>/<first two hex>/<hash>`: a relative path for
    /// the folder store and an object key for S3. Built from checked parts only.
    pub fn object_name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.variant.as_str(),
            self.sha256.prefix(),
            self.sha256.as_str()
        )
    }

    /// The inverse of [`PhotoKey::object_name`]; anything else (temp files, foreign objects, a
    /// hash under the wrong prefix) is `None`.
    pub fn from_object_name(name: &str) -> Option<PhotoKey> {
        let mut parts = name.split('/');
        let variant = Variant::parse(parts.next()?)?;
        let prefix = parts.next()?;
        let sha256 = Sha256Hex::parse(parts.next()?).ok()?;
        if parts.next().is_some() || prefix != sha256.prefix() {
            return None;
        }
        Some(PhotoKey { sha256, variant })
    }
}

impl fmt::Display for PhotoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.object_name())
    }
}

/// A byte store for photos, keyed by [`PhotoKey`]. Every backend behaves the same: a missing
/// object is `Ok(None)` / `Ok(false)`, never an error, and a write is all-or-nothing.
#[async_trait]
pub trait PhotoStore: Send + Sync + 'static {
    /// Which backend this is: "folder" or "s3".
    fn kind(&self) -> &'static str;

    /// Stores `bytes` under `key`, replacing any previous object atomically. Putting the same key
    /// again is not an error. Returns only once the object is durable.
    async fn put(&self, key: &PhotoKey, bytes: Vec<u8>) -> Result<()>;

    /// The object's bytes, or `None` when there is no such object.
    async fn get(&self, key: &PhotoKey) -> Result<Option<Vec<u8>>>;

    async fn exists(&self, key: &PhotoKey) -> Result<bool>;

    /// Removes the object; `true` when something was removed, `false` when it was not there.
    async fn delete(&self, key: &PhotoKey) -> Result<bool>;

    /// Every stored key, sorted, for cleanup and migration between backends. Objects the store
    /// did not name (temp files, foreign files) are left out.
    async fn list(&self) -> Result<Vec<PhotoKey>>;
}

/// Opens the photo store at `url_or_path`: a plain path or a `file://` URL is a [`FolderStore`]
/// (created if missing); `s3://<bucket>[/<prefix>]?endpoint=…&region=…&path_style=…` is an
/// [`S3Store`] signing with [`S3Credentials::from_env`], whose bucket must already exist.
pub async fn open(url_or_path: &str) -> Result<Arc<dyn PhotoStore>> {
    let unsupported = |reason| PhotoStoreError::UnsupportedLocation {
        location: url_or_path.to_owned(),
        reason,
    };
    let root = if let Some(path) = url_or_path.strip_prefix("file://") {
        // `file:///srv/photos` names `/srv/photos`; a host part (`file://host/...`) is not
        // supported, and neither is percent-encoding.
        if !path.starts_with('/') {
            return Err(unsupported(
                "a file:// URL must hold an absolute path (file:///...)",
            ));
        }
        PathBuf::from(path)
    } else if url_or_path.starts_with("s3://") {
        let location = S3Location::parse(url_or_path)?;
        let store = S3Store::new(location, S3Credentials::from_env()?);
        store.check_bucket().await?;
        return Ok(Arc::new(store));
    } else if url_or_path.contains("://") {
        return Err(unsupported(
            "expected a path, a file:// URL or an s3:// URL",
        ));
    } else if url_or_path.is_empty() {
        return Err(unsupported("the location is empty"));
    } else {
        PathBuf::from(url_or_path)
    };
    let object = root.display().to_string();
    let store = tokio::task::spawn_blocking(move || FolderStore::new(root))
        .await
        .map_err(|source| PhotoStoreError::Task { object, source })??;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_round_trip() {
        let key = PhotoKey::new(Sha256Hex::of(b"photo"), Variant::Thumb);
        let name = key.object_name();
        assert!(name.starts_with("thumb/"));
        assert_eq!(PhotoKey::from_object_name(&name), Some(key));
    }

    #[test]
    fn foreign_object_names_are_not_keys() {
        let hash = Sha256Hex::of(b"photo");
        let wrong_prefix = if hash.prefix() == "00" { "01" } else { "00" };
        for name in [
            String::new(),
            format!("original/{}", hash.as_str()),
            format!("original/{wrong_prefix}/{hash}"),
            format!("other/{}/{hash}", hash.prefix()),
            format!("original/{}/{hash}/extra", hash.prefix()),
            format!("original/{}/.tmp-{hash}", hash.prefix()),
        ] {
            assert_eq!(PhotoKey::from_object_name(&name), None, "{name}");
        }
    }
}
