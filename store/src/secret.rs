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

/// Seals secrets we must be able to read back (provider access and refresh tokens, a Google
/// access token travelling in a job payload) with ChaCha20-Poly1305 under a key derived from the
/// application's `SECRET_KEY`. Redis and the database hold only the sealed form; API and
/// workers share the key through their configuration. Changing `SECRET_KEY` makes sealed
/// values unreadable: stored provider tokens are then refreshed by signing in again.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<ring::aead::LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// A sealed value that does not open: wrong key, or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("the sealed value cannot be opened (SECRET_KEY changed, or the value was altered)")]
pub struct Unsealable;

struct KeyLen;

impl ring::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    /// The sealer of `secret_key`; `purpose` separates keys derived for different uses.
    pub fn new(secret_key: &Secret, purpose: &str) -> Self {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"concierge sealing v1");
        let prk = salt.extract(secret_key.expose().as_bytes());
        let info = [purpose.as_bytes()];
        let mut bytes = [0u8; 32];
        // Both calls fail only for lengths over 255 × 32 bytes; ours is 32.
        if let Ok(okm) = prk.expand(&info, KeyLen) {
            let _ = okm.fill(&mut bytes);
        }
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &bytes)
            .unwrap_or_else(|_| unreachable!("a 32-byte key fits ChaCha20-Poly1305"));
        Self {
            key: std::sync::Arc::new(ring::aead::LessSafeKey::new(unbound)),
        }
    }

    /// The sealer of provider tokens (at rest, and in `exchange_oauth_code` payloads).
    pub fn provider_tokens(secret_key: &Secret) -> Self {
        Self::new(secret_key, "provider tokens")
    }

    /// `nonce ‖ ciphertext ‖ tag`, with a random 96-bit nonce.
    pub fn seal(&self, plain: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        // Sealing fails only for inputs beyond 256 GiB.
        let _ = self.key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::empty(),
            &mut data,
        );
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, Unsealable> {
        if sealed.len() < 12 + 16 {
            return Err(Unsealable);
        }
        let (nonce, rest) = sealed.split_at(12);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, ring::aead::Aad::empty(), &mut data)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }

    /// [`Sealer::seal`] as URL-safe base64, for JSON payloads.
    pub fn seal_text(&self, plain: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.seal(plain))
    }

    pub fn open_text(&self, sealed: &str) -> Result<String, Unsealable> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Unsealable)?;
        self.open(&bytes)
    }
}

/// A short code a person types (the bot's `/login <code>`): `len` characters from an alphabet
/// without look-alikes (no 0/O, 1/I/L). Short codes are only safe with the failure limits and
/// rate limits of their checkers.
pub fn short_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// PKCE (RFC 7636): a fresh verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = generate(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
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
    fn sealed_values_open_only_with_their_key() {
        let sealer = Sealer::new(&Secret::new("k".repeat(32)), "provider tokens");
        let sealed = sealer.seal_text("ya29.token");
        assert!(!sealed.contains("ya29"));
        assert_eq!(sealer.open_text(&sealed).expect("opens"), "ya29.token");
        assert_ne!(sealer.seal_text("ya29.token"), sealed, "random nonces");
        let other = Sealer::new(&Secret::new("x".repeat(32)), "provider tokens");
        assert!(other.open_text(&sealed).is_err());
        let purpose = Sealer::new(&Secret::new("k".repeat(32)), "something else");
        assert!(purpose.open_text(&sealed).is_err());
        let mut tampered = sealer.seal("abc");
        tampered[14] ^= 1;
        assert!(sealer.open(&tampered).is_err());
    }

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".as_bytes(),
        ));
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let (verifier, challenge) = pkce_pair();
        assert!(verifier.len() >= 43);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
    }

    #[test]
    fn short_codes_avoid_look_alikes() {
        let code = short_code(8);
        assert_eq!(code.len(), 8);
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}
