//! Secrets and how they are handled: Argon2id password hashes, random opaque tokens and
//! their SHA-256 digests, and constant-time comparison.
//!
//! Called by the HTTP auth handlers, the CLI and the demo data; CPU-heavy functions
//! (hashing, verifying) must run off the async threads. Imports nothing of the project but
//! `domain`.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::people::Password;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("the operating system's random generator failed: {0}")]
    Random(getrandom::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with Argon2id and a random salt into a PHC string.
pub fn hash_password(password: &Password) -> Result<String, SecurityError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| SecurityError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the login does not exist, so that an unknown login takes
/// as long as a wrong password and timing does not tell which logins exist.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        new_password()
            .ok()
            .and_then(|raw| Password::parse(&raw).ok())
            .and_then(|password| hash_password(&password).ok())
            .unwrap_or_default()
    })
}

/// A new opaque token: 32 random bytes (256 bits), as 43 characters of base64url.
pub fn new_token() -> Result<String, SecurityError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(SecurityError::Random)?;
    Ok(base64url(&bytes))
}

/// A random password a person can type: 20 characters of letters and digits (~119 bits).
pub fn new_password() -> Result<String, SecurityError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(SecurityError::Random)?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// The SHA-256 of a token: what the database stores and looks tokens up by.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password("anything", dummy_password_hash()));
    }

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert_eq!(token_digest(&a).len(), 32);
    }

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn generated_passwords_are_long_and_typable() {
        let password = new_password().unwrap();
        assert_eq!(password.len(), 20);
        assert!(Password::parse(&password).is_ok());
    }
}
