//! The real binary in its own process, for the suites that need it: `sansang demo` started with
//! a fresh data folder, its URL read from what it prints, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Demo {
    pub child: Child,
    pub url: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (which runs `sansang demo …`) on a free port with `data_dir`, and waits
/// until it serves.
pub fn start(mut command: Command, data_dir: &std::path::Path) -> Demo {
    let mut child = command
        .env("SANSANG_DATA_DIR", data_dir)
        .env("SANSANG_LISTEN", "127.0.0.1:0")
        .env("SANSANG_LOG", "warn")
        .env_remove("SANSANG_DATABASE_URL")
        .env_remove("SANSANG_CONFIG")
        .env_remove("SANSANG_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the demo");
    let stdout = child.stdout.take().expect("the demo's output");
    let mut demo = Demo {
        child,
        url: String::new(),
    };
    // The demo prints "  open http://…" and, once it serves, "  saved to <credentials>".
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("reading the demo's output");
        if let Some(u) = line.trim().strip_prefix("open ") {
            demo.url = u.trim().to_owned();
        }
        if line.trim().starts_with("saved to ") {
            break;
        }
        assert!(Instant::now() < deadline, "the demo did not start");
    }
    assert!(demo.url.starts_with("http://"), "{}", demo.url);
    // Keep reading what the server prints, so it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    demo
}
