//! Reads a household out of an Automerge document: the winning values as JSON, every
//! concurrent value with the actor that wrote it, and then the typed model with its findings.

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Number, Value as Json};

use crate::finding::{Conflict, ConflictValue, pointer};
use crate::projection::Projection;
use crate::{parse, validate};

/// Objects nested deeper than this are cut off: a v1 household is four levels deep at most, and
/// a hostile document must not make the reader recurse without bound.
const MAX_DEPTH: usize = 12;

/// The winning values of a document as JSON, and the fields that hold concurrent values.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentJson {
    pub root: Json,
    pub conflicts: Vec<Conflict>,
}

/// Converts the whole document to JSON. Text objects become strings, counters and timestamps
/// numbers, bytes lowercase hex; conflicts are listed at every map key and list index.
pub fn document_json<D: ReadDoc>(doc: &D) -> DocumentJson {
    let mut conflicts = Vec::new();
    let root = object_json(doc, &automerge::ROOT, ObjType::Map, "", 0, &mut conflicts);
    DocumentJson { root, conflicts }
}

/// Reads the household projection of a document: typed model, findings (parse and validation)
/// and conflicts. `heads` are the document's current heads (`Automerge::get_heads`).
pub fn project<D: ReadDoc>(doc: &D, heads: &[ChangeHash], reference_year: i64) -> Projection {
    let DocumentJson { root, conflicts } = document_json(doc);
    let (household, mut findings) = parse::household(&root);
    findings.extend(validate::household(&household, reference_year));
    let mut heads: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    heads.sort();
    Projection {
        household,
        findings,
        conflicts,
        heads,
        held_back_photos: Vec::new(),
    }
}

fn object_json<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    obj_type: ObjType,
    path: &str,
    depth: usize,
    conflicts: &mut Vec<Conflict>,
) -> Json {
    if depth > MAX_DEPTH {
        return Json::Null;
    }
    match obj_type {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            let keys: Vec<String> = doc
                .map_range(obj, ..)
                .map(|item| item.key.into_owned())
                .collect();
            for key in keys {
                let child_path = pointer(path, &key);
                let value = prop_json(doc, obj, key.as_str(), &child_path, depth, conflicts);
                map.insert(key, value);
            }
            Json::Object(map)
        }
        ObjType::List => {
            let len = doc.length(obj);
            let items = (0..len)
                .map(|i| {
                    let child_path = pointer(path, &i.to_string());
                    prop_json(doc, obj, i, &child_path, depth, conflicts)
                })
                .collect();
            Json::Array(items)
        }
        ObjType::Text => doc.text(obj).map(Json::String).unwrap_or(Json::Null),
    }
}

/// The winning value at `prop`, recording a conflict when several values are present.
fn prop_json<D: ReadDoc, P: Into<automerge::Prop> + Clone>(
    doc: &D,
    obj: &ObjId,
    prop: P,
    path: &str,
    depth: usize,
    conflicts: &mut Vec<Conflict>,
) -> Json {
    let all = doc.get_all(obj, prop.clone()).unwrap_or_default();
    let winner = doc.get(obj, prop).ok().flatten();
    let Some((winner_value, winner_id)) = winner else {
        return Json::Null;
    };
    if all.len() > 1 {
        let values = all
            .iter()
            .map(|(value, id)| ConflictValue {
                value: value_json(doc, value, id, path, depth, &mut Vec::new()),
                actor: actor_hex(id),
                winner: *id == winner_id,
            })
            .collect();
        conflicts.push(Conflict {
            path: path.to_owned(),
            values,
        });
    }
    value_json(doc, &winner_value, &winner_id, path, depth, conflicts)
}

fn value_json<D: ReadDoc>(
    doc: &D,
    value: &Value<'_>,
    id: &ObjId,
    path: &str,
    depth: usize,
    conflicts: &mut Vec<Conflict>,
) -> Json {
    match value {
        Value::Object(obj_type) => object_json(doc, id, *obj_type, path, depth + 1, conflicts),
        Value::Scalar(scalar) => scalar_json(scalar),
    }
}

fn scalar_json(scalar: &ScalarValue) -> Json {
    match scalar {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(b) => Json::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        ScalarValue::Unknown { .. } | ScalarValue::Null => Json::Null,
    }
}

/// Hex id of the actor that made the operation `id`.
fn actor_hex(id: &ObjId) -> String {
    match id {
        ObjId::Root => String::new(),
        ObjId::Id(_, actor, _) => actor.to_hex_string(),
    }
}
