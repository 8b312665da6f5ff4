//! Secrets we issue (API tokens, refresh tokens, invitation tokens, auth codes, OAuth state)
//! are random, shown to their owner once, and stored only as SHA-256 digests. A stolen
//! database therefore holds nothing that authenticates. Looking a secret up by its digest is
//! safe against timing attacks: the attacker does not control the digest's bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh random secret of `bytes` random bytes (≥ 16, i.e. ≥ 128 bits), URL-safe base64.
pub fn generate(bytes: usize) -> String {
    let bytes = bytes.max(16);
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The SHA-256 digest under which a secret is stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // `ct_eq` on slices of different lengths returns false at once; lengths are not secret.
    a.ct_eq(b).into()
}

/// A secret value from configuration (keys, passwords, tokens). It cannot be printed by
/// accident: `Debug` and `Display` show `[redacted]`; [`Secret::expose`] is the one way in.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_distinct_and_long_enough() {
        let a = generate(32);
        let b = generate(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes are 43 base64 characters");
        assert_eq!(generate(1).len(), 22, "never fewer than 128 bits");
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}
