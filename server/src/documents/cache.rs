//! The documents held in memory: at most a configured number, least recently used evicted first,
//! never one in use; each behind its own lock, so a document is never loaded twice at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::Automerge;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A document in memory, or not yet loaded.
#[derive(Default)]
pub struct Slot {
    pub loaded: Option<Loaded>,
}

pub struct Loaded {
    pub doc: Automerge,
    /// Whether the document has a row in the database (false for a new one still empty).
    pub stored: bool,
    /// The document's sequence number in the database this copy holds every change up to (its
    /// last read or write); a write is refused by the database when it has moved past it.
    pub seq: i64,
    /// The sequence number the stored snapshot covers, as last seen: `seq - snapshot_seq` changes
    /// wait in the log for the next compaction.
    pub snapshot_seq: i64,
    /// What the document holds once inflated (see [`super::screen::measure`]): bounded by
    /// `max_document_bytes`.
    pub weight: u64,
    /// What the changes held while their dependencies are missing weigh (bounded by
    /// `max_document_bytes` too).
    pub held: u64,
    /// How many changes are held so (bounded by `max_held_changes`).
    pub held_changes: usize,
    /// The projection the database holds for it, when this copy wrote it (so the next write
    /// touches only the rows that differ); `None` after loading.
    pub projection: Option<sansang_shared::Projection>,
    /// Changes in `doc` the database does not hold: ones that waited for their dependencies
    /// and were applied when a catch-up brought those in. The next write stores them (through
    /// its gate), and until then no snapshot is taken.
    pub unsaved: Vec<automerge::Change>,
    /// The changes held while their dependencies are missing, as they came: Automerge keeps
    /// them inside `doc` but does not hand them out, and a copy rebuilt from the database after
    /// a refused write must hold them again (their senders believe them delivered).
    pub waiting: Vec<automerge::Change>,
    /// Where it belongs as stored (`None` while not stored): read with it and written with every
    /// update, under this slot's lock, so whoever holds the lock sees every move made through
    /// this process.
    pub scope: Option<crate::storage::DocumentScope>,
}

impl Loaded {
    /// A document not stored (new, or erased a moment ago).
    pub fn empty() -> Self {
        Loaded {
            doc: Automerge::new(),
            stored: false,
            seq: 0,
            snapshot_seq: 0,
            weight: 0,
            held: 0,
            held_changes: 0,
            projection: None,
            unsaved: Vec::new(),
            waiting: Vec::new(),
            scope: None,
        }
    }
}

type Entry = Arc<AsyncMutex<Slot>>;

pub struct Cache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Entry, u64)>,
    tick: u64,
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Cache {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// Locks the slot of `id`, creating it (empty) when absent.
    pub async fn lock(&self, id: &str) -> OwnedMutexGuard<Slot> {
        let entry = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.tick += 1;
            let tick = inner.tick;
            let entry = match inner.entries.get_mut(id) {
                Some((entry, used)) => {
                    *used = tick;
                    entry.clone()
                }
                None => {
                    let entry = Entry::default();
                    inner.entries.insert(id.to_owned(), (entry.clone(), tick));
                    entry
                }
            };
            self.evict(&mut inner);
            entry
        };
        entry.lock_owned().await
    }

    /// Drops the least recently used slots nobody holds until the cache fits its capacity.
    fn evict(&self, inner: &mut Inner) {
        while inner.entries.len() > self.capacity {
            let idle = inner
                .entries
                .iter()
                .filter(|(_, (entry, _))| Arc::strong_count(entry) == 1)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone());
            match idle {
                Some(id) => {
                    inner.entries.remove(&id);
                }
                // Everything is in use: go over capacity rather than block.
                None => break,
            }
        }
    }

    /// Whether `id` is in memory, stored, and free at this instant (a hint: whoever acts on it
    /// checks again under the lock).
    pub fn holds_stored(&self, id: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(id).is_some_and(|(entry, _)| {
            entry
                .try_lock()
                .is_ok_and(|slot| slot.loaded.as_ref().is_some_and(|l| l.stored))
        })
    }

    /// Whether `id` has a slot now (loaded, being loaded, or in use).
    pub fn contains(&self, id: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.contains_key(id)
    }

    /// Forgets every document: each is read from the database when next used. A slot in use
    /// stays with its holder, whose writes the database still fences.
    pub fn forget_all(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.clear();
    }

    /// Forgets a document (after a failed write, so the next use reloads what is durable).
    pub fn forget(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.remove(id);
    }

    /// Documents in memory, loaded or being loaded.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn evicts_the_least_recently_used_idle_slot() {
        let cache = Cache::new(2);
        drop(cache.lock("a").await);
        drop(cache.lock("b").await);
        drop(cache.lock("a").await);
        drop(cache.lock("c").await);
        let inner = cache.inner.lock().unwrap();
        let mut ids: Vec<&String> = inner.entries.keys().collect();
        ids.sort();
        assert_eq!(ids, ["a", "c"]);
    }

    #[tokio::test]
    async fn never_evicts_a_slot_in_use() {
        let cache = Cache::new(1);
        let held = cache.lock("a").await;
        drop(cache.lock("b").await);
        drop(cache.lock("c").await);
        let inner = cache.inner.lock().unwrap();
        assert!(
            inner.entries.contains_key("a"),
            "in use, kept over capacity"
        );
        assert!(!inner.entries.contains_key("b"), "idle, evicted");
        drop(inner);
        drop(held);
    }
}
