//! The review pages over HTTP on both backends, for what a browser test does not reach cheaply:
//! who is let in, forms from elsewhere, tampered ids, a missing reason, a double submission and
//! script in a comment. (`tests/browser/run.sh` drives the same pages in Chromium.)

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the fixture's helpers serve several suites
#[path = "access/fixture.rs"]
mod fixture;

use reqwest::Method;
use reqwest::redirect::Policy;
use sansang_tests::db::TestDb;

use fixture::{PASSWORD, World, world};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the page; the session cookie.
async fn sign_in(w: &World, username: &str) -> String {
    let response = client()
        .post(format!("{}/review/login", w.app.url))
        .form(&[
            ("username", username),
            ("password", PASSWORD),
            ("next", "/review"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{username}");
    assert_eq!(response.headers()["location"], "/review");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

async fn get(w: &World, cookie: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", w.app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn post(w: &World, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let response = client()
        .post(format!("{}{path}", w.app.url))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

/// The form token printed in a page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[at..at + 32].to_owned()
}

pub async fn pages_check_who_asks_and_what_is_sent(db: &TestDb) {
    let w = world(db).await;
    let id = w.doc_t01.to_string();

    // Signed out: to the sign-in page, remembering where to come back.
    let (status, _) = get(&w, "", &format!("/review/households/{id}")).await;
    assert_eq!(status, 303);
    let response = client()
        .get(format!("{}/review/households/{id}", w.app.url))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/review/login?next=%2Freview%2Fhouseholds%2F"),
        "{location}"
    );
    // A `next` leading elsewhere is not followed.
    let (status, page) = get(&w, "", "/review/login?next=https://evil.example/").await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"next\" value=\"/review\""), "{page}");
    // A wrong password: the form again, with the name kept.
    let response = client()
        .post(format!("{}/review/login", w.app.url))
        .form(&[("username", "head1"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("value=\"head1\""));

    // Commune staff do not review: they are sent to their dashboard, which hamlet heads and
    // phones do not get. Another hamlet's head sees no such household.
    let staff = sign_in(&w, "staff").await;
    let response = client()
        .get(format!("{}/review", w.app.url))
        .header("cookie", &staff)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/dashboard");
    assert_eq!(
        get(&w, &staff, &format!("/review/households/{id}")).await.0,
        403
    );
    let (status, dashboard) = get(&w, &staff, "/dashboard?view=all-surveyed").await;
    assert_eq!(status, 200);
    assert_eq!(
        dashboard.matches("<svg class=\"chart\"").count(),
        9,
        "eight indicators and the progress"
    );
    assert!(get(&w, "", "/dashboard").await.0 == 303);
    let head2 = sign_in(&w, "head2").await;
    let (status, page) = get(&w, &head2, &format!("/review/households/{id}")).await;
    assert_eq!(status, 404, "{page}");
    let (status, _) = get(&w, &head2, &format!("/review/households/{}", w.doc_other)).await;
    assert_eq!(status, 404);

    let head1 = sign_in(&w, "head1").await;
    assert_eq!(get(&w, &head1, "/dashboard").await.0, 403);
    let (status, queue) = get(&w, &head1, "/review").await;
    assert_eq!(status, 200);
    assert!(queue.contains(&format!("/review/households/{id}")));
    assert!(!queue.contains(&format!("/review/households/{}", w.doc_t02)));
    let (status, page) = get(&w, &head1, &format!("/review/households/{id}")).await;
    assert_eq!(status, 200);
    let token = csrf(&page);
    let heads = {
        let (_, household) = w
            .call(
                "head1",
                Method::GET,
                &format!("/api/v1/households/{id}"),
                None,
            )
            .await;
        household["projection"]["heads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    let decision = format!("/review/households/{id}/decision");

    // A form without this session's token (another site's, an old page's) changes nothing.
    let (status, _, _) = post(
        &w,
        &head1,
        &decision,
        &[
            ("csrf", "0123"),
            ("decision", "approved"),
            ("heads", &heads),
            ("version", "0"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    // No reason: the page again with the message and the field marked.
    let (status, _, page) = post(
        &w,
        &head1,
        &decision,
        &[
            ("csrf", &token),
            ("decision", "rejected"),
            ("comment", " "),
            ("heads", &heads),
            ("version", "0"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("role=\"alert\""), "{page}");
    assert!(page.contains("aria-invalid=\"true\""));
    let stored = w.app.state.storage.current_review(&id).await.unwrap();
    assert_eq!(stored, None, "nothing saved");

    // Script in a comment is shown as text.
    let comment = "Sai năm sinh <script>alert('x')</script>";
    let form = [
        ("csrf", token.as_str()),
        ("decision", "correction-requested"),
        ("comment", comment),
        ("heads", heads.as_str()),
        ("version", "0"),
    ];
    let (status, location, _) = post(&w, &head1, &decision, &form).await;
    assert_eq!(
        (status, location.as_str()),
        (
            303,
            format!("/review/households/{id}?done=decided").as_str()
        )
    );
    // The same form again (a double tap): the same outcome, one decision.
    let (status, _, _) = post(&w, &head1, &decision, &form).await;
    assert_eq!(status, 303);
    let history = w.app.state.storage.review_history(&id).await.unwrap();
    assert_eq!(history.len(), 1);
    let (_, page) = get(&w, &head1, &format!("/review/households/{id}?done=decided")).await;
    assert!(
        !page.contains("<script>alert"),
        "script in a comment is escaped"
    );
    assert!(page.contains("&lt;script&gt;alert"));
    assert!(page.contains("id=\"done\""));

    // The old page's decision after that one: told someone decided, shown the state of now.
    let (status, _, page) = post(
        &w,
        &head1,
        &decision,
        &[
            ("csrf", &token),
            ("decision", "approved"),
            ("heads", &heads),
            ("version", "0"),
        ],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        page.contains("data-state=\"correction-requested\""),
        "{page}"
    );

    // Tampered ids: another hamlet's household through head1's session.
    let (status, _, _) = post(
        &w,
        &head1,
        &format!("/review/households/{}/decision", w.doc_t02),
        &[
            ("csrf", &token),
            ("decision", "approved"),
            ("heads", &heads),
            ("version", "0"),
        ],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = post(
        &w,
        &head1,
        &format!("/review/households/{id}/resolve"),
        &[
            ("csrf", &token),
            ("path", "/address"),
            ("value", "\"Số 9\""),
        ],
    )
    .await;
    assert_eq!(status, 409, "no conflict there to settle");

    // Signing out ends the session.
    let (status, location, _) = post(&w, &head1, "/review/logout", &[("csrf", &token)]).await;
    assert_eq!((status, location.as_str()), (303, "/review/login"));
    assert_eq!(get(&w, &head1, "/review").await.0, 303);
    w.app.stop().await;
}

/// A household of T01 at `address`, with consent and one member, stored straight away.
async fn household_at(w: &World, address: &str) -> sansang_server::documents::DocumentId {
    let h = fixture::household_of("T01", address, &[("m1", "Lò Văn Pó")]);
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::random());
    sansang_shared::write::household(&mut doc, &h).unwrap();
    doc.commit();
    let id = sansang_server::documents::DocumentId::random();
    w.app
        .state
        .documents
        .apply_changes(&id, doc.document().get_changes(&[]))
        .await
        .unwrap();
    id
}

/// The household page shows a possible duplicate with a link to the other and a form to say
/// they are two households; sent (with the page's token), neither page shows it any more.
pub async fn the_household_page_says_two_households_are_not_one(db: &TestDb) {
    let w = world(db).await;
    let first = household_at(&w, "Số 4 xóm Tây").await;
    let second = household_at(&w, "so 4, xom tay").await;
    let head1 = sign_in(&w, "head1").await;
    let (status, page) = get(&w, &head1, &format!("/review/households/{first}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"duplicates\""), "{page}");
    assert!(
        page.contains(&format!("href=\"/review/households/{second}\"")),
        "a link to the other household"
    );
    let action = format!("/review/households/{first}/not-duplicate");
    assert!(page.contains(&action), "{page}");
    let token = csrf(&page);
    let other = second.to_string();
    // A form from elsewhere (no token) is refused and records nothing.
    let (status, _, _) = post(&w, &head1, &action, &[("csrf", "0123"), ("other", &other)]).await;
    assert_eq!(status, 403);
    let (_, page) = get(&w, &head1, &format!("/review/households/{second}")).await;
    assert!(page.contains("id=\"duplicates\""), "still flagged");
    // The head of T02 cannot decide on T01's households.
    let head2 = sign_in(&w, "head2").await;
    let (_, theirs) = get(&w, &head2, "/review").await;
    let (status, _, _) = post(
        &w,
        &head2,
        &action,
        &[("csrf", &csrf(&theirs)), ("other", &other)],
    )
    .await;
    assert_eq!(status, 404);
    let (status, location, _) =
        post(&w, &head1, &action, &[("csrf", &token), ("other", &other)]).await;
    assert_eq!(
        (status, location.as_str()),
        (
            303,
            format!("/review/households/{first}?done=not-duplicate").as_str()
        )
    );
    for id in [&first, &second] {
        let (_, page) = get(&w, &head1, &format!("/review/households/{id}")).await;
        assert!(!page.contains("id=\"duplicates\""), "{id}: {page}");
    }
    w.app.stop().await;
}

sansang_tests::backend_tests!(
    pages_check_who_asks_and_what_is_sent,
    the_household_page_says_two_households_are_not_one,
);
