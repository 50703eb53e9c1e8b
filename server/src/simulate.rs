//! `sansang simulate`: a day of fieldwork against a running server. Simulated phones (tokio
//! tasks, each its own peer over the real sync protocol, with the demo's device tokens) create
//! households offline, edit them — several phones the same households, concurrently — and sync
//! in bursts over connections that drop at random. At the end every household is fetched from
//! the server and compared with the merge of every phone's copy: the same heads, so nothing was
//! lost and nothing invented. Prints throughput, sync latency percentiles and errors.
//!
//! Latency is measured per document and burst, from sending the first sync message to the
//! server's word that it holds the phone's heads; the server says so only after the changes and
//! the new projection are committed, so this is also "change made → visible in the projection".

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ChangeHash, ObjType, ROOT, ReadDoc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sansang_shared::model::{Consent, Relation};
use sansang_shared::{Household, Member, SCHEMA_V1, write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::documents::DocumentId;
use crate::sync::client::SyncClient;

/// The longest a phone's burst may take before it counts as an error: a stalled exchange is
/// caught sooner by the client's wait for each message, so this only bounds a runaway burst
/// (a phone of a 100,000-household run syncs thousands of households in one burst).
const BURST_LIMIT: Duration = Duration::from_secs(3600);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http://host:port` of the server.
    pub url: String,
    /// The demo's `demo-credentials.json` (device tokens and logins).
    pub credentials: std::path::PathBuf,
    pub phones: usize,
    pub households: usize,
    /// Edits made to each household, spread over the phones that edit it.
    pub edits: usize,
    /// Share of households (0–1) that a second phone of the hamlet edits too.
    pub overlap: f64,
    /// Chance (0–1) that a sync burst's connection drops before it is done.
    pub disconnect: f64,
    /// Sync bursts after the households are created.
    pub bursts: usize,
    pub seed: u64,
    /// The server is the reference automerge-repo server (no accounts): the checker connects
    /// with a phone's token instead of signing in.
    pub reference: bool,
    /// Where to write the households' ids (one a line), for a later `--read-ids` run.
    pub ids_out: Option<std::path::PathBuf>,
}

/// Connections the final check fetches households over, side by side. The reference server
/// offers every document it holds to each new connection (its share policy says yes to all),
/// so there one connection takes that flood once, and waits longer for each answer.
const CHECKERS: usize = 8;

/// Fetches every household from the server over [`CHECKERS`] connections and compares its heads
/// with the expected ones; returns the households that differ. Shows its progress on stderr.
async fn check(
    url: &str,
    token: &str,
    expected: Vec<(DocumentId, Vec<ChangeHash>)>,
    reference: bool,
) -> anyhow::Result<Vec<DocumentId>> {
    let checkers = if reference { 1 } else { CHECKERS };
    let total = expected.len();
    eprintln!("checking {total} households against the server…");
    let expected = Arc::new(expected);
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..checkers.min(total) {
        let (expected, done) = (expected.clone(), done.clone());
        let (url, token) = (url.to_owned(), token.to_owned());
        tasks.spawn(async move {
            let mut checker = SyncClient::connect(&url, &token, &format!("simulate-checker-{c}"))
                .await
                .context("connecting the checker")?;
            checker.set_wait(Duration::from_secs(120));
            let mut lost = Vec::new();
            for (id, want) in expected.iter().skip(c).step_by(checkers) {
                match checker.request_document(id).await {
                    Ok(held) => {
                        let mut got = held.get_heads();
                        got.sort();
                        if *want != got {
                            lost.push(id.clone());
                        }
                    }
                    // Not on the server at all: lost, counted with the others.
                    Err(crate::sync::client::ClientError::Unavailable(_)) => lost.push(id.clone()),
                    Err(e) => {
                        return Err(anyhow::Error::new(e))
                            .with_context(|| format!("fetching {id} from the server"));
                    }
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 1000 == 0 || n == expected.len() {
                    eprint!("\rchecked {n}/{}", expected.len());
                    let _ = std::io::stderr().flush();
                }
            }
            anyhow::Ok(lost)
        });
    }
    let mut lost = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        lost.extend(joined.context("a checker stopped")??);
    }
    eprintln!();
    Ok(lost)
}

#[derive(serde::Deserialize)]
struct Credentials {
    users: Vec<Login>,
    devices: Vec<Device>,
}

#[derive(serde::Deserialize)]
struct Login {
    username: String,
    password: String,
    role: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Device {
    hamlet_id: String,
    token: String,
}

/// One simulated phone: its token, hamlet, and its copy of each household it works on.
struct Phone {
    name: String,
    token: String,
    docs: BTreeMap<DocumentId, AutoCommit>,
}

/// What the phones measured.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    dropped: usize,
    errors: Vec<String>,
    messages: usize,
}

const FIELDS: [(&str, &[&str]); 4] = [
    ("vneid", &["none", "registered", "level1", "level2"]),
    ("smartphone", &["own", "shared", "none"]),
    ("paymentAccount", &["none", "bank", "ewallet"]),
    ("sex", &["male", "female"]),
];

fn new_household(hamlet: &str, n: usize, actor: ActorId) -> anyhow::Result<AutoCommit> {
    let mut h = Household {
        schema: Some(SCHEMA_V1.into()),
        commune_code: Some(crate::demo::COMMUNE_CODE.into()),
        hamlet_id: Some(hamlet.into()),
        address: Some(format!("Số {n}, xóm Mô Phỏng")),
        consent: Some(Consent {
            given: Some(true),
            ..Consent::default()
        }),
        ..Household::default()
    };
    h.members.insert(
        "m1".into(),
        Member {
            full_name: Some(format!("Chủ hộ {n}")),
            relation: Some(Relation::Head),
            birth_year: Some(1970 + (n % 40) as i64),
            ..Member::default()
        },
    );
    let mut doc = AutoCommit::new().with_actor(actor);
    write::household(&mut doc, &h).context("writing a simulated household")?;
    Ok(doc)
}

/// One offline edit: a member's field set to a random choice (concurrent edits of the same field
/// by two phones become a conflict the server must keep), or a skill ticked.
fn edit(doc: &mut AutoCommit, rng: &mut StdRng) -> anyhow::Result<()> {
    let members = match doc.get(ROOT, "members")? {
        Some((_, id)) => id,
        None => doc.put_object(ROOT, "members", ObjType::Map)?,
    };
    let member = match doc.get(&members, "m1")? {
        Some((_, id)) => id,
        None => doc.put_object(&members, "m1", ObjType::Map)?,
    };
    if rng.random_bool(0.2) {
        let skills = match doc.get(&member, "skills")? {
            Some((_, id)) => id,
            None => doc.put_object(&member, "skills", ObjType::Map)?,
        };
        let skill = sansang_shared::model::SKILL_KEYS[rng.random_range(0..5)];
        doc.put(&skills, skill, rng.random_bool(0.7))?;
    } else {
        let (field, choices) = FIELDS[rng.random_range(0..FIELDS.len())];
        doc.put(&member, field, choices[rng.random_range(0..choices.len())])?;
    }
    doc.commit();
    Ok(())
}

fn ws_url(url: &str) -> String {
    let base = url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/api/v1/sync")
}

/// Syncs every document of a phone over one connection; with `may_drop`, the connection may be
/// cut after any document (the rest waits for the next burst).
async fn burst(
    phone: &mut Phone,
    url: &str,
    rng: &mut StdRng,
    may_drop: f64,
    tally: &Mutex<Tally>,
) -> Result<(), String> {
    let peer = format!("{}-{}", phone.name, rng.random_range(0..u32::MAX));
    let mut client = SyncClient::connect(url, &phone.token, &peer)
        .await
        .map_err(|e| format!("{}: connecting: {e}", phone.name))?;
    for (id, doc) in phone.docs.iter_mut() {
        if may_drop > 0.0 && rng.random_bool(may_drop) {
            tally.lock().await.dropped += 1;
            return Ok(()); // The client is dropped: the socket closes mid-burst.
        }
        let mut synced: Automerge = doc.document().clone();
        let started = Instant::now();
        client
            .sync_document(id, &mut synced)
            .await
            .map_err(|e| format!("{}: syncing {id}: {e}", phone.name))?;
        let took = started.elapsed();
        // What the server sent back (other phones' edits) joins the phone's copy.
        doc.merge(&mut AutoCommit::load(&synced.save()).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let mut t = tally.lock().await;
        t.latencies.push(took);
        t.messages += 1;
    }
    Ok(())
}

/// The demo's credentials file; an error unless it lists at least one phone.
fn load_credentials(path: &std::path::Path) -> anyhow::Result<Credentials> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let credentials: Credentials =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    if credentials.devices.is_empty() {
        bail!("{} lists no enrolled phone", path.display());
    }
    Ok(credentials)
}

/// The token that reads every household: the admin's session, or against the reference server
/// (no accounts) a phone's token.
async fn reader_token(
    url: &str,
    credentials: &Credentials,
    reference: bool,
) -> anyhow::Result<String> {
    if reference {
        return Ok(credentials.devices[0].token.clone());
    }
    tokio::time::timeout(Duration::from_secs(30), admin_token(url, credentials))
        .await
        .context("signing in as admin took over 30 s")?
}

/// A person's session token, from the demo's admin login.
async fn admin_token(url: &str, credentials: &Credentials) -> anyhow::Result<String> {
    let admin = credentials
        .users
        .iter()
        .find(|u| u.role == "admin")
        .context("the credentials file has no admin login")?;
    let addr = url
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .to_owned();
    let body =
        serde_json::json!({ "username": admin.username, "password": admin.password }).to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let json = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("signing in as admin: {text}"))?;
    value["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("signing in as admin: {value}"))
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs the simulation; an error when any change was lost.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let credentials = load_credentials(&o.credentials)?;
    let url = ws_url(&o.url);
    let mut rng = StdRng::seed_from_u64(o.seed);

    // Phones, spread over the demo's devices (several phones may share one device's token,
    // each with its own peer id and Automerge actor).
    let mut phones: Vec<Phone> = (0..o.phones.max(1))
        .map(|i| {
            let d = &credentials.devices[i % credentials.devices.len()];
            Phone {
                name: format!("phone{i:03}-{}", d.hamlet_id),
                token: d.token.clone(),
                docs: BTreeMap::new(),
            }
        })
        .collect();
    let hamlet_of = |i: usize| {
        credentials.devices[i % credentials.devices.len()]
            .hamlet_id
            .clone()
    };

    // Each household: made offline by one phone; with `overlap`, another phone of the same
    // hamlet gets a copy of it and edits it too, without seeing the first phone's edits.
    eprintln!(
        "{} phones, {} households, {} edits each, overlap {:.0} %, drop {:.0} %",
        phones.len(),
        o.households,
        o.edits,
        o.overlap * 100.0,
        o.disconnect * 100.0
    );
    let mut editors: Vec<Vec<usize>> = Vec::new();
    for n in 0..o.households {
        let owner = n % phones.len();
        let actor = ActorId::random();
        let mut doc = new_household(&hamlet_of(owner), n, actor)?;
        let id = DocumentId::random();
        let mut who = vec![owner];
        let same_hamlet: Vec<usize> = (0..phones.len())
            .filter(|p| *p != owner && hamlet_of(*p) == hamlet_of(owner))
            .collect();
        if !same_hamlet.is_empty() && rng.random_bool(o.overlap.clamp(0.0, 1.0)) {
            let other = same_hamlet[rng.random_range(0..same_hamlet.len())];
            let copy = doc.fork().with_actor(ActorId::random());
            phones[other].docs.insert(id.clone(), copy);
            who.push(other);
        }
        phones[owner].docs.insert(id, doc);
        editors.push(who);
    }
    // The edits, made offline and spread over the editing phones.
    let ids: Vec<DocumentId> = {
        let mut all: Vec<DocumentId> = phones.iter().flat_map(|p| p.docs.keys().cloned()).collect();
        all.sort();
        all.dedup();
        all
    };
    let mut edits = 0usize;
    for phone in phones.iter_mut() {
        for doc in phone.docs.values_mut() {
            let share = o.edits.div_ceil(2).max(1);
            for _ in 0..share {
                edit(doc, &mut rng)?;
                edits += 1;
            }
        }
    }

    // Bursts over flaky connections, then one last clean sync of everything.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let phones: Vec<Arc<Mutex<Phone>>> = phones
        .into_iter()
        .map(|p| Arc::new(Mutex::new(p)))
        .collect();
    for round in 0..=o.bursts {
        let last = round == o.bursts;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, phone) in phones.iter().enumerate() {
            let (phone, url, tally) = (phone.clone(), url.clone(), tally.clone());
            let seed = o.seed ^ ((round as u64) << 32) ^ i as u64;
            let drop = if last { 0.0 } else { o.disconnect };
            tasks.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut phone = phone.lock().await;
                // A burst that stalls is an error to report, not a simulation that never ends.
                let outcome = tokio::time::timeout(
                    BURST_LIMIT,
                    burst(&mut phone, &url, &mut rng, drop, &tally),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(format!("{}: burst took over {BURST_LIMIT:?}", phone.name))
                });
                if let Err(e) = outcome {
                    tally.lock().await.errors.push(e);
                }
                // Between bursts the volunteer keeps working offline.
                if !last {
                    let docs: Vec<DocumentId> = phone.docs.keys().cloned().collect();
                    if let Some(id) = docs.get(rng.random_range(0..docs.len().max(1)))
                        && let Some(doc) = phone.docs.get_mut(id)
                        && let Err(e) = edit(doc, &mut rng)
                    {
                        tally
                            .lock()
                            .await
                            .errors
                            .push(format!("editing offline: {e}"));
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        eprint!("\rsync bursts: {}/{}", round + 1, o.bursts + 1);
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    let wall = started.elapsed();

    // Every household as the phones, all merged, say it must be; and as the server holds it.
    let mut phones_done = Vec::with_capacity(phones.len());
    for phone in phones {
        let phone = Arc::try_unwrap(phone)
            .map_err(|_| anyhow::anyhow!("a phone's task still holds it"))?
            .into_inner();
        phones_done.push(phone);
    }
    let phone_count = phones_done.len();
    let mut merged: BTreeMap<DocumentId, AutoCommit> = BTreeMap::new();
    for phone in phones_done {
        for (id, mut doc) in phone.docs {
            match merged.entry(id) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut()
                        .merge(&mut doc)
                        .context("merging the phones' copies")?;
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(doc);
                }
            }
        }
    }
    let mut changes_expected = 0usize;
    let expected: Vec<(DocumentId, Vec<ChangeHash>)> = merged
        .into_iter()
        .map(|(id, mut doc)| {
            changes_expected += doc.get_changes(&[]).len();
            let mut heads = doc.get_heads();
            heads.sort();
            (id, heads)
        })
        .collect();
    if let Some(path) = &o.ids_out {
        let list: String = expected.iter().map(|(id, _)| format!("{id}\n")).collect();
        std::fs::write(path, list).with_context(|| format!("writing {}", path.display()))?;
    }
    let token = reader_token(&o.url, &credentials, o.reference).await?;
    let lost = check(&url, &token, expected, o.reference).await?;
    let t = tally.lock().await;
    let mut latencies = t.latencies.clone();
    latencies.sort();
    println!(
        "simulated {} phones, {} households ({} edited by two phones), {} offline edits, {} changes",
        phone_count,
        ids.len(),
        editors.iter().filter(|e| e.len() > 1).count(),
        edits,
        changes_expected
    );
    println!(
        "  {} sync exchanges in {:.1} s: {:.0} documents/s, {:.0} changes/s",
        t.messages,
        wall.as_secs_f64(),
        t.messages as f64 / wall.as_secs_f64(),
        changes_expected as f64 / wall.as_secs_f64()
    );
    println!(
        "  latency (sent → durable and projected): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        percentile(&latencies, 99)
    );
    println!(
        "  connections dropped on purpose: {}; errors: {}",
        t.dropped,
        t.errors.len()
    );
    // One line for scripts (scripts/bench-sync reads it).
    println!(
        "figures: documents_per_s={:.1} changes_per_s={:.1} p50_ms={:.1} p95_ms={:.1} p99_ms={:.1} seconds={:.2}",
        t.messages as f64 / wall.as_secs_f64(),
        changes_expected as f64 / wall.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        percentile(&latencies, 99),
        wall.as_secs_f64()
    );
    for e in t.errors.iter().take(5) {
        println!("    {e}");
    }
    if lost.is_empty() {
        println!("no change lost: the server holds every household exactly as the phones' merge");
        Ok(())
    } else {
        bail!(
            "{} of {} households differ from the merge of the phones' copies, e.g. {}",
            lost.len(),
            ids.len(),
            lost[0]
        )
    }
}

/// What to read back: random households, by id, from a server that already holds them.
#[derive(Debug, Clone)]
pub struct Reads {
    pub url: String,
    pub credentials: std::path::PathBuf,
    /// The ids a simulation wrote with `ids_out`.
    pub ids: std::path::PathBuf,
    pub reads: usize,
    /// Connections reading side by side.
    pub readers: usize,
    pub seed: u64,
    pub reference: bool,
}

/// Random reads: `readers` connections each fetch random households (a cold start loads them
/// from storage), timing each from request to the whole document. Fails on any error.
pub async fn reads(o: Reads) -> anyhow::Result<()> {
    let credentials = load_credentials(&o.credentials)?;
    let list =
        std::fs::read_to_string(&o.ids).with_context(|| format!("reading {}", o.ids.display()))?;
    let ids: Vec<DocumentId> = list
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| {
            DocumentId::parse(l.trim())
                .with_context(|| format!("{} line {}: not a document id", o.ids.display(), n + 1))
        })
        .collect::<anyhow::Result<_>>()?;
    if ids.is_empty() {
        bail!("{} lists no household", o.ids.display());
    }
    let token = reader_token(&o.url, &credentials, o.reference).await?;
    let url = ws_url(&o.url);
    let readers = o.readers.clamp(1, o.reads.max(1));
    eprintln!(
        "{} random reads of {} stored households over {readers} connections…",
        o.reads,
        ids.len()
    );
    let ids = Arc::new(ids);
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for r in 0..readers {
        let (ids, done, url, token) = (ids.clone(), done.clone(), url.clone(), token.clone());
        let share = o.reads / readers + usize::from(r < o.reads % readers);
        let seed = o.seed ^ r as u64;
        let total = o.reads;
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut client = SyncClient::connect(&url, &token, &format!("simulate-reader-{r}"))
                .await
                .context("connecting a reader")?;
            client.set_wait(Duration::from_secs(120));
            let mut took = Vec::with_capacity(share);
            for _ in 0..share {
                let id = &ids[rng.random_range(0..ids.len())];
                let t = Instant::now();
                let doc = client
                    .request_document(id)
                    .await
                    .with_context(|| format!("reading {id}"))?;
                if doc.get_heads().is_empty() {
                    bail!("{id} came back empty");
                }
                took.push(t.elapsed());
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 1000 == 0 || n == total {
                    eprint!("\rread {n}/{total}");
                    let _ = std::io::stderr().flush();
                }
            }
            anyhow::Ok(took)
        });
    }
    let mut latencies = Vec::with_capacity(o.reads);
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.context("a reader stopped")??);
    }
    let wall = started.elapsed();
    eprintln!();
    latencies.sort();
    println!(
        "  {} reads in {:.1} s: {:.0} documents/s; latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        percentile(&latencies, 99)
    );
    println!(
        "figures: reads_per_s={:.1} p50_ms={:.1} p95_ms={:.1} p99_ms={:.1} seconds={:.2}",
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 95),
        percentile(&latencies, 99),
        wall.as_secs_f64()
    );
    Ok(())
}
