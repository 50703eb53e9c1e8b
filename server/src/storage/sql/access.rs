//! Ways in: sessions of people signed in, and the one-time codes that enrol volunteers' phones.
//! Only hashes of the secrets reach the database.

use sqlx::any::AnyRow;

use super::people::{group_hamlets, insert_device};
use super::{SqlStorage, actor_columns, actor_from_columns, col, query_err, write_err};
use crate::storage::{Device, Enrollment, Millis, Redeemed, Result, Session};

#[tracing::instrument(skip_all, fields(user = %session.user_id))]
pub(super) async fn create_session(db: &SqlStorage, session: &Session) -> Result<()> {
    let context = "creating a session";
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into sessions (token_hash, user_id, created_at, expires_at, address)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(&session.token_hash)
    .bind(&session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(&session.address)
    .execute(&mut *w.tx)
    .await
    .map_err(write_err(context, || {
        format!("session of user {}", session.user_id)
    }))?;
    w.commit(context).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_session(db: &SqlStorage, token_hash: &str) -> Result<Option<Session>> {
    let row = sqlx::query(
        "select token_hash, user_id, created_at, expires_at, address from sessions
         where token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("reading a session"))?;
    let Some(row) = row else { return Ok(None) };
    let t = "sessions";
    Ok(Some(Session {
        token_hash: col(&row, t, "token_hash")?,
        user_id: col(&row, t, "user_id")?,
        created_at: col(&row, t, "created_at")?,
        expires_at: col(&row, t, "expires_at")?,
        address: col(&row, t, "address")?,
    }))
}

#[tracing::instrument(skip_all)]
pub(super) async fn delete_session(db: &SqlStorage, token_hash: &str) -> Result<()> {
    let context = "ending a session";
    let mut w = db.begin_write(context).await?;
    sqlx::query("delete from sessions where token_hash = $1")
        .bind(token_hash)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    w.commit(context).await
}

#[tracing::instrument(skip_all, fields(user = %user_id))]
pub(super) async fn delete_user_sessions(db: &SqlStorage, user_id: &str) -> Result<u64> {
    let context = "ending a user's sessions";
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query("delete from sessions where user_id = $1")
        .bind(user_id)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    w.commit(context).await?;
    Ok(done.rows_affected())
}

#[tracing::instrument(skip_all, fields(commune = %enrollment.commune_code))]
pub(super) async fn create_enrollment(db: &SqlStorage, enrollment: &Enrollment) -> Result<()> {
    let context = "creating an enrollment code";
    let (kind, id) = actor_columns(&enrollment.created_by);
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into enrollments
         (code_hash, volunteer, commune_code, created_by_kind, created_by_id, created_at,
          expires_at, used_at, device_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&enrollment.code_hash)
    .bind(&enrollment.volunteer)
    .bind(&enrollment.commune_code)
    .bind(kind)
    .bind(id)
    .bind(enrollment.created_at)
    .bind(enrollment.expires_at)
    .bind(enrollment.used_at)
    .bind(&enrollment.device_id)
    .execute(&mut *w.tx)
    .await
    .map_err(write_err(context, || {
        format!("enrollment code for {}", enrollment.volunteer)
    }))?;
    for hamlet in &enrollment.hamlets {
        sqlx::query(
            "insert into enrollment_hamlets (code_hash, hamlet_id) values ($1, $2)
             on conflict (code_hash, hamlet_id) do nothing",
        )
        .bind(&enrollment.code_hash)
        .bind(hamlet)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err("saving an enrollment's hamlets"))?;
    }
    w.commit(context).await
}

/// The conditional update is the whole race: on SQLite the writer lock serialises redeemers; on
/// PostgreSQL a second redeemer waits on the row lock, then re-checks `used_at is null` against
/// the committed row and updates nothing. Every failure path rolls back, so it writes nothing.
#[tracing::instrument(skip_all, fields(device = %device.id))]
pub(super) async fn redeem_enrollment(
    db: &SqlStorage,
    code_hash: &str,
    now: Millis,
    device: &Device,
) -> Result<Redeemed> {
    let context = "redeeming an enrollment code";
    let mut w = db.begin_write(context).await?;
    let claimed = sqlx::query(
        "update enrollments set used_at = $1, device_id = $2
         where code_hash = $3 and used_at is null and expires_at > $1
         returning volunteer, commune_code",
    )
    .bind(now)
    .bind(&device.id)
    .bind(code_hash)
    .fetch_optional(&mut *w.tx)
    .await
    .map_err(query_err(context))?;

    let Some(claimed) = claimed else {
        let row = sqlx::query("select used_at, expires_at from enrollments where code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
        w.tx.rollback().await.map_err(query_err(context))?;
        let Some(row) = row else {
            return Ok(Redeemed::Unknown);
        };
        let used_at: Option<Millis> = col(&row, "enrollments", "used_at")?;
        let expires_at: Millis = col(&row, "enrollments", "expires_at")?;
        return Ok(if used_at.is_some() {
            Redeemed::AlreadyUsed
        } else if now >= expires_at {
            Redeemed::Expired
        } else {
            // Only on PostgreSQL, when the code was committed after the update began and before
            // the select: the update did not see it, so neither did this redemption.
            Redeemed::Unknown
        });
    };

    let hamlets = sqlx::query(
        "select hamlet_id from enrollment_hamlets where code_hash = $1 order by hamlet_id",
    )
    .bind(code_hash)
    .fetch_all(&mut *w.tx)
    .await
    .map_err(query_err(context))?;
    let stored = Device {
        id: device.id.clone(),
        volunteer: col(&claimed, "enrollments", "volunteer")?,
        commune_code: col(&claimed, "enrollments", "commune_code")?,
        hamlets: hamlets
            .iter()
            .map(|row| col(row, "enrollment_hamlets", "hamlet_id"))
            .collect::<Result<_>>()?,
        token_hash: device.token_hash.clone(),
        created_at: device.created_at,
        revoked_at: None,
    };
    insert_device(&mut w.tx, &stored, context).await?;
    w.commit(context).await?;
    Ok(Redeemed::Device(stored))
}

/// Newest first (ties by code hash, so the order is stable).
#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_enrollments(
    db: &SqlStorage,
    commune_code: &str,
) -> Result<Vec<Enrollment>> {
    let context = "listing enrollment codes";
    let rows = sqlx::query(
        "select code_hash, volunteer, commune_code, created_by_kind, created_by_id, created_at,
                expires_at, used_at, device_id
         from enrollments where commune_code = $1
         order by created_at desc, code_hash desc",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err(context))?;
    let hamlets = sqlx::query(
        "select h.code_hash, h.hamlet_id from enrollment_hamlets h
         join enrollments e on e.code_hash = h.code_hash where e.commune_code = $1",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err(context))?;
    let mut by_code = group_hamlets(&hamlets, "enrollment_hamlets", "code_hash")?;
    rows.iter()
        .map(|row| {
            let mut enrollment = enrollment_from_row(row)?;
            enrollment.hamlets = by_code.remove(&enrollment.code_hash).unwrap_or_default();
            Ok(enrollment)
        })
        .collect()
}

fn enrollment_from_row(row: &AnyRow) -> Result<Enrollment> {
    let t = "enrollments";
    let kind: String = col(row, t, "created_by_kind")?;
    let id: Option<String> = col(row, t, "created_by_id")?;
    Ok(Enrollment {
        code_hash: col(row, t, "code_hash")?,
        volunteer: col(row, t, "volunteer")?,
        commune_code: col(row, t, "commune_code")?,
        hamlets: Vec::new(),
        created_by: actor_from_columns("enrollments", &kind, id)?,
        created_at: col(row, t, "created_at")?,
        expires_at: col(row, t, "expires_at")?,
        used_at: col(row, t, "used_at")?,
        device_id: col(row, t, "device_id")?,
    })
}
