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

/// Seals secrets we must be able to read back (provider access and refresh tokens at rest, a
/// Google access token or an authorization code travelling in a job payload, secrets members
/// type to the bot) with ChaCha20-Poly1305 under a key derived from the sealing key
/// (`SEALING_KEY`, never the admin key). Redis and the database hold only the sealed form.
///
/// Rotation: a sealer also holds the previous keys (`SEALING_KEY_PREVIOUS`) and opens what
/// they sealed; it always seals with the current key. `concierge reseal` re-seals the stored
/// provider tokens under the current key, after which the previous keys can go.
#[derive(Clone)]
pub struct Sealer {
    current: std::sync::Arc<ring::aead::LessSafeKey>,
    previous: std::sync::Arc<Vec<ring::aead::LessSafeKey>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// A sealed value that does not open: wrong key, or tampered with.
#[derive(Debug, thiserror::Error)]
#[error(
    "the sealed value cannot be opened (sealed under a key that is no longer configured, or altered)"
)]
pub struct Unsealable;

struct KeyLen;

impl ring::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

/// Which key opened a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedWith {
    Current,
    /// One of the previous keys: seal it again to be rid of that key.
    Previous,
}

/// What every sealer derives its key for.
const PURPOSE: &str = "provider tokens";

fn derive(key: &Secret, purpose: &str) -> ring::aead::LessSafeKey {
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"concierge sealing v1");
    let prk = salt.extract(key.expose().as_bytes());
    let info = [purpose.as_bytes()];
    let mut bytes = [0u8; 32];
    // Both calls fail only for lengths over 255 × 32 bytes; ours is 32.
    if let Ok(okm) = prk.expand(&info, KeyLen) {
        let _ = okm.fill(&mut bytes);
    }
    let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &bytes)
        .unwrap_or_else(|_| unreachable!("a 32-byte key fits ChaCha20-Poly1305"));
    ring::aead::LessSafeKey::new(unbound)
}

impl Sealer {
    /// The sealer of one key; `purpose` separates keys derived for different uses.
    pub fn new(key: &Secret, purpose: &str) -> Self {
        Self {
            current: std::sync::Arc::new(derive(key, purpose)),
            previous: std::sync::Arc::new(Vec::new()),
        }
    }

    /// The sealer of the sealing key `current` that still opens what `previous` keys sealed.
    pub fn with_previous(current: &Secret, previous: &[Secret]) -> Self {
        Self {
            current: std::sync::Arc::new(derive(current, PURPOSE)),
            previous: std::sync::Arc::new(previous.iter().map(|k| derive(k, PURPOSE)).collect()),
        }
    }

    /// The sealer of `sealing_key` alone.
    pub fn provider_tokens(sealing_key: &Secret) -> Self {
        Self::new(sealing_key, PURPOSE)
    }

    /// `nonce ‖ ciphertext ‖ tag`, with a random 96-bit nonce, under the current key.
    pub fn seal(&self, plain: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        // Sealing fails only for inputs beyond 256 GiB.
        let _ = self.current.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::empty(),
            &mut data,
        );
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, Unsealable> {
        self.open_with(sealed).map(|(plain, _)| plain)
    }

    /// Opens `sealed` and says which key did.
    pub fn open_with(&self, sealed: &[u8]) -> Result<(String, OpenedWith), Unsealable> {
        if let Ok(plain) = open_one(&self.current, sealed) {
            return Ok((plain, OpenedWith::Current));
        }
        self.previous
            .iter()
            .find_map(|key| open_one(key, sealed).ok())
            .map(|plain| (plain, OpenedWith::Previous))
            .ok_or(Unsealable)
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

fn open_one(key: &ring::aead::LessSafeKey, sealed: &[u8]) -> Result<String, Unsealable> {
    if sealed.len() < 12 + 16 {
        return Err(Unsealable);
    }
    let (nonce, rest) = sealed.split_at(12);
    let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
    let mut data = rest.to_vec();
    let plain = key
        .open_in_place(nonce, ring::aead::Aad::empty(), &mut data)
        .map_err(|_| Unsealable)?;
    String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
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
    fn rotated_keys_still_open_what_they_sealed_and_seal_nothing() {
        let old = Secret::new("o".repeat(32));
        let new = Secret::new("n".repeat(32));
        let sealed_by_old = Sealer::provider_tokens(&old).seal("refresh-token");
        let rotated = Sealer::with_previous(&new, std::slice::from_ref(&old));
        assert_eq!(
            rotated.open_with(&sealed_by_old).expect("opens"),
            ("refresh-token".to_owned(), OpenedWith::Previous)
        );
        let resealed = rotated.seal("refresh-token");
        assert_eq!(
            rotated.open_with(&resealed).expect("opens"),
            ("refresh-token".to_owned(), OpenedWith::Current)
        );
        // What the rotated sealer seals, the old key alone cannot open; once the previous key
        // is dropped, only resealed values open.
        assert!(Sealer::provider_tokens(&old).open(&resealed).is_err());
        let dropped = Sealer::provider_tokens(&new);
        assert!(dropped.open(&sealed_by_old).is_err());
        assert!(dropped.open(&resealed).is_ok());
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
