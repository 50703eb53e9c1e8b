//! The photo store from the command line: sweeping unreferenced photos, and moving every photo
//! to another store with progress on the terminal.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::admin::audit;
use crate::app::AppState;
use crate::photos::{self, maintenance};

pub(super) async fn sweep(state: &AppState, grace_hours: Option<u64>) -> anyhow::Result<()> {
    let hours = grace_hours.unwrap_or(state.config.orphan_photo_grace_hours);
    let grace_ms = i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let before = crate::now_millis().saturating_sub(grace_ms);
    let report =
        maintenance::sweep_orphans(state.storage.as_ref(), state.photos.as_ref(), before).await?;
    let detail = format!(
        "removed {} unreferenced photos older than {hours} h ({} objects)",
        report.removed, report.objects_deleted
    );
    audit(state, "admin.photos.sweep", detail.clone()).await?;
    println!("{detail}; {} referenced meanwhile and kept", report.kept);
    Ok(())
}

pub(super) async fn migrate(state: &AppState, to: &str, delete_source: bool) -> anyhow::Result<()> {
    let target = photos::open(to)
        .await
        .with_context(|| format!("opening the target photo store {to}"))?;
    let source = state.photos.as_ref();
    eprintln!(
        "copying photos from the {} store {} to the {} store {to}",
        source.kind(),
        state.config.photo_store(),
        target.kind()
    );
    let started = Instant::now();
    let mut shown = Instant::now() - Duration::from_secs(1);
    let progress = |done: usize, total: usize| {
        // A line a second (and the last): enough to see it move, not a flood over SSH.
        if done == total || shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            eprint!("\r  {done}/{total} objects");
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    };
    let report = maintenance::migrate(source, target.as_ref(), delete_source, progress).await?;
    let detail = format!(
        "{} objects: {} copied, {} already there, {} deleted from the source",
        report.objects, report.copied, report.already_there, report.deleted_from_source
    );
    audit(
        state,
        "admin.photos.migrate",
        format!("to {}: {detail}", target.kind()),
    )
    .await?;
    println!("{detail} in {:.1} s", started.elapsed().as_secs_f64());
    if report.objects > 0 {
        println!("now set photo_store (SANSANG_PHOTO_STORE) to the new store and restart");
    }
    Ok(())
}
