//! `sansang admin backup` and `sansang admin restore`: one archive (a tar file) holding the
//! database and every photo it references, written while the server runs.
//!
//! Consistency: the database is copied first, in one read snapshot (SQLite's `VACUUM INTO`, a
//! repeatable-read transaction on PostgreSQL), then the photos that snapshot records are read
//! from the store. A photo is stored before its row is written and never changed afterwards, so
//! every photo the copied database knows of can be read; photos uploaded after the snapshot are
//! left for the next backup.
//!
//! The archive holds `sansang-backup.json` (the manifest: backend, schema version, rows per
//! table, each photo object with the sha256 of its bytes), the database (`database.sqlite`, or
//! `tables/<table>.jsonl` with one JSON row a line for PostgreSQL) and `photos/<object name>`.
//! It is written to `<out>.partial` and renamed when complete, so a backup that fails leaves
//! nothing that looks whole. A restore goes into an empty database and photo store of the same
//! backend kind, checks every photo's hash and every table's row count against the manifest, and
//! loads every document before it says it is done.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, Row};

use crate::config::Config;
use crate::documents::{DocumentId, DocumentService};
use crate::metrics::Metrics;
use crate::photos::{self, PhotoKey, Sha256Hex};
use crate::storage::{Backend, SqlStorage, Storage};

/// The archive layout this code writes and reads.
pub const FORMAT: u32 = 1;
const MANIFEST: &str = "sansang-backup.json";
const SQLITE_FILE: &str = "database.sqlite";

/// Every table, parents before children: the order rows are restored in. A test checks that it
/// names every table the migrations create.
pub const TABLES: [&str; 27] = [
    "communes",
    "hamlets",
    "users",
    "user_hamlets",
    "devices",
    "device_hamlets",
    "enrollments",
    "enrollment_hamlets",
    "sessions",
    "documents",
    "changes",
    "households",
    "members",
    "findings",
    "conflicts",
    "audit_log",
    "settings",
    "photos",
    "photo_refs",
    "review_history",
    "reviews",
    "index_snapshots",
    "tombstones",
    "retired_photos",
    "roster",
    "not_duplicates",
    // Transient, kept for completeness: restored back-off counts are long quiet and forgotten.
    "throttles",
];

/// What an archive holds; written last, read first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    /// "sqlite" or "postgres": a restore needs a database of the same kind.
    pub backend: String,
    /// Milliseconds since the epoch when the database snapshot was taken.
    pub created_at: i64,
    /// The last migration applied to the copied database.
    pub schema_version: i64,
    /// Rows of each table in the snapshot.
    pub tables: BTreeMap<String, u64>,
    pub photos: Vec<PhotoEntry>,
    /// Photos the database records but the store no longer held when the backup ran.
    pub missing_photos: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PhotoEntry {
    /// The object's name in the store, e.g. `evidence/ab/ab12…`.
    pub object: String,
    /// sha256 of the object's bytes (hex).
    pub sha256: String,
    pub bytes: u64,
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The file a `sqlite:` URL names (`sqlite://data/x.db`, `sqlite:///abs/x.db`, `sqlite:x.db`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// A folder removed when dropped (staging for the archive's parts).
struct Staging(PathBuf);

impl Staging {
    fn new(beside: &Path, label: &str) -> anyhow::Result<Staging> {
        let parent = beside
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = beside
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = parent.join(format!(".{name}.{label}-{}", uuid::Uuid::new_v4().simple()));
        crate::private::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes a backup of the configured database and photo store to `out` (a tar file), which
/// must not exist yet. Progress goes to stderr.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<Manifest> {
    if out.exists() {
        bail!("{} already exists; name a new file", out.display());
    }
    let storage = SqlStorage::connect(config.database_url().expose())
        .await
        .with_context(|| format!("opening database {}", config.database_display()))?;
    let store = photos::open(&config.photo_store())
        .await
        .with_context(|| format!("opening photo store {}", config.photo_store()))?;
    let staging = Staging::new(out, "backup")?;
    let backend = storage.backend();
    eprintln!("backup: copying the database ({})…", backend_name(backend));
    let created_at = now_ms();
    let (tables, photo_shas, schema_version) = match backend {
        Backend::Sqlite => copy_sqlite(&storage, &staging.0.join(SQLITE_FILE)).await?,
        Backend::Postgres => dump_postgres(&storage, &staging.0.join("tables")).await?,
    };
    storage.pool().close().await;

    // The photos the snapshot records, every variant the store holds of them.
    let keys: Vec<PhotoKey> = store
        .list()
        .await
        .context("listing the photo store")?
        .into_iter()
        .filter(|k| photo_shas.contains(k.sha256.as_str()))
        .collect();
    let mut present = BTreeSet::new();
    let mut entries = Vec::with_capacity(keys.len());
    let photos_dir = staging.0.join("photos");
    for (n, key) in keys.iter().enumerate() {
        let Some(bytes) = store
            .get(key)
            .await
            .with_context(|| format!("reading photo {key}"))?
        else {
            continue; // Removed since it was listed (an orphan swept meanwhile).
        };
        let object = key.object_name();
        let path = photos_dir.join(&object);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        entries.push(PhotoEntry {
            object,
            sha256: Sha256Hex::of(&bytes).as_str().to_owned(),
            bytes: bytes.len() as u64,
        });
        present.insert(key.sha256.as_str().to_owned());
        if (n + 1) % 100 == 0 || n + 1 == keys.len() {
            eprint!("\rbackup: photos {}/{}", n + 1, keys.len());
        }
    }
    if !keys.is_empty() {
        eprintln!();
    }
    let missing_photos: Vec<String> = photo_shas.difference(&present).cloned().collect();
    if !missing_photos.is_empty() {
        eprintln!(
            "backup: warning: {} photo(s) recorded in the database are not in the store, e.g. {}",
            missing_photos.len(),
            missing_photos[0]
        );
    }
    let manifest = Manifest {
        format: FORMAT,
        backend: backend_name(backend).to_owned(),
        created_at,
        schema_version,
        tables,
        photos: entries,
        missing_photos,
    };
    std::fs::write(
        staging.0.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest).context("writing the manifest")?,
    )
    .context("writing the manifest")?;

    eprintln!("backup: writing {}…", out.display());
    let partial = out.with_extension("partial");
    let (dir, partial_path) = (staging.0.clone(), partial.clone());
    tokio::task::spawn_blocking(move || write_tar(&dir, &partial_path))
        .await
        .context("the archive writer stopped")??;
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    Ok(manifest)
}

/// Packs the staging folder into a tar file, synced to disk.
fn write_tar(dir: &Path, path: &Path) -> anyhow::Result<()> {
    let file =
        crate::private::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut builder = tar::Builder::new(BufWriter::new(file));
    builder.mode(tar::HeaderMode::Deterministic);
    // The manifest first, so `tar -xOf backup.tar sansang-backup.json` finds it at once.
    builder
        .append_path_with_name(dir.join(MANIFEST), MANIFEST)
        .context("archiving the manifest")?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == MANIFEST {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            builder
                .append_dir_all(&name, &path)
                .with_context(|| format!("archiving {}", path.display()))?;
        } else {
            builder
                .append_path_with_name(&path, &name)
                .with_context(|| format!("archiving {}", path.display()))?;
        }
    }
    let writer = builder.into_inner().context("finishing the archive")?;
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the archive")?;
    file.sync_all().context("syncing the archive to disk")?;
    Ok(())
}

type Snapshot = (BTreeMap<String, u64>, BTreeSet<String>, i64);

/// SQLite: `VACUUM INTO` writes a consistent copy while writers go on; rows are counted and
/// photo hashes read from the copy.
async fn copy_sqlite(storage: &SqlStorage, to: &Path) -> anyhow::Result<Snapshot> {
    let target = to.display().to_string();
    sqlx::query("vacuum into $1")
        .bind(&target)
        .execute(storage.pool())
        .await
        .context("copying the SQLite database (vacuum into)")?;
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{target}?mode=ro"))
        .await
        .with_context(|| format!("opening the copy {target}"))?;
    let mut tables = BTreeMap::new();
    for table in TABLES {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("counting {table}"))?
            .try_get(0)?;
        tables.insert(table.to_owned(), n as u64);
    }
    let shas = sqlx::query("select sha256 from photos")
        .fetch_all(&mut conn)
        .await
        .context("reading the photos of the copy")?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let version: i64 = sqlx::query("select coalesce(max(version), 0) from _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .context("reading the schema version")?
        .try_get(0)?;
    conn.close().await?;
    Ok((tables, shas, version))
}

/// PostgreSQL: every table as JSON lines, all read in one repeatable-read transaction.
async fn dump_postgres(storage: &SqlStorage, dir: &Path) -> anyhow::Result<Snapshot> {
    crate::private::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tx = storage
        .pool()
        .begin()
        .await
        .context("starting the snapshot")?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await
        .context("starting the snapshot")?;
    let mut tables = BTreeMap::new();
    let mut shas = BTreeSet::new();
    for table in TABLES {
        let path = dir.join(format!("{table}.jsonl"));
        let mut file = BufWriter::new(
            crate::private::create(&path)
                .with_context(|| format!("creating {}", path.display()))?,
        );
        let mut n = 0u64;
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select row_to_json(t)::text from {table} t"
        )))
        .fetch(&mut *tx);
        use futures_util::TryStreamExt;
        while let Some(row) = rows
            .try_next()
            .await
            .with_context(|| format!("reading {table}"))?
        {
            let line: String = row.try_get(0)?;
            if table == "photos" {
                let value: serde_json::Value = serde_json::from_str(&line)?;
                if let Some(sha) = value["sha256"].as_str() {
                    shas.insert(sha.to_owned());
                }
            }
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
            n += 1;
        }
        drop(rows);
        file.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        tables.insert(table.to_owned(), n);
        eprint!("\rbackup: {table}: {n} rows          ");
    }
    eprintln!();
    let version: i64 = sqlx::query("select coalesce(max(version), 0) from _sqlx_migrations")
        .fetch_one(&mut *tx)
        .await
        .context("reading the schema version")?
        .try_get(0)?;
    tx.commit().await.context("ending the snapshot")?;
    Ok((tables, shas, version))
}

/// What a restore brought back.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// Documents loaded whole from the restored database.
    pub documents: usize,
}

/// Restores the archive at `from` into the configured database and photo store, which must be
/// empty. Fails before writing anything when the archive is damaged or of the other backend.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<Restored> {
    crate::private::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let staging = Staging::new(&config.data_dir.join("restore"), "restore")?;
    eprintln!("restore: unpacking {}…", from.display());
    let (archive, dir) = (from.to_owned(), staging.0.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let file = std::fs::File::open(&archive)
            .with_context(|| format!("opening {}", archive.display()))?;
        tar::Archive::new(file)
            .unpack(&dir)
            .with_context(|| format!("unpacking {}", archive.display()))
    })
    .await
    .context("the unpacker stopped")??;
    let text = std::fs::read(staging.0.join(MANIFEST)).with_context(|| {
        format!(
            "{} holds no {MANIFEST}: not a sansang backup",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("reading {MANIFEST} of {}", from.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{} is a backup of format {}; this sansang reads format {FORMAT}",
            from.display(),
            manifest.format
        );
    }
    // Every photo is checked before anything is written.
    for photo in &manifest.photos {
        let path = staging.0.join("photos").join(&photo.object);
        let bytes =
            std::fs::read(&path).with_context(|| format!("the archive lacks {}", photo.object))?;
        if Sha256Hex::of(&bytes).as_str() != photo.sha256 {
            bail!(
                "the archive is damaged: {} does not have the sha256 the manifest records",
                photo.object
            );
        }
        PhotoKey::from_object_name(&photo.object)
            .with_context(|| format!("{} is not a photo object name", photo.object))?;
    }

    let url = config.database_url();
    let url = url.expose();
    let kind = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    if kind != manifest.backend {
        bail!(
            "this is a backup of a {} database, but the configured database ({}) is {kind}",
            manifest.backend,
            config.database_display()
        );
    }
    let storage = if kind == "sqlite" {
        let path = sqlite_path(url).context("the configured SQLite URL names no file")?;
        if path.exists() {
            bail!(
                "{} already exists: a restore goes into an empty place (move it away first)",
                path.display()
            );
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let partial = path.with_extension("restoring");
        std::fs::copy(staging.0.join(SQLITE_FILE), &partial)
            .with_context(|| format!("copying the database to {}", partial.display()))?;
        crate::private::restrict(&partial)
            .and_then(|()| std::fs::File::open(&partial))
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        SqlStorage::connect(url)
            .await
            .with_context(|| format!("opening database {}", config.database_display()))?
    } else {
        let storage = SqlStorage::connect(url)
            .await
            .with_context(|| format!("opening database {}", config.database_display()))?;
        load_postgres(&storage, &staging.0.join("tables"), &manifest).await?;
        storage
    };
    // Row counts as the manifest says (SQLite's copy too: the file could be another one).
    for (table, want) in &manifest.tables {
        if !TABLES.contains(&table.as_str()) {
            continue;
        }
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(storage.pool())
            .await
            .with_context(|| format!("counting {table}"))?
            .try_get(0)?;
        if n as u64 != *want {
            bail!("restored {table} holds {n} rows; the backup had {want}");
        }
    }

    let store = photos::open(&config.photo_store())
        .await
        .with_context(|| format!("opening photo store {}", config.photo_store()))?;
    for (n, photo) in manifest.photos.iter().enumerate() {
        let key = PhotoKey::from_object_name(&photo.object)
            .with_context(|| format!("{} is not a photo object name", photo.object))?;
        let bytes = std::fs::read(staging.0.join("photos").join(&photo.object))
            .with_context(|| format!("reading {}", photo.object))?;
        store
            .put(&key, bytes)
            .await
            .with_context(|| format!("storing photo {}", photo.object))?;
        if (n + 1) % 100 == 0 || n + 1 == manifest.photos.len() {
            eprint!("\rrestore: photos {}/{}", n + 1, manifest.photos.len());
        }
    }
    if !manifest.photos.is_empty() {
        eprintln!();
    }

    // Every document loads whole from what was restored.
    let ids: Vec<String> = sqlx::query("select id from documents order by id")
        .fetch_all(storage.pool())
        .await
        .context("listing documents")?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    let storage: Arc<SqlStorage> = Arc::new(storage);
    let documents = DocumentService::new(
        storage.clone() as Arc<dyn Storage>,
        Arc::new(Metrics::default()),
        config.compact_after_changes,
        16,
    );
    for (n, id) in ids.iter().enumerate() {
        let doc_id = DocumentId::parse(id).with_context(|| format!("document id {id}"))?;
        documents
            .load(&doc_id)
            .await
            .with_context(|| format!("loading restored document {id}"))?
            .with_context(|| format!("restored document {id} is empty"))?;
        if (n + 1) % 1000 == 0 || n + 1 == ids.len() {
            eprint!("\rrestore: documents checked {}/{}", n + 1, ids.len());
        }
    }
    if !ids.is_empty() {
        eprintln!();
    }
    storage.pool().close().await;
    Ok(Restored {
        manifest,
        documents: ids.len(),
    })
}

/// Rows of every table into an empty, migrated PostgreSQL database, in one transaction.
async fn load_postgres(
    storage: &SqlStorage,
    dir: &Path,
    manifest: &Manifest,
) -> anyhow::Result<()> {
    let version: i64 = sqlx::query("select coalesce(max(version), 0) from _sqlx_migrations")
        .fetch_one(storage.pool())
        .await
        .context("reading the schema version")?
        .try_get(0)?;
    if version != manifest.schema_version {
        bail!(
            "the backup's schema is version {}, this database's is {version}: restore with the \
             sansang that wrote the backup, then upgrade",
            manifest.schema_version
        );
    }
    for table in ["communes", "users", "documents", "devices"] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(storage.pool())
            .await
            .with_context(|| format!("counting {table}"))?
            .try_get(0)?;
        if n > 0 {
            bail!(
                "the configured database already holds {n} row(s) in {table}: a restore goes \
                 into an empty database"
            );
        }
    }
    let mut tx = storage
        .pool()
        .begin()
        .await
        .context("starting the restore")?;
    // What migrations wrote (e.g. a default setting) gives way to the backup's rows.
    sqlx::query("delete from settings")
        .execute(&mut *tx)
        .await
        .context("clearing settings")?;
    for table in TABLES {
        let path = dir.join(format!("{table}.jsonl"));
        let file =
            std::fs::File::open(&path).with_context(|| format!("the archive lacks {table}"))?;
        let overriding = if table == "audit_log" {
            " overriding system value"
        } else {
            ""
        };
        let insert = format!(
            "insert into {table}{overriding} select * from json_populate_recordset(null::{table}, $1::json)"
        );
        let mut batch: Vec<String> = Vec::with_capacity(500);
        let mut n = 0usize;
        let mut lines = BufReader::new(file).lines();
        loop {
            let line = lines
                .next()
                .transpose()
                .with_context(|| format!("reading {table}"))?;
            let flush = line.is_none() || batch.len() >= 500;
            if flush && !batch.is_empty() {
                let json = format!("[{}]", batch.join(","));
                sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                    .bind(json)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("restoring {table}"))?;
                n += batch.len();
                batch.clear();
                eprint!("\rrestore: {table}: {n} rows          ");
            }
            match line {
                Some(l) if !l.trim().is_empty() => batch.push(l),
                Some(_) => {}
                None => break,
            }
        }
    }
    eprintln!();
    sqlx::query(
        "select setval(pg_get_serial_sequence('audit_log', 'id'), \
         coalesce((select max(id) from audit_log), 0) + 1, false)",
    )
    .execute(&mut *tx)
    .await
    .context("moving the audit log's numbering past the restored entries")?;
    tx.commit().await.context("committing the restore")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_from_urls() {
        assert_eq!(
            sqlite_path("sqlite:///srv/data/sansang.db?mode=rwc"),
            Some(PathBuf::from("/srv/data/sansang.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://data/sansang.db"),
            Some(PathBuf::from("data/sansang.db"))
        );
        assert_eq!(sqlite_path("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn every_migrated_table_is_backed_up() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        for backend in ["sqlite", "postgres"] {
            let mut created = BTreeSet::new();
            for entry in std::fs::read_dir(format!("{dir}/{backend}")).expect("migrations") {
                let text = std::fs::read_to_string(entry.expect("entry").path()).expect("sql");
                for line in text.lines() {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    if words.len() >= 3 && words[0] == "create" && words[1] == "table" {
                        created.insert(words[2].trim_matches('(').to_owned());
                    }
                }
            }
            let listed: BTreeSet<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
            assert_eq!(created, listed, "{backend}: TABLES must list every table");
        }
    }
}
