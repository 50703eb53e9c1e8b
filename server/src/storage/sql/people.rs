//! Users who sign in with a password, and the volunteers' enrolled phones.

use std::collections::HashMap;

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::{SqlStorage, col, from_flag, query_err, to_flag, write_err};
use crate::storage::{Device, Millis, Result, Role, StorageError, User};

/// How a user is looked up.
pub(super) enum UserKey<'a> {
    Id(&'a str),
    Username(&'a str),
}

/// `select <user columns> <rest>` as one static string.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "select id, username, display_name, role, commune_code, password_hash, created_at, \
             disabled from users ",
            $rest
        )
    };
}

/// `select <device columns> <rest>` as one static string.
macro_rules! select_devices {
    ($rest:literal) => {
        concat!(
            "select id, volunteer, commune_code, token_hash, created_at, revoked_at from devices ",
            $rest
        )
    };
}

#[tracing::instrument(skip_all, fields(username = %user.username))]
pub(super) async fn create_user(db: &SqlStorage, user: &User) -> Result<()> {
    let context = "creating a user";
    let mut w = db.begin_write(context).await?;
    sqlx::query(
        "insert into users
         (id, username, display_name, role, commune_code, password_hash, created_at, disabled)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(&user.commune_code)
    .bind(&user.password_hash)
    .bind(user.created_at)
    .bind(to_flag(user.disabled))
    .execute(&mut *w.tx)
    .await
    .map_err(write_err(context, || format!("user {}", user.username)))?;
    for hamlet in &user.hamlets {
        sqlx::query(
            "insert into user_hamlets (user_id, hamlet_id) values ($1, $2)
             on conflict (user_id, hamlet_id) do nothing",
        )
        .bind(&user.id)
        .bind(hamlet)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err("saving a user's hamlets"))?;
    }
    w.commit(context).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_user_by(db: &SqlStorage, key: UserKey<'_>) -> Result<Option<User>> {
    let context = "reading a user";
    let (sql, value) = match key {
        UserKey::Id(id) => (select_users!("where id = $1"), id),
        UserKey::Username(name) => (select_users!("where username = $1"), name),
    };
    let Some(row) = sqlx::query(sql)
        .bind(value)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err(context))?
    else {
        return Ok(None);
    };
    let mut user = user_from_row(&row)?;
    user.hamlets = hamlets_of(db, "user_hamlets", "user_id", &user.id, context).await?;
    Ok(Some(user))
}

#[tracing::instrument(skip_all)]
pub(super) async fn list_users(db: &SqlStorage, commune_code: Option<&str>) -> Result<Vec<User>> {
    let context = "listing users";
    let (users, hamlets) = match commune_code {
        Some(code) => (
            sqlx::query(select_users!("where commune_code = $1"))
                .bind(code)
                .fetch_all(&db.pool)
                .await,
            sqlx::query(
                "select h.user_id, h.hamlet_id from user_hamlets h
                 join users u on u.id = h.user_id where u.commune_code = $1",
            )
            .bind(code)
            .fetch_all(&db.pool)
            .await,
        ),
        None => (
            sqlx::query(select_users!("")).fetch_all(&db.pool).await,
            sqlx::query("select user_id, hamlet_id from user_hamlets")
                .fetch_all(&db.pool)
                .await,
        ),
    };
    let mut by_user = group_hamlets(
        &hamlets.map_err(query_err(context))?,
        "user_hamlets",
        "user_id",
    )?;
    let mut users = users
        .map_err(query_err(context))?
        .iter()
        .map(|row| {
            let mut user = user_from_row(row)?;
            user.hamlets = by_user.remove(&user.id).unwrap_or_default();
            Ok(user)
        })
        .collect::<Result<Vec<_>>>()?;
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(users)
}

#[tracing::instrument(skip_all, fields(user = %user_id))]
pub(super) async fn set_password_hash(
    db: &SqlStorage,
    user_id: &str,
    password_hash: &str,
) -> Result<()> {
    let context = "setting a password";
    let mut w = db.begin_write(context).await?;
    let done = sqlx::query("update users set password_hash = $2 where id = $1")
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut *w.tx)
        .await
        .map_err(query_err(context))?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound {
            what: format!("user {user_id}"),
        });
    }
    w.commit(context).await
}

#[tracing::instrument(skip_all, fields(device = %device.id))]
pub(super) async fn create_device(db: &SqlStorage, device: &Device) -> Result<()> {
    let context = "enrolling a device";
    let mut w = db.begin_write(context).await?;
    insert_device(&mut w.tx, device, context).await?;
    w.commit(context).await
}

/// Inserts a device and its hamlets inside the caller's write transaction.
pub(super) async fn insert_device(
    conn: &mut AnyConnection,
    device: &Device,
    context: &'static str,
) -> Result<()> {
    sqlx::query(
        "insert into devices (id, volunteer, commune_code, token_hash, created_at, revoked_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&device.id)
    .bind(&device.volunteer)
    .bind(&device.commune_code)
    .bind(&device.token_hash)
    .bind(device.created_at)
    .bind(device.revoked_at)
    .execute(&mut *conn)
    .await
    .map_err(write_err(context, || format!("device {}", device.id)))?;
    for hamlet in &device.hamlets {
        sqlx::query(
            "insert into device_hamlets (device_id, hamlet_id) values ($1, $2)
             on conflict (device_id, hamlet_id) do nothing",
        )
        .bind(&device.id)
        .bind(hamlet)
        .execute(&mut *conn)
        .await
        .map_err(query_err("saving a device's hamlets"))?;
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_device_by_token_hash(
    db: &SqlStorage,
    token_hash: &str,
) -> Result<Option<Device>> {
    get_device_where(db, select_devices!("where token_hash = $1"), token_hash).await
}

#[tracing::instrument(skip_all, fields(device = %device_id))]
pub(super) async fn get_device(db: &SqlStorage, device_id: &str) -> Result<Option<Device>> {
    get_device_where(db, select_devices!("where id = $1"), device_id).await
}

pub(super) async fn device_live(db: &SqlStorage, device_id: &str) -> Result<bool> {
    Ok(
        sqlx::query("select 1 as one from devices where id = $1 and revoked_at is null")
            .bind(device_id)
            .fetch_optional(&db.pool)
            .await
            .map_err(query_err("checking a device"))?
            .is_some(),
    )
}

pub(super) async fn session_live(
    db: &SqlStorage,
    token_hash: &str,
    user_id: &str,
    now: Millis,
) -> Result<bool> {
    Ok(sqlx::query(
        "select 1 as one from sessions s join users u on u.id = s.user_id
         where s.token_hash = $1 and s.user_id = $2 and s.expires_at > $3 and u.disabled = 0",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await
    .map_err(query_err("checking a session"))?
    .is_some())
}

/// The device that `sql` (device columns, one `$1` condition) finds, with its hamlets sorted.
async fn get_device_where(
    db: &SqlStorage,
    sql: &'static str,
    value: &str,
) -> Result<Option<Device>> {
    let context = "reading a device";
    let Some(row) = sqlx::query(sql)
        .bind(value)
        .fetch_optional(&db.pool)
        .await
        .map_err(query_err(context))?
    else {
        return Ok(None);
    };
    let mut device = device_from_row(&row)?;
    device.hamlets = hamlets_of(db, "device_hamlets", "device_id", &device.id, context).await?;
    Ok(Some(device))
}

#[tracing::instrument(skip_all, fields(commune = %commune_code))]
pub(super) async fn list_devices(db: &SqlStorage, commune_code: &str) -> Result<Vec<Device>> {
    let context = "listing devices";
    let rows = sqlx::query(select_devices!(
        "where commune_code = $1 order by created_at, id"
    ))
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err(context))?;
    let hamlets = sqlx::query(
        "select h.device_id, h.hamlet_id from device_hamlets h
         join devices d on d.id = h.device_id where d.commune_code = $1",
    )
    .bind(commune_code)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err(context))?;
    let mut by_device = group_hamlets(&hamlets, "device_hamlets", "device_id")?;
    rows.iter()
        .map(|row| {
            let mut device = device_from_row(row)?;
            device.hamlets = by_device.remove(&device.id).unwrap_or_default();
            Ok(device)
        })
        .collect()
}

/// Sets `revoked_at` unless the device is revoked already: the first revocation time stays.
#[tracing::instrument(skip_all, fields(device = %device_id))]
pub(super) async fn revoke_device(db: &SqlStorage, device_id: &str, at: Millis) -> Result<()> {
    let context = "revoking a device";
    let mut w = db.begin_write(context).await?;
    let done =
        sqlx::query("update devices set revoked_at = $2 where id = $1 and revoked_at is null")
            .bind(device_id)
            .bind(at)
            .execute(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query("select id from devices where id = $1")
            .bind(device_id)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(query_err(context))?;
        if exists.is_none() {
            return Err(StorageError::NotFound {
                what: format!("device {device_id}"),
            });
        }
    }
    w.commit(context).await
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    let role: String = col(row, "users", "role")?;
    Ok(User {
        id: col(row, "users", "id")?,
        username: col(row, "users", "username")?,
        display_name: col(row, "users", "display_name")?,
        role: Role::parse(&role).ok_or_else(|| StorageError::Corrupt {
            table: "users",
            detail: format!("unknown role {role:?}"),
        })?,
        commune_code: col(row, "users", "commune_code")?,
        hamlets: Vec::new(),
        password_hash: col(row, "users", "password_hash")?,
        created_at: col(row, "users", "created_at")?,
        disabled: from_flag(col(row, "users", "disabled")?),
    })
}

fn device_from_row(row: &AnyRow) -> Result<Device> {
    Ok(Device {
        id: col(row, "devices", "id")?,
        volunteer: col(row, "devices", "volunteer")?,
        commune_code: col(row, "devices", "commune_code")?,
        hamlets: Vec::new(),
        token_hash: col(row, "devices", "token_hash")?,
        created_at: col(row, "devices", "created_at")?,
        revoked_at: col(row, "devices", "revoked_at")?,
    })
}

/// Hamlet ids by owner (user, device or enrollment) id, each list sorted.
pub(super) fn group_hamlets(
    rows: &[AnyRow],
    table: &'static str,
    owner_column: &str,
) -> Result<HashMap<String, Vec<String>>> {
    let mut by_owner: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let owner: String = col(row, table, owner_column)?;
        by_owner
            .entry(owner)
            .or_default()
            .push(col(row, table, "hamlet_id")?);
    }
    for hamlets in by_owner.values_mut() {
        hamlets.sort();
    }
    Ok(by_owner)
}

/// The sorted hamlet ids of one user or device, from its link `table` keyed by `owner_column`.
async fn hamlets_of(
    db: &SqlStorage,
    table: &'static str,
    owner_column: &'static str,
    owner: &str,
    context: &'static str,
) -> Result<Vec<String>> {
    // Both names are constants of this module, never outside input.
    let sql = format!("select hamlet_id from {table} where {owner_column} = $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(&db.pool)
        .await
        .map_err(query_err(context))?;
    let mut hamlets = rows
        .iter()
        .map(|row| col(row, table, "hamlet_id"))
        .collect::<Result<Vec<String>>>()?;
    hamlets.sort();
    Ok(hamlets)
}
