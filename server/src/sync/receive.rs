//! One sync message from a caller, whatever carried it (the socket or the HTTP fallback): the
//! access check, the durable apply, quarantine of documents from outside the caller's hamlets,
//! the audit line, and the reply.

use automerge::sync;

use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::auth::policy::{Action, Scope, allows};
use crate::documents::{DocumentError, DocumentId};

/// What became of a sync message.
#[derive(Debug)]
pub enum Receipt {
    /// The document is not there for this caller: unknown, or outside its scope (the two look
    /// the same). `unknown` tells the socket to remember the ask and push the document if it
    /// appears.
    Unavailable { unknown: bool },
    /// Applied (and durable); the reply the caller needs, if any.
    Reply(Option<sync::Message>),
    /// The document was erased; its old history is refused. `replaced_by` is the `automerge:`
    /// URL of what remains of it, when something does and the caller may see it.
    Replaced { replaced_by: Option<String> },
}

/// Why a sync message was not taken.
#[derive(Debug)]
pub enum SyncError {
    /// The caller's fault (a corrupt message); the text says what is wrong.
    Refused(String),
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

/// Receives `message` for document `id` from `caller`, whose sync state is `state`.
/// `requested` is set for a `request`: a peer with no copy, which must not create a document.
pub async fn receive(
    app: &AppState,
    caller: &Caller,
    id: &DocumentId,
    state: &mut sync::State,
    message: sync::Message,
    requested: bool,
) -> Result<Receipt, SyncError> {
    if !caller.still_valid(app).await.unwrap_or(false) {
        return Err(SyncError::Revoked);
    }
    let scope = app
        .storage
        .document_scope(id.as_str())
        .await
        .map_err(|e| SyncError::Failed(format!("reading the scope of {id}: {e}")))?;
    match &scope {
        Some(s)
            if !s.quarantined
                && !may_change(caller, s.commune_code.as_deref(), s.hamlet_id.as_deref()) =>
        {
            return Ok(Receipt::Unavailable { unknown: false });
        }
        // Quarantined documents stay reachable for callers of their commune, so the phone that
        // made one can go on syncing it; they are in no hamlet's list.
        Some(s) if s.quarantined && caller.principal.commune() != s.commune_code.as_deref() => {
            return Ok(Receipt::Unavailable { unknown: false });
        }
        // Not stored: maybe erased. Its id is not used again, and the phone is told so.
        None => {
            let tombstone = app
                .storage
                .tombstone(id.as_str())
                .await
                .map_err(|e| SyncError::Failed(format!("reading tombstones: {e}")))?;
            if let Some(t) = tombstone {
                let replaced_by = t
                    .replaced_by
                    .and_then(|r| DocumentId::parse(&r).ok())
                    .map(|r| r.url());
                return Ok(Receipt::Replaced { replaced_by });
            }
            if requested {
                return Ok(Receipt::Unavailable { unknown: true });
            }
        }
        _ => {}
    }
    let mut guard = app
        .documents
        .lock(id)
        .await
        .map_err(|e| SyncError::Failed(e.to_string()))?;
    let applied = match guard.receive_sync_message(state, message).await {
        Ok(applied) => applied,
        Err(DocumentError::Corrupt(reason)) => return Err(SyncError::Refused(reason)),
        Err(e) => return Err(SyncError::Failed(e.to_string())),
    };
    let reply = guard.generate_sync_message(state);
    drop(guard);
    if let Some(projection) = &applied.projection {
        let h = &projection.household;
        let inside = may_change(caller, h.commune_code.as_deref(), h.hamlet_id.as_deref());
        let detail = format!("{} new changes", applied.new_changes);
        audit::record(
            app,
            caller,
            "document.change",
            Some(id.as_str()),
            Some(detail),
        )
        .await
        .map_err(|e| SyncError::Failed(e.message))?;
        if !inside && scope.as_ref().is_none_or(|s| !s.quarantined) {
            app.storage
                .set_quarantined(id.as_str(), true)
                .await
                .map_err(|e| SyncError::Failed(e.to_string()))?;
            audit::record(app, caller, "document.quarantine", Some(id.as_str()), None)
                .await
                .map_err(|e| SyncError::Failed(e.message))?;
            tracing::warn!(document = %id, "document outside the caller's hamlets: quarantined");
        }
    }
    Ok(Receipt::Reply(reply))
}
