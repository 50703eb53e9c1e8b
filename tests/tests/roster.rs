//! The commune's household list (roster) over the real HTTP API on SQLite and PostgreSQL: an
//! xlsx and a CSV roster (decomposed names, a bad row, a repeated code) refused whole, then
//! imported; the same file again changes nothing; a later file updates an address and adds a
//! household, and keeps the one it leaves out; the server-made documents reach the hamlet's
//! phones, and two phones that edit the same listed household offline converge in it. Two
//! surveys of the same unlisted house, addresses typed differently, are flagged on both.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use reqwest::Method;
use sansang_server::documents::DocumentId;
use sansang_server::sync::client::SyncClient;
use sansang_tests::db::TestDb;
use serde_json::Value;

use fixture::{World, world};

/// Posts `bytes` as a roster file as `who`; the status and the answer.
async fn import(w: &World, who: &str, query: &str, bytes: &[u8]) -> (u16, Value) {
    let response = w
        .app
        .http
        .post(format!("{}/api/v1/roster/import{query}", w.app.url))
        .bearer_auth(w.token(who))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn roster(w: &World, who: &str) -> Vec<Value> {
    let (status, body) = w.call(who, Method::GET, "/api/v1/roster", None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// The documents of the households the head of T01 lists.
async fn t01_documents(w: &World) -> Vec<String> {
    let (status, body) = w
        .call("head1", Method::GET, "/api/v1/households?hamlet=T01", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .or_else(|| body["households"].as_array())
        .unwrap()
        .iter()
        .map(|h| h["documentId"].as_str().unwrap().to_owned())
        .collect()
}

/// Households the commune's indices count as surveyed, in the all-surveyed view.
async fn surveyed(w: &World) -> i64 {
    let (status, body) = w
        .call(
            "staff",
            Method::GET,
            "/api/v1/indices?view=all-surveyed&raw=true",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["report"]["commune"]["householdsTotal"]
        .as_i64()
        .unwrap()
}

/// An xlsx workbook whose first sheet holds `rows` (the first is the header); numbers as
/// numbers, the rest as text, as a clerk's Excel sheet has them.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell.parse::<f64>() {
                Ok(n) if !cell.is_empty() && !cell.starts_with('H') => {
                    sheet.write_number(r, c, n).unwrap();
                }
                _ => {
                    sheet.write_string(r, c, *cell).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn text_of(doc: &Automerge, key: &str) -> Option<String> {
    doc.get(ROOT, key)
        .unwrap()
        .and_then(|(v, _)| v.into_string().ok())
}

/// Decomposed accents (as some Mac and web tools save), a BOM and CRLF, as Excel's "CSV UTF-8".
fn csv(text: &str) -> Vec<u8> {
    use unicode_normalization::UnicodeNormalization;
    let text: String = text.nfd().collect();
    format!("\u{FEFF}{}", text.replace('\n', "\r\n")).into_bytes()
}

pub async fn a_roster_is_refused_whole_then_imported(db: &TestDb) {
    let w = world(db).await;
    let before_t01 = t01_documents(&w).await;
    let surveyed_before = surveyed(&w).await;

    // A bad row (a hamlet the commune does not have, a member count that is not one) and a
    // repeated code: refused whole, every problem located, nothing written.
    let bad = csv("Thôn,Mã hộ,Địa chỉ,Chủ hộ,Số nhân khẩu\n\
                   T01,H001,Số 4 xóm Tây,Nguyễn Văn Ánh,4\n\
                   T09,H002,Số 5 xóm Tây,Trần Thị Bình,x\n\
                   T01,H001,Số 6 xóm Tây,,\n");
    let (status, body) = import(&w, "staff", "", &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "roster-invalid");
    let problems: Vec<String> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["line"],
                p["column"].as_str().unwrap_or("-"),
                p["message"].as_str().unwrap()
            )
        })
        .collect();
    // Line 3: the unknown hamlet and the member count; line 4: the repeated code.
    assert_eq!(problems.len(), 3, "{problems:?}");
    for want in [
        "3 column 1 (Thôn) T09 is not a hamlet of commune 10846",
        "3 column 5 (Số nhân khẩu) \"x\" is not a number",
        "4 column 2 (Mã hộ) household code H001 is repeated (first on line 2)",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want}: {problems:?}"
        );
    }
    assert!(
        problems[2].starts_with("4 "),
        "in the order of the file: {problems:?}"
    );
    // The unknown hamlet is found once the file itself is right.
    let unknown = csv("Thôn,Mã hộ,Địa chỉ\nT01,H001,Số 4 xóm Tây\nT09,H002,Số 5 xóm Tây\n");
    let (status, body) = import(&w, "staff", "", &unknown).await;
    assert_eq!(status, 422, "{body}");
    let problem = &body["problems"][0];
    assert_eq!(problem["line"], 3, "{body}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .starts_with("T09 is not a hamlet of commune 10846"),
        "{body}"
    );
    assert!(roster(&w, "staff").await.is_empty(), "nothing written");
    assert_eq!(t01_documents(&w).await, before_t01, "no document made");

    // Who may import: commune staff and admins of the commune, nobody else.
    let good = csv("Thôn,Mã hộ,Địa chỉ,Chủ hộ,Số nhân khẩu\n\
                    T01,H001,Số 4 xóm Tây,Nguyễn Văn Ánh,4\n\
                    T01,H002,Số 5 xóm Tây,Trần Thị Bình,2\n\
                    T02,H003,Số 1 xóm Bắc,,\n");
    for (who, query, want) in [
        ("head1", "", 403),
        ("phone", "", 403),
        ("other", "?commune=10846", 404),
    ] {
        let (status, body) = import(&w, who, query, &good).await;
        assert_eq!(status, want, "{who}: {body}");
    }
    assert!(roster(&w, "staff").await.is_empty());

    // A dry run says what would change and writes nothing.
    let (status, body) = import(&w, "staff", "?dryRun=true", &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["added"].as_i64(), body["documentsMade"].as_i64()),
        (Some(3), Some(0))
    );
    assert!(roster(&w, "staff").await.is_empty());

    let (status, body) = import(&w, "staff", "", &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 3, "{body}");
    assert_eq!(body["documentsMade"], 3, "{body}");
    let listed = roster(&w, "staff").await;
    assert_eq!(listed.len(), 3);
    let h001 = listed.iter().find(|e| e["code"] == "H001").unwrap();
    assert_eq!(h001["headName"], "Nguyễn Văn Ánh", "stored NFC");
    assert_eq!(h001["members"], 4);
    let h001_id = DocumentId::parse(h001["documentId"].as_str().unwrap()).unwrap();
    // The hamlet's list has the two T01 households; the document says where and which.
    let now_t01 = t01_documents(&w).await;
    assert_eq!(now_t01.len(), before_t01.len() + 2, "{now_t01:?}");
    assert!(now_t01.contains(&h001_id.to_string()));
    let doc = w.app.state.documents.load(&h001_id).await.unwrap().unwrap();
    assert_eq!(text_of(&doc, "rosterCode").as_deref(), Some("H001"));
    assert_eq!(text_of(&doc, "address").as_deref(), Some("Số 4 xóm Tây"));
    assert_eq!(text_of(&doc, "hamletId").as_deref(), Some("T01"));
    assert_eq!(text_of(&doc, "communeCode").as_deref(), Some("10846"));
    assert!(
        !format!("{:?}", doc.get_changes(&[])).contains("Nguy"),
        "the head's name is not in the survey without consent"
    );
    // Listed, not visited: not surveyed.
    assert_eq!(surveyed(&w).await, surveyed_before);
    // Phones of another hamlet or commune see nothing of it.
    let (status, _) = w
        .call(
            "head2",
            Method::GET,
            &format!("/api/v1/households/{h001_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = w.call("other", Method::GET, "/api/v1/roster", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        Value::Array(vec![]),
        "another commune's roster is its own"
    );

    // The same file again: nothing changes.
    let heads = doc.get_heads();
    let (status, body) = import(&w, "staff", "", &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["added"].as_i64(),
            body["updated"].as_i64(),
            body["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(3)),
        "{body}"
    );
    assert_eq!(body["documentsMade"], 0);
    let again = w.app.state.documents.load(&h001_id).await.unwrap().unwrap();
    assert_eq!(again.get_heads(), heads, "the document is untouched");
    assert_eq!(roster(&w, "staff").await, listed);

    // A later file, as xlsx: H001's address changes, H004 is new, H002 is left out (kept);
    // codes typed as numbers in Excel read as text.
    let later = xlsx(&[
        &["Mã thôn", "Mã hộ", "Địa chỉ", "Chủ hộ", "Số nhân khẩu"],
        &["T01", "H001", "Số 4A xóm Tây", "Nguyễn Văn Ánh", "4"],
        &["T02", "H003", "Số 1 xóm Bắc", "", ""],
        &["T02", "1004", "Số 9 xóm Bắc", "Vi Văn Tám", "5"],
    ]);
    let (status, body) = import(&w, "admin", "", &later).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["added"].as_i64(),
            body["updated"].as_i64(),
            body["unchanged"].as_i64(),
            body["kept"].as_i64(),
            body["documentsMade"].as_i64(),
            body["addressesChanged"].as_i64()
        ),
        (Some(1), Some(1), Some(1), Some(1), Some(1), Some(1)),
        "{body}"
    );
    let moved = w.app.state.documents.load(&h001_id).await.unwrap().unwrap();
    assert_eq!(text_of(&moved, "address").as_deref(), Some("Số 4A xóm Tây"));
    let listed = roster(&w, "staff").await;
    let codes: Vec<&str> = listed.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["H001", "H002", "1004", "H003"],
        "sorted by hamlet, then code"
    );
    // A bad xlsx names its row and column letter, and writes nothing.
    let broken = xlsx(&[&["Mã thôn", "Mã hộ", "Địa chỉ"], &["T01", "H005", ""]]);
    let (status, body) = import(&w, "staff", "", &broken).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["problems"][0]["column"], "column C (Địa chỉ)",
        "{body}"
    );
    assert_eq!(roster(&w, "staff").await.len(), 4);
    w.app.stop().await;
}

/// Whether the head of T01 has `id` in their review queue.
async fn in_queue(w: &World, id: &DocumentId) -> bool {
    let (status, body) = w.call("head1", Method::GET, "/api/v1/reviews", None).await;
    assert_eq!(status, 200, "{body}");
    body["households"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["documentId"] == id.to_string())
}

/// Two phones open the same listed household offline and each records something: both edits
/// land in the one document the server made.
pub async fn two_phones_edit_a_listed_household_offline_and_converge(db: &TestDb) {
    let w = world(db).await;
    let file = csv("thon,ma ho,dia chi\nT01,H100,Số 12 xóm Đông\n");
    let (status, body) = import(&w, "staff", "", &file).await;
    assert_eq!(status, 200, "{body}");
    let listed = roster(&w, "head1").await;
    assert_eq!(listed.len(), 1, "the head of T01 reads T01's roster");
    let id = DocumentId::parse(listed[0]["documentId"].as_str().unwrap()).unwrap();
    assert!(t01_documents(&w).await.contains(&id.to_string()));

    assert!(
        !in_queue(&w, &id).await,
        "not surveyed yet: nothing to review"
    );

    let url = w.sync_url();
    let mut a = SyncClient::connect(&url, w.token("phone"), "phone-a")
        .await
        .unwrap();
    let mut b = SyncClient::connect(&url, w.token("phone"), "phone-b")
        .await
        .unwrap();
    let mut on_a = a.request_document(&id).await.unwrap();
    let mut on_b = b.request_document(&id).await.unwrap();
    // Offline, each on its own copy.
    {
        let mut tx = on_a.transaction();
        let consent = tx.put_object(ROOT, "consent", ObjType::Map).unwrap();
        tx.put(&consent, "given", true).unwrap();
        tx.put(&consent, "by", "Nguyễn Văn Ánh").unwrap();
        tx.commit();
    }
    {
        let mut tx = on_b.transaction();
        tx.put(ROOT, "notes", "nhà có hai thế hệ").unwrap();
        tx.commit();
    }
    a.sync_document(&id, &mut on_a).await.unwrap();
    b.sync_document(&id, &mut on_b).await.unwrap();
    let mut c = SyncClient::connect(&url, w.token("phone"), "phone-c")
        .await
        .unwrap();
    let merged = c.request_document(&id).await.unwrap();
    assert_eq!(text_of(&merged, "rosterCode").as_deref(), Some("H100"));
    assert_eq!(
        text_of(&merged, "notes").as_deref(),
        Some("nhà có hai thế hệ")
    );
    assert!(merged.get(ROOT, "consent").unwrap().is_some());
    assert!(in_queue(&w, &id).await, "surveyed with consent: to review");
    // Still one household for the listed one.
    let (status, body) = w
        .call("head1", Method::GET, "/api/v1/households?hamlet=T01", None)
        .await;
    assert_eq!(status, 200);
    let with_code = body
        .as_array()
        .or_else(|| body["households"].as_array())
        .unwrap()
        .iter()
        .filter(|h| h.to_string().contains("Số 12 xóm Đông"))
        .count();
    assert_eq!(with_code, 1, "{body}");
    w.app.stop().await;
}

/// A phone of T01 makes a new household at `address`, with consent and one member.
async fn survey(w: &World, peer: &str, hamlet: &str, address: &str) -> DocumentId {
    // A member of a name of its own: the same name and birth year would flag it too.
    let name = format!("Người ở {address}");
    let household = fixture::household_of(hamlet, address, &[("m1", &name)]);
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::random());
    sansang_shared::write::household(&mut doc, &household).unwrap();
    doc.commit();
    let mut doc = doc.document().clone();
    let id = DocumentId::random();
    let token = if hamlet == "T01" { "phone" } else { "admin" };
    if token == "phone" {
        let mut phone = SyncClient::connect(&w.sync_url(), w.token(token), peer)
            .await
            .unwrap();
        phone.sync_document(&id, &mut doc).await.unwrap();
    } else {
        w.app
            .state
            .documents
            .apply_changes(&id, doc.get_changes(&[]))
            .await
            .unwrap();
    }
    id
}

/// The head of T01's queue: each household's state and the households it may duplicate.
async fn queue(w: &World) -> Vec<(String, String, Vec<String>)> {
    let (status, body) = w.call("head1", Method::GET, "/api/v1/reviews", None).await;
    assert_eq!(status, 200, "{body}");
    body["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["documentId"].as_str().unwrap().to_owned(),
                h["state"].as_str().unwrap().to_owned(),
                h["duplicateOf"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// Two phones, each offline, survey the same unlisted house and type its address differently:
/// both households are flagged (a queue state and a finding naming the other); the same
/// address in another hamlet is not; once the head says they are not the same household,
/// neither is flagged again; of another pair, once the head rejects one, the other is flagged
/// no more.
pub async fn the_same_house_surveyed_twice_is_flagged_on_both(db: &TestDb) {
    let w = world(db).await;
    let first = survey(&w, "phone-a", "T01", "Số 4 xóm Tây").await;
    let second = survey(&w, "phone-b", "T01", "so 4, xom tay").await;
    let elsewhere = survey(&w, "-", "T02", "Số 4 xóm Tây").await;
    let next_door = survey(&w, "phone-c", "T01", "Số 14 xóm Tây").await;
    let in_queue = queue(&w).await;
    let state_of = |id: &DocumentId| {
        in_queue
            .iter()
            .find(|(d, ..)| *d == id.to_string())
            .cloned()
            .unwrap()
    };
    assert_eq!(
        state_of(&first),
        (
            first.to_string(),
            "possible-duplicate".into(),
            vec![second.to_string()]
        )
    );
    assert_eq!(
        state_of(&second),
        (
            second.to_string(),
            "possible-duplicate".into(),
            vec![first.to_string()]
        )
    );
    assert_ne!(state_of(&next_door).1, "possible-duplicate");
    let (status, body) = w.call("head1", Method::GET, "/api/v1/reviews", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["counts"]["possible-duplicate"], 2, "{body}");
    // The household itself says so, naming the other.
    let (status, read) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{first}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["review"]["state"], "possible-duplicate");
    assert_eq!(read["duplicateOf"], serde_json::json!([second.to_string()]));
    let finding = read["projection"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "possible-duplicate")
        .cloned()
        .unwrap_or_default();
    assert!(finding.to_string().contains(&second.to_string()), "{read}");
    // Another hamlet's household at the same address is another household.
    let (status, other) = w
        .call(
            "admin",
            Method::GET,
            &format!("/api/v1/households/{elsewhere}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(other["duplicateOf"], serde_json::json!([]));

    // Only the hamlet's head (or the commune's admin) decides, on two households of theirs.
    let not_same = |who: &'static str, id: &DocumentId, other: String| {
        let w = &w;
        let path = format!("/api/v1/households/{id}/not-duplicate");
        async move {
            let (status, body) = w
                .call(
                    who,
                    Method::POST,
                    &path,
                    Some(serde_json::json!({ "other": other })),
                )
                .await;
            (status.as_u16(), body)
        }
    };
    for (who, other, want) in [
        ("head2", second.to_string(), 404),
        ("other", second.to_string(), 404),
        ("phone", second.to_string(), 403),
        ("staff", second.to_string(), 403),
        ("head1", first.to_string(), 400),
        ("head1", elsewhere.to_string(), 404),
    ] {
        let (status, body) = not_same(who, &first, other).await;
        assert_eq!(status, want, "{who}: {body}");
    }
    assert_eq!(
        queue(&w)
            .await
            .iter()
            .filter(|h| h.1 == "possible-duplicate")
            .count(),
        2
    );
    // "Not the same household": neither is flagged again, and both count.
    let (status, body) = not_same("head1", &first, second.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = not_same("head1", &second, first.to_string()).await;
    assert_eq!(status, 200, "again from the other side: the same, {body}");
    let in_queue = queue(&w).await;
    assert!(
        in_queue
            .iter()
            .all(|h| h.1 != "possible-duplicate" && h.2.is_empty()),
        "{in_queue:?}"
    );
    let (_, read) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{first}"),
            None,
        )
        .await;
    assert_eq!(read["duplicateOf"], serde_json::json!([]), "{read}");
    assert!(!read.to_string().contains("possible-duplicate"), "{read}");

    // Another house surveyed twice; the head rejects the second survey: the first is flagged
    // no more.
    let first = survey(&w, "phone-d", "T01", "Số 7 xóm Tây").await;
    let second = survey(&w, "phone-e", "T01", "SN 07, x. Tây").await;
    assert_eq!(
        state_of_in(&queue(&w).await, &first).2,
        vec![second.to_string()]
    );
    let heads = read_heads(&w, &second).await;
    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            &format!("/api/v1/households/{second}/reviews"),
            Some(serde_json::json!({
                "decision": "rejected",
                "comment": "trùng với hộ đã khảo sát",
                "heads": heads,
                "version": 0
            })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let in_queue = queue(&w).await;
    let first_now = in_queue
        .iter()
        .find(|(d, ..)| *d == first.to_string())
        .unwrap();
    assert_ne!(first_now.1, "possible-duplicate", "{in_queue:?}");
    assert!(first_now.2.is_empty());
    w.app.stop().await;
}

/// The commune's raw indices, all surveyed.
async fn indices(w: &World) -> Value {
    let (status, body) = w
        .call(
            "staff",
            Method::GET,
            "/api/v1/indices?view=all-surveyed&raw=true",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// With a roster, coverage is the listed households surveyed out of those listed, per hamlet,
/// and the hamlets with the most listed households not visited come first; two surveys of one
/// house count once until the head decides, and are shown as households to check; the
/// household export carries the roster code.
pub async fn coverage_follows_the_roster_and_counts_a_house_once(db: &TestDb) {
    let w = world(db).await;
    let file = csv("thon,ma ho,dia chi\n\
                    T01,H001,Số 4 xóm Tây\n\
                    T01,H002,Số 5 xóm Tây\n\
                    T02,H003,Số 1 xóm Bắc\n\
                    T02,H004,Số 2 xóm Bắc\n\
                    T02,H005,Số 3 xóm Bắc\n");
    let before = indices(&w).await;
    let t01_before = before["report"]["hamlets"]["T01"]["householdsTotal"]
        .as_i64()
        .unwrap();
    let (status, body) = import(&w, "staff", "", &file).await;
    assert_eq!(status, 200, "{body}");
    let now = indices(&w).await;
    assert_eq!(now["coverage"]["T01"]["listed"], 2, "{now}");
    assert_eq!(now["coverage"]["T01"]["listedVisited"], 0);
    assert_eq!(now["coverage"]["T01"]["percent"], 0.0);
    assert_eq!(now["coverage"]["T02"]["listed"], 3);
    let order = |body: &Value| -> Vec<(String, i64)> {
        body["notVisited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["hamletId"].as_str().unwrap().to_owned(),
                    n["notVisited"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(order(&now), [("T02".into(), 3), ("T01".into(), 2)]);

    // A volunteer surveys H001 (consent, one member).
    let listed = roster(&w, "staff").await;
    let h001 = listed.iter().find(|e| e["code"] == "H001").unwrap();
    let id = DocumentId::parse(h001["documentId"].as_str().unwrap()).unwrap();
    let mut phone = SyncClient::connect(&w.sync_url(), w.token("phone"), "phone-h001")
        .await
        .unwrap();
    let mut doc = phone.request_document(&id).await.unwrap();
    {
        let mut tx = doc.transaction();
        let consent = tx.put_object(ROOT, "consent", ObjType::Map).unwrap();
        tx.put(&consent, "given", true).unwrap();
        let members = tx.put_object(ROOT, "members", ObjType::Map).unwrap();
        let m = tx.put_object(&members, "m1", ObjType::Map).unwrap();
        tx.put(&m, "fullName", "Nguyễn Văn Ánh").unwrap();
        tx.put(&m, "birthYear", 1970).unwrap();
        tx.commit();
    }
    phone.sync_document(&id, &mut doc).await.unwrap();
    let now = indices(&w).await;
    assert_eq!(now["coverage"]["T01"]["listedVisited"], 1, "{now}");
    assert_eq!(now["coverage"]["T01"]["percent"], 50.0);
    assert_eq!(order(&now), [("T02".into(), 3), ("T01".into(), 1)]);
    assert_eq!(
        now["report"]["hamlets"]["T01"]["householdsTotal"],
        t01_before + 1
    );

    // The same unlisted house twice: counted once, two to check.
    let first = survey(&w, "phone-x", "T01", "Số 9 xóm Tây").await;
    let second = survey(&w, "phone-y", "T01", "so 9, xom tay").await;
    let now = indices(&w).await;
    assert_eq!(
        now["report"]["hamlets"]["T01"]["householdsTotal"],
        t01_before + 2,
        "{now}"
    );
    assert_eq!(now["coverage"]["T01"]["possibleDuplicates"], 2);
    // Published (not raw): the listed count and the households to check are shown too.
    let (status, published) = w
        .call(
            "staff",
            Method::GET,
            "/api/v1/indices?view=all-surveyed",
            None,
        )
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["coverage"]["T01"]["listed"], 2);
    assert_eq!(published["coverage"]["T01"]["possibleDuplicates"], 2);
    // The head approves the second: it counts, the first (undecided) does not.
    let heads = read_heads(&w, &second).await;
    let (status, body) = w
        .call(
            "head1",
            Method::POST,
            &format!("/api/v1/households/{second}/reviews"),
            Some(serde_json::json!({"decision": "approved", "heads": heads, "version": 0})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let now = indices(&w).await;
    assert_eq!(
        now["report"]["hamlets"]["T01"]["householdsTotal"],
        t01_before + 2,
        "{now}"
    );
    assert_eq!(now["coverage"]["T01"]["possibleDuplicates"], 1);
    let still = queue(&w).await;
    let first_state = still
        .iter()
        .find(|(d, ..)| *d == first.to_string())
        .unwrap();
    assert_eq!(first_state.1, "possible-duplicate", "{still:?}");

    // The export names each listed household by the commune's code.
    let response = w
        .app
        .http
        .get(format!("{}/api/v1/exports/households.csv", w.app.url))
        .bearer_auth(w.token("staff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with("Mã hộ theo danh sách của xã"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&id.to_string()) && l.ends_with(",H001")),
        "{text}"
    );
    w.app.stop().await;
}

fn state_of_in(
    queue: &[(String, String, Vec<String>)],
    id: &DocumentId,
) -> (String, String, Vec<String>) {
    queue
        .iter()
        .find(|(d, ..)| *d == id.to_string())
        .cloned()
        .unwrap()
}

/// A T01 household at `address` whose one member is `name`, born in `year`.
async fn with_member(w: &World, address: &str, name: &str, year: i64) -> DocumentId {
    let mut household = fixture::household_of("T01", address, &[("m1", name)]);
    household.members.get_mut("m1").unwrap().birth_year = Some(year);
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::random());
    sansang_shared::write::household(&mut doc, &household).unwrap();
    doc.commit();
    let id = DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, doc.document().get_changes(&[]))
        .await
        .unwrap();
    id
}

/// One person in two households of a hamlet (the same name, once folded, and birth year) flags
/// both, whatever their addresses; the same name born another year, or in another hamlet, does
/// not.
pub async fn the_same_person_in_two_households_flags_both(db: &TestDb) {
    let w = world(db).await;
    let a = with_member(&w, "Số 20 xóm Tây", "Nguyễn Văn Ánh", 1962).await;
    let b = with_member(&w, "Số 31 xóm Đông", "nguyen van  anh", 1962).await;
    let c = with_member(&w, "Số 42 xóm Bắc", "Nguyễn Văn Ánh", 1963).await;
    let in_queue = queue(&w).await;
    assert_eq!(
        state_of_in(&in_queue, &a),
        (
            a.to_string(),
            "possible-duplicate".into(),
            vec![b.to_string()]
        )
    );
    assert_eq!(state_of_in(&in_queue, &b).2, vec![a.to_string()]);
    assert_ne!(state_of_in(&in_queue, &c).1, "possible-duplicate");
    let (status, read) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{b}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["duplicateOf"], serde_json::json!([a.to_string()]));
    w.app.stop().await;
}

async fn read_heads(w: &World, id: &DocumentId) -> Value {
    let (status, read) = w
        .call(
            "head1",
            Method::GET,
            &format!("/api/v1/households/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    read["projection"]["heads"].clone()
}

sansang_tests::backend_tests!(
    a_roster_is_refused_whole_then_imported,
    two_phones_edit_a_listed_household_offline_and_converge,
    the_same_house_surveyed_twice_is_flagged_on_both,
    coverage_follows_the_roster_and_counts_a_house_once,
    the_same_person_in_two_households_flags_both,
);
