//! Nothing of one commune is visible to another commune's admin: every GET route of the API (read
//! from the OpenAPI document, so a new route is walked without editing this test) and every page,
//! asked with every parameter naming commune 10846's things, answers without a trace of them.

use calamine::{Reader, Xlsx};
use reqwest::header;
use sansang_tests::db::TestDb;
use serde_json::{Value, json};

use crate::fixture::{PASSWORD, World, add_photo, document_of, household_of, jpeg, sign_in, world};

/// What commune 10846 holds that must never reach commune 20000's admin: its households' ids,
/// its people's and phone's ids, the volunteer's name, the commune's name, a photo of it, and the
/// text of a review.
struct Marks {
    strings: Vec<String>,
}

impl Marks {
    fn found_in(&self, body: &str) -> Vec<&str> {
        self.strings
            .iter()
            .filter(|m| body.contains(m.as_str()))
            .map(String::as_str)
            .collect()
    }
}

async fn marks_of_10846(w: &World, photo: &str) -> Marks {
    let storage = w.app.state.storage.as_ref();
    let mut strings = vec![
        w.doc_t01.to_string(),
        w.doc_t02.to_string(),
        w.phone_id.clone(),
        "Trần Văn Tình Nguyện".to_owned(),
        "Xã Hà Tây".to_owned(),
        "Ghi chú duyệt của thôn T01".to_owned(),
        photo.to_owned(),
    ];
    for name in ["admin", "staff", "head1", "head2"] {
        let user = storage.get_user_by_username(name).await.unwrap().unwrap();
        strings.push(user.id);
    }
    Marks { strings }
}

/// The body as text: JSON and pages as they are, workbooks cell by cell.
async fn body_text(response: reqwest::Response) -> String {
    let xlsx = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("spreadsheetml"));
    let bytes = response.bytes().await.unwrap();
    if !xlsx {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let mut book = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    text
}

/// Every way of asking `template` (a path of the OpenAPI document) about 10846: its path
/// parameters filled with 10846's things, then with and without each query parameter that can
/// name a commune, a hamlet, a household or a person.
fn requests(template: &str, params: &[Value], w: &World, photo: &str, head1: &str) -> Vec<String> {
    let path = template
        .replace("{id}", &w.doc_t01.to_string())
        .replace("{sha256}", photo)
        .replace("{year}", "2026");
    let mut query: Vec<String> = Vec::new();
    for p in params.iter().filter(|p| p["in"] == "query") {
        let value = match p["name"].as_str().unwrap_or("") {
            "commune" => "10846".to_owned(),
            "hamlet" => "T01".to_owned(),
            "household" => w.doc_t01.to_string(),
            "actorKind" => "user".to_owned(),
            "actorId" => head1.to_owned(),
            "year" => "2026".to_owned(),
            _ => continue,
        };
        query.push(format!("{}={value}", p["name"].as_str().unwrap_or("")));
    }
    let mut asked = vec![path.clone()];
    for q in &query {
        asked.push(format!("{path}?{q}"));
    }
    if query.len() > 1 {
        asked.push(format!("{path}?{}", query.join("&")));
    }
    asked
}

pub async fn another_communes_admin_sees_nothing_of_10846(db: &TestDb) {
    let w = world(db).await;
    // 10846 at work: a photo uploaded, a review with a comment, a failed sign-in of a hamlet
    // head (the typed name is in the audit detail), an export.
    let photo = w.upload_photo(&jpeg(64, 48, 7)).await;
    let (status, household) = w
        .call(
            "head1",
            reqwest::Method::GET,
            &format!("/api/v1/households/{}", w.doc_t01),
            None,
        )
        .await;
    assert_eq!(status, 200, "{household}");
    let (status, review) = w
        .call(
            "head1",
            reqwest::Method::POST,
            &format!("/api/v1/households/{}/reviews", w.doc_t01),
            Some(json!({
                "decision": "correction-requested",
                "comment": "Ghi chú duyệt của thôn T01",
                "heads": household["projection"]["heads"],
                "version": 0,
            })),
        )
        .await;
    assert!(status.is_success(), "{status} {review}");
    assert_eq!(sign_in(&w.app, "head1", "sai mật khẩu").await.status(), 401);
    let (status, _) = w
        .call(
            "staff",
            reqwest::Method::GET,
            "/api/v1/exports/households.csv",
            None,
        )
        .await;
    assert_eq!(status, 200);

    let head1 = w
        .app
        .state
        .storage
        .get_user_by_username("head1")
        .await
        .unwrap()
        .unwrap()
        .id;
    let marks = marks_of_10846(&w, &photo).await;
    // The marks are real: 10846's own admin finds them where they are.
    let (_, audit) = w
        .call("admin", reqwest::Method::GET, "/api/v1/audit", None)
        .await;
    assert!(
        !marks.found_in(&audit.to_string()).is_empty(),
        "10846's admin reads its own trail: {audit}"
    );

    let spec: Value = w.app.get("/api/openapi.json").await.json().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    let mut walked = 0;
    let mut leaks = Vec::new();
    for (template, item) in paths {
        let Some(get) = item.get("get") else { continue };
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        for path in requests(template, &params, &w, &photo, &head1) {
            let response = w
                .app
                .http
                .get(format!("{}{path}", w.app.url))
                .bearer_auth(w.token("other"))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = body_text(response).await;
            walked += 1;
            let found = marks.found_in(&text);
            if !found.is_empty() {
                leaks.push(format!("GET {path} ({status}) shows {found:?}"));
            }
        }
    }
    assert!(walked > 20, "the OpenAPI document lists the GET routes");

    // The pages, with the other admin's session as a cookie.
    let signed_in: Value = sign_in(&w.app, "other", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let cookie = format!("sansang_session={}", signed_in["token"].as_str().unwrap());
    for path in [
        "/review".to_owned(),
        "/review?hamlet=T01".to_owned(),
        "/review?commune=10846".to_owned(),
        format!("/review/households/{}", w.doc_t01),
        "/dashboard".to_owned(),
        "/dashboard?commune=10846".to_owned(),
        "/dashboard?hamlet=T01".to_owned(),
    ] {
        let response = w
            .app
            .http
            .get(format!("{}{path}", w.app.url))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = body_text(response).await;
        let found = marks.found_in(&text);
        if !found.is_empty() {
            leaks.push(format!("page {path} ({status}) shows {found:?}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "commune 20000's admin sees 10846:\n{}",
        leaks.join("\n")
    );
    w.app.stop().await;
}

/// A household of `hamlet` in commune 10846 at house number `house` (each its own address, so
/// only the photo makes them look alike), holding photo `sha`, stored straight away.
async fn household_with_photo(
    w: &World,
    hamlet: &str,
    house: u32,
    sha: &str,
    consent: bool,
) -> sansang_server::documents::DocumentId {
    let address = format!("Số {house}, {hamlet}");
    let mut h = household_of(hamlet, &address, &[("m1", "Lò Văn Sáu")]);
    if !consent {
        h.consent = None;
    }
    add_photo(&mut h, sha, "m1");
    let mut doc = document_of(&h);
    let id = sansang_server::documents::DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, doc.get_changes(&[]))
        .await
        .unwrap();
    id
}

/// The same photo in households of T01 and T02, and in one of T01 without consent: T01's head is
/// told only of what they may read; the commune's admin of the other hamlet's too, never of the
/// household without consent.
pub async fn duplicates_name_only_households_the_reader_may_read(db: &TestDb) {
    let w = world(db).await;
    let photo = w.upload_photo(&jpeg(64, 48, 99)).await;
    let mine = household_with_photo(&w, "T01", 5, &photo, true).await;
    let neighbour = household_with_photo(&w, "T01", 6, &photo, true).await;
    let other_hamlet = household_with_photo(&w, "T02", 7, &photo, true).await;
    let no_consent = household_with_photo(&w, "T01", 8, &photo, false).await;
    let duplicates = |who: &'static str| {
        let w = &w;
        let path = format!("/api/v1/households/{mine}");
        async move {
            let (status, body) = w.call(who, reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "{who}: {body}");
            let named: Vec<String> = body["photos"][0]["duplicateOf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            (named, body.to_string())
        }
    };
    let (by_head, text) = duplicates("head1").await;
    assert_eq!(by_head, vec![neighbour.to_string()], "{text}");
    assert!(!text.contains(&other_hamlet.to_string()), "{text}");
    assert!(!text.contains(&no_consent.to_string()), "{text}");
    let (by_admin, text) = duplicates("admin").await;
    let mut expected = vec![neighbour.to_string(), other_hamlet.to_string()];
    expected.sort();
    assert_eq!(by_admin, expected, "{text}");
    assert!(!text.contains(&no_consent.to_string()), "{text}");
    w.app.stop().await;
}

/// What a page of another site can make a browser send with a hamlet head's cookie is refused:
/// the sign-in form posted from another origin, and a sync socket opened from another origin.
/// The same from the server's own origin works.
pub async fn foreign_origins_are_refused(db: &TestDb) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Frame;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let w = world(db).await;
    let own = format!("http://{}", w.app.addr);
    let form = [("username", "head1"), ("password", PASSWORD)];
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |origin: &str| {
        http.post(format!("{}/review/login", w.app.url))
            .header(header::ORIGIN, origin)
            .form(&form)
            .send()
    };
    let foreign = post("http://evil.example").await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(!foreign.headers().contains_key(header::SET_COOKIE));
    let ours = post(&own).await.unwrap();
    assert_eq!(ours.status(), 303, "signed in from our own page");

    // The sync socket with head1's cookie: from another origin it is refused inside the
    // socket; from ours it joins.
    let cookie = format!("sansang_session={}", w.token("head1"));
    let join = |origin: String| {
        let url = w.sync_url();
        let cookie = cookie.clone();
        async move {
            let mut request = url.into_client_request().unwrap();
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let join = sansang_server::sync::wire::Message::Join {
                sender_id: "head1-page".into(),
                metadata: Default::default(),
                supported_versions: Some(vec![sansang_server::sync::wire::PROTOCOL_VERSION.into()]),
            };
            socket
                .send(Frame::Binary(
                    sansang_server::sync::wire::encode(&join).into(),
                ))
                .await
                .unwrap();
            loop {
                match socket.next().await {
                    Some(Ok(Frame::Binary(bytes))) => {
                        break sansang_server::sync::wire::decode(&bytes).unwrap();
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("the socket ended: {other:?}"),
                }
            }
        }
    };
    match join("http://evil.example".into()).await {
        sansang_server::sync::wire::Message::Error { message, .. } => {
            assert!(message.contains("unauthenticated"), "{message}")
        }
        other => panic!("a foreign page's socket joined: {other:?}"),
    }
    assert!(matches!(
        join(own).await,
        sansang_server::sync::wire::Message::Peer { .. }
    ));
    w.app.stop().await;
}
