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

    let enroll_code = |stdout: &str| {
        let line = stdout.lines().find(|l| l.contains("field app")).unwrap();
        assert!(line.contains("/field/#enroll="), "{line}");
        line.split("#enroll=").nth(1).unwrap().trim().to_owned()
    };
    let first_code = enroll_code(&stdout);
    let (stdout, stderr) = run(&["demo", "--no-serve", "--households", "30"]);
    // Each start prints a fresh one-time link for the field app.
    let code = enroll_code(&stdout);
    assert_ne!(code, first_code);
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
    // The printed link's code enrolls a phone.
    let body = format!("{{\"code\":\"{code}\"}}");
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/devices/enroll HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"token\":\"sd_"), "{response}");

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

/// `sansang export summary` on the demo commune: an xlsx workbook, a CSV with its byte-order
/// mark and Vietnamese headers, JSON with suppressed cells; an unknown commune is an error
/// naming it, and no file is left behind.
#[test]
fn export_summary_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = sansang(dir.path())
        .args(["demo", "--no-serve", "--households", "40"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let export = |format: &str, file: &str, extra: &[&str]| {
        let path = dir.path().join(file);
        let out = sansang(dir.path())
            .args([
                "export",
                "summary",
                "--commune",
                "10846",
                "--year",
                "2026",
                "--format",
                format,
            ])
            .args(extra)
            .arg("--out")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("households in"),
            "progress is shown: {stderr}"
        );
        assert!(stdout.contains("wrote"), "{stdout}");
        std::fs::read(path).unwrap()
    };
    let xlsx = export("xlsx", "tong-hop.xlsx", &[]);
    assert!(xlsx.starts_with(b"PK"), "an xlsx is a zip");
    let csv = export("csv", "tong-hop.csv", &["--all-surveyed"]);
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.starts_with("\u{feff}Cấp,Mã,Tên,Mã chỉ số,Chỉ số,Tử số,Mẫu số"),
        "{text}"
    );
    assert!(
        text.contains("\r\nXã,10846,Xã Hà Tây,digital-identity,"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&export("json", "tong-hop.json", &["--all-surveyed"])).unwrap();
    assert_eq!(json["report"]["threshold"], 5);
    assert!(
        json["report"]["commune"]["householdsCounted"]
            .as_u64()
            .unwrap()
            > 0
    );

    let missing = dir.path().join("nothing.csv");
    let out = sansang(dir.path())
        .args([
            "export",
            "summary",
            "--commune",
            "99999",
            "--format",
            "csv",
            "--out",
        ])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("99999"));
    assert!(!missing.exists());
}
