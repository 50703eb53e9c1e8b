//! The audit log: append returns increasing ids; every filter, newest first, limits.

use sansang_server::storage::{Actor, AuditEntry, AuditFilter, Storage};
use sansang_tests::db::TestDb;

fn entry(at: i64, actor: Actor, action: &str, document_id: Option<&str>) -> AuditEntry {
    // The system's own entries belong to no commune.
    let commune_code = (actor != Actor::System).then(|| "10846".to_owned());
    AuditEntry {
        id: 0,
        at,
        actor,
        action: action.to_owned(),
        document_id: document_id.map(str::to_owned),
        address: Some("203.0.113.7".to_owned()),
        detail: Some("xem hộ gia đình".to_owned()),
        commune_code,
    }
}

fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

pub async fn audit_filters(db: &TestDb) {
    let storage = db.storage().await;
    let head = Actor::User("user-1".to_owned());
    let phone = Actor::Device("device-9".to_owned());
    let written = [
        entry(1_000, head.clone(), "household.read", Some("doc-a")),
        entry(2_000, phone.clone(), "document.change", Some("doc-a")),
        entry(3_000, Actor::System, "document.compact", Some("doc-b")),
        entry(4_000, head.clone(), "user.login", None),
        // Same time as the previous one: the later id comes first.
        entry(4_000, phone.clone(), "document.change", Some("doc-b")),
    ];
    let mut ids = Vec::new();
    for e in &written {
        ids.push(storage.append_audit(e).await.expect("append"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let all = storage
        .list_audit(&AuditFilter::default())
        .await
        .expect("list");
    assert_eq!(
        actions(&all),
        vec![
            "document.change",
            "user.login",
            "document.compact",
            "document.change",
            "household.read"
        ]
    );
    let mut expected_first = written[4].clone();
    expected_first.id = ids[4];
    assert_eq!(all[0], expected_first, "every field read back");
    let mut system = written[2].clone();
    system.id = ids[2];
    assert_eq!(all[2], system);

    let by = |actor: Actor| AuditFilter {
        actor: Some(actor),
        ..AuditFilter::default()
    };
    let of_head = storage.list_audit(&by(head.clone())).await.expect("list");
    assert_eq!(actions(&of_head), vec!["user.login", "household.read"]);
    let of_phone = storage.list_audit(&by(phone.clone())).await.expect("list");
    assert_eq!(
        of_phone.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![4_000, 2_000]
    );
    let of_system = storage.list_audit(&by(Actor::System)).await.expect("list");
    assert_eq!(actions(&of_system), vec!["document.compact"]);
    let nobody = storage
        .list_audit(&by(Actor::User("device-9".to_owned())))
        .await
        .expect("list");
    assert!(nobody.is_empty(), "a device id is not a user id");

    let on_doc_a = storage
        .list_audit(&AuditFilter {
            document_id: Some("doc-a".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        actions(&on_doc_a),
        vec!["document.change", "household.read"]
    );

    // since and until are inclusive.
    let window = storage
        .list_audit(&AuditFilter {
            since: Some(2_000),
            until: Some(3_000),
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        window.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![3_000, 2_000]
    );

    // Filters combine.
    let combined = storage
        .list_audit(&AuditFilter {
            actor: Some(phone),
            document_id: Some("doc-b".to_owned()),
            since: Some(1_000),
            until: Some(9_000),
            limit: 10,
            commune_code: Some("10846".to_owned()),
        })
        .await
        .expect("list");
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].id, ids[4]);

    let two = storage
        .list_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        two.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );

    // A commune's entries only: another commune's and the installation's own are left out.
    let mut elsewhere = entry(5_000, head.clone(), "household.read", Some("doc-z"));
    elsewhere.commune_code = Some("20000".to_owned());
    let elsewhere_id = storage.append_audit(&elsewhere).await.expect("append");
    let of_10846 = storage
        .list_audit(&AuditFilter {
            commune_code: Some("10846".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        of_10846.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[1], ids[0]]
    );
    let of_20000 = storage
        .list_audit(&AuditFilter {
            commune_code: Some("20000".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        of_20000.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![elsewhere_id]
    );
    storage.close().await;
}

/// A limit of zero or less means the default page of 100, newest first.
pub async fn audit_is_newest_first_with_default_limit(db: &TestDb) {
    let storage = db.storage().await;
    for at in 0..105 {
        storage
            .append_audit(&entry(at, Actor::System, "tick", None))
            .await
            .expect("append");
    }
    for limit in [0, -5] {
        let page = storage
            .list_audit(&AuditFilter {
                limit,
                ..AuditFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(page.len(), 100);
        assert_eq!(page[0].at, 104);
        assert_eq!(page[99].at, 5);
    }
    storage.close().await;
}
