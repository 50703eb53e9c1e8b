//! Readiness indices on a hand-computed fixture, through the JSON API and the exported files
//! read back with calamine, on SQLite and PostgreSQL; targets and who may ask.
//!
//! The fixture, reference year 2026 (ages = 2026 − birth year), commune 10846:
//!
//! | hamlet | household | consent | members (age: vneid, payment, skills) |
//! |---|---|---|---|
//! | T01 | F0 (the access fixture's) | yes | 51: nothing recorded |
//! | T01 | H1 | yes | 46: level2, bank, all five · 16: level1, none · 15: level2 |
//! | T01 | H2 | yes | 36: level2, e-wallet, all five · age unknown: level2 |
//! | T01 | H3 | yes | 56: none, bank, four of five · 54: level2, none |
//! | T01 | H4 | no | 41 |
//! | T01 | H5 | yes | 66: two phones wrote level1 and level2 at once (level2 wins) |
//! | T02 | G0 (the access fixture's) | yes | 51: nothing recorded |
//! | T02 | J1 | yes | 76: level2, bank, all five |
//! | T03 | — | | expected 5 households, none surveyed |
//!
//! By hand, every surveyed household counted:
//! - T01: 6 households, 1 without consent, 5 counted, 9 members, 1 of unknown age. Digital
//!   identity (16+: F0, H1 46 and 16, H2 36, H3 56 and 54, H5): 4 of 7 at level 2 (H1 46,
//!   H2 36, H3 54, H5), 1 at level 1 (H1 16), 1 not recorded (F0); the 15-year-old and the one of
//!   unknown age are outside the band. Payment (16+): 3 of 7, 2 not recorded (F0, H5). Basic
//!   skills (18+: F0, H1 46, H2 36, H3 56 and 54, H5): 2 of 6, 3 not recorded (F0, H3 54, H5);
//!   H3 56 has four of five recorded, so "no", not "not recorded". Digital household: 2 of 5
//!   (H1, H2), 3 not recorded (F0, H3 with a member unrecorded, H5).
//! - T02: 2 households counted, 2 members; identity 1 of 2, 1 not recorded; digital household
//!   1 of 2.
//! - T03: nothing: every indicator "no data".
//! - Commune: 8 households, 7 counted, 1 without consent, 11 members, 1 of unknown age; identity
//!   5 of 9 (55.6 %), level 1: 1, not recorded 2; digital household 3 of 7.
//!
//! Published (threshold 5): identity numerators T01 4 and T02 1 are "<5" (two small cells
//! protect each other, the commune's 5 stays); denominators T02 2 → "<5" and T01 7 hidden ("x"),
//! since T02's would follow from 9 − 7 − 0 (a hidden 0 would not do: x = 0 gives the small cell
//! back; 2 + 7 = 9 leaves every small value possible); households surveyed: T02 2 → "<5", and as
//! T01's 6 is too small a partner (2 + 6 < 9) the commune's 8 is hidden; households without
//! consent: T01 1 and the commune's 1 → "<5", nothing more hidden since the total gives nothing
//! away.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;

use std::io::Cursor;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use calamine::{Data, Reader, Xlsx};
use reqwest::Method;
use sansang_server::documents::DocumentId;
use sansang_server::storage::Hamlet;
use sansang_shared::model::{Consent, PaymentAccount, Relation, Skills, Vneid};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use sansang_tests::db::TestDb;
use serde_json::{Value, json};

use fixture::{World, world};

const YEAR: i64 = 2026;

fn member(
    birth: Option<i64>,
    vneid: Option<Vneid>,
    pay: Option<PaymentAccount>,
    skills: Option<[bool; 5]>,
) -> Member {
    Member {
        full_name: Some("Thành viên".into()),
        birth_year: birth,
        relation: Some(Relation::Other),
        vneid,
        payment_account: pay,
        skills: skills.map(|[a, b, c, d, e]| Skills {
            public_services: Some(a),
            online_shopping: Some(b),
            online_payment: Some(c),
            safety: Some(d),
            other_platform: Some(e),
        }),
        ..Member::default()
    }
}

const ALL: Option<[bool; 5]> = Some([true; 5]);

/// A household of `hamlet`, each at an address of its own and none the fixture's (the same
/// address would make it a possible duplicate of the others, counted once).
fn household(hamlet: &str, consent: bool, members: Vec<Member>) -> Household {
    static HOUSE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let house = HOUSE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some(hamlet.into()),
        address: Some(format!("Số {house}, ngõ Chỉ Số, {hamlet}")),
        consent: Some(Consent {
            given: Some(consent),
            ..Consent::default()
        }),
        ..Household::default()
    };
    for (i, m) in members.into_iter().enumerate() {
        h.members.insert(format!("m{i}"), m);
    }
    h
}

async fn store(w: &World, h: &Household) -> DocumentId {
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, h).unwrap();
    let id = DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, doc.get_changes(&[]))
        .await
        .unwrap();
    id
}

/// H5: one member whose VNeID level two phones (actors aa… and bb…) set at once.
async fn store_conflicted(w: &World) -> DocumentId {
    let h = household("T01", true, vec![member(Some(1960), None, None, None)]);
    let mut base = AutoCommit::new().with_actor(ActorId::from(vec![0x11; 16]));
    write::household(&mut base, &h).unwrap();
    let mut changes = base.get_changes(&[]);
    let saved = base.save();
    for (actor, level) in [(0xaa, "level1"), (0xbb, "level2")] {
        let mut phone = AutoCommit::load(&saved)
            .unwrap()
            .with_actor(ActorId::from(vec![actor; 16]));
        let before = phone.get_heads();
        let (_, members) = phone.get(ROOT, "members").unwrap().unwrap();
        let (_, m) = phone.get(&members, "m0").unwrap().unwrap();
        phone.put(&m, "vneid", level).unwrap();
        phone.commit();
        changes.extend(phone.get_changes(&before));
    }
    let id = DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, changes)
        .await
        .unwrap();
    id
}

struct Fixture {
    w: World,
    h1: DocumentId,
    j1: DocumentId,
    h5: DocumentId,
}

async fn fixture(db: &TestDb) -> Fixture {
    let w = world(db).await;
    let storage = w.app.state.storage.as_ref();
    for (id, name, expected) in [
        ("T01", "Thôn Một", 10),
        ("T02", "Thôn Hai", 4),
        ("T03", "Thôn Ba", 5),
    ] {
        storage
            .upsert_hamlet(&Hamlet {
                commune_code: "10846".into(),
                id: id.into(),
                name: name.into(),
                expected_households: Some(expected),
            })
            .await
            .unwrap();
    }
    use PaymentAccount::{Bank, Ewallet};
    use Vneid::{Level1, Level2};
    let h1 = store(
        &w,
        &household(
            "T01",
            true,
            vec![
                member(Some(1980), Some(Level2), Some(Bank), ALL),
                member(Some(2010), Some(Level1), Some(PaymentAccount::None), None),
                member(Some(2011), Some(Level2), None, None),
            ],
        ),
    )
    .await;
    store(
        &w,
        &household(
            "T01",
            true,
            vec![
                member(Some(1990), Some(Level2), Some(Ewallet), ALL),
                Member {
                    full_name: Some("=1+1 Nguyễn".into()),
                    ..member(None, Some(Level2), None, None)
                },
            ],
        ),
    )
    .await;
    store(
        &w,
        &household(
            "T01",
            true,
            vec![
                member(
                    Some(1970),
                    Some(Vneid::None),
                    Some(Bank),
                    Some([true, true, true, false, true]),
                ),
                member(Some(1972), Some(Level2), Some(PaymentAccount::None), None),
            ],
        ),
    )
    .await;
    store(&w, &household("T01", false, vec![])).await;
    let h5 = store_conflicted(&w).await;
    let j1 = store(
        &w,
        &household(
            "T02",
            true,
            vec![member(Some(1950), Some(Level2), Some(Bank), ALL)],
        ),
    )
    .await;
    Fixture { w, h1, j1, h5 }
}

/// One CSV line, with quoted fields.
fn csv_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

async fn get(w: &World, who: &str, path: &str) -> (u16, Value) {
    let (status, body) = w.call(who, Method::GET, path, None).await;
    (status.as_u16(), body)
}

fn indicator<'a>(area: &'a Value, key: &str) -> &'a Value {
    area["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap()
}

/// (numerator, denominator, not recorded) of an indicator.
fn counts(area: &Value, key: &str) -> (Value, Value, Value) {
    let i = indicator(area, key);
    (
        i["numerator"].clone(),
        i["denominator"].clone(),
        i["notRecorded"].clone(),
    )
}

pub async fn indices_match_the_hand_computed_fixture(db: &TestDb) {
    let f = fixture(db).await;
    let w = &f.w;

    // The conflict was settled by Automerge the way the table says.
    let (_, h5) = get(w, "admin", &format!("/api/v1/households/{}", f.h5)).await;
    assert_eq!(
        h5["projection"]["household"]["members"]["m0"]["vneid"],
        "level2"
    );
    assert_eq!(h5["projection"]["conflicts"].as_array().unwrap().len(), 1);

    let (status, raw) = get(
        w,
        "staff",
        &format!("/api/v1/indices?view=all-surveyed&year={YEAR}&raw=true"),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let report = &raw["report"];
    let t01 = &report["hamlets"]["T01"];
    assert_eq!(
        (
            t01["householdsTotal"].clone(),
            t01["householdsCounted"].clone(),
            t01["householdsNoConsent"].clone()
        ),
        (json!(6), json!(5), json!(1))
    );
    assert_eq!(
        (
            t01["membersCounted"].clone(),
            t01["membersAgeUnknown"].clone()
        ),
        (json!(9), json!(1))
    );
    assert_eq!(
        counts(t01, "digital-identity"),
        (json!(4), json!(7), json!(1))
    );
    assert_eq!(indicator(t01, "digital-identity")["level1"], 1);
    assert_eq!(
        counts(t01, "payment-account"),
        (json!(3), json!(7), json!(2))
    );
    assert_eq!(counts(t01, "basic-skills"), (json!(2), json!(6), json!(3)));
    assert_eq!(
        counts(t01, "digital-household"),
        (json!(2), json!(5), json!(3))
    );
    let t02 = &report["hamlets"]["T02"];
    assert_eq!(
        counts(t02, "digital-identity"),
        (json!(1), json!(2), json!(1))
    );
    assert_eq!(
        counts(t02, "digital-household"),
        (json!(1), json!(2), json!(1))
    );
    let t03 = &report["hamlets"]["T03"];
    assert_eq!(t03["householdsTotal"], 0);
    assert_eq!(
        indicator(t03, "digital-identity")["percent"],
        Value::Null,
        "no data, no division"
    );
    let commune = &report["commune"];
    assert_eq!(
        (
            commune["householdsTotal"].clone(),
            commune["householdsCounted"].clone(),
            commune["membersCounted"].clone()
        ),
        (json!(8), json!(7), json!(11))
    );
    assert_eq!(
        counts(commune, "digital-identity"),
        (json!(5), json!(9), json!(2))
    );
    let identity = indicator(commune, "digital-identity");
    assert!((identity["percent"].as_f64().unwrap() - 500.0 / 9.0).abs() < 1e-9);
    assert_eq!(identity["target"], 100.0);
    // ⌈100 % × 9⌉ − 5 people still to reach.
    assert_eq!(identity["missing"], 4);
    assert_eq!(
        counts(commune, "digital-household"),
        (json!(3), json!(7), json!(4))
    );
    assert_eq!(raw["coverage"]["T01"]["surveyed"], 6);
    assert_eq!(raw["coverage"]["T01"]["expected"], 10);
    assert_eq!(raw["coverage"]["T03"]["surveyed"], 0);
    assert_eq!(raw["coverage"]["T03"]["percent"], 0.0);

    // Published: small cells suppressed.
    let (_, published) = get(
        w,
        "staff",
        &format!("/api/v1/indices?view=all-surveyed&year={YEAR}"),
    )
    .await;
    let p = &published["report"];
    assert_eq!(published["raw"], false);
    assert_eq!(counts(&p["hamlets"]["T01"], "digital-identity").0, "<5");
    assert_eq!(counts(&p["hamlets"]["T01"], "digital-identity").1, "x");
    assert_eq!(
        indicator(&p["hamlets"]["T01"], "digital-identity")["percent"],
        Value::Null
    );
    assert_eq!(counts(&p["hamlets"]["T02"], "digital-identity").0, "<5");
    assert_eq!(counts(&p["hamlets"]["T02"], "digital-identity").1, "<5");
    assert_eq!(counts(&p["hamlets"]["T03"], "digital-identity").1, 0);
    assert_eq!(
        counts(&p["commune"], "digital-identity"),
        (json!(5), json!(9), json!("<5"))
    );
    assert_eq!(p["hamlets"]["T01"]["householdsNoConsent"], "<5");
    // The total is "<5" too, so T01's cannot be worked out from it: nothing more is hidden.
    assert_eq!(p["hamlets"]["T02"]["householdsNoConsent"], 0);
    assert_eq!(p["commune"]["householdsNoConsent"], "<5");
    assert_eq!(p["hamlets"]["T01"]["householdsCounted"], 5);
    assert_eq!(p["hamlets"]["T02"]["householdsTotal"], "<5");
    assert_eq!(p["commune"]["householdsTotal"], "x");
    // Coverage is published the same way: T02's surveyed count is not given back beside it.
    assert_eq!(published["coverage"]["T02"]["surveyed"], "<5");
    assert_eq!(published["coverage"]["T02"]["percent"], Value::Null);
    assert_eq!(published["coverage"]["T01"]["surveyed"], 6);

    // The same numbers in the CSV, cell by cell.
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/exports/summary.csv?view=all-surveyed&year={YEAR}",
            w.app.url
        ))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("tong-hop-10846-2026.csv")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "UTF-8 with a byte-order mark"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let rows: Vec<Vec<String>> = text.lines().map(csv_line).collect();
    assert_eq!(
        rows[0][..7],
        ["Cấp", "Mã", "Tên", "Mã chỉ số", "Chỉ số", "Tử số", "Mẫu số"]
    );
    let row = |code: &str, key: &str| -> Vec<String> {
        rows.iter()
            .find(|r| r[1] == code && r[3] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(row("10846", "digital-identity")[5..8], ["5", "9", "55.6"]);
    assert_eq!(
        row("10846", "digital-identity")[..3],
        ["Xã", "10846", "Xã Hà Tây"]
    );
    assert_eq!(row("T01", "digital-identity")[5..8], ["<5", "x", ""]);
    assert_eq!(row("T01", "digital-identity")[2], "Thôn Một");
    // Level 1: T01's single member is small, and so is the commune's total, which therefore
    // gives nothing away: T02's 0 stays.
    assert_eq!(row("T01", "digital-identity")[12], "<5");
    assert_eq!(row("10846", "digital-identity")[12], "<5");
    assert_eq!(row("T02", "digital-identity")[12], "0");

    // And in the workbook.
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/exports/summary.xlsx?view=all-surveyed&year={YEAR}",
            w.app.url
        ))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), vec!["Xã".to_owned(), "Thôn".to_owned()]);
    let communes = book.worksheet_range("Xã").unwrap();
    let header: Vec<String> = communes
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[5], "Tử số");
    let identity = communes
        .rows()
        .find(|r| r[3] == Data::String("digital-identity".into()))
        .unwrap();
    assert_eq!(identity[1], Data::String("10846".into()), "codes are text");
    assert_eq!(identity[5], Data::Float(5.0));
    assert_eq!(identity[6], Data::Float(9.0));
    match &identity[7] {
        Data::Float(p) => assert!(
            (p - 5.0 / 9.0).abs() < 1e-9,
            "a fraction with a percent format: {p}"
        ),
        other => panic!("percent cell {other:?}"),
    }
    let hamlets = book.worksheet_range("Thôn").unwrap();
    let t01_identity = hamlets
        .rows()
        .find(|r| {
            r[1] == Data::String("T01".into()) && r[3] == Data::String("digital-identity".into())
        })
        .unwrap();
    assert_eq!(t01_identity[5], Data::String("<5".into()));
    assert_eq!(t01_identity[6], Data::String("x".into()));
    assert_eq!(t01_identity[7], Data::Empty);
    let t03_identity = hamlets
        .rows()
        .find(|r| {
            r[1] == Data::String("T03".into()) && r[3] == Data::String("digital-identity".into())
        })
        .unwrap();
    assert_eq!(t03_identity[6], Data::Float(0.0));

    // The detail: one row per member, one for a household without consent (and nothing of its
    // members), a name that would be a formula defused.
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/exports/households.csv?year={YEAR}",
            w.app.url
        ))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(response.bytes().await.unwrap()[3..].to_vec()).unwrap();
    let rows: Vec<Vec<String>> = text.lines().map(csv_line).collect();
    assert_eq!(rows[0][..4], ["Mã thôn", "Tên thôn", "Mã hộ", "Địa chỉ"]);
    assert_eq!(rows.len(), 1 + 12, "{text}");
    assert!(rows.iter().any(|r| r[8] == "'=1+1 Nguyễn"), "{text}");
    let refused: Vec<&Vec<String>> = rows.iter().filter(|r| r[5] == "Không").collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0][8], "", "no member data without consent");
    let h1_rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == f.h1.to_string()).collect();
    assert_eq!(h1_rows.len(), 3);
    assert!(
        h1_rows
            .iter()
            .any(|r| r[9] == "2011" && r[10] == "15" && r[14] == "Mức 2"),
        "{h1_rows:?}"
    );
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/exports/households.xlsx?year={YEAR}",
            w.app.url
        ))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(response.bytes().await.unwrap().to_vec())).unwrap();
    let detail = book.worksheet_range("Hộ gia đình").unwrap();
    assert_eq!(detail.rows().count(), 1 + 12);
    assert!(detail.rows().any(|r| r[9] == Data::Float(2011.0)));
    assert_eq!(
        get(w, "head1", "/api/v1/exports/households.csv?hamlet=T01")
            .await
            .0,
        403
    );

    // The approved view: only H1 (T01) and J1 (T02) once their heads approve them.
    for (who, id) in [("head1", &f.h1), ("head2", &f.j1)] {
        let (_, h) = get(w, who, &format!("/api/v1/households/{id}")).await;
        let (status, body) = w
            .call(
                who,
                Method::POST,
                &format!("/api/v1/households/{id}/reviews"),
                Some(json!({"decision": "approved", "heads": h["projection"]["heads"], "version": 0})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, approved) = get(w, "staff", &format!("/api/v1/indices?year={YEAR}&raw=true")).await;
    let t01 = &approved["report"]["hamlets"]["T01"];
    assert_eq!(
        (
            t01["householdsCounted"].clone(),
            t01["householdsNotApproved"].clone(),
            t01["householdsNoConsent"].clone()
        ),
        (json!(1), json!(4), json!(1))
    );
    assert_eq!(
        counts(t01, "digital-identity"),
        (json!(1), json!(2), json!(0))
    );
    assert_eq!(
        counts(&approved["report"]["commune"], "digital-identity"),
        (json!(2), json!(3), json!(0))
    );
    f.w.app.stop().await;
}

pub async fn targets_and_access(db: &TestDb) {
    let f = fixture(db).await;
    let w = &f.w;
    // Targets outside 0–100 or unknown are refused with the field named; admins only.
    for (body, code, field) in [
        (json!({"basicSkills": 120}), "invalid-target", "basicSkills"),
        (
            json!({"digitalIdentity": -1}),
            "invalid-target",
            "digitalIdentity",
        ),
        (json!({"basicSkill": 80}), "unknown-field", "basicSkill"),
    ] {
        let (status, answer) = w
            .call("admin", Method::PUT, "/api/v1/targets/2026", Some(body))
            .await;
        assert_eq!(
            (
                status.as_u16(),
                answer["code"].as_str(),
                answer["field"].as_str()
            ),
            (400, Some(code), Some(field)),
            "{answer}"
        );
    }
    let (status, _) = w
        .call(
            "staff",
            Method::PUT,
            "/api/v1/targets/2026",
            Some(json!({"basicSkills": 90})),
        )
        .await;
    assert_eq!(status, 403);
    let (_, before) = get(w, "staff", "/api/v1/targets/2026").await;
    assert_eq!(before["basicSkills"], 80.0, "the plan's default");
    let (status, _) = w
        .call(
            "admin",
            Method::PUT,
            "/api/v1/targets/2026",
            Some(json!({"basicSkills": 90, "digitalIdentity": 95.5})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, after) = get(
        w,
        "staff",
        "/api/v1/indices?year=2026&view=all-surveyed&raw=true",
    )
    .await;
    let skills = indicator(&after["report"]["commune"], "basic-skills");
    assert_eq!(skills["target"], 90.0);
    // The plan's other targets are not carried over: an admin sets the whole year.
    assert_eq!(
        indicator(&after["report"]["commune"], "payment-account")["target"],
        Value::Null
    );
    let (_, other_year) = get(w, "staff", "/api/v1/targets/2025").await;
    assert_eq!(other_year["basicSkills"], 80.0);

    // Who may ask for what.
    assert_eq!(
        get(w, "head1", "/api/v1/indices?hamlet=T01&year=2026")
            .await
            .0,
        200
    );
    assert_eq!(
        get(w, "head1", "/api/v1/indices?year=2026").await.0,
        200,
        "their only hamlet"
    );
    assert_eq!(get(w, "head1", "/api/v1/indices?hamlet=T02").await.0, 404);
    assert_eq!(
        get(w, "head1", "/api/v1/exports/summary.csv?hamlet=T02")
            .await
            .0,
        404
    );
    let response = w
        .app
        .http
        .get(format!(
            "{}/api/v1/exports/summary.xlsx?hamlet=T01",
            w.app.url
        ))
        .bearer_auth(w.token("head1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(get(w, "phone", "/api/v1/indices").await.0, 403);
    assert_eq!(
        get(w, "other", "/api/v1/indices?commune=10846").await.0,
        404
    );
    let (status, body) = get(w, "staff", "/api/v1/indices?view=everything").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid-view")));
    assert_eq!(get(w, "staff", "/api/v1/indices?year=1066").await.0, 400);
    f.w.app.stop().await;
}

sansang_tests::backend_tests!(indices_match_the_hand_computed_fixture, targets_and_access);
