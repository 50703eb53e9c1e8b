//! The automerge-repo WebSocket wire format: one CBOR map per binary frame (docs/sync-protocol.md).
//!
//! Decoding is tolerant where the JavaScript peer is loose (any definite map header, `undefined`
//! for absent fields, byte strings tagged or not, numbers as integers or floats, `peerMetadata`
//! or `metadata`) and strict where it matters: a missing or mistyped field is an error naming
//! the field.

use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};

/// Protocol version this server speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// Peer metadata announced in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    pub storage_id: Option<String>,
    pub is_ephemeral: Option<bool>,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Join {
        sender_id: String,
        metadata: PeerMetadata,
        /// `None` when the client sent no list, which means version "1".
        supported_versions: Option<Vec<String>>,
    },
    Peer {
        sender_id: String,
        target_id: String,
        metadata: PeerMetadata,
        selected_version: String,
    },
    Error {
        sender_id: String,
        target_id: String,
        message: String,
    },
    /// The first sync message of a peer that has no copy of the document.
    Request {
        sender_id: String,
        target_id: String,
        document_id: String,
        data: Vec<u8>,
    },
    Sync {
        sender_id: String,
        target_id: String,
        document_id: String,
        data: Vec<u8>,
    },
    DocUnavailable {
        sender_id: String,
        target_id: String,
        document_id: String,
    },
    /// sansang's own: the document was erased at a person's request and its old history is
    /// refused; `replaced_by` (an `automerge:` URL) holds what remains, if anything. Peers that
    /// do not know the type ignore it after the `doc-unavailable` sent with it.
    DocReplaced {
        sender_id: String,
        target_id: String,
        document_id: String,
        replaced_by: Option<String>,
    },
    Ephemeral {
        sender_id: String,
        target_id: String,
        document_id: String,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    /// Messages this server reads but does not act on: `leave`, remote-heads gossip, and
    /// types from newer versions.
    Other {
        kind: String,
        sender_id: Option<String>,
    },
}

impl Message {
    /// The `senderId`, which every message but an unknown one carries.
    pub fn sender_id(&self) -> Option<&str> {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Error { sender_id, .. }
            | Message::Request { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::DocReplaced { sender_id, .. }
            | Message::Ephemeral { sender_id, .. } => Some(sender_id),
            Message::Other { sender_id, .. } => sender_id.as_deref(),
        }
    }
}

/// Longest text field a peer may send (`senderId`, `documentId`, `sessionId`…).
pub const MAX_TEXT_BYTES: usize = 1024;

/// Why a frame could not be read, naming the field at fault where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a CBOR map: {0}")]
    NotAMap(String),
    #[error("field `{field}`: {reason}")]
    Field { field: &'static str, reason: String },
}

/// A decoded field value; only the shapes the protocol uses.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Absent,
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Number(f64),
    Texts(Vec<String>),
    Metadata(PeerMetadata),
    Unsupported(&'static str),
}

struct Fields(Vec<(String, Value)>);

impl Fields {
    fn get(&self, key: &str) -> &Value {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Value::Absent, |(_, v)| v)
    }

    fn text(&self, field: &'static str) -> Result<String, WireError> {
        match self.get(field) {
            // Ids, versions and session ids are short; nothing a peer sends is kept longer.
            Value::Text(t) if t.len() > MAX_TEXT_BYTES => Err(WireError::Field {
                field,
                reason: format!("longer than {MAX_TEXT_BYTES} bytes"),
            }),
            Value::Text(t) => Ok(t.clone()),
            other => Err(expected(field, "text", other)),
        }
    }

    fn optional_text(&self, field: &'static str) -> Result<Option<String>, WireError> {
        match self.get(field) {
            Value::Absent => Ok(None),
            _ => self.text(field).map(Some),
        }
    }

    fn bytes(&self, field: &'static str) -> Result<Vec<u8>, WireError> {
        match self.get(field) {
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(expected(field, "a byte string", other)),
        }
    }

    fn count(&self, field: &'static str) -> Result<u64, WireError> {
        match self.get(field) {
            Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => Ok(*n as u64),
            other => Err(expected(field, "a whole number", other)),
        }
    }
}

fn expected(field: &'static str, what: &str, got: &Value) -> WireError {
    let got = match got {
        Value::Absent => "nothing".to_owned(),
        Value::Unsupported(kind) => (*kind).to_owned(),
        other => format!("{other:?}").chars().take(40).collect(),
    };
    WireError::Field {
        field,
        reason: format!("expected {what}, found {got}"),
    }
}

fn cbor_error(field: &'static str) -> impl Fn(minicbor::decode::Error) -> WireError {
    move |e| WireError::Field {
        field,
        reason: e.to_string(),
    }
}

/// Reads one value, skipping (and marking) shapes the protocol never uses.
fn value(d: &mut Decoder<'_>, field: &'static str, depth: u8) -> Result<Value, WireError> {
    let err = cbor_error(field);
    let kind = d.datatype().map_err(&err)?;
    Ok(match kind {
        Type::Undefined | Type::Null => {
            d.skip().map_err(&err)?;
            Value::Absent
        }
        Type::String => Value::Text(d.str().map_err(&err)?.to_owned()),
        Type::Bytes => Value::Bytes(d.bytes().map_err(&err)?.to_vec()),
        Type::Tag => {
            let tag = d.tag().map_err(&err)?;
            // cbor-x on Node may tag a Uint8Array with 64; any other tag is not ours.
            if tag == Tag::new(64) && d.datatype().map_err(&err)? == Type::Bytes {
                Value::Bytes(d.bytes().map_err(&err)?.to_vec())
            } else {
                d.skip().map_err(&err)?;
                Value::Unsupported("a tagged value")
            }
        }
        Type::Bool => Value::Bool(d.bool().map_err(&err)?),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
            Value::Number(d.u64().map_err(&err)? as f64)
        }
        Type::F16 | Type::F32 | Type::F64 => Value::Number(d.f64().map_err(&err)?),
        Type::Array if depth == 0 => {
            let n = d.array().map_err(&err)?.unwrap_or(0);
            let mut texts = Vec::new();
            for _ in 0..n.min(64) {
                match value(d, field, depth + 1)? {
                    Value::Text(t) => texts.push(t),
                    _ => return Ok(Value::Unsupported("an array of non-text")),
                }
            }
            for _ in 64..n {
                d.skip().map_err(&err)?;
            }
            Value::Texts(texts)
        }
        Type::Map if depth == 0 => {
            let inner = map_fields(d, depth + 1)?;
            let storage_id = inner.optional_text("storageId")?;
            let is_ephemeral = match inner.get("isEphemeral") {
                Value::Bool(b) => Some(*b),
                _ => None,
            };
            Value::Metadata(PeerMetadata {
                storage_id,
                is_ephemeral,
            })
        }
        _ => {
            d.skip().map_err(&err)?;
            Value::Unsupported("an unsupported CBOR item")
        }
    })
}

fn map_fields(d: &mut Decoder<'_>, depth: u8) -> Result<Fields, WireError> {
    let len = match d.datatype() {
        Ok(Type::Map) => d
            .map()
            .map_err(|e| WireError::NotAMap(e.to_string()))?
            .ok_or_else(|| WireError::NotAMap("indefinite-length map".into()))?,
        Ok(other) => return Err(WireError::NotAMap(format!("found {other}"))),
        Err(e) => return Err(WireError::NotAMap(e.to_string())),
    };
    let mut fields = Vec::new();
    for _ in 0..len.min(64) {
        let key = d
            .str()
            .map_err(|e| WireError::NotAMap(format!("a key that is not text: {e}")))?
            .to_owned();
        let field = known_field(&key);
        let v = value(d, field, depth)?;
        fields.push((key, v));
    }
    if len > 64 {
        return Err(WireError::NotAMap(format!("{len} keys is too many")));
    }
    Ok(Fields(fields))
}

/// Field names as static strings, so errors can name them without allocating.
fn known_field(key: &str) -> &'static str {
    const KNOWN: [&str; 14] = [
        "type",
        "senderId",
        "targetId",
        "documentId",
        "data",
        "peerMetadata",
        "metadata",
        "supportedProtocolVersions",
        "selectedProtocolVersion",
        "message",
        "count",
        "sessionId",
        "storageId",
        "isEphemeral",
    ];
    KNOWN
        .iter()
        .find(|k| **k == key)
        .copied()
        .unwrap_or("(unknown key)")
}

/// Decodes one frame.
pub fn decode(frame: &[u8]) -> Result<Message, WireError> {
    let mut d = Decoder::new(frame);
    let f = map_fields(&mut d, 0)?;
    let kind = f.text("type")?;
    let sender = || f.text("senderId");
    let target = || f.text("targetId");
    let document = || f.text("documentId");
    Ok(match kind.as_str() {
        "join" => {
            let metadata = match (f.get("peerMetadata"), f.get("metadata")) {
                (Value::Metadata(m), _) | (_, Value::Metadata(m)) => m.clone(),
                _ => PeerMetadata::default(),
            };
            let supported_versions = match f.get("supportedProtocolVersions") {
                Value::Absent => None,
                Value::Texts(v) => Some(v.clone()),
                other => {
                    return Err(expected(
                        "supportedProtocolVersions",
                        "a list of text",
                        other,
                    ));
                }
            };
            Message::Join {
                sender_id: sender()?,
                metadata,
                supported_versions,
            }
        }
        "peer" => Message::Peer {
            sender_id: sender()?,
            target_id: target()?,
            metadata: match f.get("peerMetadata") {
                Value::Metadata(m) => m.clone(),
                _ => PeerMetadata::default(),
            },
            selected_version: f.text("selectedProtocolVersion")?,
        },
        "error" => Message::Error {
            sender_id: sender()?,
            target_id: target()?,
            message: f.text("message")?,
        },
        "request" | "sync" => {
            let (sender_id, target_id) = (sender()?, target()?);
            let (document_id, data) = (document()?, f.bytes("data")?);
            if kind == "request" {
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
        "doc-unavailable" => Message::DocUnavailable {
            sender_id: sender()?,
            target_id: target()?,
            document_id: document()?,
        },
        "doc-replaced" => Message::DocReplaced {
            sender_id: sender()?,
            target_id: target()?,
            document_id: document()?,
            replaced_by: f.optional_text("replacedBy")?,
        },
        "ephemeral" => Message::Ephemeral {
            sender_id: sender()?,
            target_id: target()?,
            document_id: document()?,
            count: f.count("count")?,
            session_id: f.text("sessionId")?,
            data: f.bytes("data")?,
        },
        _ => Message::Other {
            sender_id: f.optional_text("senderId")?,
            kind,
        },
    })
}

/// Encodes a message as the JavaScript peer expects: text keys, untagged definite byte strings.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    // Writing into a Vec cannot fail; the results are checked to satisfy the types only.
    let _ = write(&mut e, message);
    e.into_writer()
}

fn write(
    e: &mut Encoder<Vec<u8>>,
    message: &Message,
) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    let metadata = |e: &mut Encoder<Vec<u8>>, m: &PeerMetadata| {
        let n = u64::from(m.storage_id.is_some()) + u64::from(m.is_ephemeral.is_some());
        e.str("peerMetadata")?.map(n)?;
        if let Some(id) = &m.storage_id {
            e.str("storageId")?.str(id)?;
        }
        if let Some(eph) = m.is_ephemeral {
            e.str("isEphemeral")?.bool(eph)?;
        }
        Ok::<_, minicbor::encode::Error<std::convert::Infallible>>(())
    };
    match message {
        Message::Join {
            sender_id,
            metadata: m,
            supported_versions,
        } => {
            e.map(if supported_versions.is_some() { 4 } else { 3 })?;
            e.str("type")?
                .str("join")?
                .str("senderId")?
                .str(sender_id)?;
            metadata(e, m)?;
            if let Some(versions) = supported_versions {
                e.str("supportedProtocolVersions")?
                    .array(versions.len() as u64)?;
                for v in versions {
                    e.str(v)?;
                }
            }
        }
        Message::Peer {
            sender_id,
            target_id,
            metadata: m,
            selected_version,
        } => {
            e.map(5)?;
            e.str("type")?
                .str("peer")?
                .str("senderId")?
                .str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            metadata(e, m)?;
            e.str("selectedProtocolVersion")?.str(selected_version)?;
        }
        Message::Error {
            sender_id,
            target_id,
            message,
        } => {
            e.map(4)?.str("type")?.str("error")?;
            e.str("senderId")?
                .str(sender_id)?
                .str("targetId")?
                .str(target_id)?;
            e.str("message")?.str(message)?;
        }
        Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        }
        | Message::Sync {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            let kind = if matches!(message, Message::Request { .. }) {
                "request"
            } else {
                "sync"
            };
            e.map(5)?.str("type")?.str(kind)?;
            e.str("senderId")?
                .str(sender_id)?
                .str("targetId")?
                .str(target_id)?;
            e.str("documentId")?
                .str(document_id)?
                .str("data")?
                .bytes(data)?;
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => {
            e.map(4)?.str("type")?.str("doc-unavailable")?;
            e.str("senderId")?
                .str(sender_id)?
                .str("targetId")?
                .str(target_id)?;
            e.str("documentId")?.str(document_id)?;
        }
        Message::DocReplaced {
            sender_id,
            target_id,
            document_id,
            replaced_by,
        } => {
            e.map(if replaced_by.is_some() { 5 } else { 4 })?
                .str("type")?
                .str("doc-replaced")?;
            e.str("senderId")?
                .str(sender_id)?
                .str("targetId")?
                .str(target_id)?;
            e.str("documentId")?.str(document_id)?;
            if let Some(url) = replaced_by {
                e.str("replacedBy")?.str(url)?;
            }
        }
        Message::Ephemeral {
            sender_id,
            target_id,
            document_id,
            count,
            session_id,
            data,
        } => {
            e.map(7)?.str("type")?.str("ephemeral")?;
            e.str("senderId")?
                .str(sender_id)?
                .str("targetId")?
                .str(target_id)?;
            e.str("documentId")?
                .str(document_id)?
                .str("count")?
                .u64(*count)?;
            e.str("sessionId")?
                .str(session_id)?
                .str("data")?
                .bytes(data)?;
        }
        Message::Other { kind, sender_id } => {
            e.map(if sender_id.is_some() { 2 } else { 1 })?
                .str("type")?
                .str(kind)?;
            if let Some(s) = sender_id {
                e.str("senderId")?.str(s)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The `join` a JS 2.5.6 client without storage sends, captured on a live socket.
    const JOIN: &str = "b900046474797065646a6f696e6873656e646572496466706565722d426c706565724d65746164617461b900026973746f726167654964f76b6973457068656d6572616cf57819737570706f7274656450726f746f636f6c56657273696f6e73816131";

    #[test]
    fn reads_a_captured_javascript_join() {
        let m = decode(&hex(JOIN)).unwrap();
        assert_eq!(
            m,
            Message::Join {
                sender_id: "peer-B".into(),
                metadata: PeerMetadata {
                    storage_id: None,
                    is_ephemeral: Some(true)
                },
                supported_versions: Some(vec!["1".into()]),
            }
        );
    }

    #[test]
    fn round_trips_every_message() {
        let messages = [
            Message::Peer {
                sender_id: "sansang".into(),
                target_id: "peer-B".into(),
                metadata: PeerMetadata {
                    storage_id: Some("26e53fb6-c48e-44db-bf88-1664843409a5".into()),
                    is_ephemeral: Some(false),
                },
                selected_version: "1".into(),
            },
            Message::Sync {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: "doc".into(),
                data: vec![0x42, 0, 1],
            },
            Message::Request {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: "doc".into(),
                data: vec![0x42],
            },
            Message::DocUnavailable {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: "doc".into(),
            },
            Message::Ephemeral {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: "doc".into(),
                count: 7,
                session_id: "s".into(),
                data: vec![1, 2],
            },
            Message::Error {
                sender_id: "a".into(),
                target_id: "b".into(),
                message: "unsupported protocol version".into(),
            },
        ];
        for m in messages {
            assert_eq!(decode(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn bad_frames_name_what_is_wrong() {
        assert!(matches!(decode(b"hello"), Err(WireError::NotAMap(_))));
        assert!(matches!(decode(&[]), Err(WireError::NotAMap(_))));
        // {"type": "sync", "senderId": "a"}: no targetId.
        let mut e = Encoder::new(Vec::new());
        e.map(2).unwrap().str("type").unwrap().str("sync").unwrap();
        e.str("senderId").unwrap().str("a").unwrap();
        let err = decode(&e.into_writer()).unwrap_err();
        assert_eq!(
            err,
            WireError::Field {
                field: "targetId",
                reason: "expected text, found nothing".into()
            }
        );
        // `data` as text instead of bytes.
        let mut e = Encoder::new(Vec::new());
        e.map(5).unwrap().str("type").unwrap().str("sync").unwrap();
        for (k, v) in [
            ("senderId", "a"),
            ("targetId", "b"),
            ("documentId", "d"),
            ("data", "x"),
        ] {
            e.str(k).unwrap().str(v).unwrap();
        }
        let err = decode(&e.into_writer()).unwrap_err();
        assert!(
            matches!(err, WireError::Field { field: "data", .. }),
            "{err}"
        );
        // Deep nesting is skipped without recursion.
        let mut nested = vec![0xa2, 0x64, b't', b'y', b'p', b'e', 0x61, b'x', 0x61, b'z'];
        nested.extend(std::iter::repeat_n(0x81, 100_000));
        nested.push(0x01);
        assert!(matches!(decode(&nested), Ok(Message::Other { .. })));
    }

    #[test]
    fn tagged_bytes_and_float_counts_are_accepted() {
        let mut e = Encoder::new(Vec::new());
        e.map(7)
            .unwrap()
            .str("type")
            .unwrap()
            .str("ephemeral")
            .unwrap();
        for (k, v) in [
            ("senderId", "a"),
            ("targetId", "b"),
            ("documentId", "d"),
            ("sessionId", "s"),
        ] {
            e.str(k).unwrap().str(v).unwrap();
        }
        e.str("count").unwrap().f64(3.0).unwrap();
        e.str("data")
            .unwrap()
            .tag(Tag::new(64))
            .unwrap()
            .bytes(&[9])
            .unwrap();
        let m = decode(&e.into_writer()).unwrap();
        assert!(matches!(m, Message::Ephemeral { count: 3, ref data, .. } if data == &[9]));
    }
}
