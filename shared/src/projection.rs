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
    /// Photos the document references but that are held back with the rest of the personal
    /// data while consent is not recorded (see [`Projection::without_personal_data_unless_consent`]):
    /// kept so the photos are not taken for orphans, never shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back_photos: Vec<String>,
}

/// Parts of a household that are personal data about its people, held back without consent.
const PERSONAL: [&str; 3] = ["/members", "/photos", "/notes"];

fn is_personal(path: &str) -> bool {
    PERSONAL
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

impl Projection {
    /// Unless the household recorded consent (`consent.given = true`), the projection keeps
    /// only what lets the commune find the household and ask again (hamlet, address, consent,
    /// visits, the review note): its members, photos and notes are stored in the document but
    /// held back from the projection, and with it from every list, page, index and export, as
    /// are the findings and conflicts about them.
    pub fn without_personal_data_unless_consent(mut self) -> Projection {
        if self.household.consent_given() {
            return self;
        }
        self.held_back_photos = std::mem::take(&mut self.household.photos)
            .into_keys()
            .collect();
        self.household.members.clear();
        self.household.notes = None;
        self.findings.retain(|f| !is_personal(&f.path));
        self.conflicts.retain(|c| !is_personal(&c.path));
        self
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::finding::Severity::Error)
    }
}
