//! Configuration in layers: defaults, then an optional TOML file, then `SANSANG_*` variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A value that must never reach a log or a terminal (a database URL with a password...).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Folder for the SQLite file, the photos and the demo credentials.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres:…`; defaults to `sqlite:<data_dir>/sansang.db`.
    pub database_url: Option<Secret>,
    /// Photo store: a folder path, a `file://` URL or an
    /// `s3://bucket[/prefix]?endpoint=…&region=…&path_style=true` URL; defaults to
    /// `<data_dir>/photos`.
    pub photo_store: Option<String>,
    /// URL people and phones use to reach the server, when it differs from `http://<listen>`.
    pub public_url: Option<String>,
    /// `tracing` filter, e.g. `info` or `sansang_server=debug,info`.
    pub log: String,
    /// Changes stored after a document's snapshot before it is compacted into a new snapshot.
    pub compact_after_changes: usize,
    /// Household documents held in memory at most; the least recently used idle ones are
    /// dropped first (each takes tens of kilobytes).
    pub max_loaded_documents: usize,
    /// Keep the uploaded original of each photo (with its metadata) beside the stripped copies.
    pub keep_original_photos: bool,
    /// Hours an uploaded photo that no household references is kept before it is removed (a
    /// phone may upload a photo before the document that references it reaches the server).
    pub orphan_photo_grace_hours: u64,
    /// In published and exported summaries, counts from 1 to this minus one show as "<N".
    pub suppression_threshold: u64,
    /// Sync messages a second one token (a phone, a person) may send on average, over all its
    /// connections; above it, its messages wait. A phone syncing hundreds of households at once
    /// stays inside the burst.
    pub sync_messages_per_second: f64,
    /// Messages a token may send at once before the average applies.
    pub sync_message_burst: f64,
    /// Days after a household's approval (unchanged since) when its evidence photos leave the
    /// store; none: kept.
    pub evidence_retention_days: Option<u64>,
    /// Days a quarantined document (sent for a hamlet outside the phone's) is kept without
    /// change before it is erased; none: kept until an admin decides.
    pub quarantine_retention_days: Option<u64>,
    /// Serve the field app from this folder (a build of `field-app/`) instead of the copy built
    /// into the binary: for working on the app.
    pub field_app_dir: Option<PathBuf>,
    /// Bytes the changes of one sync message may hold once inflated.
    pub sync_message_max_bytes: u64,
    /// Bytes a household document may hold once inflated (a household is kilobytes).
    pub max_document_bytes: u64,
    /// Sync messages of one token handled at once (sockets and HTTP fallback together).
    pub sync_inflight_messages_per_token: usize,
    /// Bytes of one token's sync messages handled at once.
    pub sync_inflight_bytes_per_token: u64,
    /// Bytes of all sync messages handled at once.
    pub sync_inflight_bytes_total: u64,
    /// Sync sockets one token may hold open.
    pub sync_connections_per_token: usize,
    /// Documents one sync socket follows (and asks for that do not exist yet) at most; more are
    /// answered unavailable.
    pub sync_documents_per_connection: usize,
    /// Seconds between the server's pings on a sync socket; a socket from which nothing at all
    /// arrived over a whole interval after a ping is dropped.
    pub sync_ping_interval_seconds: u64,
    /// Seconds after which a socket forgets what it knew of the peer for a document it has not
    /// touched (the sync state, which grows with the changes sent); the document stays followed,
    /// and the next message starts its state again. Checked at each ping.
    pub sync_state_idle_seconds: u64,
    /// Changes a document may hold while their dependencies are missing.
    pub max_held_changes: usize,
    /// Bytes of changes one socket may leave waiting for missing dependencies, over all its
    /// documents (each document is bounded by `max_document_bytes` as well).
    pub sync_held_bytes_per_connection: u64,
    /// Passwords checked (argon2id, 19 MiB and tens of milliseconds each) at once. One: with two
    /// threads hashing, the allocator kept hundreds of MiB of their blocks after a burst.
    pub password_hash_workers: usize,
    /// Sign-ins waiting for a check beyond those; more are answered `429` with `Retry-After`.
    pub password_hash_queue: usize,
    /// Addresses or networks of the load balancers in front of the server: only a request from
    /// one of them has its caller's address taken from `X-Forwarded-For` or `Forwarded` (for
    /// sign-in back-off, enrollment attempts and the audit log). Empty: the socket's peer.
    pub trusted_proxies: Vec<String>,
    /// Seconds between two counts of the servers serving the database (PostgreSQL), which share
    /// the per-token sync budgets.
    pub servers_count_seconds: u64,
    /// Seconds between two probes of the connection that listens for the other servers'
    /// changes (PostgreSQL): the server notifies itself from another connection, and a
    /// listener that has not heard its probe by the next one is taken as dead and replaced (a
    /// connection cut without a word, as a NAT or a firewall does, is noticed this way).
    pub listener_probe_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            photo_store: None,
            public_url: None,
            log: "info".into(),
            compact_after_changes: 64,
            max_loaded_documents: 2000,
            keep_original_photos: false,
            orphan_photo_grace_hours: 168,
            suppression_threshold: 5,
            sync_messages_per_second: 200.0,
            sync_message_burst: 2000.0,
            evidence_retention_days: None,
            quarantine_retention_days: None,
            field_app_dir: None,
            sync_message_max_bytes: 4 << 20,
            max_document_bytes: 4 << 20,
            sync_inflight_messages_per_token: 4,
            sync_inflight_bytes_per_token: 16 << 20,
            sync_inflight_bytes_total: 256 << 20,
            sync_connections_per_token: 8,
            sync_held_bytes_per_connection: 16 << 20,
            sync_documents_per_connection: 20_000,
            sync_ping_interval_seconds: 15,
            sync_state_idle_seconds: 300,
            max_held_changes: 1000,
            password_hash_workers: 1,
            password_hash_queue: 32,
            trusted_proxies: Vec::new(),
            servers_count_seconds: 5,
            listener_probe_seconds: 10,
        }
    }
}

impl Config {
    /// Defaults, then `file` (when given, it must exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("SANSANG_").ignore(&["config", "test_pg_url"]))
            .extract()
            .map_err(Box::new)
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> Secret {
        self.database_url.clone().unwrap_or_else(|| {
            Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("sansang.db").display()
            ))
        })
    }

    /// The database URL without credentials, for logs.
    pub fn database_display(&self) -> String {
        redact_url(self.database_url().expose())
    }

    pub fn photo_store(&self) -> String {
        self.photo_store
            .clone()
            .unwrap_or_else(|| self.data_dir.join("photos").display().to_string())
    }
}

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`; other URLs unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_from_display_and_debug() {
        let url = "postgres://sansang:hunter2@db.local:5432/sansang";
        assert_eq!(
            redact_url(url),
            "postgres://sansang:***@db.local:5432/sansang"
        );
        let config = Config {
            database_url: Some(Secret::new(url)),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!config.database_display().contains("hunter2"));
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail speaks figment::Error
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sansang.toml", "listen = \"0.0.0.0:9000\"\nlog = \"debug\"")?;
            jail.set_env("SANSANG_LOG", "warn");
            let config = Config::load(Some(Path::new("sansang.toml"))).map_err(|e| *e)?;
            assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
            assert_eq!(config.log, "warn");
            assert_eq!(config.compact_after_changes, 64);
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        assert!(Config::load(Some(Path::new("/nonexistent/sansang.toml"))).is_err());
    }
}
