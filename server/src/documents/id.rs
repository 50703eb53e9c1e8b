//! automerge-repo document ids: bs58check of 16 random bytes, shown as `automerge:<id>` URLs.

use std::fmt;

/// A validated automerge-repo document id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an automerge-repo document id: {0}")]
pub struct InvalidDocumentId(String);

impl DocumentId {
    /// A new random id, as automerge-repo makes them.
    pub fn random() -> Self {
        Self::from_bytes(*uuid::Uuid::new_v4().as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DocumentId(bs58::encode(bytes).with_check().into_string())
    }

    /// Accepts the bare id or an `automerge:` URL; the checksum and the length are checked.
    pub fn parse(text: &str) -> Result<Self, InvalidDocumentId> {
        let bare = text.strip_prefix("automerge:").unwrap_or(text);
        let invalid = || InvalidDocumentId(text.chars().take(64).collect());
        if bare.len() > 64 {
            return Err(invalid());
        }
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| invalid())?;
        if bytes.len() != 16 {
            return Err(invalid());
        }
        Ok(DocumentId(bare.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn url(&self) -> String {
        format!("automerge:{}", self.0)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_ids() {
        let id = DocumentId::random();
        assert_eq!(DocumentId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(DocumentId::parse(&id.url()), Ok(id.clone()));
        let mut broken = id.as_str().to_owned();
        let last = broken.pop().unwrap();
        broken.push(if last == '2' { '3' } else { '2' });
        assert!(DocumentId::parse(&broken).is_err());
        assert!(DocumentId::parse("../../etc/passwd").is_err());
        assert!(DocumentId::parse("").is_err());
        let eight = bs58::encode([1u8; 8]).with_check().into_string();
        assert!(DocumentId::parse(&eight).is_err());
    }
}
