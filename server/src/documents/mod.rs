//! Household documents on the server: receiving changes (as raw changes or sync messages),
//! persisting them durably with their projection, compacting the change log into snapshots, and
//! telling the sync connections that a document changed.
//!
//! Every way a change arrives (the sync socket, the HTTP fallback, the demo, tools) goes through
//! a [`DocGuard`], so they all persist and project the same way: changes are applied to the copy
//! in memory and written to the database with the new projection in one transaction before
//! anything is acknowledged or pushed; a refused or failed write rebuilds the copy from the
//! database, so nothing of it stays — nothing is acknowledged that is not durable.

mod cache;
mod id;
pub mod screen;

use std::sync::Arc;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use sansang_shared::{Projection, read};
use tokio::sync::{OwnedMutexGuard, broadcast};

use cache::{Cache, Loaded, Slot};
pub use id::{DocumentId, InvalidDocumentId};

use crate::metrics::Metrics;
use crate::storage::{
    AuditEntry, DocumentScope, DocumentUpdate, Storage, StorageError, StoredChange,
};

/// Errors of document handling, each with a stable code for clients.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Bytes that are not Automerge changes, documents or sync messages.
    #[error("the Automerge data does not decode: {0}")]
    Corrupt(String),
    /// A stored document that no longer loads: a server fault, not the client's.
    #[error("stored document {id} does not load: {detail}")]
    StoredCorrupt { id: String, detail: String },
    /// Past a size limit (of a message, or of the document it would make); the text names it.
    #[error("{0}")]
    TooLarge(String),
    /// A change the sender may not make (it moves the household out of the sender's hamlets);
    /// nothing of it was stored. The text names the field.
    #[error("{0}")]
    Refused(String),
    /// A change made on what a person saw (a review note, a resolved conflict) found the
    /// document changed by another server meanwhile: nothing was stored; the copy now holds
    /// what the database does, for the person to look at again.
    #[error("the household changed meanwhile; look at it again")]
    ChangedMeanwhile,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What becomes of a change, decided from the projection it would give before anything is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Store,
    /// Stored, quarantined in the same write, as sent by this principal (`device:<id>`).
    Quarantine {
        by: String,
    },
    /// Not stored at all; the reason names the field.
    Refuse(String),
}

impl DocumentError {
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::Corrupt(_) => "automerge-corrupt",
            DocumentError::StoredCorrupt { .. } => "stored-document-corrupt",
            DocumentError::Refused(_) => "change-refused",
            DocumentError::TooLarge(_) => "too-large",
            DocumentError::ChangedMeanwhile => "changed-since-opened",
            DocumentError::Storage(_) => "storage-error",
        }
    }
}

/// What changed, for the sync connections to push.
#[derive(Debug, Clone)]
pub enum Changed {
    /// A document changed (durably, here or on another server): which one, and the sync
    /// connection whose message changed it (0 for any other way), which has its answer already
    /// and need not be pushed to.
    Document { id: DocumentId, origin: u64 },
    /// Any document may have changed: notices from other servers were missed while the
    /// listener was away. Every followed document is offered again.
    Any,
}

/// Where this server stands with the other servers' change notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    /// No other server can write the database (SQLite).
    Alone = 0,
    Listening = 1,
    /// The listening connection is lost; documents may be behind until it is back.
    Lost = 2,
}

/// What applying changes did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Changes not stored before this call.
    pub new_changes: usize,
    /// The projection after the changes, as stored (`None` when nothing changed).
    pub projection: Option<Projection>,
}

pub struct DocumentService {
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    cache: Cache,
    compact_after: usize,
    changed: broadcast::Sender<Changed>,
    /// A change that would make a document weigh more is refused.
    max_document_bytes: u64,
    /// Changes a document may hold while their dependencies are missing.
    max_held_changes: usize,
    /// A [`Listener`], as its index.
    listener: std::sync::atomic::AtomicU8,
}

impl DocumentService {
    /// `max_loaded` bounds the documents held in memory.
    pub fn new(
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
        compact_after: usize,
        max_loaded: usize,
    ) -> Self {
        DocumentService {
            storage,
            metrics,
            cache: Cache::new(max_loaded),
            compact_after: compact_after.max(1),
            changed: broadcast::channel(1024).0,
            max_document_bytes: u64::MAX,
            max_held_changes: usize::MAX,
            listener: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// Refuses a sync message that would leave a document holding more than `changes` changes
    /// waiting for their dependencies (`max_held_changes`).
    pub fn with_max_held_changes(mut self, changes: usize) -> Self {
        self.max_held_changes = changes.max(1);
        self
    }

    /// Refuses changes that would make a document hold more than `bytes` once inflated
    /// (`max_document_bytes` in the configuration).
    pub fn with_max_document_bytes(mut self, bytes: u64) -> Self {
        self.max_document_bytes = bytes.max(1);
        self
    }

    /// Decodes a sync message from a peer, its changes screened (see [`screen`]) and weighed:
    /// `TooLarge` when they hold more than `max_bytes` once inflated (`sync_message_max_bytes`),
    /// `Corrupt` when they are not what Automerge writes. Returns the message and its weight.
    pub fn decode_sync_message(
        bytes: &[u8],
        max_bytes: u64,
    ) -> Result<(sync::Message, u64), DocumentError> {
        let message = guarded("sync message", || sync::Message::decode(bytes))?
            .map_err(|e| DocumentError::Corrupt(format!("sync message: {e}")))?;
        let mut budget = max_bytes.min(screen::MAX_INFLATED_BYTES);
        let mut weight = 0;
        for chunk in message.changes.iter() {
            weight += screen::measure(chunk, &mut budget).map_err(|e| match e {
                screen::Refusal::OverBudget(e) => DocumentError::TooLarge(format!(
                    "sync message: its changes hold more than {max_bytes} bytes once inflated \
                     (sync_message_max_bytes): {e}"
                )),
                screen::Refusal::Malformed(e) => {
                    DocumentError::Corrupt(format!("sync message: {e}"))
                }
            })?;
        }
        Ok((message, weight))
    }

    /// Ids of documents as they change (after the change is durable). A receiver that lags
    /// behind gets `Lagged` and should re-check every document it follows.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changed.subscribe()
    }

    /// Follows what other servers over the database write, until the task is aborted: a
    /// document they changed is caught up if it is in memory and offered to the phones that
    /// follow it; when notices were missed, everything in memory is dropped and every followed
    /// document offered again. Nothing to follow on SQLite.
    /// Ephemeral messages of phones on the other servers go to `ephemeral` (wire bytes).
    /// The listening connection is probed every `probe`.
    pub async fn follow_other_servers(
        self: &Arc<Self>,
        probe: std::time::Duration,
        ephemeral: impl Fn(Vec<u8>) + Send + 'static,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, DocumentError> {
        let Some(mut notices) = self.storage.notices(probe).await? else {
            return Ok(None);
        };
        let service = self.clone();
        Ok(Some(tokio::spawn(async move {
            // Documents read before the listener listened (the projection rewrite at start)
            // missed what was announced meanwhile: the first `Listening` drops them too.
            let mut lost = true;
            while let Some(notice) = notices.recv().await {
                match notice {
                    crate::storage::Notice::Listening => {
                        service.set_listener(Listener::Listening);
                        if std::mem::take(&mut lost) {
                            service.cache.forget_all();
                            let _ = service.changed.send(Changed::Any);
                        }
                    }
                    crate::storage::Notice::Lost => {
                        lost = true;
                        service.metrics.listener_lost();
                        service.set_listener(Listener::Lost);
                    }
                    crate::storage::Notice::Changed {
                        document_id,
                        lag_ms,
                    } => {
                        service.metrics.notice_received(lag_ms);
                        if let Ok(id) = DocumentId::parse(&document_id) {
                            service.changed_elsewhere(id).await;
                        }
                    }
                    crate::storage::Notice::Ephemeral { message } => ephemeral(message),
                }
            }
        })))
    }

    /// Another server stored changes of `id`: the copy in memory, if any, catches up, and the
    /// phones following it are told.
    async fn changed_elsewhere(&self, id: DocumentId) {
        if self.cache.contains(id.as_str()) {
            let refreshed = match self.lock(&id).await {
                Ok(mut guard) => guard.catch_up().await,
                Err(e) => Err(e),
            };
            if let Err(e) = refreshed {
                tracing::warn!(document = %id, %e, "catching up after another server's change");
                self.cache.forget(id.as_str());
            }
        }
        let _ = self.changed.send(Changed::Document { id, origin: 0 });
    }

    fn set_listener(&self, state: Listener) {
        self.listener
            .store(state as u8, std::sync::atomic::Ordering::Relaxed);
    }

    /// Where this server stands with the other servers' change notices.
    pub fn listener(&self) -> Listener {
        match self.listener.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Listener::Listening,
            2 => Listener::Lost,
            _ => Listener::Alone,
        }
    }

    /// Documents in memory now.
    pub fn loaded(&self) -> usize {
        self.cache.len()
    }

    /// Decodes raw change bytes (one change each).
    pub fn decode_changes(raw: &[Vec<u8>]) -> Result<Vec<Change>, DocumentError> {
        raw.iter()
            .map(|bytes| {
                screened("change", bytes)?;
                guarded("change", || Change::from_bytes(bytes.clone()))?
                    .map_err(|e| DocumentError::Corrupt(format!("change: {e}")))
            })
            .collect()
    }

    /// Decodes a saved document or a run of saved changes (what `save` and `save_after` make).
    pub fn decode_saved(bytes: &[u8]) -> Result<Vec<Change>, DocumentError> {
        screened("document", bytes)?;
        let doc = guarded("document", || Automerge::load(bytes))?
            .map_err(|e| DocumentError::Corrupt(e.to_string()))?;
        Ok(doc.get_changes(&[]))
    }

    /// Whether document `id` is in memory and stored at this instant: a hint for skipping a
    /// read of the database, never a decision (that is taken under the lock).
    pub fn holds_stored(&self, id: &DocumentId) -> bool {
        self.cache.holds_stored(id.as_str())
    }

    /// Locks document `id`, loading it from the database when it is not in memory.
    pub async fn lock(&self, id: &DocumentId) -> Result<DocGuard<'_>, DocumentError> {
        Ok(self.lock_loading(id).await?.0)
    }

    /// The guard, and whether the document was read from the database just now.
    async fn lock_loading(&self, id: &DocumentId) -> Result<(DocGuard<'_>, bool), DocumentError> {
        let mut slot = self.cache.lock(id.as_str()).await;
        let loading = slot.loaded.is_none();
        if loading {
            match self.load_stored(id).await {
                Ok(loaded) => slot.loaded = Some(loaded),
                Err(e) => {
                    drop(slot);
                    self.cache.forget(id.as_str());
                    return Err(e);
                }
            }
        }
        let guard = DocGuard {
            service: self,
            id: id.clone(),
            slot,
            origin: 0,
        };
        Ok((guard, loading))
    }

    /// Locks document `id` as [`DocumentService::lock`] does, with the copy brought up to what
    /// the database holds now (another server may have written it since it was loaded): for
    /// decisions taken from the document's content (reviews, moves, erasure).
    pub async fn lock_fresh(&self, id: &DocumentId) -> Result<DocGuard<'_>, DocumentError> {
        let (mut guard, loaded_now) = self.lock_loading(id).await?;
        if !loaded_now {
            guard.catch_up().await?;
        }
        Ok(guard)
    }

    /// Stores `changes` of document `id` (those already stored are ignored) and its new
    /// projection; returns only after both are durable.
    pub async fn apply_changes(
        &self,
        id: &DocumentId,
        changes: Vec<Change>,
    ) -> Result<Applied, DocumentError> {
        self.lock(id).await?.apply_changes(changes).await
    }

    /// A copy of the current document, or `None` when it was never stored.
    pub async fn load(&self, id: &DocumentId) -> Result<Option<Automerge>, DocumentError> {
        let guard = self.lock(id).await?;
        Ok(guard.stored().then(|| guard.doc().clone()))
    }

    async fn load_stored(&self, id: &DocumentId) -> Result<Loaded, DocumentError> {
        let Some(stored) = self.storage.load_document(id.as_str()).await? else {
            return Ok(Loaded::empty());
        };
        let mut loaded = Loaded::empty();
        absorb(id, &mut loaded, &stored)?;
        Ok(loaded)
    }
}

/// How many times a write catches up with other servers' changes and tries again before it
/// gives up (the caller is told to try later); each try reads only what it lacks.
const MAX_CATCH_UPS: usize = 8;

/// Brings what the database holds beyond the copy (`stored`, from [`Storage::load_document`] or
/// [`Storage::load_document_after`]) into it: the snapshot when it is newer, then the changes.
/// Returns how many changes were read.
fn absorb(
    id: &DocumentId,
    loaded: &mut Loaded,
    stored: &crate::storage::StoredDocument,
) -> Result<usize, DocumentError> {
    let corrupt = |detail: String| DocumentError::StoredCorrupt {
        id: id.to_string(),
        detail,
    };
    let changes = stored
        .changes
        .iter()
        .map(|c| Change::from_bytes(c.bytes.clone()).map_err(|e| corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    // Changes waiting in the copy for their dependencies are applied once a catch-up brings
    // those: they are then in the document and not in the database, and must be stored.
    let waiting = !loaded.doc.get_missing_deps(&[]).is_empty();
    let before = loaded.doc.get_heads();
    merge_stored(&mut loaded.doc, stored.snapshot.as_deref(), changes)
        .map_err(|e| corrupt(e.to_string()))?;
    if waiting {
        let mut in_database: std::collections::HashSet<ChangeHash> = stored
            .changes
            .iter()
            .filter_map(|c| c.hash.parse().ok())
            .collect();
        if let Some(snapshot) = stored.snapshot.as_deref() {
            let snapshot = Automerge::load(snapshot).map_err(|e| corrupt(e.to_string()))?;
            in_database.extend(snapshot.get_changes(&[]).iter().map(Change::hash));
        }
        for change in loaded.doc.get_changes(&before) {
            if !in_database.contains(&change.hash())
                && !loaded.unsaved.iter().any(|u| u.hash() == change.hash())
            {
                loaded.unsaved.push(change);
            }
        }
    }
    let added: u64 = stored.changes.iter().map(|c| weigh(&c.bytes)).sum();
    loaded.weight = match stored.snapshot.as_deref() {
        Some(snapshot) => weigh(snapshot).saturating_add(added),
        None => loaded.weight.saturating_add(added),
    };
    loaded.stored = true;
    loaded.seq = stored.last_seq;
    loaded.snapshot_seq = stored.snapshot_seq;
    loaded.scope = Some(stored.scope.clone());
    // Another server may have written other rows: the next write rewrites them all.
    loaded.projection = None;
    Ok(stored.changes.len())
}

/// Adds to `new` the changes of `unsaved` it lacks.
fn with_unsaved(new: &mut Vec<Change>, unsaved: &[Change]) {
    for change in unsaved {
        if !new.iter().any(|c| c.hash() == change.hash()) {
            new.push(change.clone());
        }
    }
}

/// Merges a stored snapshot (when there is one) and stored changes into `doc`.
fn merge_stored(
    doc: &mut Automerge,
    snapshot: Option<&[u8]>,
    changes: Vec<Change>,
) -> Result<(), automerge::AutomergeError> {
    if let Some(bytes) = snapshot {
        // Replaced only when it holds nothing at all, not even changes waiting for their
        // dependencies.
        if doc.is_empty() {
            *doc = Automerge::load(bytes)?;
        } else {
            doc.load_incremental(bytes)?;
        }
    }
    doc.apply_changes(changes)
}

/// A locked document: read it, or change it durably.
pub struct DocGuard<'a> {
    service: &'a DocumentService,
    id: DocumentId,
    slot: OwnedMutexGuard<Slot>,
    /// The sync connection changing it, named in the change notice.
    origin: u64,
}

impl DocGuard<'_> {
    fn loaded(&self) -> &Loaded {
        // `lock` only hands out guards over loaded slots.
        self.slot
            .loaded
            .as_ref()
            .unwrap_or_else(|| unreachable!("a DocGuard always holds a loaded document"))
    }

    fn loaded_mut(&mut self) -> &mut Loaded {
        self.slot
            .loaded
            .as_mut()
            .unwrap_or_else(|| unreachable!("a DocGuard always holds a loaded document"))
    }

    pub fn doc(&self) -> &Automerge {
        &self.loaded().doc
    }

    /// Brings the copy in memory up to what the database holds (changes another server
    /// wrote); for decisions taken from the document (reviews, moves, erasure) rather than
    /// from a phone's message. Returns what the database held beyond the copy, if anything.
    pub async fn refresh(
        &mut self,
    ) -> Result<Option<crate::storage::StoredDocument>, DocumentError> {
        let seq = self.loaded().seq;
        let Some(stored) = self
            .service
            .storage
            .load_document_after(self.id.as_str(), seq)
            .await?
        else {
            if self.stored() {
                // Erased through another server.
                *self.loaded_mut() = Loaded::empty();
            }
            return Ok(None);
        };
        if stored.last_seq == seq && stored.changes.is_empty() && stored.snapshot.is_none() {
            // Nothing new; the scope may have moved all the same.
            self.loaded_mut().scope = Some(stored.scope);
            return Ok(None);
        }
        let id = self.id.clone();
        let read = absorb(&id, self.loaded_mut(), &stored)?;
        self.service.metrics.caught_up(read);
        Ok(Some(stored))
    }

    /// What the changes waiting inside the document for missing dependencies weigh.
    pub fn held(&self) -> u64 {
        self.loaded().held
    }

    /// Whether the document is in the database (a new one is not until its first change).
    pub fn stored(&self) -> bool {
        self.loaded().stored
    }

    pub fn id(&self) -> &DocumentId {
        &self.id
    }

    /// Where the document belongs as stored (`None` while it is not): current for every write
    /// made through this process, since they all hold this lock.
    pub fn scope(&self) -> Option<&DocumentScope> {
        self.loaded().scope.as_ref()
    }

    /// Takes the document out of quarantine (or puts it in): stored, and the copy's scope
    /// follows.
    pub async fn set_quarantined(&mut self, quarantined: bool) -> Result<(), DocumentError> {
        self.service
            .storage
            .set_quarantined(self.id.as_str(), quarantined)
            .await?;
        if let Some(scope) = self.slot.loaded.as_mut().and_then(|l| l.scope.as_mut()) {
            scope.quarantined = quarantined;
            if !quarantined {
                scope.quarantined_by = None;
            }
        }
        Ok(())
    }

    /// [`DocGuard::refresh`], then [`DocGuard::store_unsaved`]: the copy up to what the database
    /// holds, and what that let in stored. A failure to store is logged and the changes kept
    /// for the next write; a failure to read is the caller's.
    pub async fn catch_up(&mut self) -> Result<(), DocumentError> {
        self.refresh().await?;
        if let Err(e) = self.store_unsaved().await {
            tracing::warn!(document = %self.id, %e, "changes let in by a catch-up not stored yet");
        }
        Ok(())
    }

    /// Stores the changes a catch-up let in (they had waited for dependencies another server
    /// stored), as long as they leave the household where it is stored; a move waits for the
    /// next message of a sender whose hamlets are checked. Nothing is applied here, so a refusal
    /// or a failed write leaves the copy as it is, the changes still listed as unsaved.
    async fn store_unsaved(&mut self) -> Result<(), DocumentError> {
        if self.loaded().unsaved.is_empty() {
            return Ok(());
        }
        let scope = self.scope().cloned();
        let stays = move |p: &Projection| {
            let same = scope.as_ref().is_some_and(|s| {
                s.commune_code == p.household.commune_code && s.hamlet_id == p.household.hamlet_id
            });
            if same {
                Gate::Store
            } else {
                Gate::Refuse("changes that move the household wait for their sender".into())
            }
        };
        let before = self.doc().get_heads();
        match self.commit(&before, &stays, None).await {
            Ok(_) => Ok(()),
            // Kept in memory for the next message to store through its gate.
            Err(DocumentError::Refused(reason)) => {
                tracing::debug!(document = %self.id, reason, "changes let in kept for their sender");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Changes made through this guard come from sync connection `origin`: its notices say so.
    pub fn from_connection(&mut self, origin: u64) {
        self.origin = origin;
    }

    /// Applies raw changes.
    pub async fn apply_changes(&mut self, changes: Vec<Change>) -> Result<Applied, DocumentError> {
        self.service.metrics.changes_received(changes.len());
        let before = self.doc().get_heads();
        let waiting = self.loaded().waiting.clone();
        let incoming = changes.clone();
        let applied = guarded("changes", || self.loaded_mut().doc.apply_changes(changes))
            .and_then(|r| r.map_err(|e| DocumentError::Corrupt(format!("applying changes: {e}"))));
        let result = match applied {
            Ok(()) => self.commit(&before, &|_| Gate::Store, None).await,
            Err(e) => Err(e),
        };
        self.settle(result, waiting, incoming).await
    }

    /// Makes one change as `actor` (a reviewer resolving a conflict or noting a decision), stored
    /// and pushed to phones like any change from a phone. When `edit` fails nothing is kept.
    pub async fn change_as(
        &mut self,
        actor: automerge::ActorId,
        message: &str,
        edit: impl FnOnce(
            &mut automerge::transaction::Transaction<'_>,
        ) -> Result<(), automerge::AutomergeError>,
    ) -> Result<Applied, DocumentError> {
        let before = self.doc().get_heads();
        let waiting = self.loaded().waiting.clone();
        let doc = &mut self.loaded_mut().doc;
        let own = doc.get_actor().clone();
        doc.set_actor(actor);
        let mut tx = doc.transaction();
        // A failed edit drops the transaction, which rolls it back: the copy is as it was.
        let edited = edit(&mut tx);
        if let Err(e) = edited {
            drop(tx);
            doc.set_actor(own);
            return Err(DocumentError::Corrupt(format!("editing: {e}")));
        }
        let time = crate::now_millis() / 1000;
        tx.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(message.to_owned())
                .with_time(time),
        );
        doc.set_actor(own);
        // Made on what the person saw: should another server have stored changes meanwhile,
        // the write catches up, and its heads are then more than this one change.
        let ours: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        let on_what_was_seen = move |p: &Projection| {
            if p.heads == ours {
                Gate::Store
            } else {
                Gate::Refuse(String::new())
            }
        };
        let result = self.commit(&before, &on_what_was_seen, None).await;
        match self.settle(result, waiting, Vec::new()).await {
            Err(DocumentError::Refused(_)) => Err(DocumentError::ChangedMeanwhile),
            other => other,
        }
    }

    /// Receives a sync message from a peer whose sync state is `state`, the message weighing
    /// `weight` ([`DocumentService::decode_sync_message`]); the state is updated only if what the
    /// message brought is durable. `gate` decides from the projection the message would give
    /// whether it is stored, stored in quarantine, or refused whole (the document and the sync
    /// state then stay as they were). When something is stored, `audit` (an entry without its
    /// action) is written in the same transaction as `document.change` ("N new changes"), and as
    /// `document.quarantine` too when the gate quarantined the document.
    ///
    /// The message is applied to the copy in memory itself, not to a clone of it: should it be
    /// refused or its write fail, the copy is rebuilt from the database ([`DocGuard::settle`]).
    pub async fn receive_sync_message(
        &mut self,
        state: &mut sync::State,
        message: sync::Message,
        weight: u64,
        gate: &(dyn Fn(&Projection) -> Gate + Sync),
        audit: Option<&AuditEntry>,
    ) -> Result<Applied, DocumentError> {
        let mut candidate_state = state.clone();
        let before = self.doc().get_heads();
        let count = message.changes.len();
        let waiting = self.loaded().waiting.clone();
        // The message's changes (bytes, not the document): should some change wait for its
        // dependencies afterwards, these are among what may wait.
        let incoming: Vec<Vec<u8>> = if count == 0 {
            Vec::new()
        } else {
            message.changes.iter().map(|c| c.to_vec()).collect()
        };
        let received = guarded("sync message", || {
            self.loaded_mut()
                .doc
                .receive_sync_message(&mut candidate_state, message)
        })
        .and_then(|r| r.map_err(|e| DocumentError::Corrupt(format!("sync message: {e}"))));
        let result = match received {
            Ok(()) => self.held_within_limits(weight, count),
            Err(e) => Err(e),
        };
        let result = match result {
            Ok((held, held_changes)) => self
                .commit(&before, gate, audit)
                .await
                .map(|applied| (applied, held, held_changes)),
            Err(e) => Err(e),
        };
        let incoming = if self.doc().get_missing_deps(&[]).is_empty() {
            Vec::new()
        } else {
            incoming
                .into_iter()
                .filter_map(|bytes| Change::from_bytes(bytes).ok())
                .collect()
        };
        let (result, counts) = match result {
            Ok((applied, held, held_changes)) => (Ok(applied), Some((held, held_changes))),
            Err(e) => (Err(e), None),
        };
        let applied = self.settle(result, waiting, incoming).await?;
        if let (Some((held, held_changes)), Some(loaded)) = (counts, self.slot.loaded.as_mut()) {
            loaded.held = held;
            loaded.held_changes = held_changes;
        }
        *state = candidate_state;
        Ok(applied)
    }

    /// What the changes waiting for missing dependencies would weigh and number once a message
    /// of `weight` and `count` changes is in, refused past the limits.
    fn held_within_limits(&self, weight: u64, count: usize) -> Result<(u64, usize), DocumentError> {
        // Changes whose dependencies are missing wait inside the document until those arrive;
        // what waits is bounded as the document is.
        let (held, held_changes) = if self.doc().get_missing_deps(&[]).is_empty() {
            (0, 0)
        } else {
            let loaded = self.loaded();
            (
                loaded.held.saturating_add(weight),
                loaded.held_changes.saturating_add(count),
            )
        };
        if held_changes > self.service.max_held_changes {
            return Err(DocumentError::TooLarge(format!(
                "{held_changes} changes would wait for their missing dependencies, more than the \
                 {} allowed (max_held_changes); send the changes they depend on first",
                self.service.max_held_changes
            )));
        }
        if held > self.service.max_document_bytes {
            return Err(DocumentError::TooLarge(format!(
                "changes waiting for their missing dependencies would hold {held} bytes, more \
                 than the {} allowed (max_document_bytes); send the changes they depend on first",
                self.service.max_document_bytes
            )));
        }
        Ok((held, held_changes))
    }

    /// After changes were applied to the copy in place: on success, notes which changes now
    /// wait for their dependencies (`waiting`, held before, and `incoming`, just applied, that
    /// are not in the document); on failure, rebuilds the copy from the database with the
    /// changes it held unsaved or waiting before, so nothing of what was refused stays in
    /// memory (to be pushed to other phones or stored by a later write). Should the database
    /// not answer, the copy is dropped (every use after reads the database again) and the
    /// original error returned all the same.
    async fn settle(
        &mut self,
        result: Result<Applied, DocumentError>,
        waiting: Vec<Change>,
        incoming: Vec<Change>,
    ) -> Result<Applied, DocumentError> {
        match result {
            Ok(applied) => {
                let loaded = self.loaded_mut();
                if loaded.doc.get_missing_deps(&[]).is_empty() {
                    loaded.waiting.clear();
                } else {
                    let mut still = waiting;
                    for change in incoming {
                        if !still.iter().any(|c| c.hash() == change.hash()) {
                            still.push(change);
                        }
                    }
                    still.retain(|c| loaded.doc.get_change_by_hash(&c.hash()).is_none());
                    loaded.waiting = still;
                }
                Ok(applied)
            }
            Err(e) => {
                self.rebuild(waiting).await;
                Err(e)
            }
        }
    }

    /// The copy again as the database holds it, with `waiting` (changes held for their
    /// dependencies before) and the unsaved changes applied on top.
    async fn rebuild(&mut self, waiting: Vec<Change>) {
        let service = self.service;
        let loaded = self.loaded_mut();
        let mut keep = std::mem::take(&mut loaded.unsaved);
        with_unsaved(&mut keep, &waiting);
        let (held, held_changes) = (loaded.held, loaded.held_changes);
        let rebuilt = match service.load_stored(&self.id).await {
            Ok(mut fresh) => {
                let base = fresh.doc.get_heads();
                let kept = keep.clone();
                match guarded("kept changes", || fresh.doc.apply_changes(keep)) {
                    Ok(Ok(())) => {
                        // What was applied on top is not in the database.
                        fresh.unsaved = fresh.doc.get_changes(&base);
                        fresh.waiting = kept
                            .into_iter()
                            .filter(|c| fresh.doc.get_change_by_hash(&c.hash()).is_none())
                            .collect();
                        fresh.held = held;
                        fresh.held_changes = held_changes;
                        Ok(fresh)
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match rebuilt {
            Ok(fresh) => *self.loaded_mut() = fresh,
            Err(e) => {
                tracing::warn!(document = %self.id, %e, "rebuilding the copy after a refused write: dropped instead");
                service.cache.forget(self.id.as_str());
                let loaded = self.loaded_mut();
                // Empty and behind every stored change: a write through this guard is fenced
                // and catches up from the first change.
                let mut empty = Loaded::empty();
                empty.stored = loaded.stored;
                empty.scope = loaded.scope.take();
                *loaded = empty;
            }
        }
    }

    /// Drops the copy in memory (after the document was erased): whoever locks it next reads
    /// the database, which no longer has it. This server's connections that follow it are told
    /// (the other servers hear of it from the erasure's notice), so their phones learn at once
    /// that it was replaced.
    pub fn unload(&mut self) {
        self.slot.loaded = Some(Loaded::empty());
        let _ = self.service.changed.send(Changed::Document {
            id: self.id.clone(),
            origin: 0,
        });
    }

    /// Writes the projection again from the document as it is (after the projection's rules
    /// changed); no change is added. Nothing to do for a document not stored.
    pub async fn reproject(&mut self) -> Result<(), DocumentError> {
        let mut tries = 0;
        loop {
            if !self.stored() {
                return Ok(());
            }
            let (projection, mut update) = update_for(&self.id, self.doc(), &[]);
            update.expected_seq = Some(self.loaded().seq);
            match self.service.storage.apply_document_update(&update).await {
                Ok(written) => {
                    let loaded = self.loaded_mut();
                    loaded.projection = Some(projection);
                    loaded.scope = Some(written.scope);
                    loaded.snapshot_seq = written.snapshot_seq;
                    return Ok(());
                }
                Err(StorageError::Stale { .. }) if tries < MAX_CATCH_UPS => {
                    tries += 1;
                    self.refresh().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next sync message for a peer, if it needs one.
    pub fn generate_sync_message(&self, state: &mut sync::State) -> Option<sync::Message> {
        self.doc().generate_sync_message(state)
    }

    /// Persists what the copy has beyond `before` (applied to it in place by the caller, who
    /// rebuilds it when this fails: [`DocGuard::settle`]).
    ///
    /// The write is fenced: the database refuses it when another server stored changes the copy
    /// has not seen. The copy then takes those changes, the projection and the gate's decision
    /// are made again from the whole document, and the write is tried again.
    async fn commit(
        &mut self,
        before: &[ChangeHash],
        gate: &(dyn Fn(&Projection) -> Gate + Sync),
        audit: Option<&AuditEntry>,
    ) -> Result<Applied, DocumentError> {
        let mut new: Vec<Change> = self.doc().get_changes(before);
        with_unsaved(&mut new, &self.loaded().unsaved);
        let mut tries = 0;
        let (written, projection, weight, stored_projection) = loop {
            if new.is_empty() {
                // Nothing applied, but the copy may hold changes waiting for their
                // dependencies (a peer's Bloom filter wrongly said we had them). Keep them,
                // so the next sync message asks for what is missing: dropping them while the sync
                // state moved on would leave both sides believing the changes were delivered, and
                // the sync would never finish. Nothing here is acknowledged, so nothing durable is
                // owed. (After a catch-up: another server had stored them all already.)
                return Ok(Applied {
                    new_changes: 0,
                    projection: None,
                });
            }
            let added: u64 = new.iter().map(|c| weigh(c.raw_bytes())).sum();
            let weight = self.loaded().weight.saturating_add(added);
            if weight > self.service.max_document_bytes {
                return Err(DocumentError::TooLarge(format!(
                    "the household document would hold {weight} bytes, more than the {} allowed \
                     (max_document_bytes); nothing was stored",
                    self.service.max_document_bytes
                )));
            }
            let (projection, mut update) = update_for(&self.id, self.doc(), &new);
            update.expected_seq = Some(self.loaded().seq);
            match gate(&projection) {
                Gate::Store => {}
                Gate::Quarantine { by } => {
                    update.scope.quarantined = true;
                    update.scope.quarantined_by = Some(by);
                }
                // The caller rebuilds the copy: the document in memory stays as it was.
                Gate::Refuse(reason) => return Err(DocumentError::Refused(reason)),
            }
            let quarantined = update.scope.quarantined;
            if let Some(base) = audit {
                update.audit.push(AuditEntry {
                    action: "document.change".into(),
                    document_id: Some(self.id.to_string()),
                    detail: Some(format!("{} new changes", new.len())),
                    ..base.clone()
                });
                if quarantined {
                    update.audit.push(AuditEntry {
                        action: "document.quarantine".into(),
                        document_id: Some(self.id.to_string()),
                        detail: None,
                        ..base.clone()
                    });
                }
            }
            // Taken, not copied: should the write fail, the next one rewrites every row.
            update.stored_projection = self.loaded_mut().projection.take();
            match self.service.storage.apply_document_update(&update).await {
                Ok(written) => {
                    if quarantined {
                        tracing::warn!(document = %self.id, "document outside the sender's hamlets: quarantined");
                    }
                    break (written, projection, weight, update.projection.take());
                }
                Err(StorageError::Stale {
                    expected, found, ..
                }) if tries < MAX_CATCH_UPS => {
                    tries += 1;
                    tracing::debug!(document = %self.id, expected, found, "behind the database: catching up");
                    // The copy takes what other servers stored (and what that lets in of the
                    // changes waiting for it, listed unsaved); the changes to store are still
                    // this write's (those another server stored meanwhile are skipped by the
                    // database) and the unsaved ones.
                    if let Some(stored) = self.refresh().await? {
                        let there: std::collections::HashSet<&str> =
                            stored.changes.iter().map(|c| c.hash.as_str()).collect();
                        new.retain(|c| !there.contains(c.hash().to_string().as_str()));
                    }
                    with_unsaved(&mut new, &self.loaded().unsaved);
                }
                Err(e) => return Err(e.into()),
            }
        };
        let new_changes = written.inserted;
        let service = self.service;
        service.metrics.changes_stored(new_changes);
        let loaded = self.loaded_mut();
        loaded.unsaved.clear();
        loaded.stored = true;
        loaded.seq = written.last_seq;
        loaded.snapshot_seq = written.snapshot_seq;
        loaded.weight = weight;
        loaded.projection = stored_projection;
        loaded.scope = Some(written.scope);
        if loaded.seq - loaded.snapshot_seq >= service.compact_after as i64
            && let Err(e) = self.compact().await
        {
            // The changes are durable already; compaction is tried again after the next ones.
            tracing::warn!(document = %self.id, %e, "compaction failed");
        }
        if written.notified {
            service.metrics.notice_sent();
        }
        let _ = service.changed.send(Changed::Document {
            id: self.id.clone(),
            origin: self.origin,
        });
        Ok(Applied {
            new_changes,
            projection: Some(projection),
        })
    }

    /// Folds the copy, which holds every change stored up to its sequence number, into a new
    /// snapshot covering that number, and deletes those changes; given up when another server
    /// wrote since (the database checks). A copy with changes still waiting for their
    /// dependencies waits too: its snapshot would not hold them.
    async fn compact(&mut self) -> Result<(), DocumentError> {
        let doc = self.doc();
        if !doc.get_missing_deps(&[]).is_empty() || !self.loaded().unsaved.is_empty() {
            return Ok(());
        }
        let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        let snapshot = doc.save();
        let covers = self.loaded().seq;
        let done = self
            .service
            .storage
            .compact_document(self.id.as_str(), &snapshot, &heads, covers)
            .await?;
        if done {
            self.loaded_mut().snapshot_seq = covers;
        } else {
            self.service.metrics.compaction_skipped();
        }
        tracing::debug!(covers, done, "compacted");
        Ok(())
    }
}

/// What stored or applied Automerge bytes hold once inflated; their length when they do not
/// measure (they were accepted before, so they are not refused now).
fn weigh(bytes: &[u8]) -> u64 {
    let mut budget = u64::MAX / 2;
    screen::measure(bytes, &mut budget).unwrap_or(bytes.len() as u64)
}

/// Refuses peer bytes whose chunks Automerge would decode unboundedly (see [`screen`]).
fn screened(what: &str, bytes: &[u8]) -> Result<(), DocumentError> {
    screen::chunks(bytes).map_err(|e| DocumentError::Corrupt(format!("{what}: {e}")))
}

/// Runs Automerge's decoding of bytes from a peer. Malformed bytes can make the decoder panic
/// (fuzzing found `Automerge::load` unwrapping a `None` in its column decoder): that is a
/// refusal of the peer's data, not the end of the connection's task. Whatever `decode` touched
/// is a copy the caller drops on error.
fn guarded<T>(what: &str, decode: impl FnOnce() -> T) -> Result<T, DocumentError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).map_err(|_| {
        DocumentError::Corrupt(format!("the {what} does not decode (decoder panicked)"))
    })
}

/// The update that stores `changes` of document `id` with the projection of `doc` (without the
/// people's data unless consent is recorded).
fn update_for(
    id: &DocumentId,
    doc: &Automerge,
    changes: &[Change],
) -> (Projection, DocumentUpdate) {
    let projection = read::project(doc, &doc.get_heads(), crate::reference_year())
        .without_personal_data_unless_consent();
    let update = DocumentUpdate {
        document_id: id.as_str().to_owned(),
        scope: DocumentScope {
            commune_code: projection.household.commune_code.clone(),
            hamlet_id: projection.household.hamlet_id.clone(),
            quarantined: false,
            quarantined_by: None,
        },
        changes: changes
            .iter()
            .map(|c| StoredChange {
                hash: c.hash().to_string(),
                bytes: c.raw_bytes().to_vec(),
            })
            .collect(),
        expected_seq: None,
        projection: Some(projection.clone()),
        stored_projection: None,
        audit: Vec::new(),
    };
    (projection, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `scripts/fuzz household_document`: a change chunk whose column data makes
    /// Automerge's decoder panic (automerge 0.12, hexane's RLE decoder).
    const PANICKING_CHUNK: [u8; 24] = [
        0x85, 0x6f, 0x4a, 0x83, 0xc6, 0x93, 0x97, 0x07, 0x03, 0x0e, 0x00, 0x02, 0x01, 0x01, 0x01,
        0x01, 0x01, 0x03, 0x01, 0x01, 0x01, 0x23, 0x01, 0x00,
    ];

    #[test]
    fn bytes_that_panic_the_decoder_are_refused() {
        assert!(matches!(
            DocumentService::decode_saved(&PANICKING_CHUNK),
            Err(DocumentError::Corrupt(_))
        ));
        assert!(DocumentService::decode_changes(&[PANICKING_CHUNK.to_vec()]).is_err());
        assert!(
            DocumentService::decode_sync_message(&PANICKING_CHUNK, screen::MAX_INFLATED_BYTES)
                .is_err()
        );
    }

    /// Fuzzing's 30-byte chunk that made Automerge reserve gigabytes (an abort, not a panic),
    /// refused on every path peer bytes take, before Automerge sees it.
    #[test]
    fn bytes_that_exhaust_the_decoder_are_refused() {
        let chunk = include_bytes!("../../../fuzz/corpus/household_document/regression-bundle-oom");
        for result in [
            DocumentService::decode_saved(chunk).map(drop),
            DocumentService::decode_changes(&[chunk.to_vec()]).map(drop),
        ] {
            let Err(DocumentError::Corrupt(e)) = result else {
                panic!("not refused: {result:?}");
            };
            assert!(e.contains("bundle"), "{e}");
        }
        // Inside a sync message, as a phone would send it.
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: vec![chunk.to_vec()].into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let Err(DocumentError::Corrupt(e)) =
            DocumentService::decode_sync_message(&message.encode(), screen::MAX_INFLATED_BYTES)
        else {
            panic!("not refused");
        };
        assert!(e.contains("bundle"), "{e}");
    }
}
