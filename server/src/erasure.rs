//! A person's rights over their data: everything held about a household (or one member of it) as
//! one archive, and its erasure.
//!
//! Automerge keeps every value ever written in a document's history, so erasing a member cannot
//! be one more change. Instead the document is replaced: a fresh document (new id, new history)
//! holds the household as it is now without the erased member and their photos; the old
//! document's changes, snapshot, projection, photo references and reviews are deleted, its
//! photos no other household uses are removed from the store, and a tombstone keeps its id from
//! ever being used again: a phone that still holds the old history is refused and told which
//! document replaced it. Erasing the whole household leaves no replacement. The audit log
//! records the erasure without any erased value. Deleted rows are then scrubbed from the
//! database files ([`Storage::scrub`]).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;
use automerge::{ActorId, AutoCommit};
use sansang_shared::{Household, read, write};
use serde_json::json;

use crate::app::AppState;
use crate::documents::{DocGuard, DocumentId};
use crate::photos::{PhotoKey, Sha256Hex, Variant};
use crate::storage::{Storage, Tombstone};

/// What is erased: a whole household, or one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Household,
    Member(String),
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    /// The erased document's id (now a tombstone).
    pub erased: String,
    /// The document holding what remains, when a member was erased.
    pub replaced_by: Option<String>,
    /// Stored changes deleted with the old document.
    pub changes_removed: u64,
    /// Photos removed from the store (no other household used them).
    pub photos_removed: usize,
}

/// Why an erasure or export could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no such household")]
    NotFound,
    #[error("the household has no member {0}")]
    NoSuchMember(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Household `id`, locked; `NotFound` when it is not stored.
async fn lock_stored<'a>(
    state: &'a AppState,
    id: &DocumentId,
) -> Result<DocGuard<'a>, ErasureError> {
    let guard = state
        .documents
        .lock_fresh(id)
        .await
        .map_err(|e| ErasureError::Failed(e.into()))?;
    if !guard.stored() {
        return Err(ErasureError::NotFound);
    }
    Ok(guard)
}

/// The household as it is now, read whole (consent or not: this is the person's own data).
async fn current(
    state: &AppState,
    id: &DocumentId,
) -> Result<(Household, serde_json::Value, Vec<String>), ErasureError> {
    let guard = lock_stored(state, id).await?;
    let doc = guard.doc();
    let projection = read::project(doc, &doc.get_heads(), crate::reference_year());
    let json = read::document_json(doc);
    let document = json!({ "root": json.root, "conflicts": json.conflicts });
    Ok((projection.household, document, projection.heads))
}

/// What the replacement says where the erased member was the one who gave consent.
pub const CONSENT_BY_ERASED: &str =
    "người đồng ý đã được xoá / the person who consented was erased";
/// What stands in free text where the erased member's name was.
pub const NAME_ERASED: &str = "[đã xoá / erased]";

/// Takes every mention of the erased member (`id`, named `name`) out of what remains: who gave
/// consent (kept as given, with [`CONSENT_BY_ERASED`] for who), their name in the notes and in
/// the review comment, other members' mentor pointing at them.
fn forget_person(rest: &mut Household, id: &str, name: &str) {
    let name = name.trim();
    let names = |text: &str| !name.is_empty() && contains_name(text, name);
    if let Some(consent) = rest.consent.as_mut()
        && consent
            .by
            .as_deref()
            .is_some_and(|by| names(by) || by.trim() == id)
    {
        consent.by = Some(CONSENT_BY_ERASED.to_owned());
    }
    if let Some(notes) = rest.notes.as_mut()
        && names(notes)
    {
        *notes = replace_name(notes, name);
    }
    if let Some(review) = rest.review.as_mut()
        && let Some(comment) = review.comment.as_mut()
        && names(comment)
    {
        *comment = replace_name(comment, name);
    }
    for member in rest.members.values_mut() {
        if member.mentor_id.as_deref() == Some(id) {
            member.mentor_id = None;
        }
    }
}

/// The text in one comparable form: NFC and lower case (names are typed in either case, with
/// composed or decomposed accents).
fn comparable(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect::<String>().to_lowercase()
}

fn contains_name(text: &str, name: &str) -> bool {
    comparable(text).contains(&comparable(name))
}

/// `text` with every occurrence of `name` (compared as [`comparable`]) replaced by
/// [`NAME_ERASED`]; the rest of the text as it was, in NFC.
fn replace_name(text: &str, name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let text: String = text.nfc().collect();
    let needle = comparable(name);
    let chars: Vec<char> = text.chars().collect();
    let needle_len = needle.chars().count();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let window: String = chars[i..(i + needle_len).min(chars.len())].iter().collect();
        if needle_len > 0 && window.to_lowercase() == needle {
            out.push_str(NAME_ERASED);
            i += needle_len;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Photos of `household` that belong to `subject` (all of them for the household).
fn photos_of(household: &Household, subject: &Subject) -> BTreeSet<String> {
    household
        .photos
        .iter()
        .filter(|(_, p)| match subject {
            Subject::Household => true,
            Subject::Member(m) => p.member_id.as_deref() == Some(m.as_str()),
        })
        .map(|(sha, _)| sha.clone())
        .collect()
}

/// Everything held about the household (or one member): the document's current content with
/// every concurrent value, the projection, reviews, the audit entries about it, and its photos
/// as stored, packed as a tar archive. Audited as `person.export`.
pub async fn export(
    state: &AppState,
    id: &DocumentId,
    subject: &Subject,
) -> Result<Vec<u8>, ErasureError> {
    let (mut household, document, heads) = current(state, id).await?;
    if let Subject::Member(m) = subject {
        let member = household
            .members
            .remove(m)
            .ok_or_else(|| ErasureError::NoSuchMember(m.clone()))?;
        household.members.clear();
        household.members.insert(m.clone(), member);
        household
            .photos
            .retain(|_, p| p.member_id.as_deref() == Some(m.as_str()));
    }
    let reviews = state
        .storage
        .review_history(id.as_str())
        .await
        .context("reading reviews")?;
    let audit = state
        .storage
        .list_audit(&crate::storage::AuditFilter {
            document_id: Some(id.as_str().to_owned()),
            limit: i64::MAX,
            ..Default::default()
        })
        .await
        .context("reading the audit log")?;
    let photos = photos_of(&household, subject);
    let mut manifest = json!({
        "exportedAt": crate::exports::date_vn(crate::now_millis()),
        "document": id.as_str(),
        "url": id.url(),
        "heads": heads,
        "subject": match subject {
            Subject::Household => json!("household"),
            Subject::Member(m) => json!({ "member": m }),
        },
        "household": household,
        "reviews": reviews.iter().map(|r| json!({
            "decision": r.decision.as_str(),
            "comment": r.comment,
            "decidedAt": crate::exports::date_vn(r.decided_at),
            "version": r.version,
        })).collect::<Vec<_>>(),
        "accessLog": audit.iter().map(|a| json!({
            "at": crate::exports::date_vn(a.at),
            "action": a.action,
            "actor": a.actor,
        })).collect::<Vec<_>>(),
        "photos": photos,
    });
    if subject == &Subject::Household {
        // The raw content, with every concurrent value: only for the whole household (a member
        // export must not carry the other members).
        manifest["documentContent"] = document;
    }
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, name, bytes)
            .with_context(|| format!("archiving {name}"))
    };
    add(
        "household.json",
        &serde_json::to_vec_pretty(&manifest).context("writing household.json")?,
    )?;
    for sha in &photos {
        let Ok(hash) = Sha256Hex::parse(sha) else {
            continue;
        };
        for variant in [Variant::Evidence, Variant::Original] {
            let key = PhotoKey::new(hash.clone(), variant);
            if let Some(bytes) = state
                .photos
                .get(&key)
                .await
                .with_context(|| format!("reading photo {key}"))?
            {
                add(&format!("photos/{sha}-{}.jpg", variant.as_str()), &bytes)?;
            }
        }
    }
    let mut bytes = out.into_inner().context("finishing the archive")?;
    bytes.flush().ok();
    Ok(bytes)
}

/// Erases `subject` of household `id`: see the module documentation. `actor` (from `address`)
/// is recorded in the audit log with `reason`; no erased value is.
pub async fn erase(
    state: &AppState,
    actor: crate::storage::Actor,
    address: Option<String>,
    id: &DocumentId,
    subject: &Subject,
    reason: &str,
) -> Result<Erased, ErasureError> {
    // The old document stays locked until its rows are gone, so no sync slips a change in; the
    // copy in memory is dropped with the lock.
    let mut guard = lock_stored(state, id).await?;
    let doc = guard.doc();
    let household = read::project(doc, &doc.get_heads(), crate::reference_year()).household;
    let erased_photos = photos_of(&household, subject);
    let remaining = match subject {
        Subject::Household => None,
        Subject::Member(m) => {
            if !household.members.contains_key(m) {
                return Err(ErasureError::NoSuchMember(m.clone()));
            }
            let mut rest = household.clone();
            let erased = rest.members.remove(m);
            rest.photos.retain(|sha, _| !erased_photos.contains(sha));
            let name = erased.and_then(|e| e.full_name).unwrap_or_default();
            forget_person(&mut rest, m, &name);
            Some(rest)
        }
    };

    // What remains, as a fresh document with no history of the erased member.
    let replaced_by = match &remaining {
        Some(rest) => {
            let mut fresh = AutoCommit::new().with_actor(ActorId::random());
            write::household(&mut fresh, rest).context("writing the replacement document")?;
            let new_id = DocumentId::random();
            state
                .documents
                .apply_changes(&new_id, fresh.get_changes(&[]))
                .await
                .context("storing the replacement document")?;
            Some(new_id)
        }
        None => None,
    };
    let tombstone = Tombstone {
        document_id: id.as_str().to_owned(),
        replaced_by: replaced_by.as_ref().map(|r| r.as_str().to_owned()),
        erased_at: crate::now_millis(),
    };
    let purged = state
        .storage
        .erase_document(&tombstone)
        .await
        .context("deleting the old document")?;
    guard.unload();
    drop(guard);

    // Photos nobody else uses leave the store (the row first, so a failure leaves an orphan
    // for the sweep rather than a row without its bytes).
    let mut photos_removed = 0;
    for sha in &erased_photos {
        let Ok(hash) = Sha256Hex::parse(sha) else {
            continue;
        };
        if state
            .storage
            .forget_orphan_photo(sha)
            .await
            .context("forgetting a photo")?
        {
            for variant in Variant::ALL {
                state
                    .photos
                    .delete(&PhotoKey::new(hash.clone(), variant))
                    .await
                    .with_context(|| format!("deleting photo {sha}"))?;
            }
            photos_removed += 1;
        }
    }
    state
        .storage
        .scrub()
        .await
        .context("scrubbing deleted rows from the database files")?;
    let what = match subject {
        Subject::Household => "household".to_owned(),
        Subject::Member(m) => format!("member {m}"),
    };
    crate::audit::record_as(
        state,
        actor,
        household.commune_code.as_deref(),
        address,
        "person.erase",
        Some(id.as_str()),
        Some(format!(
            "{what}; replaced by {}; {} changes and {photos_removed} photos removed; reason: {reason}",
            replaced_by.as_ref().map_or("nothing", |r| r.as_str()),
            purged.changes
        )),
    )
    .await
    .map_err(|e| ErasureError::Failed(anyhow::anyhow!("{e}")))?;
    Ok(Erased {
        erased: id.as_str().to_owned(),
        replaced_by: replaced_by.map(|r| r.as_str().to_owned()),
        changes_removed: purged.changes,
        photos_removed,
    })
}

/// Whether `storage` still holds anything of the erased document (a check for tests and for
/// the admin's peace of mind).
pub async fn remains(storage: &dyn Storage, id: &str) -> anyhow::Result<bool> {
    Ok(storage.document_scope(id).await?.is_some() || storage.load_document(id).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_in_any_case() {
        assert_eq!(
            replace_name(
                "Đã hỏi anh NGUYỄN văn an, ông Nguyễn Văn An đồng ý",
                "Nguyễn Văn An"
            ),
            format!("Đã hỏi anh {NAME_ERASED}, ông {NAME_ERASED} đồng ý")
        );
        assert!(contains_name("bà ĐINH THỊ QUẾ", "Đinh Thị Quế"));
        assert!(!contains_name("bà Lan", "Đinh Thị Quế"));
    }
}
