//! The real server, built from a configuration like the binary builds it, on port 0 with its own
//! database and data folder, stopped (and its database closed) when the test is done.

use std::net::SocketAddr;

use sansang_server::app::{App, AppState};
use sansang_server::config::{Config, Secret};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::TestDb;

pub struct TestApp {
    pub url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Builds and starts the server on `db`; the listener is bound before this returns, so the
    /// first request never races the start-up.
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// As [`TestApp::spawn`], with the configuration changed by `adjust` first.
    pub async fn spawn_with(db: &TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("a data folder");
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.path().to_owned(),
            database_url: Some(Secret::new(db.url.clone())),
            ..Config::default()
        };
        adjust(&mut config);
        let state = AppState::open(config)
            .await
            .expect("opening the application");
        let app = App::bind(state.clone()).await.expect("binding port 0");
        let addr = app.local_addr().expect("bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            url: format!("http://{addr}"),
            addr,
            state,
            http: reqwest::Client::new(),
            data_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Graceful shutdown: requests in flight finish, the database is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task joins")
                .expect("server stops cleanly");
        }
    }
}
