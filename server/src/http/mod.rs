//! HTTP handlers, one module per resource, each exporting its own `router()`.

pub mod audit;
pub mod auth;
pub mod devices;
pub mod erasure;
pub mod health;
pub mod households;
pub mod indices;
pub mod json;
pub mod moves;
pub mod openapi;
pub mod photos;
pub mod reviews;
pub mod roster;
pub mod users;

use crate::app::AppState;
use crate::auth::{Action, Caller, Scope};
use crate::documents::DocumentId;
use crate::error::ApiError;
use crate::storage::DocumentScope;

/// The commune and hamlets a listing is about, each checked for `action`: one hamlet when asked,
/// else the caller's own hamlets (a hamlet head), else the whole commune (`None`). The commune is
/// the caller's; an installation admin, who belongs to none, names it.
pub fn listing_scope(
    caller: &Caller,
    action: Action,
    commune: Option<&String>,
    hamlet: Option<&String>,
) -> Result<(String, Vec<Option<String>>), ApiError> {
    let commune = match (caller.principal.commune(), commune) {
        (Some(own), _) => own.to_owned(),
        (None, Some(asked)) => asked.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "commune-required",
                "name the commune",
            ));
        }
    };
    let hamlets: Vec<Option<String>> = match (hamlet, caller.principal.hamlets()) {
        (Some(h), _) => vec![Some(h.clone())],
        (None, Some(mine)) => mine.iter().cloned().map(Some).collect(),
        (None, None) => vec![None],
    };
    for hamlet in &hamlets {
        let scope = match hamlet {
            Some(h) => Scope::hamlet(&commune, h),
            None => Scope::commune(&commune),
        };
        caller.require(action, scope)?;
    }
    Ok((commune, hamlets))
}

/// Finds a household and checks the caller may do `action` on it; 404 otherwise, the same as
/// for an unknown id.
pub async fn household_scope(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(DocumentId, DocumentScope), ApiError> {
    let id = DocumentId::parse(id).map_err(|_| ApiError::not_found())?;
    let scope = state
        .storage
        .document_scope(id.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    // A document that does not say its commune is only for an installation admin.
    let commune = scope.commune_code.as_deref().unwrap_or_default();
    // Quarantined (sent from outside its hamlet): the commune's admins, and for reading the
    // phone or person that sent it; not the hamlet it claims.
    if scope.quarantined {
        let admin = crate::auth::policy::allows(
            &caller.principal,
            Action::Administer,
            Scope::commune(commune),
        );
        let sender =
            action == Action::Read && crate::sync::receive::may_see_quarantined(caller, &scope);
        if !(admin || sender) {
            return Err(ApiError::not_found());
        }
        return Ok((id, scope));
    }
    let resource = match &scope.hamlet_id {
        Some(h) => Scope::hamlet(commune, h),
        None => Scope::commune(commune),
    };
    caller.require(action, resource)?;
    Ok((id, scope))
}
