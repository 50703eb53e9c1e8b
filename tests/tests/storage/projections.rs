//! Projections: stored with the changes, read back equal, flattened into queryable rows, listed
//! per hamlet with their counts.

use sansang_server::storage::{HouseholdSummary, Storage};
use sansang_shared::Member;
use sansang_tests::db::TestDb;
use sqlx::Row;

use crate::fixtures::{
    COMMUNE, OTHER_COMMUNE, all_changes, edit, projection, scope, sorted_heads, survey_doc, update,
};

const DOC: &str = "4c9XbGy5e1q8WfQ2nT7kRz3sVhLp";
const HEAD_MEMBER: &str = "6f1c2a44-0b8e-4d7e-9a51-2b8d0f3c9e10";
const CHILD_MEMBER: &str = "a3d9e0b2-7c41-4f55-8e0a-5d2c1b7f4a88";

pub async fn projection_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    assert_eq!(storage.get_projection(DOC).await.expect("get"), None);

    let mut doc = survey_doc("Số 7, xóm Đình", 2);
    let heads = sorted_heads(&mut doc);
    let p = projection("01", "Số 7, xóm Đình", heads);
    storage
        .apply_document_update(&update(
            DOC,
            scope(Some(COMMUNE), Some("01")),
            all_changes(&mut doc),
            Some(p.clone()),
        ))
        .await
        .expect("apply");
    assert_eq!(
        storage.get_projection(DOC).await.expect("get"),
        Some(p.clone())
    );

    // The flat member rows hold each answer as a queryable column.
    let row = sqlx::query(
        "select full_name, birth_year, sex, relation, smartphone, vneid, payment_account,
             payment_on_phone, skill_public_services, skill_online_shopping, skill_safety,
             vneid_course_confirmed, wants_to_learn, mentor_id
         from members where document_id = $1 and member_id = $2",
    )
    .bind(DOC)
    .bind(HEAD_MEMBER)
    .fetch_one(storage.pool())
    .await
    .expect("member row");
    assert_eq!(row.get::<String, _>("full_name"), "Nguyễn Thị Hương");
    assert_eq!(row.get::<i64, _>("birth_year"), 1968);
    assert_eq!(row.get::<String, _>("sex"), "female");
    assert_eq!(row.get::<String, _>("relation"), "head");
    assert_eq!(row.get::<String, _>("smartphone"), "own");
    assert_eq!(row.get::<String, _>("vneid"), "level2");
    assert_eq!(row.get::<String, _>("payment_account"), "ewallet");
    assert_eq!(row.get::<i64, _>("payment_on_phone"), 1);
    assert_eq!(row.get::<i64, _>("skill_public_services"), 1);
    assert_eq!(row.get::<i64, _>("skill_online_shopping"), 0);
    assert_eq!(
        row.get::<Option<i64>, _>("skill_safety"),
        None,
        "not recorded"
    );
    assert_eq!(row.get::<i64, _>("vneid_course_confirmed"), 0);
    assert_eq!(row.get::<i64, _>("wants_to_learn"), 1);
    assert_eq!(row.get::<String, _>("mentor_id"), "dai-su-07");
    let child = sqlx::query("select sex, birth_year from members where member_id = $1")
        .bind(CHILD_MEMBER)
        .fetch_one(storage.pool())
        .await
        .expect("child row");
    assert_eq!(child.get::<Option<String>, _>("sex"), None);
    assert_eq!(child.get::<Option<i64>, _>("birth_year"), None);
    let severities: Vec<String> =
        sqlx::query("select severity from findings where document_id = $1 order by ordinal")
            .bind(DOC)
            .fetch_all(storage.pool())
            .await
            .expect("findings")
            .iter()
            .map(|r| r.get("severity"))
            .collect();
    assert_eq!(severities, vec!["error", "warning"]);

    // A new projection replaces every row: the child left, findings and conflicts are gone.
    let mut next = p.clone();
    next.household.members.remove(CHILD_MEMBER);
    next.household.members.insert(
        "0d4e3b1a-9f2c-4b8d-a7e6-1c5f0a2b3d4e".to_owned(),
        Member {
            full_name: Some("Hoàng Văn Long".to_owned()),
            ..Member::default()
        },
    );
    next.findings.clear();
    next.conflicts.clear();
    let change = edit(&mut doc, "notes", "đã sửa");
    next.heads = sorted_heads(&mut doc);
    storage
        .apply_document_update(&update(
            DOC,
            scope(None, None),
            vec![change],
            Some(next.clone()),
        ))
        .await
        .expect("apply next");
    assert_eq!(storage.get_projection(DOC).await.expect("get"), Some(next));
    let members: Vec<String> =
        sqlx::query("select member_id from members where document_id = $1 order by member_id")
            .bind(DOC)
            .fetch_all(storage.pool())
            .await
            .expect("members")
            .iter()
            .map(|r| r.get("member_id"))
            .collect();
    assert_eq!(
        members,
        vec!["0d4e3b1a-9f2c-4b8d-a7e6-1c5f0a2b3d4e", HEAD_MEMBER]
    );
    for (table, sql) in [
        (
            "findings",
            "select count(*) as n from findings where document_id = $1",
        ),
        (
            "conflicts",
            "select count(*) as n from conflicts where document_id = $1",
        ),
    ] {
        let n: i64 = sqlx::query(sql)
            .bind(DOC)
            .fetch_one(storage.pool())
            .await
            .expect("count")
            .get("n");
        assert_eq!(n, 0, "{table} replaced");
    }

    // An update without a projection (the document could not be read) keeps the last one.
    let change = edit(&mut doc, "notes", "lại sửa");
    storage
        .apply_document_update(&update(DOC, scope(None, None), vec![change], None))
        .await
        .expect("apply without projection");
    assert_eq!(
        storage
            .get_projection(DOC)
            .await
            .expect("get")
            .map(|p| p.household.members.len()),
        Some(2)
    );
    storage.close().await;
}

pub async fn households_list_filters_and_counts(db: &TestDb) {
    let storage = db.storage().await;
    // (document, commune, hamlet, address)
    let households = [
        ("d-1", COMMUNE, "02", "Số 3 đường Làng"),
        ("d-2", COMMUNE, "01", "Số 9 ngõ Chợ"),
        ("d-3", COMMUNE, "01", "Số 1 ngõ Chợ"),
        ("d-4", OTHER_COMMUNE, "01", "12 Lê Lợi"),
    ];
    for (id, commune, hamlet, address) in households {
        let mut p = projection(hamlet, address, Vec::new());
        p.household.commune_code = Some(commune.to_owned());
        if id == "d-3" {
            // No consent, one member, no findings: every count differs from the others.
            p.household.consent = None;
            p.household.members.remove(CHILD_MEMBER);
            p.findings.retain(|f| f.code != "birth-year-missing");
            p.conflicts.clear();
        }
        storage
            .apply_document_update(&update(
                id,
                scope(Some(commune), Some(hamlet)),
                Vec::new(),
                Some(p),
            ))
            .await
            .expect("apply");
    }
    // A document with no projection is not a household row.
    storage
        .apply_document_update(&update(
            "d-5",
            scope(Some(COMMUNE), Some("01")),
            Vec::new(),
            None,
        ))
        .await
        .expect("apply");

    let ids = |list: &[HouseholdSummary]| {
        list.iter()
            .map(|h| h.document_id.clone())
            .collect::<Vec<_>>()
    };
    let all = storage.list_households(COMMUNE, None).await.expect("list");
    assert_eq!(
        ids(&all),
        vec!["d-3", "d-2", "d-1"],
        "by hamlet, then address"
    );
    let hamlet1 = storage
        .list_households(COMMUNE, Some("01"))
        .await
        .expect("list");
    assert_eq!(ids(&hamlet1), vec!["d-3", "d-2"]);
    assert!(
        storage
            .list_households(COMMUNE, Some("09"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        ids(&storage
            .list_households(OTHER_COMMUNE, None)
            .await
            .expect("list")),
        vec!["d-4"]
    );

    let full = &hamlet1[1];
    assert_eq!(full.commune_code.as_deref(), Some(COMMUNE));
    assert_eq!(full.hamlet_id.as_deref(), Some("01"));
    assert_eq!(full.address.as_deref(), Some("Số 9 ngõ Chợ"));
    assert!(full.consent_given);
    assert_eq!(
        (
            full.member_count,
            full.finding_count,
            full.error_count,
            full.conflict_count
        ),
        (2, 2, 1, 1)
    );
    assert!(
        full.updated_at > 1_600_000_000_000,
        "a real time in milliseconds"
    );
    let sparse = &hamlet1[0];
    assert!(!sparse.consent_given);
    assert_eq!(
        (
            sparse.member_count,
            sparse.finding_count,
            sparse.error_count,
            sparse.conflict_count
        ),
        (1, 1, 0, 0)
    );
    storage.close().await;
}

/// Every projection row of `document_id` as text, without the document id: what a full rewrite
/// and a write by difference must agree on.
async fn projection_rows(
    storage: &sansang_server::storage::SqlStorage,
    document_id: &str,
) -> Vec<String> {
    let mut rows = Vec::new();
    for sql in [
        "select 'household|' || coalesce(commune_code, '') || '|' || coalesce(hamlet_id, '') || '|'
             || coalesce(address, '') || '|' || cast(consent_given as text) || '|'
             || cast(member_count as text) || '|' || cast(finding_count as text) || '|'
             || cast(error_count as text) || '|' || cast(conflict_count as text) || '|' || heads
             || '|' || projection as r
         from households where document_id = $1",
        "select 'member|' || member_id || '|' || coalesce(full_name, '') || '|'
             || coalesce(cast(birth_year as text), '') || '|' || coalesce(vneid, '') || '|'
             || coalesce(relation, '') || '|' || coalesce(sex, '') || '|'
             || coalesce(cast(payment_on_phone as text), '') as r
         from members where document_id = $1 order by member_id",
        "select 'finding|' || cast(ordinal as text) || '|' || path || '|' || code || '|' || severity as r
         from findings where document_id = $1 order by ordinal",
        "select 'conflict|' || cast(ordinal as text) || '|' || path || '|' || values_json as r
         from conflicts where document_id = $1 order by ordinal",
        "select 'photo|' || sha256 as r from photo_refs where document_id = $1 order by sha256",
    ] {
        for row in sqlx::query(sql)
            .bind(document_id)
            .fetch_all(storage.pool())
            .await
            .expect("projection rows")
        {
            rows.push(row.get::<String, _>("r"));
        }
    }
    rows
}

/// A write that knows the stored projection touches only the rows that differ, and leaves the
/// same rows as rewriting them all; its audit lines are in the same transaction. When the rows
/// it assumes are not there, everything is written.
pub async fn projection_written_by_difference(db: &TestDb) {
    use sansang_server::storage::{Actor, AuditEntry, AuditFilter};
    let storage = db.storage().await;
    let mut doc = survey_doc("Số 7, xóm Đình", 2);
    let heads = sorted_heads(&mut doc);
    let before = projection("01", "Số 7, xóm Đình", heads.clone());
    let mut after = before.clone();
    after.heads = vec!["ff".repeat(32)];
    after.household.notes = Some("đã sửa".into());
    let head = after
        .household
        .members
        .get_mut(HEAD_MEMBER)
        .expect("head member");
    head.vneid = Some(sansang_shared::model::Vneid::None);
    after.household.members.remove(CHILD_MEMBER);
    after.household.members.insert(
        "0d1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f5".into(),
        Member {
            full_name: Some("Lê Thị Mới".into()),
            birth_year: Some(2001),
            ..Member::default()
        },
    );
    after.findings.truncate(1);
    after.conflicts.clear();
    after
        .household
        .photos
        .insert("ab".repeat(32), Default::default());

    const DIFF: &str = "2d1kLta4hNKTseQUFNQUK6r4GfeZ";
    const FULL: &str = "3gNf6K4fkCxeUBc4DN8zBcCRjUxY";
    const STALE: &str = "kTQmz8vim1K3auKHvDDGPUcWtJq";
    for id in [DIFF, FULL] {
        storage
            .apply_document_update(&update(
                id,
                scope(Some(COMMUNE), Some("01")),
                all_changes(&mut doc.clone()),
                Some(before.clone()),
            ))
            .await
            .expect("first write");
    }
    let entry = AuditEntry {
        id: 0,
        at: 1_700_000_000_000,
        actor: Actor::Device("d-7".into()),
        action: "document.change".into(),
        document_id: Some(DIFF.into()),
        address: None,
        detail: Some("1 new changes".into()),
        commune_code: Some(COMMUNE.into()),
    };
    let mut by_difference = update(
        DIFF,
        scope(Some(COMMUNE), Some("01")),
        Vec::new(),
        Some(after.clone()),
    );
    by_difference.stored_projection = Some(before.clone());
    by_difference.audit = vec![entry.clone()];
    storage
        .apply_document_update(&by_difference)
        .await
        .expect("write by difference");
    storage
        .apply_document_update(&update(
            FULL,
            scope(Some(COMMUNE), Some("01")),
            Vec::new(),
            Some(after.clone()),
        ))
        .await
        .expect("full rewrite");
    // Rows this write believes stored but that are not there: written whole.
    let mut stale = update(
        STALE,
        scope(Some(COMMUNE), Some("01")),
        all_changes(&mut doc.clone()),
        Some(after.clone()),
    );
    stale.stored_projection = Some(before.clone());
    storage
        .apply_document_update(&stale)
        .await
        .expect("write over missing rows");

    let full = projection_rows(&storage, FULL).await;
    assert!(
        full.iter().any(|r| r.starts_with("member|0d1e2f30")),
        "{full:?}"
    );
    assert!(
        !full
            .iter()
            .any(|r| r.starts_with(&format!("member|{CHILD_MEMBER}"))),
        "{full:?}"
    );
    assert_eq!(full.iter().filter(|r| r.starts_with("finding|")).count(), 1);
    assert!(full.iter().any(|r| r.starts_with("photo|abab")));
    assert_eq!(projection_rows(&storage, DIFF).await, full);
    assert_eq!(projection_rows(&storage, STALE).await, full);
    assert_eq!(
        storage.get_projection(DIFF).await.expect("get"),
        Some(after)
    );
    let audit = storage
        .list_audit(&AuditFilter {
            document_id: Some(DIFF.into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].detail.as_deref(), Some("1 new changes"));
    assert_eq!(audit[0].actor, Actor::Device("d-7".into()));
}
