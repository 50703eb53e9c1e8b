//! The readiness indices of a commune as the server computes them: the stored projections, the
//! hamlet heads' approvals (of the current version only), the year's targets, and every hamlet
//! of the commune listed, surveyed or not.

use std::collections::{BTreeMap, HashMap, HashSet};

use sansang_shared::indices::{
    self, AreaIndices, HouseholdInput, IndexReport, IndexSettings, Targets, View,
};
use sansang_shared::publish::{PublishedReport, Shown};
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
    /// With a roster, `100 × listedVisited / listed`; without, `100 × surveyed / expected`;
    /// none without either.
    pub percent: Option<f64>,
    /// Households of the commune's roster in the hamlet (`None` while it has none listed).
    pub listed: Option<u64>,
    /// Of those, the ones surveyed (visited, consent or a member recorded).
    pub listed_visited: u64,
    /// Households flagged as possible duplicates and not decided on: each group of them is
    /// counted once in the indices until the hamlet head decides.
    pub possible_duplicates: u64,
}

/// A hamlet with listed households nobody has visited yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotVisited {
    pub hamlet_id: String,
    pub name: String,
    pub not_visited: u64,
}

/// Coverage as published: the surveyed count suppressed like every other count.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedCoverage {
    pub name: String,
    pub surveyed: Shown,
    pub expected: Option<i64>,
    /// None when the surveyed count is not shown.
    pub percent: Option<f64>,
    /// Households of the roster in the hamlet (a count of houses, not of people's answers).
    pub listed: Option<u64>,
    /// Possible duplicates not decided on yet, for the hamlet head to look at.
    pub possible_duplicates: u64,
}

/// The coverage of each hamlet with the surveyed counts of `published` (its
/// `householdsTotal`, suppressed).
pub fn publish_coverage(
    coverage: &BTreeMap<String, Coverage>,
    published: &PublishedReport,
) -> BTreeMap<String, PublishedCoverage> {
    coverage
        .iter()
        .map(|(id, c)| {
            let surveyed = published
                .hamlets
                .get(id)
                .map_or(Shown::Hidden, |a| a.households_total);
            (
                id.clone(),
                PublishedCoverage {
                    name: c.name.clone(),
                    surveyed,
                    expected: c.expected,
                    percent: c.percent.filter(|_| surveyed.is_shown()),
                    listed: c.listed,
                    possible_duplicates: c.possible_duplicates,
                },
            )
        })
        .collect()
}

/// A commune's report with its hamlets' names and survey coverage.
pub struct CommuneIndices {
    pub report: IndexReport,
    pub targets: Targets,
    pub hamlets: Vec<Hamlet>,
    pub coverage: BTreeMap<String, Coverage>,
    /// With a roster: the hamlets with the most listed households not visited yet, most first
    /// (at most five).
    pub not_visited: Vec<NotVisited>,
}

/// Hamlets named in [`CommuneIndices::not_visited`].
const NOT_VISITED_SHOWN: usize = 5;

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
    let reviewed = storage.reviewed_households(commune, None).await?;
    let approved: HashSet<String> = reviewed
        .iter()
        .filter(|r| r.review.decision == Decision::Approved && r.review.heads == r.current_heads)
        .map(|r| r.review.document_id.clone())
        .collect();
    let decided: HashMap<&str, Decision> = reviewed
        .iter()
        .map(|r| (r.review.document_id.as_str(), r.review.decision))
        .collect();
    let wanted = |hamlet: &str| only.is_none_or(|only| only.iter().any(|h| h == hamlet));
    // Possible duplicates (rejected households take no part): until the head decides, each
    // group counts once, as its first household; a decided one counts, and then only it.
    let apart = crate::duplicates::apart(storage, commune).await?;
    let duplicates = crate::duplicates::among_projections(
        &rows,
        |id| decided.get(id) == Some(&Decision::Rejected),
        &apart,
    );
    let undecided = |id: &str| !decided.contains_key(id);
    let second_survey = |id: &str| {
        duplicates.get(id).is_some_and(|others| {
            undecided(id) && others.iter().any(|o| !undecided(o) || o.as_str() < id)
        })
    };
    let mut possible_duplicates: HashMap<&str, u64> = HashMap::new();
    for row in &rows {
        if duplicates.contains_key(&row.document_id)
            && undecided(&row.document_id)
            && let Some(hamlet) = row.hamlet_id.as_deref()
        {
            *possible_duplicates.entry(hamlet).or_default() += 1;
        }
    }
    let inputs: Vec<HouseholdInput<'_>> = rows
        .iter()
        .filter_map(|row| {
            let hamlet = row.hamlet_id.as_deref()?;
            // Listed in the roster and not visited yet: not surveyed.
            if row.projection.household.listed_only() || second_survey(&row.document_id) {
                return None;
            }
            wanted(hamlet).then_some(HouseholdInput {
                hamlet_id: hamlet,
                approved: approved.contains(&row.document_id),
                household: &row.projection.household,
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
    // The roster: listed households per hamlet, and those visited.
    let visited: HashSet<&str> = rows
        .iter()
        .filter(|r| !r.projection.household.listed_only())
        .map(|r| r.document_id.as_str())
        .collect();
    let mut listed: HashMap<String, (u64, u64)> = HashMap::new();
    for entry in storage.list_roster(commune).await? {
        let counts = listed.entry(entry.hamlet_id).or_default();
        counts.0 += 1;
        if visited.contains(entry.document_id.as_str()) {
            counts.1 += 1;
        }
    }
    // A hamlet nobody surveyed yet is listed with no data, not left out.
    let empty: AreaIndices = indices::compute(&[], &settings).commune;
    let mut coverage = BTreeMap::new();
    let mut not_visited = Vec::new();
    for h in &hamlets {
        let area = report
            .hamlets
            .entry(h.id.clone())
            .or_insert_with(|| empty.clone());
        let surveyed = area.households_total;
        let (listed_here, listed_visited) = match listed.get(&h.id) {
            Some(&(n, v)) => (Some(n), v),
            None => (None, 0),
        };
        let percent = match listed_here {
            Some(n) if n > 0 => Some(100.0 * listed_visited as f64 / n as f64),
            _ => h
                .expected_households
                .filter(|e| *e > 0)
                .map(|e| 100.0 * surveyed as f64 / e as f64),
        };
        if let Some(n) = listed_here
            && n > listed_visited
        {
            not_visited.push(NotVisited {
                hamlet_id: h.id.clone(),
                name: h.name.clone(),
                not_visited: n - listed_visited,
            });
        }
        coverage.insert(
            h.id.clone(),
            Coverage {
                name: h.name.clone(),
                surveyed,
                expected: h.expected_households,
                percent,
                listed: listed_here,
                listed_visited,
                possible_duplicates: possible_duplicates.get(h.id.as_str()).copied().unwrap_or(0),
            },
        );
    }
    not_visited.sort_by(|a, b| (b.not_visited, &a.hamlet_id).cmp(&(a.not_visited, &b.hamlet_id)));
    not_visited.truncate(NOT_VISITED_SHOWN);
    Ok(CommuneIndices {
        report,
        targets,
        hamlets,
        coverage,
        not_visited,
    })
}

/// The household detail of a commune (or of some hamlets), one row per member, for commune
/// staff: with each household's review state and hamlet name.
pub async fn household_detail(
    storage: &dyn Storage,
    commune: &str,
    only: Option<&[String]>,
    year: i64,
) -> Result<Vec<Vec<crate::exports::Cell>>, StorageError> {
    use crate::review::ReviewState;
    let rows = storage.commune_projections(commune).await?;
    let reviewed: std::collections::HashMap<String, crate::storage::ReviewedHousehold> = storage
        .reviewed_households(commune, None)
        .await?
        .into_iter()
        .map(|r| (r.review.document_id.clone(), r))
        .collect();
    let names: std::collections::HashMap<String, String> = storage
        .list_hamlets(commune)
        .await?
        .into_iter()
        .map(|h| (h.id, h.name))
        .collect();
    let wanted = |hamlet: &str| only.is_none_or(|only| only.iter().any(|h| h == hamlet));
    let apart = crate::duplicates::apart(storage, commune).await?;
    let duplicates = crate::duplicates::among_projections(
        &rows,
        |id| {
            reviewed
                .get(id)
                .is_some_and(|rv| rv.review.decision == crate::storage::Decision::Rejected)
        },
        &apart,
    );
    let mut kept: Vec<_> = rows
        .iter()
        .filter(|r| r.hamlet_id.as_deref().is_some_and(wanted))
        .collect();
    kept.sort_by(|a, b| {
        (
            &a.hamlet_id,
            &a.projection.household.address,
            &a.document_id,
        )
            .cmp(&(
                &b.hamlet_id,
                &b.projection.household.address,
                &b.document_id,
            ))
    });
    let states: Vec<&'static str> = kept
        .iter()
        .map(|r| {
            let p = &r.projection;
            let mut heads = p.heads.clone();
            heads.sort();
            ReviewState::from_parts(
                !p.findings.is_empty() || !p.conflicts.is_empty(),
                duplicates.contains_key(&r.document_id),
                reviewed
                    .get(&r.document_id)
                    .map(|rv| (&rv.review, heads.as_slice())),
            )
            .label_vi()
        })
        .collect();
    let lines: Vec<crate::exports::HouseholdLine<'_>> = kept
        .iter()
        .zip(&states)
        .map(|(r, state)| {
            let hamlet = r.hamlet_id.as_deref().unwrap_or_default();
            crate::exports::HouseholdLine {
                hamlet_id: hamlet,
                hamlet_name: names.get(hamlet).map_or(hamlet, String::as_str),
                document_id: &r.document_id,
                review_state: state,
                updated_at: Some(r.updated_at),
                household: &r.projection.household,
            }
        })
        .collect();
    Ok(crate::exports::household_rows(&lines, year))
}

/// One point of progress: when, and the commune's percentage of each indicator then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressPoint {
    pub taken_at: i64,
    pub percent: BTreeMap<String, Option<f64>>,
}

fn view_name(view: View) -> &'static str {
    match view {
        View::Approved => "approved",
        View::AllSurveyed => "all-surveyed",
    }
}

/// Keeps today's snapshot of a commune's indices, unless one was taken in the last `every`
/// milliseconds; returns every snapshot's commune percentages, oldest first.
pub async fn progress(
    storage: &dyn Storage,
    commune: &str,
    report: &IndexReport,
    every: i64,
) -> Result<Vec<ProgressPoint>, StorageError> {
    let view = view_name(report.view);
    let mut snapshots = storage.index_snapshots(commune, view).await?;
    let now = crate::now_millis();
    if snapshots.last().is_none_or(|(at, _)| now - at >= every) {
        let text = serde_json::to_string(report).map_err(|e| StorageError::Corrupt {
            table: "index_snapshots",
            detail: e.to_string(),
        })?;
        storage
            .add_index_snapshot(commune, view, now, &text)
            .await?;
        snapshots.push((now, text));
    }
    Ok(snapshots
        .iter()
        .filter_map(|(at, text)| {
            // A snapshot of an older report shape is skipped, not fatal.
            let report: IndexReport = serde_json::from_str(text).ok()?;
            Some(ProgressPoint {
                taken_at: *at,
                percent: report
                    .commune
                    .indicators
                    .iter()
                    .map(|i| (i.key.as_str().to_owned(), i.percent))
                    .collect(),
            })
        })
        .collect())
}
