//! The one SQL implementation of [`Storage`], over SQLite and PostgreSQL through sqlx's Any driver.
//!
//! Every query is written once, in lower case with `$N` placeholders, and runs on both databases;
//! the only backend-specific code is the connection set-up here and the migration files. Column
//! types stay portable: text, bigint, integer 0/1 for booleans, blob/bytea.

mod access;
mod audit;
mod batch;
mod documents;
mod notices;
mod people;
mod photos;
mod places;
mod projections;
mod retention;
mod reviews;
mod roster;
mod settings;
mod throttles;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sansang_shared::Projection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::{
    Actor, AuditEntry, AuditFilter, Backend, Commune, DecideOutcome, Device, DocumentScope,
    DocumentUpdate, Enrollment, Hamlet, Holdings, HouseholdSummary, JobLock, MemberName, Millis,
    Notice, PhotoRecord, PhotoUse, Purged, Quarantined, Redeemed, Result, Review,
    ReviewedHousehold, RosterEntry, Session, Storage, StorageError, StoredDocument,
    StoredProjection, Tombstone, User, Written,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// The first key of every server's advisory lock on PostgreSQL (the second is its instance id's
/// hash): the servers serving the database are the holders of such locks, and one that dies
/// loses its lock with its connection, so the count is never stale.
const INSTANCE_LOCK_CLASS: i32 = 0x5a5a;

/// The first key of the shared advisory lock each server holds on the version of the projection
/// rules it writes by (the second key).
const RULES_LOCK_CLASS: i32 = 0x5a5b;

/// A pool of connections to SQLite or PostgreSQL, with the schema migrated.
pub struct SqlStorage {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time, and a transaction that cannot upgrade its lock fails
    /// at once with SQLITE_BUSY instead of waiting; so every write transaction takes this lock.
    /// `None` on PostgreSQL, which has row locks.
    write_lock: Option<Arc<Mutex<()>>>,
    /// On SQLite, document updates written at the same moment share one commit.
    batcher: Option<batch::Batcher>,
    /// This server's name in the change notices it sends (see [`notices`]).
    instance: String,
    /// Where the notices' listener connects (its own connection, outside the pool).
    url: String,
}

impl std::fmt::Debug for SqlStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStorage")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// A write transaction, holding the SQLite writer lock until it is committed or dropped.
pub(super) struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    _writer: Option<MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self, context: &'static str) -> Result<()> {
        self.tx.commit().await.map_err(query_err(context))
    }
}

impl SqlStorage {
    /// Connects to `sqlite:…` or `postgres:…`/`postgresql:…` and applies pending migrations.
    ///
    /// A SQLite file is created when missing (`mode=rwc` is added unless the URL names a mode),
    /// and every connection runs in WAL mode with `synchronous=full`, so a change acknowledged
    /// to a phone survives a power cut.
    pub async fn connect(url: &str) -> Result<SqlStorage> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url),
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(query_err("parsing the URL"))?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    // A connection to a local file does not go stale, and the check before each
                    // acquire is one more trip to sqlx's worker thread for every query (a
                    // sixth of the server's CPU under a burst of phones).
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(query_err("connecting to the database"))?;

        if backend == Backend::Sqlite {
            // Persistent in the file; set once here rather than per connection, because changing
            // the journal mode needs an exclusive lock that the busy timeout does not wait for.
            sqlx::query("pragma journal_mode = wal")
                .execute(&pool)
                .await
                .map_err(query_err("setting WAL mode"))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        tracing::info!(backend = ?backend, "database ready");

        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let mut instance = uuid::Uuid::new_v4().simple().to_string();
        instance.truncate(12);
        Ok(SqlStorage {
            pool,
            backend,
            batcher: write_lock.clone().map(batch::Batcher::new),
            write_lock,
            instance,
            url,
        })
    }

    /// This server's name for the change notices it sends, where other servers may be
    /// listening (PostgreSQL); `None` on SQLite, which one server opens.
    fn notifier(&self) -> Option<&str> {
        (self.backend == Backend::Postgres).then_some(self.instance.as_str())
    }

    /// Holders, in this database, of advisory locks whose keys are `class` and a number below
    /// `below` (PostgreSQL's `pg_locks`).
    async fn advisory_holders(&self, class: i32, below: i64, context: &'static str) -> Result<i64> {
        let row = sqlx::query(
            "select count(*) as n from pg_locks
             where locktype = 'advisory' and classid = $1 and objsubid = 2 and granted
               and objid::int8 < $2
               and database = (select oid from pg_database where datname = current_database())",
        )
        .bind(i64::from(class))
        .bind(below)
        .fetch_one(&self.pool)
        .await
        .map_err(query_err(context))?;
        col(&row, "pg_locks", "n")
    }

    /// A connection of its own, out of the pool, for session locks: they last as long as it
    /// is open, and PostgreSQL lets them go when it closes, however the server ends.
    async fn lock_connection(&self, context: &'static str) -> Result<sqlx::AnyConnection> {
        Ok(self
            .pool
            .acquire()
            .await
            .map_err(query_err(context))?
            .detach())
    }

    /// The connection pool, for tests that look at the database directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction (after taking the SQLite writer lock).
    pub(super) async fn begin_write(&self, context: &'static str) -> Result<WriteTx<'_>> {
        let writer = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let tx = self.pool.begin().await.map_err(query_err(context))?;
        Ok(WriteTx {
            tx,
            _writer: writer,
        })
    }
}

/// Per-connection SQLite settings (the journal mode is per file, set in `connect`). The busy
/// timeout covers other processes (an admin command) holding the file's write lock.
/// `secure_delete`: deleted content is overwritten with zeros, so an erased household does not
/// linger in free pages of the file.
const SQLITE_PRAGMAS: &str = "pragma synchronous = full; pragma foreign_keys = on; \
     pragma busy_timeout = 5000; pragma secure_delete = on;";

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(StorageError::Database(sqlx::Error::Configuration(
            format!("unsupported database URL scheme in {url:?}: use sqlite: or postgres:").into(),
        )))
    }
}

/// Adds `mode=rwc` to a SQLite URL (create the file if missing) unless it names a mode already.
fn sqlite_url(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let in_memory = path.ends_with(":memory:");
    let has_mode = query.split('&').any(|pair| pair.starts_with("mode="));
    if in_memory || has_mode {
        url.to_owned()
    } else if query.is_empty() {
        format!("{path}?mode=rwc")
    } else {
        format!("{path}?{query}&mode=rwc")
    }
}

/// Wraps a database error with what the storage was doing.
pub(super) fn query_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |source| StorageError::Query { context, source }
}

/// Like [`query_err`], but a taken unique key becomes `Conflict { what }` and a missing
/// referenced row (a commune) becomes `NotFound`.
pub(super) fn write_err(
    context: &'static str,
    what: impl FnOnce() -> String,
) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |source| match &source {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            StorageError::Conflict { what: what() }
        }
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => StorageError::NotFound {
            what: format!("a row referenced by {}", what()),
        },
        _ => StorageError::Query { context, source },
    }
}

/// Milliseconds since the Unix epoch, now.
pub(super) fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads one column; a value that does not decode is a corrupt row, not a query failure.
pub(super) fn col<'r, T>(row: &'r AnyRow, table: &'static str, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(|e| StorageError::Corrupt {
        table,
        detail: format!("column {column}: {e}"),
    })
}

/// An actor as two columns (kind, id), spelled as in the audit log.
pub(super) fn actor_columns(actor: &Actor) -> (&'static str, Option<&str>) {
    match actor {
        Actor::User(id) => ("user", Some(id)),
        Actor::Device(id) => ("device", Some(id)),
        Actor::System => ("system", None),
    }
}

pub(super) fn actor_from_columns(
    table: &'static str,
    kind: &str,
    id: Option<String>,
) -> Result<Actor> {
    match (kind, id) {
        ("user", Some(id)) => Ok(Actor::User(id)),
        ("device", Some(id)) => Ok(Actor::Device(id)),
        ("system", _) => Ok(Actor::System),
        (kind, id) => Err(StorageError::Corrupt {
            table,
            detail: format!("actor {kind:?} with id {id:?}"),
        }),
    }
}

pub(super) fn to_flag(b: bool) -> i64 {
    i64::from(b)
}

pub(super) fn from_flag(v: i64) -> bool {
    v != 0
}

#[async_trait]
impl Storage for SqlStorage {
    fn backend(&self) -> Backend {
        self.backend
    }

    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(query_err("ping"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn close(&self) {
        self.pool.close().await;
    }

    async fn upsert_commune(&self, commune: &Commune) -> Result<()> {
        places::upsert_commune(self, commune).await
    }

    async fn get_commune(&self, code: &str) -> Result<Option<Commune>> {
        places::get_commune(self, code).await
    }

    async fn list_communes(&self) -> Result<Vec<Commune>> {
        places::list_communes(self).await
    }

    async fn upsert_hamlet(&self, hamlet: &Hamlet) -> Result<()> {
        places::upsert_hamlet(self, hamlet).await
    }

    async fn list_hamlets(&self, commune_code: &str) -> Result<Vec<Hamlet>> {
        places::list_hamlets(self, commune_code).await
    }

    async fn member_names(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<MemberName>> {
        projections::member_names(self, commune_code, hamlet_id).await
    }

    async fn list_not_duplicates(&self, commune_code: &str) -> Result<Vec<(String, String)>> {
        roster::list_not_duplicates(self, commune_code).await
    }

    async fn mark_not_duplicates(
        &self,
        commune_code: &str,
        a: &str,
        b: &str,
        decided_by: &str,
        audit: &AuditEntry,
    ) -> Result<()> {
        roster::mark_not_duplicates(self, commune_code, a, b, decided_by, audit).await
    }

    async fn list_roster(&self, commune_code: &str) -> Result<Vec<RosterEntry>> {
        roster::list_roster(self, commune_code).await
    }

    async fn save_roster(&self, entries: &[RosterEntry], audit: &AuditEntry) -> Result<()> {
        roster::save_roster(self, entries, audit).await
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        people::create_user(self, user).await
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>> {
        people::get_user_by(self, people::UserKey::Username(username)).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        people::get_user_by(self, people::UserKey::Id(id)).await
    }

    async fn list_users(&self, commune_code: Option<&str>) -> Result<Vec<User>> {
        people::list_users(self, commune_code).await
    }

    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> Result<()> {
        people::set_password_hash(self, user_id, password_hash).await
    }

    async fn create_device(&self, device: &Device) -> Result<()> {
        people::create_device(self, device).await
    }

    async fn get_device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>> {
        people::get_device_by_token_hash(self, token_hash).await
    }

    async fn list_devices(&self, commune_code: &str) -> Result<Vec<Device>> {
        people::list_devices(self, commune_code).await
    }

    async fn revoke_device(&self, device_id: &str, at: Millis) -> Result<()> {
        people::revoke_device(self, device_id, at).await
    }

    async fn get_device(&self, device_id: &str) -> Result<Option<Device>> {
        people::get_device(self, device_id).await
    }

    async fn device_live(&self, device_id: &str) -> Result<bool> {
        people::device_live(self, device_id).await
    }

    async fn session_live(&self, token_hash: &str, user_id: &str, now: Millis) -> Result<bool> {
        people::session_live(self, token_hash, user_id, now).await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        access::create_session(self, session).await
    }

    async fn get_session(&self, token_hash: &str) -> Result<Option<Session>> {
        access::get_session(self, token_hash).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        access::delete_session(self, token_hash).await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64> {
        access::delete_user_sessions(self, user_id).await
    }

    async fn create_enrollment(&self, enrollment: &Enrollment) -> Result<()> {
        access::create_enrollment(self, enrollment).await
    }

    async fn redeem_enrollment(
        &self,
        code_hash: &str,
        now: Millis,
        device: &Device,
    ) -> Result<Redeemed> {
        access::redeem_enrollment(self, code_hash, now, device).await
    }

    async fn list_enrollments(&self, commune_code: &str) -> Result<Vec<Enrollment>> {
        access::list_enrollments(self, commune_code).await
    }

    async fn apply_document_update(&self, update: &DocumentUpdate) -> Result<Written> {
        documents::apply_document_update(self, update).await
    }

    fn instance_id(&self) -> &str {
        &self.instance
    }

    async fn register_instance(&self, rules: i32) -> Result<JobLock> {
        if self.backend == Backend::Sqlite {
            return Ok(JobLock::held(None));
        }
        let context = "registering this server";
        let mut connection = self.lock_connection(context).await?;
        // Which projection rules this server writes by, shared with every server of that
        // version: a newer one knows when the last older one is gone.
        sqlx::query("select pg_advisory_lock_shared($1, $2) is not null as taken")
            .bind(RULES_LOCK_CLASS)
            .bind(rules)
            .fetch_one(&mut connection)
            .await
            .map_err(query_err(context))?;
        let row = sqlx::query("select pg_try_advisory_lock($1, hashtext($2)) as taken")
            .bind(INSTANCE_LOCK_CLASS)
            .bind(&self.instance)
            .fetch_one(&mut connection)
            .await
            .map_err(query_err(context))?;
        let taken: bool = row.try_get("taken").map_err(query_err(context))?;
        if !taken {
            // Two instance ids with one hash: this server is counted as the other's twin.
            tracing::warn!(instance = %self.instance, "instance lock held already");
        }
        Ok(JobLock::held(Some(connection)))
    }

    async fn older_rules_running(&self, rules: i32) -> Result<bool> {
        if self.backend == Backend::Sqlite {
            return Ok(false);
        }
        let context = "looking for servers with older projection rules";
        Ok(self
            .advisory_holders(RULES_LOCK_CLASS, i64::from(rules), context)
            .await?
            > 0)
    }

    async fn count_instances(&self) -> Result<usize> {
        if self.backend == Backend::Sqlite {
            return Ok(1);
        }
        // Every instance lock: its second key is an oid, below 2^32.
        let n = self
            .advisory_holders(INSTANCE_LOCK_CLASS, i64::MAX, "counting the servers")
            .await?;
        Ok(usize::try_from(n).unwrap_or(1).max(1))
    }

    async fn throttle_attempt(
        &self,
        scope: &str,
        keys: &[&str],
        now: Millis,
        forget_after: Millis,
        wait: &(dyn Fn(i64) -> Millis + Sync),
    ) -> Result<Millis> {
        throttles::attempt(self, scope, keys, now, forget_after, wait).await
    }

    async fn throttle_forgive(&self, scope: &str, keys: &[&str]) -> Result<()> {
        throttles::forgive(self, scope, keys).await
    }

    async fn throttle_clear(&self, scope: &str, keys: &[&str], quiet_before: Millis) -> Result<()> {
        throttles::clear(self, scope, keys, quiet_before).await
    }

    async fn try_job(&self, name: &str) -> Result<Option<JobLock>> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(JobLock::held(None)));
        }
        let context = "taking a job's lock";
        let mut connection = self.lock_connection(context).await?;
        let row = sqlx::query("select pg_try_advisory_lock(hashtext($1)) as taken")
            .bind(format!("sansang-job:{name}"))
            .fetch_one(&mut connection)
            .await
            .map_err(query_err(context))?;
        let taken: bool = row.try_get("taken").map_err(query_err(context))?;
        Ok(taken.then(|| JobLock::held(Some(connection))))
    }

    async fn announce_ephemeral(&self, message: &[u8]) -> Result<()> {
        match self.backend {
            Backend::Sqlite => Ok(()),
            Backend::Postgres => {
                notices::announce_ephemeral(&self.pool, &self.instance, message).await
            }
        }
    }

    async fn notices(
        &self,
        probe: std::time::Duration,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => {
                notices::listen(&self.url, &self.instance, self.pool.clone(), probe)
                    .await
                    .map(Some)
            }
        }
    }

    async fn load_document(&self, document_id: &str) -> Result<Option<StoredDocument>> {
        documents::load_document(self, document_id, None).await
    }

    async fn load_document_after(
        &self,
        document_id: &str,
        seq: i64,
    ) -> Result<Option<StoredDocument>> {
        documents::load_document(self, document_id, Some(seq)).await
    }

    async fn compact_document(
        &self,
        document_id: &str,
        snapshot: &[u8],
        snapshot_heads: &[String],
        covers: i64,
    ) -> Result<bool> {
        documents::compact_document(self, document_id, snapshot, snapshot_heads, covers).await
    }

    async fn document_scope(&self, document_id: &str) -> Result<Option<DocumentScope>> {
        documents::document_scope(self, document_id).await
    }

    async fn set_quarantined(&self, document_id: &str, quarantined: bool) -> Result<()> {
        documents::set_quarantined(self, document_id, quarantined).await
    }

    async fn list_quarantined(&self, commune_code: Option<&str>) -> Result<Vec<Quarantined>> {
        documents::list_quarantined(self, commune_code).await
    }

    async fn list_document_ids(&self, commune_code: &str) -> Result<Vec<String>> {
        documents::list_document_ids(self, commune_code).await
    }

    async fn count_documents(&self) -> Result<i64> {
        documents::count_documents(self).await
    }

    async fn all_document_ids(&self) -> Result<Vec<String>> {
        documents::all_document_ids(self).await
    }

    async fn tombstone(&self, document_id: &str) -> Result<Option<Tombstone>> {
        documents::tombstone(self, document_id).await
    }

    async fn erase_document(&self, tombstone: &Tombstone) -> Result<Purged> {
        documents::erase_document(self, tombstone).await
    }

    async fn scrub(&self) -> Result<()> {
        documents::scrub(self).await
    }

    async fn retirable_photos(&self, approved_before: Millis) -> Result<Vec<String>> {
        retention::retirable_photos(self, approved_before).await
    }

    async fn retire_photo(&self, sha256: &str, at: Millis) -> Result<bool> {
        retention::retire_photo(self, sha256, at).await
    }

    async fn photo_retired(&self, sha256: &str) -> Result<Option<Millis>> {
        retention::photo_retired(self, sha256).await
    }

    async fn stale_quarantined(&self, updated_before: Millis) -> Result<Vec<String>> {
        retention::stale_quarantined(self, updated_before).await
    }

    async fn holdings(&self) -> Result<Holdings> {
        retention::holdings(self).await
    }

    async fn get_projection(&self, document_id: &str) -> Result<Option<Projection>> {
        projections::get_projection(self, document_id).await
    }

    async fn list_households(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<HouseholdSummary>> {
        projections::list_households(self, commune_code, hamlet_id).await
    }

    async fn record_photo(&self, photo: &PhotoRecord) -> Result<bool> {
        photos::record_photo(self, photo).await
    }

    async fn get_photo(&self, sha256: &str) -> Result<Option<PhotoRecord>> {
        photos::get_photo(self, sha256).await
    }

    async fn photo_documents(&self, sha256: &str) -> Result<Vec<(String, DocumentScope)>> {
        photos::photo_documents(self, sha256).await
    }

    async fn photo_uses(&self, commune_code: &str) -> Result<Vec<PhotoUse>> {
        photos::photo_uses(self, commune_code).await
    }

    async fn decide(&self, review: &Review) -> Result<DecideOutcome> {
        reviews::decide(self, review).await
    }

    async fn current_review(&self, document_id: &str) -> Result<Option<Review>> {
        reviews::current_review(self, document_id).await
    }

    async fn review_history(&self, document_id: &str) -> Result<Vec<Review>> {
        reviews::review_history(self, document_id).await
    }

    async fn reviewed_households(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<ReviewedHousehold>> {
        reviews::reviewed_households(self, commune_code, hamlet_id).await
    }

    async fn orphan_photos(&self, uploaded_before: Millis) -> Result<Vec<String>> {
        photos::orphan_photos(self, uploaded_before).await
    }

    async fn forget_orphan_photo(&self, sha256: &str) -> Result<bool> {
        photos::forget_orphan_photo(self, sha256).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        settings::get_setting(self, key).await
    }

    async fn add_index_snapshot(
        &self,
        commune_code: &str,
        view: &str,
        taken_at: Millis,
        report: &str,
    ) -> Result<()> {
        settings::add_index_snapshot(self, commune_code, view, taken_at, report).await
    }

    async fn index_snapshots(
        &self,
        commune_code: &str,
        view: &str,
    ) -> Result<Vec<(Millis, String)>> {
        settings::index_snapshots(self, commune_code, view).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        settings::put_setting(self, key, value).await
    }

    async fn commune_projections(&self, commune_code: &str) -> Result<Vec<StoredProjection>> {
        projections::commune_projections(self, commune_code).await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        settings::setting_or_insert(self, key, value).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64> {
        audit::append_audit(self, entry).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        audit::list_audit(self, filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_url;

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(sqlite_url("sqlite:/a/b.db"), "sqlite:/a/b.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite:///a/b.db"), "sqlite:///a/b.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite:b.db?cache=shared"),
            "sqlite:b.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite:b.db?mode=ro"), "sqlite:b.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }
}
