//! Where a household belongs. A phone cannot move a stored household out of its hamlets (the
//! sync refuses such a change whole); a hamlet head moves households between their own hamlets
//! and the commune's admin between any hamlets of the commune, here. A document a phone sent for a
//! hamlet outside its own waits in quarantine until an admin releases it to a hamlet (here) or
//! erases it ([`crate::erasure`]).
//!
//! The hamlet is written into the document itself, as a change of the person who moved it (or of
//! the installation, from `sansang admin`), so the phones of the new hamlet receive it and the
//! old hamlet's phones are no longer sent it.

use automerge::ActorId;
use automerge::transaction::Transactable;

use crate::app::AppState;
use crate::documents::{DocGuard, DocumentError, DocumentId};
use crate::storage::{DocumentScope, StorageError};

/// Why a move or a release was not done.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("no such household")]
    NotFound,
    #[error("hamletId: no hamlet {hamlet} in commune {commune}")]
    UnknownHamlet { commune: String, hamlet: String },
    #[error("the household is quarantined: an admin releases it to a hamlet")]
    Quarantined,
    #[error("the household is not quarantined")]
    NotQuarantined,
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Moved {
    pub document_id: String,
    pub commune_code: String,
    /// The hamlet it was in (none when the document did not say).
    pub from: Option<String>,
    pub to: String,
}

/// The actor of changes made by the installation itself (`sansang admin`).
pub fn installation_actor() -> ActorId {
    crate::review::reviewer_actor("installation")
}

/// Document `id` locked, with its stored scope and commune; `NotFound` for a document never
/// stored or of no commune. Read under the lock, so a phone's change or another move cannot
/// slip in between the check and the write.
async fn locked<'a>(
    state: &'a AppState,
    id: &DocumentId,
) -> Result<(DocGuard<'a>, DocumentScope, String), MoveError> {
    let guard = state.documents.lock_fresh(id).await?;
    let scope = guard.scope().cloned().ok_or(MoveError::NotFound)?;
    let commune = scope.commune_code.clone().ok_or(MoveError::NotFound)?;
    Ok((guard, scope, commune))
}

/// `UnknownHamlet` unless `commune` has `hamlet`.
async fn hamlet_exists(state: &AppState, commune: &str, hamlet: &str) -> Result<(), MoveError> {
    let exists = state
        .storage
        .list_hamlets(commune)
        .await?
        .iter()
        .any(|h| h.id == hamlet);
    if !exists {
        return Err(MoveError::UnknownHamlet {
            commune: commune.to_owned(),
            hamlet: hamlet.to_owned(),
        });
    }
    Ok(())
}

/// Writes `hamlet` into the document as `actor`: stored, projected and pushed like any change.
async fn write_hamlet(
    guard: &mut DocGuard<'_>,
    hamlet: &str,
    actor: ActorId,
    message: &str,
) -> Result<(), MoveError> {
    guard
        .change_as(actor, message, |tx| {
            tx.put(automerge::ROOT, "hamletId", hamlet)
        })
        .await?;
    Ok(())
}

/// Moves stored household `id` to `hamlet` of its commune. `may_move(commune, from, to)` says
/// whether the mover may (checked before anything is written; `false` is answered as not found).
pub async fn move_household(
    state: &AppState,
    id: &DocumentId,
    hamlet: &str,
    actor: ActorId,
    may_move: impl FnOnce(&str, Option<&str>, &str) -> bool,
) -> Result<Moved, MoveError> {
    let (mut guard, scope, commune) = locked(state, id).await?;
    if !may_move(&commune, scope.hamlet_id.as_deref(), hamlet) {
        return Err(MoveError::NotFound);
    }
    if scope.quarantined {
        return Err(MoveError::Quarantined);
    }
    hamlet_exists(state, &commune, hamlet).await?;
    let from = scope.hamlet_id.clone();
    if from.as_deref() != Some(hamlet) {
        let message = format!(
            "move: {} → {hamlet}",
            from.as_deref().unwrap_or("(no hamlet)")
        );
        write_hamlet(&mut guard, hamlet, actor, &message).await?;
    }
    Ok(Moved {
        document_id: id.as_str().to_owned(),
        commune_code: commune,
        from,
        to: hamlet.to_owned(),
    })
}

/// Releases quarantined document `id` into `hamlet` of its commune: the hamlet is written into
/// it, then it leaves quarantine and joins that hamlet's list. `may_release(commune)` says
/// whether the caller administers the commune.
pub async fn release(
    state: &AppState,
    id: &DocumentId,
    hamlet: &str,
    actor: ActorId,
    may_release: impl FnOnce(&str) -> bool,
) -> Result<Moved, MoveError> {
    let (mut guard, scope, commune) = locked(state, id).await?;
    if !may_release(&commune) {
        return Err(MoveError::NotFound);
    }
    if !scope.quarantined {
        return Err(MoveError::NotQuarantined);
    }
    hamlet_exists(state, &commune, hamlet).await?;
    let from = scope.hamlet_id.clone();
    if from.as_deref() != Some(hamlet) {
        write_hamlet(&mut guard, hamlet, actor, &format!("release to {hamlet}")).await?;
    }
    guard.set_quarantined(false).await?;
    Ok(Moved {
        document_id: id.as_str().to_owned(),
        commune_code: commune,
        from,
        to: hamlet.to_owned(),
    })
}
