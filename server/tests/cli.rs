//! The `sansang` binary as a person runs it: `demo` twice (no duplicates, same logins), then
//! `serve` answering `/healthz` and stopping cleanly on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sansang(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sansang"));
    cmd.env("SANSANG_DATA_DIR", data_dir)
        .env("SANSANG_LISTEN", "127.0.0.1:0")
        .env_remove("SANSANG_DATABASE_URL")
        .env_remove("RUST_LOG");
    cmd
}

fn credentials(data_dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(data_dir.join("demo-credentials.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn demo_twice_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = sansang(dir.path()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        (stdout, stderr)
    };

    let (stdout, stderr) = run(&["demo", "--no-serve", "--households", "30"]);
    assert!(stdout.contains("truongthon12"), "{stdout}");
    assert!(stdout.contains("http://127.0.0.1:"), "{stdout}");
    assert!(
        stderr.contains("creating demo households: 30/30"),
        "{stderr}"
    );
    let first = credentials(dir.path());
    assert_eq!(first["users"].as_array().unwrap().len(), 15);
    assert_eq!(first["commune"]["code"], "10846");

    let (_, stderr) = run(&["demo", "--no-serve", "--households", "30"]);
    assert!(!stderr.contains("creating demo households"), "{stderr}");
    assert!(
        stderr.contains("users_created: 0, devices_enrolled: 0, households_written: 0"),
        "{stderr}"
    );
    assert_eq!(credentials(dir.path())["users"], first["users"]);

    let mut server = sansang(dir.path())
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "server never said where it listens"
        );
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("url=http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("database closed")),
        "{rest:?}"
    );
}
