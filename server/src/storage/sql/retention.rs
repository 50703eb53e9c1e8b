//! Retention: photos due for removal after approval, stale quarantined documents, and what the
//! database holds.

use sqlx::Row;

use super::{SqlStorage, col, query_err};
use crate::storage::{Holdings, Millis, Result};

pub(super) async fn retirable_photos(
    db: &SqlStorage,
    approved_before: Millis,
) -> Result<Vec<String>> {
    // Every household that references the photo is approved, unchanged since the decision
    // (same heads), and was approved long enough ago; one that is not keeps the photo.
    let rows = sqlx::query(
        "select distinct r.sha256 as sha256 from photo_refs r
         where not exists (select 1 from retired_photos t where t.sha256 = r.sha256)
           and exists (select 1 from photos p where p.sha256 = r.sha256)
           and not exists (
               select 1 from photo_refs r2
               left join reviews v on v.document_id = r2.document_id
               left join households h on h.document_id = r2.document_id
               where r2.sha256 = r.sha256
                 and (v.document_id is null or v.decision <> 'approved' or v.decided_at > $1
                      or h.document_id is null or h.heads <> v.heads))",
    )
    .bind(approved_before)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing photos due for removal"))?;
    let mut shas = rows
        .iter()
        .map(|row| col(row, "photo_refs", "sha256"))
        .collect::<Result<Vec<String>>>()?;
    shas.sort();
    Ok(shas)
}

pub(super) async fn retire_photo(db: &SqlStorage, sha256: &str, at: Millis) -> Result<bool> {
    let context = "retiring a photo";
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query(
        "insert into retired_photos (sha256, retired_at) values ($1, $2)
         on conflict (sha256) do nothing",
    )
    .bind(sha256)
    .bind(at)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn photo_retired(db: &SqlStorage, sha256: &str) -> Result<Option<Millis>> {
    let row = sqlx::query("select retired_at from retired_photos where sha256 = $1")
        .bind(sha256)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err("reading retired photos"))?;
    row.map(|r| col(&r, "retired_photos", "retired_at"))
        .transpose()
}

pub(super) async fn stale_quarantined(
    db: &SqlStorage,
    updated_before: Millis,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "select id from documents where quarantined = 1 and updated_at <= $1 order by id",
    )
    .bind(updated_before)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing quarantined documents"))?;
    rows.iter().map(|row| col(row, "documents", "id")).collect()
}

pub(super) async fn holdings(db: &SqlStorage) -> Result<Holdings> {
    let row = sqlx::query(
        "select
           (select count(*) from households) as households,
           (select count(*) from reviews where decision = 'approved') as approved,
           (select count(*) from photos) as photos,
           (select count(*) from retired_photos) as retired,
           (select count(*) from documents where quarantined = 1) as quarantined,
           (select min(updated_at) from documents where quarantined = 1) as oldest_quarantined,
           (select count(*) from audit_log) as audit_entries,
           (select min(at) from audit_log) as oldest_audit,
           (select count(*) from tombstones) as tombstones",
    )
    .fetch_one(&db.pool)
    .await
    .map_err(query_err("counting what is held"))?;
    let n = |name: &str| -> Result<i64> { col(&row, "holdings", name) };
    let t = |name: &str| -> Result<Option<Millis>> {
        row.try_get::<Option<i64>, _>(name)
            .map_err(query_err("reading what is held"))
    };
    Ok(Holdings {
        households: n("households")?,
        approved_households: n("approved")?,
        photos: n("photos")?,
        retired_photos: n("retired")?,
        quarantined: n("quarantined")?,
        oldest_quarantined: t("oldest_quarantined")?,
        audit_entries: n("audit_entries")?,
        oldest_audit: t("oldest_audit")?,
        tombstones: n("tombstones")?,
    })
}
