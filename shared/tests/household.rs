//! Reading, writing and validating household documents through real Automerge documents.

#![allow(clippy::unwrap_used)]

use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, transaction::Transactable};
use sansang_shared::model::{Consent, Relation, Sex, Skills, Smartphone, Vneid};
use sansang_shared::{Household, Member, Projection, SCHEMA_V1, read, write};

const YEAR: i64 = 2026;
const HEAD: &str = "5b1f3c4e-0000-4000-8000-000000000001";
const CHILD: &str = "5b1f3c4e-0000-4000-8000-000000000002";

fn valid_household() -> Household {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some("T01".into()),
        address: Some("Xóm Đông, thôn An Lạc".into()),
        consent: Some(Consent {
            given: Some(true),
            by: Some("Nguyễn Văn An".into()),
            at: Some("2026-11-20T08:30:00+07:00".into()),
        }),
        ..Household::default()
    };
    h.members.insert(
        HEAD.into(),
        Member {
            full_name: Some("Nguyễn Văn An".into()),
            birth_year: Some(1970),
            sex: Some(Sex::Male),
            relation: Some(Relation::Head),
            smartphone: Some(Smartphone::Own),
            vneid: Some(Vneid::Level2),
            skills: Some(Skills {
                public_services: Some(true),
                online_shopping: Some(false),
                online_payment: Some(true),
                safety: Some(true),
                other_platform: None,
            }),
            ..Member::default()
        },
    );
    h.members.insert(
        CHILD.into(),
        Member {
            full_name: Some("Nguyễn Thị Bình".into()),
            birth_year: Some(2012),
            relation: Some(Relation::Child),
            ..Member::default()
        },
    );
    h
}

fn project(doc: &mut AutoCommit) -> Projection {
    let heads = doc.get_heads();
    read::project(doc, &heads, YEAR)
}

fn codes(p: &Projection) -> Vec<(String, String)> {
    p.findings
        .iter()
        .map(|f| (f.path.clone(), f.code.clone()))
        .collect()
}

#[test]
fn written_household_reads_back_equal_and_valid() {
    let mut doc = AutoCommit::new();
    write::household(&mut doc, &valid_household()).unwrap();
    let p = project(&mut doc);
    assert_eq!(p.household, valid_household());
    assert!(p.findings.is_empty(), "{:?}", p.findings);
    assert!(p.conflicts.is_empty());
    assert_eq!(p.heads.len(), 1);
}

#[test]
fn writing_the_same_household_again_makes_no_change() {
    let mut doc = AutoCommit::new();
    write::household(&mut doc, &valid_household()).unwrap();
    doc.commit();
    let before = doc.get_heads();
    write::household(&mut doc, &valid_household()).unwrap();
    doc.commit();
    assert_eq!(doc.get_heads(), before);
}

#[test]
fn concurrent_values_are_all_reported_with_their_actors() {
    let mut base = AutoCommit::new();
    write::household(&mut base, &valid_household()).unwrap();
    let mut phone_a = base.fork().with_actor(ActorId::from(b"phone-a".as_slice()));
    let mut phone_b = base.fork().with_actor(ActorId::from(b"phone-b".as_slice()));
    let member_path = |doc: &AutoCommit| {
        let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
        let (_, member) = doc.get(&members, HEAD).unwrap().unwrap();
        member
    };
    let m = member_path(&phone_a);
    phone_a.put(&m, "vneid", "level1").unwrap();
    let m = member_path(&phone_b);
    phone_b.put(&m, "vneid", "none").unwrap();
    phone_a.merge(&mut phone_b).unwrap();

    let p = project(&mut phone_a);
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
    let c = &p.conflicts[0];
    assert_eq!(c.path, format!("/members/{HEAD}/vneid"));
    let mut seen: Vec<(String, String)> = c
        .values
        .iter()
        .map(|v| (v.actor.clone(), v.value.as_str().unwrap().to_owned()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (hex(b"phone-a"), "level1".to_owned()),
            (hex(b"phone-b"), "none".to_owned())
        ]
    );
    let winners: Vec<_> = c.values.iter().filter(|v| v.winner).collect();
    assert_eq!(winners.len(), 1);
    let shown = p.household.members[HEAD].vneid.unwrap().as_str();
    assert_eq!(winners[0].value.as_str(), Some(shown));

    // Writing the value again (a resolution) is a normal change that clears the conflict.
    let m = member_path(&phone_a);
    phone_a.put(&m, "vneid", "level1").unwrap();
    assert!(project(&mut phone_a).conflicts.is_empty());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn text_objects_written_by_javascript_read_as_strings() {
    let mut doc = AutoCommit::new();
    write::household(&mut doc, &valid_household()).unwrap();
    let text = doc.put_object(ROOT, "address", ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, "Thôn Bắc").unwrap();
    let p = project(&mut doc);
    assert_eq!(p.household.address.as_deref(), Some("Thôn Bắc"));
}

#[test]
fn every_rule_reports_its_field() {
    let mut doc = AutoCommit::new();
    let mut h = valid_household();
    h.schema = None;
    h.commune_code = Some("1084".into());
    h.photos.insert("not-a-hash".into(), Default::default());
    h.members.get_mut(CHILD).unwrap().birth_year = Some(3000);
    h.members.get_mut(CHILD).unwrap().relation = Some(Relation::Head);
    h.members.insert(
        "old".into(),
        Member {
            birth_year: Some(1850),
            relation: Some(Relation::Other),
            ..Member::default()
        },
    );
    write::household(&mut doc, &h).unwrap();
    // Values no typed writer can produce: an unknown choice and a wrong type.
    let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
    let (_, head) = doc.get(&members, HEAD).unwrap().unwrap();
    doc.put(&head, "vneid", "level3").unwrap();
    doc.put(&head, "birthYear", "abc").unwrap();

    let p = project(&mut doc);
    let mut got = codes(&p);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("/schema", "schema-missing"),
        ("/communeCode", "commune-code-malformed"),
        ("/photos/not-a-hash", "photo-hash-malformed"),
        (&format!("/members/{CHILD}/birthYear"), "birth-year-future"),
        ("/members/old/birthYear", "birth-year-too-early"),
        ("/members/old/fullName", "member-missing-field"),
        (&format!("/members/{HEAD}/vneid"), "unknown-value"),
        (&format!("/members/{HEAD}/birthYear"), "wrong-type"),
        ("/members", "several-heads"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    // Unreadable answers count as not recorded, the rest of the member is kept.
    let head = &p.household.members[HEAD];
    assert_eq!(head.vneid, None);
    assert_eq!(head.birth_year, None);
    assert_eq!(head.full_name.as_deref(), Some("Nguyễn Văn An"));
    assert!(p.findings.iter().all(|f| !f.message_vi.is_empty()));
}

#[test]
fn personal_data_without_consent_is_flagged_and_no_head_too() {
    let mut h = valid_household();
    h.consent = Some(Consent {
        given: Some(false),
        ..Consent::default()
    });
    h.notes = Some("gặp ông An".into());
    h.members.remove(HEAD);
    let mut doc = AutoCommit::new();
    write::household(&mut doc, &h).unwrap();
    let mut got = codes(&project(&mut doc));
    got.sort();
    assert_eq!(
        got,
        vec![
            ("/members".to_owned(), "consent-missing".to_owned()),
            ("/members".to_owned(), "no-head".to_owned()),
            ("/notes".to_owned(), "consent-missing".to_owned()),
        ]
    );
}

#[test]
fn a_document_without_anything_is_read_with_findings_not_errors() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "unrelated", 5).unwrap();
    let p = project(&mut doc);
    assert_eq!(p.household, Household::default());
    let mut got = codes(&p);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("/hamletId".to_owned(), "hamlet-missing".to_owned()),
            ("/schema".to_owned(), "schema-missing".to_owned()),
        ]
    );
}

#[test]
fn whole_number_floats_from_javascript_are_years() {
    let mut doc = AutoCommit::new();
    write::household(&mut doc, &valid_household()).unwrap();
    let (_, members) = doc.get(ROOT, "members").unwrap().unwrap();
    let (_, head) = doc.get(&members, HEAD).unwrap().unwrap();
    doc.put(&head, "birthYear", 1971.0).unwrap();
    let p = project(&mut doc);
    assert_eq!(p.household.members[HEAD].birth_year, Some(1971));
    assert!(p.findings.is_empty());
}
