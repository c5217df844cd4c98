//! The one module that calls crypto primitives: keys derived from the fleet secret
//! (PBKDF2-HMAC-SHA256) and payloads sealed with AES-256-GCM under 96-bit random nonces.
//!
//! Two keys come from one secret, each with its own salt, so the libp2p private-network key (which
//! gates who may connect) and the payload key (which seals what peers say) never coincide:
//! learning one tells nothing about the other.
//!
//! The credential vault's master key ([`VaultKey`]) lives here too: 256 random bits, or PBKDF2 of a
//! passphrase with a random salt, sealing each credential under its own fresh nonce.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

/// Salt of the libp2p pre-shared network key.
const PSK_SALT: &[u8] = b"ghmesh/v1/libp2p-pnet-psk";
/// Salt of the payload sealing key.
const PAYLOAD_SALT: &[u8] = b"ghmesh/v1/payload-aes-256-gcm";
/// Label hashed with the network key into the public fleet id.
const FLEET_ID_LABEL: &[u8] = b"ghmesh/v1/fleet-id";
/// AES-GCM nonce length: 96 bits, random per message.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Fewest PBKDF2 iterations accepted (configuration enforces the same bound).
pub const MIN_ITERATIONS: u32 = 10_000;
/// Shortest fleet secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a secret could not become keys, or a sealed payload could not be opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The fleet secret is too short to resist guessing.
    #[error("the fleet secret is {0} bytes; at least {MIN_SECRET_LEN} are required")]
    WeakSecret(usize),
    /// Too few PBKDF2 iterations.
    #[error("{0} PBKDF2 iterations is below the minimum of {MIN_ITERATIONS}")]
    TooFewIterations(u32),
    /// Shorter than a nonce and a tag.
    #[error("sealed payload is truncated")]
    Truncated,
    /// Wrong key, wrong context or tampered bytes: AES-GCM authentication failed.
    #[error("sealed payload failed authentication (wrong fleet secret or tampered)")]
    Unauthentic,
}

/// Keys derived from the fleet secret. `Debug` shows nothing of them.
#[derive(Clone)]
pub struct FleetKeys {
    psk: [u8; 32],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for FleetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetKeys(<redacted>)")
    }
}

impl FleetKeys {
    /// Derives both keys from `secret` with PBKDF2-HMAC-SHA256 (`iterations` rounds each).
    pub fn derive(secret: &[u8], iterations: u32) -> Result<Self, CryptoError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(CryptoError::WeakSecret(secret.len()));
        }
        if iterations < MIN_ITERATIONS {
            return Err(CryptoError::TooFewIterations(iterations));
        }
        let derive =
            |salt: &[u8]| pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(secret, salt, iterations);
        let psk = derive(PSK_SALT);
        let payload = derive(PAYLOAD_SALT);
        Ok(Self {
            psk,
            cipher: Aes256Gcm::new(&payload.into()),
        })
    }

    /// The 256-bit libp2p private-network (pnet) key.
    pub fn network_key(&self) -> [u8; 32] {
        self.psk
    }

    /// A short public name of the fleet (16 hex digits): the first 64 bits of
    /// SHA-256(label || network key). It names the fleet's entries where others can read names
    /// (the Actions cache registry); being a hash of a 256-bit key, it tells nothing of the key.
    pub fn fleet_id(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(FLEET_ID_LABEL)
            .chain_update(self.psk)
            .finalize();
        hex::encode(&digest[..8])
    }

    /// Seals `plaintext`: `nonce || ciphertext || tag`. `context` is authenticated but not sent,
    /// so a payload sealed for one purpose (say, a gossip announcement) cannot be replayed as
    /// another (a fetch response).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, context, plaintext)
    }

    /// Opens what [`FleetKeys::seal`] produced under the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher, context, sealed)
    }
}

/// PBKDF2 iterations of a passphrase-derived vault key.
pub const VAULT_KDF_ITERATIONS: u32 = 100_000;
/// Length of a vault key, in bytes (AES-256).
pub const VAULT_KEY_LEN: usize = 32;

/// The credential vault's master key. Wiped from memory when dropped; `Debug` shows nothing.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct VaultKey([u8; VAULT_KEY_LEN]);

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

impl VaultKey {
    /// 256 bits from the operating system's random source.
    pub fn generate() -> Self {
        let mut key = [0u8; VAULT_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key from its raw bytes; `None` unless exactly 32 of them.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; VAULT_KEY_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// The raw bytes, for the key store to keep. Callers must not log or print them.
    pub fn as_bytes(&self) -> &[u8; VAULT_KEY_LEN] {
        &self.0
    }

    /// PBKDF2-HMAC-SHA256 of `passphrase` with `salt`, `iterations` rounds.
    pub fn derive(passphrase: &[u8], salt: &[u8], iterations: u32) -> Result<Self, CryptoError> {
        if iterations < MIN_ITERATIONS {
            return Err(CryptoError::TooFewIterations(iterations));
        }
        Ok(Self(
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, VAULT_KEY_LEN>(passphrase, salt, iterations),
        ))
    }

    /// Fresh random bytes for a salt.
    pub fn random_salt() -> [u8; 16] {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        salt
    }

    /// Seals `plaintext` under a fresh random nonce: `nonce || ciphertext || tag`. `aad` is
    /// authenticated, not stored: the caller binds the ciphertext to what it belongs to.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&Aes256Gcm::new(&self.0.into()), aad, plaintext)
    }

    /// Opens what [`VaultKey::seal`] produced under the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&Aes256Gcm::new(&self.0.into()), aad, sealed)
    }
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .expect("AES-GCM encryption only fails for inputs over 64 GiB");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    cipher
        .decrypt(Nonce::from_slice(nonce), payload)
        .map_err(|_| CryptoError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"correct horse battery staple";

    fn keys(secret: &[u8]) -> FleetKeys {
        FleetKeys::derive(secret, MIN_ITERATIONS).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_with_fresh_nonces() {
        let k = keys(SECRET);
        let a = k.seal(b"ctx", b"hello");
        let b = k.seal(b"ctx", b"hello");
        assert_ne!(a, b, "nonces must be random");
        assert_eq!(k.open(b"ctx", &a).unwrap(), b"hello");
        assert_eq!(a.len(), NONCE_LEN + 5 + TAG_LEN);
    }

    #[test]
    fn wrong_secret_context_or_tampering_fail_authentication() {
        let k = keys(SECRET);
        let sealed = k.seal(b"gossip", b"payload");
        let other = keys(b"another fleet's secret value");
        assert_eq!(
            other.open(b"gossip", &sealed),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(k.open(b"fetch", &sealed), Err(CryptoError::Unauthentic));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(b"gossip", &flipped), Err(CryptoError::Unauthentic));
        assert_eq!(
            k.open(b"gossip", &sealed[..20]),
            Err(CryptoError::Truncated)
        );
    }

    #[test]
    fn psk_and_payload_keys_differ_and_are_deterministic() {
        let a = keys(SECRET);
        let b = keys(SECRET);
        assert_eq!(a.network_key(), b.network_key());
        let sealed = a.seal(b"c", b"x");
        assert_eq!(b.open(b"c", &sealed).unwrap(), b"x");
        // The payload key is not the PSK: a cipher keyed with the PSK cannot open it.
        let psk_cipher = Aes256Gcm::new(&a.network_key().into());
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        assert!(
            psk_cipher
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: b"c" })
                .is_err()
        );
    }

    #[test]
    fn weak_secrets_and_low_iteration_counts_are_refused() {
        assert_eq!(
            FleetKeys::derive(b"short", 100_000).unwrap_err(),
            CryptoError::WeakSecret(5)
        );
        assert_eq!(
            FleetKeys::derive(SECRET, 1_000).unwrap_err(),
            CryptoError::TooFewIterations(1_000)
        );
    }

    #[test]
    fn fleet_ids_are_short_stable_and_differ_per_secret() {
        let a = keys(SECRET);
        assert_eq!(a.fleet_id(), keys(SECRET).fleet_id());
        assert_eq!(a.fleet_id().len(), 16);
        assert_ne!(
            a.fleet_id(),
            keys(b"another secret, not the fleet's").fleet_id()
        );
        assert!(!hex::encode(a.network_key()).contains(&a.fleet_id()));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let k = keys(SECRET);
        let shown = format!("{k:?}");
        assert_eq!(shown, "FleetKeys(<redacted>)");
    }

    #[test]
    fn vault_keys_seal_per_aad_and_redact() {
        let key = VaultKey::generate();
        let sealed = key.seal(b"name=A", b"value");
        assert_ne!(
            sealed,
            key.seal(b"name=A", b"value"),
            "fresh nonce per seal"
        );
        assert_eq!(key.open(b"name=A", &sealed).unwrap(), b"value");
        assert_eq!(key.open(b"name=B", &sealed), Err(CryptoError::Unauthentic));
        assert_eq!(
            VaultKey::generate().open(b"name=A", &sealed),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(format!("{key:?}"), "VaultKey(<redacted>)");
        let derived = VaultKey::derive(b"pass", b"salt", MIN_ITERATIONS).unwrap();
        let again = VaultKey::derive(b"pass", b"salt", MIN_ITERATIONS).unwrap();
        assert_eq!(derived.as_bytes(), again.as_bytes());
        assert!(VaultKey::from_bytes(&[0; 31]).is_none());
    }
}
