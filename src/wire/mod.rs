//! What travels between nodes: a [`Packet`] from one node to one node or to
//! all, carrying a [`Body`] and, with signatures on, the sender's signature
//! over `(from, body)`. The Middleware produces and consumes packets; the
//! network (in-process or the TCP bridge) only moves them.
//!
//! The wire layer also says what a signature covers ([`signing_bytes`]: a
//! domain tag, the sender, the body) and adds the body-level signing and
//! checking to [`Identity`] and [`Keyring`]; the evidence and proof types
//! that travel inside bodies are in [`proofs`]. It imports nothing above
//! `auth` and `core`.

pub mod proofs;

use crate::auth::{AuthError, Identity, Keyring, Signed, DOMAIN};
use crate::core::{digest_form, Message, NodeId};
use proofs::{BftJustified, Justification, Proof, Proven};
use serde::{Deserialize, Serialize};

/// One message on the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Packet {
    /// The node that sent it (a claim the Middleware checks when signatures are on).
    pub from: NodeId,
    /// One node, or `None` for every node but the sender.
    pub to: Option<NodeId>,
    pub body: Body,
    /// `from`'s signature over `(from, body)`, when signatures are on.
    pub sig: Option<Vec<u8>>,
}

/// The contents of a packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Body {
    /// A protocol message, as the core produced it.
    Paxos(Message),
    /// A `Commit` with its certificate: the signed `Accept`s of a quorum for
    /// the same position, ballot and value.
    Certified {
        commit: Message,
        accepts: Vec<Signed>,
    },
    /// The middleware's echo of a `Propose` it received, carrying the
    /// leader's own signed message (the SAFETY defence).
    Echo(Signed),
    /// An accusation: self-verifying evidence that a node broke the
    /// protocol, which every receiver re-checks before it flags anyone.
    Accuse(Box<Proof>),
    /// A Prepare with the signed message of another node whose round it
    /// climbed over: a justified climb, in bounds of the witness.
    Climb {
        prepare: Message,
        witness: Box<Signed>,
    },
    /// BFT mode: a Prepared with a proof for each value it reports.
    BftPrepared(Box<Proven>),
    /// BFT mode: a Propose with the Prepareds that justify its value.
    BftPropose(Box<BftJustified>),
    /// A `Propose` with the signed Prepared quorum (and the leader's own
    /// accepted Propose) its value is derived from (the IGNORE_PREPARED
    /// defence); acceptors recompute the value.
    Justified(Box<Justification>),
}

impl Body {
    /// Whether the signed messages inside this body are all a receiver acts
    /// on, so that the packet's own signature matters only when the body is
    /// refused: then it shows who sent it, which makes the refusal evidence.
    /// A justified Propose (the leader's signed Propose and the signed
    /// Prepareds that justify it) and a certified Commit (a quorum of
    /// signed votes) say the same whoever relays them. The shield checks
    /// their packet signature only when it refuses one, and a verifier
    /// ahead of it leaves that signature out ([`signatures`]).
    pub fn vouches_for_itself(&self) -> bool {
        matches!(self, Body::Justified(_) | Body::Certified { .. })
    }

    /// The protocol message a vote carries for the core (a Prepare with its
    /// witness, a Propose with its justification, a Commit with its
    /// certificate, …); `None` for echoes and accusations, which are the
    /// middleware's own.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Body::Paxos(m) | Body::Certified { commit: m, .. } | Body::Climb { prepare: m, .. } => {
                Some(m)
            }
            Body::BftPrepared(p) => Some(p.prepared.msg),
            Body::BftPropose(j) => Some(j.propose.msg),
            Body::Justified(j) => Some(j.propose.msg),
            _ => None,
        }
    }

    /// A short label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Paxos(m) => m.kind(),
            Body::Certified { .. } => "Commit+certificate",
            Body::Echo(_) => "Echo",
            Body::Accuse(p) => p.kind(),
            Body::Climb { .. } => "Prepare+justification",
            Body::BftPrepared(_) => "Prepared+proofs",
            Body::BftPropose(_) => "Propose+justification",
            Body::Justified(_) => "Propose+justification",
        }
    }
}

/// The exact bytes a signature covers: a domain tag, the sender, the body
/// with every value as its digest ([`crate::core::digest_form`]), so a
/// signature over a 256-value Propose hashes ~100 bytes, and each batch is
/// hashed once however many echoes, certificates and proofs carry it.
pub fn signing_bytes(from: NodeId, body: &Body) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + 4 + 96);
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(&from.to_le_bytes());
    // postcard is compact, fast and deterministic over our types (no maps
    // with unordered keys), so equal bodies always sign the same bytes.
    digest_form(|| postcard::to_io(body, &mut bytes).expect("bodies always serialize"));
    bytes
}

/// The body part of [`signing_bytes`]: what a forgery proof carries.
pub fn body_bytes(body: &Body) -> Vec<u8> {
    digest_form(|| postcard::to_allocvec(body).expect("bodies always serialize"))
}

impl Identity {
    /// Sign `body` as sent by `from`.
    pub fn sign(&self, from: NodeId, body: &Body) -> Vec<u8> {
        self.sign_bytes(&signing_bytes(from, body))
    }

    /// Sign a protocol message as sent by `from`, keeping it as a [`Signed`].
    pub fn sign_message(&self, from: NodeId, msg: Message) -> Signed {
        let sig = self.sign(from, &Body::Paxos(msg.clone()));
        Signed { from, msg, sig }
    }
}

impl Keyring {
    /// Check that `sig` is `from`'s signature over `body`.
    pub fn verify(&self, from: NodeId, body: &Body, sig: &[u8]) -> Result<(), AuthError> {
        self.verify_bytes(from, &signing_bytes(from, body), sig)
    }

    /// Check a forwarded signed message.
    pub fn verify_signed(&self, s: &Signed) -> Result<(), AuthError> {
        self.verify(s.from, &Body::Paxos(s.msg.clone()), &s.sig)
    }
}

/// Every signature `p` carries, as `(signer, signing bytes, signature)`:
/// the packet's own (unless its body vouches for itself, see
/// [`Body::vouches_for_itself`]) and those of the signed messages inside it
/// (echoes, certificates, witnesses, justifications, BFT proofs). What a
/// verifier on another core checks ahead of the shield ([`precheck`]).
pub fn signatures(p: &Packet) -> Vec<(NodeId, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    match &p.sig {
        Some(sig) if !p.body.vouches_for_itself() => {
            out.push((p.from, signing_bytes(p.from, &p.body), sig.clone()))
        }
        _ => {}
    }
    let mut signed = |s: &Signed| {
        out.push((
            s.from,
            signing_bytes(s.from, &Body::Paxos(s.msg.clone())),
            s.sig.clone(),
        ));
    };
    match &p.body {
        Body::Echo(s) => signed(s),
        Body::Climb { witness: s, .. } => signed(s),
        Body::Certified { accepts, .. } => accepts.iter().for_each(&mut signed),
        Body::Justified(j) => {
            signed(&j.propose);
            j.prepareds.iter().chain(&j.own).for_each(&mut signed);
        }
        Body::BftPrepared(proven) => proven_signatures(proven, &mut signed),
        Body::BftPropose(j) => {
            signed(&j.propose);
            for proven in &j.justification {
                proven_signatures(proven, &mut signed);
            }
        }
        Body::Paxos(_) | Body::Accuse(_) => {}
    }
    out
}

fn proven_signatures(p: &Proven, signed: &mut impl FnMut(&Signed)) {
    signed(&p.prepared);
    for proof in p.proofs.iter().flatten() {
        match proof {
            proofs::ValueProof::Prepared { propose, .. } => signed(propose),
            proofs::ValueProof::Committed { accepts } => accepts.iter().for_each(&mut *signed),
        }
    }
}

/// Check every signature `p` carries against `keys`, ignoring the
/// answers: a keyring that shares `keys`' cache ([`Keyring::sharing`]) then
/// finds the good ones verified. The shield still decides everything and
/// checks a bad or unknown signature itself, so running this (on another
/// core) changes what the shield costs, never what it concludes.
pub fn precheck(keys: &Keyring, p: &Packet) {
    for (from, bytes, sig) in signatures(p) {
        let _ = keys.verify_bytes(from, &bytes, &sig);
    }
}

/// [`precheck`] for several packets at once: their signatures are checked
/// in one batch ([`Keyring::verify_all`]), the same verdicts for less work.
pub fn precheck_all<R: rand_core::RngCore + rand_core::CryptoRng>(
    keys: &Keyring,
    packets: &[&Packet],
    rng: &mut R,
) {
    let sigs: Vec<_> = packets.iter().flat_map(|p| signatures(p)).collect();
    let items: Vec<(NodeId, &[u8], &[u8])> = sigs
        .iter()
        .map(|(from, bytes, sig)| (*from, bytes.as_slice(), sig.as_slice()))
        .collect();
    let _ = keys.verify_all(&items, rng);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ballot;

    fn ring(ids: &[&Identity]) -> Keyring {
        let mut k = Keyring::default();
        for (i, id) in ids.iter().enumerate() {
            assert!(k.insert(i as NodeId, id.public()));
        }
        k
    }

    /// Packets are moved through every mailbox they cross: a large body
    /// only some packets carry belongs in a box, not in every packet's size.
    #[test]
    fn a_packet_stays_small() {
        assert!(std::mem::size_of::<Packet>() <= 128);
    }

    fn propose(value: &str) -> Message {
        Message::Propose {
            pos: 0,
            ballot: Ballot::new(1, 0),
            value: value.into(),
        }
    }

    #[test]
    fn a_signed_message_verifies_with_its_senders_key() {
        let (a, b) = (Identity::from_seed(1, 0), Identity::from_seed(1, 1));
        let keys = ring(&[&a, &b]);
        let s = a.sign_message(0, propose("x"));
        assert_eq!(keys.verify_signed(&s), Ok(()));
    }

    #[test]
    fn the_wrong_key_or_altered_content_is_refused() {
        let (a, b) = (Identity::from_seed(1, 0), Identity::from_seed(1, 1));
        let keys = ring(&[&a, &b]);
        // Node 1 signs but claims to be node 0.
        let forged = b.sign_message(0, propose("x"));
        assert_eq!(keys.verify_signed(&forged), Err(AuthError::BadSignature(0)));
        // Node 0's signature over 'x' moved onto 'y'.
        let mut altered = a.sign_message(0, propose("x"));
        altered.msg = propose("y");
        assert_eq!(
            keys.verify_signed(&altered),
            Err(AuthError::BadSignature(0))
        );
        // Unknown signer, truncated signature.
        let unknown = Identity::from_seed(1, 7).sign_message(7, propose("x"));
        assert_eq!(
            keys.verify_signed(&unknown),
            Err(AuthError::UnknownSigner(7))
        );
        let mut short = a.sign_message(0, propose("x"));
        short.sig.truncate(10);
        assert_eq!(keys.verify_signed(&short), Err(AuthError::Malformed));
    }

    /// A value signs as its digest: the same batch signs the same bytes
    /// however it was built, a different one different bytes, and the
    /// signature still binds the value (altering it breaks the signature).
    #[test]
    fn a_signature_covers_the_values_digest() {
        let a = Identity::from_seed(2, 0);
        let keys = ring(&[&a]);
        let big = |last: &str| {
            let mut vs: Vec<String> = (0..300).map(|i| format!("value {i}")).collect();
            vs.push(last.into());
            Message::Propose {
                pos: 3,
                ballot: Ballot::new(1, 0),
                value: crate::core::Value::batch(vs),
            }
        };
        let body = |m: Message| Body::Paxos(m);
        let bytes = signing_bytes(0, &body(big("z")));
        assert!(bytes.len() < 100, "{} bytes signed", bytes.len());
        assert_eq!(bytes, signing_bytes(0, &body(big("z"))));
        assert_ne!(bytes, signing_bytes(0, &body(big("y"))));
        let mut s = a.sign_message(0, big("z"));
        assert_eq!(keys.verify_signed(&s), Ok(()));
        s.msg = big("y");
        assert_eq!(keys.verify_signed(&s), Err(AuthError::BadSignature(0)));
    }

    /// What a verifier on another core checks ahead is the packet's own
    /// signature and every signed message inside; what it verified the
    /// shield's keyring finds cached, and what failed stays a failure.
    #[test]
    fn a_precheck_warms_the_shared_cache_and_never_admits_a_bad_signature() {
        let (a, b, c) = (
            Identity::from_seed(4, 0),
            Identity::from_seed(4, 1),
            Identity::from_seed(4, 2),
        );
        let keys = ring(&[&a, &b, &c]);
        let accept = |id: &Identity, from: NodeId| {
            let msg = Message::Accept {
                pos: 0,
                ballot: Ballot::new(1, 0),
                value: "x".into(),
            };
            id.sign_message(from, msg)
        };
        let body = Body::Certified {
            commit: Message::Commit {
                pos: 0,
                value: "x".into(),
            },
            accepts: vec![accept(&a, 0), accept(&b, 1)],
        };
        let sig = a.sign(0, &body);
        let packet = Packet {
            from: 0,
            to: None,
            body: body.clone(),
            sig: Some(sig.clone()),
        };
        // A certificate vouches for itself: its packet signature is the
        // shield's to check, and only when it refuses the Commit.
        assert_eq!(signatures(&packet).len(), 2, "the two Accepts");
        let ahead = keys.sharing();
        precheck(&ahead, &packet);
        let checks = keys.checks_made();
        assert_eq!(checks, 2);
        for s in [accept(&a, 0), accept(&b, 1)] {
            assert_eq!(keys.verify_signed(&s), Ok(()));
        }
        assert_eq!(keys.checks_made(), checks, "both answered by the cache");
        let echo = Packet {
            body: Body::Echo(accept(&b, 1)),
            sig: Some(a.sign(0, &Body::Echo(accept(&b, 1)))),
            ..packet.clone()
        };
        assert_eq!(signatures(&echo).len(), 2, "the echo's own and its Accept");
        precheck(&ahead, &echo);
        assert_eq!(keys.checks_made(), checks + 1, "the Accept was cached");
        assert_eq!(
            keys.verify(0, &echo.body, echo.sig.as_ref().unwrap()),
            Ok(())
        );
        assert_eq!(keys.checks_made(), checks + 1, "and now the echo too");
        // Node 2 signs an Accept in node 1's name: precheck checks it,
        // caches nothing, and the shield's own check still fails.
        let forged = accept(&c, 1);
        let bad = Packet {
            body: Body::Echo(forged.clone()),
            ..packet
        };
        precheck(&ahead, &bad);
        assert_eq!(keys.verify_signed(&forged), Err(AuthError::BadSignature(1)));
    }
}
