//! The real binary (`sansang demo` in its own process) under a memory limit (`prlimit --as`),
//! attacked by a signed-in caller while a phone of another hamlet keeps working: 500 sign-ins at
//! once, sync messages of changes that inflate to tens of megabytes, changes whose dependencies
//! never come, thousands of documents asked for on one socket, fifty sockets on one token. The
//! server keeps answering `/healthz` and the other phone's syncs throughout, and its peak
//! resident memory is printed (and stays under the limit, or the server would have died).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use sansang_server::documents::DocumentId;
use sansang_server::sync::client::{ClientError, SyncClient};
use sansang_server::sync::wire::Message;

/// The address space the server may take: well above what it needs, far below what the
/// attacks would take unbounded (they took a server to 1.66 GB resident before).
const ADDRESS_SPACE: u64 = 2 << 30;

mod support;

#[derive(serde::Deserialize)]
struct Credentials {
    devices: Vec<Device>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Device {
    hamlet_id: String,
    token: String,
}

/// The kernel's count of the process's peak resident memory, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        / 1024
}

/// A household of `hamlet` in the demo's commune as a new document.
fn household(hamlet: &str, address: &str) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    doc.put(ROOT, "schema", "sansang.household/1").unwrap();
    doc.put(ROOT, "communeCode", "10846").unwrap();
    doc.put(ROOT, "hamletId", hamlet).unwrap();
    doc.put(ROOT, "address", address).unwrap();
    doc.commit();
    doc
}

fn message_with(changes: Vec<Vec<u8>>, heads: Vec<automerge::ChangeHash>) -> Vec<u8> {
    automerge::sync::Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_leaves_the_server_answering_within_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_sansang"))
        .args(["demo", "--households", "12"])
        // glibc reserves 64 MiB of address space per arena; two are plenty for two cores.
        .env("MALLOC_ARENA_MAX", "2");
    let mut demo = support::start(command, dir.path());
    let (pid, url) = (demo.child.id(), demo.url.clone());
    let credentials: Credentials =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo-credentials.json")).unwrap())
            .unwrap();
    let attacker = credentials.devices[0].token.clone();
    let bystander = credentials
        .devices
        .iter()
        .find(|d| d.hamlet_id != credentials.devices[0].hamlet_id)
        .unwrap();
    let (bystander_token, bystander_hamlet) =
        (bystander.token.clone(), bystander.hamlet_id.clone());
    let ws = format!("{}/api/v1/sync", url.replacen("http", "ws", 1));
    let http = reqwest::Client::new();
    // The demo finishes its own work (photos, projections) first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "server pid {pid}, peak resident before the attacks: {} MiB",
        peak_mib(pid)
    );

    // Throughout: /healthz every 100 ms, and another hamlet's phone saving a household every
    // 300 ms over its own socket.
    let stop = Arc::new(AtomicBool::new(false));
    let health_failures = Arc::new(AtomicUsize::new(0));
    let health = {
        let (http, url, stop, failures) = (
            http.clone(),
            url.clone(),
            stop.clone(),
            health_failures.clone(),
        );
        tokio::spawn(async move {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                let ok = tokio::time::timeout(
                    Duration::from_secs(5),
                    http.get(format!("{url}/healthz")).send(),
                )
                .await
                .is_ok_and(|r| r.is_ok_and(|r| r.status().is_success()));
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                checks += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            checks
        })
    };
    let phone = {
        let (ws, stop) = (ws.clone(), stop.clone());
        tokio::spawn(async move {
            let mut client = SyncClient::connect(&ws, &bystander_token, "bystander")
                .await
                .unwrap();
            let mut saved = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = DocumentId::random();
                let mut doc = household(&bystander_hamlet, &format!("Số {saved}, xóm Bên"));
                let mut copy = doc.document().clone();
                tokio::time::timeout(
                    Duration::from_secs(30),
                    client.sync_document(&id, &mut copy),
                )
                .await
                .expect("the other phone's sync stalled")
                .expect("the other phone's sync failed");
                doc.commit();
                saved += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            saved
        })
    };

    // 1. 500 sign-ins at once: wrong passwords, names that exist and names that do not.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..500 {
        let (http, url) = (http.clone(), url.clone());
        set.spawn(async move {
            let name = if i % 2 == 0 {
                "admin".to_owned()
            } else {
                format!("khong-co-{i}")
            };
            http.post(format!("{url}/api/v1/auth/login"))
                .json(&serde_json::json!({ "username": name, "password": "sai" }))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = set.join_next().await {
        *statuses.entry(status.unwrap()).or_insert(0) += 1;
    }
    println!(
        "500 sign-ins at once: {statuses:?}; peak {} MiB",
        peak_mib(pid)
    );
    assert!(
        statuses.keys().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );

    // 2. Sync messages of six changes of a 10 MB string each (a few KB on the wire), four at
    // once over the fallback and one over a socket.
    let bomb = {
        let mut doc = household("T01", "Số 1");
        let mut changes = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect::<Vec<_>>();
        for i in 0..6 {
            doc.put(ROOT, "notes", format!("{i}").repeat(10_000_000))
                .unwrap();
            doc.commit();
            let mut last = doc.get_last_local_change().unwrap().clone();
            // As phones send them: compressed (a few KB for 10 MB of one character).
            changes.push(last.bytes().to_vec());
        }
        message_with(changes, doc.get_heads())
    };
    println!("bomb message: {} bytes on the wire", bomb.len());
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, url, token, body) = (http.clone(), url.clone(), attacker.clone(), bomb.clone());
        set.spawn(async move {
            http.post(format!("{url}/api/v1/sync/{}", DocumentId::random()))
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    while let Some(status) = set.join_next().await {
        let status = status.unwrap();
        assert!(status == 413 || status == 429, "{status}");
    }
    println!("compressed changes refused; peak {} MiB", peak_mib(pid));

    // 3. Changes whose dependencies never come, on 100 documents of one socket: each 1 MB once
    // inflated, held while they wait, each document within its bound.
    let mut orphans = SyncClient::connect(&ws, &attacker, "attacker-orphans")
        .await
        .unwrap();
    for n in 0..100 {
        let mut doc = household("T01", &format!("Số {n}"));
        doc.put(ROOT, "notes", "x".repeat(1_000_000)).unwrap();
        doc.commit();
        let mut last = doc.get_last_local_change().unwrap().clone();
        let id = DocumentId::random();
        let sent = orphans
            .send(&Message::Sync {
                sender_id: "attacker-orphans".into(),
                target_id: orphans.server_peer_id.clone(),
                document_id: id.to_string(),
                data: message_with(vec![last.bytes().to_vec()], doc.get_heads()),
            })
            .await;
        if sent.is_err() {
            break;
        }
    }
    // Whatever it answered, the server is still there (checked below).
    let _ = tokio::time::timeout(Duration::from_secs(5), orphans.recv()).await;
    println!(
        "100 documents of orphan changes; peak {} MiB",
        peak_mib(pid)
    );

    // 4. Thousands of documents asked for on one socket.
    let mut asker = SyncClient::connect(&ws, &attacker, "attacker-asks")
        .await
        .unwrap();
    let empty = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: Vec::<Vec<u8>>::new().into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    for _ in 0..5000 {
        if asker
            .send(&Message::Request {
                sender_id: "attacker-asks".into(),
                target_id: asker.server_peer_id.clone(),
                document_id: DocumentId::random().to_string(),
                data: empty.clone(),
            })
            .await
            .is_err()
        {
            break;
        }
    }
    println!("5000 documents asked for; peak {} MiB", peak_mib(pid));

    // 5. Fifty sockets on one token: a few are taken, the rest refused by name.
    let mut taken = Vec::new();
    let mut refused = 0;
    for n in 0..50 {
        match SyncClient::connect(&ws, &attacker, &format!("attacker-socket-{n}")).await {
            Ok(client) => taken.push(client),
            Err(ClientError::Refused(message)) => {
                assert!(message.contains("sync_connections_per_token"), "{message}");
                refused += 1;
            }
            Err(e) => panic!("socket {n}: {e}"),
        }
    }
    println!(
        "50 sockets on one token: {} taken, {refused} refused",
        taken.len()
    );
    assert!(refused > 0);

    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let checks = health.await.unwrap();
    let saved = phone.await.unwrap();
    let peak = peak_mib(pid);
    println!(
        "throughout: {checks} health checks ({} failed), {saved} households saved by the other \
         phone; peak resident memory {peak} MiB under a {} MiB address-space limit",
        health_failures.load(Ordering::Relaxed),
        ADDRESS_SPACE >> 20
    );
    assert_eq!(health_failures.load(Ordering::Relaxed), 0);
    assert!(saved > 0);
    assert!(
        demo.child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}
