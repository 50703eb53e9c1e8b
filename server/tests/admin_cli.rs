//! `sansang admin …` as an administrator runs it: a commune and its hamlets from a Vietnamese CSV
//! (stored NFC), a bad CSV that writes nothing, accounts and passwords, an enrollment code with
//! its QR, and a phone listed and revoked; the database is read back to check what was stored.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sansang_server::auth::{enrollment, password};
use sansang_server::storage::{AuditFilter, SqlStorage, Storage};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::is_nfc;

const PUBLIC_URL: &str = "https://sansang.xahatay.example";

/// Splits a command line on spaces; 'single quotes' keep spaces inside one argument.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for (i, part) in line.split('\'').enumerate() {
        if i % 2 == 1 {
            words.push(part.to_owned());
        } else {
            words.extend(part.split_whitespace().map(str::to_owned));
        }
    }
    words
}

fn run(data_dir: &Path, line: &str, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sansang"))
        .env("SANSANG_DATA_DIR", data_dir.join("data"))
        .env("SANSANG_PUBLIC_URL", PUBLIC_URL)
        .env("SANSANG_LOG", "warn")
        .env_remove("SANSANG_DATABASE_URL")
        .env_remove("SANSANG_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(data_dir)
        .args(words(line))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed; returns its standard output.
fn ok(dir: &Path, line: &str) -> String {
    let out = run(dir, line, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{line}\n{stdout}\n{stderr}");
    stdout
}

/// Runs a command that must fail; returns its standard error.
fn fails(dir: &Path, line: &str) -> String {
    let out = run(dir, line, "");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{line} should fail\n{stderr}");
    stderr
}

/// Opens the database the commands wrote and runs `f` on it.
fn with_db<T>(dir: &Path, f: impl AsyncFnOnce(&SqlStorage) -> T) -> T {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("data/sansang.db").display()
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = SqlStorage::connect(&url).await.unwrap();
        let value = f(&db).await;
        db.close().await;
        value
    })
}

/// The text after `label` on the line that has it.
fn after<'a>(stdout: &'a str, label: &str) -> &'a str {
    let line = stdout.lines().find(|l| l.contains(label)).unwrap();
    line.split(label).nth(1).unwrap().trim()
}

fn write_csv(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text.as_bytes()).unwrap();
    name.to_owned()
}

#[test]
fn commune_and_hamlets_from_a_decomposed_csv_are_stored_nfc() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // As some Mac and web tools save it: decomposed accents, a BOM, CRLF, a quoted comma.
    let csv: String = "Mã,Tên,Số hộ\r\nT01,Thôn Đông,320\r\n\
                       T02,\"Tổ dân phố 2, khu Bắc\",\r\nT03,Tho\u{302}n Thượng,  45 \r\n"
        .nfd()
        .collect();
    assert!(!is_nfc(&csv) && csv.contains("Tho\u{302}n"));
    let file = write_csv(dir, "thôn.csv", &format!("\u{FEFF}{csv}"));
    let name: String = "  Xã Hà Tây ".nfd().collect();
    let create = format!(
        "admin commune create --code 10846 --name '{name}' \
         --province 'Thành phố Hải Phòng' --hamlets {file}"
    );
    let out = ok(dir, &create);
    assert!(out.contains("Commune 10846 created: Xã Hà Tây"), "{out}");
    assert!(
        out.contains("3 hamlets imported into 10846 (3 new"),
        "{out}"
    );

    let out = ok(dir, "admin devices list --commune 10846");
    assert!(
        out.contains("no devices enrolled in commune 10846"),
        "{out}"
    );

    // Again: an upsert, nothing doubled.
    let out = ok(dir, &create);
    assert!(out.contains("Commune 10846 updated"), "{out}");
    assert!(
        out.contains("3 hamlets imported into 10846 (0 new, 3 updated)"),
        "{out}"
    );

    let (commune, hamlets, audit) = with_db(dir, async |db| {
        let commune = db.get_commune("10846").await.unwrap().unwrap();
        let hamlets = db.list_hamlets("10846").await.unwrap();
        let audit = db.list_audit(&AuditFilter::default()).await.unwrap();
        (commune, hamlets, audit)
    });
    assert_eq!(commune.name, "Xã Hà Tây");
    assert!(is_nfc(&commune.name) && is_nfc(&commune.province));
    let stored: Vec<(&str, &str, Option<i64>)> = hamlets
        .iter()
        .map(|h| (h.id.as_str(), h.name.as_str(), h.expected_households))
        .collect();
    assert_eq!(
        stored,
        [
            ("T01", "Thôn Đông", Some(320)),
            ("T02", "Tổ dân phố 2, khu Bắc", None),
            ("T03", "Thôn Thượng", Some(45)),
        ]
    );
    assert!(hamlets.iter().all(|h| is_nfc(&h.name)));
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "admin.commune.create",
        "admin.hamlets.import",
        "admin.devices.list",
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}

#[test]
fn a_bad_csv_names_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let bad = "id,name,expected_households\nT13,Thôn Mới,10\nT14,Thôn Khác,\nT13,Thôn Trùng,5\n";
    let bad = write_csv(dir, "bad.csv", bad);
    let err = fails(
        dir,
        &format!("admin commune create --code 10847 --name 'Xã Mới' --province HP --hamlets {bad}"),
    );
    assert!(err.contains("line 4, column 1 (id)"), "{err}");
    assert!(
        err.contains("T13 is repeated") && err.contains("nothing imported"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let err = fails(
        dir,
        "admin commune create --code 1084a --name X --province Y",
    );
    assert!(err.contains("exactly 5 digits"), "{err}");

    ok(
        dir,
        "admin commune create --code 10846 --name 'Xã Hà Tây' --province 'Hải Phòng'",
    );
    let err = fails(dir, &format!("admin hamlets import --commune 10846 {bad}"));
    assert!(err.contains("line 4"), "{err}");
    let words = write_csv(dir, "words.csv", "ma,ten,so_ho\nT01,A,mười\n");
    let err = fails(
        dir,
        &format!("admin hamlets import --commune 10846 {words}"),
    );
    assert!(
        err.contains("line 2, column 3 (so_ho)") && err.contains("mười"),
        "{err}"
    );

    let (other, hamlets) = with_db(dir, async |db| {
        let other = db.get_commune("10847").await.unwrap();
        (other, db.list_hamlets("10846").await.unwrap())
    });
    assert_eq!(other, None, "the commune of a bad file is not created");
    assert!(hamlets.is_empty(), "{hamlets:?}");
}

#[test]
fn accounts_passwords_enrollment_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let csv = write_csv(dir, "h.csv", "id,name\nT01,Thôn Đông\nT02,Thôn Tây\n");
    ok(
        dir,
        &format!("admin commune create --code 10846 --name X --province Y --hamlets {csv}"),
    );

    let head = "admin user create --username Lan --name 'Trần Thị Lan' --role hamlet-head \
                --commune 10846 --hamlet T01";
    let out = ok(dir, head);
    assert!(out.contains("User lan created"), "{out}");
    let first = after(&out, "password (shown once):").to_owned();
    assert_eq!(first.len(), 14, "{out}");
    let err = fails(dir, head);
    assert_eq!(err.trim(), "error: username lan is taken");
    let err = fails(
        dir,
        "admin user create --username x --name X --role hamlet-head --commune 10846 --hamlet T09",
    );
    assert!(
        err.contains("hamlet T09 is not a hamlet of commune 10846"),
        "{err}"
    );

    let staff = "admin user create --username canbo --name 'Cán bộ' --role commune-staff \
                 --commune 10846 --password-stdin";
    let out = run(dir, staff, "mật khẩu riêng của tôi\n");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && !stdout.contains("password"),
        "{stdout}"
    );

    let out = ok(dir, "admin password reset LAN");
    let second = after(&out, "new password (shown once):").to_owned();
    assert_ne!(first, second);
    let err = fails(dir, "admin password reset nobody");
    assert!(err.contains("no user named nobody"), "{err}");

    let out = ok(
        dir,
        "admin enroll --commune 10846 --volunteer 'Nguyễn Văn A' --hamlet T01 --hamlet T02 --hours 48",
    );
    let code = after(&out, "enrollment code:").to_owned();
    let groups: Vec<&str> = code.split('-').collect();
    let code_char = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    assert!(
        groups.len() == 3
            && groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(code_char)),
        "{code}"
    );
    assert!(
        out.contains(&format!("{PUBLIC_URL}/field/#enroll={code}")),
        "{out}"
    );
    assert!(out.contains('█') || out.contains('▀'), "{out}");
    let b = after(&out, "expires:").as_bytes();
    assert!(
        b.len() >= 16 && b[2] == b'/' && b[5] == b'/' && b[13] == b':',
        "{out}"
    );

    let (device, users) = with_db(dir, async |db| {
        let (_token, device) = enrollment::redeem(db, &code).await.unwrap();
        (device, db.list_users(None).await.unwrap())
    });
    let lan = users.iter().find(|u| u.username == "lan").unwrap();
    assert!(password::verify(&second, &lan.password_hash));
    let out = ok(dir, "admin devices list --commune 10846");
    let row = out.lines().find(|l| l.starts_with(&device.id)).unwrap();
    assert!(
        row.contains("Nguyễn Văn A") && row.contains("T01,T02"),
        "{out}"
    );
    assert!(row.ends_with("active"), "{out}");

    let out = ok(dir, &format!("admin devices revoke {}", device.id));
    assert!(out.contains("revoked"), "{out}");
    let out = ok(dir, "admin devices list --commune 10846");
    let row = out.lines().find(|l| l.starts_with(&device.id)).unwrap();
    assert!(row.contains("revoked "), "{out}");
    let err = fails(dir, "admin devices revoke no-such-device");
    assert!(err.contains("no device with id no-such-device"), "{err}");

    let audit = with_db(dir, async |db| {
        db.list_audit(&AuditFilter::default()).await.unwrap()
    });
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in ["admin.user.create", "admin.password.reset", "admin.enroll"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    assert!(actions.contains(&"admin.devices.revoke"), "{actions:?}");
    for entry in &audit {
        let detail = entry.detail.as_deref().unwrap_or("");
        for secret in [
            first.as_str(),
            second.as_str(),
            code.as_str(),
            "mật khẩu riêng",
        ] {
            assert!(!detail.contains(secret), "{detail}");
        }
    }
}

/// `admin photos migrate` copies the photo folder into another store with progress, resumes
/// where an earlier run stopped, and empties the source only when asked; `admin photos sweep`
/// on photos nobody recorded removes nothing; a target that cannot be opened is named.
#[test]
fn photos_migrate_to_another_folder_and_sweep() {
    use sansang_server::photos::{FolderStore, PhotoKey, PhotoStore, Sha256Hex, Variant};
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("data/photos");
    let target_dir = dir.path().join("moved");
    let keys: Vec<PhotoKey> = (0..5u8)
        .map(|i| PhotoKey::new(Sha256Hex::of(&[i]), Variant::ALL[usize::from(i) % 3]))
        .collect();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let source = FolderStore::new(source_dir.clone()).unwrap();
        for (i, key) in keys.iter().enumerate() {
            source.put(key, vec![i as u8; 100]).await.unwrap();
        }
        // An earlier run got as far as the first object.
        let target = FolderStore::new(target_dir.clone()).unwrap();
        target.put(&keys[0], vec![0u8; 100]).await.unwrap();
    });

    let target = target_dir.display().to_string();
    let out = run(
        dir.path(),
        &format!("admin photos migrate --to {target}"),
        "",
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("5/5 objects"), "{stderr}");
    assert!(
        stdout.contains("5 objects: 4 copied, 1 already there, 0 deleted from the source"),
        "{stdout}"
    );
    let stdout = ok(
        dir.path(),
        &format!("admin photos migrate --to {target} --delete-source"),
    );
    assert!(
        stdout.contains("0 copied, 5 already there, 5 deleted from the source"),
        "{stdout}"
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let source = FolderStore::new(source_dir.clone()).unwrap();
        assert!(source.list().await.unwrap().is_empty());
        let target = FolderStore::new(target_dir.clone()).unwrap();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(target.list().await.unwrap(), sorted);
    });

    let stdout = ok(dir.path(), "admin photos sweep --grace-hours 0");
    assert!(stdout.contains("removed 0 unreferenced photos"), "{stdout}");
    let stderr = fails(
        dir.path(),
        "admin photos migrate --to ftp://elsewhere/photos",
    );
    assert!(stderr.contains("ftp://elsewhere/photos"), "{stderr}");
    let actions = with_db(dir.path(), async |db| {
        db.list_audit(&AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect::<Vec<_>>()
    });
    assert!(
        actions.iter().any(|a| a == "admin.photos.migrate"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "admin.photos.sweep"),
        "{actions:?}"
    );
}

#[test]
fn backup_restore_retention_and_breach_commands() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), "demo --households 12 --no-serve");

    let report = ok(dir.path(), "admin retention report");
    assert!(report.contains("households: 12 (0 approved)"), "{report}");
    let applied = ok(dir.path(), "admin retention apply");
    assert!(applied.contains("0 evidence photos removed"), "{applied}");

    let out = ok(dir.path(), "admin backup --out backup.tar");
    assert!(out.contains("12 documents"), "{out}");
    let again = fails(dir.path(), "admin backup --out backup.tar");
    assert!(again.contains("already exists"), "{again}");
    // Restored next to the original, into a data folder of its own.
    let restored = Command::new(env!("CARGO_BIN_EXE_sansang"))
        .env("SANSANG_DATA_DIR", dir.path().join("restored"))
        .env("SANSANG_LOG", "warn")
        .env_remove("SANSANG_DATABASE_URL")
        .env_remove("SANSANG_CONFIG")
        .current_dir(dir.path())
        .args(["admin", "restore", "--from", "backup.tar"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(stdout.contains("12 documents"), "{stdout}");
    assert!(dir.path().join("restored/sansang.db").exists());

    let touched = ok(
        dir.path(),
        "admin audit touched --user canbo1 --from 2026-01-01 --to 2099-12-31",
    );
    assert!(touched.contains("account canbo1"), "{touched}");
    let unknown = fails(
        dir.path(),
        "admin audit touched --user nobody --from 2026-01-01 --to 2026-12-31",
    );
    assert!(unknown.contains("no account is named"), "{unknown}");
    let bad_day = fails(
        dir.path(),
        "admin audit touched --user canbo1 --from 30/11/2026 --to 2026-12-31",
    );
    assert!(bad_day.contains("--from"), "{bad_day}");
}

#[test]
fn quarantined_documents_are_listed_released_and_erased() {
    use automerge::transaction::Transactable;
    use sansang_server::documents::DocumentId;
    use sansang_server::storage::{DocumentScope, DocumentUpdate, StoredChange};

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let csv = write_csv(dir, "h.csv", "id,name\nT01,Thôn Đông\nT02,Thôn Tây\n");
    ok(
        dir,
        &format!("admin commune create --code 10846 --name X --province Y --hamlets {csv}"),
    );
    // Two households a phone sent for a hamlet the commune does not have: in quarantine.
    let ids = with_db(dir, async |db| {
        let mut ids = Vec::new();
        for n in 0..2 {
            let mut doc = automerge::AutoCommit::new();
            doc.put(automerge::ROOT, "schema", "sansang.household/1")
                .unwrap();
            doc.put(automerge::ROOT, "communeCode", "10846").unwrap();
            doc.put(automerge::ROOT, "hamletId", "T09").unwrap();
            doc.put(automerge::ROOT, "address", format!("Số {n}, xóm Lạc"))
                .unwrap();
            let changes = doc
                .get_changes(&[])
                .iter()
                .map(|c| StoredChange {
                    hash: c.hash().to_string(),
                    bytes: c.raw_bytes().to_vec(),
                })
                .collect();
            let id = DocumentId::random();
            db.apply_document_update(&DocumentUpdate {
                document_id: id.as_str().to_owned(),
                scope: DocumentScope {
                    commune_code: Some("10846".into()),
                    hamlet_id: Some("T09".into()),
                    quarantined: true,
                    quarantined_by: Some("device:d-1".into()),
                },
                changes,
                expected_seq: None,
                projection: None,
                stored_projection: None,
                audit: Vec::new(),
            })
            .await
            .unwrap();
            ids.push(id);
        }
        ids
    });
    let list = ok(dir, "admin quarantine list --commune 10846");
    assert!(
        ids.iter().all(|id| list.contains(id.as_str())) && list.contains("device:d-1"),
        "{list}"
    );
    let refused = fails(
        dir,
        &format!("admin quarantine release {} --hamlet T99", ids[0]),
    );
    assert!(refused.contains("T99"), "{refused}");
    let out = ok(
        dir,
        &format!("admin quarantine release {} --hamlet T01", ids[0]),
    );
    assert!(out.contains("released"), "{out}");
    let refused = fails(
        dir,
        &format!("admin quarantine erase {} --reason ' '", ids[1]),
    );
    assert!(refused.contains("--reason"), "{refused}");
    let out = ok(
        dir,
        &format!("admin quarantine erase {} --reason 'gửi nhầm'", ids[1]),
    );
    assert!(out.contains("erased"), "{out}");
    let (released, erased, listed) = with_db(dir, async |db| {
        (
            db.document_scope(ids[0].as_str()).await.unwrap(),
            db.tombstone(ids[1].as_str()).await.unwrap(),
            db.list_households("10846", Some("T01")).await.unwrap(),
        )
    });
    let released = released.unwrap();
    assert!(!released.quarantined, "{released:?}");
    assert_eq!(released.hamlet_id.as_deref(), Some("T01"));
    assert!(listed.iter().any(|h| h.document_id == ids[0].as_str()));
    assert!(erased.is_some(), "a tombstone keeps the erased id");
    let list = ok(dir, "admin quarantine list");
    assert!(list.contains("no quarantined documents"), "{list}");
}

/// `sansang admin roster import`: a bad file prints every problem with its line and column and
/// writes nothing; a good one makes one household document per listed household; the same file
/// again changes nothing.
#[test]
fn a_roster_is_checked_whole_then_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let hamlets = write_csv(dir, "thon.csv", "id,name\nT01,Thôn Đông\nT02,Thôn Tây\n");
    ok(
        dir,
        &format!(
            "admin commune create --code 10846 --name 'Xã Hà Tây' --province 'Hải Phòng' \
             --hamlets {hamlets}"
        ),
    );
    let bad = write_csv(
        dir,
        "ds-bad.csv",
        "thôn,mã hộ,địa chỉ,chủ hộ\nT01,H1,Số 1 xóm Đông,Lê Văn Một\nT09,H2,Số 2,\nT01,H1,Số 3,\n",
    );
    let err = fails(dir, &format!("admin roster import --commune 10846 {bad}"));
    assert!(err.contains("2 problems; nothing imported"), "{err}");
    assert!(
        err.contains("line 3, column 1 (thôn): T09 is not a hamlet of commune 10846"),
        "{err}"
    );
    assert!(
        err.contains("line 4, column 2 (mã hộ): household code H1 is repeated (first on line 2)"),
        "{err}"
    );
    let listed = with_db(dir, async |db| db.list_roster("10846").await.unwrap());
    assert!(listed.is_empty(), "nothing written: {listed:?}");

    let good: String = "\u{FEFF}thôn,mã hộ,địa chỉ,chủ hộ,số nhân khẩu\r\n\
                        T01,H1,Số 1 xóm Đông,Lê Văn Một,3\r\nT02,H2,Số 2 xóm Tây,,\r\n"
        .nfd()
        .collect();
    let good = write_csv(dir, "ds.csv", &good);
    let out = ok(
        dir,
        &format!("admin roster import --commune 10846 {good} --dry-run"),
    );
    assert!(
        out.contains("2 new households, 0 updated, 0 unchanged"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(with_db(dir, async |db| db.list_roster("10846").await.unwrap()).is_empty());
    let out = ok(dir, &format!("admin roster import --commune 10846 {good}"));
    assert!(out.contains("2 household documents made"), "{out}");
    let out = ok(dir, &format!("admin roster import --commune 10846 {good}"));
    assert!(
        out.contains("0 new households, 0 updated, 2 unchanged"),
        "{out}"
    );
    assert!(out.contains("0 household documents made"), "{out}");
    let (listed, projected) = with_db(dir, async |db| {
        let listed = db.list_roster("10846").await.unwrap();
        let mut projected = Vec::new();
        for entry in &listed {
            projected.push(
                db.get_projection(&entry.document_id)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        (listed, projected)
    });
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].head_name.as_deref(), Some("Lê Văn Một"));
    assert!(is_nfc(listed[0].head_name.as_deref().unwrap()));
    assert_eq!(listed[0].members, Some(3));
    let households: Vec<(Option<&str>, Option<&str>, Option<&str>)> = projected
        .iter()
        .map(|p| {
            (
                p.household.hamlet_id.as_deref(),
                p.household.address.as_deref(),
                p.household.roster_code.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        households,
        [
            (Some("T01"), Some("Số 1 xóm Đông"), Some("H1")),
            (Some("T02"), Some("Số 2 xóm Tây"), Some("H2")),
        ]
    );
}
