//! No password, enrollment code or token reaches the logs, even at debug level: the server is
//! run as a person runs it, signed in to, asked for a code, enrolled with it, and its stderr is
//! searched for every secret that crossed the wire.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// One HTTP/1.1 request; returns the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn field(json: &str, key: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value[key].as_str().unwrap().to_owned()
}

#[test]
fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_sansang"))
        .args(["demo", "--households", "12"])
        .env("SANSANG_DATA_DIR", dir.path())
        .env("SANSANG_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .env_remove("SANSANG_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = stdout.next().expect("demo prints its URL").unwrap();
        if let Some(rest) = line.trim().strip_prefix("open http://") {
            break rest.to_owned();
        }
    };
    while let Some(Ok(line)) = stdout.next() {
        if line.contains("saved to") {
            break;
        }
    }
    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-credentials.json")).unwrap(),
    )
    .unwrap();
    let admin_password = credentials["users"][0]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let demo_token = credentials["devices"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = format!("Sai-{}", uuid::Uuid::new_v4().simple());
    let renewed = format!("Moi-{}", uuid::Uuid::new_v4().simple());

    let login = |password: &str| {
        http(
            &addr,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&format!(
                r#"{{"username":"admin","password":"{password}"}}"#
            )),
        )
    };
    assert_eq!(login(&wrong).0, 401);
    let (status, body) = login(&admin_password);
    assert_eq!(status, 200, "{body}");
    let session = field(&body, "token");
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/enrollments",
        Some(&session),
        Some(r#"{"volunteer":"Lò Văn Thử","hamlets":["T01"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let code = field(&body, "code");
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/devices/enroll",
        None,
        Some(&format!(r#"{{"code":"{code}"}}"#)),
    );
    assert_eq!(status, 201, "{body}");
    let device_token = field(&body, "token");
    assert_eq!(
        http(
            &addr,
            "GET",
            &format!("/api/v1/me?token={device_token}"),
            None,
            None
        )
        .0,
        401
    );
    assert_eq!(
        http(&addr, "GET", "/api/v1/me", Some(&device_token), None).0,
        200
    );
    assert_eq!(
        http(&addr, "GET", "/api/v1/me", Some(&demo_token), None).0,
        200
    );
    let change = format!(r#"{{"currentPassword":"{admin_password}","newPassword":"{renewed}"}}"#);
    assert_eq!(
        http(
            &addr,
            "POST",
            "/api/v1/auth/password",
            Some(&session),
            Some(&change)
        )
        .0,
        204
    );

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("/api/v1/auth/login"),
        "requests were logged at debug level:\n{logs}"
    );
    let code_plain: String = code.chars().filter(|c| *c != '-').collect();
    for (what, secret) in [
        ("admin password", admin_password.as_str()),
        ("wrong password", wrong.as_str()),
        ("new password", renewed.as_str()),
        ("session token", session.as_str()),
        ("enrollment code", code.as_str()),
        ("enrollment code without dashes", code_plain.as_str()),
        ("device token", device_token.as_str()),
        ("demo device token", demo_token.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the logs");
    }
}
