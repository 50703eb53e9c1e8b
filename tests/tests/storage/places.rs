//! Communes and hamlets: upserts, exact Vietnamese text, codes kept as text, sorted lists.

use sansang_server::storage::{Hamlet, Storage, StorageError};
use sansang_tests::db::TestDb;

use crate::fixtures::{COMMUNE, OTHER_COMMUNE, commune, hamlet};

pub async fn places_roundtrip(db: &TestDb) {
    let storage = db.storage().await;
    assert_eq!(storage.get_commune(COMMUNE).await.expect("get"), None);
    assert!(storage.list_communes().await.expect("list").is_empty());

    // Inserted out of order; the leading zero of 00118 must survive.
    let other = commune(OTHER_COMMUNE, "Phường Bến Thành");
    let mut ours = commune(COMMUNE, "Xã Đông Anh");
    storage.upsert_commune(&other).await.expect("upsert");
    storage.upsert_commune(&ours).await.expect("upsert");
    assert_eq!(
        storage.get_commune(COMMUNE).await.expect("get"),
        Some(ours.clone())
    );
    assert_eq!(storage.get_commune("118").await.expect("get"), None);

    // Upsert by code replaces name and province, keeps one row.
    ours.name = "Xã Đông Anh (mới)".to_owned();
    ours.province = "Hà Nội".to_owned();
    storage.upsert_commune(&ours).await.expect("upsert again");
    assert_eq!(
        storage.list_communes().await.expect("list"),
        vec![ours.clone(), other.clone()]
    );

    // Hamlets: sorted by id, text exact, expected count updatable, scoped to their commune.
    let mut thon2 = hamlet(COMMUNE, "02", "Thôn Hạ Đẳng");
    let thon1 = hamlet(COMMUNE, "01", "Thôn Thượng Đoàn Kết");
    let elsewhere = hamlet(OTHER_COMMUNE, "01", "Khu phố 1");
    for h in [&thon2, &thon1, &elsewhere] {
        storage.upsert_hamlet(h).await.expect("upsert hamlet");
    }
    thon2.expected_households = Some(143);
    thon2.name = "Thôn Hạ Đẳng Mới".to_owned();
    storage.upsert_hamlet(&thon2).await.expect("update hamlet");
    assert_eq!(
        storage.list_hamlets(COMMUNE).await.expect("list hamlets"),
        vec![thon1, thon2]
    );
    assert_eq!(
        storage.list_hamlets(OTHER_COMMUNE).await.expect("list"),
        vec![elsewhere]
    );
    assert!(
        storage
            .list_hamlets("99999")
            .await
            .expect("list")
            .is_empty()
    );

    // A hamlet of a commune that does not exist is refused, not silently orphaned.
    let orphan = Hamlet {
        commune_code: "99999".to_owned(),
        ..hamlet(COMMUNE, "03", "Thôn mồ côi")
    };
    let err = storage
        .upsert_hamlet(&orphan)
        .await
        .expect_err("orphan hamlet");
    assert!(
        matches!(err, StorageError::NotFound { .. }),
        "orphan hamlet gave {err:?}"
    );
    storage.close().await;
}

/// One dashboard point a day (in Vietnam) per commune and view: two servers drawing the
/// dashboard at once keep the first; the next day adds one.
pub async fn one_dashboard_point_a_day(db: &TestDb) {
    let storage = db.storage().await;
    storage
        .upsert_commune(&commune(COMMUNE, "Xã Hà Tây"))
        .await
        .expect("upsert");
    // 2026-12-03 08:00 in Vietnam (01:00 UTC), then 23:30 the same day (16:30 UTC).
    let morning: i64 = 1_796_259_600_000;
    let evening = morning + 15 * 3600 * 1000 + 30 * 60 * 1000;
    let tomorrow = evening + 3600 * 1000;
    let (one, two) = tokio::join!(
        storage.add_index_snapshot(COMMUNE, "approved", morning, "{\"n\":1}"),
        storage.add_index_snapshot(COMMUNE, "approved", morning + 1, "{\"n\":2}"),
    );
    one.expect("add");
    two.expect("add");
    storage
        .add_index_snapshot(COMMUNE, "approved", evening, "{\"n\":3}")
        .await
        .expect("add");
    storage
        .add_index_snapshot(COMMUNE, "all-surveyed", evening, "{\"n\":4}")
        .await
        .expect("add");
    storage
        .add_index_snapshot(COMMUNE, "approved", tomorrow, "{\"n\":5}")
        .await
        .expect("add");
    let points = storage
        .index_snapshots(COMMUNE, "approved")
        .await
        .expect("read");
    assert_eq!(points.len(), 2, "{points:?}");
    assert!(points[0].0 == morning || points[0].0 == morning + 1);
    assert_eq!(points[1], (tomorrow, "{\"n\":5}".to_owned()));
    assert_eq!(
        storage
            .index_snapshots(COMMUNE, "all-surveyed")
            .await
            .expect("read")
            .len(),
        1
    );
    storage.close().await;
}
