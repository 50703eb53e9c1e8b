//! Building and running the application: from a configuration and a bound listener to a server
//! that runs until a shutdown signal, then closes the database cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::TcpListener;

use crate::auth::hashing::HashPool;
use crate::auth::throttle::Throttles;
use crate::config::Config;
use crate::documents::DocumentService;
use crate::metrics::Metrics;
use crate::photos::{self, PhotoStore};
use crate::storage::{SqlStorage, Storage};
use crate::sync::SyncHub;

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Arc<dyn Storage>,
    pub photos: Arc<dyn PhotoStore>,
    pub documents: Arc<DocumentService>,
    pub metrics: Arc<Metrics>,
    pub throttles: Arc<Throttles>,
    /// Password checks and hashes, a few at a time (argon2id holds 19 MiB each).
    pub hashing: Arc<HashPool>,
    pub sync: Arc<SyncHub>,
    /// Photos decoded at once (see `http::photos::decode_slots`).
    pub decode_slots: Arc<tokio::sync::Semaphore>,
    /// Communes whose roster this server is importing now: one import at a time each.
    pub roster_imports: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The address actually bound, once it is (port 0 picks one).
    pub bound: Arc<OnceLock<SocketAddr>>,
    /// `trusted_proxies`, parsed: peers whose forwarded-for headers are believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Whether this start wrote every projection again (new rules): servers of the older rules
    /// may have written some meanwhile, so they are written again once those are gone.
    pub rewrote_projections: bool,
}

impl AppState {
    /// The caller's address for a request from `peer` (see [`crate::auth::address`]).
    pub fn caller_address(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> String {
        crate::auth::address::client_address(peer, headers, &self.trusted_proxies).to_string()
    }

    /// Opens the database (applying migrations) and the photo store named by `config`.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let trusted_proxies = crate::auth::address::parse_proxies(&config.trusted_proxies)
            .map_err(anyhow::Error::msg)?;
        crate::private::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
        private_sqlite_file(config.database_url().expose())?;
        let storage = SqlStorage::connect(config.database_url().expose())
            .await
            .with_context(|| format!("opening database {}", config.database_display()))?;
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let photos = photos::open(&config.photo_store())
            .await
            .with_context(|| format!("opening photo store {}", config.photo_store()))?;
        let storage_id = storage
            .setting_or_insert("storage-id", &uuid::Uuid::new_v4().to_string())
            .await
            .context("reading the storage id")?;
        let metrics = Arc::new(Metrics::default());
        let documents = Arc::new(
            DocumentService::new(
                storage.clone(),
                metrics.clone(),
                config.compact_after_changes,
                config.max_loaded_documents,
            )
            .with_max_document_bytes(config.max_document_bytes)
            .with_max_held_changes(config.max_held_changes),
        );
        let rewrote_projections = reproject_if_rules_changed(storage.as_ref(), &documents).await?;
        let sync = Arc::new(
            SyncHub::new(
                storage_id,
                config.sync_messages_per_second,
                config.sync_message_burst,
            )
            .with_limits(crate::sync::hub::Limits {
                messages_per_token: config.sync_inflight_messages_per_token,
                bytes_per_token: config.sync_inflight_bytes_per_token,
                bytes_total: config.sync_inflight_bytes_total,
                connections_per_token: config.sync_connections_per_token,
            }),
        );
        let hashing = Arc::new(HashPool::new(
            config.password_hash_workers,
            config.password_hash_queue,
        ));
        Ok(AppState {
            config: Arc::new(config),
            storage,
            photos,
            documents,
            metrics,
            throttles: Arc::new(Throttles::default()),
            hashing,
            sync,
            decode_slots: crate::http::photos::decode_slots(),
            roster_imports: Arc::default(),
            bound: Arc::new(OnceLock::new()),
            trusted_proxies: trusted_proxies.into(),
            rewrote_projections,
        })
    }
}

impl AppState {
    /// The URL people and phones use: the configured one, or the address bound.
    pub fn public_url(&self) -> String {
        self.config
            .public_url
            .clone()
            .or_else(|| self.bound.get().map(|a| format!("http://{a}")))
            .unwrap_or_else(|| format!("http://{}", self.config.listen))
    }
}

/// A SQLite database is created readable by the server's user only before SQLite opens it (its
/// journal and WAL files take the database file's mode); one made by an older server is made so.
fn private_sqlite_file(url: &str) -> anyhow::Result<()> {
    let Some(path) = crate::backup::sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        crate::private::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if !path.exists() {
        crate::private::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            crate::private::restrict(&file)
                .with_context(|| format!("making {} private", file.display()))?;
        }
    }
    Ok(())
}

/// On SQLite, an exclusive lock on `<database>.lock`, so a second server on the same file is
/// refused: each server keeps documents in memory and writes from them, which only one process
/// may do on a SQLite file (PostgreSQL fences the writes of several servers). Held by the
/// returned file, released when it closes (or the process ends, however it ends).
fn single_server(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = crate::backup::sqlite_path(url) else {
        return Ok(None);
    };
    let lock_path = std::path::PathBuf::from(format!("{}.lock", path.display()));
    let file = crate::private::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another sansang server is serving the SQLite database {} (it holds {}). A SQLite \
             database is for one server only; to run several servers over one database, use \
             PostgreSQL (database_url = \"postgres://...\"), or stop the other server first",
            path.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
}

/// The rules that turn a document into its projection; raised when they change, so projections
/// written by an older server are written again (2: consent holds personal data back).
const PROJECTION_RULES: i32 = 2;

/// Writes every projection again when the stored ones were made by other rules, before anything
/// is served: a projection written before consent held data back must not show it.
async fn reproject_if_rules_changed(
    storage: &dyn Storage,
    documents: &DocumentService,
) -> anyhow::Result<bool> {
    // Written by rules older than ours (or before rules were recorded)? A newer server's
    // projections are left as they are by an older one started meanwhile.
    let older = |stored: Option<String>| {
        stored
            .and_then(|v| v.parse::<i32>().ok())
            .is_none_or(|v| v < PROJECTION_RULES)
    };
    // One server rewrites; another starting meanwhile waits for it, then finds the rules
    // recorded.
    let job = loop {
        let stored = storage
            .get_setting("projection-rules")
            .await
            .context("reading the projection rules")?;
        if !older(stored) {
            return Ok(false);
        }
        match storage
            .try_job("projection-rules")
            .await
            .context("taking the projection rewrite's lock")?
        {
            Some(job) => break job,
            None => {
                tracing::info!("another server is writing the projections again; waiting");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    let stored = storage
        .get_setting("projection-rules")
        .await
        .context("reading the projection rules")?;
    let rewrite = older(stored);
    if rewrite {
        tracing::info!("projection rules changed: writing projections again");
        rewrite_projections(storage, documents).await?;
        storage
            .put_setting("projection-rules", &PROJECTION_RULES.to_string())
            .await
            .context("recording the projection rules")?;
    }
    job.release().await;
    Ok(rewrite)
}

/// Writes every document's projection again from the document, by this server's rules.
async fn rewrite_projections(
    storage: &dyn Storage,
    documents: &DocumentService,
) -> anyhow::Result<()> {
    let ids = storage
        .all_document_ids()
        .await
        .context("listing documents")?;
    for (n, id) in ids.iter().enumerate() {
        let Ok(doc_id) = crate::documents::DocumentId::parse(id) else {
            continue;
        };
        let mut guard = documents
            .lock(&doc_id)
            .await
            .with_context(|| format!("loading {id}"))?;
        guard
            .reproject()
            .await
            .with_context(|| format!("writing the projection of {id}"))?;
        if (n + 1) % 1000 == 0 {
            tracing::info!(done = n + 1, of = ids.len(), "writing projections again");
        }
    }
    Ok(())
}

/// During a rolling upgrade, servers of the older version go on writing projections by their
/// rules after this one rewrote them at start. Once the last of them is gone, every projection
/// is written again (once per installation, under the rewrite's job lock).
async fn rewrite_after_older_servers(
    state: &AppState,
    older_seen: &mut bool,
) -> anyhow::Result<()> {
    let storage = state.storage.as_ref();
    if storage.older_rules_running(PROJECTION_RULES).await? {
        if !*older_seen {
            tracing::info!("servers with older projection rules still serve the database");
        }
        *older_seen = true;
        return Ok(());
    }
    if !*older_seen {
        return Ok(());
    }
    let Some(job) = storage.try_job("projection-rules").await? else {
        // Another new server is at it.
        *older_seen = false;
        return Ok(());
    };
    tracing::info!("the older servers are gone: writing projections again");
    let done = rewrite_projections(storage, &state.documents).await;
    job.release().await;
    done?;
    *older_seen = false;
    Ok(())
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::http::health::router())
        .merge(crate::http::auth::router())
        .merge(crate::http::devices::router())
        .merge(crate::http::households::router())
        .merge(crate::http::moves::router())
        .merge(crate::http::erasure::router())
        .merge(crate::http::users::router())
        .merge(crate::http::audit::router())
        .merge(crate::http::photos::router())
        .merge(crate::http::reviews::router())
        .merge(crate::web::router())
        .merge(crate::http::indices::router())
        .merge(crate::http::roster::router())
        .merge(crate::sync::router())
        .merge(crate::http::openapi::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                // The path only: a query string may carry a token (the sync socket's `?token=`).
                |request: &Request| {
                    tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
                },
            ),
        )
        .with_state(state)
}

/// On every answer: no content-type sniffing, no referrer sent to other sites (`same-origin`:
/// `no-referrer` would make browsers send `Origin: null` with our own forms); API answers (personal data)
/// are not cached unless the handler said otherwise (photos: private to the device).
async fn security_headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.http_request(response.status().as_u16());
    response
}

/// A server bound to its port, not yet serving.
pub struct App {
    pub state: AppState,
    listener: TcpListener,
    /// On SQLite, the lock that keeps a second server off the file, held while serving.
    _single: Option<std::fs::File>,
}

impl App {
    /// Binds `state.config.listen` (port 0 picks a free port).
    pub async fn bind(state: AppState) -> anyhow::Result<App> {
        let single = single_server(state.config.database_url().expose())?;
        let listen = state.config.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let _ = state.bound.set(listener.local_addr()?);
        Ok(App {
            state,
            listener,
            _single: single,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The URL people use, after binding.
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self.state.public_url())
    }

    /// Serves until `shutdown` completes, lets requests in flight finish, then closes the
    /// database so every write is flushed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            state,
            listener,
            _single,
        } = self;
        let sweeper = photos::maintenance::spawn_sweeper(
            state.storage.clone(),
            state.photos.clone(),
            Duration::from_secs(state.config.orphan_photo_grace_hours.saturating_mul(3600)),
            Duration::from_secs(3600),
        );
        let retention = crate::retention::spawn(state.clone(), Duration::from_secs(3600));
        // Several servers over one PostgreSQL: what the others write reaches this one's phones.
        let hub = state.sync.clone();
        let follower = state
            .documents
            .follow_other_servers(
                Duration::from_secs(state.config.listener_probe_seconds.max(1)),
                move |bytes| crate::sync::relay_from_elsewhere(&hub, &bytes),
            )
            .await
            .context("listening for the other servers' changes")?;
        let (registered, counting) = count_servers(&state).await?;
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        // Sync is many small messages each way: without TCP_NODELAY a reply waits for the
        // peer's delayed ACK (40 ms on Linux) whenever the previous one is unacknowledged.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP");
        sweeper.abort();
        if let Some(r) = retention {
            r.abort();
        }
        if let Some(f) = follower {
            f.abort();
        }
        counting.abort();
        registered.release().await;
        served?;
        state.storage.close().await;
        tracing::info!("stopped; database closed");
        Ok(())
    }
}

/// Registers this server among those serving the database, counts them before anything is
/// served and again every `servers_count_seconds`, and shares the per-token sync budgets among
/// them. The registration lasts as long as the returned lock.
async fn count_servers(
    state: &AppState,
) -> anyhow::Result<(crate::storage::JobLock, tokio::task::JoinHandle<()>)> {
    let registered = state
        .storage
        .register_instance(PROJECTION_RULES)
        .await
        .context("registering this server in the database")?;
    let every = Duration::from_secs(state.config.servers_count_seconds.max(1));
    count_once(state).await.context("counting the servers")?;
    let state = state.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        // Older servers may have written while this one rewrote at start, and stopped before
        // its first look: written again once none is left.
        let mut older_seen = state.rewrote_projections;
        loop {
            ticks.tick().await;
            if let Err(e) = count_once(&state).await {
                tracing::warn!(%e, "counting the servers failed; the count stays as it was");
            }
            if let Err(e) = rewrite_after_older_servers(&state, &mut older_seen).await {
                tracing::warn!(error = %format!("{e:#}"), "writing projections again failed");
            }
        }
    });
    Ok((registered, task))
}

/// Counts the servers serving the database now and shares the budgets among them.
async fn count_once(state: &AppState) -> Result<(), crate::storage::StorageError> {
    let servers = state.storage.count_instances().await?;
    if servers != state.sync.servers() {
        tracing::info!(servers, "servers serving the database");
    }
    state.sync.set_servers(servers);
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(%e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(%e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
