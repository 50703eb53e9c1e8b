//! What is wrong or uncertain in a household: validation findings and concurrent conflicts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How much a finding matters: an error makes the survey invalid, a warning asks for a look.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a household, located by a JSON pointer into the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// JSON pointer (RFC 6901) of the field at fault, e.g. `/members/<id>/birthYear`.
    pub path: String,
    /// Stable code, e.g. `birth-year-future`.
    pub code: String,
    pub severity: Severity,
    pub message_vi: String,
    pub message_en: String,
}

impl Finding {
    pub fn error(path: impl Into<String>, code: &str, vi: String, en: String) -> Self {
        Finding {
            path: path.into(),
            code: code.to_owned(),
            severity: Severity::Error,
            message_vi: vi,
            message_en: en,
        }
    }

    pub fn warning(path: impl Into<String>, code: &str, vi: String, en: String) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(path, code, vi, en)
        }
    }
}

/// Concurrent values of one field, written by phones that did not see each other's edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// JSON pointer of the field.
    pub path: String,
    /// Every value, the one Automerge picked as winner marked.
    pub values: Vec<ConflictValue>,
}

/// One of the concurrent values of a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictValue {
    pub value: serde_json::Value,
    /// Hex id of the Automerge actor (phone) that wrote it.
    pub actor: String,
    /// Whether this is the value every replica currently shows.
    pub winner: bool,
}

/// Appends `segment` to a JSON pointer, escaping `~` and `/` as RFC 6901 asks.
pub fn pointer(base: &str, segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    format!("{base}/{escaped}")
}
