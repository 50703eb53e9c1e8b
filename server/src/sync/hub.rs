//! What sync connections share: the server's peer identity, which socket speaks for which peer
//! id (a second `join` replaces the first), and the relay of ephemeral messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    limits: Limits,
    /// What each token's messages being handled now hold, and all of them together.
    in_flight: Mutex<InFlight>,
    /// Servers serving the database now (as last counted): each holds a token to its
    /// share of the budgets above, so a token spread over all of them by a load balancer gets
    /// what one server would give it.
    servers: AtomicUsize,
}

/// What one token's sync may cost at once (settings `sync_*` of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages of one token handled at once, over all its connections and the HTTP fallback.
    pub messages_per_token: usize,
    /// Bytes (as received plus inflated) of one token's messages handled at once.
    pub bytes_per_token: u64,
    /// Bytes of every token's messages handled at once.
    pub bytes_total: u64,
    /// Open sync sockets of one token.
    pub connections_per_token: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages_per_token: 4,
            bytes_per_token: 16 << 20,
            bytes_total: 256 << 20,
            connections_per_token: 8,
        }
    }
}

#[derive(Default)]
struct InFlight {
    per_token: HashMap<String, (usize, u64)>,
    total: u64,
}

/// Why a message or a connection was not taken now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error(
        "{0} sync messages of this token are being handled already (sync_inflight_messages_per_token)"
    )]
    Messages(usize),
    #[error(
        "this token's sync messages being handled hold more than {0} bytes (sync_inflight_bytes_per_token)"
    )]
    TokenBytes(u64),
    #[error(
        "the server is handling more than {0} bytes of sync messages (sync_inflight_bytes_total)"
    )]
    ServerBytes(u64),
    #[error("this token has {0} sync connections open already (sync_connections_per_token)")]
    Connections(usize),
    #[error("peer id in use by another phone or person; pick a new one")]
    PeerIdTaken,
}

/// A message admitted: what it holds counts against its token and the server until dropped.
pub struct Admission {
    hub: Arc<SyncHub>,
    key: String,
    bytes: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut in_flight = self.hub.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.total = in_flight.total.saturating_sub(self.bytes);
        if let Some(entry) = in_flight.per_token.get_mut(&self.key) {
            entry.0 = entry.0.saturating_sub(1);
            entry.1 = entry.1.saturating_sub(self.bytes);
            if entry.0 == 0 {
                in_flight.per_token.remove(&self.key);
            }
        }
    }
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
            limits: Limits::default(),
            in_flight: Mutex::default(),
            servers: AtomicUsize::new(1),
        }
    }

    /// `n` servers serve the database now: the per-token budgets are shared among them.
    pub fn set_servers(&self, n: usize) {
        self.servers.store(n.max(1), Ordering::Relaxed);
    }

    /// Servers serving the database, as last counted.
    pub fn servers(&self) -> usize {
        self.servers.load(Ordering::Relaxed).max(1)
    }

    /// This server's share of the per-token limits (the server-wide byte limit is its own).
    fn limits(&self) -> Limits {
        let n = self.servers();
        Limits {
            messages_per_token: self.limits.messages_per_token.div_ceil(n).max(1),
            bytes_per_token: (self.limits.bytes_per_token / n as u64).max(1),
            bytes_total: self.limits.bytes_total,
            connections_per_token: self.limits.connections_per_token.div_ceil(n).max(1),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Limits {
            messages_per_token: limits.messages_per_token.max(1),
            bytes_per_token: limits.bytes_per_token.max(1),
            bytes_total: limits.bytes_total.max(1),
            connections_per_token: limits.connections_per_token.max(1),
        };
        self
    }

    /// Admits a message of `key`'s holding `bytes`, or says which limit it would pass.
    pub fn admit(self: &Arc<Self>, key: &str, bytes: u64) -> Result<Admission, Busy> {
        let limits = self.limits();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let (messages, held) = in_flight.per_token.get(key).copied().unwrap_or((0, 0));
        if messages >= limits.messages_per_token {
            return Err(Busy::Messages(limits.messages_per_token));
        }
        // One message alone is always let through its token's budget (it is bounded by
        // `sync_message_max_bytes`), or a large but allowed message could never pass.
        if messages > 0 && held.saturating_add(bytes) > limits.bytes_per_token {
            return Err(Busy::TokenBytes(limits.bytes_per_token));
        }
        if in_flight.total > 0 && in_flight.total.saturating_add(bytes) > limits.bytes_total {
            return Err(Busy::ServerBytes(limits.bytes_total));
        }
        in_flight.total += bytes;
        let entry = in_flight.per_token.entry(key.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += bytes;
        Ok(Admission {
            hub: self.clone(),
            key: key.to_owned(),
            bytes,
        })
    }

    /// Admits a message as [`SyncHub::admit`], waiting up to `patience` for room (a socket's
    /// messages wait their turn; the HTTP fallback is answered `429` at once instead).
    pub async fn admit_waiting(
        self: &Arc<Self>,
        key: &str,
        bytes: u64,
        patience: std::time::Duration,
    ) -> Result<Admission, Busy> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.admit(key, bytes) {
                Ok(admission) => return Ok(admission),
                Err(busy) if tokio::time::Instant::now() >= deadline => return Err(busy),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes `connection` of `owner` (the token's principal, e.g. `device:<id>`) the one
    /// speaking for `peer_id`; an older connection of the same peer and owner is told to close.
    /// Returns the signal this connection must watch; `PeerIdTaken` when another owner's
    /// connection holds the peer id (a phone of another hamlet cannot take over, or cut off, a
    /// peer id it learnt), `Connections` when the owner has as many sockets open as it may.
    pub fn claim(&self, peer_id: &str, owner: &str, connection: u64) -> Result<Arc<Notify>, Busy> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let held = peers.get(peer_id);
        if held.is_some_and(|held| held.owner != owner) {
            return Err(Busy::PeerIdTaken);
        }
        // A reconnection under the same peer id replaces a connection; another one adds one.
        let open = peers.values().filter(|c| c.owner == owner).count();
        let allowed = self.limits().connections_per_token;
        if held.is_none() && open >= allowed {
            return Err(Busy::Connections(allowed));
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
        Ok(signal)
    }

    /// Tells every socket of `owner` (`device:<id>`, `user:<id>`) to check its token now: called
    /// when a phone is revoked or a person's sessions end, so nothing more flows to them. A
    /// socket whose token still works (another session of the same person) goes on.
    pub fn recheck(&self, owner: &str) {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        for claim in peers.values().filter(|c| c.owner == owner) {
            claim.signal.notify_one();
        }
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

    /// Whether `connection` is the one speaking for `peer_id` now.
    pub fn speaks_for(&self, peer_id: &str, connection: u64) -> bool {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .get(peer_id)
            .is_some_and(|c| c.connection == connection)
    }

    /// Connected peers now.
    pub fn connected(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Takes one message from `key`'s budget; returns how long to wait first when it is spent.
    /// Waiting (instead of refusing) slows a flooding peer down without breaking a real one.
    pub fn spend(&self, key: &str) -> std::time::Duration {
        let now = std::time::Instant::now();
        // This server's share of the token's budget.
        let n = self.servers() as f64;
        let (rate, burst) = (self.rate / n, (self.burst / n).max(1.0));
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if budgets.len() > 10_000 {
            budgets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let budget = budgets.entry(key.to_owned()).or_insert(Budget {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(budget.at).as_secs_f64() * rate;
        budget.tokens = (budget.tokens + refill).min(burst) - 1.0;
        budget.at = now;
        if budget.tokens >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-budget.tokens / rate)
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
        assert!(hub.claim("phone-1", "device:a", 1).is_ok());
        // Another token's connection is refused and the holder keeps it.
        assert_eq!(
            hub.claim("phone-1", "device:b", 2).err(),
            Some(Busy::PeerIdTaken)
        );
        hub.release("phone-1", 2);
        assert_eq!(hub.connected(), 1);
        // The same token reconnecting replaces its older connection.
        assert!(hub.claim("phone-1", "device:a", 3).is_ok());
        hub.release("phone-1", 1);
        assert_eq!(
            hub.connected(),
            1,
            "the older connection no longer holds it"
        );
        hub.release("phone-1", 3);
        assert!(
            hub.claim("phone-1", "device:b", 4).is_ok(),
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

    #[test]
    fn budgets_are_shared_among_the_servers() {
        let hub = Arc::new(SyncHub::new("s".into(), 200.0, 100.0).with_limits(Limits {
            messages_per_token: 4,
            bytes_per_token: 1000,
            bytes_total: 10_000,
            connections_per_token: 8,
        }));
        hub.set_servers(2);
        let waits: Vec<_> = (0..60).map(|_| hub.spend("device:a")).collect();
        assert!(
            waits[..50].iter().all(|w| w.is_zero()),
            "half the burst is free"
        );
        assert!(
            waits[55] > std::time::Duration::ZERO,
            "the other half is the other server's"
        );
        let held: Vec<_> = (0..2).map(|_| hub.admit("device:a", 10).unwrap()).collect();
        assert_eq!(hub.admit("device:a", 10).err(), Some(Busy::Messages(2)));
        drop(held);
        for n in 0..4 {
            hub.claim(&format!("peer-{n}"), "device:a", n).unwrap();
        }
        assert_eq!(
            hub.claim("peer-4", "device:a", 4).err(),
            Some(Busy::Connections(4)),
            "4 of the token's 8 sockets here"
        );
        hub.set_servers(1);
        assert!(
            hub.claim("peer-4", "device:a", 4).is_ok(),
            "alone again: all 8"
        );
    }
}
