//! Secrets handed to people and phones: bearer tokens and one-time enrollment codes. Only their
//! sha256 is ever stored, so a copy of the database signs nobody in.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Prefix of a signed-in person's session token.
pub const SESSION_PREFIX: &str = "ss_";
/// Prefix of an enrolled phone's device token.
pub const DEVICE_PREFIX: &str = "sd_";
/// Longer bearer values are refused before any lookup.
pub const MAX_TOKEN_LEN: usize = 128;

/// A new token: the prefix and 256 random bits in hex.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the database stores for a token or a normalised code.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Characters of enrollment codes: upper case, no look-alikes (0/O, 1/I/L), read aloud easily.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A one-time enrollment code like `K7QM-3XWD-PH9T` (about 59 bits; single use, expiring and
/// throttled, so guessing is hopeless).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..12)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The code as typed by a person (any case, spaces or dashes) in its canonical form.
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token(DEVICE_PREFIX);
        let b = new_token(DEVICE_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn codes_survive_how_people_type_them() {
        let code = new_code();
        assert_eq!(code.len(), 14);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(normalise_code(&typed), normalise_code(&code));
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
    }
}
