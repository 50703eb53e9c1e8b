//! The commune's household list (roster): imported from the file the commune keeps (xlsx or
//! CSV), checked whole, compared with what is listed already, then written: one roster row per
//! listed household, and one household document per listed household, made by the server
//! (hamlet, address, `rosterCode`), which the hamlet's phones receive like any household. Two
//! volunteers who open the same listed household offline thus edit the same document, and
//! their answers merge field by field.
//!
//! A later file updates addresses (and the head's name and member count the roster keeps) and
//! adds households; a household it leaves out is kept, and none is ever deleted. Importing the
//! same file again changes nothing. The head's name stays in the roster (it helps the volunteer
//! find the house); the survey records it only with the household's consent.

pub mod file;

use std::collections::{HashMap, HashSet};
use std::fmt;

use automerge::transaction::Transactable;
use sansang_shared::model::{Household, SCHEMA_V1};
use serde::Serialize;

use crate::app::AppState;
use crate::documents::{DocumentError, DocumentId};
use crate::storage::{AuditEntry, RosterEntry, Storage, StorageError};
pub use file::{MAX_ROWS, RosterRow, parse, read};

/// A problem with the file, located where a person can find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Line of the CSV file, or row of the sheet.
    pub line: usize,
    /// `column 2 (mã hộ)` (CSV) or `column B (mã hộ)` (xlsx), when the problem is in one field.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    pub(crate) fn at(line: usize, column: Option<String>, message: impl Into<String>) -> Problem {
        Problem {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Text as volunteers type it to search: lower case, without Vietnamese diacritics (`đ` as `d`),
/// so "Nguyễn Văn A" and "nguyen van a" fold alike.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The file (or what it says about the commune's hamlets and roster) has problems; nothing
    /// was written.
    #[error("{} problems in the file; nothing imported", .0.len())]
    Problems(Vec<Problem>),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("household document {id}: {source}")]
    Document {
        id: String,
        #[source]
        source: DocumentError,
    },
}

/// What an import would do, worked out before anything is written.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub commune: String,
    /// New households, each with the id of the document that will be made for it.
    pub added: Vec<RosterEntry>,
    /// Listed already, with something changed: before and after.
    pub updated: Vec<(RosterEntry, RosterEntry)>,
    /// Listed already, the same.
    pub unchanged: Vec<RosterEntry>,
    /// Listed before and not in this file: kept as they are.
    pub kept: usize,
}

/// What an import did (or, for a preview, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Households new in the roster.
    pub added: usize,
    /// Listed households whose address, head or member count changed.
    pub updated: usize,
    pub unchanged: usize,
    /// Listed before and not in this file: kept, never deleted.
    pub kept: usize,
    /// Household documents made (for new households, or for listed ones whose document was
    /// not made yet, as after an interrupted import).
    pub documents_made: usize,
    /// Documents whose address was changed to the roster's new one (those whose address a
    /// volunteer had corrected are left as the volunteer wrote it).
    pub addresses_changed: usize,
    /// Listed households whose document was erased at the household's request: not made again.
    pub erased: usize,
    /// The first changes, for a person to look over: `+ T01 H001 Số 4, xóm Tây` (added) or
    /// `~ T01 H002 address: old → new` (updated).
    pub changes: Vec<String>,
}

/// Lines of [`Summary::changes`] shown at most.
const CHANGES_SHOWN: usize = 200;

impl Plan {
    /// The summary of this plan before it is applied (nothing made or changed yet).
    pub fn preview(&self) -> Summary {
        let mut changes = Vec::new();
        for e in &self.added {
            changes.push(format!("+ {} {} {}", e.hamlet_id, e.code, e.address));
        }
        for (before, after) in &self.updated {
            let mut what = Vec::new();
            if before.address != after.address {
                what.push(format!("address: {} → {}", before.address, after.address));
            }
            if before.head_name != after.head_name {
                what.push(format!(
                    "head: {} → {}",
                    before.head_name.as_deref().unwrap_or("—"),
                    after.head_name.as_deref().unwrap_or("—")
                ));
            }
            if before.members != after.members {
                let show = |m: Option<i64>| m.map_or("—".to_owned(), |m| m.to_string());
                what.push(format!(
                    "members: {} → {}",
                    show(before.members),
                    show(after.members)
                ));
            }
            changes.push(format!(
                "~ {} {} {}",
                after.hamlet_id,
                after.code,
                what.join("; ")
            ));
        }
        changes.truncate(CHANGES_SHOWN);
        Summary {
            added: self.added.len(),
            updated: self.updated.len(),
            unchanged: self.unchanged.len(),
            kept: self.kept,
            changes,
            ..Summary::default()
        }
    }

    fn changes_roster(&self) -> bool {
        !self.added.is_empty() || !self.updated.is_empty()
    }
}

/// Compares the rows of a file ([`read`], with the `problems` found reading it) with commune
/// `commune`'s hamlets and roster: every problem (those, a hamlet the commune does not have, a
/// listed household the file puts in another hamlet) is reported with its line and column, in
/// the order of the file, and then nothing is planned.
pub async fn plan(
    storage: &dyn Storage,
    commune: &str,
    rows: Vec<RosterRow>,
    mut problems: Vec<Problem>,
    now: i64,
) -> Result<Plan, RosterError> {
    let hamlets: Vec<String> = storage
        .list_hamlets(commune)
        .await?
        .into_iter()
        .map(|h| h.id)
        .collect();
    let listed: HashMap<String, RosterEntry> = storage
        .list_roster(commune)
        .await?
        .into_iter()
        .map(|e| (e.code.clone(), e))
        .collect();
    let mut plan = Plan {
        commune: commune.to_owned(),
        ..Plan::default()
    };
    let mut seen = 0;
    for row in rows {
        if !hamlets.contains(&row.hamlet_id) {
            let known = if hamlets.is_empty() {
                "it has none yet: import its hamlets first".to_owned()
            } else {
                format!("its hamlets are {}", hamlets.join(", "))
            };
            problems.push(Problem::at(
                row.line,
                Some(row.hamlet_column.clone()),
                format!(
                    "{} is not a hamlet of commune {commune} ({known})",
                    row.hamlet_id
                ),
            ));
            continue;
        }
        let entry = |document_id: String, imported_at: i64| RosterEntry {
            commune_code: commune.to_owned(),
            code: row.code.clone(),
            hamlet_id: row.hamlet_id.clone(),
            address: row.address.clone(),
            head_name: row.head_name.clone(),
            members: row.members,
            document_id,
            imported_at,
            updated_at: now,
        };
        match listed.get(&row.code) {
            None => plan
                .added
                .push(entry(DocumentId::random().to_string(), now)),
            Some(before) if before.hamlet_id != row.hamlet_id => {
                problems.push(Problem::at(
                    row.line,
                    Some(row.hamlet_column.clone()),
                    format!(
                        "household {} is listed in hamlet {}: a household moves to another \
                         hamlet with its move (its page, or the API), not with the roster",
                        row.code, before.hamlet_id
                    ),
                ));
            }
            Some(before) => {
                seen += 1;
                let after = entry(before.document_id.clone(), before.imported_at);
                if (&before.address, &before.head_name, before.members)
                    == (&after.address, &after.head_name, after.members)
                {
                    plan.unchanged.push(before.clone());
                } else {
                    plan.updated.push((before.clone(), after));
                }
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(RosterError::Problems(problems));
    }
    plan.kept = listed.len() - seen;
    Ok(plan)
}

/// Writes `plan`: the roster rows in one transaction with the audit line `audit` (an entry
/// without its action; nothing when nothing changed), then the household documents, telling
/// `progress(done, total)` as it goes. Documents are made for every listed household in the
/// file that has none yet, so an import cut short is completed by importing again.
pub async fn apply(
    state: &AppState,
    plan: &Plan,
    audit: &AuditEntry,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Summary, RosterError> {
    let mut summary = plan.preview();
    if plan.changes_roster() {
        let entries: Vec<RosterEntry> = plan
            .added
            .iter()
            .chain(plan.updated.iter().map(|(_, after)| after))
            .cloned()
            .collect();
        let entry = AuditEntry {
            action: "roster.import".into(),
            detail: Some(format!(
                "commune {}: {} added, {} updated, {} unchanged, {} kept",
                plan.commune,
                plan.added.len(),
                plan.updated.len(),
                plan.unchanged.len(),
                plan.kept
            )),
            commune_code: Some(plan.commune.clone()),
            ..audit.clone()
        };
        state.storage.save_roster(&entries, &entry).await?;
    }
    let moved_address: HashMap<&str, &str> = plan
        .updated
        .iter()
        .filter(|(before, after)| before.address != after.address)
        .map(|(before, _)| (before.document_id.as_str(), before.address.as_str()))
        .collect();
    // The documents as the roster now names them: should another server have imported the
    // same new household at the same moment, its document is the one listed, and the one
    // planned here is never made.
    let listed: HashMap<String, String> = state
        .storage
        .list_roster(&plan.commune)
        .await?
        .into_iter()
        .map(|e| (e.code, e.document_id))
        .collect();
    let all: Vec<RosterEntry> = plan
        .added
        .iter()
        .chain(plan.updated.iter().map(|(_, after)| after))
        .chain(plan.unchanged.iter())
        .map(|e| RosterEntry {
            document_id: listed
                .get(&e.code)
                .cloned()
                .unwrap_or_else(|| e.document_id.clone()),
            ..e.clone()
        })
        .collect();
    // Documents stored (and so projected) already: nothing to make unless the address moved,
    // so none of them is read. Importing a large commune's list again would otherwise load
    // every one of its households into memory, pushing out the ones phones are syncing.
    let projected: HashSet<String> = state
        .storage
        .list_households(&plan.commune, None)
        .await?
        .into_iter()
        .map(|h| h.document_id)
        .collect();
    let total = all.len();
    for (done, entry) in all.iter().enumerate() {
        let old_address = moved_address.get(entry.document_id.as_str());
        let made = if old_address.is_none() && projected.contains(&entry.document_id) {
            Made::Nothing
        } else {
            household_document(state, entry, old_address).await?
        };
        match made {
            Made::New => summary.documents_made += 1,
            Made::AddressChanged => summary.addresses_changed += 1,
            Made::Erased => summary.erased += 1,
            Made::Nothing => {}
        }
        if (done + 1) % 50 == 0 || done + 1 == total {
            progress(done + 1, total);
        }
    }
    Ok(summary)
}

enum Made {
    New,
    AddressChanged,
    Erased,
    Nothing,
}

/// Makes the document of a listed household when it has none, or writes the roster's new
/// address into it when it still holds `old_address` (the one the roster had).
async fn household_document(
    state: &AppState,
    entry: &RosterEntry,
    old_address: Option<&&str>,
) -> Result<Made, RosterError> {
    let failed = |source: DocumentError| RosterError::Document {
        id: entry.document_id.clone(),
        source,
    };
    let id = DocumentId::parse(&entry.document_id).map_err(|e| RosterError::Document {
        id: entry.document_id.clone(),
        source: DocumentError::Corrupt(e.to_string()),
    })?;
    if state.storage.tombstone(id.as_str()).await?.is_some() {
        return Ok(Made::Erased);
    }
    let mut guard = state.documents.lock_fresh(&id).await.map_err(failed)?;
    // A fresh actor for each change: two servers importing at once never reuse one.
    let actor = automerge::ActorId::random();
    if !guard.stored() {
        let household = Household {
            schema: Some(SCHEMA_V1.into()),
            commune_code: Some(entry.commune_code.clone()),
            hamlet_id: Some(entry.hamlet_id.clone()),
            address: Some(entry.address.clone()),
            roster_code: Some(entry.code.clone()),
            ..Household::default()
        };
        guard
            .change_as(actor, "roster", |tx| {
                sansang_shared::write::household(tx, &household)
            })
            .await
            .map_err(failed)?;
        return Ok(Made::New);
    }
    let Some(old) = old_address else {
        return Ok(Made::Nothing);
    };
    let current = automerge::ReadDoc::get(guard.doc(), automerge::ROOT, "address")
        .ok()
        .flatten()
        .and_then(|(v, _)| v.into_string().ok());
    if current.as_deref() != Some(*old) {
        return Ok(Made::Nothing);
    }
    guard
        .change_as(actor, "roster: address", |tx| {
            tx.put(automerge::ROOT, "address", entry.address.as_str())
        })
        .await
        .map_err(failed)?;
    Ok(Made::AddressChanged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_and_diacritics() {
        assert_eq!(fold("Nguyễn Văn Đức"), "nguyen van duc");
        // NFD input (as macOS writes it) folds the same.
        let nfd: String =
            unicode_normalization::UnicodeNormalization::nfd("Số 4 xóm Tây").collect();
        assert_eq!(fold(&nfd), "so 4 xom tay");
    }
}
