//! The checked-in schema files match a fresh generation, and the samples are judged the same
//! by the JSON Schema and by the server's validation.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use automerge::{AutoCommit, ObjId, ObjType, ROOT, ScalarValue, transaction::Transactable};
use sansang_mobile_schema::{crate_dir, files, household_schema};
use sansang_shared::{Severity, parse, read, validate};
use serde_json::Value;

/// Samples are judged as of this year, so that they do not change verdict with the calendar.
const REFERENCE_YEAR: i64 = 2026;

#[test]
fn checked_in_files_match_generation() {
    for (name, generated) in files() {
        let path = crate_dir().join(name);
        let on_disk = fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} is out of date: run `cargo run -p sansang-mobile-schema` and commit the result",
            path.display()
        );
    }
}

fn samples(folder: &str) -> Vec<(PathBuf, Value)> {
    let dir = crate_dir().join("samples").join(folder);
    let mut out: Vec<(PathBuf, Value)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no samples in {}", dir.display());
    out
}

/// Writes arbitrary JSON into an Automerge document, as a phone app would.
fn put_json(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            let child = doc.put_object(obj, key, ObjType::Map).unwrap();
            for (k, v) in map {
                put_json(doc, &child, k, v);
            }
        }
        Value::Array(items) => {
            let list = doc.put_object(obj, key, ObjType::List).unwrap();
            for (i, item) in items.iter().enumerate() {
                let holder = doc.insert_object(&list, i, ObjType::Map).unwrap();
                // Lists in v1 only hold maps (visits).
                if let Value::Object(map) = item {
                    for (k, v) in map {
                        put_json(doc, &holder, k, v);
                    }
                }
            }
        }
        scalar => {
            let s = match scalar {
                Value::String(s) => ScalarValue::from(s.as_str()),
                Value::Bool(b) => ScalarValue::Boolean(*b),
                Value::Number(n) if n.is_i64() => ScalarValue::Int(n.as_i64().unwrap()),
                Value::Number(n) => ScalarValue::F64(n.as_f64().unwrap()),
                _ => ScalarValue::Null,
            };
            doc.put(obj, key, s).unwrap();
        }
    }
}

/// Error findings from the JSON directly and from the same JSON as an Automerge document;
/// both paths must agree.
fn server_errors(path: &Path, sample: &Value) -> Vec<String> {
    let (household, mut findings) = parse::household(sample);
    findings.extend(validate::household(&household, REFERENCE_YEAR));
    let mut doc = AutoCommit::new();
    for (k, v) in sample.as_object().unwrap() {
        put_json(&mut doc, &ROOT, k, v);
    }
    let heads = doc.get_heads();
    let projected = read::project(&doc, &heads, REFERENCE_YEAR);
    assert_eq!(projected.household, household, "{}", path.display());
    assert_eq!(projected.findings, findings, "{}", path.display());
    findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{} {}", f.path, f.code))
        .collect()
}

fn schema_errors(sample: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&household_schema()).unwrap();
    validator
        .iter_errors(sample)
        .map(|e| format!("{} {}", e.instance_path(), e))
        .collect()
}

#[test]
fn valid_samples_pass_schema_and_validation() {
    for (path, sample) in samples("valid") {
        assert_eq!(
            schema_errors(&sample),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        assert_eq!(
            server_errors(&path, &sample),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn invalid_samples_fail_schema_and_validation() {
    for (path, sample) in samples("invalid") {
        assert!(
            !schema_errors(&sample).is_empty(),
            "schema accepts {}",
            path.display()
        );
        assert!(
            !server_errors(&path, &sample).is_empty(),
            "validation accepts {}",
            path.display()
        );
    }
}

/// The two rules JSON Schema cannot express: the schema accepts these, the server does not.
#[test]
fn server_only_rules_are_caught_by_validation() {
    for (path, sample) in samples("server-only") {
        assert_eq!(
            schema_errors(&sample),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        let errors = server_errors(&path, &sample);
        assert_eq!(errors.len(), 1, "{}: {errors:?}", path.display());
    }
}
