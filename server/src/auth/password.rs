//! Password hashing with argon2id (PHC strings), and readable random passwords for new accounts.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;

/// Longer passwords are refused before hashing, so a megabyte of input costs nothing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes with argon2id and a random salt. CPU-heavy: call from `spawn_blocking` in servers.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
}

/// A random password of 14 characters without look-alikes (no 0/O, 1/l/I), easy to read aloud
/// and type on a phone; about 80 bits.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..14)
        .map(|i| {
            if i > 0 && i % 5 == 4 {
                '-'
            } else {
                ALPHABET[rng.random_range(0..ALPHABET.len())] as char
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("mật khẩu đúng").unwrap();
        let b = hash("mật khẩu đúng").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("mật khẩu đúng", &a));
        assert!(!verify("mật khẩu sai", &a));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn huge_passwords_are_refused() {
        let huge = "x".repeat(1 << 20);
        assert!(matches!(hash(&huge), Err(PasswordError::TooLong)));
        assert!(!verify(&huge, &hash("x").unwrap()));
    }

    #[test]
    fn generated_passwords_are_readable() {
        let p = generate();
        assert_eq!(p.len(), 14);
        assert_eq!(p.matches('-').count(), 2);
        assert!(!p.contains(['0', 'o', '1', 'l']));
    }
}
