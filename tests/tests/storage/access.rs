//! Sessions of people signed in, and one-time enrollment codes exchanged for a phone's device.

use std::sync::Arc;

use sansang_server::storage::{
    Actor, Device, Enrollment, Redeemed, Role, Session, Storage, StorageError, User,
};
use sansang_tests::db::TestDb;

use crate::fixtures::{COMMUNE, OTHER_COMMUNE, seed_communes, user};

/// When the codes of these stories are issued; they live a day.
const ISSUED: i64 = 1_700_000_000_000;
const DAY: i64 = 24 * 60 * 60 * 1000;

fn session(token_hash: &str, user_id: &str, created_at: i64) -> Session {
    Session {
        token_hash: token_hash.to_owned(),
        user_id: user_id.to_owned(),
        created_at,
        expires_at: created_at + 12 * 60 * 60 * 1000,
        address: Some("203.113.131.7".to_owned()),
    }
}

fn enrollment(
    code_hash: &str,
    volunteer: &str,
    commune_code: &str,
    hamlets: &[&str],
    created_at: i64,
    issued_by: &str,
) -> Enrollment {
    Enrollment {
        code_hash: code_hash.to_owned(),
        volunteer: volunteer.to_owned(),
        commune_code: commune_code.to_owned(),
        hamlets: hamlets.iter().map(|h| (*h).to_owned()).collect(),
        created_by: Actor::User(issued_by.to_owned()),
        created_at,
        expires_at: created_at + DAY,
        used_at: None,
        device_id: None,
    }
}

/// The device a phone asks for: its own id and token; the rest is the enrollment's to say, so
/// these fields are deliberately wrong.
fn phone(n: u32, created_at: i64) -> Device {
    Device {
        id: uuid::Uuid::new_v4().to_string(),
        volunteer: "Tên do điện thoại tự khai".to_owned(),
        commune_code: OTHER_COMMUNE.to_owned(),
        hamlets: vec!["99".to_owned()],
        token_hash: format!("{:064x}", 0xd00d_0000_u64 + u64::from(n)),
        created_at,
        revoked_at: None,
    }
}

fn hash(n: u32) -> String {
    format!("{:064x}", 0xc0de_0000_u64 + u64::from(n))
}

pub async fn sessions_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;
    let lan = user("nguyen.thi.lan", Role::CommuneStaff, Some(COMMUNE), &[]);
    let hung = user("tran.van.hung", Role::HamletHead, Some(COMMUNE), &["01"]);
    storage.create_user(&lan).await.expect("create user");
    storage.create_user(&hung).await.expect("create user");

    let phone_lan = session(&hash(1), &lan.id, ISSUED);
    let laptop_lan = Session {
        address: None,
        ..session(&hash(2), &lan.id, ISSUED + 1_000)
    };
    let hung_session = session(&hash(3), &hung.id, ISSUED + 2_000);
    for s in [&phone_lan, &laptop_lan, &hung_session] {
        storage.create_session(s).await.expect("create session");
    }

    assert_eq!(
        storage
            .get_session(&phone_lan.token_hash)
            .await
            .expect("get"),
        Some(phone_lan.clone())
    );
    assert_eq!(
        storage
            .get_session(&laptop_lan.token_hash)
            .await
            .expect("get"),
        Some(laptop_lan.clone()),
        "no address is kept as none"
    );
    assert_eq!(storage.get_session(&hash(99)).await.expect("get"), None);
    // The check a sync socket makes before every message: the session's own person, not
    // expired, not disabled.
    let live = |h: String, user: String, now: i64| {
        let storage = &storage;
        async move { storage.session_live(&h, &user, now).await.expect("live") }
    };
    assert!(live(hash(1), lan.id.clone(), ISSUED + 1).await);
    assert!(
        !live(hash(1), hung.id.clone(), ISSUED + 1).await,
        "another person's session"
    );
    assert!(
        !live(hash(1), lan.id.clone(), phone_lan.expires_at).await,
        "expired"
    );
    assert!(
        !live(hash(99), lan.id.clone(), ISSUED + 1).await,
        "no such session"
    );
    let gone = User {
        disabled: true,
        ..user("le.van.nghi", Role::CommuneStaff, Some(COMMUNE), &[])
    };
    storage.create_user(&gone).await.expect("create user");
    storage
        .create_session(&session(&hash(50), &gone.id, ISSUED))
        .await
        .expect("create session");
    assert!(
        !live(hash(50), gone.id.clone(), ISSUED + 1).await,
        "a disabled person"
    );

    // Same token hash twice: Conflict; a session of nobody: NotFound.
    let err = storage
        .create_session(&session(&hash(1), &hung.id, ISSUED))
        .await
        .expect_err("same token");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");
    let err = storage
        .create_session(&session(&hash(4), "no-such-user", ISSUED))
        .await
        .expect_err("unknown user");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
    assert_eq!(
        storage
            .get_session(&phone_lan.token_hash)
            .await
            .expect("get"),
        Some(phone_lan.clone()),
        "the existing session is untouched"
    );

    // Signing out of one session; unknown tokens are fine.
    storage
        .delete_session(&phone_lan.token_hash)
        .await
        .expect("delete");
    storage
        .delete_session(&phone_lan.token_hash)
        .await
        .expect("delete again");
    storage
        .delete_session(&hash(99))
        .await
        .expect("delete unknown");
    assert_eq!(
        storage
            .get_session(&phone_lan.token_hash)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        storage
            .get_session(&laptop_lan.token_hash)
            .await
            .expect("get"),
        Some(laptop_lan.clone())
    );

    // Signing a person out everywhere leaves everyone else signed in.
    storage
        .create_session(&session(&hash(5), &lan.id, ISSUED + 3_000))
        .await
        .expect("create session");
    assert_eq!(
        storage.delete_user_sessions(&lan.id).await.expect("delete"),
        2
    );
    assert_eq!(
        storage.delete_user_sessions(&lan.id).await.expect("delete"),
        0
    );
    assert_eq!(
        storage
            .get_session(&laptop_lan.token_hash)
            .await
            .expect("get"),
        None
    );
    assert_eq!(storage.get_session(&hash(5)).await.expect("get"), None);
    assert_eq!(
        storage
            .get_session(&hung_session.token_hash)
            .await
            .expect("get"),
        Some(hung_session.clone())
    );
    storage.close().await;
}

pub async fn enrollments_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;
    let staff = user("nguyen.thi.lan", Role::CommuneStaff, Some(COMMUNE), &[]);
    storage.create_user(&staff).await.expect("create user");

    let older = enrollment(&hash(1), "Lê Văn Tâm", COMMUNE, &["02"], ISSUED, &staff.id);
    let newer = enrollment(
        &hash(2),
        "Phạm Thị Mai",
        COMMUNE,
        &["03", "01"],
        ISSUED + 60_000,
        &staff.id,
    );
    let by_system = Enrollment {
        created_by: Actor::System,
        ..enrollment(&hash(3), "Đỗ Quang Huy", COMMUNE, &[], ISSUED + 30_000, "")
    };
    let elsewhere = enrollment(
        &hash(4),
        "Võ Thị Hồng",
        OTHER_COMMUNE,
        &["05"],
        ISSUED,
        &staff.id,
    );
    for e in [&older, &newer, &by_system, &elsewhere] {
        storage
            .create_enrollment(e)
            .await
            .expect("create enrollment");
    }

    let mut expected_newer = newer.clone();
    expected_newer.hamlets.sort();
    assert_eq!(
        storage.list_enrollments(COMMUNE).await.expect("list"),
        vec![expected_newer, by_system.clone(), older.clone()],
        "newest first, hamlets sorted"
    );
    assert_eq!(
        storage.list_enrollments(OTHER_COMMUNE).await.expect("list"),
        vec![elsewhere.clone()]
    );
    assert!(
        storage
            .list_enrollments("99999")
            .await
            .expect("list")
            .is_empty()
    );

    // A code hash drawn twice is a Conflict (the caller draws again) and changes nothing.
    let twin = enrollment(
        &hash(1),
        "Kẻ giả mạo",
        COMMUNE,
        &["07"],
        ISSUED + 90_000,
        &staff.id,
    );
    let err = storage
        .create_enrollment(&twin)
        .await
        .expect_err("same code hash");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");
    assert_eq!(
        storage
            .list_enrollments(COMMUNE)
            .await
            .expect("list")
            .into_iter()
            .find(|e| e.code_hash == hash(1)),
        Some(older.clone())
    );

    // A code for a commune that does not exist is refused.
    let lost = enrollment(&hash(5), "Bùi Văn Nam", "99999", &[], ISSUED, &staff.id);
    let err = storage
        .create_enrollment(&lost)
        .await
        .expect_err("unknown commune");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
    storage.close().await;
}

/// A valid code becomes a device with the enrollment's volunteer, commune and hamlets; the same
/// code never makes a second one.
pub async fn redeem_enrollment_once(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;
    let staff = user("nguyen.thi.lan", Role::CommuneStaff, Some(COMMUNE), &[]);
    storage.create_user(&staff).await.expect("create user");
    let code = enrollment(
        &hash(1),
        "Hoàng Thị Thu",
        COMMUNE,
        &["03", "01"],
        ISSUED,
        &staff.id,
    );
    storage.create_enrollment(&code).await.expect("create");

    let now = ISSUED + 10 * 60_000;
    let asked = phone(1, now);
    let Redeemed::Device(device) = storage
        .redeem_enrollment(&code.code_hash, now, &asked)
        .await
        .expect("redeem")
    else {
        panic!("a valid code gives a device");
    };
    let expected = Device {
        id: asked.id.clone(),
        volunteer: "Hoàng Thị Thu".to_owned(),
        commune_code: COMMUNE.to_owned(),
        hamlets: vec!["01".to_owned(), "03".to_owned()],
        token_hash: asked.token_hash.clone(),
        created_at: now,
        revoked_at: None,
    };
    assert_eq!(device, expected);
    assert_eq!(
        storage
            .get_device_by_token_hash(&asked.token_hash)
            .await
            .expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        storage.get_device(&asked.id).await.expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        storage.get_device("no-such-device").await.expect("get"),
        None
    );
    let used = storage.list_enrollments(COMMUNE).await.expect("list");
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].used_at, Some(now));
    assert_eq!(used[0].device_id.as_deref(), Some(asked.id.as_str()));

    // The same code again, even before it expires: AlreadyUsed, and no second device.
    let again = storage
        .redeem_enrollment(&code.code_hash, now + 1_000, &phone(2, now + 1_000))
        .await
        .expect("redeem again");
    assert_eq!(again, Redeemed::AlreadyUsed);
    // Used takes precedence over expired.
    let late = storage
        .redeem_enrollment(
            &code.code_hash,
            ISSUED + 2 * DAY,
            &phone(3, ISSUED + 2 * DAY),
        )
        .await
        .expect("redeem late");
    assert_eq!(late, Redeemed::AlreadyUsed);
    assert_eq!(
        storage.list_devices(COMMUNE).await.expect("list"),
        vec![expected]
    );
    assert_eq!(
        storage.list_enrollments(COMMUNE).await.expect("list"),
        used,
        "failed redemptions change nothing"
    );

    // A code nobody issued.
    let unknown = storage
        .redeem_enrollment(&hash(42), now, &phone(4, now))
        .await
        .expect("redeem unknown");
    assert_eq!(unknown, Redeemed::Unknown);
    assert_eq!(storage.list_devices(COMMUNE).await.expect("list").len(), 1);
    assert!(
        storage
            .list_devices(OTHER_COMMUNE)
            .await
            .expect("list")
            .is_empty()
    );
    storage.close().await;
}

/// A code is good strictly before `expires_at`: at that instant it is Expired, and nothing is
/// written.
pub async fn redeem_expired_enrollment(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;
    let staff = user("nguyen.thi.lan", Role::CommuneStaff, Some(COMMUNE), &[]);
    storage.create_user(&staff).await.expect("create user");
    let code = enrollment(
        &hash(1),
        "Đặng Văn Lộc",
        COMMUNE,
        &["02"],
        ISSUED,
        &staff.id,
    );
    storage.create_enrollment(&code).await.expect("create");

    for now in [code.expires_at, code.expires_at + DAY] {
        let asked = phone(1, now);
        assert_eq!(
            storage
                .redeem_enrollment(&code.code_hash, now, &asked)
                .await
                .expect("redeem"),
            Redeemed::Expired
        );
        assert_eq!(storage.get_device(&asked.id).await.expect("get"), None);
    }
    assert!(
        storage
            .list_devices(COMMUNE)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        storage.list_enrollments(COMMUNE).await.expect("list"),
        vec![code.clone()],
        "the expired code stays unused"
    );

    // One millisecond earlier it still worked.
    let asked = phone(2, code.expires_at - 1);
    let redeemed = storage
        .redeem_enrollment(&code.code_hash, code.expires_at - 1, &asked)
        .await
        .expect("redeem");
    assert!(matches!(redeemed, Redeemed::Device(_)), "got {redeemed:?}");
    storage.close().await;
}

/// Eight phones present one code at the same moment: exactly one gets a device.
pub async fn redeem_enrollment_race(db: &TestDb) {
    let storage = Arc::new(db.storage().await);
    seed_communes(&storage).await;
    let staff = user("nguyen.thi.lan", Role::CommuneStaff, Some(COMMUNE), &[]);
    storage.create_user(&staff).await.expect("create user");
    let code = enrollment(&hash(1), "Ngô Thị Yến", COMMUNE, &["04"], ISSUED, &staff.id);
    storage.create_enrollment(&code).await.expect("create");

    let now = ISSUED + 60_000;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let storage = Arc::clone(&storage);
        let barrier = Arc::clone(&barrier);
        let code_hash = code.code_hash.clone();
        tasks.push(tokio::spawn(async move {
            let asked = phone(n, now);
            barrier.wait().await;
            storage
                .redeem_enrollment(&code_hash, now, &asked)
                .await
                .expect("redeem")
        }));
    }
    let mut winners = Vec::new();
    let mut already_used = 0;
    for task in tasks {
        match task.await.expect("task") {
            Redeemed::Device(device) => winners.push(device),
            Redeemed::AlreadyUsed => already_used += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one phone gets the device");
    assert_eq!(already_used, 7);
    let winner = winners.remove(0);
    assert_eq!(winner.volunteer, "Ngô Thị Yến");
    assert_eq!(
        storage.list_devices(COMMUNE).await.expect("list"),
        vec![winner.clone()]
    );
    let listed = storage.list_enrollments(COMMUNE).await.expect("list");
    assert_eq!(listed[0].device_id.as_deref(), Some(winner.id.as_str()));
    storage.close().await;
}
