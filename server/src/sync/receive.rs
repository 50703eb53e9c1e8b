//! One sync message from a caller, whatever carried it (the socket or the HTTP fallback): the
//! access check, the durable apply, quarantine of documents from outside the caller's hamlets,
//! the audit line, and the reply.

use automerge::sync;

use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::auth::policy::{Action, Scope, allows};
use crate::documents::{DocumentError, DocumentId, Gate};
use crate::storage::DocumentScope;
use sansang_shared::Projection;

/// What became of a sync message.
#[derive(Debug)]
pub enum Receipt {
    /// The document is not there for this caller: unknown, or outside its scope (the two look
    /// the same). `unknown` tells the socket to remember the ask and push the document if it
    /// appears.
    Unavailable { unknown: bool },
    /// Applied (and durable); the reply the caller needs, if any, and what the document holds
    /// of changes still waiting for their dependencies.
    Reply {
        reply: Option<sync::Message>,
        held: u64,
    },
    /// The document was erased; its old history is refused. `replaced_by` is the `automerge:`
    /// URL of what remains of it, when something does and the caller may see it.
    Replaced { replaced_by: Option<String> },
}

/// Why a sync message was not taken.
#[derive(Debug)]
pub enum SyncError {
    /// The caller's fault (a corrupt message); the text says what is wrong.
    Refused(String),
    /// A change the caller may not make: it moves a stored household out of the caller's
    /// hamlets. Nothing of the message was stored; the text names the field.
    Forbidden(String),
    /// A change that would make the document larger than allowed; nothing was stored. The
    /// text names the limit.
    TooLarge(String),
    /// The token was revoked or the session ended since the connection opened.
    Revoked,
    /// A fault of the server; logged, not shown.
    Failed(String),
}

/// Whether the caller may change documents of this commune and hamlet.
pub fn may_change(caller: &Caller, commune: Option<&str>, hamlet: Option<&str>) -> bool {
    let commune = commune.unwrap_or_default();
    let scope = match hamlet {
        Some(h) => Scope::hamlet(commune, h),
        None => Scope::commune(commune),
    };
    allows(&caller.principal, Action::Change, scope)
}

/// Whether the caller may see and sync a quarantined document: the commune's admins, and the
/// phone or person that sent it.
pub fn may_see_quarantined(caller: &Caller, scope: &DocumentScope) -> bool {
    let commune = scope.commune_code.as_deref().unwrap_or_default();
    allows(
        &caller.principal,
        Action::Administer,
        Scope::commune(commune),
    ) || scope.quarantined_by.as_deref() == Some(caller.principal.key().as_str())
}

/// Whether the caller may sync a document stored with `scope`: a quarantined one only as
/// [`may_see_quarantined`] says, any other inside the caller's hamlets.
pub fn may_sync(caller: &Caller, scope: &DocumentScope) -> bool {
    if scope.quarantined {
        may_see_quarantined(caller, scope)
    } else {
        may_change(
            caller,
            scope.commune_code.as_deref(),
            scope.hamlet_id.as_deref(),
        )
    }
}

/// What a change whose projection is `projection` may do, sent by `caller` for a document
/// stored with `stored` (none for a new one): a stored household stays in the caller's hamlets
/// or the change is refused whole; a new household from outside them is quarantined.
fn gate(caller: &Caller, stored: Option<&DocumentScope>, projection: &Projection) -> Gate {
    let h = &projection.household;
    // A field the document does not hold keeps what is stored (see `apply_document_update`).
    let commune = h
        .commune_code
        .as_deref()
        .or(stored.and_then(|s| s.commune_code.as_deref()));
    let hamlet = h
        .hamlet_id
        .as_deref()
        .or(stored.and_then(|s| s.hamlet_id.as_deref()));
    if may_change(caller, commune, hamlet) {
        return Gate::Store;
    }
    match stored {
        // Its sender goes on syncing a quarantined document wherever it points.
        Some(s) if s.quarantined => Gate::Store,
        Some(s) => {
            let (field, value) = if commune != s.commune_code.as_deref() {
                ("communeCode", commune)
            } else {
                ("hamletId", hamlet)
            };
            Gate::Refuse(format!(
                "{field}: {} is outside your hamlets; the change moves this household away and \
                 was not stored (a hamlet head or the commune's admin moves households) / \
                 {field} nằm ngoài thôn của bạn, thay đổi không được lưu",
                value.unwrap_or("(none)")
            ))
        }
        None => Gate::Quarantine {
            by: caller.principal.key(),
        },
    }
}

/// What the caller is answered instead of a sync, when `scope` (the stored one, `None` for a
/// document not stored) keeps the document from it.
async fn refusal(
    app: &AppState,
    caller: &Caller,
    id: &DocumentId,
    scope: Option<&DocumentScope>,
    requested: bool,
) -> Result<Option<Receipt>, SyncError> {
    match scope {
        // Outside the caller's hamlets, or quarantined and neither sent by the caller nor in
        // a commune it administers: the same answer as for a document that does not exist.
        Some(s) if !may_sync(caller, s) => Ok(Some(Receipt::Unavailable { unknown: false })),
        Some(_) => Ok(None),
        // Not stored: maybe erased. Its id is not used again, and the phone is told so.
        None => match erased(app, id).await.map_err(SyncError::Failed)? {
            Some(replaced) => Ok(Some(replaced)),
            None => Ok(requested.then_some(Receipt::Unavailable { unknown: true })),
        },
    }
}

/// [`Receipt::Replaced`] if `id` was erased (it has a tombstone), naming what replaced it.
pub(super) async fn erased(app: &AppState, id: &DocumentId) -> Result<Option<Receipt>, String> {
    let tombstone = app
        .storage
        .tombstone(id.as_str())
        .await
        .map_err(|e| format!("reading tombstones: {e}"))?;
    Ok(tombstone.map(|t| Receipt::Replaced {
        replaced_by: t
            .replaced_by
            .and_then(|r| DocumentId::parse(&r).ok())
            .map(|r| r.url()),
    }))
}

/// Receives `message` for document `id` from `caller`, whose sync state is `state`; `weight` is
/// what [`crate::documents::DocumentService::decode_sync_message`] weighed it.
/// `requested` is set for a `request`: a peer with no copy, which must not create a document.
/// `origin` is the sync connection it came on (0 for the HTTP fallback). The caller has checked
/// that the token still works (the socket before every message, the HTTP fallback when it
/// authenticated the request).
#[allow(clippy::too_many_arguments)]
pub async fn receive(
    app: &AppState,
    caller: &Caller,
    id: &DocumentId,
    state: &mut sync::State,
    message: sync::Message,
    weight: u64,
    requested: bool,
    origin: u64,
) -> Result<Receipt, SyncError> {
    // A document not in memory is checked in the database first, so a caller cannot make the
    // server load documents it may not see.
    let checked_before = !app.documents.holds_stored(id);
    if checked_before {
        let scope = app
            .storage
            .document_scope(id.as_str())
            .await
            .map_err(|e| SyncError::Failed(format!("reading the scope of {id}: {e}")))?;
        if let Some(receipt) = refusal(app, caller, id, scope.as_ref(), requested).await? {
            return Ok(receipt);
        }
    }
    let mut guard = app
        .documents
        .lock(id)
        .await
        .map_err(|e| SyncError::Failed(e.to_string()))?;
    // Decided under the lock, on the scope the copy was stored with: a move committed since the
    // check above (or a document erased since it looked stored) is seen here, and nothing of the
    // document reaches a caller it no longer belongs to. A document still not stored was checked
    // above (and the write refuses an erased id).
    let scope = guard.scope().cloned();
    if (scope.is_some() || !checked_before)
        && let Some(receipt) = refusal(app, caller, id, scope.as_ref(), requested).await?
    {
        return Ok(receipt);
    }
    guard.from_connection(origin);
    let stored = scope.as_ref();
    let decide = |projection: &Projection| gate(caller, stored, projection);
    // The audit lines go in the transaction that stores the changes.
    let audit = audit::entry(caller, "document.change", Some(id.as_str()), None);
    match guard
        .receive_sync_message(state, message, weight, &decide, Some(&audit))
        .await
    {
        Ok(_) => {}
        Err(DocumentError::Corrupt(reason)) => return Err(SyncError::Refused(reason)),
        Err(DocumentError::Refused(reason)) => return Err(SyncError::Forbidden(reason)),
        // Erased through another server between the check above and the write (which refuses
        // an erased id): told so, as if the erasure had come first.
        Err(DocumentError::Storage(crate::storage::StorageError::Erased { .. })) => {
            drop(guard);
            if let Some(replaced) = erased(app, id).await.map_err(SyncError::Failed)? {
                return Ok(replaced);
            }
            return Err(SyncError::Failed(format!("document {id} erased meanwhile")));
        }
        Err(DocumentError::TooLarge(reason)) => return Err(SyncError::TooLarge(reason)),
        Err(e) => return Err(SyncError::Failed(e.to_string())),
    }
    let reply = guard.generate_sync_message(state);
    let held = guard.held();
    drop(guard);
    Ok(Receipt::Reply { reply, held })
}
