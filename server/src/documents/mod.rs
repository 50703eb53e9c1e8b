//! Household documents on the server: receiving changes, persisting them durably with their
//! projection, and compacting the change log into snapshots.
//!
//! Every way a change arrives (the sync socket, the HTTP fallback, the demo, tools) goes through
//! [`DocumentService::apply_changes`], so they all persist and project the same way.

mod id;
mod locks;

use std::sync::Arc;

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use sansang_shared::{Projection, read};

pub use id::{DocumentId, InvalidDocumentId};
use locks::KeyedLocks;

use crate::metrics::Metrics;
use crate::storage::{DocumentScope, DocumentUpdate, Storage, StorageError, StoredChange};

/// Errors of document handling, each with a stable code for clients.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Bytes that are not Automerge changes or documents.
    #[error("the Automerge data does not decode: {0}")]
    Corrupt(String),
    /// A stored document that no longer loads: a server fault, not the client's.
    #[error("stored document {id} does not load: {detail}")]
    StoredCorrupt { id: String, detail: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DocumentError {
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::Corrupt(_) => "automerge-corrupt",
            DocumentError::StoredCorrupt { .. } => "stored-document-corrupt",
            DocumentError::Storage(_) => "storage-error",
        }
    }
}

/// What applying changes did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Changes not stored before this call.
    pub new_changes: usize,
    /// The projection after the changes, as stored.
    pub projection: Projection,
}

pub struct DocumentService {
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    locks: KeyedLocks,
    compact_after: usize,
}

impl DocumentService {
    pub fn new(storage: Arc<dyn Storage>, metrics: Arc<Metrics>, compact_after: usize) -> Self {
        DocumentService {
            storage,
            metrics,
            locks: KeyedLocks::default(),
            compact_after: compact_after.max(1),
        }
    }

    /// Decodes raw change bytes (one change each), as a sync message carries them.
    pub fn decode_changes(raw: &[Vec<u8>]) -> Result<Vec<Change>, DocumentError> {
        raw.iter()
            .map(|bytes| {
                Change::from_bytes(bytes.clone())
                    .map_err(|e| DocumentError::Corrupt(format!("change: {e}")))
            })
            .collect()
    }

    /// Decodes a saved document or a run of saved changes (what `save` and `save_after` make).
    pub fn decode_saved(bytes: &[u8]) -> Result<Vec<Change>, DocumentError> {
        let doc = Automerge::load(bytes).map_err(|e| DocumentError::Corrupt(e.to_string()))?;
        Ok(doc.get_changes(&[]).into_iter().collect())
    }

    /// Stores `changes` of document `id` (those already stored are ignored) and its new
    /// projection, in one transaction; returns only after both are durable.
    #[tracing::instrument(skip_all, fields(document = %id, changes = changes.len()))]
    pub async fn apply_changes(
        &self,
        id: &DocumentId,
        changes: Vec<Change>,
    ) -> Result<Applied, DocumentError> {
        let _guard = self.locks.lock(id.as_str()).await;
        self.metrics.changes_received(changes.len());
        let (mut doc, stored) = self.load_locked(id).await?;
        let stored_count = stored.len();
        // Changes already folded into the snapshot are not in the log any more: skip them
        // rather than store them twice.
        let changes: Vec<Change> = changes
            .into_iter()
            .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
            .collect();
        let incoming: Vec<StoredChange> = changes
            .iter()
            .map(|c| StoredChange {
                hash: c.hash().to_string(),
                bytes: c.raw_bytes().to_vec(),
            })
            .collect();
        doc.apply_changes(changes)
            .map_err(|e| DocumentError::Corrupt(format!("applying changes: {e}")))?;
        let projection = read::project(&doc, &doc.get_heads(), crate::reference_year());
        let update = DocumentUpdate {
            document_id: id.as_str().to_owned(),
            scope: DocumentScope {
                commune_code: projection.household.commune_code.clone(),
                hamlet_id: projection.household.hamlet_id.clone(),
            },
            changes: incoming,
            projection: Some(projection.clone()),
        };
        let new_changes = self.storage.apply_document_update(&update).await?;
        self.metrics.changes_stored(new_changes);
        if stored_count + new_changes >= self.compact_after {
            self.compact_locked(id, &doc).await?;
        }
        Ok(Applied {
            new_changes,
            projection,
        })
    }

    /// The current document, or `None` when it was never stored.
    pub async fn load(&self, id: &DocumentId) -> Result<Option<Automerge>, DocumentError> {
        let _guard = self.locks.lock(id.as_str()).await;
        if self.storage.document_scope(id.as_str()).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.load_locked(id).await?.0))
    }

    /// Loads the snapshot and the changes since; returns the document and the stored hashes of
    /// the changes outside the snapshot.
    async fn load_locked(
        &self,
        id: &DocumentId,
    ) -> Result<(Automerge, Vec<String>), DocumentError> {
        let Some(stored) = self.storage.load_document(id.as_str()).await? else {
            return Ok((Automerge::new(), Vec::new()));
        };
        let corrupt = |detail: String| DocumentError::StoredCorrupt {
            id: id.to_string(),
            detail,
        };
        let mut doc = match &stored.snapshot {
            Some(bytes) => Automerge::load(bytes).map_err(|e| corrupt(e.to_string()))?,
            None => Automerge::new(),
        };
        let hashes = stored.changes.iter().map(|c| c.hash.clone()).collect();
        let changes = stored
            .changes
            .into_iter()
            .map(|c| Change::from_bytes(c.bytes).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        doc.apply_changes(changes)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok((doc, hashes))
    }

    /// Folds every applied change into a new snapshot and deletes exactly those changes; a
    /// change still waiting for its dependencies stays in the log.
    async fn compact_locked(&self, id: &DocumentId, doc: &Automerge) -> Result<(), DocumentError> {
        let Some(stored) = self.storage.load_document(id.as_str()).await? else {
            return Ok(());
        };
        let merged: Vec<String> = stored
            .changes
            .iter()
            .filter(|c| {
                c.hash
                    .parse::<ChangeHash>()
                    .is_ok_and(|h| doc.get_change_by_hash(&h).is_some())
            })
            .map(|c| c.hash.clone())
            .collect();
        let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        self.storage
            .compact_document(id.as_str(), &doc.save(), &heads, &merged)
            .await?;
        tracing::debug!(merged = merged.len(), "compacted");
        Ok(())
    }
}
