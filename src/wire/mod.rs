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
use crate::core::{Message, NodeId};
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
    Accuse(Proof),
    /// A Prepare with the signed message of another node whose round it
    /// climbed over: a justified climb, in bounds of the witness.
    Climb { prepare: Message, witness: Signed },
    /// BFT mode: a Prepared with a proof for each value it reports.
    BftPrepared(Proven),
    /// BFT mode: a Propose with the Prepareds that justify its value.
    BftPropose(BftJustified),
    /// A `Propose` with the signed Prepared quorum (and the leader's own
    /// accepted Propose) its value is derived from (the IGNORE_PREPARED
    /// defence); acceptors recompute the value.
    Justified(Justification),
}

impl Body {
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

/// The exact bytes a signature covers: a domain tag, the sender, the body.
pub fn signing_bytes(from: NodeId, body: &Body) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + 4 + 64);
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(&from.to_le_bytes());
    // postcard is compact, fast and deterministic over our types (no maps
    // with unordered keys), so equal bodies always sign the same bytes.
    postcard::to_io(body, &mut bytes).expect("bodies always serialize");
    bytes
}

/// The body part of [`signing_bytes`]: what a forgery proof carries.
pub fn body_bytes(body: &Body) -> Vec<u8> {
    postcard::to_allocvec(body).expect("bodies always serialize")
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
}
