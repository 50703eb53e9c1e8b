//! Households of a hamlet that are likely the same one surveyed twice (two volunteers, each
//! offline, each making a document for the same house): their addresses are equal once
//! normalised ([`address_key`]: case, diacritics, the spellings of "số / ngõ / xóm / thôn",
//! spacing, punctuation, leading zeros), or a member of each has the same name (folded) and
//! birth year. They are flagged for the hamlet head, who decides.

use std::collections::{BTreeMap, HashMap, HashSet};

use sansang_shared::finding::Finding;

use crate::roster::fold;
use crate::storage::{
    Decision, DocumentScope, HouseholdSummary, MemberName, Storage, StorageError, StoredProjection,
};

/// Words of an address that say nothing about which house it is: "số" / "số nhà" / "sn" before
/// the house number, "nhà".
const NOISE: [&str; 3] = ["so", "sn", "nha"];

/// Abbreviations and their word: "ng." for ngõ, "x." for xóm, "th." for thôn, "tdp" for tổ dân
/// phố, "k" for kiệt, "h" for hẻm.
const SPELLINGS: [(&str, &str); 9] = [
    ("ng", "ngo"),
    ("x", "xom"),
    ("th", "thon"),
    ("tdp", "to"),
    ("k", "kiet"),
    ("h", "hem"),
    ("ap", "thon"),
    ("ban", "thon"),
    ("bon", "thon"),
];

/// The address as a comparison key: folded ([`fold`]), punctuation as spaces, abbreviations
/// spelled out, "số" and "nhà" dropped, numbers without leading zeros. `None` when nothing is
/// left (an empty address compares with nothing).
pub fn address_key(address: &str) -> Option<String> {
    let folded = fold(address);
    let spaced: String = folded
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<String> = Vec::new();
    let mut tokens = spaced.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        // "to dan pho" is one word: "to".
        if token == "to" && tokens.peek() == Some(&"dan") {
            tokens.next();
            if tokens.peek() == Some(&"pho") {
                tokens.next();
            }
        }
        if NOISE.contains(&token) {
            continue;
        }
        let word = SPELLINGS
            .iter()
            .find(|(short, _)| *short == token)
            .map_or(token, |(_, long)| long);
        // Digits glued to letters ("so4", "4a") are split from the word before: "so4" → "4".
        let word = match word.find(|c: char| c.is_ascii_digit()) {
            Some(0) | None => word.to_owned(),
            Some(i) if NOISE.contains(&&word[..i]) => word[i..].to_owned(),
            Some(_) => word.to_owned(),
        };
        let digits = word.chars().take_while(char::is_ascii_digit).count();
        let word = if digits > 0 {
            let number = word[..digits].trim_start_matches('0');
            let number = if number.is_empty() { "0" } else { number };
            format!("{number}{}", &word[digits..])
        } else {
            word
        };
        words.push(word);
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// Groups of documents whose addresses share a key, each group sorted, from `(document, address)`
/// pairs of one hamlet; only groups of two or more.
pub fn same_address<'a>(
    households: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<Vec<&'a str>> {
    let mut by_key: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
    for (id, address) in households {
        if let Some(key) = address.and_then(address_key) {
            by_key.entry(key).or_default().push(id);
        }
    }
    by_key
        .into_values()
        .filter(|ids| ids.len() > 1)
        .map(|mut ids| {
            ids.sort_unstable();
            ids
        })
        .collect()
}

/// Pairs of households decided not to be the same one, smaller id first.
pub type Apart = HashSet<(String, String)>;

/// Whether `a` and `b` were decided not to be the same household.
fn decided_apart(apart: &Apart, a: &str, b: &str) -> bool {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    apart.contains(&(first.to_owned(), second.to_owned()))
}

/// The pairs of commune `commune` decided not to be the same household.
pub async fn apart(storage: &dyn Storage, commune: &str) -> Result<Apart, StorageError> {
    Ok(storage
        .list_not_duplicates(commune)
        .await?
        .into_iter()
        .collect())
}

/// Households flagged as possible duplicates, each with the others of its group, among
/// `households` given as (document, hamlet, address), grouped by hamlet and [`address_key`],
/// and among `members` given as (document, hamlet, full name, birth year), grouped by hamlet,
/// folded name and year; a pair in `apart` is never flagged. Members of documents not among
/// `households` are ignored.
pub fn flagged<'a>(
    households: impl IntoIterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)>,
    members: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str, i64)>,
    apart: &Apart,
) -> HashMap<String, Vec<String>> {
    let households: Vec<(&'a str, Option<&'a str>, Option<&'a str>)> =
        households.into_iter().collect();
    let known: HashSet<&str> = households.iter().map(|(id, ..)| *id).collect();
    let mut groups: Vec<Vec<&'a str>> = Vec::new();
    // The same person: (hamlet, folded name, year) → documents.
    let mut people: BTreeMap<(&'a str, String, i64), Vec<&'a str>> = BTreeMap::new();
    for (id, hamlet, name, year) in members {
        let name = fold(name).split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(hamlet) = hamlet
            && known.contains(id)
            && !name.is_empty()
        {
            let ids = people.entry((hamlet, name, year)).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    groups.extend(people.into_values().filter(|ids| ids.len() > 1));
    let mut by_hamlet: BTreeMap<&'a str, Vec<(&'a str, Option<&'a str>)>> = BTreeMap::new();
    for (id, hamlet, address) in households.iter().copied() {
        if let Some(hamlet) = hamlet {
            by_hamlet.entry(hamlet).or_default().push((id, address));
        }
    }
    for (_, households) in by_hamlet {
        groups.extend(same_address(households));
    }
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for group in groups {
        for id in &group {
            for other in group.iter().filter(|o| *o != id) {
                if decided_apart(apart, id, other) {
                    continue;
                }
                let others = out.entry((*id).to_owned()).or_default();
                if !others.iter().any(|o| o == other) {
                    others.push((*other).to_owned());
                }
            }
        }
    }
    for others in out.values_mut() {
        others.sort();
    }
    out
}

/// [`flagged`] among a hamlet's (or a commune's) household summaries and the names of their
/// members, households for which `rejected` holds left out.
pub fn among_summaries(
    households: &[HouseholdSummary],
    rejected: impl Fn(&str) -> bool,
    members: &[MemberName],
    apart: &Apart,
) -> HashMap<String, Vec<String>> {
    flagged(
        households
            .iter()
            .filter(|h| !rejected(&h.document_id))
            .map(|h| {
                (
                    h.document_id.as_str(),
                    h.hamlet_id.as_deref(),
                    h.address.as_deref(),
                )
            }),
        members.iter().map(|m| {
            (
                m.document_id.as_str(),
                m.hamlet_id.as_deref(),
                m.full_name.as_str(),
                m.birth_year,
            )
        }),
        apart,
    )
}

/// [`flagged`] among stored projections (their addresses and members), those for which
/// `rejected` holds left out.
pub fn among_projections(
    rows: &[StoredProjection],
    rejected: impl Fn(&str) -> bool,
    apart: &Apart,
) -> HashMap<String, Vec<String>> {
    flagged(
        rows.iter().filter(|r| !rejected(&r.document_id)).map(|r| {
            (
                r.document_id.as_str(),
                r.hamlet_id.as_deref(),
                r.projection.household.address.as_deref(),
            )
        }),
        rows.iter().flat_map(|r| {
            r.projection.household.members.values().filter_map(|m| {
                Some((
                    r.document_id.as_str(),
                    r.hamlet_id.as_deref(),
                    m.full_name.as_deref()?,
                    m.birth_year?,
                ))
            })
        }),
        apart,
    )
}

/// The possible duplicates of the commune's households (of one hamlet with `hamlet`): rejected
/// households (a hamlet head's way to retire a second survey) and quarantined ones take no part.
pub async fn in_commune(
    storage: &dyn Storage,
    commune: &str,
    hamlet: Option<&str>,
) -> Result<HashMap<String, Vec<String>>, StorageError> {
    let households = storage.list_households(commune, hamlet).await?;
    let rejected: HashSet<String> = storage
        .reviewed_households(commune, hamlet)
        .await?
        .into_iter()
        .filter(|r| r.review.decision == Decision::Rejected)
        .map(|r| r.review.document_id)
        .collect();
    let apart = apart(storage, commune).await?;
    let members = storage.member_names(commune, hamlet).await?;
    Ok(among_summaries(
        &households,
        |id| rejected.contains(id),
        &members,
        &apart,
    ))
}

/// The households that household `id`, stored with `scope`, may be the same as: others of its
/// hamlet (which a reader may read whole or not at all); none for a quarantined household.
pub async fn of_household(
    storage: &dyn Storage,
    id: &str,
    scope: &DocumentScope,
) -> Result<Vec<String>, StorageError> {
    match (&scope.commune_code, &scope.hamlet_id) {
        (Some(commune), Some(hamlet)) if !scope.quarantined => {
            Ok(in_commune(storage, commune, Some(hamlet))
                .await?
                .remove(id)
                .unwrap_or_default())
        }
        _ => Ok(Vec::new()),
    }
}

/// The findings that say household `id` may be the same as each of `others`.
pub fn findings(others: &[String]) -> Vec<Finding> {
    others
        .iter()
        .map(|other| {
            Finding::warning(
                "/address",
                "possible-duplicate",
                format!(
                    "Có thể trùng với hộ {other} (cùng địa chỉ, hoặc cùng một người: họ tên và \
                     năm sinh): có thể một hộ đã được khảo sát hai lần"
                ),
                format!(
                    "possibly the same household as {other} (the same address, or a member with \
                     the same name and birth year): one house may have been surveyed twice"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_typed_differently_share_a_key() {
        let key = |a: &str| address_key(a).unwrap();
        assert_eq!(key("Số 4 xóm Tây"), key("so 4, xom tay"));
        assert_eq!(key("Số 4 xóm Tây"), "4 xom tay");
        assert_eq!(key("SN 04, X. Tây"), "4 xom tay");
        assert_eq!(key("số nhà 4 - xóm  Tây"), "4 xom tay");
        assert_eq!(key("so4 xom Tay"), "4 xom tay");
        assert_eq!(key("Ng. 12 Tổ dân phố 3"), "ngo 12 to 3");
        assert_eq!(key("ngõ 12, TDP 3"), "ngo 12 to 3");
        // Another house is another key.
        assert_ne!(key("Số 4 xóm Tây"), key("Số 14 xóm Tây"));
        assert_ne!(key("Số 4 xóm Tây"), key("Số 4A xóm Tây"));
        assert_ne!(key("Số 4 xóm Tây"), key("Số 4 xóm Đông"));
        assert_eq!(address_key(" , - "), None);
    }

    #[test]
    fn groups_of_two_or_more() {
        let groups = same_address([
            ("b", Some("Số 4 xóm Tây")),
            ("a", Some("so 4, xom tay")),
            ("c", Some("Số 5 xóm Tây")),
            ("d", None),
            ("e", Some("")),
            ("f", Some("")),
        ]);
        assert_eq!(groups, vec![vec!["a", "b"]]);
    }

    #[test]
    fn flagged_within_a_hamlet_only() {
        let households = [
            ("a", Some("T01"), Some("Số 4 xóm Tây")),
            ("b", Some("T01"), Some("so 4, xom tay")),
            ("c", Some("T02"), Some("Số 4 xóm Tây")),
            ("d", None, Some("Số 4 xóm Tây")),
            ("e", Some("T01"), Some("SN 4 x. Tây")),
        ];
        let all = flagged(households, [], &Apart::new());
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all["a"], ["b", "e"]);
        assert_eq!(all["b"], ["a", "e"]);
        // a and e are decided apart; b still looks like both.
        let apart: Apart = [("a".to_owned(), "e".to_owned())].into_iter().collect();
        let some = flagged(households, [], &apart);
        assert_eq!(some["a"], ["b"]);
        assert_eq!(some["e"], ["b"]);
        assert_eq!(some["b"], ["a", "e"]);
        let apart: Apart = [("a", "b"), ("a", "e"), ("b", "e")]
            .into_iter()
            .map(|(x, y)| (x.to_owned(), y.to_owned()))
            .collect();
        assert!(flagged(households, [], &apart).is_empty());
    }

    #[test]
    fn the_same_person_in_two_households() {
        let households = [
            ("a", Some("T01"), Some("Số 1 xóm Tây")),
            ("b", Some("T01"), Some("Số 2 xóm Đông")),
            ("c", Some("T01"), Some("Số 3 xóm Bắc")),
            ("d", Some("T02"), Some("Số 4 xóm Nam")),
        ];
        let members = [
            ("a", Some("T01"), "Nguyễn Văn Ánh", 1970),
            ("a", Some("T01"), "Nguyễn Thị Bình", 1972),
            ("b", Some("T01"), "nguyen  van anh", 1970),
            ("c", Some("T01"), "Nguyễn Văn Ánh", 1971),
            ("d", Some("T02"), "Nguyễn Văn Ánh", 1970),
            ("z", Some("T01"), "Nguyễn Văn Ánh", 1970),
        ];
        let found = flagged(households, members, &Apart::new());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found["a"], ["b"]);
        assert_eq!(found["b"], ["a"]);
    }
}
