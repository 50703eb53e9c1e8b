//! Projections: the flat rows of a household (summary, members, findings, conflicts) kept beside
//! its document, and the full projection as JSON for reading it back exactly.

use sansang_shared::model::is_sha256_hex;
use sansang_shared::{Member, Projection, Severity};
use sqlx::AnyConnection;

use super::{SqlStorage, col, from_flag, query_err, to_flag};
use crate::storage::{
    DocumentScope, HouseholdSummary, Millis, Result, StorageError, StoredProjection,
};

/// Writes the projection rows of a document, inside the caller's transaction: every row when
/// `stored` (the projection the rows hold now) is `None`, else only what differs from it — the
/// summary row, then the members that changed and each other table only when its rows differ.
/// An edit of one member's field so costs three statements, not a dozen.
///
/// The summary row takes its commune and hamlet from the document's stored scope (what access
/// checks use), falling back to the household's own fields.
pub(super) async fn replace_projection(
    tx: &mut AnyConnection,
    document_id: &str,
    scope: &DocumentScope,
    projection: &Projection,
    stored: Option<&Projection>,
    now: Millis,
) -> Result<()> {
    let household = &projection.household;
    let json = |what: &str, e: serde_json::Error| StorageError::Corrupt {
        table: "households",
        detail: format!("{what} of {document_id} does not serialise: {e}"),
    };
    let errors = projection
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let heads = serde_json::to_string(&projection.heads).map_err(|e| json("heads", e))?;
    let full = serde_json::to_string(projection).map_err(|e| json("projection", e))?;
    let commune = scope
        .commune_code
        .as_ref()
        .or(household.commune_code.as_ref());
    let hamlet = scope.hamlet_id.as_ref().or(household.hamlet_id.as_ref());

    // The summary row ($1 to $12, the same order in both statements): updated in place when it
    // is there, else (a new document, or rows a caller did not know) everything is written
    // afresh.
    let summary = |sql: &'static str| {
        sqlx::query(sql)
            .bind(document_id)
            .bind(commune)
            .bind(hamlet)
            .bind(&household.address)
            .bind(to_flag(household.consent_given()))
            .bind(count(household.members.len()))
            .bind(count(projection.findings.len()))
            .bind(count(errors))
            .bind(count(projection.conflicts.len()))
            .bind(&heads)
            .bind(&full)
            .bind(now)
    };
    let updated = match stored {
        None => false,
        Some(_) => {
            summary(
                "update households set commune_code = $2, hamlet_id = $3, address = $4,
                     consent_given = $5, member_count = $6, finding_count = $7,
                     error_count = $8, conflict_count = $9, heads = $10, projection = $11,
                     updated_at = $12
                 where document_id = $1",
            )
            .execute(&mut *tx)
            .await
            .map_err(query_err("updating a household"))?
            .rows_affected()
                == 1
        }
    };
    let stored = if updated { stored } else { None };
    if stored.is_none() {
        // The other tables are cleared below, each as its rows differ (always, here).
        clear(
            tx,
            "delete from members where document_id = $1",
            document_id,
        )
        .await?;
        clear(
            tx,
            "delete from households where document_id = $1",
            document_id,
        )
        .await?;
        summary(
            "insert into households (document_id, commune_code, hamlet_id, address, consent_given,
                 member_count, finding_count, error_count, conflict_count, heads, projection,
                 updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .execute(&mut *tx)
        .await
        .map_err(query_err("inserting a household"))?;
    }

    let before = stored.map(|p| &p.household.members);
    for (member_id, member) in &household.members {
        match before.and_then(|m| m.get(member_id)) {
            Some(old) if old == member => continue,
            Some(_) => delete_member(tx, document_id, member_id).await?,
            None => {}
        }
        insert_member(tx, document_id, member_id, member).await?;
    }
    for member_id in before
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|id| !household.members.contains_key(*id))
    {
        delete_member(tx, document_id, member_id).await?;
    }

    if stored.is_none_or(|p| p.findings != projection.findings) {
        clear(
            tx,
            "delete from findings where document_id = $1",
            document_id,
        )
        .await?;
        for (ordinal, finding) in projection.findings.iter().enumerate() {
            sqlx::query(
                "insert into findings
                 (document_id, ordinal, path, code, severity, message_vi, message_en)
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(document_id)
            .bind(count(ordinal))
            .bind(&finding.path)
            .bind(&finding.code)
            .bind(match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            })
            .bind(&finding.message_vi)
            .bind(&finding.message_en)
            .execute(&mut *tx)
            .await
            .map_err(query_err("inserting a finding"))?;
        }
    }

    // Held-back photos are referenced too: stored, not shown, and not swept as orphans.
    let photos = |p: &Projection| -> Vec<String> {
        let mut keys: Vec<String> = p
            .household
            .photos
            .keys()
            .chain(p.held_back_photos.iter())
            .filter(|k| is_sha256_hex(k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let new_photos = photos(projection);
    if stored.map(photos).as_ref() != Some(&new_photos) {
        clear(
            tx,
            "delete from photo_refs where document_id = $1",
            document_id,
        )
        .await?;
        for sha256 in &new_photos {
            sqlx::query("insert into photo_refs (document_id, sha256) values ($1, $2)")
                .bind(document_id)
                .bind(sha256)
                .execute(&mut *tx)
                .await
                .map_err(query_err("inserting a photo reference"))?;
        }
    }

    if stored.is_none_or(|p| p.conflicts != projection.conflicts) {
        clear(
            tx,
            "delete from conflicts where document_id = $1",
            document_id,
        )
        .await?;
        for (ordinal, conflict) in projection.conflicts.iter().enumerate() {
            sqlx::query(
                "insert into conflicts (document_id, ordinal, path, values_json)
                 values ($1, $2, $3, $4)",
            )
            .bind(document_id)
            .bind(count(ordinal))
            .bind(&conflict.path)
            .bind(serde_json::to_string(&conflict.values).map_err(|e| json("conflict", e))?)
            .execute(&mut *tx)
            .await
            .map_err(query_err("inserting a conflict"))?;
        }
    }
    Ok(())
}

async fn clear(tx: &mut AnyConnection, sql: &'static str, document_id: &str) -> Result<()> {
    sqlx::query(sql)
        .bind(document_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err("replacing a projection"))?;
    Ok(())
}

async fn delete_member(tx: &mut AnyConnection, document_id: &str, member_id: &str) -> Result<()> {
    sqlx::query("delete from members where document_id = $1 and member_id = $2")
        .bind(document_id)
        .bind(member_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err("replacing a member"))?;
    Ok(())
}

async fn insert_member(
    tx: &mut AnyConnection,
    document_id: &str,
    member_id: &str,
    m: &Member,
) -> Result<()> {
    let skills = m.skills.clone().unwrap_or_default();
    let flag = |b: Option<bool>| b.map(to_flag);
    sqlx::query(
        "insert into members (document_id, member_id, full_name, birth_year, sex, relation,
             smartphone, vneid, payment_account, payment_on_phone, skill_public_services,
             skill_online_shopping, skill_online_payment, skill_safety, skill_other_platform,
             vneid_course_confirmed, wants_to_learn, mentor_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(document_id)
    .bind(member_id)
    .bind(&m.full_name)
    .bind(m.birth_year)
    .bind(m.sex.map(|v| v.as_str()))
    .bind(m.relation.map(|v| v.as_str()))
    .bind(m.smartphone.map(|v| v.as_str()))
    .bind(m.vneid.map(|v| v.as_str()))
    .bind(m.payment_account.map(|v| v.as_str()))
    .bind(flag(m.payment_on_phone))
    .bind(flag(skills.public_services))
    .bind(flag(skills.online_shopping))
    .bind(flag(skills.online_payment))
    .bind(flag(skills.safety))
    .bind(flag(skills.other_platform))
    .bind(flag(m.vneid_course_confirmed))
    .bind(flag(m.wants_to_learn))
    .bind(&m.mentor_id)
    .execute(&mut *tx)
    .await
    .map_err(query_err("inserting a member"))?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(document = %document_id))]
pub(super) async fn get_projection(
    db: &SqlStorage,
    document_id: &str,
) -> Result<Option<Projection>> {
    let Some(row) = sqlx::query("select projection from households where document_id = $1")
        .bind(document_id)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err("reading a projection"))?
    else {
        return Ok(None);
    };
    let json: String = col(&row, "households", "projection")?;
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| StorageError::Corrupt {
            table: "households",
            detail: format!("projection of {document_id}: {e}"),
        })
}

/// The summaries of one commune or hamlet, leaving out quarantined documents.
#[tracing::instrument(skip_all, fields(commune = %commune_code, hamlet = ?hamlet_id))]
pub(super) async fn member_names(
    db: &SqlStorage,
    commune_code: &str,
    hamlet_id: Option<&str>,
) -> Result<Vec<crate::storage::MemberName>> {
    macro_rules! select_members {
        ($filter:literal) => {
            concat!(
                "select m.document_id, h.hamlet_id, m.full_name, m.birth_year
                 from members m join households h on h.document_id = m.document_id
                 where m.full_name is not null and m.birth_year is not null
                   and not exists (
                     select 1 from documents d where d.id = h.document_id and d.quarantined <> 0
                   ) and ",
                $filter
            )
        };
    }
    let query = match hamlet_id {
        Some(hamlet) => sqlx::query(select_members!("h.commune_code = $1 and h.hamlet_id = $2"))
            .bind(commune_code)
            .bind(hamlet),
        None => sqlx::query(select_members!("h.commune_code = $1")).bind(commune_code),
    };
    let rows = query
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing members' names"))?;
    let t = "members";
    rows.iter()
        .map(|row| {
            Ok(crate::storage::MemberName {
                document_id: col(row, t, "document_id")?,
                hamlet_id: col(row, t, "hamlet_id")?,
                full_name: col(row, t, "full_name")?,
                birth_year: col(row, t, "birth_year")?,
            })
        })
        .collect()
}

pub(super) async fn list_households(
    db: &SqlStorage,
    commune_code: &str,
    hamlet_id: Option<&str>,
) -> Result<Vec<HouseholdSummary>> {
    macro_rules! select_households {
        ($filter:literal) => {
            concat!(
                "select document_id, commune_code, hamlet_id, address, consent_given,
                     member_count, finding_count, error_count, conflict_count, updated_at
                 from households h
                 where not exists (
                     select 1 from documents d where d.id = h.document_id and d.quarantined <> 0
                 ) and ",
                $filter
            )
        };
    }
    let query = match hamlet_id {
        Some(hamlet) => sqlx::query(select_households!("commune_code = $1 and hamlet_id = $2"))
            .bind(commune_code)
            .bind(hamlet),
        None => sqlx::query(select_households!("commune_code = $1")).bind(commune_code),
    };
    let rows = query
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing households"))?;
    let t = "households";
    let mut households = rows
        .iter()
        .map(|row| {
            Ok(HouseholdSummary {
                document_id: col(row, t, "document_id")?,
                commune_code: col(row, t, "commune_code")?,
                hamlet_id: col(row, t, "hamlet_id")?,
                address: col(row, t, "address")?,
                consent_given: from_flag(col(row, t, "consent_given")?),
                member_count: col(row, t, "member_count")?,
                finding_count: col(row, t, "finding_count")?,
                error_count: col(row, t, "error_count")?,
                conflict_count: col(row, t, "conflict_count")?,
                updated_at: col(row, t, "updated_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Bytewise order on both backends (see places::list_communes).
    households.sort_by(|a, b| {
        (&a.hamlet_id, &a.address, &a.document_id).cmp(&(&b.hamlet_id, &b.address, &b.document_id))
    });
    Ok(households)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[tracing::instrument(skip_all)]
pub(super) async fn commune_projections(
    db: &SqlStorage,
    commune_code: &str,
) -> Result<Vec<StoredProjection>> {
    let rows = sqlx::query(
        "select h.document_id, h.hamlet_id, h.updated_at, h.projection
         from households h join documents d on d.id = h.document_id
         where h.commune_code = $1 and d.quarantined = 0
         order by h.document_id",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("reading a commune's households"))?;
    let t = "households";
    rows.iter()
        .map(|row| {
            let id: String = col(row, t, "document_id")?;
            let text: String = col(row, t, "projection")?;
            let projection = serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
                table: t,
                detail: format!("projection of {id}: {e}"),
            })?;
            Ok(StoredProjection {
                hamlet_id: col(row, t, "hamlet_id")?,
                updated_at: col(row, t, "updated_at")?,
                document_id: id,
                projection,
            })
        })
        .collect()
}
