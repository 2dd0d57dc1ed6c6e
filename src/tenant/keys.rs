//! API keys: only their SHA-256 is kept, and a presented key is compared
//! with every stored hash in constant time.
//!
//! SHA-256 rather than a slow password hash: keys are 256 random bits made
//! by `goru key`, so there is nothing to brute-force, and every request pays
//! the hash.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A stored key hash.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even a hash is not for logs.
        f.write_str("KeyHash(..)")
    }
}

/// Keys shorter than this are refused at start-up: a guessable key is no key.
pub const MIN_KEY_BYTES: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is not 64 hexadecimal digits (the SHA-256 of a key, as `goru key` prints it)")]
    BadHash,
    #[error("holds a key shorter than {MIN_KEY_BYTES} bytes")]
    TooShort,
}

impl KeyHash {
    pub fn of_key(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// A key from configuration (an environment variable), checked for length.
    pub fn of_configured_key(key: &str) -> Result<Self, KeyError> {
        if key.trim().len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(Self::of_key(key.trim()))
    }

    pub fn parse_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let text = text.strip_prefix("sha256:").unwrap_or(text);
        if text.len() != 64 || !text.is_ascii() {
            return Err(KeyError::BadHash);
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| KeyError::BadHash)?;
        }
        Ok(Self(out))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The index of the entry whose hash is `key`'s. Every entry is compared,
/// whatever matched first, so the time taken says nothing about which.
pub fn find<T>(entries: &[(KeyHash, T)], key: &str) -> Option<usize> {
    let presented = KeyHash::of_key(key);
    let mut found = None;
    for (i, (hash, _)) in entries.iter().enumerate() {
        if bool::from(hash.0.ct_eq(&presented.0)) {
            found = Some(i);
        }
    }
    found
}

/// A new random key (256 bits, hex) for `goru key`.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "goru_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_only() {
        let entries = vec![
            (KeyHash::of_key("first-key-0123456789"), "a"),
            (KeyHash::of_key("second-key-0123456789"), "b"),
        ];
        assert_eq!(find(&entries, "second-key-0123456789"), Some(1));
        assert_eq!(find(&entries, "second-key-012345678"), None);
        assert_eq!(find(&entries, ""), None);
    }

    #[test]
    fn hex_round_trips_and_bad_hex_is_refused() {
        let hash = KeyHash::of_key("k");
        assert_eq!(KeyHash::parse_hex(&hash.to_hex()), Ok(hash.clone()));
        assert_eq!(
            KeyHash::parse_hex(&format!("sha256:{}", hash.to_hex())),
            Ok(hash)
        );
        assert_eq!(KeyHash::parse_hex("abc"), Err(KeyError::BadHash));
        assert_eq!(KeyHash::parse_hex(&"zz".repeat(32)), Err(KeyError::BadHash));
        assert_eq!(KeyHash::of_configured_key("short"), Err(KeyError::TooShort));
    }

    #[test]
    fn generated_keys_differ_and_are_long() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 64);
    }
}
