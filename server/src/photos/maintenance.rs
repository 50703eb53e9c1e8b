//! Keeping the photo store tidy: removing photos no document references once their grace period
//! is over, and moving every photo from one store to another (a folder to S3, say).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

use super::{PhotoKey, PhotoStore, Sha256Hex, Variant};
use crate::storage::{Millis, Storage};

/// What a sweep of unreferenced photos did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Photos whose record and objects were removed.
    pub removed: usize,
    /// Objects deleted from the store (up to three a photo).
    pub objects_deleted: usize,
    /// Candidates that a document referenced by the time they were looked at: kept.
    pub kept: usize,
}

/// Removes every photo that no document references and that was uploaded before
/// `uploaded_before`. The record goes first, in a statement that checks again that nothing
/// references it, so a document synced meanwhile keeps its photo; then the objects. Should the
/// same bytes be uploaded again in between, the upload finds the record gone and takes them in
/// anew.
pub async fn sweep_orphans(
    storage: &dyn Storage,
    store: &dyn PhotoStore,
    uploaded_before: Millis,
) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let candidates = storage
        .orphan_photos(uploaded_before)
        .await
        .context("listing unreferenced photos")?;
    for sha256 in candidates {
        if !storage
            .forget_orphan_photo(&sha256)
            .await
            .with_context(|| format!("forgetting photo {sha256}"))?
        {
            report.kept += 1;
            continue;
        }
        let hash = Sha256Hex::parse(&sha256)
            .with_context(|| format!("a stored photo record has a malformed hash {sha256:?}"))?;
        for variant in Variant::ALL {
            let key = PhotoKey::new(hash.clone(), variant);
            if store
                .delete(&key)
                .await
                .with_context(|| format!("deleting {key}"))?
            {
                report.objects_deleted += 1;
            }
        }
        report.removed += 1;
    }
    Ok(report)
}

/// Sweeps unreferenced photos older than `grace` every `every`, first after one period, until
/// the returned task is aborted. Failures are logged and retried at the next period.
pub fn spawn_sweeper(
    storage: Arc<dyn Storage>,
    store: Arc<dyn PhotoStore>,
    grace: Duration,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Once per installation: the other servers over the database skip the period.
            let job = match storage.try_job("photo-sweep").await {
                Ok(Some(job)) => job,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "photo sweep: cannot take the job's lock");
                    continue;
                }
            };
            let grace_ms = Millis::try_from(grace.as_millis()).unwrap_or(Millis::MAX);
            let before = crate::now_millis().saturating_sub(grace_ms);
            match sweep_orphans(storage.as_ref(), store.as_ref(), before).await {
                Ok(report) if report.removed > 0 => {
                    tracing::info!(?report, "removed unreferenced photos");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "photo sweep failed"),
            }
            job.release().await;
        }
    })
}

/// What a migration between stores did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Objects found in the source.
    pub objects: usize,
    /// Copied in this run.
    pub copied: usize,
    /// Already in the target with the same bytes (a run that stopped half-way left them).
    pub already_there: usize,
    /// Deleted from the source after their copy was read back equal.
    pub deleted_from_source: usize,
}

/// Copies every object of `from` into `to`. Resumable: an object already in the target with the
/// same bytes is not written again, so a run cut off half-way is simply started again. Each copy
/// is read back and compared before it counts; with `delete_source`, only then is the source
/// object removed. `progress` gets (objects done, objects in all) after each object.
pub async fn migrate(
    from: &dyn PhotoStore,
    to: &dyn PhotoStore,
    delete_source: bool,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<MigrateReport> {
    let keys = from
        .list()
        .await
        .with_context(|| format!("listing the source {} store", from.kind()))?;
    let mut report = MigrateReport {
        objects: keys.len(),
        ..MigrateReport::default()
    };
    for (i, key) in keys.iter().enumerate() {
        let Some(bytes) = from
            .get(key)
            .await
            .with_context(|| format!("reading {key} from the source"))?
        else {
            // Removed by a sweep since the listing: nothing to move.
            progress(i + 1, keys.len());
            continue;
        };
        let existing = to
            .get(key)
            .await
            .with_context(|| format!("reading {key} from the target"))?;
        if existing.as_deref() == Some(bytes.as_slice()) {
            report.already_there += 1;
        } else {
            to.put(key, bytes.clone())
                .await
                .with_context(|| format!("writing {key} to the target"))?;
            let back = to
                .get(key)
                .await
                .with_context(|| format!("reading {key} back from the target"))?;
            anyhow::ensure!(
                back.as_deref() == Some(bytes.as_slice()),
                "{key} read back from the target differs from the source; the source is kept"
            );
            report.copied += 1;
        }
        if delete_source
            && from
                .delete(key)
                .await
                .with_context(|| format!("deleting {key} from the source"))?
        {
            report.deleted_from_source += 1;
        }
        progress(i + 1, keys.len());
    }
    Ok(report)
}
