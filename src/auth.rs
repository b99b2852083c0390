//! Node identities and signatures (ed25519).
//!
//! Every node-to-node message is signed over its full payload — the sender's
//! id and the whole body (message kind, position, ballot, value) — so the key
//! that verifies it identifies the sender. A [`Signed`] message can be carried
//! inside another (an echo, a certificate, evidence) and checked by any third
//! party that knows the signer's key: that is what makes evidence of
//! misbehaviour self-verifying. Verification is strict (`verify_strict`).
//!
//! This module signs and checks bytes; which bytes a packet body signs is
//! the wire layer's to say ([`crate::wire`] adds `Identity::sign`,
//! `Identity::sign_message`, `Keyring::verify` and `Keyring::verify_signed`
//! over its `Body`), so nothing here depends on what travels.
//!
//! A [`Keyring`] verifies each signature once: a signed Accept checked on
//! arrival is not checked again when a certificate, an echo or a
//! justification carries it. Its cache remembers a digest of exactly what
//! verified — signer, signed bytes and signature — so a signature that did
//! not verify, or a valid one moved onto other bytes, never counts.
//! [`verifies_done`] counts the curve checks actually made, for the bench.
//!
//! [`Scheme::Modelled`] is the simulator's stand-in for ed25519: a token,
//! a hash of the signer's public tag and the bytes, that only
//! [`Identity::sign_bytes`] of that signer makes (no API makes another's)
//! and any keyring checks. It answers every question ed25519 answers here
//! — who signed exactly these bytes — at the cost of a hash, and
//! `tests/sim.rs` shows the same seeds give the same outcomes with either.

use crate::core::{Message, NodeId};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Ed25519 checks made by every keyring of this process (cache hits aside).
static VERIFIES: AtomicU64 = AtomicU64::new(0);

/// Checks a keyring answered from its cache instead.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Packet and message signatures this process made (each a distinct one).
static SIGNS: AtomicU64 = AtomicU64::new(0);

/// How many signatures this process has made so far (handshakes aside).
pub fn signs_done() -> u64 {
    SIGNS.load(Ordering::Relaxed)
}

/// How many ed25519 signature checks this process has made so far.
pub fn verifies_done() -> u64 {
    VERIFIES.load(Ordering::Relaxed)
}

/// How many signature checks this process answered from a cache so far.
pub fn verifies_spared() -> u64 {
    HITS.load(Ordering::Relaxed)
}

/// Verified (signer, bytes, signature) digests a keyring remembers, per
/// generation; two generations are kept, so the bound is twice this.
const CACHE_GENERATION: usize = 4096;

/// What verified lately: two generations of digests, the older dropped
/// when the newer fills, so memory stays bounded and recent proofs stay in.
#[derive(Default)]
struct Verified {
    new: HashSet<[u8; 32]>,
    old: HashSet<[u8; 32]>,
}

impl Verified {
    fn contains(&self, d: &[u8; 32]) -> bool {
        self.new.contains(d) || self.old.contains(d)
    }

    fn insert(&mut self, d: [u8; 32]) {
        if self.new.len() >= CACHE_GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(d);
    }
}

/// The digest a cache entry is: everything a verification depended on.
fn digest(from: NodeId, key: &VerifyingKey, bytes: &[u8], sig: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(from.to_le_bytes());
    h.update(key.as_bytes());
    h.update(sig);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
    h.finalize().into()
}

/// Separates this project's packet signatures from any other use of the same
/// keys (the handshake has its own tag). v2: the body is postcard, not JSON;
/// v3: values enter as their digests.
pub const DOMAIN: &[u8] = b"paxos/packet/v3";

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no key is registered for node {0}")]
    UnknownSigner(NodeId),
    #[error("the signature is not 64 bytes")]
    Malformed,
    #[error("the signature of node {0} does not verify")]
    BadSignature(NodeId),
    #[error("the key is not a valid ed25519 verifying key")]
    BadKey,
    #[error("the handshake signature does not verify")]
    BadHandshake,
}

/// How signatures are made and checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Real ed25519 signatures: every runtime but the simulator's default.
    #[default]
    Ed25519,
    /// Unforgeable-by-construction tokens: the simulator's fast stand-in.
    Modelled,
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(Scheme::Ed25519),
            "modelled" | "modeled" => Ok(Scheme::Modelled),
            _ => Err(format!(
                "'{s}' is not a signature scheme (ed25519 or modelled)"
            )),
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scheme::Ed25519 => "ed25519",
            Scheme::Modelled => "modelled",
        })
    }
}

/// A node's signing key.
#[derive(Clone)]
pub struct Identity {
    key: Secret,
}

#[derive(Clone)]
enum Secret {
    Ed25519(SigningKey),
    /// The modelled scheme's signer: its public tag is all it needs.
    Modelled([u8; 32]),
}

/// Separates modelled tokens from anything else hashed here.
const MODELLED: &[u8] = b"paxos/modelled-signature/v1";

/// The modelled token `public` makes over `bytes`: 64 bytes, like ed25519.
fn token(public: &[u8; 32], bytes: &[u8]) -> [u8; 64] {
    use sha2::Sha512;
    let mut h = Sha512::new();
    h.update(MODELLED);
    h.update(public);
    h.update(bytes);
    h.finalize().into()
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({:02x?})", &self.public()[..4])
    }
}

impl Identity {
    /// A key derived from a seed and a node id: reproducible demos.
    pub fn from_seed(seed: u64, id: NodeId) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b65_7973 ^ (u64::from(id) << 40));
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Identity {
            key: Secret::Ed25519(SigningKey::from_bytes(&bytes)),
        }
    }

    /// The identity of `from_seed(seed, id)` in `scheme`.
    pub fn for_scheme(scheme: Scheme, seed: u64, id: NodeId) -> Self {
        match scheme {
            Scheme::Ed25519 => Identity::from_seed(seed, id),
            Scheme::Modelled => {
                let mut h = Sha256::new();
                h.update(MODELLED);
                h.update(seed.to_le_bytes());
                h.update(id.to_le_bytes());
                Identity {
                    key: Secret::Modelled(h.finalize().into()),
                }
            }
        }
    }

    /// A key from 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Identity {
            key: Secret::Ed25519(SigningKey::from_bytes(&bytes)),
        }
    }

    /// How this identity signs.
    pub fn scheme(&self) -> Scheme {
        match self.key {
            Secret::Ed25519(_) => Scheme::Ed25519,
            Secret::Modelled(_) => Scheme::Modelled,
        }
    }

    /// The secret bytes, for persisting the identity (a modelled one has
    /// no secret: its tag).
    pub fn to_bytes(&self) -> [u8; 32] {
        match &self.key {
            Secret::Ed25519(k) => k.to_bytes(),
            Secret::Modelled(p) => *p,
        }
    }

    /// The verifying key others use to check this node's messages.
    pub fn public(&self) -> [u8; 32] {
        match &self.key {
            Secret::Ed25519(k) => k.verifying_key().to_bytes(),
            Secret::Modelled(p) => *p,
        }
    }

    /// Sign `bytes` (a packet's signing bytes, see [`crate::wire`]).
    pub fn sign_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        SIGNS.fetch_add(1, Ordering::Relaxed);
        match &self.key {
            Secret::Ed25519(k) => k.sign(bytes).to_bytes().to_vec(),
            Secret::Modelled(p) => token(p, bytes).to_vec(),
        }
    }

    /// Sign a handshake transcript (see [`handshake_bytes`]).
    pub fn sign_handshake(&self, transcript: &[u8]) -> Vec<u8> {
        self.sign_bytes(transcript)
    }
}

/// What a node signs to open a bridge connection: its own domain tag (so a
/// handshake signature is never a valid packet signature, nor the reverse),
/// the listener's fresh nonce (so it cannot be replayed on another
/// connection), the claimed node id and the listen address it announces.
pub fn handshake_bytes(nonce: &[u8; 32], id: Option<NodeId>, addr: &str) -> Vec<u8> {
    let mut bytes = b"paxos/hello/v1".to_vec();
    bytes.extend_from_slice(nonce);
    match id {
        Some(id) => {
            bytes.push(1);
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        None => bytes.push(0),
    }
    bytes.extend_from_slice(addr.as_bytes());
    bytes
}

/// Check a handshake signature against a raw verifying key.
pub fn verify_handshake(key: &[u8; 32], transcript: &[u8], sig: &[u8]) -> Result<(), AuthError> {
    let key = VerifyingKey::from_bytes(key).map_err(|_| AuthError::BadKey)?;
    let sig = Signature::from_slice(sig).map_err(|_| AuthError::Malformed)?;
    key.verify_strict(transcript, &sig)
        .map_err(|_| AuthError::BadHandshake)
}

/// A protocol message with its sender's signature, as it was sent in a
/// `Body::Paxos` packet. It can be forwarded and checked by anyone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Signed {
    pub from: NodeId,
    pub msg: Message,
    pub sig: Vec<u8>,
}

/// The verifying keys of the cluster, as the coordinator's registry gave
/// them, and what verified under them lately.
#[derive(Default)]
pub struct Keyring {
    scheme: Scheme,
    keys: BTreeMap<NodeId, Key>,
    /// Shared with [`Keyring::sharing`] copies (a verifier on another
    /// core warms it); a plain `clone` starts afresh.
    verified: Arc<Mutex<Verified>>,
    /// Curve checks this keyring (and its sharing copies) made, cache hits aside.
    checks: Arc<AtomicU64>,
}

/// A peer's verifying key, in the keyring's scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Ed25519(VerifyingKey),
    Modelled([u8; 32]),
}

impl Clone for Keyring {
    /// The same keys; the copy verifies afresh.
    fn clone(&self) -> Self {
        Keyring {
            scheme: self.scheme,
            keys: self.keys.clone(),
            ..Keyring::default()
        }
    }
}

impl PartialEq for Keyring {
    fn eq(&self, other: &Self) -> bool {
        self.scheme == other.scheme && self.keys == other.keys
    }
}

impl Eq for Keyring {}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.keys).finish()
    }
}

impl Keyring {
    /// Learn (or replace) node `id`'s key. A key that is not a valid curve
    /// point is refused.
    pub fn insert(&mut self, id: NodeId, key: [u8; 32]) -> bool {
        let key = match self.scheme {
            Scheme::Modelled => Key::Modelled(key),
            Scheme::Ed25519 => match VerifyingKey::from_bytes(&key) {
                Ok(k) => Key::Ed25519(k),
                Err(_) => return false,
            },
        };
        self.keys.insert(id, key);
        true
    }

    /// A copy with the same keys that shares this keyring's cache: what it
    /// verifies, this one then finds verified. A cache entry is keyed by
    /// signer, key, bytes and signature, so a copy whose keys are older
    /// can only add entries that are true under the keys they name.
    pub fn sharing(&self) -> Keyring {
        Keyring {
            scheme: self.scheme,
            keys: self.keys.clone(),
            verified: Arc::clone(&self.verified),
            checks: Arc::clone(&self.checks),
        }
    }

    /// An empty keyring that checks `scheme`'s signatures.
    pub fn for_scheme(scheme: Scheme) -> Self {
        Keyring {
            scheme,
            ..Keyring::default()
        }
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.keys.contains_key(&id)
    }

    /// Check that `sig` is `from`'s signature over `bytes`; once it did,
    /// the same check is answered from the cache.
    pub fn verify_bytes(&self, from: NodeId, bytes: &[u8], sig: &[u8]) -> Result<(), AuthError> {
        let key = self.keys.get(&from).ok_or(AuthError::UnknownSigner(from))?;
        let sig: [u8; 64] = sig.try_into().map_err(|_| AuthError::Malformed)?;
        let key = match key {
            Key::Ed25519(k) => k,
            Key::Modelled(p) if token(p, bytes) == sig => return Ok(()),
            Key::Modelled(_) => return Err(AuthError::BadSignature(from)),
        };
        let d = digest(from, key, bytes, &sig);
        let cache = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache().contains(&d) {
            HITS.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        // The curve check runs without the lock: the keyring's other holder
        // (the shield, or its verifier thread) must not wait behind it for a
        // lookup. Both may check one signature at once; it is cached once.
        VERIFIES.fetch_add(1, Ordering::Relaxed);
        self.checks.fetch_add(1, Ordering::Relaxed);
        key.verify_strict(bytes, &Signature::from_bytes(&sig))
            .map_err(|_| AuthError::BadSignature(from))?;
        cache().insert(d);
        Ok(())
    }

    /// Check that `sig` is `signer`'s signature over a packet claiming to
    /// come from `claimed` with the body serialized as `body` (see
    /// `wire::body_bytes`). With `signer != claimed` a valid one proves `signer`
    /// forged a packet in `claimed`'s name: the id is part of what is signed.
    pub fn verify_claim(
        &self,
        signer: NodeId,
        claimed: NodeId,
        body: &[u8],
        sig: &[u8],
    ) -> Result<(), AuthError> {
        let mut bytes = Vec::with_capacity(DOMAIN.len() + 4 + body.len());
        bytes.extend_from_slice(DOMAIN);
        bytes.extend_from_slice(&claimed.to_le_bytes());
        bytes.extend_from_slice(body);
        self.verify_bytes(signer, &bytes, sig)
    }

    /// Curve checks this keyring made so far (answers from its cache aside).
    pub fn checks_made(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The nodes whose keys we know, in order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.keys.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_is_checked_once_and_the_cache_never_admits_a_bad_one() {
        let (a, b) = (Identity::from_seed(3, 0), Identity::from_seed(3, 1));
        let mut keys = Keyring::default();
        assert!(keys.insert(0, a.public()) && keys.insert(1, b.public()));
        let bytes = b"an accept of v at 7".to_vec();
        let sig = a.sign_bytes(&bytes);
        assert_eq!(keys.verify_bytes(0, &bytes, &sig), Ok(()));
        assert_eq!(keys.verify_bytes(0, &bytes, &sig), Ok(()));
        assert_eq!(
            keys.checks_made(),
            1,
            "the second check came from the cache"
        );
        // Everything the same but the signature: not admitted.
        let mut forged = sig.clone();
        forged[63] ^= 1;
        assert_eq!(
            keys.verify_bytes(0, &bytes, &forged),
            Err(AuthError::BadSignature(0))
        );
        assert_eq!(
            keys.verify_bytes(0, &bytes, &forged),
            Err(AuthError::BadSignature(0))
        );
        // The valid signature moved onto other bytes, or claimed by another
        // signer: not admitted either.
        let other = b"an accept of w at 7".to_vec();
        assert_eq!(
            keys.verify_bytes(0, &other, &sig),
            Err(AuthError::BadSignature(0))
        );
        assert_eq!(
            keys.verify_bytes(1, &bytes, &sig),
            Err(AuthError::BadSignature(1))
        );
        // A key replaced: what verified under the old one is checked again.
        assert!(keys.insert(0, b.public()));
        assert_eq!(
            keys.verify_bytes(0, &bytes, &sig),
            Err(AuthError::BadSignature(0))
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let a = Identity::from_seed(4, 0);
        let mut keys = Keyring::default();
        assert!(keys.insert(0, a.public()));
        for i in 0..(2 * CACHE_GENERATION + 10) {
            let bytes = i.to_le_bytes();
            let sig = a.sign_bytes(&bytes);
            assert_eq!(keys.verify_bytes(0, &bytes, &sig), Ok(()));
        }
        let v = keys.verified.lock().unwrap();
        assert!(v.new.len() + v.old.len() <= 2 * CACHE_GENERATION);
    }

    use super::*;

    #[test]
    fn identities_are_reproducible_and_distinct() {
        assert_eq!(
            Identity::from_seed(5, 2).public(),
            Identity::from_seed(5, 2).public()
        );
        assert_ne!(
            Identity::from_seed(5, 2).public(),
            Identity::from_seed(5, 3).public()
        );
        assert_ne!(
            Identity::from_seed(5, 2).public(),
            Identity::from_seed(6, 2).public()
        );
    }

    #[test]
    fn a_handshake_binds_nonce_id_and_address() {
        let a = Identity::from_seed(1, 0);
        let nonce = [9u8; 32];
        let t = handshake_bytes(&nonce, Some(0), "127.0.0.1:1");
        let sig = a.sign_handshake(&t);
        assert!(verify_handshake(&a.public(), &t, &sig).is_ok());
        let other_nonce = handshake_bytes(&[8u8; 32], Some(0), "127.0.0.1:1");
        let other_id = handshake_bytes(&nonce, Some(1), "127.0.0.1:1");
        let other_addr = handshake_bytes(&nonce, Some(0), "127.0.0.1:2");
        for t in [other_nonce, other_id, other_addr] {
            assert!(verify_handshake(&a.public(), &t, &sig).is_err());
        }
        let b = Identity::from_seed(1, 1);
        assert!(verify_handshake(&b.public(), &t, &sig).is_err());
        assert!(verify_handshake(&a.public(), &t, &sig[..10]).is_err());
    }
}
