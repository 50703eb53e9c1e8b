//! Retention: evidence photos leave the store a set time after their household's approval, and
//! quarantined documents are erased a set time after their last change (both off unless
//! configured); a report says what is held and for how long. Runs hourly in the server and on
//! demand with `sansang admin retention apply|report`.

use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::documents::DocumentId;
use crate::erasure::{self, Subject};
use crate::photos::{PhotoKey, Sha256Hex, Variant};
use crate::storage::{Actor, Millis};

const DAY_MS: Millis = 86_400_000;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub photos_removed: usize,
    pub objects_deleted: usize,
    pub quarantined_erased: usize,
}

fn days_ms(days: u64) -> Millis {
    Millis::try_from(days)
        .unwrap_or(Millis::MAX / DAY_MS)
        .saturating_mul(DAY_MS)
}

/// Applies the configured rules as of `now`.
pub async fn apply(state: &AppState, now: Millis) -> anyhow::Result<Applied> {
    let mut applied = Applied::default();
    if let Some(days) = state.config.evidence_retention_days {
        let before = now.saturating_sub(days_ms(days));
        let due = state
            .storage
            .retirable_photos(before)
            .await
            .context("listing photos due for removal")?;
        for sha in due {
            let hash = Sha256Hex::parse(&sha)
                .with_context(|| format!("a photo record has a malformed hash {sha:?}"))?;
            // Objects first: should this stop half-way, the next pass finds the photo again.
            for variant in Variant::ALL {
                let key = PhotoKey::new(hash.clone(), variant);
                if state
                    .photos
                    .delete(&key)
                    .await
                    .with_context(|| format!("deleting {key}"))?
                {
                    applied.objects_deleted += 1;
                }
            }
            if state
                .storage
                .retire_photo(&sha, now)
                .await
                .context("recording a removed photo")?
            {
                applied.photos_removed += 1;
            }
        }
    }
    if let Some(days) = state.config.quarantine_retention_days {
        let before = now.saturating_sub(days_ms(days));
        let stale = state
            .storage
            .stale_quarantined(before)
            .await
            .context("listing quarantined documents")?;
        for id in stale {
            let Ok(doc_id) = DocumentId::parse(&id) else {
                continue;
            };
            let reason = format!("retention: quarantined and unchanged for {days} days");
            erasure::erase(
                state,
                Actor::System,
                None,
                &doc_id,
                &Subject::Household,
                &reason,
            )
            .await
            .map_err(|e| anyhow::anyhow!("erasing quarantined {id}: {e}"))?;
            applied.quarantined_erased += 1;
        }
    }
    if applied != Applied::default() {
        crate::audit::record_as(
            state,
            Actor::System,
            None,
            None,
            "retention.apply",
            None,
            Some(format!(
                "{} evidence photos removed, {} quarantined documents erased",
                applied.photos_removed, applied.quarantined_erased
            )),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(applied)
}

/// What is held and for how long, as text for people.
pub async fn report(state: &AppState) -> anyhow::Result<String> {
    let h = state
        .storage
        .holdings()
        .await
        .context("counting what is held")?;
    let date = |ms: Option<Millis>| ms.map_or_else(|| "—".to_owned(), crate::exports::date_vn);
    let rule = |days: Option<u64>, what: &str| match days {
        Some(d) => format!("{what} after {d} days"),
        None => format!("{what}: kept (no limit configured)"),
    };
    Ok(format!(
        "Held now:\n\
         - households: {} ({} approved)\n\
         - evidence photos: {} recorded, {} already removed by retention\n\
         - quarantined documents: {} (oldest unchanged since {})\n\
         - audit log: {} entries (oldest {}), kept\n\
         - erased documents: {} tombstones (ids only), kept\n\
         Rules:\n\
         - {}\n\
         - {}\n\
         - unreferenced photos: removed {} hours after upload\n",
        h.households,
        h.approved_households,
        h.photos,
        h.retired_photos,
        h.quarantined,
        date(h.oldest_quarantined),
        h.audit_entries,
        date(h.oldest_audit),
        h.tombstones,
        rule(
            state.config.evidence_retention_days,
            "evidence photos of approved households removed"
        ),
        rule(
            state.config.quarantine_retention_days,
            "quarantined documents erased"
        ),
        state.config.orphan_photo_grace_hours,
    ))
}

/// Applies the rules every `every` while the server runs (nothing to do when none is set).
pub fn spawn(state: AppState, every: Duration) -> Option<JoinHandle<()>> {
    if state.config.evidence_retention_days.is_none()
        && state.config.quarantine_retention_days.is_none()
    {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Once per installation: the other servers over the database skip the hour.
            let job = match state.storage.try_job("retention").await {
                Ok(Some(job)) => job,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cannot take the job's lock");
                    continue;
                }
            };
            match apply(&state, crate::now_millis()).await {
                Ok(a) if a != Applied::default() => tracing::info!(?a, "retention applied"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "retention failed"),
            }
            job.release().await;
        }
    }))
}
