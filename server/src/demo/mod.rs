//! `sansang demo`: a ready demo commune (Xã Hà Tây, Hải Phòng) with its people and about a
//! thousand simulated surveys, created once; running it again adds nothing.

mod generate;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::auth::enrollment::{self, CodeRequest};
use crate::auth::{password, token};
use crate::storage::{Actor, Commune, Hamlet, Role};

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
    /// One enrolled demo phone per hamlet, so a real client can connect at once.
    #[serde(default)]
    pub devices: Vec<DemoDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoDevice {
    pub hamlet_id: String,
    pub volunteer: String,
    pub device_id: String,
    pub token: String,
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
    pub devices_enrolled: usize,
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
) -> anyhow::Result<(Seeded, SeedReport)> {
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

    let previous = read_credentials(&credentials_path(&state.config.data_dir));
    let known: BTreeMap<String, String> = previous
        .iter()
        .flat_map(|c| &c.users)
        .map(|u| (u.username.clone(), u.password.clone()))
        .collect();
    let mut logins = Vec::new();
    for wanted in demo_people(&hamlets) {
        logins.push(ensure_user(state, wanted, &known, &mut report).await?);
    }
    let mut devices = Vec::new();
    for (i, (id, name)) in hamlets.iter().enumerate() {
        let kept = previous
            .iter()
            .flat_map(|c| &c.devices)
            .find(|d| &d.hamlet_id == id);
        devices.push(ensure_device(state, id, name, i, kept, &mut report).await?);
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
                if let Some(p) = &applied.projection {
                    conflicts = !p.conflicts.is_empty();
                    errors = p.has_errors();
                }
            }
            report.with_findings += usize::from(errors);
            report.with_conflicts += usize::from(conflicts);
            report.households_written += 1;
            progress(done + 1, total);
        }
    }
    Ok((Seeded { logins, devices }, report))
}

/// The people's logins and the phones' tokens of the demo.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub logins: Vec<Login>,
    pub devices: Vec<DemoDevice>,
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

fn read_credentials(path: &Path) -> Option<Credentials> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Credentials>(&bytes).ok())
}

/// The demo phone of a hamlet: the one remembered in the credentials file while its token still
/// works, else a newly enrolled one (through the same code path as a real phone).
async fn ensure_device(
    state: &AppState,
    hamlet_id: &str,
    hamlet_name: &str,
    index: usize,
    kept: Option<&DemoDevice>,
    report: &mut SeedReport,
) -> anyhow::Result<DemoDevice> {
    if let Some(kept) = kept {
        let live = state
            .storage
            .get_device_by_token_hash(&token::hash(&kept.token))
            .await?
            .is_some_and(|d| d.revoked_at.is_none());
        if live {
            return Ok(kept.clone());
        }
    }
    let volunteer = format!(
        "{} (đoàn viên {})",
        VOLUNTEERS[index % VOLUNTEERS.len()],
        hamlet_name
    );
    let issued = enrollment::issue(
        state.storage.as_ref(),
        Actor::System,
        CodeRequest {
            commune_code: COMMUNE_CODE,
            volunteer: &volunteer,
            hamlets: &[hamlet_id.to_owned()],
            validity: enrollment::DEFAULT_VALIDITY,
        },
        &state.public_url(),
    )
    .await
    .context("issuing a demo enrollment code")?;
    let (token, device) = enrollment::redeem(state.storage.as_ref(), &issued.code)
        .await
        .context("enrolling a demo phone")?;
    report.devices_enrolled += 1;
    Ok(DemoDevice {
        hamlet_id: hamlet_id.to_owned(),
        volunteer: device.volunteer,
        device_id: device.id,
        token,
    })
}

/// Youth-union volunteers of the demo, one per hamlet.
const VOLUNTEERS: [&str; 12] = [
    "Nguyễn Thị Hồng Nhung",
    "Trần Minh Đức",
    "Lê Thu Trang",
    "Phạm Quốc Huy",
    "Hoàng Ngọc Ánh",
    "Vũ Đức Thắng",
    "Đặng Thị Mai",
    "Bùi Văn Khoa",
    "Đỗ Phương Linh",
    "Ngô Thanh Tùng",
    "Dương Thị Yến",
    "Phan Anh Tuấn",
];

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
    let password = match (remembered, &existing) {
        (Some(p), _) => p.clone(),
        (None, Some(user)) => accounts::reset_password(storage.as_ref(), user).await?,
        (None, None) => {
            let (_, password) = accounts::create(
                storage.as_ref(),
                NewAccount {
                    username: &username,
                    display_name: &display_name,
                    role,
                    commune_code: Some(COMMUNE_CODE),
                    hamlets: &hamlets,
                    password: None,
                },
            )
            .await?;
            report.users_created += 1;
            password
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
pub fn describe(credentials: &Credentials, path: &Path, field_enroll_url: &str) -> String {
    let mut out = format!(
        "\nsansang demo: {} ({}), {}\n  open {}\n  review pages (hamlet heads) {}/review\n  field app (a volunteer's phone, hamlet T01; one-time link, 24 h) {}\n\n  logins (username / password):\n",
        credentials.commune.name,
        credentials.commune.code,
        credentials.commune.province,
        credentials.url,
        credentials.url,
        field_enroll_url
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
