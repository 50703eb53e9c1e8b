//! `sansang`: the command line of the server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sansang_server::app::{App, AppState, shutdown_signal};
use sansang_server::auth::enrollment;
use sansang_server::cli::{self, AdminCommand};
use sansang_server::config::Config;
use sansang_server::storage::Actor;
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
    /// Export the readiness summary of a commune (small cells suppressed).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Simulated phones against a running server (the demo): offline edits, several phones on
    /// the same households, bursts of sync over dropping connections; checks nothing was lost.
    Simulate {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The demo's credentials file (device tokens, logins).
        #[arg(long, default_value = "data/demo-credentials.json")]
        credentials: PathBuf,
        #[arg(long, default_value_t = 24)]
        phones: usize,
        #[arg(long, default_value_t = 240)]
        households: usize,
        /// Edits per household.
        #[arg(long, default_value_t = 10)]
        edits: usize,
        /// Share (0–1) of households a second phone edits too.
        #[arg(long, default_value_t = 0.3)]
        overlap: f64,
        /// Chance (0–1) that a sync burst's connection drops.
        #[arg(long, default_value_t = 0.2)]
        disconnect: f64,
        /// Sync bursts before the last clean one.
        #[arg(long, default_value_t = 3)]
        bursts: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The server is the reference automerge-repo server (no sign-in for the final check).
        #[arg(long)]
        reference: bool,
        /// Write the households' ids to this file (for a later `--read-ids`).
        #[arg(long)]
        ids_out: Option<PathBuf>,
        /// Instead of a day of fieldwork: random reads of the households listed in this file
        /// (by `--ids-out`), over `--phones` connections.
        #[arg(long)]
        read_ids: Option<PathBuf>,
        /// How many random reads with `--read-ids`.
        #[arg(long, default_value_t = 10_000)]
        reads: usize,
    },
    /// Fixed workloads that print figures; each starts its own server in a temporary folder.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Indices per hamlet and for the commune against the year's targets: xlsx, csv or json.
    Summary {
        /// Commune code (5 digits).
        #[arg(long)]
        commune: String,
        /// One hamlet only.
        #[arg(long)]
        hamlet: Option<String>,
        #[arg(long, value_enum, default_value = "xlsx")]
        format: cli::export::Format,
        /// Count every surveyed household, not only the approved ones.
        #[arg(long)]
        all_surveyed: bool,
        /// Reference year of ages and targets (this year by default).
        #[arg(long)]
        year: Option<i64>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Every surveyed household and member (personal data; audited): xlsx or csv.
    Households {
        /// Commune code (5 digits).
        #[arg(long)]
        commune: String,
        #[arg(long, value_enum, default_value = "xlsx")]
        format: cli::export::Format,
        /// Reference year of ages (this year by default).
        #[arg(long)]
        year: Option<i64>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Indices of a seeded commune (computed from the database) and its household detail as
    /// xlsx: seconds and rows per second.
    Indices {
        /// Households to seed.
        #[arg(long, default_value_t = 10_000)]
        households: usize,
    },
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
    if let Command::Simulate {
        url,
        credentials,
        phones,
        households,
        edits,
        overlap,
        disconnect,
        bursts,
        seed,
        reference,
        ids_out,
        read_ids,
        reads,
    } = cli.command
    {
        if let Some(ids) = read_ids {
            let options = sansang_server::simulate::Reads {
                url,
                credentials,
                ids,
                reads,
                readers: phones,
                seed,
                reference,
            };
            or_exit(sansang_server::simulate::reads(options).await);
            return Ok(());
        }
        let options = sansang_server::simulate::Options {
            url,
            credentials,
            phones,
            households,
            edits,
            overlap,
            disconnect,
            bursts,
            seed,
            reference,
            ids_out,
        };
        or_exit(sansang_server::simulate::run(options).await);
        return Ok(());
    }
    if let Command::Bench(bench) = cli.command {
        return match bench {
            BenchCommand::Photos { photos, concurrent } => {
                sansang_server::bench::photos(photos, concurrent).await
            }
            BenchCommand::Indices { households } => {
                sansang_server::bench::indices(households).await
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
    if let Command::Admin(cli::AdminCommand::Restore { from }) = &cli.command {
        let restored = or_exit(sansang_server::backup::restore(&config, from).await);
        let state = AppState::open(config).await?;
        let detail = format!(
            "{} (taken {}): {} documents, {} photo objects",
            from.display(),
            sansang_server::exports::date_vn(restored.manifest.created_at),
            restored.documents,
            restored.manifest.photos.len()
        );
        sansang_server::audit::record_as(
            &state,
            sansang_server::storage::Actor::System,
            None,
            None,
            "admin.restore",
            None,
            Some(detail.clone()),
        )
        .await?;
        state.storage.close().await;
        println!("restored: {detail}");
        return Ok(());
    }
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
        Command::Bench(_) | Command::Simulate { .. } => Ok(()),
        Command::Export(ExportCommand::Summary {
            commune,
            hamlet,
            format,
            all_surveyed,
            year,
            out,
        }) => {
            let view = if all_surveyed {
                sansang_shared::indices::View::AllSurveyed
            } else {
                sansang_shared::indices::View::Approved
            };
            let args = cli::export::SummaryArgs {
                commune: &commune,
                hamlet: hamlet.as_deref(),
                view,
                year,
                format,
                out: &out,
            };
            let result = cli::export::summary(&state, args).await;
            state.storage.close().await;
            or_exit(result);
            Ok(())
        }
        Command::Export(ExportCommand::Households {
            commune,
            format,
            year,
            out,
        }) => {
            let result = cli::export::households(&state, &commune, year, format, &out).await;
            state.storage.close().await;
            or_exit(result);
            Ok(())
        }
        Command::Admin(command) => {
            or_exit(cli::admin::run(state, command).await);
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
    // A fresh one-time code at each start, so the field app can be tried from a phone at once.
    let field = enrollment::issue(
        storage.as_ref(),
        Actor::System,
        enrollment::CodeRequest {
            commune_code: demo::COMMUNE_CODE,
            volunteer: "Tình nguyện viên thử",
            hamlets: &["T01".to_owned()],
            validity: std::time::Duration::from_secs(24 * 3600),
        },
        &credentials.url,
    )
    .await
    .context("issuing the demo's enrollment code")?;
    {
        // One write, and a closed stdout is not an error: a supervisor that stops reading once
        // it has the URL must not take the server down with a broken pipe.
        let mut out = std::io::stdout().lock();
        let text = format!(
            "{}\n",
            demo::describe(&credentials, &path, &field.enroll_url)
        );
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    if no_serve {
        state.storage.close().await;
        return Ok(());
    }
    app.run_until(shutdown_signal()).await
}

/// A failed command ends with one line naming what is wrong, not a debug dump, and status 1.
fn or_exit<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::exit(1)
    })
}
