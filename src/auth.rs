//! Node identities and signatures (ed25519).
//!
//! Every node-to-node message is signed over its full payload — the sender's
//! id and the whole body (message kind, position, ballot, value) — so the key
//! that verifies it identifies the sender. A [`Signed`] message can be carried
//! inside another (an echo, a certificate, evidence) and checked by any third
//! party that knows the signer's key: that is what makes evidence of
//! misbehaviour self-verifying.
//!
//! Verification follows the ZIP-215 rules (ed25519-zebra): the cofactored
//! equation, the one a batch check also uses, so a signature is valid or
//! not whether it is checked alone or in a batch ([`Keyring::verify_all`]).
//! With the strict cofactorless check of ed25519-dalek a Byzantine signer
//! could make a signature that a batch admits (by a torsion term its random
//! coefficients happen to cancel) and a single check refuses; then honest
//! nodes would disagree about it, and one that forwarded it inside a
//! certificate could be taken for a forger. Under ZIP-215 every honest node
//! reaches the same verdict on every signature, as it did under strict
//! checks; an honest signature is valid under both. Small-order (weak) keys
//! are refused when they are registered.
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
use ed25519_zebra::{batch, VerificationKey, VerificationKeyBytes};
use rand_chacha::ChaCha8Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Ed25519 checks made by every keyring of this process (cache hits aside).
static VERIFIES: AtomicU64 = AtomicU64::new(0);

/// Checks a keyring answered from its cache instead.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Of `VERIFIES`, the checks made inside a batch, and the batches.
static BATCHED: AtomicU64 = AtomicU64::new(0);
static BATCHES: AtomicU64 = AtomicU64::new(0);

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

/// What this process's signature work came to so far, for the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Curve checks made ([`verifies_done`]).
    pub verifies: u64,
    /// Checks answered by a cache instead ([`verifies_spared`]).
    pub spared: u64,
    /// Signatures made ([`signs_done`]).
    pub signs: u64,
    /// Of `verifies`, those made inside a batch, and the batches
    /// ([`Keyring::verify_all`]).
    pub batched: u64,
    pub batches: u64,
}

impl Counts {
    /// The counts now.
    pub fn now() -> Counts {
        Counts {
            verifies: verifies_done(),
            spared: verifies_spared(),
            signs: signs_done(),
            batched: BATCHED.load(Ordering::Relaxed),
            batches: BATCHES.load(Ordering::Relaxed),
        }
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            verifies: self.verifies - earlier.verifies,
            spared: self.spared - earlier.spared,
            signs: self.signs - earlier.signs,
            batched: self.batched - earlier.batched,
            batches: self.batches - earlier.batches,
        }
    }
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
fn digest(from: NodeId, key: &[u8], bytes: &[u8], sig: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(from.to_le_bytes());
    h.update(key);
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
    let key = verification_key(key).ok_or(AuthError::BadKey)?;
    let sig = Signature::from_slice(sig).map_err(|_| AuthError::Malformed)?;
    key.verify(&sig, transcript)
        .map_err(|_| AuthError::BadHandshake)
}

/// `key` as a ZIP-215 verifying key, unless it is not a curve point or is
/// of small order (a weak key, whose signatures would bind nothing).
fn verification_key(key: &[u8; 32]) -> Option<VerificationKey> {
    let weak = VerifyingKey::from_bytes(key).map_or(true, |k| k.is_weak());
    (!weak)
        .then(|| VerificationKey::try_from(VerificationKeyBytes::from(*key)).ok())
        .flatten()
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

/// What a signature check needs, once its signer is known ([`Keyring::lookup`]).
enum Lookup<'k> {
    Done,
    Check(&'k VerificationKey, [u8; 64]),
}

/// A peer's verifying key, in the keyring's scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Ed25519(VerificationKey),
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
            Scheme::Ed25519 => match verification_key(&key) {
                Some(k) => Key::Ed25519(k),
                None => return false,
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
        let (key, sig) = match self.lookup(from, bytes, sig)? {
            Lookup::Done => return Ok(()),
            Lookup::Check(key, sig) => (key, sig),
        };
        let d = digest(from, key.as_ref(), bytes, &sig);
        if self.cached(&d) {
            return Ok(());
        }
        // The curve check runs without the lock: the keyring's other holder
        // (the shield, or its verifier thread) must not wait behind it for a
        // lookup. Both may check one signature at once; it is cached once.
        VERIFIES.fetch_add(1, Ordering::Relaxed);
        self.checks.fetch_add(1, Ordering::Relaxed);
        key.verify(&Signature::from_bytes(&sig), bytes)
            .map_err(|_| AuthError::BadSignature(from))?;
        self.cache().insert(d);
        Ok(())
    }

    /// Remember `sig`, which `identity` just made over `bytes` as `from`'s,
    /// as checked: it is valid by construction, so when it comes back (our
    /// own Accept inside a certificate) no curve check is spent on it. Only
    /// when `identity`'s key is the one this keyring holds for `from`;
    /// otherwise nothing is remembered and a check of it fails as it must.
    pub fn remember_own(&self, identity: &Identity, from: NodeId, bytes: &[u8], sig: &[u8]) {
        let (Some(Key::Ed25519(key)), Ok(sig)) = (self.keys.get(&from), <[u8; 64]>::try_from(sig))
        else {
            return; // modelled tokens are checked without a cache
        };
        if key.as_ref() == identity.public().as_slice() {
            self.cache().insert(digest(from, key.as_ref(), bytes, &sig));
        }
    }

    /// [`Keyring::verify_bytes`] for many signatures at once, answered in
    /// order. What the cache does not answer is checked in one batch (the
    /// same verdicts as one by one, under ZIP-215, for less work); if the
    /// batch fails, each is checked alone, so the answers still name the
    /// signer whose signature is bad and the good ones are still cached.
    /// `rng` draws the batch's coefficients: the caller's, so this module
    /// keeps no randomness of its own.
    pub fn verify_all<R: RngCore + CryptoRng>(
        &self,
        items: &[(NodeId, &[u8], &[u8])],
        rng: &mut R,
    ) -> Vec<Result<(), AuthError>> {
        let mut answers = Vec::with_capacity(items.len());
        // (index, signer, digest, batch item) of what is left to check.
        let mut todo = Vec::new();
        let cache = self.cache();
        for (i, &(from, bytes, sig)) in items.iter().enumerate() {
            let answer = self.lookup(from, bytes, sig).map(|found| match found {
                Lookup::Check(key, sig) => {
                    let d = digest(from, key.as_ref(), bytes, &sig);
                    if cache.contains(&d) {
                        HITS.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let item = (
                            VerificationKeyBytes::from(*key),
                            Signature::from_bytes(&sig),
                            bytes,
                        );
                        todo.push((i, from, d, batch::Item::from(item)));
                    }
                }
                Lookup::Done => {}
            });
            answers.push(answer);
        }
        // The curve work runs without the lock (see `verify_bytes`).
        drop(cache);
        let n = todo.len() as u64;
        VERIFIES.fetch_add(n, Ordering::Relaxed);
        self.checks.fetch_add(n, Ordering::Relaxed);
        let all_good = n > 1 && {
            BATCHED.fetch_add(n, Ordering::Relaxed);
            BATCHES.fetch_add(1, Ordering::Relaxed);
            let mut b = batch::Verifier::new();
            todo.iter().for_each(|t| b.queue(t.3.clone()));
            b.verify(&mut *rng).is_ok()
        };
        let mut good = Vec::with_capacity(todo.len());
        for (i, from, d, item) in todo {
            if all_good || item.verify_single().is_ok() {
                good.push(d);
            } else {
                answers[i] = Err(AuthError::BadSignature(from));
            }
        }
        let mut cache = self.cache();
        good.into_iter().for_each(|d| cache.insert(d));
        answers
    }

    /// What checking `sig` needs: nothing more (a modelled token, checked
    /// here), or a curve check with this key.
    fn lookup(&self, from: NodeId, bytes: &[u8], sig: &[u8]) -> Result<Lookup<'_>, AuthError> {
        let key = self.keys.get(&from).ok_or(AuthError::UnknownSigner(from))?;
        let sig: [u8; 64] = sig.try_into().map_err(|_| AuthError::Malformed)?;
        match key {
            Key::Ed25519(k) => Ok(Lookup::Check(k, sig)),
            Key::Modelled(p) if token(p, bytes) == sig => Ok(Lookup::Done),
            Key::Modelled(_) => Err(AuthError::BadSignature(from)),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `d` verified before (counted as a check spared).
    fn cached(&self, d: &[u8; 32]) -> bool {
        let hit = self.cache().contains(d);
        if hit {
            HITS.fetch_add(1, Ordering::Relaxed);
        }
        hit
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

    /// Signatures of three signers, with one forged at `bad` (if any):
    /// `(signer, bytes, signature)` each.
    /// `(signer, bytes, signature)`s.
    type Set = Vec<(NodeId, Vec<u8>, Vec<u8>)>;

    #[test]
    fn our_own_signature_is_remembered_only_under_our_own_key() {
        let (me, other) = (Identity::from_seed(9, 0), Identity::from_seed(9, 1));
        let mut keys = Keyring::default();
        assert!(keys.insert(0, me.public()));
        assert!(keys.insert(1, other.public()));
        let bytes = b"accept 7".to_vec();
        let sig = me.sign_bytes(&bytes);
        keys.remember_own(&me, 0, &bytes, &sig);
        assert_eq!(keys.verify_bytes(0, &bytes, &sig), Ok(()));
        assert_eq!(keys.checks_made(), 0, "answered without a check");
        // Our signature in node 1's name is not node 1's: not remembered,
        // and its check fails.
        keys.remember_own(&me, 1, &bytes, &sig);
        assert_eq!(
            keys.verify_bytes(1, &bytes, &sig),
            Err(AuthError::BadSignature(1))
        );
        assert_eq!(keys.checks_made(), 1);
    }

    fn signed_set(bad: Option<usize>) -> (Keyring, Set) {
        let ids: Vec<Identity> = (0..3).map(|i| Identity::from_seed(9, i)).collect();
        let mut keys = Keyring::default();
        for (i, id) in ids.iter().enumerate() {
            assert!(keys.insert(i as NodeId, id.public()));
        }
        let set = (0..12)
            .map(|i| {
                let signer = (i % 3) as NodeId;
                let bytes = format!("accept {i}").into_bytes();
                let mut sig = ids[signer as usize].sign_bytes(&bytes);
                if bad == Some(i) {
                    sig[40] ^= 1; // all the same but the signature
                }
                (signer, bytes, sig)
            })
            .collect();
        (keys, set)
    }

    fn items(set: &[(NodeId, Vec<u8>, Vec<u8>)]) -> Vec<(NodeId, &[u8], &[u8])> {
        set.iter()
            .map(|(f, b, s)| (*f, b.as_slice(), s.as_slice()))
            .collect()
    }

    #[test]
    fn a_batch_caches_what_verified_and_names_the_signer_of_a_bad_signature() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (keys, set) = signed_set(None);
        let answers = keys.verify_all(&items(&set), &mut rng);
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(keys.checks_made(), 12);
        // All cached: single checks and a second batch cost nothing more.
        assert!(set
            .iter()
            .all(|(f, b, s)| keys.verify_bytes(*f, b, s).is_ok()));
        assert!(keys
            .verify_all(&items(&set), &mut rng)
            .iter()
            .all(Result::is_ok));
        assert_eq!(keys.checks_made(), 12);

        // One bad signature among twelve: the batch fails, the fallback
        // names its signer, the other eleven are cached and it is not.
        let (keys, set) = signed_set(Some(7));
        let answers = keys.verify_all(&items(&set), &mut rng);
        for (i, a) in answers.iter().enumerate() {
            match i {
                7 => assert_eq!(*a, Err(AuthError::BadSignature(1))),
                _ => assert_eq!(*a, Ok(())),
            }
        }
        let before = keys.checks_made();
        let (f, b, s) = &set[7];
        assert_eq!(keys.verify_bytes(*f, b, s), Err(AuthError::BadSignature(1)));
        assert_eq!(keys.checks_made(), before + 1, "the bad one was not cached");
        let again = keys.verify_all(&items(&set), &mut rng);
        assert_eq!(again[7], Err(AuthError::BadSignature(1)));
        assert_eq!(
            keys.checks_made(),
            before + 2,
            "only the bad one is checked again"
        );

        // Unknown signers and malformed signatures are answered in place.
        let short = (0, b"x".as_slice(), [0u8; 10].as_slice());
        let unknown = (5, b"x".as_slice(), [0u8; 64].as_slice());
        assert_eq!(
            keys.verify_all(&[short, unknown], &mut rng),
            vec![Err(AuthError::Malformed), Err(AuthError::UnknownSigner(5))]
        );
    }

    /// The case that makes ZIP-215 the rule here: a signature whose R has a
    /// small-order part, made by its own signer to be valid under the
    /// cofactored equation only. ed25519-dalek's strict check refuses it; a
    /// cofactorless batch would admit it for some coefficients and not for
    /// others, so honest nodes could disagree. Under ZIP-215 it is valid
    /// alone and in every batch, whatever the coefficients.
    #[test]
    fn a_signature_with_a_torsion_part_gets_one_verdict_alone_and_in_any_batch() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use curve25519_dalek::{constants::ED25519_BASEPOINT_POINT as B, Scalar};
        use sha2::Sha512;
        let id = Identity::from_seed(11, 0);
        let secret = SigningKey::from_bytes(&id.to_bytes());
        let a = secret.to_scalar();
        let public = id.public();
        // (x, 0): a point of order 4.
        let torsion = CompressedEdwardsY([0; 32]).decompress().expect("a point");
        let zero = Scalar::ZERO * B;
        assert!(torsion.is_small_order() && torsion != zero);
        let msg = b"a propose at 3";
        let r = Scalar::from(123_456_789u64);
        let big_r = (r * B + torsion).compress();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(public);
        h.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());

        let strict = VerifyingKey::from_bytes(&public).expect("a key");
        assert!(strict
            .verify_strict(msg, &Signature::from_bytes(&sig))
            .is_err());

        let mut keys = Keyring::default();
        assert!(keys.insert(0, public));
        assert_eq!(keys.clone().verify_bytes(0, msg, &sig), Ok(()));
        let (_, set) = signed_set(None);
        let mut others = items(&set);
        others.retain(|(f, _, _)| *f == 0);
        let others: Vec<_> = others.into_iter().map(|(_, b, _)| b).collect();
        for seed in 0..16 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let fresh = keys.clone();
            let mut batch = vec![(0, msg.as_slice(), sig.as_slice())];
            let sigs: Vec<Vec<u8>> = others.iter().map(|b| id.sign_bytes(b)).collect();
            batch.extend(others.iter().zip(&sigs).map(|(b, s)| (0, *b, s.as_slice())));
            let answers = fresh.verify_all(&batch, &mut rng);
            assert!(
                answers.iter().all(Result::is_ok),
                "seed {seed}: {answers:?}"
            );
        }
    }

    #[test]
    fn a_weak_key_is_refused() {
        let mut keys = Keyring::default();
        // The identity point and a point of order 4: small order, so a
        // "signature" under them would bind no message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!keys.insert(0, identity));
        assert!(!keys.insert(0, [0; 32]));
        assert!(keys.insert(0, Identity::from_seed(1, 0).public()));
        assert_eq!(
            verify_handshake(&[0; 32], b"hello", &[0; 64]),
            Err(AuthError::BadKey)
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
