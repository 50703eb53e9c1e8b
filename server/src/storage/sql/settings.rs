//! Settings of the installation: one text value per key.

use super::{SqlStorage, col, query_err};
use crate::storage::{Millis, Result};

/// The value under `key`, inserting `value` first when there is none. Insert and read share one
/// write transaction, so two callers racing both get the value of whichever inserted first.
#[tracing::instrument(skip_all, fields(key = %key))]
pub(super) async fn setting_or_insert(db: &SqlStorage, key: &str, value: &str) -> Result<String> {
    let context = "reading or storing a setting";
    let mut w = db.begin_write(context).await?;
    sqlx::query("insert into settings (key, value) values ($1, $2) on conflict (key) do nothing")
        .bind(key)
        .bind(value)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    let row = sqlx::query("select value from settings where key = $1")
        .bind(key)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    let stored: String = col(&row, "settings", "value")?;
    w.commit(context).await?;
    Ok(stored)
}

#[tracing::instrument(skip_all, fields(key = %key))]
pub(super) async fn get_setting(db: &SqlStorage, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("select value from settings where key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err("reading a setting"))?;
    row.map(|r| col(&r, "settings", "value")).transpose()
}

#[tracing::instrument(skip_all, fields(key = %key))]
pub(super) async fn put_setting(db: &SqlStorage, key: &str, value: &str) -> Result<()> {
    let context = "storing a setting";
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into settings (key, value) values ($1, $2)
         on conflict (key) do update set value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await
}

const VIETNAM_OFFSET_MS: Millis = 7 * 3600 * 1000;
const DAY_MS: Millis = 24 * 3600 * 1000;

#[tracing::instrument(skip_all)]
pub(super) async fn add_index_snapshot(
    db: &SqlStorage,
    commune_code: &str,
    view: &str,
    taken_at: Millis,
    report: &str,
) -> Result<()> {
    let context = "storing an index snapshot";
    let mut w = db.begin_write(context).await?;
    // One a day (in Vietnam): the second server to draw the dashboard that day adds nothing.
    sqlx::query(
        "insert into index_snapshots (commune_code, view, taken_at, report, day)
         values ($1, $2, $3, $4, $5)
         on conflict do nothing",
    )
    .bind(commune_code)
    .bind(view)
    .bind(taken_at)
    .bind(report)
    .bind((taken_at + VIETNAM_OFFSET_MS).div_euclid(DAY_MS))
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn index_snapshots(
    db: &SqlStorage,
    commune_code: &str,
    view: &str,
) -> Result<Vec<(Millis, String)>> {
    let rows = sqlx::query(
        "select taken_at, report from index_snapshots
         where commune_code = $1 and view = $2 order by taken_at",
    )
    .bind(commune_code)
    .bind(view)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("reading index snapshots"))?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "index_snapshots", "taken_at")?,
                col(r, "index_snapshots", "report")?,
            ))
        })
        .collect()
}
