//! Users and devices: create, look up, list, conflicts, password change, revocation.

use sansang_server::storage::{Role, Storage, StorageError};
use sansang_tests::db::TestDb;

use crate::fixtures::{COMMUNE, OTHER_COMMUNE, device, seed_communes, user};

pub async fn users_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;

    let head = user(
        "trưởng.thôn.hạ",
        Role::HamletHead,
        Some(COMMUNE),
        &["02", "01"],
    );
    let staff = user("can.bo.xa", Role::CommuneStaff, Some(COMMUNE), &[]);
    let admin = user("admin", Role::Admin, None, &[]);
    let far = user("ben.thanh", Role::CommuneStaff, Some(OTHER_COMMUNE), &[]);
    for u in [&head, &staff, &admin, &far] {
        storage.create_user(u).await.expect("create user");
    }

    // Read back exactly, hamlets sorted.
    let mut expected_head = head.clone();
    expected_head.hamlets.sort();
    assert_eq!(
        storage
            .get_user_by_username("trưởng.thôn.hạ")
            .await
            .expect("get"),
        Some(expected_head.clone())
    );
    assert_eq!(
        storage.get_user(&head.id).await.expect("get"),
        Some(expected_head.clone())
    );
    assert_eq!(
        storage.get_user_by_username("nobody").await.expect("get"),
        None
    );
    assert_eq!(storage.get_user("no-such-id").await.expect("get"), None);
    assert_eq!(
        storage
            .get_user(&admin.id)
            .await
            .expect("get")
            .map(|u| u.commune_code),
        Some(None)
    );

    // Lists: sorted by username, scoped by commune, everyone when unscoped.
    let names = |users: Vec<sansang_server::storage::User>| {
        users.into_iter().map(|u| u.username).collect::<Vec<_>>()
    };
    assert_eq!(
        names(storage.list_users(Some(COMMUNE)).await.expect("list")),
        vec!["can.bo.xa", "trưởng.thôn.hạ"]
    );
    assert_eq!(
        names(storage.list_users(None).await.expect("list")),
        vec!["admin", "ben.thanh", "can.bo.xa", "trưởng.thôn.hạ"]
    );
    let listed_head = storage
        .list_users(Some(COMMUNE))
        .await
        .expect("list")
        .into_iter()
        .find(|u| u.id == head.id)
        .expect("head listed");
    assert_eq!(listed_head, expected_head);

    // A taken username or id is a Conflict, and the failed user leaves nothing behind.
    let mut dup_name = user("can.bo.xa", Role::HamletHead, Some(COMMUNE), &["07"]);
    let err = storage
        .create_user(&dup_name)
        .await
        .expect_err("duplicate username");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");
    assert_eq!(storage.get_user(&dup_name.id).await.expect("get"), None);
    dup_name.username = "someone.new".to_owned();
    dup_name.id = staff.id.clone();
    let err = storage
        .create_user(&dup_name)
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");
    assert_eq!(
        storage.get_user(&staff.id).await.expect("get"),
        Some(staff.clone()),
        "the existing user is untouched"
    );

    // A user of a commune that does not exist is refused.
    let lost = user("lost", Role::CommuneStaff, Some("99999"), &[]);
    let err = storage
        .create_user(&lost)
        .await
        .expect_err("unknown commune");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");

    // Password change.
    storage
        .set_password_hash(&staff.id, "$argon2id$new")
        .await
        .expect("set password");
    assert_eq!(
        storage
            .get_user(&staff.id)
            .await
            .expect("get")
            .map(|u| u.password_hash),
        Some("$argon2id$new".to_owned())
    );
    let err = storage
        .set_password_hash("no-such-id", "x")
        .await
        .expect_err("unknown user");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
    storage.close().await;
}

/// Revoking twice keeps the first revocation time: the audit trail says when access ended.
pub async fn devices_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    seed_communes(&storage).await;

    let later = device("Lê Văn Tâm", 2_000, &["02"]);
    let earlier = device("Phạm Thị Mai", 1_000, &["03", "01"]);
    storage.create_device(&later).await.expect("create");
    storage.create_device(&earlier).await.expect("create");

    let mut expected_earlier = earlier.clone();
    expected_earlier.hamlets.sort();
    assert_eq!(
        storage
            .get_device_by_token_hash(&earlier.token_hash)
            .await
            .expect("get"),
        Some(expected_earlier.clone())
    );
    assert_eq!(
        storage
            .get_device_by_token_hash(&"0".repeat(64))
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        storage.list_devices(COMMUNE).await.expect("list"),
        vec![expected_earlier.clone(), later.clone()],
        "sorted by creation time"
    );
    assert!(
        storage
            .list_devices(OTHER_COMMUNE)
            .await
            .expect("list")
            .is_empty()
    );

    // Same token hash twice, or same id: Conflict.
    let mut twin = device("Kẻ giả mạo", 3_000, &[]);
    twin.token_hash = later.token_hash.clone();
    let err = storage.create_device(&twin).await.expect_err("same token");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");
    let mut twin = device("Kẻ giả mạo", 3_000, &[]);
    twin.id = later.id.clone();
    let err = storage.create_device(&twin).await.expect_err("same id");
    assert!(matches!(err, StorageError::Conflict { .. }), "got {err:?}");

    // Revocation: set once, the first time stays; unknown devices are NotFound.
    storage
        .revoke_device(&later.id, 5_000)
        .await
        .expect("revoke");
    storage
        .revoke_device(&later.id, 9_000)
        .await
        .expect("revoke again");
    let revoked = storage
        .get_device_by_token_hash(&later.token_hash)
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(revoked.revoked_at, Some(5_000));
    // The check a sync socket makes before every message agrees.
    assert!(!storage.device_live(&later.id).await.expect("live"));
    assert!(storage.device_live(&earlier.id).await.expect("live"));
    assert!(!storage.device_live("no-such-device").await.expect("live"));
    assert_eq!(
        storage
            .get_device_by_token_hash(&earlier.token_hash)
            .await
            .expect("get")
            .and_then(|d| d.revoked_at),
        None,
        "only the named device is revoked"
    );
    let err = storage
        .revoke_device("no-such-device", 1)
        .await
        .expect_err("unknown device");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
    storage.close().await;
}
