//! Running `sansang admin …`: each command checks its input, writes through the same functions as
//! the HTTP API (accounts, enrollment, storage), records an audit entry and prints what it did.
//! The commune, hamlet and account commands are here; the phone commands in `devices`.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use unicode_normalization::UnicodeNormalization;

use super::devices::{enroll, list_devices, revoke_device};
use super::hamlets_csv::{self, HamletRow};
use super::{AdminCommand, CommuneCommand, DevicesCommand, HamletsCommand, RosterCommand};
use super::{PasswordCommand, PhotosCommand, QuarantineCommand, UserCommand};
use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::error::ApiError;
use crate::storage::{Actor, Commune, Hamlet, Role};

/// Runs one admin command, then closes the database whatever the outcome.
pub async fn run(state: AppState, command: AdminCommand) -> anyhow::Result<()> {
    let result = dispatch(&state, command).await;
    state.storage.close().await;
    result
}

async fn dispatch(state: &AppState, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Backup { out } => {
            let manifest = crate::backup::backup(&state.config, &out).await?;
            let rows: u64 = manifest.tables.values().sum();
            let documents = manifest.tables.get("documents").copied().unwrap_or(0);
            let detail = format!(
                "{}: {documents} documents, {rows} rows, {} photo objects",
                out.display(),
                manifest.photos.len()
            );
            audit(state, "admin.backup", detail.clone()).await?;
            println!("backup written: {detail}");
            Ok(())
        }
        AdminCommand::Audit(super::AuditCommand::Touched {
            user,
            device,
            from,
            to,
            out,
        }) => touched(state, user, device, &from, &to, out.as_deref()).await,
        AdminCommand::Retention(super::RetentionCommand::Report) => {
            print!("{}", crate::retention::report(state).await?);
            Ok(())
        }
        AdminCommand::Retention(super::RetentionCommand::Apply) => {
            let applied = crate::retention::apply(state, crate::now_millis()).await?;
            println!(
                "{} evidence photos removed ({} objects), {} quarantined documents erased",
                applied.photos_removed, applied.objects_deleted, applied.quarantined_erased
            );
            Ok(())
        }
        AdminCommand::Restore { .. } => {
            // main.rs runs it before opening the database, which must not exist yet.
            anyhow::bail!("a restore runs before the configured database is opened")
        }
        AdminCommand::Commune(CommuneCommand::Create {
            code,
            name,
            province,
            hamlets,
        }) => create_commune(state, &code, &name, &province, hamlets.as_deref()).await,
        AdminCommand::Hamlets(HamletsCommand::Import { commune, file }) => {
            let code = existing_commune(state, &commune).await?;
            let rows = read_hamlets(&file)?;
            import_hamlets(state, &code, &file, rows).await
        }
        AdminCommand::Roster(RosterCommand::Import {
            commune,
            file,
            dry_run,
        }) => {
            let code = existing_commune(state, &commune).await?;
            import_roster(state, &code, &file, dry_run).await
        }
        AdminCommand::User(UserCommand::Create {
            username,
            display_name,
            role,
            commune,
            hamlets,
            password_stdin,
        }) => {
            let account = NewAccount {
                username: &username,
                display_name: &display_name,
                role: role.into(),
                commune_code: None,
                hamlets: &hamlets,
                password: None,
            };
            create_user(state, account, commune.as_deref(), password_stdin).await
        }
        AdminCommand::Password(PasswordCommand::Reset { username }) => {
            reset_password(state, &username).await
        }
        AdminCommand::Enroll(args) => enroll(state, args).await,
        AdminCommand::Devices(DevicesCommand::List { commune }) => {
            list_devices(state, &commune).await
        }
        AdminCommand::Devices(DevicesCommand::Revoke { device_id }) => {
            revoke_device(state, &device_id).await
        }
        AdminCommand::Quarantine(command) => quarantine(state, command).await,
        AdminCommand::Photos(PhotosCommand::Sweep { grace_hours }) => {
            super::photos::sweep(state, grace_hours).await
        }
        AdminCommand::Photos(PhotosCommand::Migrate { to, delete_source }) => {
            super::photos::migrate(state, &to, delete_source).await
        }
    }
}

async fn create_commune(
    state: &AppState,
    code: &str,
    name: &str,
    province: &str,
    hamlets_file: Option<&Path>,
) -> anyhow::Result<()> {
    let code = commune_code(code)?;
    let commune = Commune {
        code: code.clone(),
        name: clean_text("--name", name)?,
        province: clean_text("--province", province)?,
    };
    // The hamlets are checked before the commune is written: a bad file writes nothing at all.
    let rows = hamlets_file.map(read_hamlets).transpose()?;
    let existed = state.storage.get_commune(&code).await?.is_some();
    state.storage.upsert_commune(&commune).await?;
    let verb = if existed { "updated" } else { "created" };
    audit(
        state,
        "admin.commune.create",
        format!(
            "commune {code} {verb}: {}, {}",
            commune.name, commune.province
        ),
    )
    .await?;
    println!(
        "Commune {code} {verb}: {}, {}",
        commune.name, commune.province
    );
    match (hamlets_file, rows) {
        (Some(file), Some(rows)) => import_hamlets(state, &code, file, rows).await,
        _ => Ok(()),
    }
}

fn read_hamlets(file: &Path) -> anyhow::Result<Vec<HamletRow>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    hamlets_csv::parse(&bytes).map_err(|problems| {
        let name = file.display();
        match problems.as_slice() {
            [one] => anyhow!("{name} {one}; nothing imported"),
            many => {
                let mut lines: Vec<String> =
                    many.iter().take(20).map(|p| format!("  {p}")).collect();
                if many.len() > 20 {
                    lines.push(format!("  … and {} more", many.len() - 20));
                }
                anyhow!(
                    "{name} has {} problems; nothing imported:\n{}",
                    many.len(),
                    lines.join("\n")
                )
            }
        }
    })
}

/// Prints the problems of a file, at most 20 of them.
fn problems_error(name: &str, problems: &[crate::roster::Problem]) -> anyhow::Error {
    match problems {
        [one] => anyhow!("{name} {one}; nothing imported"),
        many => {
            let mut lines: Vec<String> = many.iter().take(20).map(|p| format!("  {p}")).collect();
            if many.len() > 20 {
                lines.push(format!("  … and {} more", many.len() - 20));
            }
            anyhow!(
                "{name} has {} problems; nothing imported:\n{}",
                many.len(),
                lines.join("\n")
            )
        }
    }
}

async fn import_roster(
    state: &AppState,
    code: &str,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    use crate::roster::{self, RosterError};
    let name = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| format!("reading {name}"))?;
    let (rows, problems) = roster::read(&bytes).map_err(|p| problems_error(&name, &p))?;
    let now = crate::now_millis();
    let plan = match roster::plan(state.storage.as_ref(), code, rows, problems, now).await {
        Ok(plan) => plan,
        Err(RosterError::Problems(p)) => return Err(problems_error(&name, &p)),
        Err(e) => return Err(e.into()),
    };
    let preview = plan.preview();
    for line in &preview.changes {
        println!("  {line}");
    }
    println!(
        "{name}: {} new households, {} updated, {} unchanged; {} listed before and not in the \
         file are kept",
        preview.added, preview.updated, preview.unchanged, preview.kept
    );
    if dry_run {
        println!("dry run: nothing written");
        return Ok(());
    }
    let entry = crate::audit::entry_as(Actor::System, Some(code), "roster.import");
    let mut progress = |done: usize, total: usize| {
        eprintln!("  household documents: {done}/{total}");
    };
    let summary = roster::apply(state, &plan, &entry, &mut progress).await?;
    println!(
        "roster of commune {code} imported: {} household documents made, {} addresses changed{}",
        summary.documents_made,
        summary.addresses_changed,
        if summary.erased > 0 {
            format!(
                ", {} erased at the household's request not made again",
                summary.erased
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn import_hamlets(
    state: &AppState,
    code: &str,
    file: &Path,
    rows: Vec<HamletRow>,
) -> anyhow::Result<()> {
    let known = state.storage.list_hamlets(code).await?;
    let mut new = 0;
    for row in &rows {
        if !known.iter().any(|h| h.id == row.id) {
            new += 1;
        }
        let hamlet = Hamlet {
            commune_code: code.to_owned(),
            id: row.id.clone(),
            name: row.name.clone(),
            expected_households: row.expected_households,
        };
        state
            .storage
            .upsert_hamlet(&hamlet)
            .await
            .with_context(|| format!("saving hamlet {} (line {})", row.id, row.line))?;
        let households = row
            .expected_households
            .map(|n| format!("  ({n} hộ)"))
            .unwrap_or_default();
        println!("  {:<8} {}{households}", row.id, row.name);
    }
    let n = rows.len();
    let what = if n == 1 { "hamlet" } else { "hamlets" };
    let file_name = file
        .file_name()
        .unwrap_or(file.as_os_str())
        .to_string_lossy();
    let detail = format!("{n} {what} from {file_name} into {code} ({new} new)");
    audit(state, "admin.hamlets.import", detail).await?;
    println!(
        "{n} {what} imported into {code} ({new} new, {} updated)",
        n - new
    );
    Ok(())
}

async fn create_user(
    state: &AppState,
    mut account: NewAccount<'_>,
    commune: Option<&str>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    if account.role != Role::HamletHead && !account.hamlets.is_empty() {
        bail!("--hamlet is only for a hamlet head (--role hamlet-head)");
    }
    let commune = commune.map(commune_code).transpose()?;
    account.commune_code = commune.as_deref();
    let typed = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        crate::http::auth::check_new_password(&line).map_err(api)?;
        Some(line)
    } else {
        None
    };
    account.password = typed.as_deref();
    let (user, password) = accounts::create(state.storage.as_ref(), account)
        .await
        .map_err(api)?;
    let place = match (&user.commune_code, user.hamlets.as_slice()) {
        (None, _) => "the whole installation".to_owned(),
        (Some(c), []) => format!("commune {c}"),
        (Some(c), hamlets) => format!("commune {c}, hamlets {}", hamlets.join(", ")),
    };
    let role = user.role.as_str();
    audit(
        state,
        "admin.user.create",
        format!("user {} ({role}), {place}", user.username),
    )
    .await?;
    println!(
        "User {} created: {} ({role}), {place}",
        user.username, user.display_name
    );
    if typed.is_none() {
        println!("Mật khẩu / password (shown once): {password}");
    }
    Ok(())
}

async fn reset_password(state: &AppState, username: &str) -> anyhow::Result<()> {
    let username = accounts::normalise_username(username);
    let user = state
        .storage
        .get_user_by_username(&username)
        .await?
        .ok_or_else(|| anyhow!("no user named {username}"))?;
    let password = accounts::reset_password(state.storage.as_ref(), &user)
        .await
        .map_err(api)?;
    audit(
        state,
        "admin.password.reset",
        format!("user {}", user.username),
    )
    .await?;
    println!(
        "Password of {} reset; their sessions are ended.",
        user.username
    );
    println!("Mật khẩu mới / new password (shown once): {password}");
    Ok(())
}

/// A national commune code: exactly five ASCII digits.
fn commune_code(code: &str) -> anyhow::Result<String> {
    let code = code.trim();
    if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code.to_owned())
    } else {
        bail!("commune code must be exactly 5 digits (e.g. 10846), got \"{code}\"")
    }
}

/// A valid code of a commune that exists.
pub(super) async fn existing_commune(state: &AppState, code: &str) -> anyhow::Result<String> {
    let code = commune_code(code)?;
    if state.storage.get_commune(&code).await?.is_none() {
        bail!("no commune {code}: create it first with `sansang admin commune create`");
    }
    Ok(code)
}

/// A name as people typed it: trimmed, NFC, 1 to 120 characters on one line.
fn clean_text(option: &str, text: &str) -> anyhow::Result<String> {
    let text: String = text.trim().nfc().collect();
    if text.is_empty() || text.chars().count() > 120 || text.chars().any(char::is_control) {
        bail!("{option} must be 1 to 120 characters on one line");
    }
    Ok(text)
}

async fn touched(
    state: &AppState,
    user: Option<String>,
    device: Option<String>,
    from: &str,
    to: &str,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let since = crate::breach::parse_time(from, false).context("--from")?;
    let until = crate::breach::parse_time(to, true).context("--to")?;
    let (actor, who) = match (user, device) {
        (Some(username), _) => {
            let found = state
                .storage
                .get_user_by_username(&username)
                .await?
                .with_context(|| format!("no account is named {username:?}"))?;
            (Actor::User(found.id), format!("account {username}"))
        }
        (None, Some(id)) => {
            state
                .storage
                .get_device(&id)
                .await?
                .with_context(|| format!("no phone has the id {id:?}"))?;
            (Actor::Device(id.clone()), format!("phone {id}"))
        }
        (None, None) => anyhow::bail!("name --user or --device"),
    };
    let started = std::time::Instant::now();
    let report = crate::breach::touched(state.storage.as_ref(), actor, since, until).await?;
    println!(
        "{who}, {from} to {to}: {} audit entries, {} households, {} persons ({} ms)",
        report.entries,
        report.households.len(),
        report.persons(),
        started.elapsed().as_millis()
    );
    if let Some(path) = out {
        let partial = path.with_extension("partial");
        std::fs::write(&partial, report.csv())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        println!("written to {}", path.display());
    } else {
        for h in &report.households {
            println!(
                "  {} {} {}: {} ({})",
                h.document_id,
                h.hamlet_id,
                h.address,
                h.persons.join(", "),
                h.actions.iter().cloned().collect::<Vec<_>>().join(" ")
            );
        }
    }
    // Who asked for such a list is itself worth knowing; the detail names no person.
    audit(
        state,
        "admin.audit.touched",
        format!(
            "{who}, {from} to {to}: {} households",
            report.households.len()
        ),
    )
    .await
}

/// `sansang admin quarantine …`.
async fn quarantine(state: &AppState, command: QuarantineCommand) -> anyhow::Result<()> {
    let parse = |id: &str| {
        crate::documents::DocumentId::parse(id)
            .map_err(|e| anyhow!("{id} is not a document id: {e}"))
    };
    match command {
        QuarantineCommand::List { commune } => {
            let list = state.storage.list_quarantined(commune.as_deref()).await?;
            if list.is_empty() {
                println!("no quarantined documents");
            }
            for q in &list {
                println!(
                    "{}\tcommune {}\thamlet {}\tsent by {}\tchanged {}",
                    q.document_id,
                    q.commune_code.as_deref().unwrap_or("-"),
                    q.hamlet_id.as_deref().unwrap_or("-"),
                    q.quarantined_by.as_deref().unwrap_or("(not recorded)"),
                    crate::exports::date_vn(q.updated_at)
                );
            }
            audit(
                state,
                "admin.quarantine.list",
                format!("{} documents", list.len()),
            )
            .await
        }
        QuarantineCommand::Release {
            document_id,
            hamlet,
        } => {
            let id = parse(&document_id)?;
            let released = crate::moves::release(
                state,
                &id,
                hamlet.trim(),
                crate::moves::installation_actor(),
                |_| true,
            )
            .await
            .map_err(|e| anyhow!("releasing {document_id}: {e}"))?;
            println!(
                "released {} into hamlet {} of commune {}",
                released.document_id, released.to, released.commune_code
            );
            crate::audit::record_as(
                state,
                Actor::System,
                Some(&released.commune_code),
                None,
                "quarantine.release",
                Some(id.as_str()),
                Some(format!("to {}", released.to)),
            )
            .await
            .map_err(api)
        }
        QuarantineCommand::Erase {
            document_id,
            reason,
        } => {
            let id = parse(&document_id)?;
            let reason = reason.trim();
            if reason.is_empty() {
                bail!("--reason: say why (a request number, \"sent by mistake\"…)");
            }
            let scope = state
                .storage
                .document_scope(id.as_str())
                .await?
                .ok_or_else(|| anyhow!("no document {document_id}"))?;
            if !scope.quarantined {
                bail!("{document_id} is not quarantined; erase households through the API");
            }
            let erased = crate::erasure::erase(
                state,
                Actor::System,
                None,
                &id,
                &crate::erasure::Subject::Household,
                reason,
            )
            .await
            .map_err(|e| anyhow!("erasing {document_id}: {e}"))?;
            println!(
                "erased {}: {} changes and {} photos removed",
                erased.erased, erased.changes_removed, erased.photos_removed
            );
            Ok(())
        }
    }
}

/// An admin command's audit entry: done by the system, from this machine; never a secret.
pub(super) async fn audit(state: &AppState, action: &str, detail: String) -> anyhow::Result<()> {
    crate::audit::record_as(state, Actor::System, None, None, action, None, Some(detail))
        .await
        .map_err(api)
}

/// The message of an API error, as a command-line error.
fn api(e: ApiError) -> anyhow::Error {
    anyhow!("{}", e.message)
}
