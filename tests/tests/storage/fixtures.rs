//! Test data: places, people, real Automerge changes and a hand-built projection.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use sansang_server::storage::{
    Commune, Device, DocumentScope, DocumentUpdate, Hamlet, Role, SqlStorage, Storage,
    StoredChange, StoredDocument, User,
};
use sansang_shared::model::{Consent, PaymentAccount, Relation, Sex, Skills, Smartphone, Vneid};
use sansang_shared::{Conflict, ConflictValue, Finding, Household, Member, Projection, SCHEMA_V1};

/// A commune code with a leading zero: it must stay text.
pub const COMMUNE: &str = "00118";
pub const OTHER_COMMUNE: &str = "26734";

pub fn commune(code: &str, name: &str) -> Commune {
    Commune {
        code: code.to_owned(),
        name: name.to_owned(),
        province: "Thành phố Hà Nội".to_owned(),
    }
}

pub fn hamlet(commune_code: &str, id: &str, name: &str) -> Hamlet {
    Hamlet {
        commune_code: commune_code.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        expected_households: None,
    }
}

/// Two communes, so every scoped list has something to leave out.
pub async fn seed_communes(storage: &SqlStorage) {
    for c in [
        commune(COMMUNE, "Xã Đông Anh"),
        commune(OTHER_COMMUNE, "Phường Bến Thành"),
    ] {
        storage.upsert_commune(&c).await.expect("upsert commune");
    }
}

pub fn user(username: &str, role: Role, commune_code: Option<&str>, hamlets: &[&str]) -> User {
    User {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        display_name: format!("Người dùng {username}"),
        role,
        commune_code: commune_code.map(str::to_owned),
        hamlets: hamlets.iter().map(|h| (*h).to_owned()).collect(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: 1_700_000_000_000,
        disabled: false,
    }
}

pub fn device(volunteer: &str, created_at: i64, hamlets: &[&str]) -> Device {
    Device {
        id: uuid::Uuid::new_v4().to_string(),
        volunteer: volunteer.to_owned(),
        commune_code: COMMUNE.to_owned(),
        hamlets: hamlets.iter().map(|h| (*h).to_owned()).collect(),
        token_hash: format!("{:064x}", created_at),
        created_at,
        revoked_at: None,
    }
}

/// A household document that a phone could have written, with `n` commits.
pub fn survey_doc(address: &str, commits: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "schema", SCHEMA_V1).expect("put schema");
    doc.put(ROOT, "communeCode", COMMUNE).expect("put commune");
    doc.commit();
    for i in 1..commits {
        doc.put(ROOT, "address", format!("{address} (lần sửa {i})"))
            .expect("put address");
        doc.commit();
    }
    doc
}

/// Adds one commit to `doc` and returns the change it made.
pub fn edit(doc: &mut AutoCommit, key: &str, value: &str) -> StoredChange {
    let before = doc.get_heads();
    doc.put(ROOT, key, value).expect("put");
    doc.commit();
    let mut changes = doc.get_changes(&before);
    assert_eq!(changes.len(), 1, "one commit, one change");
    stored(&changes.remove(0))
}

pub fn stored(change: &automerge::Change) -> StoredChange {
    StoredChange {
        hash: change.hash().to_string(),
        bytes: change.raw_bytes().to_vec(),
    }
}

/// Every change of `doc`, in causal order.
pub fn all_changes(doc: &mut AutoCommit) -> Vec<StoredChange> {
    doc.get_changes(&[]).iter().map(stored).collect()
}

pub fn sorted_heads(doc: &mut AutoCommit) -> Vec<String> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort();
    heads
}

/// Rebuilds a document from what storage returned, as the sync server will.
pub fn rebuild(stored: &StoredDocument) -> AutoCommit {
    let mut doc = match &stored.snapshot {
        Some(bytes) => AutoCommit::load(bytes).expect("load snapshot"),
        None => AutoCommit::new(),
    };
    let changes = stored
        .changes
        .iter()
        .map(|c| automerge::Change::from_bytes(c.bytes.clone()).expect("decode change"))
        .collect::<Vec<_>>();
    doc.apply_changes(changes).expect("apply changes");
    doc
}

pub fn scope(commune_code: Option<&str>, hamlet_id: Option<&str>) -> DocumentScope {
    DocumentScope {
        commune_code: commune_code.map(str::to_owned),
        hamlet_id: hamlet_id.map(str::to_owned),
        quarantined: false,
        quarantined_by: None,
    }
}

pub fn update(
    document_id: &str,
    scope: DocumentScope,
    changes: Vec<StoredChange>,
    projection: Option<Projection>,
) -> DocumentUpdate {
    DocumentUpdate {
        document_id: document_id.to_owned(),
        scope,
        changes,
        expected_seq: None,
        projection,
        stored_projection: None,
        audit: Vec::new(),
    }
}

/// A member with every field recorded.
pub fn full_member(name: &str, birth_year: i64) -> Member {
    Member {
        full_name: Some(name.to_owned()),
        birth_year: Some(birth_year),
        sex: Some(Sex::Female),
        relation: Some(Relation::Head),
        smartphone: Some(Smartphone::Own),
        vneid: Some(Vneid::Level2),
        payment_account: Some(PaymentAccount::Ewallet),
        payment_on_phone: Some(true),
        skills: Some(Skills {
            public_services: Some(true),
            online_shopping: Some(false),
            online_payment: Some(true),
            safety: None,
            other_platform: Some(false),
        }),
        vneid_course_confirmed: Some(false),
        wants_to_learn: Some(true),
        mentor_id: Some("dai-su-07".to_owned()),
    }
}

/// A projection with two members, an error, a warning and a conflict, read at `heads`.
pub fn projection(hamlet_id: &str, address: &str, heads: Vec<String>) -> Projection {
    let mut members = BTreeMap::new();
    members.insert(
        "6f1c2a44-0b8e-4d7e-9a51-2b8d0f3c9e10".to_owned(),
        full_member("Nguyễn Thị Hương", 1968),
    );
    members.insert(
        "a3d9e0b2-7c41-4f55-8e0a-5d2c1b7f4a88".to_owned(),
        Member {
            full_name: Some("Trần Văn Đức".to_owned()),
            relation: Some(Relation::Child),
            ..Member::default()
        },
    );
    Projection {
        household: Household {
            schema: Some(SCHEMA_V1.to_owned()),
            commune_code: Some(COMMUNE.to_owned()),
            hamlet_id: Some(hamlet_id.to_owned()),
            address: Some(address.to_owned()),
            consent: Some(Consent {
                given: Some(true),
                by: Some("Nguyễn Thị Hương".to_owned()),
                at: Some("2025-03-01T08:30:00+07:00".to_owned()),
            }),
            members,
            notes: Some("Nhà có hai thế hệ; ghi chú \"đặc biệt\" ' ; --".to_owned()),
            ..Household::default()
        },
        findings: vec![
            Finding::error(
                "/members/a3d9e0b2-7c41-4f55-8e0a-5d2c1b7f4a88/birthYear",
                "birth-year-missing",
                "Thiếu năm sinh".to_owned(),
                "Birth year missing".to_owned(),
            ),
            Finding::warning(
                "/members/6f1c2a44-0b8e-4d7e-9a51-2b8d0f3c9e10/skills/safety",
                "skill-not-recorded",
                "Chưa ghi kỹ năng an toàn".to_owned(),
                "Safety skill not recorded".to_owned(),
            ),
        ],
        conflicts: vec![Conflict {
            path: "/members/6f1c2a44-0b8e-4d7e-9a51-2b8d0f3c9e10/vneid".to_owned(),
            values: vec![
                ConflictValue {
                    value: serde_json::json!("level2"),
                    actor: "aa01".to_owned(),
                    winner: true,
                },
                ConflictValue {
                    value: serde_json::json!("level1"),
                    actor: "bb02".to_owned(),
                    winner: false,
                },
            ],
        }],
        heads,
        held_back_photos: Vec::new(),
    }
}

/// Reads a string key of the document root, for checking rebuilt documents.
pub fn root_str(doc: &AutoCommit, key: &str) -> Option<String> {
    match doc.get(ROOT, key).expect("get") {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}
