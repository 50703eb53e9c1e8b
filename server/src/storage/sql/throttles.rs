//! Back-off counts (see `auth::throttle`): read and written under the rows' locks, so attempts
//! on several servers at once are counted one after the other.

use super::{SqlStorage, col, query_err};
use crate::storage::{Millis, Result};

/// Counts an attempt on every key of `keys` in `scope`, or on none of them when one must still
/// wait: returns that wait (0: counted). A key quiet for `forget_after` starts again from zero.
pub(super) async fn attempt(
    db: &SqlStorage,
    scope: &str,
    keys: &[&str],
    now: Millis,
    forget_after: Millis,
    wait: &(dyn Fn(i64) -> Millis + Sync),
) -> Result<Millis> {
    let context = "counting an attempt";
    let mut keys = keys.to_vec();
    // One order for every caller, so two attempts never wait for each other's rows.
    keys.sort_unstable();
    keys.dedup();
    let mut w = db.begin_write(context).await?;
    let mut counts = Vec::with_capacity(keys.len());
    let mut longest: Millis = 0;
    for key in &keys {
        // The no-op update locks an existing row (PostgreSQL) and returns what it holds.
        let row = sqlx::query(
            "insert into throttles (scope, key, failures, last_at) values ($1, $2, 0, $3)
             on conflict (scope, key) do update set scope = excluded.scope
             returning failures, last_at",
        )
        .bind(scope)
        .bind(*key)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
        let failures: i64 = col(&row, "throttles", "failures")?;
        let last_at: Millis = col(&row, "throttles", "last_at")?;
        let failures = if now - last_at >= forget_after {
            0
        } else {
            failures
        };
        longest = longest.max((last_at + wait(failures) - now).max(0));
        counts.push(failures);
    }
    if longest > 0 {
        // Nothing counted; the transaction rolls back when dropped.
        return Ok(longest);
    }
    for (key, failures) in keys.iter().zip(counts) {
        sqlx::query(
            "update throttles set failures = $3, last_at = $4 where scope = $1 and key = $2",
        )
        .bind(scope)
        .bind(*key)
        .bind(failures + 1)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    }
    w.commit(context).await?;
    Ok(0)
}

/// Takes back one counted attempt on each of `keys`.
pub(super) async fn forgive(db: &SqlStorage, scope: &str, keys: &[&str]) -> Result<()> {
    let context = "taking back an attempt";
    let mut w = db.begin_write(context).await?;
    for key in keys {
        sqlx::query(
            "update throttles set failures = failures - 1
             where scope = $1 and key = $2 and failures > 0",
        )
        .bind(scope)
        .bind(*key)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    }
    w.commit(context).await
}

/// Forgets `keys` (a right attempt), then, as a best effort in a transaction of its own (two
/// sweeps at once may deadlock on PostgreSQL; a right sign-in must not fail for it), every key
/// of any scope quiet since `quiet_before`.
pub(super) async fn clear(
    db: &SqlStorage,
    scope: &str,
    keys: &[&str],
    quiet_before: Millis,
) -> Result<()> {
    let context = "clearing attempts";
    let mut w = db.begin_write(context).await?;
    for key in keys {
        sqlx::query("delete from throttles where scope = $1 and key = $2")
            .bind(scope)
            .bind(*key)
            .execute(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
    }
    w.commit(context).await?;
    let sweep = async {
        let mut w = db.begin_write(context).await?;
        sqlx::query("delete from throttles where last_at < $1")
            .bind(quiet_before)
            .execute(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
        w.commit(context).await
    };
    if let Err(e) = sweep.await {
        tracing::debug!(%e, "quiet back-off keys not swept this time");
    }
    Ok(())
}
