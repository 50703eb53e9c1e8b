//! Two communes, their hamlets, people of every role, an enrolled phone and three households.

use automerge::{ActorId, AutoCommit};
use reqwest::{Method, StatusCode};
use sansang_server::accounts::{self, NewAccount};
use sansang_server::auth::enrollment::{self, CodeRequest};
use sansang_server::documents::DocumentId;
use sansang_server::storage::{Actor, Commune, Hamlet, Role};
use sansang_shared::model::{Consent, Relation};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use sansang_tests::app::TestApp;
use sansang_tests::db::TestDb;
use serde_json::{Value, json};

pub const PASSWORD: &str = "mật-khẩu-thử-1234";

pub struct World {
    pub app: TestApp,
    /// Bearer tokens by name: admin, staff, head1 (T01), head2 (T02), other (admin of 20000),
    /// phone (device of T01).
    pub tokens: Vec<(&'static str, String)>,
    pub phone_id: String,
    pub doc_t01: DocumentId,
    pub doc_t02: DocumentId,
    pub doc_other: DocumentId,
}

impl World {
    /// The sync socket's address.
    pub fn sync_url(&self) -> String {
        format!("ws://{}/api/v1/sync", self.app.addr)
    }

    /// Uploads `bytes` as a photo from the phone; its sha256.
    pub async fn upload_photo(&self, bytes: &[u8]) -> String {
        let sha = sansang_server::photos::Sha256Hex::of(bytes).to_string();
        let response = self
            .app
            .http
            .put(format!("{}/api/v1/photos/{sha}", self.app.url))
            .bearer_auth(self.token("phone"))
            .header("content-type", "image/jpeg")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        sha
    }

    pub fn token(&self, who: &str) -> &str {
        &self.tokens.iter().find(|(n, _)| *n == who).unwrap().1
    }

    /// Sends a request as `who` (`anonymous` sends no token) and returns the status and body.
    pub async fn call(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.url));
        if who != "anonymous" {
            request = request.bearer_auth(self.token(who));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// A JPEG gradient, `seed` tinting it so each seed gives other bytes.
pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A household of `hamlet` in commune 10846 at `address`, with consent and the members given
/// as (id, name), the first the head.
pub fn household_of(hamlet: &str, address: &str, members: &[(&str, &str)]) -> Household {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some("10846".into()),
        hamlet_id: Some(hamlet.into()),
        address: Some(address.into()),
        consent: Some(Consent {
            given: Some(true),
            ..Consent::default()
        }),
        ..Household::default()
    };
    for (n, (id, name)) in members.iter().enumerate() {
        h.members.insert(
            (*id).to_owned(),
            Member {
                full_name: Some((*name).to_owned()),
                relation: Some(if n == 0 {
                    Relation::Head
                } else {
                    Relation::Spouse
                }),
                birth_year: Some(1970 + n as i64),
                ..Member::default()
            },
        );
    }
    h
}

/// Attaches the photo `sha` to member `member` of `h` as evidence.
pub fn add_photo(h: &mut Household, sha: &str, member: &str) {
    h.photos.insert(
        sha.to_owned(),
        sansang_shared::model::PhotoRef {
            kind: Some(sansang_shared::model::PhotoKind::Evidence),
            member_id: Some(member.to_owned()),
            taken_at: None,
        },
    );
}

/// `h` as a new Automerge document written by a random actor.
pub fn document_of(h: &Household) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, h).unwrap();
    doc
}

async fn household(app: &TestApp, commune: &str, hamlet: &str) -> DocumentId {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some(commune.into()),
        hamlet_id: Some(hamlet.into()),
        address: Some(format!("Số 1, {hamlet}")),
        consent: Some(Consent {
            given: Some(true),
            ..Consent::default()
        }),
        ..Household::default()
    };
    h.members.insert(
        uuid::Uuid::new_v4().to_string(),
        Member {
            full_name: Some("Đinh Thị Quế".into()),
            relation: Some(Relation::Head),
            birth_year: Some(1975),
            ..Member::default()
        },
    );
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &h).unwrap();
    let id = DocumentId::random();
    app.state
        .documents
        .apply_changes(&id, doc.get_changes(&[]))
        .await
        .unwrap();
    id
}

pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

pub async fn world(db: &TestDb) -> World {
    world_with(db, |_| {}).await
}

/// As [`world`], on a server whose configuration `adjust` changed first.
pub async fn world_with(
    db: &TestDb,
    adjust: impl FnOnce(&mut sansang_server::config::Config),
) -> World {
    let app = TestApp::spawn_with(db, adjust).await;
    let storage = app.state.storage.as_ref();
    for (code, name) in [("10846", "Xã Hà Tây"), ("20000", "Phường Thử")] {
        storage
            .upsert_commune(&Commune {
                code: code.into(),
                name: name.into(),
                province: "Hải Phòng".into(),
            })
            .await
            .unwrap();
        for hamlet in ["T01", "T02"] {
            storage
                .upsert_hamlet(&Hamlet {
                    commune_code: code.into(),
                    id: hamlet.into(),
                    name: format!("Thôn {hamlet}"),
                    expected_households: None,
                })
                .await
                .unwrap();
        }
    }
    let people: [(&'static str, Role, &str, &[&str]); 5] = [
        ("admin", Role::Admin, "10846", &[]),
        ("staff", Role::CommuneStaff, "10846", &[]),
        ("head1", Role::HamletHead, "10846", &["T01"]),
        ("head2", Role::HamletHead, "10846", &["T02"]),
        ("other", Role::Admin, "20000", &[]),
    ];
    let mut tokens = Vec::new();
    for (name, role, commune, hamlets) in people {
        let hamlets: Vec<String> = hamlets.iter().map(|h| (*h).to_owned()).collect();
        accounts::create(
            storage,
            NewAccount {
                username: name,
                display_name: name,
                role,
                commune_code: Some(commune),
                hamlets: &hamlets,
                password: Some(PASSWORD),
            },
        )
        .await
        .unwrap();
        let response = sign_in(&app, name, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        tokens.push((name, body["token"].as_str().unwrap().to_owned()));
    }
    let issued = enrollment::issue(
        storage,
        Actor::System,
        CodeRequest {
            commune_code: "10846",
            volunteer: "Trần Văn Tình Nguyện",
            hamlets: &["T01".to_owned()],
            validity: enrollment::DEFAULT_VALIDITY,
        },
        &app.url,
    )
    .await
    .unwrap();
    let (phone_token, phone) = enrollment::redeem(storage, &issued.code).await.unwrap();
    tokens.push(("phone", phone_token));
    let doc_t01 = household(&app, "10846", "T01").await;
    let doc_t02 = household(&app, "10846", "T02").await;
    let doc_other = household(&app, "20000", "T01").await;
    World {
        app,
        tokens,
        phone_id: phone.id,
        doc_t01,
        doc_t02,
        doc_other,
    }
}
