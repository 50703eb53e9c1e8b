//! What sync connections share: the server's peer identity, which socket speaks for which peer
//! id (a second `join` replaces the first), and the relay of ephemeral messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

use super::wire::Message;
use crate::documents::DocumentId;

/// An ephemeral message on its way to the other peers of a document.
#[derive(Debug, Clone)]
pub struct Relay {
    pub document: DocumentId,
    /// The connection it came in on, which must not get it back.
    pub origin: u64,
    pub message: Message,
}

pub struct SyncHub {
    /// Stable id of this server's storage, announced in `peer` so clients can tell what the
    /// server holds (`getSyncInfo`).
    pub storage_id: String,
    /// This server's peer id.
    pub peer_id: String,
    next_connection: AtomicU64,
    /// Peer id → (connection, signal that tells it to close).
    peers: Mutex<HashMap<String, (u64, Arc<Notify>)>>,
    relay: broadcast::Sender<Arc<Relay>>,
    /// Message budget per token (person or phone), shared by all its connections.
    budgets: Mutex<HashMap<String, Budget>>,
    /// Sustained messages a second one token may send, and the burst above that.
    rate: f64,
    burst: f64,
}

/// A token bucket: `rate` messages a second on average, bursts of `burst`.
struct Budget {
    tokens: f64,
    at: std::time::Instant,
}

impl SyncHub {
    /// A hub whose tokens may each send `rate` messages a second, in bursts of `burst`
    /// (`sync_messages_per_second` and `sync_message_burst` in the configuration).
    pub fn new(storage_id: String, rate: f64, burst: f64) -> Self {
        SyncHub {
            peer_id: format!("sansang-{storage_id}"),
            storage_id,
            next_connection: AtomicU64::new(1),
            peers: Mutex::default(),
            relay: broadcast::channel(256).0,
            budgets: Mutex::default(),
            rate: rate.max(1.0),
            burst: burst.max(1.0),
        }
    }

    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes `connection` the one speaking for `peer_id`; an older connection of the same peer
    /// is told to close. Returns the signal this connection must watch.
    pub fn claim(&self, peer_id: &str, connection: u64) -> Arc<Notify> {
        let signal = Arc::new(Notify::new());
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, older)) = peers.insert(peer_id.to_owned(), (connection, signal.clone())) {
            older.notify_one();
        }
        signal
    }

    /// Forgets `peer_id` if `connection` still speaks for it.
    pub fn release(&self, peer_id: &str, connection: u64) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.get(peer_id).is_some_and(|(c, _)| *c == connection) {
            peers.remove(peer_id);
        }
    }

    /// Connected peers now.
    pub fn connected(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Takes one message from `key`'s budget; returns how long to wait first when it is spent.
    /// Waiting (instead of refusing) slows a flooding peer down without breaking a real one.
    pub fn spend(&self, key: &str) -> std::time::Duration {
        let now = std::time::Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if budgets.len() > 10_000 {
            budgets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * self.rate < self.burst);
        }
        let budget = budgets.entry(key.to_owned()).or_insert(Budget {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(budget.at).as_secs_f64() * self.rate;
        budget.tokens = (budget.tokens + refill).min(self.burst) - 1.0;
        budget.at = now;
        if budget.tokens >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-budget.tokens / self.rate)
        }
    }

    pub fn publish(&self, relay: Relay) {
        let _ = self.relay.send(Arc::new(relay));
    }

    pub fn relays(&self) -> broadcast::Receiver<Arc<Relay>> {
        self.relay.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_free_then_messages_wait() {
        const BURST: f64 = 2000.0;
        let hub = SyncHub::new("s".into(), 200.0, BURST);
        let waits: Vec<_> = (0..BURST as usize + 10)
            .map(|_| hub.spend("device:a"))
            .collect();
        assert!(waits[..BURST as usize].iter().all(|w| w.is_zero()));
        assert!(waits[BURST as usize + 5] > std::time::Duration::ZERO);
        assert!(hub.spend("device:b").is_zero(), "budgets are per token");
    }
}
