//! The readiness indices of a commune as the server computes them: the stored projections, the
//! hamlet heads' approvals (of the current version only), the year's targets, and every hamlet
//! of the commune listed, surveyed or not.

use std::collections::{BTreeMap, HashSet};

use sansang_shared::indices::{
    self, AreaIndices, HouseholdInput, IndexReport, IndexSettings, Targets, View,
};
use serde::Serialize;

use crate::storage::{Decision, Hamlet, Storage, StorageError};

/// The settings key of a commune's targets for a year.
fn targets_key(commune: &str, year: i64) -> String {
    format!("targets/{commune}/{year}")
}

/// The commune's targets for `year`: what the admin set, or the plan's.
pub async fn targets(
    storage: &dyn Storage,
    commune: &str,
    year: i64,
) -> Result<Targets, StorageError> {
    match storage.get_setting(&targets_key(commune, year)).await? {
        Some(text) => serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
            table: "settings",
            detail: format!("targets of {commune} for {year}: {e}"),
        }),
        None => Ok(Targets::plan_default()),
    }
}

/// Stores targets already validated.
pub async fn set_targets(
    storage: &dyn Storage,
    commune: &str,
    year: i64,
    targets: &Targets,
) -> Result<(), StorageError> {
    let text = serde_json::to_string(targets).map_err(|e| StorageError::Corrupt {
        table: "settings",
        detail: e.to_string(),
    })?;
    storage
        .put_setting(&targets_key(commune, year), &text)
        .await
}

/// Households surveyed in a hamlet against the number the admin expects there.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub name: String,
    pub surveyed: u64,
    pub expected: Option<i64>,
    /// `100 × surveyed / expected`; none without an expected count.
    pub percent: Option<f64>,
}

/// A commune's report with its hamlets' names and survey coverage.
pub struct CommuneIndices {
    pub report: IndexReport,
    pub targets: Targets,
    pub hamlets: Vec<Hamlet>,
    pub coverage: BTreeMap<String, Coverage>,
}

/// Computes the indices of `commune` (or of the listed `hamlets` only) for `year` in `view`.
pub async fn compute(
    storage: &dyn Storage,
    commune: &str,
    only: Option<&[String]>,
    view: View,
    year: i64,
) -> Result<CommuneIndices, StorageError> {
    let targets = targets(storage, commune, year).await?;
    let rows = storage.commune_projections(commune).await?;
    let approved: HashSet<String> = storage
        .reviewed_households(commune, None)
        .await?
        .into_iter()
        .filter(|r| r.review.decision == Decision::Approved && r.review.heads == r.current_heads)
        .map(|r| r.review.document_id)
        .collect();
    let wanted = |hamlet: &str| only.is_none_or(|only| only.iter().any(|h| h == hamlet));
    let inputs: Vec<HouseholdInput<'_>> = rows
        .iter()
        .filter_map(|(id, hamlet, projection)| {
            let hamlet = hamlet.as_deref()?;
            wanted(hamlet).then_some(HouseholdInput {
                hamlet_id: hamlet,
                approved: approved.contains(id),
                household: &projection.household,
            })
        })
        .collect();
    let settings = IndexSettings {
        reference_year: year,
        view,
        targets,
    };
    let mut report = indices::compute(&inputs, &settings);
    let hamlets: Vec<Hamlet> = storage
        .list_hamlets(commune)
        .await?
        .into_iter()
        .filter(|h| wanted(&h.id))
        .collect();
    // A hamlet nobody surveyed yet is listed with no data, not left out.
    let empty: AreaIndices = indices::compute(&[], &settings).commune;
    let mut coverage = BTreeMap::new();
    for h in &hamlets {
        let area = report
            .hamlets
            .entry(h.id.clone())
            .or_insert_with(|| empty.clone());
        let surveyed = area.households_total;
        coverage.insert(
            h.id.clone(),
            Coverage {
                name: h.name.clone(),
                surveyed,
                expected: h.expected_households,
                percent: h
                    .expected_households
                    .filter(|e| *e > 0)
                    .map(|e| 100.0 * surveyed as f64 / e as f64),
            },
        );
    }
    Ok(CommuneIndices {
        report,
        targets,
        hamlets,
        coverage,
    })
}
