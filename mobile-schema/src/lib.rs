//! What the phone app builds against: the JSON Schema of household document v1 and the
//! questionnaire, generated from `sansang-shared` and checked in beside this crate.
//!
//! Regenerate the files with `cargo run -p sansang-mobile-schema`; a test fails when the
//! checked-in copies drift from the generated ones.

use std::path::PathBuf;

use sansang_shared::model::{Household, MIN_BIRTH_YEAR, SCHEMA_V1};
use sansang_shared::questionnaire;
use serde_json::{Value, json};

/// File names (relative to this crate) and their generated contents.
pub fn files() -> Vec<(&'static str, String)> {
    vec![
        ("household.schema.json", pretty(&household_schema())),
        ("questionnaire.json", pretty(&questionnaire())),
    ]
}

/// The folder the files are checked in to.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pretty(value: &Value) -> String {
    // Serialising a serde_json::Value cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The questionnaire definition as JSON.
pub fn questionnaire() -> Value {
    serde_json::to_value(questionnaire::v1()).unwrap_or(Value::Null)
}

/// JSON Schema (draft 2020-12) of a household document, version 1.
///
/// The types come from the model; the rules that the model's types cannot say are added here,
/// each mirroring a rule of `sansang_shared::validate`. Two rules of that module are not
/// expressible in JSON Schema and are checked by the server only: exactly one head of household,
/// and no birth year after the report year.
pub fn household_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Household)).unwrap_or(Value::Null);
    schema["$id"] = json!("https://sansang.example/schemas/household-1.json");
    schema["description"] = json!(
        "One household survey as an Automerge document (root map). A missing field means \
         'not recorded'. Not expressible here, checked by the server: exactly one member with \
         relation 'head'; no birth year after the report year."
    );
    schema["required"] = json!(["schema", "hamletId"]);
    let props = &mut schema["properties"];
    props["schema"] = json!({ "const": SCHEMA_V1 });
    props["hamletId"] = json!({ "type": "string", "pattern": "\\S" });
    props["communeCode"] = json!({ "type": ["string", "null"], "pattern": "^[0-9]{5}$" });
    props["photos"]["propertyNames"] = json!({ "pattern": "^[0-9a-f]{64}$" });
    // Without consent nothing but the hamlet, the address and the consent may be recorded.
    schema["if"] = json!({
        "not": {
            "required": ["consent"],
            "properties": { "consent": {
                "type": "object",
                "required": ["given"],
                "properties": { "given": { "const": true } }
            } }
        }
    });
    schema["then"] = json!({
        "properties": {
            "members": { "maxProperties": 0 },
            "photos": { "maxProperties": 0 },
            "visits": { "maxItems": 0 },
            "notes": { "type": "null" }
        }
    });
    let member = &mut schema["$defs"]["Member"];
    member["required"] = json!(["fullName", "relation"]);
    member["properties"]["fullName"] = json!({ "type": "string" });
    member["properties"]["relation"] = json!({ "$ref": "#/$defs/Relation" });
    member["properties"]["birthYear"]["minimum"] = json!(MIN_BIRTH_YEAR);
    schema
}
