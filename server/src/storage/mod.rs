//! The database behind the server: one trait, one SQL implementation over SQLite and PostgreSQL.
//!
//! Handlers hold an `Arc<dyn Storage>`; the backend is picked by the URL scheme at start-up.

mod sql;

use async_trait::async_trait;
use sansang_shared::Projection;
use serde::{Deserialize, Serialize};

pub use sql::SqlStorage;

/// Errors from the database, with the stable code the HTTP layer shows.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique key is taken (a username, a commune code...).
    #[error("{what} already exists")]
    Conflict { what: String },
    /// A row the caller named is not there.
    #[error("{what} not found")]
    NotFound { what: String },
    /// Anything the database itself reported.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed while the storage was doing `context` (e.g. "inserting changes").
    #[error("database error while {context}: {source}")]
    Query {
        context: &'static str,
        source: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value that does not decode (a projection JSON, a role name...).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The document was erased; its id is not used again.
    #[error("document {id} was erased")]
    Erased { id: String },
    /// The database holds changes of the document that the writer's copy has not seen (another
    /// server wrote them): nothing was written. The writer catches up and tries again.
    #[error(
        "document {id} changed in the database since it was read (sequence {found}, not {expected})"
    )]
    Stale {
        id: String,
        expected: i64,
        found: i64,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, the one time format stored in every table.
pub type Millis = i64;

/// Which SQL database a [`SqlStorage`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Commune {
    /// 5-digit national code, text.
    pub code: String,
    pub name: String,
    pub province: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hamlet {
    pub commune_code: String,
    /// Code assigned by the commune.
    pub id: String,
    pub name: String,
    /// Households the admin expects in the hamlet (for survey coverage), if entered.
    pub expected_households: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    CommuneStaff,
    HamletHead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CommuneStaff => "commune-staff",
            Role::HamletHead => "hamlet-head",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "commune-staff" => Some(Role::CommuneStaff),
            "hamlet-head" => Some(Role::HamletHead),
            _ => None,
        }
    }
}

/// A person who signs in with a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// UUID string.
    pub id: String,
    /// Unique, NFC-normalised.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// `None` only for an admin of the whole installation.
    pub commune_code: Option<String>,
    /// Hamlets a hamlet head is responsible for (empty for other roles).
    pub hamlets: Vec<String>,
    /// PHC string of argon2id; never serialised.
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: Millis,
    pub disabled: bool,
}

/// A volunteer's enrolled phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// UUID string.
    pub id: String,
    /// Name of the volunteer who carries it.
    pub volunteer: String,
    pub commune_code: String,
    pub hamlets: Vec<String>,
    /// Hex sha256 of the bearer token; the token itself is never stored.
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A signed-in person's session; the bearer token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Hex sha256 of the session token.
    pub token_hash: String,
    pub user_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    /// Remote address at sign-in, for the audit trail.
    pub address: Option<String>,
}

/// A one-time code that lets a volunteer's phone enrol; stored as a hash, used at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// Hex sha256 of the normalised code.
    #[serde(skip)]
    pub code_hash: String,
    /// Name of the volunteer the phone will belong to.
    pub volunteer: String,
    pub commune_code: String,
    pub hamlets: Vec<String>,
    /// Who issued it.
    pub created_by: Actor,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    /// The device it was exchanged for, once used.
    pub device_id: Option<String>,
}

/// What happened to an enrollment code presented by a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was valid: it is now used and this device exists.
    Device(Device),
    Unknown,
    AlreadyUsed,
    Expired,
}

/// One Automerge change as stored: its hash (hex) and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    pub hash: String,
    pub bytes: Vec<u8>,
}

/// Everything needed to rebuild a document: the last compacted snapshot and the changes since.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredDocument {
    pub snapshot: Option<Vec<u8>>,
    /// Hex hashes of the snapshot's heads, sorted.
    pub snapshot_heads: Vec<String>,
    /// Changes not merged into the snapshot, in the order they were received.
    pub changes: Vec<StoredChange>,
    /// Where it belongs, as stored.
    pub scope: DocumentScope,
    /// The sequence number of the last change stored: snapshot and changes hold every change
    /// numbered up to it (read in one transaction).
    pub last_seq: i64,
    /// The sequence number the snapshot covers.
    pub snapshot_seq: i64,
}

/// What a document update wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// How many of its changes were new.
    pub inserted: usize,
    /// Where the document belongs now, read under the row's lock in the update's transaction.
    pub scope: DocumentScope,
    /// The document's sequence number after the update: its changes were numbered up to it.
    pub last_seq: i64,
    /// The sequence number its snapshot covers, as stored.
    pub snapshot_seq: i64,
    /// Whether the other servers over the database were told (PostgreSQL, new changes only).
    pub notified: bool,
}

/// What another server over the same database did, heard through it (PostgreSQL's
/// `LISTEN/NOTIFY`; the notice is sent inside the write's transaction, so only committed changes
/// are announced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Listening: at start, and again after the connection was lost (notices sent meanwhile were
    /// missed, so whatever is in memory may be behind).
    Listening,
    /// The listening connection is lost; notices are missed until the next `Listening`.
    Lost,
    /// Another server stored new changes of a document, `lag_ms` ago (by the clocks of both).
    Changed { document_id: String, lag_ms: i64 },
    /// An ephemeral message from a phone on another server (as the sync wire encodes it).
    Ephemeral { message: Vec<u8> },
}

/// A job of the installation (retention, the photo sweep, ...) held by this server: the other
/// servers over the database skip it while this is kept. On PostgreSQL a session advisory lock
/// on a connection of its own, released when this is released or dropped (the connection closes,
/// and PostgreSQL lets go of its locks, even when the server dies mid-job); nothing on SQLite,
/// which one server opens.
pub struct JobLock {
    connection: Option<sqlx::AnyConnection>,
}

impl JobLock {
    pub(crate) fn held(connection: Option<sqlx::AnyConnection>) -> Self {
        JobLock { connection }
    }

    /// Lets the other servers run the job.
    pub async fn release(mut self) {
        if let Some(connection) = self.connection.take() {
            use sqlx::Connection;
            if let Err(e) = connection.close().await {
                tracing::debug!(error = %e, "closing a job's lock connection");
            }
        }
    }
}

/// A member of a projected household as the duplicate check compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberName {
    pub document_id: String,
    pub hamlet_id: Option<String>,
    pub full_name: String,
    pub birth_year: i64,
}

/// A household of the commune's roster (its household list), with the document the server made
/// for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RosterEntry {
    pub commune_code: String,
    /// The commune's own code of the household.
    pub code: String,
    pub hamlet_id: String,
    pub address: String,
    /// The head of household's name, as the commune lists it.
    pub head_name: Option<String>,
    /// Members, as the commune lists them.
    pub members: Option<i64>,
    pub document_id: String,
    pub imported_at: Millis,
    pub updated_at: Millis,
}

/// What is left of an erased document: its id, and the document that replaced it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub document_id: String,
    pub replaced_by: Option<String>,
    pub erased_at: Millis,
}

/// What the database holds, for the retention report: counts and the oldest times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub households: i64,
    pub approved_households: i64,
    pub photos: i64,
    pub retired_photos: i64,
    pub quarantined: i64,
    pub oldest_quarantined: Option<Millis>,
    pub audit_entries: i64,
    pub oldest_audit: Option<Millis>,
    pub tombstones: i64,
}

/// What an erasure removed from the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub changes: u64,
    pub reviews: u64,
}

/// Where a document belongs; `None` fields until its content says so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentScope {
    pub commune_code: Option<String>,
    pub hamlet_id: Option<String>,
    /// Set aside for an admin: a phone sent it for a hamlet outside its own. Stored and synced
    /// back to that phone, but in no household list.
    pub quarantined: bool,
    /// Who sent a quarantined document (`device:<id>` or `user:<id>`): with the commune's
    /// admins, the only one who may sync it.
    pub quarantined_by: Option<String>,
}

/// A document set aside because a phone sent it for a hamlet outside its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quarantined {
    pub document_id: String,
    /// Where the document says it belongs.
    pub commune_code: Option<String>,
    pub hamlet_id: Option<String>,
    /// Who sent it: `device:<id>` or `user:<id>` (none for documents quarantined before this was
    /// recorded).
    pub quarantined_by: Option<String>,
    pub updated_at: Millis,
}

/// New changes of a document and, when the document could be read, its new projection: written
/// in one transaction so the projection never runs ahead of or behind the change log.
#[derive(Debug, Clone)]
pub struct DocumentUpdate {
    /// automerge-repo document id (bs58check string).
    pub document_id: String,
    pub scope: DocumentScope,
    pub changes: Vec<StoredChange>,
    /// The document's sequence number the writer's copy has seen (`last_seq` of its last read or
    /// write): when the database is past it, nothing is written and the update fails with
    /// [`StorageError::Stale`]. `None` writes whatever the database holds (tools, tests).
    pub expected_seq: Option<i64>,
    pub projection: Option<Projection>,
    /// The projection stored now, when the caller knows it: only the rows that differ from it
    /// are written. `None` rewrites every row.
    pub stored_projection: Option<Projection>,
    /// Audit lines written in the same transaction (so a change and its line are durable
    /// together, with one commit).
    pub audit: Vec<AuditEntry>,
}

/// One row of the household list (no personal data beyond the address).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdSummary {
    pub document_id: String,
    pub commune_code: Option<String>,
    pub hamlet_id: Option<String>,
    pub address: Option<String>,
    pub consent_given: bool,
    pub member_count: i64,
    pub finding_count: i64,
    pub error_count: i64,
    pub conflict_count: i64,
    pub updated_at: Millis,
}

/// A photo the server has taken in: sizes, perceptual hash, who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhotoRecord {
    /// Lowercase hex sha256 of the uploaded bytes.
    pub sha256: String,
    /// `jpeg`, `png` or `webp`: the format uploaded.
    pub format: String,
    /// Size of the upright original.
    pub width: i64,
    pub height: i64,
    /// Size of the evidence image kept.
    pub evidence_width: i64,
    pub evidence_height: i64,
    /// 64-bit perceptual hash (bits as a signed integer).
    pub phash: i64,
    pub uploaded_by: Actor,
    pub uploaded_at: Millis,
    pub original_kept: bool,
}

/// A recorded photo referenced by a household document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoUse {
    pub sha256: String,
    pub phash: i64,
    pub document_id: String,
    /// The using household's hamlet and whether it gave consent: a duplicate is named only to
    /// someone who may read that household, and only when its photos may be shown.
    pub hamlet_id: Option<String>,
    pub consent_given: bool,
}

/// A household's projection as stored, with where it belongs and when it last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProjection {
    pub document_id: String,
    pub hamlet_id: Option<String>,
    pub updated_at: Millis,
    pub projection: Projection,
}

/// A hamlet head's decision on a household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Approved,
    /// Not a real household, or not one of this hamlet; needs a reason.
    Rejected,
    /// The volunteer must fix something; needs a comment saying what.
    CorrectionRequested,
}

impl Decision {
    pub const ALL: [Decision; 3] = [
        Decision::Approved,
        Decision::Rejected,
        Decision::CorrectionRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
            Decision::CorrectionRequested => "correction-requested",
        }
    }

    pub fn parse(text: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// One decision on a household, pinned to the document heads it was made on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub document_id: String,
    /// 1 for a household's first decision, then 2, 3…
    pub version: i64,
    pub decision: Decision,
    /// The reason of a rejection or what to correct; none for an approval.
    pub comment: Option<String>,
    /// Sorted hex change hashes of the document when the decision was made.
    pub heads: Vec<String>,
    /// The user id of the hamlet head (or admin) who decided.
    pub decided_by: String,
    pub decided_at: Millis,
}

/// What became of a decision offered to [`Storage::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    Decided(Review),
    /// The document has other heads now than those the decision was made on.
    DocumentChanged {
        current_heads: Vec<String>,
    },
    /// Another decision was recorded after the one the decider saw; here it is.
    DecidedMeanwhile(Option<Review>),
    /// No projected household has this id.
    NoHousehold,
}

/// A household's latest decision, with the heads the household has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedHousehold {
    pub review: Review,
    pub current_heads: Vec<String>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Actor {
    User(String),
    Device(String),
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Assigned by the database; 0 on entries not yet written.
    pub id: i64,
    pub at: Millis,
    pub actor: Actor,
    /// e.g. `household.read`, `document.change`, `user.create`.
    pub action: String,
    pub document_id: Option<String>,
    /// Remote address, when the action came over the network.
    pub address: Option<String>,
    /// Free text for what the other fields do not say (never a secret).
    pub detail: Option<String>,
    /// The commune the entry belongs to (the actor's, or the household's); `None` for the
    /// installation's own entries, which only an installation admin reads.
    pub commune_code: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries of this commune; `None` reads every commune (installation admins only).
    pub commune_code: Option<String>,
    pub actor: Option<Actor>,
    pub document_id: Option<String>,
    /// Inclusive.
    pub since: Option<Millis>,
    /// Inclusive.
    pub until: Option<Millis>,
    /// At most this many entries; 0 or less means 100.
    pub limit: i64,
}

/// The database, as every part of the server sees it.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// This server's name among the servers over one database (random, new at each start).
    fn instance_id(&self) -> &str;

    // Back-off (`auth::throttle`), shared by every server over the database.
    /// Counts an attempt on every key of `keys` in `scope`, all or none, atomically however many
    /// servers count at once: when a key must still wait at `now` (`wait` gives the wait after a
    /// number of failures, from the last one; a key quiet for `forget_after` starts from zero)
    /// nothing is counted and the longest wait is returned; 0 when counted.
    async fn throttle_attempt(
        &self,
        scope: &str,
        keys: &[&str],
        now: Millis,
        forget_after: Millis,
        wait: &(dyn Fn(i64) -> Millis + Sync),
    ) -> Result<Millis>;
    /// Takes back one counted attempt on each key (it turned out right, or was never checked).
    async fn throttle_forgive(&self, scope: &str, keys: &[&str]) -> Result<()>;
    /// Forgets `keys`, and every key quiet since `quiet_before`.
    async fn throttle_clear(&self, scope: &str, keys: &[&str], quiet_before: Millis) -> Result<()>;

    /// Counts this server among those serving the database for as long as the returned lock is
    /// kept (on PostgreSQL an advisory lock on a connection of its own: a server that dies is no
    /// longer counted the moment its connection goes).
    /// `rules` is the version of the projection rules this server writes by.
    async fn register_instance(&self, rules: i32) -> Result<JobLock>;
    /// Whether a server writing projections by rules older than `rules` serves the database now
    /// (one registered by [`Storage::register_instance`]; false on SQLite).
    async fn older_rules_running(&self, rules: i32) -> Result<bool>;
    /// How many servers serve the database now, this one included (1 on SQLite, which one
    /// server opens).
    async fn count_instances(&self) -> Result<usize>;

    /// Takes job `name` for this server, or `None` when another server over the database runs
    /// it now.
    async fn try_job(&self, name: &str) -> Result<Option<JobLock>>;

    /// Hands an ephemeral message (wire bytes) to the phones on the other servers; nothing on
    /// SQLite, or for a message over a few kilobytes.
    async fn announce_ephemeral(&self, message: &[u8]) -> Result<()>;

    /// Notices of what other servers over the database write, for as long as the receiver is
    /// kept; `None` on SQLite, which only one server opens. The listening connection is probed
    /// every `probe`, and replaced (`Lost`, then `Listening`) when a probe does not come back.
    async fn notices(
        &self,
        probe: std::time::Duration,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>>;

    /// Cheap round trip, for `/healthz`.
    async fn ping(&self) -> Result<()>;

    /// Flushes and closes connections (graceful shutdown).
    async fn close(&self);

    // Communes and hamlets.
    /// Inserts or updates (by code).
    async fn upsert_commune(&self, commune: &Commune) -> Result<()>;
    async fn get_commune(&self, code: &str) -> Result<Option<Commune>>;
    async fn list_communes(&self) -> Result<Vec<Commune>>;
    /// Inserts or updates (by commune code and id).
    async fn upsert_hamlet(&self, hamlet: &Hamlet) -> Result<()>;
    /// Sorted by id.
    async fn list_hamlets(&self, commune_code: &str) -> Result<Vec<Hamlet>>;

    /// The members with a name and a birth year of the commune's households (of one hamlet
    /// with `hamlet_id`), quarantined ones left out: what the duplicate check compares.
    async fn member_names(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<MemberName>>;
    /// Pairs of households (smaller id first) decided not to be the same one, of a commune.
    async fn list_not_duplicates(&self, commune_code: &str) -> Result<Vec<(String, String)>>;
    /// Records that households `a` and `b` of `commune_code` are not the same one (again is
    /// nothing new), with `audit`, in one transaction.
    async fn mark_not_duplicates(
        &self,
        commune_code: &str,
        a: &str,
        b: &str,
        decided_by: &str,
        audit: &AuditEntry,
    ) -> Result<()>;
    /// The commune's roster, sorted by hamlet then code.
    async fn list_roster(&self, commune_code: &str) -> Result<Vec<RosterEntry>>;
    /// Inserts or updates (by commune and code) every entry in one transaction, with `audit`.
    async fn save_roster(&self, entries: &[RosterEntry], audit: &AuditEntry) -> Result<()>;

    // People and phones.
    /// `Conflict` when the username or id is taken. Writes the user and their hamlets atomically.
    async fn create_user(&self, user: &User) -> Result<()>;
    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn get_user(&self, id: &str) -> Result<Option<User>>;
    /// Sorted by username; all communes when `None`.
    async fn list_users(&self, commune_code: Option<&str>) -> Result<Vec<User>>;
    /// `NotFound` when there is no such user.
    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> Result<()>;
    async fn create_device(&self, device: &Device) -> Result<()>;
    async fn get_device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>>;
    /// Sorted by creation time.
    async fn list_devices(&self, commune_code: &str) -> Result<Vec<Device>>;
    /// Sets `revoked_at` once; `NotFound` when there is no such device.
    async fn revoke_device(&self, device_id: &str, at: Millis) -> Result<()>;
    async fn get_device(&self, device_id: &str) -> Result<Option<Device>>;
    /// Whether the device exists and is not revoked: one indexed read, for the check a sync
    /// socket makes before every message.
    async fn device_live(&self, device_id: &str) -> Result<bool>;
    /// Whether the session with this token hash belongs to `user_id`, has not expired at `now`
    /// and its person is not disabled: one read, for the same check.
    async fn session_live(&self, token_hash: &str, user_id: &str, now: Millis) -> Result<bool>;

    // Sessions of people signed in.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The session with this token hash, expired or not (the caller checks `expires_at`).
    async fn get_session(&self, token_hash: &str) -> Result<Option<Session>>;
    /// Ok whether or not it existed.
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Signs a person out everywhere (password change or reset); returns how many sessions ended.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64>;

    // Phone enrollment.
    /// `Conflict` if the code hash exists (a collision: the caller draws a new code).
    async fn create_enrollment(&self, enrollment: &Enrollment) -> Result<()>;
    /// In one transaction: when the code exists, is unused and `now < expires_at`, marks it used
    /// by `device.id` and creates `device` with the enrollment's volunteer, commune and hamlets
    /// (the fields of `device` for those are ignored); otherwise says why not. Two phones racing
    /// with one code: exactly one gets the device.
    async fn redeem_enrollment(
        &self,
        code_hash: &str,
        now: Millis,
        device: &Device,
    ) -> Result<Redeemed>;
    /// Newest first.
    async fn list_enrollments(&self, commune_code: &str) -> Result<Vec<Enrollment>>;

    // Documents.
    /// Appends the changes not yet stored (idempotent by hash) and replaces the projection, in
    /// one transaction. Returns how many changes were new and the scope stored. A `None` scope
    /// field keeps the stored value; a `None` projection keeps the stored projection.
    async fn apply_document_update(&self, update: &DocumentUpdate) -> Result<Written>;
    /// `None` when the document was never stored. Snapshot, changes and sequence numbers are
    /// read in one transaction.
    async fn load_document(&self, document_id: &str) -> Result<Option<StoredDocument>>;
    /// What a copy that holds every change up to sequence `seq` lacks, read in one transaction:
    /// the changes numbered after `seq`, and the snapshot when it covers more than `seq` (the
    /// changes it holds are deleted). `None` when the document is not stored.
    async fn load_document_after(
        &self,
        document_id: &str,
        seq: i64,
    ) -> Result<Option<StoredDocument>>;
    /// Replaces the snapshot with one covering every change up to sequence `covers` and deletes
    /// those changes, in one transaction, but only while the document's `last_seq` is still
    /// `covers` (no server wrote since the copy the snapshot was made from) and its snapshot
    /// covers less: false, and nothing written, otherwise.
    async fn compact_document(
        &self,
        document_id: &str,
        snapshot: &[u8],
        snapshot_heads: &[String],
        covers: i64,
    ) -> Result<bool>;
    async fn document_scope(&self, document_id: &str) -> Result<Option<DocumentScope>>;
    /// Sets or clears the quarantine flag (clearing forgets who sent it); `NotFound` when the
    /// document was never stored. `apply_document_update` only ever sets the flag.
    async fn set_quarantined(&self, document_id: &str, quarantined: bool) -> Result<()>;
    /// The quarantined documents of a commune (every commune's with `None`), oldest change
    /// first.
    async fn list_quarantined(&self, commune_code: Option<&str>) -> Result<Vec<Quarantined>>;
    /// Every stored document id of a commune, sorted.
    async fn list_document_ids(&self, commune_code: &str) -> Result<Vec<String>>;
    async fn count_documents(&self) -> Result<i64>;
    /// Every stored document's id, sorted.
    async fn all_document_ids(&self) -> Result<Vec<String>>;
    /// The tombstone of an erased document, if it was erased.
    async fn tombstone(&self, document_id: &str) -> Result<Option<Tombstone>>;
    /// In one transaction: leaves a tombstone for `document_id` and deletes the document with
    /// its changes, snapshot, projection, photo references and reviews.
    async fn erase_document(&self, tombstone: &Tombstone) -> Result<Purged>;
    /// Photos whose every household is approved, unchanged since, and was approved at or
    /// before `approved_before`, not retired yet: due for removal by the retention rule.
    async fn retirable_photos(&self, approved_before: Millis) -> Result<Vec<String>>;
    /// Marks a photo retired (its objects removed by retention); false when it already was.
    async fn retire_photo(&self, sha256: &str, at: Millis) -> Result<bool>;
    /// When the photo was retired, if it was.
    async fn photo_retired(&self, sha256: &str) -> Result<Option<Millis>>;
    /// Quarantined documents not changed since `updated_before`.
    async fn stale_quarantined(&self, updated_before: Millis) -> Result<Vec<String>>;
    /// What is held, for the retention report.
    async fn holdings(&self) -> Result<Holdings>;
    /// Makes deleted rows unreadable in the database's files: SQLite deletes securely and here
    /// empties its write-ahead log; PostgreSQL rewrites the tables that held the document.
    async fn scrub(&self) -> Result<()>;

    // Projections.
    async fn get_projection(&self, document_id: &str) -> Result<Option<Projection>>;
    /// Sorted by hamlet then address; one hamlet or the whole commune; quarantined documents
    /// are left out.
    async fn list_households(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<HouseholdSummary>>;

    // Photos.
    /// Records an uploaded photo; returns false (and keeps the first record) when it exists.
    async fn record_photo(&self, photo: &PhotoRecord) -> Result<bool>;
    async fn get_photo(&self, sha256: &str) -> Result<Option<PhotoRecord>>;
    /// The documents whose projection references the photo, with where each belongs.
    async fn photo_documents(&self, sha256: &str) -> Result<Vec<(String, DocumentScope)>>;
    /// Every recorded photo referenced by a document of the commune, with that document (a photo
    /// in two documents comes twice), for finding near-duplicates.
    async fn photo_uses(&self, commune_code: &str) -> Result<Vec<PhotoUse>>;
    /// Recorded photos that no document references and that were uploaded before
    /// `uploaded_before`, oldest first: candidates for removal once their grace period is over.
    async fn orphan_photos(&self, uploaded_before: Millis) -> Result<Vec<String>>;
    /// Forgets a photo's record, but only while no document references it (checked in the same
    /// statement); true when it was forgotten.
    async fn forget_orphan_photo(&self, sha256: &str) -> Result<bool>;

    // Reviews.
    /// Records `review` as decision number `review.version` of its household, in one
    /// transaction, only if the household's heads are still `review.heads` and its latest
    /// decision is number `review.version - 1` (0: none yet). Of two deciders offering the same
    /// version, exactly one wins.
    async fn decide(&self, review: &Review) -> Result<DecideOutcome>;
    /// The latest decision on a household.
    async fn current_review(&self, document_id: &str) -> Result<Option<Review>>;
    /// Every decision on a household, oldest first.
    async fn review_history(&self, document_id: &str) -> Result<Vec<Review>>;
    /// The latest decision of each reviewed, not quarantined household of a commune (or of one
    /// hamlet), with the heads each has now.
    async fn reviewed_households(
        &self,
        commune_code: &str,
        hamlet_id: Option<&str>,
    ) -> Result<Vec<ReviewedHousehold>>;

    // Settings of the installation.
    /// The value stored under `key`, storing `value` first when there is none (atomically: two
    /// callers racing get the same answer).
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// The value under `key`, if any.
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    /// Keeps the indices of a commune as they stand (a JSON report) for the dashboard's
    /// progress over time: one a day (in Vietnam) per commune and view, the first one taken.
    async fn add_index_snapshot(
        &self,
        commune_code: &str,
        view: &str,
        taken_at: Millis,
        report: &str,
    ) -> Result<()>;
    /// A commune's snapshots in one view, oldest first: (taken at, report JSON).
    async fn index_snapshots(
        &self,
        commune_code: &str,
        view: &str,
    ) -> Result<Vec<(Millis, String)>>;
    /// Stores `value` under `key`, replacing what was there.
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;
    /// Every projected, not quarantined household of a commune: its id, its hamlet and its
    /// projection, for the indices.
    async fn commune_projections(&self, commune_code: &str) -> Result<Vec<StoredProjection>>;

    // Audit log (append-only).
    /// Returns the id given to the entry.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}
