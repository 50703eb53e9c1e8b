//! One phone's sync socket: the handshake, then documents synced inside the caller's scope,
//! every change durable before the reply that acknowledges it, changes of other peers pushed as
//! they happen, ephemeral messages relayed, and a ping to drop peers that went silent.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use automerge::sync;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{MissedTickBehavior, interval, timeout};

use super::hub::Relay;
use super::receive::{Receipt, SyncError, erased, may_sync, receive};
use super::wire::{self, Message, PROTOCOL_VERSION, PeerMetadata};
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::documents::{Changed, DocumentError, DocumentId};

/// How long a new socket has to send `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Ephemeral (sender, session) pairs remembered for de-duplication; forgotten all at once past it.
const MAX_EPHEMERAL_SESSIONS: usize = 4096;
/// How long a socket's message may wait for room in its token's budget before the connection is
/// refused.
const ADMISSION_PATIENCE: Duration = Duration::from_secs(30);
/// A send that takes longer than this means a peer that stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection ends; logged, and sent to the peer as an `error` where it is its fault.
#[derive(Debug)]
enum End {
    Closed,
    Replaced,
    Silent,
    Revoked,
    Refused(String),
    Failed(String),
}

struct Connection {
    app: AppState,
    caller: Caller,
    id: u64,
    peer_id: String,
    /// Documents this peer syncs, with the sync state of each.
    docs: HashMap<DocumentId, sync::State>,
    /// Documents the peer asked for that were unavailable; pushed if they appear.
    pending: HashSet<DocumentId>,
    /// Last ephemeral count seen per (sender, session).
    ephemeral_seen: HashMap<(String, String), u64>,
    /// Documents whose content this connection has sent to the peer (audited once each).
    disclosed: HashSet<DocumentId>,
    /// Documents holding changes this socket sent whose dependencies are missing, and their
    /// weight (bounded by `sync_held_bytes_per_connection`).
    held: HashMap<DocumentId, u64>,
    /// Documents synced since the last sweep of idle sync states, and when that was.
    touched: HashSet<DocumentId>,
    swept: Instant,
}

/// Runs a sync socket to its end.
pub async fn run(mut socket: WebSocket, app: AppState, caller: Option<Caller>) {
    let Some(caller) = caller else {
        let _ = refuse(
            &mut socket,
            &app,
            "unauthenticated: a device or user token is needed",
        )
        .await;
        return;
    };
    let (peer_id, metadata) = match timeout(JOIN_TIMEOUT, first_join(&mut socket)).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(reason)) => {
            tracing::info!(%reason, "sync handshake refused");
            let _ = refuse(&mut socket, &app, &reason).await;
            return;
        }
        Err(_) => {
            let _ = refuse(&mut socket, &app, "no join message within 10 s").await;
            return;
        }
    };
    let hub = app.sync.clone();
    let id = hub.connection_id();
    let owner = caller.principal.key();
    let replaced = match hub.claim(&peer_id, &owner, id) {
        Ok(replaced) => replaced,
        Err(busy) => {
            tracing::warn!(peer = %peer_id, %busy, "sync join refused");
            let _ = refuse(&mut socket, &app, &busy.to_string()).await;
            return;
        }
    };
    let peer = Message::Peer {
        sender_id: hub.peer_id.clone(),
        target_id: peer_id.clone(),
        metadata: PeerMetadata {
            storage_id: Some(hub.storage_id.clone()),
            is_ephemeral: Some(false),
        },
        selected_version: PROTOCOL_VERSION.into(),
    };
    if socket
        .send(Frame::Binary(wire::encode(&peer).into()))
        .await
        .is_err()
    {
        hub.release(&peer_id, id);
        return;
    }
    tracing::info!(peer = %peer_id, ephemeral = ?metadata.is_ephemeral, "sync peer joined");
    let mut conn = Connection {
        app: app.clone(),
        caller,
        id,
        peer_id: peer_id.clone(),
        docs: HashMap::new(),
        pending: HashSet::new(),
        ephemeral_seen: HashMap::new(),
        disclosed: HashSet::new(),
        held: HashMap::new(),
        touched: HashSet::new(),
        swept: Instant::now(),
    };
    let end = conn.serve(&mut socket, &replaced).await;
    hub.release(&peer_id, id);
    match &end {
        End::Refused(reason) => {
            tracing::warn!(peer = %peer_id, %reason, "sync connection refused a message");
            let _ = refuse(&mut socket, &app, reason).await;
        }
        End::Failed(reason) => {
            tracing::error!(peer = %peer_id, %reason, "sync connection failed");
            let _ = refuse(&mut socket, &app, "server error; try again later").await;
        }
        End::Revoked => {
            tracing::info!(peer = %peer_id, "sync token revoked");
            let _ = refuse(&mut socket, &app, "token revoked").await;
        }
        End::Silent => {
            // Nothing at all arrived over a whole ping interval (or a send stalled): worth a
            // warning, the phone's volunteer sees it go offline.
            tracing::warn!(peer = %peer_id, "sync peer silent: connection dropped");
            let _ = socket.send(Frame::Close(None)).await;
        }
        other => {
            tracing::info!(peer = %peer_id, reason = ?other, "sync connection ended");
            let _ = socket.send(Frame::Close(None)).await;
        }
    }
}

/// Sends an `error` message and closes the socket.
async fn refuse(socket: &mut WebSocket, app: &AppState, reason: &str) -> Result<(), axum::Error> {
    let error = Message::Error {
        sender_id: app.sync.peer_id.clone(),
        target_id: String::new(),
        message: reason.to_owned(),
    };
    socket
        .send(Frame::Binary(wire::encode(&error).into()))
        .await?;
    socket
        .send(Frame::Close(Some(CloseFrame {
            code: 1008,
            reason: "refused".into(),
        })))
        .await
}

/// Waits for `join`, checking the protocol version.
async fn first_join(socket: &mut WebSocket) -> Result<(String, PeerMetadata), String> {
    loop {
        let frame = match socket.recv().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            None => return Err("closed before join".into()),
        };
        let bytes = match frame {
            Frame::Binary(b) => b,
            Frame::Ping(_) | Frame::Pong(_) => continue,
            Frame::Close(_) => return Err("closed before join".into()),
            Frame::Text(_) => {
                return Err("text frame: the protocol sends binary CBOR frames".into());
            }
        };
        return match wire::decode(&bytes) {
            Ok(Message::Join {
                sender_id,
                metadata,
                supported_versions,
            }) => {
                let supported = supported_versions
                    .as_ref()
                    .is_none_or(|v| v.iter().any(|v| v == PROTOCOL_VERSION));
                if !supported {
                    return Err("unsupported protocol version".into());
                }
                if sender_id.is_empty() || sender_id.len() > 200 {
                    return Err("senderId must be 1 to 200 characters".into());
                }
                Ok((sender_id, metadata))
            }
            Ok(_) => Err("the first message must be join".into()),
            Err(e) => Err(format!("undecodable message: {e}")),
        };
    }
}

impl Connection {
    async fn serve(&mut self, socket: &mut WebSocket, replaced: &tokio::sync::Notify) -> End {
        let mut changed = self.app.documents.subscribe();
        let mut relays = self.app.sync.relays();
        let every = Duration::from_secs(self.app.config.sync_ping_interval_seconds.max(1));
        let mut ping = interval(every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.tick().await;
        // Whether anything arrived since the last ping (true before the first). Any frame is a
        // sign of life, not only the pong: a phone pushing hundreds of households keeps this
        // socket's queue full, and its pong waits behind the messages sent before it — a busy
        // peer must not be taken for a silent one (dropping it mid-burst wedged stock
        // automerge-repo clients, issue 16).
        let mut heard = true;
        loop {
            let outcome = tokio::select! {
                frame = socket.recv() => {
                    heard |= matches!(frame, Some(Ok(_)));
                    match frame {
                        None | Some(Err(_)) => return End::Closed,
                        Some(Ok(Frame::Binary(bytes))) => {
                            let wait = self.app.sync.spend(&self.budget_key());
                            if !wait.is_zero() {
                                tokio::time::sleep(wait).await;
                            }
                            self.receive(&bytes).await
                        }
                        Some(Ok(Frame::Pong(_) | Frame::Ping(_))) => Ok(Vec::new()),
                        Some(Ok(Frame::Close(_))) => return End::Closed,
                        Some(Ok(Frame::Text(_))) => Err(End::Refused("text frame: the protocol sends binary CBOR frames".into())),
                    }
                },
                changed = changed.recv() => match changed {
                    // This socket's own message: its reply went out already.
                    Ok(Changed::Document { origin, .. }) if origin == self.id => Ok(Vec::new()),
                    Ok(Changed::Document { id, .. }) => self.document_changed(&id).await,
                    Ok(Changed::Any) | Err(RecvError::Lagged(_)) => self.resync_all().await,
                    Err(RecvError::Closed) => return End::Closed,
                },
                relay = relays.recv() => match relay {
                    Ok(relay) => Ok(self.relay(&relay).into_iter().collect()),
                    Err(_) => Ok(Vec::new()),
                },
                _ = ping.tick() => {
                    if !heard {
                        return End::Silent;
                    }
                    if !self.caller.still_valid(&self.app).await.unwrap_or(false) {
                        return End::Revoked;
                    }
                    heard = false;
                    self.forget_idle_states();
                    if socket.send(Frame::Ping(Default::default())).await.is_err() {
                        return End::Closed;
                    }
                    Ok(Vec::new())
                }
                // Replaced by a newer socket of the same peer, or told to check its token (a
                // revocation, a sign-out): ends at once unless the token still works and the
                // peer id is still this socket's.
                () = replaced.notified() => {
                    if !self.caller.still_valid(&self.app).await.unwrap_or(false) {
                        return End::Revoked;
                    }
                    if !self.app.sync.speaks_for(&self.peer_id, self.id) {
                        return End::Replaced;
                    }
                    Ok(Vec::new())
                }
            };
            match outcome {
                Ok(out) => {
                    for message in out {
                        let frame = Frame::Binary(wire::encode(&message).into());
                        match timeout(SEND_TIMEOUT, socket.send(frame)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => return End::Closed,
                            Err(_) => return End::Silent,
                        }
                    }
                }
                Err(end) => return end,
            }
        }
    }

    /// Starts the sync state again for every document this socket has not touched for
    /// `sync_state_idle_seconds`: a phone that pushed thousands of households keeps a small
    /// entry for each, not what it was sent. The document stays followed (pushed when it
    /// changes); a fresh state makes the next exchange start from the heads, which the protocol
    /// handles as a peer that reconnected.
    fn forget_idle_states(&mut self) {
        let idle = Duration::from_secs(self.app.config.sync_state_idle_seconds.max(1));
        if self.swept.elapsed() < idle {
            return;
        }
        let mut forgotten = 0;
        for (id, state) in &mut self.docs {
            if !self.touched.contains(id) && !self.held.contains_key(id) {
                *state = sync::State::new();
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            tracing::debug!(peer = %self.peer_id, forgotten, "idle sync states forgotten");
        }
        self.touched.clear();
        self.swept = Instant::now();
    }

    /// The rate budget is per token: all connections of a phone or a person share it.
    fn budget_key(&self) -> String {
        self.caller.principal.key()
    }

    fn unavailable(&self, document_id: &str) -> Message {
        Message::DocUnavailable {
            sender_id: self.app.sync.peer_id.clone(),
            target_id: self.peer_id.clone(),
            document_id: document_id.to_owned(),
        }
    }

    fn sync_message(&self, id: &DocumentId, message: sync::Message) -> Message {
        Message::Sync {
            sender_id: self.app.sync.peer_id.clone(),
            target_id: self.peer_id.clone(),
            document_id: id.to_string(),
            data: message.encode(),
        }
    }

    /// The first time this connection sends the peer changes of a document (content it did not
    /// have), the audit log says so: `document.read`, so "whose data did this phone or person
    /// see" has an answer for sync as for the API. Once per document and connection.
    async fn note_disclosure(&mut self, id: &DocumentId, message: &sync::Message) {
        if message.changes.is_empty() || self.disclosed.contains(id) {
            return;
        }
        match audit::record(
            &self.app,
            &self.caller,
            "document.read",
            Some(id.as_str()),
            None,
        )
        .await
        {
            Ok(()) => {
                self.disclosed.insert(id.clone());
            }
            Err(e) => tracing::warn!(error = %e, document = %id, "could not audit a sync read"),
        }
    }

    /// Handles one frame from the peer; returns what to send back.
    async fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Message>, End> {
        let message =
            wire::decode(bytes).map_err(|e| End::Refused(format!("undecodable message: {e}")))?;
        match message {
            Message::Sync {
                sender_id,
                document_id,
                data,
                ..
            } if sender_id == self.peer_id => self.sync(&document_id, &data, false).await,
            Message::Request {
                sender_id,
                document_id,
                data,
                ..
            } if sender_id == self.peer_id => self.sync(&document_id, &data, true).await,
            Message::Ephemeral { ref sender_id, .. } if sender_id != &self.peer_id => {
                // Other clients echo what they relayed; the original sender already has it.
                Ok(Vec::new())
            }
            Message::Ephemeral {
                ref document_id,
                ref sender_id,
                ref session_id,
                count,
                ..
            } => {
                let Ok(id) = DocumentId::parse(document_id) else {
                    return Ok(Vec::new());
                };
                let key = (sender_id.clone(), session_id.clone());
                let fresh = self
                    .ephemeral_seen
                    .get(&key)
                    .is_none_or(|seen| count > *seen);
                if fresh && self.docs.contains_key(&id) {
                    if self.ephemeral_seen.len() >= MAX_EPHEMERAL_SESSIONS {
                        self.ephemeral_seen.clear();
                    }
                    self.ephemeral_seen.insert(key, count);
                    // The phones of the other servers over the database too (PostgreSQL),
                    // without holding this socket up for the database's answer.
                    let storage = self.app.storage.clone();
                    let bytes = wire::encode(&message);
                    tokio::spawn(async move {
                        if let Err(e) = storage.announce_ephemeral(&bytes).await {
                            tracing::debug!(%e, "ephemeral message not relayed to the other servers");
                        }
                    });
                    self.app.sync.publish(Relay {
                        document: id,
                        origin: self.id,
                        message,
                    });
                }
                Ok(Vec::new())
            }
            // The peer will not share a document with us (its own access policy): noted, nothing
            // to do; the socket stays open.
            Message::DocUnavailable { ref sender_id, .. } if sender_id == &self.peer_id => {
                Ok(Vec::new())
            }
            Message::Sync { .. } | Message::Request { .. } | Message::DocUnavailable { .. } => Err(
                End::Refused("senderId differs from the peer id given in join".into()),
            ),
            Message::Join { .. } => Err(End::Refused("join sent twice on one connection".into())),
            Message::Peer { .. }
            | Message::Error { .. }
            | Message::DocReplaced { .. }
            | Message::Other { .. } => Ok(Vec::new()),
        }
    }

    async fn sync(
        &mut self,
        document_id: &str,
        data: &[u8],
        requested: bool,
    ) -> Result<Vec<Message>, End> {
        let Ok(id) = DocumentId::parse(document_id) else {
            return Ok(vec![self.unavailable(document_id)]);
        };
        let max = self.app.config.sync_message_max_bytes;
        let (message, weight) = crate::documents::DocumentService::decode_sync_message(data, max)
            .map_err(|e| match e {
            DocumentError::TooLarge(reason) => End::Refused(format!("{id}: {reason}")),
            e => End::Refused(format!("corrupt sync message for {id}: {e}")),
        })?;
        // What the message holds counts against the token (all its connections and the HTTP
        // fallback) and the server while it is handled; past that, it waits its turn.
        let _admission = self
            .app
            .sync
            .admit_waiting(
                &self.budget_key(),
                weight + data.len() as u64,
                ADMISSION_PATIENCE,
            )
            .await
            .map_err(|busy| End::Refused(busy.to_string()))?;
        if !self.docs.contains_key(&id)
            && self.docs.len() >= self.app.config.sync_documents_per_connection
        {
            return Ok(vec![self.unavailable(document_id)]);
        }
        // A revocation or sign-out through this server tells the socket at once (`replaced`);
        // one made by another process (`sansang admin devices revoke`) is seen here, at the
        // next message.
        if !self.caller.still_valid(&self.app).await.unwrap_or(false) {
            return Err(End::Revoked);
        }
        let mut state = self.docs.remove(&id).unwrap_or_default();
        let receipt = receive(
            &self.app,
            &self.caller,
            &id,
            &mut state,
            message,
            weight,
            requested,
            self.id,
        )
        .await;
        match receipt {
            Ok(Receipt::Reply { reply, held }) => {
                self.pending.remove(&id);
                // What this socket left waiting for missing dependencies, over its documents.
                if held == 0 {
                    self.held.remove(&id);
                } else {
                    self.held.insert(id.clone(), held);
                }
                let max = self.app.config.sync_held_bytes_per_connection;
                let total: u64 = self.held.values().sum();
                if total > max {
                    return Err(End::Refused(format!(
                        "changes waiting for missing dependencies on this connection hold \
                         {total} bytes, more than the {max} allowed \
                         (sync_held_bytes_per_connection); send the changes they depend on"
                    )));
                }
                if let Some(m) = &reply {
                    self.note_disclosure(&id, m).await;
                }
                let out = reply.map(|m| self.sync_message(&id, m));
                self.touched.insert(id.clone());
                self.docs.insert(id, state);
                Ok(out.into_iter().collect())
            }
            Ok(Receipt::Unavailable { unknown }) => {
                if unknown && self.pending.len() < self.app.config.sync_documents_per_connection {
                    self.pending.insert(id);
                }
                Ok(vec![self.unavailable(document_id)])
            }
            Ok(Receipt::Replaced { replaced_by }) => {
                Ok(self.told_replaced(document_id, replaced_by))
            }
            Err(SyncError::Refused(reason)) => Err(End::Refused(reason)),
            Err(SyncError::Forbidden(reason) | SyncError::TooLarge(reason)) => {
                Err(End::Refused(format!("document {id}: {reason}")))
            }
            Err(SyncError::Revoked) => Err(End::Revoked),
            Err(SyncError::Failed(reason)) => Err(End::Failed(reason)),
        }
    }

    /// Another peer changed a document: send this peer what it lacks, if the document is still
    /// (or now) the caller's: its stored scope is checked under its lock before every push, so a
    /// household moved to another hamlet stops flowing to the old hamlet's phones at once.
    async fn document_changed(&mut self, id: &DocumentId) -> Result<Vec<Message>, End> {
        if !self.pending.contains(id) && !self.docs.contains_key(id) {
            return Ok(Vec::new());
        }
        let guard = self
            .app
            .documents
            .lock(id)
            .await
            .map_err(|e| End::Failed(e.to_string()))?;
        // The scope as stored, under the document's lock: a move that committed before this
        // notice is seen.
        if !guard.scope().is_some_and(|s| may_sync(&self.caller, s)) {
            let gone = guard.scope().is_none() && !guard.stored();
            drop(guard);
            // Out of the caller's reach now: forgotten, nothing more is sent.
            let followed = self.docs.remove(id).is_some();
            if gone && followed {
                // Erased (through this server or another): the phone following it is told at
                // once what replaced it, rather than at its next edit.
                return self.replaced(id).await;
            }
            return Ok(Vec::new());
        }
        if self.pending.remove(id) {
            self.docs.insert(id.clone(), sync::State::new());
        }
        let Some(state) = self.docs.get_mut(id) else {
            return Ok(Vec::new());
        };
        let generated = guard.generate_sync_message(state);
        drop(guard);
        self.touched.insert(id.clone());
        if let Some(m) = &generated {
            self.note_disclosure(id, m).await;
        }
        Ok(generated
            .map(|m| self.sync_message(id, m))
            .into_iter()
            .collect())
    }

    /// `doc-unavailable` and `doc-replaced` for an erased document `id`, if it has a tombstone
    /// (nothing for one that is merely not stored).
    async fn replaced(&self, id: &DocumentId) -> Result<Vec<Message>, End> {
        match erased(&self.app, id).await.map_err(End::Failed)? {
            Some(Receipt::Replaced { replaced_by }) => {
                Ok(self.told_replaced(id.as_str(), replaced_by))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// What a phone holding erased `document_id` is told: unavailable, and what replaced it.
    fn told_replaced(&self, document_id: &str, replaced_by: Option<String>) -> Vec<Message> {
        vec![
            self.unavailable(document_id),
            Message::DocReplaced {
                sender_id: self.app.sync.peer_id.clone(),
                target_id: self.peer_id.clone(),
                document_id: document_id.to_owned(),
                replaced_by,
            },
        ]
    }

    /// After missing notifications: offer every document again.
    async fn resync_all(&mut self) -> Result<Vec<Message>, End> {
        let ids: Vec<DocumentId> = self
            .docs
            .keys()
            .chain(self.pending.iter())
            .cloned()
            .collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.document_changed(&id).await?);
        }
        Ok(out)
    }

    /// An ephemeral message from another connection, for this peer if it syncs the document.
    fn relay(&self, relay: &Relay) -> Option<Message> {
        if relay.origin == self.id || !self.docs.contains_key(&relay.document) {
            return None;
        }
        match &relay.message {
            Message::Ephemeral {
                sender_id,
                document_id,
                count,
                session_id,
                data,
                ..
            } if sender_id != &self.peer_id => Some(Message::Ephemeral {
                sender_id: sender_id.clone(),
                target_id: self.peer_id.clone(),
                document_id: document_id.clone(),
                count: *count,
                session_id: session_id.clone(),
                data: data.clone(),
            }),
            _ => None,
        }
    }
}
