//! Volunteers' phones from the command line: issuing an enrollment code (printed with its QR
//! code for the phone to scan), listing a commune's phones and revoking one.

use std::time::Duration;

use anyhow::anyhow;
use time::OffsetDateTime;
use time::macros::format_description;

use super::EnrollArgs;
use super::admin::{audit, existing_commune};
use crate::app::AppState;
use crate::auth::enrollment::{self, CodeRequest};
use crate::storage::Actor;

pub(super) async fn enroll(state: &AppState, args: EnrollArgs) -> anyhow::Result<()> {
    let code = existing_commune(state, &args.commune).await?;
    let issued = enrollment::issue(
        state.storage.as_ref(),
        Actor::System,
        CodeRequest {
            commune_code: &code,
            volunteer: &args.volunteer,
            hamlets: &args.hamlets,
            validity: Duration::from_secs(args.hours.saturating_mul(3600)),
        },
        &state.public_url(),
    )
    .await?;
    let e = &issued.enrollment;
    let hamlets = e.hamlets.join(", ");
    let detail = format!(
        "volunteer {}, commune {code}, hamlets {hamlets}, {} h",
        e.volunteer, args.hours
    );
    audit(state, "admin.enroll", detail).await?;
    if state.config.public_url.is_none() {
        eprintln!(
            "note: public_url is not set, so the link uses the listen address {}; \
             set SANSANG_PUBLIC_URL to the address phones reach",
            state.config.listen
        );
    }
    println!("Mã đăng ký / enrollment code: {}", issued.code);
    println!(
        "Tình nguyện viên / volunteer: {} (commune {code}, hamlets {hamlets})",
        e.volunteer
    );
    println!(
        "Hết hạn / expires: {} (giờ Việt Nam, UTC+7)",
        vietnam_time(e.expires_at, true)
    );
    println!("Enroll URL: {}", issued.enroll_url);
    println!("{}", enrollment::qr_terminal(&issued.enroll_url));
    Ok(())
}

pub(super) async fn list_devices(state: &AppState, commune: &str) -> anyhow::Result<()> {
    let code = existing_commune(state, commune).await?;
    let devices = state.storage.list_devices(&code).await?;
    audit(
        state,
        "admin.devices.list",
        format!("commune {code}, {} devices", devices.len()),
    )
    .await?;
    if devices.is_empty() {
        println!("Không có điện thoại nào / no devices enrolled in commune {code}");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = devices
        .iter()
        .map(|d| {
            let status = d.revoked_at.map_or_else(
                || "active".to_owned(),
                |at| format!("revoked {}", vietnam_time(at, false)),
            );
            [
                d.id.clone(),
                d.volunteer.clone(),
                d.hamlets.join(","),
                vietnam_time(d.created_at, false),
                status,
            ]
        })
        .collect();
    let header = ["ID", "VOLUNTEER", "HAMLETS", "ENROLLED", "STATUS"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

pub(super) async fn revoke_device(state: &AppState, device_id: &str) -> anyhow::Result<()> {
    let id = device_id.trim();
    let device = state
        .storage
        .get_device(id)
        .await?
        .ok_or_else(|| anyhow!("no device with id {id} (see `sansang admin devices list`)"))?;
    let who = format!(
        "device {} of {} (commune {})",
        device.id, device.volunteer, device.commune_code
    );
    if let Some(at) = device.revoked_at {
        audit(
            state,
            "admin.devices.revoke",
            format!("{who}, already revoked"),
        )
        .await?;
        println!(
            "Device {} of {} was already revoked on {}",
            device.id,
            device.volunteer,
            vietnam_time(at, true)
        );
        return Ok(());
    }
    state
        .storage
        .revoke_device(&device.id, crate::now_millis())
        .await?;
    audit(state, "admin.devices.revoke", who).await?;
    println!(
        "Device {} of {} revoked: its token no longer works",
        device.id, device.volunteer
    );
    Ok(())
}

/// Milliseconds since the epoch as Vietnam sees them: dd/mm/yyyy, with HH:MM when asked.
fn vietnam_time(millis: i64, with_time: bool) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000) else {
        return millis.to_string();
    };
    let at = at.to_offset(crate::VIETNAM);
    let shown = if with_time {
        at.format(format_description!("[day]/[month]/[year] [hour]:[minute]"))
    } else {
        at.format(format_description!("[day]/[month]/[year]"))
    };
    shown.unwrap_or_else(|_| millis.to_string())
}
