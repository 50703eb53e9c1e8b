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
    /// Peer id → the connection speaking for it.
    peers: Mutex<HashMap<String, Claim>>,
    relay: broadcast::Sender<Arc<Relay>>,
    /// Message budget per token (person or phone), shared by all its connections.
    budgets: Mutex<HashMap<String, Budget>>,
    /// Sustained messages a second one token may send, and the burst above that.
    rate: f64,
    burst: f64,
}

/// Which connection of which token's principal speaks for a peer id, and the signal that tells
/// it to close.
struct Claim {
    connection: u64,
    owner: String,
    signal: Arc<Notify>,
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

    /// Makes `connection` of `owner` (the token's principal, e.g. `device:<id>`) the one
    /// speaking for `peer_id`; an older connection of the same peer and owner is told to close.
    /// Returns the signal this connection must watch, or `None` when another owner's connection
    /// holds the peer id: a phone of another hamlet cannot take over (or cut off) a peer id it
    /// learnt.
    pub fn claim(&self, peer_id: &str, owner: &str, connection: u64) -> Option<Arc<Notify>> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = peers.get(peer_id)
            && held.owner != owner
        {
            return None;
        }
        let signal = Arc::new(Notify::new());
        let claimed = Claim {
            connection,
            owner: owner.to_owned(),
            signal: signal.clone(),
        };
        if let Some(older) = peers.insert(peer_id.to_owned(), claimed) {
            older.signal.notify_one();
        }
        Some(signal)
    }

    /// Forgets `peer_id` if `connection` still speaks for it.
    pub fn release(&self, peer_id: &str, connection: u64) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers
            .get(peer_id)
            .is_some_and(|c| c.connection == connection)
        {
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
    fn a_peer_id_belongs_to_the_token_that_holds_it() {
        let hub = SyncHub::new("s".into(), 200.0, 2000.0);
        assert!(hub.claim("phone-1", "device:a", 1).is_some());
        // Another token's connection is refused and the holder keeps it.
        assert!(hub.claim("phone-1", "device:b", 2).is_none());
        hub.release("phone-1", 2);
        assert_eq!(hub.connected(), 1);
        // The same token reconnecting replaces its older connection.
        assert!(hub.claim("phone-1", "device:a", 3).is_some());
        hub.release("phone-1", 1);
        assert_eq!(
            hub.connected(),
            1,
            "the older connection no longer holds it"
        );
        hub.release("phone-1", 3);
        assert!(
            hub.claim("phone-1", "device:b", 4).is_some(),
            "free once released"
        );
    }

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
