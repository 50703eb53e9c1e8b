//! The real binary under stress: killed with SIGKILL in the middle of a burst of syncs, it
//! restarts with every change it acknowledged; started on ten thousand stored households, it
//! answers within seconds and holds no more of them in memory than it is allowed to.
//!
//! Both tests print their figures (`cargo test --test durability -- --nocapture`).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ChangeHash, ROOT, ReadDoc};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use sansang_server::app::AppState;
use sansang_server::auth::enrollment::{self, CodeRequest};
use sansang_server::config::Config;
use sansang_server::documents::DocumentId;
use sansang_server::storage::{Actor, Commune, Hamlet};
use sansang_server::sync::client::SyncClient;
use sansang_shared::model::{Consent, Relation, Vneid};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COMMUNE: &str = "10846";
const HEAD: &str = "7a3c0d1e-5b6f-4a8b-9c0d-1e2f3a4b5c6d";

/// The two tests measure time and memory: they run one after the other, not side by side.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A `sansang` process whose output goes to files; killed if the test fails.
struct Server {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> Server {
        let stdout = data_dir.join(format!("{name}.stdout"));
        let stderr = data_dir.join(format!("{name}.stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sansang"));
        cmd.args(args)
            .env("SANSANG_DATA_DIR", data_dir)
            .env("SANSANG_LISTEN", "127.0.0.1:0")
            .env("SANSANG_LOG", "info")
            .env_remove("SANSANG_DATABASE_URL")
            .env_remove("SANSANG_PUBLIC_URL")
            .env_remove("SANSANG_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (key, value) in env {
            cmd.env(key, value);
        }
        Server {
            child: cmd.spawn().unwrap(),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first line of `file` containing `needle`, waiting for it.
    fn wait_for_line(&mut self, stdout: bool, needle: &str, timeout: Duration) -> String {
        let file = if stdout { &self.stdout } else { &self.stderr };
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "sansang exited ({status}) before printing {needle:?}:\n{text}\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sansang did not print {needle:?} within {timeout:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `host:port` of a `serve` process, from its "serving" log line.
    fn serving_addr(&mut self, timeout: Duration) -> String {
        let line = self.wait_for_line(false, "url=http://", timeout);
        let rest = line.split("url=http://").nth(1).unwrap();
        rest.split_whitespace().next().unwrap().to_owned()
    }

    /// Resident memory of the process, as the kernel reports it.
    fn rss(&self) -> String {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET; `None` while the server does not answer.
async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// A gauge's value in the `/metrics` text.
fn gauge(metrics: &str, name: &str) -> Option<i64> {
    metrics.lines().find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

fn household_record(hamlet: &str, address: String) -> Household {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some(COMMUNE.into()),
        hamlet_id: Some(hamlet.into()),
        address: Some(address),
        consent: Some(Consent {
            given: Some(true),
            by: Some("Lương Văn Bảy".into()),
            ..Consent::default()
        }),
        ..Household::default()
    };
    h.members.insert(
        HEAD.into(),
        Member {
            full_name: Some("Lương Văn Bảy".into()),
            birth_year: Some(1969),
            relation: Some(Relation::Head),
            vneid: Some(Vneid::Level1),
            ..Member::default()
        },
    );
    h
}

/// A new household of `hamlet` as a phone writes it: one change.
fn new_household(hamlet: &str, address: String) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    write::household(&mut doc, &household_record(hamlet, address)).unwrap();
    doc.commit();
    doc
}

/// One small edit, as a volunteer correcting an answer makes: one change.
fn edit(doc: &mut Automerge, n: usize) {
    let mut tx = doc.transaction();
    if n.is_multiple_of(3) {
        let (_, members) = tx.get(ROOT, "members").unwrap().unwrap();
        let (_, head) = tx.get(&members, HEAD).unwrap().unwrap();
        tx.put(&head, "birthYear", 1950 + (n % 40) as i64).unwrap();
    } else {
        tx.put(ROOT, "notes", format!("Ghi chú lần {n}")).unwrap();
    }
    tx.commit();
}

/// What one phone saw acknowledged: per document, the heads after each acknowledged sync.
type Acknowledged = BTreeMap<DocumentId, Vec<Vec<ChangeHash>>>;

/// Edits per household before the phone moves to the next one.
const EDITS_PER_DOCUMENT: usize = 16;
/// The server compacts a document's log into a snapshot after this many changes.
const COMPACT_AFTER: usize = 8;
/// Phones syncing at once.
const PHONES: usize = 4;
/// Acknowledgements (all phones together) after which the server is killed.
const KILL_AFTER_ACKS: usize = 400;
/// Times the server is killed and restarted.
const KILLS: usize = 3;

/// `PHONES` phones sync new households of T01 in bursts of small edits, a sync after each,
/// until the server dies under them; it is killed with SIGKILL once `KILL_AFTER_ACKS`
/// acknowledgements have been seen, so the kill always lands in the middle of the burst.
/// Returns what the phones saw acknowledged, and the acknowledgements counted at the kill.
async fn burst_then_kill(
    server: &mut Server,
    addr: &str,
    token: &str,
    round: usize,
) -> (Acknowledged, usize) {
    let ws = format!("ws://{addr}/api/v1/sync");
    let acks = Arc::new(AtomicUsize::new(0));
    let mut phones = Vec::new();
    for p in 0..PHONES {
        let (ws, token, acks) = (ws.clone(), token.to_owned(), acks.clone());
        phones.push(tokio::spawn(async move {
            let peer = format!("phone-{p}-round-{round}");
            let mut client = SyncClient::connect(&ws, &token, &peer).await.unwrap();
            let mut seen = Acknowledged::new();
            for d in 0.. {
                let id = DocumentId::random();
                let address = format!("Số {d}, xóm Trại, máy {p}, lượt {round}");
                let mut doc = new_household("T01", address).document().clone();
                for n in 0..EDITS_PER_DOCUMENT {
                    if n > 0 {
                        edit(&mut doc, n);
                    }
                    if client.sync_document(&id, &mut doc).await.is_err() {
                        return seen;
                    }
                    seen.entry(id.clone()).or_default().push(doc.get_heads());
                    acks.fetch_add(1, Ordering::SeqCst);
                }
            }
            unreachable!("the phones sync until the server is killed")
        }));
    }
    let started = Instant::now();
    while acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} acknowledgements in a minute",
            acks.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let at_kill = acks.load(Ordering::SeqCst);
    // `Child::kill` sends SIGKILL: no shutdown, no flush, no closing of the database.
    server.child.kill().unwrap();
    let status = server.child.wait().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    let elapsed = started.elapsed();
    let mut acknowledged = Acknowledged::new();
    for phone in phones {
        acknowledged.extend(phone.await.unwrap());
    }
    let seen: usize = acknowledged.values().map(Vec::len).sum();
    eprintln!(
        "crash test, kill {}: SIGKILL after {elapsed:.2?} of burst, at {at_kill} acknowledged \
         syncs ({seen} seen by the phones in all) of {} documents",
        round + 1,
        acknowledged.len()
    );
    (acknowledged, at_kill)
}

/// Every change a phone saw acknowledged is in the document the restarted server gives back;
/// returns the changes missing, and how many documents hold changes beyond their last
/// acknowledgement (stored, but the acknowledgement died with the server: allowed).
async fn check_stored(
    addr: &str,
    token: &str,
    acknowledged: &Acknowledged,
) -> (Vec<String>, usize) {
    let ws = format!("ws://{addr}/api/v1/sync");
    let mut reader = SyncClient::connect(&ws, token, "reader").await.unwrap();
    let (mut lost, mut ahead) = (Vec::new(), 0);
    for (id, heads) in acknowledged {
        let stored = reader.request_document(id).await.unwrap();
        for (i, acked) in heads.iter().enumerate() {
            for h in acked {
                if stored.get_change_by_hash(h).is_none() {
                    lost.push(format!("{id}: change {h} (acknowledged sync {})", i + 1));
                }
            }
        }
        if stored.get_heads() != *heads.last().unwrap() {
            ahead += 1;
        }
        assert_eq!(
            stored.get(ROOT, "hamletId").unwrap().unwrap().0.as_str(),
            Some("T01")
        );
    }
    (lost, ahead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_sigkill() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Compacting often puts the snapshot-and-delete path inside the bursts too.
    let compact = COMPACT_AFTER.to_string();
    let env = [("SANSANG_COMPACT_AFTER_CHANGES", compact.as_str())];
    let mut server = Server::start(dir.path(), &["demo", "--households", "12"], &env, "demo");
    let line = server.wait_for_line(true, "open http://", Duration::from_secs(60));
    let mut addr = line.trim().strip_prefix("open http://").unwrap().to_owned();
    server.wait_for_line(true, "saved to", Duration::from_secs(10));
    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-credentials.json")).unwrap(),
    )
    .unwrap();
    let token = credentials["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hamletId"] == "T01")
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut acknowledged = Acknowledged::new();
    let (mut acks_at_kills, mut lost, mut ahead) = (0, Vec::new(), 0);
    for round in 0..KILLS {
        let (seen, at_kill) = burst_then_kill(&mut server, &addr, &token, round).await;
        acks_at_kills += at_kill;
        acknowledged.extend(seen);
        // Restart on the same data folder; the next round kills this one in turn.
        server = Server::start(dir.path(), &["serve"], &env, &format!("serve-{round}"));
        addr = server.serving_addr(Duration::from_secs(30));
        (lost, ahead) = check_stored(&addr, &token, &acknowledged).await;
        assert!(
            lost.is_empty(),
            "acknowledged changes lost after kill {}:\n{}",
            round + 1,
            lost.join("\n")
        );
    }
    let (_, metrics) = http_get(&addr, "/metrics").await.unwrap();
    let stored_documents = gauge(&metrics, "sansang_documents").unwrap();
    let total_acks: usize = acknowledged.values().map(Vec::len).sum();
    let compacted = acknowledged
        .values()
        .filter(|heads| heads.len() >= COMPACT_AFTER)
        .count();
    eprintln!(
        "crash test: {KILLS} SIGKILLs, each after {KILL_AFTER_ACKS} acknowledgements of \
         {PHONES} phones syncing in bursts ({acks_at_kills} acknowledged syncs counted at the \
         kills, {total_acks} seen in all); {} documents acknowledged ({compacted} past the \
         compaction threshold of {COMPACT_AFTER} changes); after the last restart {} documents \
         stored (12 of the demo), {ahead} holding changes beyond their last acknowledgement, \
         {} acknowledged changes missing",
        acknowledged.len(),
        stored_documents,
        lost.len()
    );
    assert!(stored_documents >= acknowledged.len() as i64 + 12);
}

/// Households stored for the restart test.
const DOCUMENTS: usize = 10_000;
/// The cache bound the restarted server runs with.
const MAX_LOADED: i64 = 200;
/// Phones reading, each from its own hamlet, and documents each reads.
const READERS: usize = 4;
const READS_EACH: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_fast_on_ten_thousand_households_within_its_memory_bound() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let hamlets: Vec<String> = (1..=12).map(|i| format!("T{i:02}")).collect();

    // Seed through the library: the same DocumentService path every change takes.
    let config = Config {
        data_dir: dir.path().to_owned(),
        max_loaded_documents: MAX_LOADED as usize,
        ..Config::default()
    };
    let state = AppState::open(config).await.unwrap();
    state
        .storage
        .upsert_commune(&Commune {
            code: COMMUNE.into(),
            name: "Xã Hà Tây".into(),
            province: "Thành phố Hải Phòng".into(),
        })
        .await
        .unwrap();
    let mut tokens = BTreeMap::new();
    for hamlet in &hamlets {
        state
            .storage
            .upsert_hamlet(&Hamlet {
                commune_code: COMMUNE.into(),
                id: hamlet.clone(),
                name: format!("Thôn {hamlet}"),
                expected_households: None,
            })
            .await
            .unwrap();
        let issued = enrollment::issue(
            state.storage.as_ref(),
            Actor::System,
            CodeRequest {
                commune_code: COMMUNE,
                volunteer: &format!("Tình nguyện viên {hamlet}"),
                hamlets: std::slice::from_ref(hamlet),
                validity: enrollment::DEFAULT_VALIDITY,
            },
            "http://127.0.0.1",
        )
        .await
        .unwrap();
        let (token, _) = enrollment::redeem(state.storage.as_ref(), &issued.code)
            .await
            .unwrap();
        tokens.insert(hamlet.clone(), token);
    }

    let seeding = Instant::now();
    let workers = 4;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (documents, hamlets) = (state.documents.clone(), hamlets.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..DOCUMENTS).step_by(workers) {
                let hamlet = &hamlets[i % hamlets.len()];
                let mut doc = new_household(hamlet, format!("Số {i}, xóm Giữa"));
                let changes = doc.get_changes(&[]);
                documents
                    .apply_changes(&DocumentId::random(), changes)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seeded_in = seeding.elapsed();
    let mut by_hamlet = BTreeMap::new();
    for hamlet in hamlets.iter().take(READERS) {
        let ids: Vec<String> = state
            .storage
            .list_households(COMMUNE, Some(hamlet))
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.document_id)
            .collect();
        by_hamlet.insert(hamlet.clone(), ids);
    }
    assert_eq!(
        state.storage.count_documents().await.unwrap(),
        DOCUMENTS as i64
    );
    state.storage.close().await;
    drop(state);
    eprintln!("restart test: {DOCUMENTS} households seeded through the library in {seeded_in:.2?}");

    let started = Instant::now();
    let max_loaded = MAX_LOADED.to_string();
    let mut server = Server::start(
        dir.path(),
        &["serve"],
        &[("SANSANG_MAX_LOADED_DOCUMENTS", max_loaded.as_str())],
        "serve",
    );
    let addr = server.serving_addr(Duration::from_secs(60));
    loop {
        if let Some((200, _)) = http_get(&addr, "/healthz").await {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready_in = started.elapsed();
    let rss_at_start = server.rss();
    let (_, metrics) = http_get(&addr, "/metrics").await.unwrap();
    assert_eq!(gauge(&metrics, "sansang_documents"), Some(DOCUMENTS as i64));
    let loaded_at_start = gauge(&metrics, "sansang_documents_loaded").unwrap();
    eprintln!(
        "restart test: `sansang serve` answered /healthz {ready_in:.2?} after it was started \
         on {DOCUMENTS} households; {loaded_at_start} documents loaded, VmRSS {rss_at_start}"
    );
    // A functional requirement: it starts in seconds, without loading every document.
    assert!(ready_in < Duration::from_secs(30), "{ready_in:?}");

    // Scrape the gauge all along the reads.
    let done = Arc::new(AtomicBool::new(false));
    let scraper = {
        let (addr, done) = (addr.clone(), done.clone());
        tokio::spawn(async move {
            let (mut highest, mut scrapes) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                if let Some((200, body)) = http_get(&addr, "/metrics").await {
                    highest = highest.max(gauge(&body, "sansang_documents_loaded").unwrap());
                    scrapes += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (highest, scrapes)
        })
    };

    let reading = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(10_846);
    let mut readers = Vec::new();
    for (r, (hamlet, ids)) in by_hamlet.iter().enumerate() {
        let picked: Vec<DocumentId> = ids
            .choose_multiple(&mut rng, READS_EACH)
            .map(|id| DocumentId::parse(id).unwrap())
            .collect();
        assert_eq!(picked.len(), READS_EACH);
        let url = format!("ws://{addr}/api/v1/sync");
        let (token, hamlet) = (tokens[hamlet].clone(), hamlet.clone());
        readers.push(tokio::spawn(async move {
            let mut client = SyncClient::connect(&url, &token, &format!("reader-{r}"))
                .await
                .unwrap();
            for id in &picked {
                let doc = client.request_document(id).await.unwrap();
                assert_eq!(
                    doc.get(ROOT, "hamletId").unwrap().unwrap().0.as_str(),
                    Some(hamlet.as_str())
                );
            }
        }));
    }
    for reader in readers {
        reader.await.unwrap();
    }
    let read_in = reading.elapsed();
    done.store(true, Ordering::SeqCst);
    let (highest, scrapes) = scraper.await.unwrap();
    let (_, metrics) = http_get(&addr, "/metrics").await.unwrap();
    let loaded_at_end = gauge(&metrics, "sansang_documents_loaded").unwrap();
    let rss_at_end = server.rss();
    eprintln!(
        "restart test: {READERS} phones read {} random documents of their hamlets in \
         {read_in:.2?}; sansang_documents_loaded peaked at {highest} over {scrapes} scrapes \
         (bound {MAX_LOADED}), {loaded_at_end} at the end; VmRSS {rss_at_end}",
        READERS * READS_EACH
    );
    // The cache evicts idle documents down to its capacity each time one is locked, and may go
    // over only while every slot it holds is in use. Each sync connection holds at most one
    // document at a time, so with four readers far fewer than 200 are ever in use: the bound
    // holds exactly.
    assert!(highest <= MAX_LOADED, "{highest} documents loaded");
    assert!(
        loaded_at_end <= MAX_LOADED,
        "{loaded_at_end} documents loaded"
    );
    assert!(highest > 0, "the gauge moved while reading");
}
