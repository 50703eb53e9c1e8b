//! Publishing an [`IndexReport`]: small cells suppressed so no household can be picked out.
//!
//! The rule (DOMAIN.md): a count between 1 and `threshold − 1` (default 1–4) is shown as "<5";
//! where a suppressed count could be worked out from the commune's total and the other hamlets
//! (it is the only one suppressed in its column), one more count of that column is hidden ("x"):
//! the smallest other hamlet's, or, with no other hamlet, the commune's total itself. A hamlet
//! whose numerator or denominator is not shown loses its percentage, gap and "still needed" too,
//! since those would give the count back. The hidden partner is never 0 nor small enough to pin
//! the small cell down: it is at least the threshold and the pair at least 2 × threshold − 1.
//!
//! Columns are per indicator: numerator, denominator, not recorded, level 1; and the area counts
//! (households surveyed, counted, without consent, not approved, members, age unknown). Zero is never
//! suppressed: "nobody" identifies nobody.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::indices::{AreaIndices, IndexReport, Indicator, IndicatorKey, View};

/// Counts below this (and above 0) are suppressed unless configured otherwise.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// A count as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub enum Shown {
    Count(u64),
    /// Between 1 and the threshold − 1: "<5".
    Small {
        threshold: u64,
    },
    /// Hidden so that a small count elsewhere cannot be worked out: "x".
    Hidden,
}

impl Shown {
    pub fn is_shown(self) -> bool {
        matches!(self, Shown::Count(_))
    }

    /// As a person reads it: `12`, `<5`, `x`.
    pub fn text(self) -> String {
        match self {
            Shown::Count(n) => n.to_string(),
            Shown::Small { threshold } => format!("<{threshold}"),
            Shown::Hidden => "x".to_owned(),
        }
    }
}

impl Serialize for Shown {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::Count(n) => s.serialize_u64(*n),
            other => s.serialize_str(&other.text()),
        }
    }
}

/// One indicator of one area, as published.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedIndicator {
    pub key: IndicatorKey,
    pub label_vi: String,
    pub label_en: String,
    pub numerator: Shown,
    pub denominator: Shown,
    pub not_recorded: Shown,
    /// `None` with no data, or when a count it comes from is not shown.
    pub percent: Option<f64>,
    pub target: Option<f64>,
    pub gap: Option<f64>,
    pub missing: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level1: Option<Shown>,
}

/// One area (a hamlet or the commune) as published.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedArea {
    /// Households surveyed, whatever their consent or review state.
    pub households_total: Shown,
    pub households_counted: Shown,
    pub households_no_consent: Shown,
    pub households_not_approved: Shown,
    pub members_counted: Shown,
    pub members_age_unknown: Shown,
    pub indicators: Vec<PublishedIndicator>,
}

/// A report fit to publish or export.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedReport {
    pub reference_year: i64,
    pub view: View,
    /// The threshold used: counts from 1 to `threshold − 1` show as "<threshold".
    pub threshold: u64,
    pub commune: PublishedArea,
    pub hamlets: BTreeMap<String, PublishedArea>,
}

/// The counts of a column, by hamlet (in id order) and for the commune.
struct Column {
    hamlets: Vec<u64>,
    commune: u64,
}

/// Suppresses a column: the small cells, then one more where a lone small cell could be
/// recovered from the total.
fn suppress(column: &Column, threshold: u64) -> (Vec<Shown>, Shown) {
    let small = |n: u64| n > 0 && n < threshold;
    let mut hamlets: Vec<Shown> = column
        .hamlets
        .iter()
        .map(|&n| {
            if small(n) {
                Shown::Small { threshold }
            } else {
                Shown::Count(n)
            }
        })
        .collect();
    let mut commune = if small(column.commune) {
        Shown::Small { threshold }
    } else {
        Shown::Count(column.commune)
    };
    let small_cells: Vec<usize> = (0..hamlets.len())
        .filter(|i| !hamlets[*i].is_shown())
        .collect();
    if let ([lone], true) = (small_cells.as_slice(), commune.is_shown()) {
        // The reader knows the small cell and its partner add up to the total minus the shown
        // cells, that the small one is 1..threshold−1 and that the partner is not (it would
        // show as small). So the partner must be at least the threshold, and the pair at least
        // 2 × threshold − 1, for every small value to stay possible: the smallest such cell is
        // hidden; with none, the total.
        let small = column.hamlets[*lone];
        let partner = column
            .hamlets
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                hamlets[*i].is_shown() && **n >= threshold && small + **n >= 2 * threshold - 1
            })
            .min_by_key(|(i, n)| (**n, *i))
            .map(|(i, _)| i);
        match partner {
            Some(i) => hamlets[i] = Shown::Hidden,
            None => commune = Shown::Hidden,
        }
    }
    (hamlets, commune)
}

/// Applies the rule to a whole report.
pub fn publish(report: &IndexReport, threshold: u64) -> PublishedReport {
    let threshold = threshold.max(1);
    let areas: Vec<&AreaIndices> = report.hamlets.values().collect();
    let column = |f: &dyn Fn(&AreaIndices) -> u64| {
        suppress(
            &Column {
                hamlets: areas.iter().map(|a| f(a)).collect(),
                commune: f(&report.commune),
            },
            threshold,
        )
    };
    let total = column(&|a| a.households_total);
    let counted = column(&|a| a.households_counted);
    let no_consent = column(&|a| a.households_no_consent);
    let not_approved = column(&|a| a.households_not_approved);
    let members = column(&|a| a.members_counted);
    let age_unknown = column(&|a| a.members_age_unknown);

    // Per indicator, the four count columns.
    let indicator_of = |a: &AreaIndices, key| a.indicator(key).cloned();
    let mut per_key = Vec::new();
    for key in IndicatorKey::ALL {
        let value = |f: &dyn Fn(&Indicator) -> u64| {
            column(&|a: &AreaIndices| indicator_of(a, key).map_or(0, |i| f(&i)))
        };
        per_key.push((
            key,
            value(&|i| i.numerator),
            value(&|i| i.denominator),
            value(&|i| i.not_recorded),
            value(&|i| i.level1.unwrap_or(0)),
        ));
    }

    // Area `index` (None: the commune), built from the columns.
    let area = |source: &AreaIndices, index: Option<usize>| {
        let pick = |col: &(Vec<Shown>, Shown)| match index {
            Some(i) => col.0[i],
            None => col.1,
        };
        let indicators = per_key
            .iter()
            .filter_map(|(key, num, den, nr, l1)| {
                let i = source.indicator(*key)?;
                let (numerator, denominator) = (pick(num), pick(den));
                let whole = numerator.is_shown() && denominator.is_shown();
                Some(PublishedIndicator {
                    key: *key,
                    label_vi: i.label_vi.clone(),
                    label_en: i.label_en.clone(),
                    numerator,
                    denominator,
                    not_recorded: pick(nr),
                    percent: i.percent.filter(|_| whole),
                    target: i.target,
                    gap: i.gap.filter(|_| whole),
                    missing: i.missing.filter(|_| whole),
                    level1: i.level1.map(|_| pick(l1)),
                })
            })
            .collect();
        PublishedArea {
            households_total: pick(&total),
            households_counted: pick(&counted),
            households_no_consent: pick(&no_consent),
            households_not_approved: pick(&not_approved),
            members_counted: pick(&members),
            members_age_unknown: pick(&age_unknown),
            indicators,
        }
    };
    PublishedReport {
        reference_year: report.reference_year,
        view: report.view,
        threshold,
        commune: area(&report.commune, None),
        hamlets: report
            .hamlets
            .iter()
            .enumerate()
            .map(|(i, (id, a))| (id.clone(), area(a, Some(i))))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const T: u64 = 5;
    const S: Shown = Shown::Small { threshold: 5 };

    fn col(hamlets: &[u64], commune: u64) -> (Vec<Shown>, Shown) {
        suppress(
            &Column {
                hamlets: hamlets.to_vec(),
                commune,
            },
            T,
        )
    }

    #[test]
    fn small_counts_show_as_less_than_five_and_zero_stays() {
        let (h, c) = col(&[0, 12, 30], 42);
        assert_eq!(h, vec![Shown::Count(0), Shown::Count(12), Shown::Count(30)]);
        assert_eq!(c, Shown::Count(42));
        assert_eq!(col(&[5], 5).0, vec![Shown::Count(5)]);
    }

    #[test]
    fn a_lone_small_cell_takes_the_smallest_other_with_it() {
        // 3 + 7 + 20 = 30: with 3 alone hidden, 30 − 7 − 20 would give it back.
        let (h, c) = col(&[3, 20, 7], 30);
        assert_eq!(h, vec![S, Shown::Count(20), Shown::Hidden]);
        assert_eq!(c, Shown::Count(30));
        // Two small cells already protect each other.
        let (h, _) = col(&[3, 2, 20], 25);
        assert_eq!(h, vec![S, S, Shown::Count(20)]);
        // Never a zero (x = 0 would give the small one back as the remainder), nor a partner
        // too small to leave every small value possible: 1 + 5 = 6 would force 1 and 5.
        let (h, _) = col(&[4, 0, 9], 13);
        assert_eq!(h, vec![S, Shown::Count(0), Shown::Hidden]);
        let (h, c) = col(&[1, 5, 20], 26);
        assert_eq!(h, vec![S, Shown::Count(5), Shown::Hidden]);
        assert_eq!(c, Shown::Count(26));
        // No fitting partner at all: the total goes.
        let (h, c) = col(&[2, 5, 0], 7);
        assert_eq!(h, vec![S, Shown::Count(5), Shown::Count(0)]);
        assert_eq!(c, Shown::Hidden);
    }

    #[test]
    fn a_single_small_hamlet_hides_the_total() {
        assert_eq!(col(&[6], 6), (vec![Shown::Count(6)], Shown::Count(6)));
        assert_eq!(col(&[3], 3), (vec![S], S));
        // The total is large, the only hamlet small: impossible for sums, but the mentoring
        // column of a commune is not a sum of hamlets.
        assert_eq!(col(&[2], 9), (vec![S], Shown::Hidden));
    }

    #[test]
    fn texts_and_json() {
        assert_eq!(S.text(), "<5");
        assert_eq!(Shown::Hidden.text(), "x");
        assert_eq!(serde_json::to_string(&Shown::Count(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&S).unwrap(), "\"<5\"");
    }
}
