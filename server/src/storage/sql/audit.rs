//! The append-only audit log: who read or changed what, and when. There is deliberately no
//! statement here that updates or deletes an entry.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{SqlStorage, actor_columns, actor_from_columns, col, query_err};
use crate::storage::{AuditEntry, AuditFilter, Result};

/// Entries returned when the filter asks for none or a negative number.
const DEFAULT_LIMIT: i64 = 100;

#[tracing::instrument(skip_all, fields(action = %entry.action))]
pub(super) async fn append_audit(db: &SqlStorage, entry: &AuditEntry) -> Result<i64> {
    let context = "appending to the audit log";
    let mut w = db.begin_write(context).await?;
    let id = insert_audit(&mut w.tx, entry).await?;
    w.commit(context).await?;
    Ok(id)
}

/// Appends `entry` inside the caller's transaction; returns its id.
pub(super) async fn insert_audit(tx: &mut AnyConnection, entry: &AuditEntry) -> Result<i64> {
    let context = "appending to the audit log";
    let (kind, id) = actor_columns(&entry.actor);
    let row = sqlx::query(
        "insert into audit_log (at, actor_kind, actor_id, action, document_id, address, detail,
             commune_code)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         returning id",
    )
    .bind(entry.at)
    .bind(kind)
    .bind(id)
    .bind(&entry.action)
    .bind(&entry.document_id)
    .bind(&entry.address)
    .bind(&entry.detail)
    .bind(&entry.commune_code)
    .fetch_one(&mut *tx)
    .await
    .map_err(query_err(context))?;
    col(&row, "audit_log", "id")
}

/// Newest first; `since` and `until` are both inclusive.
#[tracing::instrument(skip_all)]
pub(super) async fn list_audit(db: &SqlStorage, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    enum Param<'a> {
        Text(&'a str),
        Int(i64),
    }
    // The SQL is assembled from the fixed fragments below only; every value is bound. Only the
    // conditions asked for are in the query, so each can use its index.
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Param<'_>> = Vec::new();
    if let Some(commune) = &filter.commune_code {
        params.push(Param::Text(commune));
        conditions.push(format!("commune_code = ${}", params.len()));
    }
    if let Some(actor) = &filter.actor {
        let (kind, id) = actor_columns(actor);
        params.push(Param::Text(kind));
        conditions.push(format!("actor_kind = ${}", params.len()));
        if let Some(id) = id {
            params.push(Param::Text(id));
            conditions.push(format!("actor_id = ${}", params.len()));
        }
    }
    if let Some(document_id) = &filter.document_id {
        params.push(Param::Text(document_id));
        conditions.push(format!("document_id = ${}", params.len()));
    }
    if let Some(since) = filter.since {
        params.push(Param::Int(since));
        conditions.push(format!("at >= ${}", params.len()));
    }
    if let Some(until) = filter.until {
        params.push(Param::Int(until));
        conditions.push(format!("at <= ${}", params.len()));
    }
    let limit = if filter.limit <= 0 {
        DEFAULT_LIMIT
    } else {
        filter.limit
    };
    params.push(Param::Int(limit));

    let mut sql = String::from(
        "select id, at, actor_kind, actor_id, action, document_id, address, detail, commune_code
         from audit_log",
    );
    if !conditions.is_empty() {
        sql.push_str(" where ");
        sql.push_str(&conditions.join(" and "));
    }
    sql.push_str(&format!(
        " order by at desc, id desc limit ${}",
        params.len()
    ));

    let mut query = sqlx::query(AssertSqlSafe(sql));
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
        };
    }
    let rows = query
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("reading the audit log"))?;
    let t = "audit_log";
    rows.iter()
        .map(|row| {
            let kind: String = col(row, t, "actor_kind")?;
            let actor_id: Option<String> = col(row, t, "actor_id")?;
            Ok(AuditEntry {
                id: col(row, t, "id")?,
                at: col(row, t, "at")?,
                actor: actor_from_columns("audit_log", &kind, actor_id)?,
                action: col(row, t, "action")?,
                document_id: col(row, t, "document_id")?,
                address: col(row, t, "address")?,
                detail: col(row, t, "detail")?,
                commune_code: col(row, t, "commune_code")?,
            })
        })
        .collect()
}
