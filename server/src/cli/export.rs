//! `sansang export summary`: the readiness summary of a commune to a file, as the HTTP export
//! makes it (small cells suppressed), written whole or not at all.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use sansang_shared::indices::View;
use sansang_shared::publish;

use crate::app::AppState;
use crate::storage::Actor;
use crate::{exports, indices};

/// The file formats of `sansang export summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Xlsx,
    Csv,
    Json,
}

pub struct SummaryArgs<'a> {
    pub commune: &'a str,
    pub hamlet: Option<&'a str>,
    pub view: View,
    pub year: Option<i64>,
    pub format: Format,
    pub out: &'a Path,
}

pub async fn summary(state: &AppState, args: SummaryArgs<'_>) -> anyhow::Result<()> {
    let Some(commune) = state.storage.get_commune(args.commune).await? else {
        bail!("no commune {} (sansang admin commune create)", args.commune);
    };
    let year = args.year.unwrap_or_else(crate::reference_year);
    let only = args.hamlet.map(|h| vec![h.to_owned()]);
    eprintln!(
        "computing the indices of {} ({}) for {year}…",
        commune.name, commune.code
    );
    let c = indices::compute(
        state.storage.as_ref(),
        &commune.code,
        only.as_deref(),
        args.view,
        year,
    )
    .await?;
    eprintln!(
        "  {} households in {} hamlets",
        c.report.commune.households_total,
        c.report.hamlets.len()
    );
    let published = publish::publish(&c.report, state.config.suppression_threshold);
    let bytes = match args.format {
        Format::Json => serde_json::to_vec_pretty(&serde_json::json!({
            "communeCode": commune.code,
            "referenceYear": year,
            "report": published,
            "coverage": indices::publish_coverage(&c.coverage, &published),
            "targets": c.targets,
        }))?,
        Format::Csv | Format::Xlsx => {
            let coverage = indices::publish_coverage(&c.coverage, &published);
            let rows = exports::summary_rows(&published, (&commune.code, &commune.name), &coverage);
            if args.format == Format::Csv {
                exports::summary_csv(&rows)
            } else {
                exports::summary_xlsx(&rows).context("building the workbook")?
            }
        }
    };
    write_whole(args.out, &bytes)?;
    crate::audit::record_as(
        state,
        Actor::System,
        Some(&commune.code),
        None,
        "export.summary",
        None,
        Some(format!(
            "{:?} to {}, commune {}",
            args.format,
            args.out.display(),
            commune.code
        )),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

/// `sansang export households`: every surveyed household and member of a commune, one row per
/// member, written whole or not at all. Personal data: the export is in the audit log.
pub async fn households(
    state: &AppState,
    commune: &str,
    year: Option<i64>,
    format: Format,
    out: &Path,
) -> anyhow::Result<()> {
    let Some(commune) = state.storage.get_commune(commune).await? else {
        bail!("no commune {commune} (sansang admin commune create)");
    };
    let year = year.unwrap_or_else(crate::reference_year);
    eprintln!(
        "reading the households of {} ({})…",
        commune.name, commune.code
    );
    let rows = indices::household_detail(state.storage.as_ref(), &commune.code, None, year).await?;
    eprintln!("  {} rows; writing {}", rows.len(), out.display());
    let bytes = match format {
        Format::Csv => exports::csv(&exports::HOUSEHOLD_HEADERS, &rows),
        Format::Xlsx => exports::households_xlsx(&rows).context("building the workbook")?,
        Format::Json => bail!("the household detail is exported as xlsx or csv"),
    };
    write_whole(out, &bytes)?;
    crate::audit::record_as(
        state,
        Actor::System,
        Some(&commune.code),
        None,
        "export.households",
        None,
        Some(format!(
            "{format:?} to {}, commune {}, {} rows",
            out.display(),
            commune.code,
            rows.len()
        )),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!(
        "wrote {} ({} rows, {} bytes)",
        out.display(),
        rows.len(),
        bytes.len()
    );
    Ok(())
}

/// Writes beside the target, then renames: a reader never sees half a file.
fn write_whole(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = out.with_extension("partial");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))
}
