//! The commune's roster: its household list, each listed household with the document made for
//! it; and the pairs of households decided not to be the same one.

use super::audit::insert_audit;
use super::{SqlStorage, col, query_err, write_err};
use crate::storage::{AuditEntry, Result, RosterEntry};

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_roster(db: &SqlStorage, commune_code: &str) -> Result<Vec<RosterEntry>> {
    let t = "roster";
    let rows = sqlx::query(
        "select commune_code, code, hamlet_id, address, head_name, members, document_id,
                imported_at, updated_at
         from roster where commune_code = $1",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("reading the roster"))?;
    let mut entries = rows
        .iter()
        .map(|row| {
            Ok(RosterEntry {
                commune_code: col(row, t, "commune_code")?,
                code: col(row, t, "code")?,
                hamlet_id: col(row, t, "hamlet_id")?,
                address: col(row, t, "address")?,
                head_name: col(row, t, "head_name")?,
                members: col(row, t, "members")?,
                document_id: col(row, t, "document_id")?,
                imported_at: col(row, t, "imported_at")?,
                updated_at: col(row, t, "updated_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Sorted here: PostgreSQL's collation need not be bytewise like SQLite's.
    entries.sort_by(|a, b| (&a.hamlet_id, &a.code).cmp(&(&b.hamlet_id, &b.code)));
    Ok(entries)
}

#[tracing::instrument(skip_all, fields(entries = entries.len()))]
pub(super) async fn save_roster(
    db: &SqlStorage,
    entries: &[RosterEntry],
    audit: &AuditEntry,
) -> Result<()> {
    let context = "saving the roster";
    let mut w = db.begin_write(context).await?;
    for entry in entries {
        sqlx::query(
            "insert into roster (commune_code, code, hamlet_id, address, head_name, members,
                 document_id, imported_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (commune_code, code) do update
             set hamlet_id = excluded.hamlet_id, address = excluded.address,
                 head_name = excluded.head_name, members = excluded.members,
                 updated_at = excluded.updated_at",
        )
        .bind(&entry.commune_code)
        .bind(&entry.code)
        .bind(&entry.hamlet_id)
        .bind(&entry.address)
        .bind(&entry.head_name)
        .bind(entry.members)
        .bind(&entry.document_id)
        .bind(entry.imported_at)
        .bind(entry.updated_at)
        .execute(&mut *w.tx)
        .await
        .map_err(write_err(context, || {
            format!("roster household {}", entry.code)
        }))?;
    }
    insert_audit(&mut w.tx, audit).await?;
    w.commit(context).await
}

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_not_duplicates(
    db: &SqlStorage,
    commune_code: &str,
) -> Result<Vec<(String, String)>> {
    let t = "not_duplicates";
    let rows =
        sqlx::query("select first_id, second_id from not_duplicates where commune_code = $1")
            .bind(commune_code)
            .fetch_all(&db.pool)
            .await
            .map_err(query_err("reading households decided apart"))?;
    rows.iter()
        .map(|row| Ok((col(row, t, "first_id")?, col(row, t, "second_id")?)))
        .collect()
}

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn mark_not_duplicates(
    db: &SqlStorage,
    commune_code: &str,
    a: &str,
    b: &str,
    decided_by: &str,
    audit: &AuditEntry,
) -> Result<()> {
    let context = "recording households decided apart";
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into not_duplicates (commune_code, first_id, second_id, decided_by, decided_at)
         values ($1, $2, $3, $4, $5)
         on conflict (first_id, second_id) do nothing",
    )
    .bind(commune_code)
    .bind(first)
    .bind(second)
    .bind(decided_by)
    .bind(crate::now_millis())
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    insert_audit(&mut w.tx, audit).await?;
    w.commit(context).await
}
