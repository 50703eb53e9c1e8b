//! `sansang`: the command line of the server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sansang_server::app::{App, AppState, shutdown_signal};
use sansang_server::cli::{self, AdminCommand};
use sansang_server::config::Config;
use sansang_server::{demo, telemetry};

#[derive(Parser)]
#[command(
    name = "sansang",
    version,
    about = "Sync server for the household digital-readiness survey"
)]
struct Cli {
    /// TOML configuration file (also SANSANG_CONFIG); SANSANG_* variables override it.
    #[arg(long, global = true, env = "SANSANG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the configured database.
    Serve,
    /// Create the demo commune (once), print the logins and serve it.
    Demo {
        /// Simulated households to create.
        #[arg(long, default_value_t = 1000)]
        households: usize,
        /// Create the demo and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Set up a commune: hamlets, accounts, phone enrollment codes, phones.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Fixed workloads that print figures; each starts its own server in a temporary folder.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Photo ingest: photos a second for 12-megapixel JPEGs, alone and through the server with
    /// several uploads at once, and the server's peak memory.
    Photos {
        /// Photos to upload.
        #[arg(long, default_value_t = 32)]
        photos: usize,
        /// Uploads in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrent: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Bench(bench) = cli.command {
        return match bench {
            BenchCommand::Photos { photos, concurrent } => {
                sansang_server::bench::photos(photos, concurrent).await
            }
        };
    }
    let config = Config::load(cli.config.as_deref()).context("reading configuration")?;
    telemetry::init(&config.log);
    tracing::info!(
        listen = %config.listen,
        database = %config.database_display(),
        photos = %config.photo_store(),
        "starting"
    );
    let state = AppState::open(config).await?;
    match cli.command {
        Command::Serve => {
            let app = App::bind(state).await?;
            tracing::info!(url = %app.url()?, "serving");
            app.run_until(shutdown_signal()).await
        }
        Command::Demo {
            households,
            no_serve,
        } => run_demo(state, households, no_serve).await,
        // Handled above, before the configured database is opened.
        Command::Bench(_) => Ok(()),
        Command::Admin(command) => {
            if let Err(e) = cli::admin::run(state, command).await {
                // One line naming what is wrong, not a debug dump.
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn run_demo(state: AppState, households: usize, no_serve: bool) -> anyhow::Result<()> {
    let mut last_shown = 0;
    let mut progress = |done: usize, total: usize| {
        if done == total || done - last_shown >= 50 {
            last_shown = done;
            eprint!("\rcreating demo households: {done}/{total}");
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    };
    let (seeded, report) = demo::seed(&state, households, &mut progress).await?;
    tracing::info!(?report, "demo commune ready");
    let app = App::bind(state.clone()).await?;
    let storage = &state.storage;
    let commune = storage
        .get_commune(demo::COMMUNE_CODE)
        .await?
        .context("the demo commune vanished")?;
    let credentials = demo::Credentials {
        url: app.url()?,
        commune,
        users: seeded.logins,
        devices: seeded.devices,
    };
    let path = demo::write_credentials(&state.config.data_dir, &credentials)?;
    println!("{}", demo::describe(&credentials, &path));
    if no_serve {
        state.storage.close().await;
        return Ok(());
    }
    app.run_until(shutdown_signal()).await
}
