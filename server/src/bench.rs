//! `sansang bench …`: fixed workloads that print figures, run by hand on a quiet machine (never
//! timed assertions in tests). Each starts the real server as a child process of this binary, so
//! the memory it reports is the server's alone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::AppState;
use crate::auth::enrollment::{self, CodeRequest};
use crate::config::Config;
use crate::photos::Sha256Hex;
use crate::photos::ingest::{self, Limits};
use crate::storage::{Actor, Commune, Hamlet};

const COMMUNE: &str = "10846";
const HAMLET: &str = "T01";

/// A synthetic 8-bit camera photo: soft gradients, a few shapes, fine stripes and ±8 levels of
/// sensor-like noise, so its JPEG is about as large as a phone's (3–5 MB at 12 MP).
fn synthetic_photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = 0x9E37_79B9u32 ^ seed.wrapping_mul(0x85EB_CA6B);
    let cx = width / 4 + (seed * 977) % (width / 2);
    let cy = height / 4 + (seed * 613) % (height / 2);
    let r2 = (width.min(height) / 5).pow(2);
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 17) as i32 - 8;
        let dx = x.abs_diff(cx);
        let dy = y.abs_diff(cy);
        let base = if dx * dx + dy * dy < r2 {
            [200, 60 + (seed * 40 % 150) as i32, 40]
        } else if (x / 7 + y / 5) % 9 == 0 {
            [90, 90, 90]
        } else {
            [
                (x * 180 / width) as i32 + 40,
                (y * 160 / height) as i32 + 50,
                ((x + y) * 120 / (width + height)) as i32 + 70,
            ]
        };
        let c = |v: i32| (v + noise).clamp(0, 255) as u8;
        Rgb([c(base[0]), c(base[1]), c(base[2])])
    })
}

fn encode_jpeg(image: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    image
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
        .context("encoding a synthetic photo")?;
    Ok(out)
}

/// A `sansang serve` child process on a port of its choosing, killed when dropped.
struct ServerProcess {
    child: Child,
    stderr: PathBuf,
}

impl ServerProcess {
    fn start(data_dir: &Path) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("finding this binary to start the server")?;
        let stderr = data_dir.join("server.stderr");
        let child = Command::new(exe)
            .arg("serve")
            .env("SANSANG_DATA_DIR", data_dir)
            .env("SANSANG_LISTEN", "127.0.0.1:0")
            .env("SANSANG_LOG", "info")
            .env_remove("SANSANG_DATABASE_URL")
            .env_remove("SANSANG_PHOTO_STORE")
            .env_remove("SANSANG_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).context("creating the server's log")?)
            .spawn()
            .context("starting the server")?;
        Ok(ServerProcess { child, stderr })
    }

    /// `host:port` from the server's "serving" log line.
    fn address(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            if let Some(rest) = log.split("url=http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                // The log may colour the field; keep the address characters only.
                let addr: String = addr
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == ':')
                    .collect();
                return Ok(addr);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}):\n{log}");
            }
            if Instant::now() > deadline {
                bail!("the server did not start within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `VmRSS:` or `VmHWM:` figure of the process, in MiB.
    fn memory_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the commune, one hamlet and an enrolled phone; returns the phone's token.
async fn seed_phone(data_dir: &Path) -> anyhow::Result<String> {
    let config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    let state = AppState::open(config).await?;
    state
        .storage
        .upsert_commune(&Commune {
            code: COMMUNE.into(),
            name: "Xã Bench".into(),
            province: "Hà Nội".into(),
        })
        .await?;
    state
        .storage
        .upsert_hamlet(&Hamlet {
            commune_code: COMMUNE.into(),
            id: HAMLET.into(),
            name: "Thôn Một".into(),
            expected_households: None,
        })
        .await?;
    let issued = enrollment::issue(
        state.storage.as_ref(),
        Actor::System,
        CodeRequest {
            commune_code: COMMUNE,
            volunteer: "Bench",
            hamlets: &[HAMLET.to_owned()],
            validity: enrollment::DEFAULT_VALIDITY,
        },
        "http://127.0.0.1",
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (token, _) = enrollment::redeem(state.storage.as_ref(), &issued.code)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    state.storage.close().await;
    Ok(token)
}

/// One `PUT /api/v1/photos/<hash>` over its own connection; the status code.
async fn put_photo(addr: &str, token: &str, bytes: &[u8]) -> anyhow::Result<u16> {
    let hash = Sha256Hex::of(bytes);
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let head = format!(
        "PUT /api/v1/photos/{hash} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(bytes).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("an unreadable answer: {text}"))
}

/// `sansang bench photos`: photos a second through ingest on one core, then through the real
/// server with `concurrent` uploads at once, and the server's peak memory meanwhile.
pub async fn photos(count: usize, concurrent: usize) -> anyhow::Result<()> {
    let count = count.max(1);
    let concurrent = concurrent.max(1);
    eprintln!("generating {count} synthetic 12 MP JPEGs (4000 × 3000, quality 90)...");
    let photos: Vec<Vec<u8>> = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|i| encode_jpeg(&synthetic_photo(4000, 3000, i as u32)))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let mean_mb = photos.iter().map(Vec::len).sum::<usize>() as f64 / count as f64 / 1e6;

    // (1) The ingest pipeline alone, one photo after another on one core.
    let inputs = photos.clone();
    let per_photo: Vec<Duration> = tokio::task::spawn_blocking(move || {
        inputs
            .iter()
            .map(|bytes| {
                let started = Instant::now();
                ingest::process(bytes, &Limits::default()).map(|_| started.elapsed())
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
    .context("processing a synthetic photo")?;
    let serial: Duration = per_photo.iter().sum();

    // (2) The real server, `concurrent` uploads in flight.
    let data_dir = std::env::temp_dir().join(format!("sansang-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let token = seed_phone(&data_dir).await?;
    let mut server = ServerProcess::start(&data_dir)?;
    let addr = server.address()?;
    let idle_rss = server.memory_mib("VmRSS:").unwrap_or(f64::NAN);
    let photos = Arc::new(photos);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrent {
        let (photos, next, addr, token) =
            (photos.clone(), next.clone(), addr.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(bytes) = photos.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let sent = Instant::now();
                let status = put_photo(&addr, &token, bytes).await?;
                anyhow::ensure!(status == 201, "upload {i} answered {status}");
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let wall = started.elapsed();
    let peak_rss = server.memory_mib("VmHWM:").unwrap_or(f64::NAN);
    drop(server);
    let stored = dir_size(&data_dir.join("photos"));
    let _ = std::fs::remove_dir_all(&data_dir);
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one_core = count as f64 / serial.as_secs_f64();
    let served = count as f64 / wall.as_secs_f64();
    println!(
        "photo ingest, {count} synthetic 12 MP JPEGs of {mean_mb:.1} MB on average, {cores} cores"
    );
    println!(
        "  ingest alone, one core:       {one_core:6.2} photos/s  ({:.0} ms a photo)",
        serial.as_secs_f64() * 1000.0 / count as f64
    );
    println!(
        "  server, {concurrent} uploads at once:   {served:6.2} photos/s  ({:.2}× one core)",
        served / one_core
    );
    println!(
        "  upload latency:               p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        pct(50).as_secs_f64() * 1000.0,
        pct(95).as_secs_f64() * 1000.0,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    println!(
        "  server memory:                {idle_rss:.0} MiB idle, {peak_rss:.0} MiB peak ({:.0} MiB a concurrent upload)",
        (peak_rss - idle_rss) / concurrent as f64
    );
    println!(
        "  stored:                       {:.2} MB a photo (evidence + thumbnail) vs {mean_mb:.2} MB uploaded",
        stored as f64 / count as f64 / 1e6
    );
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `sansang bench indices`: seeds the demo commune with `households` households (through the
/// document service, as phones' changes go), then times the indices
/// computed from the database in both views, publishing, and the household detail as xlsx.
pub async fn indices(households: usize) -> anyhow::Result<()> {
    use std::io::Write as _;

    use sansang_shared::indices::View;
    use sansang_shared::publish;

    let data_dir =
        std::env::temp_dir().join(format!("sansang-bench-indices-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let config = Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    let state = AppState::open(config).await?;
    let seeding = Instant::now();
    let mut shown = 0;
    let mut progress = |done: usize, total: usize| {
        if done == total || done - shown >= 500 {
            shown = done;
            eprint!("\rseeding: {done}/{total} households");
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    };
    crate::demo::seed(&state, households, &mut progress).await?;
    let seeded = seeding.elapsed();
    let commune = crate::demo::COMMUNE_CODE;
    let year = crate::reference_year();

    let mut timings = Vec::new();
    let mut members = 0;
    for view in [View::Approved, View::AllSurveyed, View::AllSurveyed] {
        let started = Instant::now();
        let c = crate::indices::compute(state.storage.as_ref(), commune, None, view, year).await?;
        let computed = started.elapsed();
        let published = publish::publish(&c.report, publish::DEFAULT_THRESHOLD);
        let total = started.elapsed();
        members = c.report.commune.members_counted;
        timings.push((view, computed, total, published.hamlets.len()));
    }
    let started = Instant::now();
    let rows =
        crate::indices::household_detail(state.storage.as_ref(), commune, None, year).await?;
    let read = started.elapsed();
    let xlsx = crate::exports::households_xlsx(&rows).context("building the workbook")?;
    let detail = started.elapsed();
    let summary_rows = {
        let c = crate::indices::compute(
            state.storage.as_ref(),
            commune,
            None,
            View::AllSurveyed,
            year,
        )
        .await?;
        let published = publish::publish(&c.report, publish::DEFAULT_THRESHOLD);
        let coverage = crate::indices::publish_coverage(&c.coverage, &published);
        crate::exports::summary_rows(&published, (commune, "bench"), &coverage)
    };
    let started = Instant::now();
    let summary = crate::exports::summary_xlsx(&summary_rows).context("summary workbook")?;
    let summary_time = started.elapsed();
    state.storage.close().await;
    let db_size = dir_size(&data_dir);
    let _ = std::fs::remove_dir_all(&data_dir);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "indices: {households} households ({members} members counted in the all-surveyed view), SQLite, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  seeding through the document service: {:.1} s",
        seeded.as_secs_f64()
    );
    for (view, computed, total, hamlets) in &timings {
        println!(
            "  indices, {view:?}: {:.0} ms read and computed, {:.0} ms with suppression ({hamlets} hamlets)",
            ms(*computed),
            ms(*total)
        );
    }
    println!(
        "  household detail: {} rows read in {:.0} ms, xlsx of {:.1} MB in {:.0} ms ({:.0} rows/s)",
        rows.len(),
        ms(read),
        xlsx.len() as f64 / 1e6,
        ms(detail - read),
        rows.len() as f64 / (detail - read).as_secs_f64()
    );
    println!(
        "  summary xlsx: {} rows, {:.0} ms, {} bytes",
        summary_rows.len(),
        ms(summary_time),
        summary.len()
    );
    println!("  data folder: {:.1} MB", db_size as f64 / 1e6);
    Ok(())
}
