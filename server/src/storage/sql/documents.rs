//! Household documents: the change log, the compacted snapshot and where each document belongs.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{
    SqlStorage, audit, col, from_flag, notices, now_millis, projections, query_err, to_flag,
};
use crate::storage::Millis;
use crate::storage::{
    Backend, DocumentScope, DocumentUpdate, Purged, Quarantined, Result, StorageError,
    StoredChange, StoredDocument, Tombstone, Written,
};

/// Writes the new changes and the projection of one document in one transaction.
///
/// A `None` scope field keeps what is stored: a document read without its hamlet (a phone sent
/// only part of it) does not lose the hamlet known before. A quarantine flag set in the scope
/// quarantines the document in the same transaction (a new document from outside its sender's
/// hamlets is never visible out of quarantine, not even for a moment); a clear flag changes
/// nothing: only [`set_quarantined`] releases.
///
/// On SQLite, which writes one transaction at a time, the updates of documents written at the
/// same moment share one transaction (see [`super::batch`]): one commit, one sync of the file,
/// for all of them; each still succeeds or fails alone, and returns only once it is durable.
#[tracing::instrument(skip_all, fields(document = %update.document_id, changes = update.changes.len()))]
pub(super) async fn apply_document_update(
    db: &SqlStorage,
    update: &DocumentUpdate,
) -> Result<Written> {
    if let Some(batcher) = &db.batcher {
        return batcher.write(&db.pool, update).await;
    }
    let context = "storing document changes";
    let mut w = db.begin_write(context).await?;
    let written = write_update(&mut w.tx, update, now_millis(), db.notifier()).await?;
    w.commit(context).await?;
    Ok(written)
}

/// The statements of [`apply_document_update`], inside the caller's transaction. On error the
/// caller rolls back (a tombstoned id must leave no row behind).
///
/// `notify` (PostgreSQL) names this server in the notice that tells the others about new
/// changes, sent in the same transaction so it is delivered only if the changes commit.
pub(super) async fn write_update(
    tx: &mut AnyConnection,
    update: &DocumentUpdate,
    now: Millis,
    notify: Option<&str>,
) -> Result<Written> {
    // The upsert also locks the document row on PostgreSQL, so two updates of one document
    // (from this server or another) number their changes one after the other; it reserves their
    // sequence numbers too (`last_seq` moves past them in the same statement).
    let reserved = i64::try_from(update.changes.len()).unwrap_or(i64::MAX);
    let row = sqlx::query(
        "insert into documents (id, commune_code, hamlet_id, created_at, updated_at, last_seq)
         values ($1, $2, $3, $4, $4, $5)
         on conflict (id) do update set
             commune_code = coalesce(excluded.commune_code, documents.commune_code),
             hamlet_id = coalesce(excluded.hamlet_id, documents.hamlet_id),
             updated_at = excluded.updated_at,
             last_seq = documents.last_seq + excluded.last_seq
         returning last_seq, snapshot_seq, commune_code, hamlet_id, quarantined, quarantined_by",
    )
    .bind(&update.document_id)
    .bind(&update.scope.commune_code)
    .bind(&update.scope.hamlet_id)
    .bind(now)
    .bind(reserved)
    .fetch_one(&mut *tx)
    .await
    .map_err(query_err("saving the document row"))?;
    let reserved_to: i64 = col(&row, "documents", "last_seq")?;
    let snapshot_seq: i64 = col(&row, "documents", "snapshot_seq")?;
    let last_seq = reserved_to - reserved;
    // The fence: read under the row's lock, so no other writer can slip in between. A copy that
    // has not seen every change stored would write a projection (photo references included)
    // from less than the document holds; the caller rolls back, catches up and tries again.
    if let Some(expected) = update.expected_seq
        && expected != last_seq
    {
        return Err(StorageError::Stale {
            id: update.document_id.clone(),
            expected,
            found: last_seq,
        });
    }
    let mut scope = scope_from_row(&row)?;
    // A document never seen before (or never given a change): its id may be an erased one,
    // which is never used again. The caller rolls back, so nothing is written.
    if last_seq == 0
        && sqlx::query("select 1 as one from tombstones where document_id = $1")
            .bind(&update.document_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading tombstones"))?
            .is_some()
    {
        return Err(StorageError::Erased {
            id: update.document_id.clone(),
        });
    }

    if update.scope.quarantined && !scope.quarantined {
        sqlx::query("update documents set quarantined = 1, quarantined_by = $2 where id = $1")
            .bind(&update.document_id)
            .bind(&update.scope.quarantined_by)
            .execute(&mut *tx)
            .await
            .map_err(query_err("quarantining the document"))?;
        scope.quarantined = true;
        scope.quarantined_by = update.scope.quarantined_by.clone();
    }

    let mut seq = last_seq;
    let mut inserted = 0;
    for change in &update.changes {
        seq += 1;
        let done = sqlx::query(
            "insert into changes (document_id, hash, seq, bytes) values ($1, $2, $3, $4)
             on conflict (document_id, hash) do nothing",
        )
        .bind(&update.document_id)
        .bind(&change.hash)
        .bind(seq)
        .bind(&change.bytes)
        .execute(&mut *tx)
        .await
        .map_err(query_err("inserting a change"))?;
        inserted += usize::try_from(done.rows_affected()).unwrap_or(0);
    }

    if let Some(projection) = &update.projection {
        projections::replace_projection(
            tx,
            &update.document_id,
            &scope,
            projection,
            update.stored_projection.as_ref(),
            now,
        )
        .await?;
    }
    for entry in &update.audit {
        audit::insert_audit(tx, entry).await?;
    }
    let notified = inserted > 0 && notices::notify(tx, notify, &update.document_id, now).await?;
    Ok(Written {
        inserted,
        scope,
        last_seq: reserved_to,
        snapshot_seq,
        notified,
    })
}

/// The stored document, whole (`after` is `None`) or what a copy holding every change up to
/// sequence `after` lacks. One transaction, so snapshot, changes and sequence numbers agree
/// however other servers write and compact meanwhile (a repeatable-read snapshot on
/// PostgreSQL, a read transaction in WAL mode on SQLite).
#[tracing::instrument(skip_all, fields(document = %document_id, after = ?after))]
pub(super) async fn load_document(
    db: &SqlStorage,
    document_id: &str,
    after: Option<i64>,
) -> Result<Option<StoredDocument>> {
    let context = "loading a document";
    let mut tx = db.pool.begin().await.map_err(query_err(context))?;
    if db.backend == Backend::Postgres {
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await
            .map_err(query_err(context))?;
    }
    // A copy that is behind the snapshot takes the snapshot (the changes it folded in are gone
    // from the log); one past it needs only the later changes, and the blob is not read.
    // Loading whole: every snapshot (one from before `snapshot_seq` existed covers 0).
    let snapshot_after = after.unwrap_or(-1);
    let Some(doc) = sqlx::query(
        "select last_seq, snapshot_seq, snapshot_heads, commune_code, hamlet_id, quarantined,
             quarantined_by, case when snapshot_seq > $2 then snapshot end as snapshot
         from documents where id = $1",
    )
    .bind(document_id)
    .bind(snapshot_after)
    .fetch_optional(&mut *tx)
    .await
    .map_err(query_err(context))?
    else {
        return Ok(None);
    };
    let last_seq: i64 = col(&doc, "documents", "last_seq")?;
    let snapshot_seq: i64 = col(&doc, "documents", "snapshot_seq")?;
    let snapshot: Option<Vec<u8>> = col(&doc, "documents", "snapshot")?;
    let from = after.unwrap_or(0);
    let change_rows = sqlx::query(
        "select hash, bytes from changes where document_id = $1 and seq > $2 order by seq",
    )
    .bind(document_id)
    .bind(from)
    .fetch_all(&mut *tx)
    .await
    .map_err(query_err(context))?;
    tx.commit().await.map_err(query_err(context))?;
    let heads: String = col(&doc, "documents", "snapshot_heads")?;
    let changes = change_rows
        .iter()
        .map(|row| {
            Ok(StoredChange {
                hash: col(row, "changes", "hash")?,
                bytes: col(row, "changes", "bytes")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(StoredDocument {
        snapshot,
        snapshot_heads: serde_json::from_str(&heads).map_err(|e| StorageError::Corrupt {
            table: "documents",
            detail: format!("snapshot_heads of {document_id}: {e}"),
        })?,
        changes,
        scope: scope_from_row(&doc)?,
        last_seq,
        snapshot_seq,
    }))
}

/// Replaces the snapshot by one covering every change up to `covers` and deletes those changes,
/// only while nothing was written since (`last_seq = covers`, checked under the row's lock) and
/// the stored snapshot covers less. The snapshot was made from a copy holding exactly those
/// changes, so no change and no head is dropped that the copy did not hold.
#[tracing::instrument(skip_all, fields(document = %document_id, covers = covers))]
pub(super) async fn compact_document(
    db: &SqlStorage,
    document_id: &str,
    snapshot: &[u8],
    snapshot_heads: &[String],
    covers: i64,
) -> Result<bool> {
    let context = "compacting a document";
    let mut heads = snapshot_heads.to_vec();
    heads.sort();
    let heads = serde_json::to_string(&heads).map_err(|e| StorageError::Corrupt {
        table: "documents",
        detail: format!("heads of {document_id} do not serialise: {e}"),
    })?;
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query(
        "update documents set snapshot = $2, snapshot_heads = $3, snapshot_seq = $4,
             updated_at = $5
         where id = $1 and last_seq = $4 and snapshot_seq < $4",
    )
    .bind(document_id)
    .bind(snapshot)
    .bind(heads)
    .bind(covers)
    .bind(now_millis())
    .execute(&mut *w.tx)
    .await
    .map_err(query_err("saving a snapshot"))?;
    if done.rows_affected() == 0 {
        // Written or compacted by another server meanwhile (or gone): the next write catches up
        // and compacts again.
        return Ok(false);
    }
    sqlx::query("delete from changes where document_id = $1 and seq <= $2")
        .bind(document_id)
        .bind(covers)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err("deleting merged changes"))?;
    w.commit(context).await?;
    Ok(true)
}

#[tracing::instrument(skip_all, fields(document = %document_id))]
pub(super) async fn document_scope(
    db: &SqlStorage,
    document_id: &str,
) -> Result<Option<DocumentScope>> {
    sqlx::query(
        "select commune_code, hamlet_id, quarantined, quarantined_by from documents where id = $1",
    )
    .bind(document_id)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("reading a document's scope"))?
    .map(|row| scope_from_row(&row))
    .transpose()
}

pub(super) fn scope_from_row(row: &AnyRow) -> Result<DocumentScope> {
    Ok(DocumentScope {
        commune_code: col(row, "documents", "commune_code")?,
        hamlet_id: col(row, "documents", "hamlet_id")?,
        quarantined: from_flag(col(row, "documents", "quarantined")?),
        quarantined_by: col(row, "documents", "quarantined_by")?,
    })
}

/// Sets or clears the quarantine flag of a stored document.
#[tracing::instrument(skip_all, fields(document = %document_id, quarantined = quarantined))]
pub(super) async fn set_quarantined(
    db: &SqlStorage,
    document_id: &str,
    quarantined: bool,
) -> Result<()> {
    let context = "setting a document's quarantine";
    let mut w = db.begin_write(context).await?;
    // Released, it no longer belongs to the phone that sent it.
    let done = sqlx::query(
        "update documents set quarantined = $2,
             quarantined_by = case when $2 = 0 then null else quarantined_by end
         where id = $1",
    )
    .bind(document_id)
    .bind(to_flag(quarantined))
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound {
            what: format!("document {document_id}"),
        });
    }
    // Other servers take the new scope into the copies they hold.
    notices::notify(&mut w.tx, db.notifier(), document_id, now_millis()).await?;
    w.commit(context).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn list_quarantined(
    db: &SqlStorage,
    commune_code: Option<&str>,
) -> Result<Vec<Quarantined>> {
    let rows = sqlx::query(
        "select id, commune_code, hamlet_id, quarantined_by, updated_at from documents
         where quarantined = 1 and (cast($1 as text) is null or commune_code = $1)
         order by updated_at, id",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("listing quarantined documents"))?;
    let t = "documents";
    rows.iter()
        .map(|row| {
            Ok(Quarantined {
                document_id: col(row, t, "id")?,
                commune_code: col(row, t, "commune_code")?,
                hamlet_id: col(row, t, "hamlet_id")?,
                quarantined_by: col(row, t, "quarantined_by")?,
                updated_at: col(row, t, "updated_at")?,
            })
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_document_ids(db: &SqlStorage, commune_code: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("select id from documents where commune_code = $1")
        .bind(commune_code)
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing documents"))?;
    sorted_ids(&rows)
}

/// The `id` column of `rows`, in bytewise order on both backends (see places::list_communes).
fn sorted_ids(rows: &[AnyRow]) -> Result<Vec<String>> {
    let mut ids = rows
        .iter()
        .map(|row| col(row, "documents", "id"))
        .collect::<Result<Vec<String>>>()?;
    ids.sort();
    Ok(ids)
}

pub(super) async fn tombstone(db: &SqlStorage, document_id: &str) -> Result<Option<Tombstone>> {
    let row = sqlx::query(
        "select document_id, replaced_by, erased_at from tombstones where document_id = $1",
    )
    .bind(document_id)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("reading tombstones"))?;
    row.map(|row| {
        Ok(Tombstone {
            document_id: col(&row, "tombstones", "document_id")?,
            replaced_by: col(&row, "tombstones", "replaced_by")?,
            erased_at: col(&row, "tombstones", "erased_at")?,
        })
    })
    .transpose()
}

pub(super) async fn erase_document(db: &SqlStorage, tombstone: &Tombstone) -> Result<Purged> {
    let context = "erasing a document";
    let mut w = db.begin_write(context).await?;
    // The documents row first, as every write takes it: a write from another server waits
    // instead of deadlocking with the deletes below.
    if db.backend == Backend::Postgres {
        sqlx::query("select id from documents where id = $1 for update")
            .bind(&tombstone.document_id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
    }
    let count =
        |table: &'static str| format!("select count(*) as n from {table} where document_id = $1");
    let mut purged = Purged::default();
    for (table, into) in [("changes", 0), ("review_history", 1)] {
        let row = sqlx::query(AssertSqlSafe(count(table)))
            .bind(&tombstone.document_id)
            .fetch_one(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
        let n: i64 = col(&row, table, "n")?;
        if into == 0 {
            purged.changes = n as u64;
        } else {
            purged.reviews = n as u64;
        }
    }
    sqlx::query(
        "insert into tombstones (document_id, replaced_by, erased_at) values ($1, $2, $3)
         on conflict (document_id) do nothing",
    )
    .bind(&tombstone.document_id)
    .bind(&tombstone.replaced_by)
    .bind(tombstone.erased_at)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    // Children first: the same on both backends whatever their cascades.
    for table in [
        "review_history",
        "reviews",
        "photo_refs",
        "conflicts",
        "findings",
        "members",
        "households",
        "changes",
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "delete from {table} where document_id = $1"
        )))
        .bind(&tombstone.document_id)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    }
    sqlx::query("delete from documents where id = $1")
        .bind(&tombstone.document_id)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    // Other servers drop their copies in memory (never served again from there).
    notices::notify(
        &mut w.tx,
        db.notifier(),
        &tombstone.document_id,
        now_millis(),
    )
    .await?;
    w.commit(context).await?;
    Ok(purged)
}

pub(super) async fn scrub(db: &SqlStorage) -> Result<()> {
    match db.backend {
        Backend::Sqlite => {
            // Every connection deletes securely (zeros over freed content); the write-ahead
            // log still holds the old pages until it is checkpointed and truncated. A reader
            // in the middle of a query can hold it back: tried a few times.
            for attempt in 0..20 {
                let row = sqlx::query("pragma wal_checkpoint(truncate)")
                    .fetch_one(&db.pool)
                    .await
                    .map_err(query_err("checkpointing the write-ahead log"))?;
                let busy: i64 = row.try_get(0).map_err(query_err("checkpointing"))?;
                if busy == 0 {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
            }
            Err(StorageError::Corrupt {
                table: "documents",
                detail: "the write-ahead log stayed busy; run the erasure again".into(),
            })
        }
        Backend::Postgres => {
            // Deleted rows stay in their pages until the table is rewritten, and a rewrite
            // keeps those that a transaction begun before the delete (an autovacuum's analyse,
            // a long read, a write between its statements) may still see: wait for such
            // transactions to end first (10 s at most).
            let xid: String = sqlx::query("select (txid_current() % 4294967296)::text as xid")
                .fetch_one(&db.pool)
                .await
                .map_err(query_err("reading the transaction id"))?
                .try_get("xid")
                .map_err(query_err("reading the transaction id"))?;
            for _ in 0..100 {
                let older: i64 = sqlx::query(
                    "select count(*) as n from pg_stat_activity
                     where pid <> pg_backend_pid()
                       and ((backend_xmin is not null and age(backend_xmin) >= age($1::xid))
                         or (backend_xid is not null and age(backend_xid) >= age($2::xid)))",
                )
                .bind(&xid)
                .bind(&xid)
                .fetch_one(&db.pool)
                .await
                .map_err(query_err("looking for older transactions"))?
                .try_get("n")
                .map_err(query_err("looking for older transactions"))?;
                if older == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            sqlx::query(
                "vacuum full documents, changes, households, members, findings, conflicts, \
                 photo_refs, photos, reviews, review_history",
            )
            .execute(&db.pool)
            .await
            .map_err(query_err("rewriting the tables an erasure touched"))?;
            Ok(())
        }
    }
}

pub(super) async fn all_document_ids(db: &SqlStorage) -> Result<Vec<String>> {
    let rows = sqlx::query("select id from documents")
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing documents"))?;
    sorted_ids(&rows)
}

#[tracing::instrument(skip_all)]
pub(super) async fn count_documents(db: &SqlStorage) -> Result<i64> {
    let row = sqlx::query("select count(*) as n from documents")
        .fetch_one(&db.pool)
        .await
        .map_err(query_err("counting documents"))?;
    col(&row, "documents", "n")
}
