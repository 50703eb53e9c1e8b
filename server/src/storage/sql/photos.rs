//! Photos taken in, and which household documents reference them.

use sqlx::any::AnyRow;

use super::documents::scope_from_row;
use super::{SqlStorage, actor_columns, actor_from_columns, col, from_flag, query_err, to_flag};
use crate::storage::{DocumentScope, Millis, PhotoRecord, PhotoUse, Result};

#[tracing::instrument(skip_all, fields(photo = %photo.sha256))]
pub(super) async fn record_photo(db: &SqlStorage, photo: &PhotoRecord) -> Result<bool> {
    let context = "recording a photo";
    let (kind, id) = actor_columns(&photo.uploaded_by);
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query(
        "insert into photos (sha256, format, width, height, evidence_width, evidence_height,
             phash, uploaded_by_kind, uploaded_by_id, uploaded_at, original_kept)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (sha256) do nothing",
    )
    .bind(&photo.sha256)
    .bind(&photo.format)
    .bind(photo.width)
    .bind(photo.height)
    .bind(photo.evidence_width)
    .bind(photo.evidence_height)
    .bind(photo.phash)
    .bind(kind)
    .bind(id)
    .bind(photo.uploaded_at)
    .bind(to_flag(photo.original_kept))
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_photo(db: &SqlStorage, sha256: &str) -> Result<Option<PhotoRecord>> {
    let row = sqlx::query(
        "select sha256, format, width, height, evidence_width, evidence_height, phash,
             uploaded_by_kind, uploaded_by_id, uploaded_at, original_kept
         from photos where sha256 = $1",
    )
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("reading a photo"))?;
    row.as_ref().map(photo_from_row).transpose()
}

fn photo_from_row(row: &AnyRow) -> Result<PhotoRecord> {
    let t = "photos";
    let kind: String = col(row, t, "uploaded_by_kind")?;
    Ok(PhotoRecord {
        sha256: col(row, t, "sha256")?,
        format: col(row, t, "format")?,
        width: col(row, t, "width")?,
        height: col(row, t, "height")?,
        evidence_width: col(row, t, "evidence_width")?,
        evidence_height: col(row, t, "evidence_height")?,
        phash: col(row, t, "phash")?,
        uploaded_by: actor_from_columns(t, &kind, col(row, t, "uploaded_by_id")?)?,
        uploaded_at: col(row, t, "uploaded_at")?,
        original_kept: from_flag(col(row, t, "original_kept")?),
    })
}

#[tracing::instrument(skip_all)]
pub(super) async fn photo_documents(
    db: &SqlStorage,
    sha256: &str,
) -> Result<Vec<(String, DocumentScope)>> {
    let rows = sqlx::query(
        "select d.id, d.commune_code, d.hamlet_id, d.quarantined, d.quarantined_by
         from photo_refs r join documents d on d.id = r.document_id
         where r.sha256 = $1",
    )
    .bind(sha256)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("reading a photo's households"))?;
    let mut out = rows
        .iter()
        .map(|row| Ok((col(row, "documents", "id")?, scope_from_row(row)?)))
        .collect::<Result<Vec<(String, DocumentScope)>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[tracing::instrument(skip_all)]
pub(super) async fn photo_uses(db: &SqlStorage, commune_code: &str) -> Result<Vec<PhotoUse>> {
    let rows = sqlx::query(
        "select p.sha256, p.phash, r.document_id, d.hamlet_id,
             coalesce(h.consent_given, 0) as consent_given
         from photos p
         join photo_refs r on r.sha256 = p.sha256
         join documents d on d.id = r.document_id
         left join households h on h.document_id = r.document_id
         where d.commune_code = $1 and d.quarantined = 0",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing photo hashes"))?;
    let t = "photos";
    let mut out = rows
        .iter()
        .map(|row| {
            Ok(PhotoUse {
                sha256: col(row, t, "sha256")?,
                phash: col(row, t, "phash")?,
                document_id: col(row, t, "document_id")?,
                hamlet_id: col(row, t, "hamlet_id")?,
                consent_given: from_flag(col(row, t, "consent_given")?),
            })
        })
        .collect::<Result<Vec<PhotoUse>>>()?;
    out.sort_by(|a, b| (&a.sha256, &a.document_id).cmp(&(&b.sha256, &b.document_id)));
    Ok(out)
}

#[tracing::instrument(skip_all)]
pub(super) async fn orphan_photos(db: &SqlStorage, uploaded_before: Millis) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "select p.sha256 from photos p
         where p.uploaded_at < $1
           and not exists (select 1 from photo_refs r where r.sha256 = p.sha256)
         order by p.uploaded_at, p.sha256",
    )
    .bind(uploaded_before)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing unreferenced photos"))?;
    rows.iter()
        .map(|row| col(row, "photos", "sha256"))
        .collect()
}

#[tracing::instrument(skip_all, fields(photo = %sha256))]
pub(super) async fn forget_orphan_photo(db: &SqlStorage, sha256: &str) -> Result<bool> {
    let context = "forgetting an unreferenced photo";
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query(
        "delete from photos where sha256 = $1
           and not exists (select 1 from photo_refs r where r.sha256 = $2)",
    )
    .bind(sha256)
    .bind(sha256)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await?;
    Ok(done.rows_affected() == 1)
}
