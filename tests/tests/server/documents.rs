//! Documents go in through the same service the sync socket uses, are stored before the call
//! returns, survive a restart and compaction, and bad data is refused without a trace.

use automerge::{ActorId, AutoCommit, Change, ROOT, ReadDoc, transaction::Transactable};
use sansang_server::documents::{DocumentError, DocumentId, DocumentService};
use sansang_shared::model::{Consent, Relation, Vneid};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use sansang_tests::app::TestApp;
use sansang_tests::db::TestDb;

const HEAD: &str = "0b6f9a52-8c1e-4c55-9d2e-3f1a2b3c4d5e";

/// A valid household written by one phone: its changes and the phone's document.
pub fn household_changes(hamlet: &str) -> (Vec<Change>, AutoCommit) {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some(hamlet.into()),
        address: Some("Số 3, xóm Chùa".into()),
        consent: Some(Consent {
            given: Some(true),
            by: Some("Vũ Thị Hoa".into()),
            at: Some("2026-11-21T09:00:00+07:00".into()),
        }),
        ..Household::default()
    };
    h.members.insert(
        HEAD.into(),
        Member {
            full_name: Some("Vũ Thị Hoa".into()),
            birth_year: Some(1984),
            relation: Some(Relation::Head),
            vneid: Some(Vneid::Level1),
            ..Member::default()
        },
    );
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &h).unwrap();
    doc.commit();
    (doc.get_changes(&[]), doc)
}

fn head_obj(doc: &AutoCommit) -> automerge::ObjId {
    let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
    doc.get(&members, HEAD).unwrap().unwrap().1
}

pub async fn documents_survive_restart_and_compaction(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let id = DocumentId::random();
    let (changes, mut phone) = household_changes("T02");
    let applied = app
        .state
        .documents
        .apply_changes(&id, changes.clone())
        .await
        .unwrap();
    assert_eq!(applied.new_changes, 1);
    assert!(applied.projection.unwrap().findings.is_empty());
    // Sending the same change again stores nothing new.
    let again = app
        .state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    assert_eq!(again.new_changes, 0);

    // 70 small edits: more than the default compaction threshold of 64.
    let head = head_obj(&phone);
    let mut sent = phone.get_heads();
    for year in 1900..1970 {
        phone.put(&head, "birthYear", year as i64).unwrap();
        phone.commit();
        let new = phone.get_changes(&sent);
        sent = phone.get_heads();
        app.state.documents.apply_changes(&id, new).await.unwrap();
    }
    let stored = app
        .state
        .storage
        .load_document(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.snapshot.is_some(), "compaction wrote a snapshot");
    assert!(
        stored.changes.len() < 64,
        "{} changes left",
        stored.changes.len()
    );
    app.stop().await;

    // A new server on the same database sees the same document and projection.
    let app = TestApp::spawn(db).await;
    let doc = app.state.documents.load(&id).await.unwrap().unwrap();
    assert_eq!(doc.get_heads(), phone.get_heads());
    let projection = app
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.household.members[HEAD].birth_year, Some(1969));
    let mut heads: Vec<String> = phone.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    assert_eq!(projection.heads, heads);
    let listed = app
        .state
        .storage
        .list_households("10846", Some("T02"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].member_count, 1);
    app.stop().await;
}

pub async fn bad_automerge_data_is_refused_and_nothing_written(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, mut phone) = household_changes("T03");
    let saved = phone.save();

    let truncated = DocumentService::decode_saved(&saved[..saved.len() / 2]);
    assert!(
        matches!(truncated, Err(DocumentError::Corrupt(_))),
        "{truncated:?}"
    );
    let garbage = DocumentService::decode_changes(&[b"not automerge at all".to_vec()]);
    let err = garbage.unwrap_err();
    assert_eq!(err.code(), "automerge-corrupt");
    let mut flipped = phone.get_changes(&[])[0].raw_bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(DocumentService::decode_changes(&[flipped]).is_err());
    assert_eq!(app.state.storage.count_documents().await.unwrap(), 0);

    // A whole saved document decodes into its changes and is stored like any other.
    let changes = DocumentService::decode_saved(&saved).unwrap();
    let id = DocumentId::random();
    app.state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    assert_eq!(app.state.storage.count_documents().await.unwrap(), 1);

    // A document that parses but is no survey is kept, with findings saying why.
    let mut stray = AutoCommit::new();
    stray.put(ROOT, "hello", "world").unwrap();
    stray.put(ROOT, "birthYear", 3000).unwrap();
    let stray_id = DocumentId::random();
    let applied = app
        .state
        .documents
        .apply_changes(&stray_id, stray.get_changes(&[]))
        .await
        .unwrap();
    let projection = applied.projection.unwrap();
    let codes: Vec<&str> = projection
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(codes, ["schema-missing", "hamlet-missing"]);
    let stored = app
        .state
        .storage
        .get_projection(stray_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.findings, projection.findings);
    app.stop().await;
}

pub async fn concurrent_phones_show_as_conflicts(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let id = DocumentId::random();
    let (changes, mut phone_a) = household_changes("T04");
    app.state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    let base = phone_a.get_heads();
    let mut phone_b = phone_a
        .fork()
        .with_actor(ActorId::from(b"phone-b".as_slice()));
    let head = head_obj(&phone_a);
    phone_a.put(&head, "vneid", "level2").unwrap();
    phone_b.put(&head, "vneid", "none").unwrap();
    phone_a.commit();
    phone_b.commit();
    for phone in [&mut phone_a, &mut phone_b] {
        let new = phone.get_changes(&base);
        app.state.documents.apply_changes(&id, new).await.unwrap();
    }
    let projection = app
        .state
        .storage
        .get_projection(id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(projection.conflicts.len(), 1);
    let conflict = &projection.conflicts[0];
    assert_eq!(conflict.path, format!("/members/{HEAD}/vneid"));
    let mut values: Vec<&str> = conflict
        .values
        .iter()
        .map(|v| v.value.as_str().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, ["level2", "none"]);
    assert!(conflict.values.iter().any(|v| v.actor == "70686f6e652d62"));
    let listed = app
        .state
        .storage
        .list_households("10846", Some("T04"))
        .await
        .unwrap();
    assert_eq!(listed[0].conflict_count, 1);
    app.stop().await;
}
