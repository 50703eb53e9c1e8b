//! The demo commune is created once: a second run adds nothing and keeps the passwords.

use sansang_server::auth::password;
use sansang_server::demo;
use sansang_server::storage::Role;
use sansang_tests::app::TestApp;
use sansang_tests::db::TestDb;

pub async fn demo_is_seeded_once(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let mut calls = Vec::new();
    let (seeded, first) = demo::seed(&app.state, 48, &mut |done, total| calls.push((done, total)))
        .await
        .unwrap();
    assert_eq!(calls.last(), Some(&(48, 48)), "progress reached the end");
    let logins = seeded.logins;
    assert_eq!(first.users_created, 15);
    assert_eq!(first.devices_enrolled, 12);
    assert_eq!(seeded.devices.len(), 12);
    // A demo phone's token signs in as a device bound to its hamlet.
    let phone = &seeded.devices[4];
    let me: serde_json::Value = app
        .http
        .get(format!("{}/api/v1/me", app.url))
        .bearer_auth(&phone.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "device");
    assert_eq!(
        me["device"]["hamlets"],
        serde_json::json!([phone.hamlet_id])
    );
    assert_eq!(first.households_written, 48);
    assert_eq!(logins.len(), 15);
    assert_eq!(
        logins.iter().filter(|l| l.role == Role::HamletHead).count(),
        12
    );
    assert_eq!(
        logins
            .iter()
            .filter(|l| l.role == Role::CommuneStaff)
            .count(),
        2
    );

    let storage = &app.state.storage;
    let hamlets = storage.list_hamlets(demo::COMMUNE_CODE).await.unwrap();
    assert_eq!(hamlets.len(), 12);
    assert_eq!(hamlets[0].name, "Thôn An Lạc");
    let households = storage
        .list_households(demo::COMMUNE_CODE, None)
        .await
        .unwrap();
    assert_eq!(households.len(), 48);
    assert!(households.iter().all(|h| h.hamlet_id.is_some()));
    let head = storage
        .get_user_by_username("truongthon03")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.hamlets, ["T03"]);
    let login = logins
        .iter()
        .find(|l| l.username == "truongthon03")
        .unwrap();
    assert!(password::verify(&login.password, &head.password_hash));

    let credentials = demo::Credentials {
        url: app.url.clone(),
        commune: storage
            .get_commune(demo::COMMUNE_CODE)
            .await
            .unwrap()
            .unwrap(),
        users: logins.clone(),
        devices: seeded.devices.clone(),
    };
    let path = demo::write_credentials(app.data_dir.path(), &credentials).unwrap();
    assert!(path.ends_with("demo-credentials.json"));

    let (again, second) = demo::seed(&app.state, 48, &mut |_, _| {}).await.unwrap();
    assert_eq!(
        second,
        demo::SeedReport::default(),
        "the second run adds nothing"
    );
    let passwords = |l: &[demo::Login]| -> Vec<(String, String)> {
        l.iter()
            .map(|u| (u.username.clone(), u.password.clone()))
            .collect()
    };
    assert_eq!(passwords(&again.logins), passwords(&logins));
    assert_eq!(
        again.devices, seeded.devices,
        "the same phones, tokens kept"
    );
    assert_eq!(
        storage
            .list_users(Some(demo::COMMUNE_CODE))
            .await
            .unwrap()
            .len(),
        15
    );
    assert_eq!(storage.count_documents().await.unwrap(), 48);
    app.stop().await;
}
