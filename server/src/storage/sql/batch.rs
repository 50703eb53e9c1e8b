//! Group commit of document updates on SQLite.
//!
//! SQLite writes one transaction at a time, and with `synchronous=full` every commit waits for
//! the file to reach the disk. Under a burst of phones the updates of many documents queue for
//! the writer lock, each for its own commit. Here they queue in a list instead: whoever takes
//! the writer lock writes every update waiting at that moment in one transaction, commits once,
//! and only then tells each caller its update is written. No update is reported written before
//! the commit that makes it durable, and one that fails (an erased id) fails alone.

use std::sync::{Arc, Mutex as StdMutex};

use sqlx::AnyPool;
use tokio::sync::oneshot::{self, error::TryRecvError};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::documents::write_update;
use super::{now_millis, query_err};
use crate::storage::{DocumentUpdate, Millis, Result, StorageError, Written};

/// The most updates one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 64;

pub(super) struct Batcher {
    /// The SQLite writer lock, shared with every other write transaction.
    writer: Arc<Mutex<()>>,
    queue: StdMutex<Queue>,
}

#[derive(Default)]
struct Queue {
    tickets: u64,
    waiting: Vec<Waiting>,
}

struct Waiting {
    ticket: u64,
    update: DocumentUpdate,
    reply: oneshot::Sender<Result<Written>>,
}

impl Batcher {
    pub fn new(writer: Arc<Mutex<()>>) -> Self {
        Batcher {
            writer,
            queue: StdMutex::default(),
        }
    }

    /// Writes `update`, with whatever else is waiting; returns once it is durable (or failed).
    pub async fn write(&self, pool: &AnyPool, update: &DocumentUpdate) -> Result<Written> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.tickets += 1;
            let ticket = queue.tickets;
            queue.waiting.push(Waiting {
                ticket,
                update: update.clone(),
                reply,
            });
            ticket
        };
        loop {
            let writer = self.writer.clone().lock_owned().await;
            // A batch answers its updates before it lets the writer lock go: no answer yet means
            // this update is still in the queue.
            match answer.try_recv() {
                Ok(result) => return result,
                Err(TryRecvError::Closed) => return Err(abandoned()),
                Err(TryRecvError::Empty) => {}
            }
            let batch: Vec<Waiting> = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let n = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..n).collect()
            };
            let ours = batch.iter().any(|w| w.ticket == ticket);
            // In a task of its own: a caller that goes away (its socket closed) does not leave
            // the others' writes undone.
            tokio::spawn(run(pool.clone(), writer, batch));
            if ours {
                return answer.await.unwrap_or_else(|_| Err(abandoned()));
            }
        }
    }
}

fn abandoned() -> StorageError {
    StorageError::Query {
        context: "storing document changes",
        source: sqlx::Error::Protocol("the write was abandoned before its commit".into()),
    }
}

/// Writes `batch` in one transaction and answers each update, then releases `writer`. Should
/// any update fail, the transaction is rolled back whole and each update is written again in a
/// transaction of its own, so only the failing one fails (failures are rare: an erased id, a
/// full disk), and the common case costs no statement more than the updates themselves.
async fn run(pool: AnyPool, writer: OwnedMutexGuard<()>, batch: Vec<Waiting>) {
    let now = now_millis();
    match write_all(&pool, batch.iter().map(|w| &w.update), now).await {
        Ok(written) => {
            for (w, done) in batch.into_iter().zip(written) {
                let _ = w.reply.send(Ok(done));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(w) = batch.into_iter().next() {
                let _ = w.reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::debug!(updates = batch.len(), %e, "a batched update failed; writing each alone");
            for w in batch {
                let result = write_all(&pool, std::iter::once(&w.update), now).await;
                let _ = w.reply.send(result.map(|mut done| done.swap_remove(0)));
            }
        }
    }
    drop(writer);
}

/// Writes `updates` in one transaction, all of them or none; what each wrote, in order (one
/// entry per update).
async fn write_all(
    pool: &AnyPool,
    updates: impl Iterator<Item = &DocumentUpdate>,
    now: Millis,
) -> Result<Vec<Written>> {
    let context = "storing document changes";
    let mut tx = pool.begin().await.map_err(query_err(context))?;
    let mut written = Vec::new();
    for update in updates {
        written.push(write_update(&mut tx, update, now, None).await?);
    }
    tx.commit().await.map_err(query_err(context))?;
    Ok(written)
}
