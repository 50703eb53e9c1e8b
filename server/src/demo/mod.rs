//! `sansang demo`: a ready demo commune (Xã Hà Tây, Hải Phòng) with its people and about a
//! thousand simulated surveys, created once; running it again adds nothing.

mod generate;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::password;
use crate::storage::{Commune, Hamlet, Role, User};

pub const COMMUNE_CODE: &str = "10846";
const COMMUNE_NAME: &str = "Xã Hà Tây";
const PROVINCE: &str = "Thành phố Hải Phòng";
const HAMLETS: [&str; 12] = [
    "Thôn An Lạc",
    "Thôn Bắc Sơn",
    "Thôn Đông Tạ",
    "Thôn Đoài",
    "Thôn Hạ Đoạn",
    "Thôn Kim Sơn",
    "Thôn Lương Xâm",
    "Thôn Nam Hà",
    "Thôn Phú Xá",
    "Thôn Tân Lập",
    "Thôn Thượng Lĩnh",
    "Thôn Trung Hà",
];

/// The file, in the data folder, that holds the demo's logins.
pub const CREDENTIALS_FILE: &str = "demo-credentials.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub url: String,
    pub commune: Commune,
    pub users: Vec<Login>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub display_name: String,
    #[serde(default)]
    pub hamlets: Vec<String>,
}

/// What seeding did, for the terminal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub users_created: usize,
    pub households_written: usize,
    pub changes_stored: usize,
    pub with_findings: usize,
    pub with_conflicts: usize,
}

pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIALS_FILE)
}

fn hamlet_id(i: usize) -> String {
    format!("T{:02}", i + 1)
}

/// Creates whatever part of the demo commune is missing, and returns its logins (passwords of
/// existing accounts are taken from the credentials file, or reset when it was lost).
pub async fn seed(
    state: &AppState,
    households: usize,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> anyhow::Result<(Vec<Login>, SeedReport)> {
    let storage = &state.storage;
    let mut report = SeedReport::default();
    storage
        .upsert_commune(&commune())
        .await
        .context("creating the demo commune")?;
    let hamlets: Vec<(String, String)> = HAMLETS
        .iter()
        .enumerate()
        .map(|(i, name)| (hamlet_id(i), (*name).to_owned()))
        .collect();
    for (id, name) in &hamlets {
        let hamlet = Hamlet {
            commune_code: COMMUNE_CODE.into(),
            id: id.clone(),
            name: name.clone(),
            expected_households: Some((households / HAMLETS.len()) as i64 + 5),
        };
        storage
            .upsert_hamlet(&hamlet)
            .await
            .context("creating a hamlet")?;
    }

    let known = read_known_passwords(&credentials_path(&state.config.data_dir));
    let mut logins = Vec::new();
    for wanted in demo_people(&hamlets) {
        logins.push(ensure_user(state, wanted, &known, &mut report).await?);
    }

    let stored = storage.list_document_ids(COMMUNE_CODE).await?.len();
    if stored < households {
        let year = crate::reference_year();
        let generated = tokio::task::spawn_blocking(move || {
            generate::households(COMMUNE_CODE, &hamlets, households, year)
        })
        .await
        .context("generating demo households")?;
        let total = generated.len();
        for (done, h) in generated.into_iter().enumerate() {
            let (mut conflicts, mut errors) = (false, false);
            for changes in h.phones {
                let applied = state
                    .documents
                    .apply_changes(&h.id, changes)
                    .await
                    .with_context(|| {
                        format!("storing demo household {} ({})", h.id, h.hamlet_id)
                    })?;
                report.changes_stored += applied.new_changes;
                conflicts = !applied.projection.conflicts.is_empty();
                errors = applied.projection.has_errors();
            }
            report.with_findings += usize::from(errors);
            report.with_conflicts += usize::from(conflicts);
            report.households_written += 1;
            progress(done + 1, total);
        }
    }
    Ok((logins, report))
}

fn commune() -> Commune {
    Commune {
        code: COMMUNE_CODE.into(),
        name: COMMUNE_NAME.into(),
        province: PROVINCE.into(),
    }
}

/// The demo's accounts: an admin, two commune staff and a head for each hamlet.
fn demo_people(hamlets: &[(String, String)]) -> Vec<(String, String, Role, Vec<String>)> {
    let mut people = vec![
        (
            "admin".to_owned(),
            "Quản trị hệ thống".to_owned(),
            Role::Admin,
            vec![],
        ),
        (
            "canbo1".into(),
            "Lê Thị Thu Hà (Văn hóa – Xã hội)".into(),
            Role::CommuneStaff,
            vec![],
        ),
        (
            "canbo2".into(),
            "Đỗ Minh Tuấn (Văn phòng UBND)".into(),
            Role::CommuneStaff,
            vec![],
        ),
    ];
    for (i, (id, name)) in hamlets.iter().enumerate() {
        people.push((
            format!("truongthon{:02}", i + 1),
            format!("Trưởng thôn {}", name.trim_start_matches("Thôn ")),
            Role::HamletHead,
            vec![id.clone()],
        ));
    }
    people
}

fn read_known_passwords(path: &Path) -> BTreeMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Credentials>(&bytes).ok())
        .map(|c| {
            c.users
                .into_iter()
                .map(|u| (u.username, u.password))
                .collect()
        })
        .unwrap_or_default()
}

async fn ensure_user(
    state: &AppState,
    (username, display_name, role, hamlets): (String, String, Role, Vec<String>),
    known: &BTreeMap<String, String>,
    report: &mut SeedReport,
) -> anyhow::Result<Login> {
    let storage = &state.storage;
    let existing = storage.get_user_by_username(&username).await?;
    let remembered = known.get(&username).filter(|p| {
        existing
            .as_ref()
            .is_some_and(|u| password::verify(p, &u.password_hash))
    });
    let password = match remembered {
        Some(p) => p.clone(),
        None => {
            let fresh = password::generate();
            let to_hash = fresh.clone();
            let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash))
                .await
                .context("hashing a password")??;
            match &existing {
                Some(user) => storage.set_password_hash(&user.id, &hash).await?,
                None => {
                    let user = User {
                        id: uuid::Uuid::new_v4().to_string(),
                        username: username.clone(),
                        display_name: display_name.clone(),
                        role,
                        commune_code: Some(COMMUNE_CODE.into()),
                        hamlets: hamlets.clone(),
                        password_hash: hash,
                        created_at: crate::now_millis(),
                        disabled: false,
                    };
                    storage.create_user(&user).await?;
                    report.users_created += 1;
                }
            }
            fresh
        }
    };
    Ok(Login {
        username,
        password,
        role,
        display_name,
        hamlets,
    })
}

/// Writes the logins as JSON, readable by the owner only (it holds passwords).
pub fn write_credentials(data_dir: &Path, credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path(data_dir);
    let json = serde_json::to_vec_pretty(credentials)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&json)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The lines printed for people once the demo is serving.
pub fn describe(credentials: &Credentials, path: &Path) -> String {
    let mut out = format!(
        "\nsansang demo: {} ({}), {}\n  open {}\n\n  logins (username / password):\n",
        credentials.commune.name,
        credentials.commune.code,
        credentials.commune.province,
        credentials.url
    );
    for u in &credentials.users {
        let role = match u.role {
            Role::Admin => "quản trị / admin".to_owned(),
            Role::CommuneStaff => "cán bộ xã / commune staff".to_owned(),
            Role::HamletHead => format!("trưởng thôn / hamlet head {}", u.hamlets.join(",")),
        };
        out.push_str(&format!(
            "    {:<14} {:<16} {role}\n",
            u.username, u.password
        ));
    }
    out.push_str(&format!("\n  saved to {}\n", path.display()));
    out
}
