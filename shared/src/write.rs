//! Writes a household into an Automerge document, for tools, the demo and tests.
//!
//! Writing is additive: fields that are `None` are left as they are in the document, and a field
//! already holding the same value is not written again, so re-writing a household makes no
//! change and never creates a conflict with itself.

use automerge::{AutomergeError, ObjId, ObjType, ScalarValue, Value, transaction::Transactable};

use crate::model::{Consent, Household, Member, PhotoRef, ReviewNote, SKILL_KEYS, Visit};

/// Writes every recorded field of `h` into the document root.
pub fn household<T: Transactable>(tx: &mut T, h: &Household) -> Result<(), AutomergeError> {
    let root = automerge::ROOT;
    put_str(tx, &root, "schema", h.schema.as_deref())?;
    put_str(tx, &root, "communeCode", h.commune_code.as_deref())?;
    put_str(tx, &root, "hamletId", h.hamlet_id.as_deref())?;
    put_str(tx, &root, "address", h.address.as_deref())?;
    if let Some(c) = &h.consent {
        let obj = ensure(tx, &root, "consent", ObjType::Map)?;
        consent(tx, &obj, c)?;
    }
    if !h.members.is_empty() {
        let members = ensure(tx, &root, "members", ObjType::Map)?;
        for (id, m) in &h.members {
            let obj = ensure(tx, &members, id, ObjType::Map)?;
            member(tx, &obj, m)?;
        }
    }
    if !h.photos.is_empty() {
        let photos = ensure(tx, &root, "photos", ObjType::Map)?;
        for (hash, p) in &h.photos {
            let obj = ensure(tx, &photos, hash, ObjType::Map)?;
            photo(tx, &obj, p)?;
        }
    }
    if !h.visits.is_empty() {
        let list = ensure(tx, &root, "visits", ObjType::List)?;
        visits(tx, &list, &h.visits)?;
    }
    put_str(tx, &root, "notes", h.notes.as_deref())?;
    put_str(tx, &root, "rosterCode", h.roster_code.as_deref())?;
    if let Some(r) = &h.review {
        let obj = ensure(tx, &root, "review", ObjType::Map)?;
        review(tx, &obj, r)?;
    }
    Ok(())
}

/// Writes a review note's recorded fields into the map `obj`.
pub fn review<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    r: &ReviewNote,
) -> Result<(), AutomergeError> {
    put_str(tx, obj, "decision", r.decision.as_deref())?;
    put_str(tx, obj, "comment", r.comment.as_deref())?;
    put_str(tx, obj, "decidedBy", r.decided_by.as_deref())?;
    put_str(tx, obj, "decidedAt", r.decided_at.as_deref())?;
    put(tx, obj, "version", r.version.map(ScalarValue::Int))
}

/// Writes one member's recorded fields into the member map `obj`.
pub fn member<T: Transactable>(tx: &mut T, obj: &ObjId, m: &Member) -> Result<(), AutomergeError> {
    put_str(tx, obj, "fullName", m.full_name.as_deref())?;
    put(tx, obj, "birthYear", m.birth_year.map(ScalarValue::Int))?;
    put_str(tx, obj, "sex", m.sex.map(|v| v.as_str()))?;
    put_str(tx, obj, "relation", m.relation.map(|v| v.as_str()))?;
    put_str(tx, obj, "smartphone", m.smartphone.map(|v| v.as_str()))?;
    put_str(tx, obj, "vneid", m.vneid.map(|v| v.as_str()))?;
    put_str(
        tx,
        obj,
        "paymentAccount",
        m.payment_account.map(|v| v.as_str()),
    )?;
    put_bool(tx, obj, "paymentOnPhone", m.payment_on_phone)?;
    if let Some(skills) = &m.skills {
        let s = ensure(tx, obj, "skills", ObjType::Map)?;
        for (key, value) in SKILL_KEYS.iter().zip(skills.values()) {
            put_bool(tx, &s, key, value)?;
        }
    }
    put_bool(tx, obj, "vneidCourseConfirmed", m.vneid_course_confirmed)?;
    put_bool(tx, obj, "wantsToLearn", m.wants_to_learn)?;
    put_str(tx, obj, "mentorId", m.mentor_id.as_deref())
}

fn consent<T: Transactable>(tx: &mut T, obj: &ObjId, c: &Consent) -> Result<(), AutomergeError> {
    put_bool(tx, obj, "given", c.given)?;
    put_str(tx, obj, "by", c.by.as_deref())?;
    put_str(tx, obj, "at", c.at.as_deref())
}

fn photo<T: Transactable>(tx: &mut T, obj: &ObjId, p: &PhotoRef) -> Result<(), AutomergeError> {
    put_str(tx, obj, "kind", p.kind.map(|k| k.as_str()))?;
    put_str(tx, obj, "memberId", p.member_id.as_deref())?;
    put_str(tx, obj, "takenAt", p.taken_at.as_deref())
}

/// Appends the visits the list does not have yet (visits are only ever added).
fn visits<T: Transactable>(tx: &mut T, list: &ObjId, all: &[Visit]) -> Result<(), AutomergeError> {
    for (i, v) in all.iter().enumerate().skip(tx.length(list)) {
        let obj = tx.insert_object(list, i, ObjType::Map)?;
        put_str(tx, &obj, "at", v.at.as_deref())?;
        put_str(tx, &obj, "by", v.by.as_deref())?;
    }
    Ok(())
}

/// The object of `obj_type` at `key`, created when absent or of another kind.
fn ensure<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    obj_type: ObjType,
) -> Result<ObjId, AutomergeError> {
    match tx.get(obj, key)? {
        Some((Value::Object(t), id)) if t == obj_type => Ok(id),
        _ => tx.put_object(obj, key, obj_type),
    }
}

fn put<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: Option<ScalarValue>,
) -> Result<(), AutomergeError> {
    let Some(value) = value else { return Ok(()) };
    let all = tx.get_all(obj, key)?;
    let same =
        all.len() == 1 && matches!(&all[0].0, Value::Scalar(current) if current.as_ref() == &value);
    if same {
        return Ok(());
    }
    tx.put(obj, key, value)
}

fn put_str<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), AutomergeError> {
    put(tx, obj, key, value.map(ScalarValue::from))
}

fn put_bool<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: Option<bool>,
) -> Result<(), AutomergeError> {
    put(tx, obj, key, value.map(ScalarValue::Boolean))
}
