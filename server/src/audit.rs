//! Writing the audit trail: who (person or phone) did what to which household, when, from where.
//! A read of personal data that cannot be audited is not served.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::storage::{Actor, AuditEntry};

/// Records an action of the caller.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    action: &str,
    document_id: Option<&str>,
    detail: Option<String>,
) -> Result<(), ApiError> {
    state
        .storage
        .append_audit(&entry(caller, action, document_id, detail))
        .await?;
    Ok(())
}

/// The entry [`record`] would write, for writing it inside another transaction.
pub fn entry(
    caller: &Caller,
    action: &str,
    document_id: Option<&str>,
    detail: Option<String>,
) -> AuditEntry {
    build(
        caller.actor(),
        caller.principal.commune(),
        caller.address.clone(),
        action,
        document_id,
        detail,
    )
}

/// An entry of `actor` in `commune`'s trail (no address: from the command line), for writing
/// inside another transaction.
pub fn entry_as(actor: Actor, commune: Option<&str>, action: &str) -> AuditEntry {
    build(actor, commune, None, action, None, None)
}

/// Records an action of someone not signed in (a failed sign-in, an enrollment) or of the
/// system, in `commune`'s trail (`None`: the installation's, read by installation admins only).
pub async fn record_as(
    state: &AppState,
    actor: Actor,
    commune: Option<&str>,
    address: Option<String>,
    action: &str,
    document_id: Option<&str>,
    detail: Option<String>,
) -> Result<(), ApiError> {
    let entry = build(actor, commune, address, action, document_id, detail);
    state.storage.append_audit(&entry).await?;
    Ok(())
}

fn build(
    actor: Actor,
    commune: Option<&str>,
    address: Option<String>,
    action: &str,
    document_id: Option<&str>,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: crate::now_millis(),
        actor,
        action: action.to_owned(),
        document_id: document_id.map(str::to_owned),
        address,
        detail,
        commune_code: commune.map(str::to_owned),
    }
}
