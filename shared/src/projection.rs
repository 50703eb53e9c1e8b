//! The flat, queryable view of one household document that the server stores beside it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finding::{Conflict, Finding};
use crate::model::Household;

/// A household as read from its document at `heads`, with what is wrong and what conflicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub household: Household,
    pub findings: Vec<Finding>,
    pub conflicts: Vec<Conflict>,
    /// Hex change hashes of the document heads this projection was read at, sorted.
    pub heads: Vec<String>,
}

impl Projection {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::finding::Severity::Error)
    }
}
