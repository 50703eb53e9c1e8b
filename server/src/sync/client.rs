//! A Rust client of the sync protocol, for `sansang simulate` and the tests: it joins like an
//! automerge-repo peer and syncs documents with the real Automerge sync protocol.

use std::collections::HashMap;
use std::time::Duration;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::wire::{self, Message, PeerMetadata};
use crate::documents::DocumentId;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting: {0}")]
    Connect(String),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the connection closed")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("the server does not have or share document {0}")]
    Unavailable(String),
    /// The document was erased; the server refuses its old history.
    #[error("document {document} was erased and replaced by {replaced_by:?}")]
    Replaced {
        document: String,
        replaced_by: Option<String>,
    },
}

/// Most message round trips one document's sync may take; real syncs need a handful.
const MAX_ROUNDS: usize = 1000;

/// How long to wait for the server's next message.
const WAIT: Duration = Duration::from_secs(10);

pub struct SyncClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub peer_id: String,
    pub server_peer_id: String,
    pub server_metadata: PeerMetadata,
    states: HashMap<DocumentId, sync::State>,
    /// Sync messages that arrived for one document while another was being exchanged, applied
    /// when that document is next synced: dropping them would leave the sync states believing
    /// they were delivered, and the two sides would never agree.
    pending: HashMap<String, Vec<Vec<u8>>>,
    /// How long to wait for the server's next message.
    wait: Duration,
}

impl SyncClient {
    /// Connects to `url` (`ws://host:port/api/v1/sync`) with `token` in the query string, as the
    /// JavaScript client does, and completes the handshake.
    pub async fn connect(url: &str, token: &str, peer_id: &str) -> Result<SyncClient, ClientError> {
        let url = format!("{url}?token={token}");
        // Nagle off: a small sync message goes out at once instead of waiting for an ACK.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let mut client = SyncClient {
            socket,
            peer_id: peer_id.to_owned(),
            server_peer_id: String::new(),
            server_metadata: PeerMetadata::default(),
            states: HashMap::new(),
            pending: HashMap::new(),
            wait: WAIT,
        };
        client
            .send(&Message::Join {
                sender_id: peer_id.to_owned(),
                metadata: PeerMetadata {
                    storage_id: None,
                    is_ephemeral: Some(true),
                },
                supported_versions: Some(vec![wire::PROTOCOL_VERSION.into()]),
            })
            .await?;
        match client.recv().await? {
            Message::Peer {
                sender_id,
                metadata,
                ..
            } => {
                client.server_peer_id = sender_id;
                client.server_metadata = metadata;
                Ok(client)
            }
            other => Err(ClientError::Protocol(format!(
                "expected peer, got {other:?}"
            ))),
        }
    }

    /// Sends raw bytes as one binary frame (for tests of bad input).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.socket
            .send(Frame::Binary(bytes.into()))
            .await
            .map_err(|_| ClientError::Closed)
    }

    pub async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        self.send_raw(wire::encode(message)).await
    }

    /// The next protocol message; an `error` from the server is returned as `Refused`.
    pub async fn recv(&mut self) -> Result<Message, ClientError> {
        loop {
            let frame = tokio::time::timeout(self.wait, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(self.wait))?;
            match frame {
                Some(Ok(Frame::Binary(bytes))) => {
                    return match wire::decode(&bytes) {
                        Ok(Message::Error { message, .. }) => Err(ClientError::Refused(message)),
                        Ok(m) => Ok(m),
                        Err(e) => Err(ClientError::Protocol(e.to_string())),
                    };
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return Err(ClientError::Closed),
                Some(Ok(_)) => continue,
            }
        }
    }

    fn envelope(&self, id: &DocumentId, data: Vec<u8>, request: bool) -> Message {
        let (sender_id, target_id, document_id) = (
            self.peer_id.clone(),
            self.server_peer_id.clone(),
            id.to_string(),
        );
        if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        }
    }

    /// This client's sync state for a document, for tests that set up what a peer believes
    /// (for instance that the server already has a change, as a Bloom filter's false positive
    /// would make it believe).
    pub fn state_mut(&mut self, id: &DocumentId) -> &mut sync::State {
        self.states.entry(id.clone()).or_default()
    }

    /// Waits up to `wait` for each message from now on (10 s by default).
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Syncs `doc` with the server until both hold the same heads. The server acknowledges a
    /// change only once it is durable, so when this returns every local change is stored.
    pub async fn sync_document(
        &mut self,
        id: &DocumentId,
        doc: &mut Automerge,
    ) -> Result<(), ClientError> {
        self.exchange(id, doc, false).await
    }

    /// Asks for a document this client does not have; `Unavailable` when the server has none
    /// or may not share it.
    pub async fn request_document(&mut self, id: &DocumentId) -> Result<Automerge, ClientError> {
        let mut doc = Automerge::new();
        // Asked again, it starts from nothing: what an earlier exchange told the server no
        // longer describes this empty copy.
        self.states.remove(id);
        self.exchange(id, &mut doc, true).await?;
        Ok(doc)
    }

    async fn exchange(
        &mut self,
        id: &DocumentId,
        doc: &mut Automerge,
        request: bool,
    ) -> Result<(), ClientError> {
        // What the server sent for this document meanwhile comes first.
        for data in self.pending.remove(id.as_str()).unwrap_or_default() {
            let message =
                sync::Message::decode(&data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            let state = self.states.entry(id.clone()).or_default();
            doc.receive_sync_message(state, message)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
        }
        let mut first = true;
        for _ in 0..MAX_ROUNDS {
            let state = self.states.entry(id.clone()).or_default();
            if let Some(message) = doc.generate_sync_message(state) {
                let envelope = self.envelope(id, message.encode(), request && first);
                first = false;
                self.send(&envelope).await?;
            }
            let state = self.states.entry(id.clone()).or_default();
            if in_sync(doc, state) {
                return Ok(());
            }
            // Wait for this document's next message; others are left for their own exchange.
            loop {
                match self.recv().await? {
                    Message::Sync {
                        document_id, data, ..
                    } if document_id == id.as_str() => {
                        let message = sync::Message::decode(&data)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?;
                        let state = self.states.entry(id.clone()).or_default();
                        doc.receive_sync_message(state, message)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?;
                        break;
                    }
                    Message::DocUnavailable { document_id, .. } if document_id == id.as_str() => {
                        // A doc-replaced may follow at once: it says more.
                        match tokio::time::timeout(Duration::from_millis(200), self.recv()).await {
                            Ok(Ok(Message::DocReplaced {
                                document_id,
                                replaced_by,
                                ..
                            })) => {
                                return Err(ClientError::Replaced {
                                    document: document_id,
                                    replaced_by,
                                });
                            }
                            Ok(Ok(Message::Sync {
                                document_id: other,
                                data,
                                ..
                            })) => self.pending.entry(other).or_default().push(data),
                            _ => {}
                        }
                        return Err(ClientError::Unavailable(document_id));
                    }
                    Message::Sync {
                        document_id, data, ..
                    } => {
                        self.pending.entry(document_id).or_default().push(data);
                    }
                    _ => continue,
                }
            }
        }
        Err(ClientError::Protocol(format!(
            "{id} did not converge in {MAX_ROUNDS} rounds"
        )))
    }

    /// Waits for the server to push changes of `id` made by someone else, and applies them.
    pub async fn receive_push(
        &mut self,
        id: &DocumentId,
        doc: &mut Automerge,
    ) -> Result<(), ClientError> {
        if let Some(mut waiting) = self.pending.remove(id.as_str())
            && !waiting.is_empty()
        {
            let data = waiting.remove(0);
            if !waiting.is_empty() {
                self.pending.insert(id.to_string(), waiting);
            }
            let message =
                sync::Message::decode(&data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            let state = self.states.entry(id.clone()).or_default();
            doc.receive_sync_message(state, message)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            return self.sync_document(id, doc).await;
        }
        loop {
            if let Message::Sync {
                document_id, data, ..
            } = self.recv().await?
            {
                if document_id != id.as_str() {
                    self.pending.entry(document_id).or_default().push(data);
                    continue;
                }
                let message = sync::Message::decode(&data)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                let state = self.states.entry(id.clone()).or_default();
                doc.receive_sync_message(state, message)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                return self.sync_document(id, doc).await;
            }
        }
    }
}

/// The server told us it has exactly our heads (it says so only once they are durable).
fn in_sync(doc: &Automerge, state: &sync::State) -> bool {
    let mut ours: Vec<ChangeHash> = doc.get_heads();
    ours.sort();
    let theirs = state.their_heads.clone().map(|mut h| {
        h.sort();
        h
    });
    theirs.as_deref() == Some(ours.as_slice())
}
