//! Settings of the installation: one text value per key.

use super::{SqlStorage, col, query_err};
use crate::storage::Result;

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
