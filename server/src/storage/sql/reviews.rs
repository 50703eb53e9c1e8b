//! Hamlet heads' decisions: recorded against the document heads they were made on, numbered per
//! household so that of two heads deciding at once exactly one wins.

use sqlx::any::AnyRow;

use super::{SqlStorage, col, query_err};
use crate::storage::{DecideOutcome, Decision, Result, Review, ReviewedHousehold, StorageError};

/// The columns of `reviews` and `review_history`, in the order of their `$n` parameters.
macro_rules! columns {
    () => {
        "document_id, version, decision, comment, heads, decided_by, decided_at"
    };
}

fn heads_from_json(table: &'static str, text: &str) -> Result<Vec<String>> {
    let mut heads: Vec<String> = serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        table,
        detail: format!("heads {text:?}: {e}"),
    })?;
    heads.sort();
    Ok(heads)
}

fn review_from_row(table: &'static str, row: &AnyRow) -> Result<Review> {
    let decision: String = col(row, table, "decision")?;
    let heads: String = col(row, table, "heads")?;
    Ok(Review {
        document_id: col(row, table, "document_id")?,
        version: col(row, table, "version")?,
        decision: Decision::parse(&decision).ok_or_else(|| StorageError::Corrupt {
            table,
            detail: format!("unknown decision {decision:?}"),
        })?,
        comment: col(row, table, "comment")?,
        heads: heads_from_json(table, &heads)?,
        decided_by: col(row, table, "decided_by")?,
        decided_at: col(row, table, "decided_at")?,
    })
}

#[tracing::instrument(skip_all, fields(document = %review.document_id, version = review.version))]
pub(super) async fn decide(db: &SqlStorage, review: &Review) -> Result<DecideOutcome> {
    let context = "recording a review decision";
    let mut heads = review.heads.clone();
    heads.sort();
    let heads_json = serde_json::to_string(&heads).map_err(|e| StorageError::Corrupt {
        table: "reviews",
        detail: format!("heads: {e}"),
    })?;
    let mut w = db.begin_write(context).await?;
    let current = sqlx::query("select heads from households where document_id = $1")
        .bind(&review.document_id)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    let Some(current) = current else {
        return Ok(DecideOutcome::NoHousehold);
    };
    let current_heads = heads_from_json(
        "households",
        &col::<String>(&current, "households", "heads")?,
    )?;
    if current_heads != heads {
        return Ok(DecideOutcome::DocumentChanged { current_heads });
    }
    let latest: Option<i64> = sqlx::query("select version from reviews where document_id = $1")
        .bind(&review.document_id)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(query_err(context))?
        .map(|row| col(&row, "reviews", "version"))
        .transpose()?;
    if latest.unwrap_or(0) != review.version - 1 {
        drop(w);
        return Ok(DecideOutcome::DecidedMeanwhile(
            current_review(db, &review.document_id).await?,
        ));
    }
    // The primary key (document_id, version) is the arbiter between two deciders.
    let inserted = sqlx::query(concat!(
        "insert into review_history (",
        columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (document_id, version) do nothing"
    ))
    .bind(&review.document_id)
    .bind(review.version)
    .bind(review.decision.as_str())
    .bind(&review.comment)
    .bind(&heads_json)
    .bind(&review.decided_by)
    .bind(review.decided_at)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    if inserted.rows_affected() == 0 {
        drop(w);
        return Ok(DecideOutcome::DecidedMeanwhile(
            current_review(db, &review.document_id).await?,
        ));
    }
    sqlx::query(concat!(
        "insert into reviews (",
        columns!(),
        ") values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (document_id) do update set
             version = excluded.version, decision = excluded.decision,
             comment = excluded.comment, heads = excluded.heads,
             decided_by = excluded.decided_by, decided_at = excluded.decided_at"
    ))
    .bind(&review.document_id)
    .bind(review.version)
    .bind(review.decision.as_str())
    .bind(&review.comment)
    .bind(&heads_json)
    .bind(&review.decided_by)
    .bind(review.decided_at)
    .execute(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    w.commit(context).await?;
    Ok(DecideOutcome::Decided(Review {
        heads,
        ..review.clone()
    }))
}

#[tracing::instrument(skip_all)]
pub(super) async fn current_review(db: &SqlStorage, document_id: &str) -> Result<Option<Review>> {
    let row = sqlx::query(concat!(
        "select ",
        columns!(),
        " from reviews where document_id = $1"
    ))
    .bind(document_id)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("reading a household's review"))?;
    row.as_ref()
        .map(|r| review_from_row("reviews", r))
        .transpose()
}

#[tracing::instrument(skip_all)]
pub(super) async fn review_history(db: &SqlStorage, document_id: &str) -> Result<Vec<Review>> {
    let rows = sqlx::query(concat!(
        "select ",
        columns!(),
        " from review_history where document_id = $1 order by version"
    ))
    .bind(document_id)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err("reading a household's review history"))?;
    rows.iter()
        .map(|r| review_from_row("review_history", r))
        .collect()
}

#[tracing::instrument(skip_all)]
pub(super) async fn reviewed_households(
    db: &SqlStorage,
    commune_code: &str,
    hamlet_id: Option<&str>,
) -> Result<Vec<ReviewedHousehold>> {
    macro_rules! select_reviewed {
        ($filter:literal) => {
            concat!(
                "select r.document_id, r.version, r.decision, r.comment, r.heads, r.decided_by,
                     r.decided_at, h.heads as current_heads
                 from reviews r
                 join households h on h.document_id = r.document_id
                 join documents d on d.id = r.document_id
                 where d.quarantined = 0 and ",
                $filter,
                " order by r.document_id"
            )
        };
    }
    let query = match hamlet_id {
        Some(hamlet) => sqlx::query(select_reviewed!("h.commune_code = $1 and h.hamlet_id = $2"))
            .bind(commune_code)
            .bind(hamlet),
        None => sqlx::query(select_reviewed!("h.commune_code = $1")).bind(commune_code),
    };
    let rows = query
        .fetch_all(&db.pool)
        .await
        .map_err(query_err("listing reviewed households"))?;
    rows.iter()
        .map(|row| {
            let current: String = col(row, "households", "current_heads")?;
            Ok(ReviewedHousehold {
                review: review_from_row("reviews", row)?,
                current_heads: heads_from_json("households", &current)?,
            })
        })
        .collect()
}
