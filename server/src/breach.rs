//! Breach readiness: whose data did one phone or one person touch between two times?
//!
//! The answer comes from the audit log alone (indexed by actor and time): every household the
//! actor read (API, review pages, sync), changed, or saw a photo of, and every household of a
//! commune whose detail the actor exported. Each is listed with its hamlet, address and the
//! names of its members as stored now, so the commune can notify them within 72 hours.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use crate::exports::{Cell, csv};
use crate::storage::{Actor, AuditFilter, Millis, Storage};

/// Actions that put a household's personal data in front of the actor.
pub const TOUCHING: [&str; 5] = [
    "household.read",
    "document.read",
    "document.change",
    "document.quarantine",
    "photo.read",
];

/// One household the actor touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub document_id: String,
    pub hamlet_id: String,
    pub address: String,
    /// Members' names as stored now.
    pub persons: Vec<String>,
    /// What was done, e.g. `household.read`, `export.households`.
    pub actions: BTreeSet<String>,
    pub first: Millis,
    pub last: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Audit entries of the actor in the window.
    pub entries: usize,
    pub households: Vec<Touched>,
}

impl Report {
    pub fn persons(&self) -> usize {
        self.households.iter().map(|h| h.persons.len()).sum()
    }

    /// One row per person (a household without members gets one row with no name), as CSV.
    pub fn csv(&self) -> Vec<u8> {
        let mut rows = Vec::new();
        for h in &self.households {
            let actions = h.actions.iter().cloned().collect::<Vec<_>>().join(" ");
            let names: Vec<String> = if h.persons.is_empty() {
                vec![String::new()]
            } else {
                h.persons.clone()
            };
            for name in names {
                rows.push(vec![
                    Cell::Text(h.document_id.clone()),
                    Cell::Text(h.hamlet_id.clone()),
                    Cell::Text(h.address.clone()),
                    Cell::Text(name),
                    Cell::Text(actions.clone()),
                    Cell::Text(crate::exports::date_vn(h.first)),
                    Cell::Text(crate::exports::date_vn(h.last)),
                ]);
            }
        }
        csv(
            &[
                "household",
                "hamlet",
                "address",
                "person",
                "actions",
                "first",
                "last",
            ],
            &rows,
        )
    }
}

/// The commune code in an export's audit detail ("…, commune 10846, 120 rows").
fn exported_commune(detail: &str) -> Option<String> {
    let rest = detail.split("commune ").nth(1)?;
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (code.len() == 5).then_some(code)
}

/// Every household `actor` touched between `since` and `until` (inclusive, milliseconds).
pub async fn touched(
    storage: &dyn Storage,
    actor: Actor,
    since: Millis,
    until: Millis,
) -> anyhow::Result<Report> {
    let entries = storage
        .list_audit(&AuditFilter {
            commune_code: None,
            actor: Some(actor),
            document_id: None,
            since: Some(since),
            until: Some(until),
            limit: i64::MAX,
        })
        .await
        .context("reading the audit log")?;
    let mut seen: BTreeMap<String, (BTreeSet<String>, Millis, Millis)> = BTreeMap::new();
    let mut note = |id: &str, action: &str, at: Millis| {
        let e = seen
            .entry(id.to_owned())
            .or_insert_with(|| (BTreeSet::new(), at, at));
        e.0.insert(action.to_owned());
        e.1 = e.1.min(at);
        e.2 = e.2.max(at);
    };
    let mut exported: BTreeMap<String, Vec<Millis>> = BTreeMap::new();
    for entry in &entries {
        if let Some(id) = &entry.document_id
            && TOUCHING.contains(&entry.action.as_str())
        {
            note(id, &entry.action, entry.at);
        }
        if entry.action == "export.households"
            && let Some(code) = entry.detail.as_deref().and_then(exported_commune)
        {
            exported.entry(code).or_default().push(entry.at);
        }
    }
    for (commune, times) in &exported {
        let ids = storage
            .list_document_ids(commune)
            .await
            .with_context(|| format!("listing the households of {commune}"))?;
        for id in ids {
            for at in times {
                note(&id, "export.households", *at);
            }
        }
    }
    let mut households = Vec::with_capacity(seen.len());
    for (id, (actions, first, last)) in seen {
        let projection = storage
            .get_projection(&id)
            .await
            .with_context(|| format!("reading household {id}"))?;
        let (hamlet_id, address, persons) = match projection {
            Some(p) => (
                p.household.hamlet_id.clone().unwrap_or_default(),
                p.household.address.clone().unwrap_or_default(),
                p.household
                    .members
                    .values()
                    .filter_map(|m| m.full_name.clone())
                    .collect(),
            ),
            None => (String::new(), String::new(), Vec::new()),
        };
        households.push(Touched {
            document_id: id,
            hamlet_id,
            address,
            persons,
            actions,
            first,
            last,
        });
    }
    Ok(Report {
        entries: entries.len(),
        households,
    })
}

/// `2026-11-30` (the start of that day in Vietnam, or its end with `end_of_day`) or an RFC 3339
/// time, as milliseconds.
pub fn parse_time(text: &str, end_of_day: bool) -> anyhow::Result<Millis> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).with_context(|| {
        format!("{text:?} is not a date (2026-11-30) or a time (2026-11-30T08:00:00+07:00)")
    })?;
    let time = if end_of_day {
        time::Time::from_hms_milli(23, 59, 59, 999)?
    } else {
        time::Time::MIDNIGHT
    };
    let t = date.with_time(time).assume_offset(crate::VIETNAM);
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_details_name_their_commune() {
        assert_eq!(
            exported_commune("households.xlsx, commune 10846, 120 rows").as_deref(),
            Some("10846")
        );
        assert_eq!(exported_commune("summary, no commune here"), None);
    }

    #[test]
    fn days_are_vietnam_days() {
        // 2026-11-30 00:00 in Vietnam is 2026-11-29 17:00 UTC.
        assert_eq!(parse_time("2026-11-30", false).unwrap(), 1_795_971_600_000);
        assert_eq!(
            parse_time("2026-11-30", true).unwrap(),
            1_795_971_600_000 + 86_400_000 - 1
        );
        assert_eq!(
            parse_time("2026-11-30T00:00:00+07:00", false).unwrap(),
            1_795_971_600_000
        );
        assert!(parse_time("30/11/2026", false).is_err());
    }
}
