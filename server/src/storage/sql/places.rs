//! Communes and their hamlets.

use sqlx::any::AnyRow;

use super::{SqlStorage, col, query_err, write_err};
use crate::storage::{Commune, Hamlet, Result};

#[tracing::instrument(skip_all, fields(code = %commune.code))]
pub(super) async fn upsert_commune(db: &SqlStorage, commune: &Commune) -> Result<()> {
    let context = "saving a commune";
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into communes (code, name, province) values ($1, $2, $3)
         on conflict (code) do update set name = excluded.name, province = excluded.province",
    )
    .bind(&commune.code)
    .bind(&commune.name)
    .bind(&commune.province)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await
}

#[tracing::instrument(skip_all, fields(code = %code))]
pub(super) async fn get_commune(db: &SqlStorage, code: &str) -> Result<Option<Commune>> {
    sqlx::query("select code, name, province from communes where code = $1")
        .bind(code)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err("reading a commune"))?
        .map(|row| commune_from_row(&row))
        .transpose()
}

#[tracing::instrument(skip_all)]
pub(super) async fn list_communes(db: &SqlStorage) -> Result<Vec<Commune>> {
    let rows = sqlx::query("select code, name, province from communes")
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing communes"))?;
    let mut communes = rows
        .iter()
        .map(commune_from_row)
        .collect::<Result<Vec<_>>>()?;
    // Sorted here rather than in SQL: PostgreSQL's collation need not be bytewise like SQLite's,
    // and both backends must answer alike.
    communes.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(communes)
}

#[tracing::instrument(skip_all, fields(commune = %hamlet.commune_code, hamlet = %hamlet.id))]
pub(super) async fn upsert_hamlet(db: &SqlStorage, hamlet: &Hamlet) -> Result<()> {
    let context = "saving a hamlet";
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into hamlets (commune_code, id, name, expected_households)
         values ($1, $2, $3, $4)
         on conflict (commune_code, id) do update
         set name = excluded.name, expected_households = excluded.expected_households",
    )
    .bind(&hamlet.commune_code)
    .bind(&hamlet.id)
    .bind(&hamlet.name)
    .bind(hamlet.expected_households)
    .execute(&mut *w.tx)
    .await
    .map_err(write_err(context, || format!("hamlet {}", hamlet.id)))?;
    w.commit(context).await
}

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_hamlets(db: &SqlStorage, commune_code: &str) -> Result<Vec<Hamlet>> {
    let rows = sqlx::query(
        "select commune_code, id, name, expected_households from hamlets where commune_code = $1",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing hamlets"))?;
    let mut hamlets = rows
        .iter()
        .map(|row| {
            Ok(Hamlet {
                commune_code: col(row, "hamlets", "commune_code")?,
                id: col(row, "hamlets", "id")?,
                name: col(row, "hamlets", "name")?,
                expected_households: col(row, "hamlets", "expected_households")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    hamlets.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(hamlets)
}

fn commune_from_row(row: &AnyRow) -> Result<Commune> {
    Ok(Commune {
        code: col(row, "communes", "code")?,
        name: col(row, "communes", "name")?,
        province: col(row, "communes", "province")?,
    })
}
