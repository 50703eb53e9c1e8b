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
}

impl SyncHub {
    pub fn new(storage_id: String) -> Self {
        SyncHub {
            peer_id: format!("sansang-{storage_id}"),
            storage_id,
            next_connection: AtomicU64::new(1),
            peers: Mutex::default(),
            relay: broadcast::channel(256).0,
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

    pub fn publish(&self, relay: Relay) {
        let _ = self.relay.send(Arc::new(relay));
    }

    pub fn relays(&self) -> broadcast::Receiver<Arc<Relay>> {
        self.relay.subscribe()
    }
}
