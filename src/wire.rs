//! What travels between nodes: a [`Packet`] from one node to one node or to
//! all, carrying a [`Body`] and, with signatures on, the sender's signature
//! over `(from, body)`. The Middleware produces and consumes packets; the
//! network (in-process or the TCP bridge) only moves them.

use crate::auth::Signed;
use crate::core::{Message, NodeId};
use crate::middleware::justify::Justification;
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
    /// Two conflicting signed messages from one node: proof it equivocated.
    Evidence(Signed, Signed),
    /// One signed message whose ballot jumps out of bounds: proof on its own
    /// (the BALLOT_OVERFLOW defence); every receiver re-checks it.
    Overreach(Signed),
    /// A Prepare with the signed message of another node whose round it
    /// climbed over: a justified climb, in bounds of the witness.
    Climb { prepare: Message, witness: Signed },
    /// BFT mode: a Prepared with a proof for each value it reports.
    BftPrepared(crate::middleware::bft::Proven),
    /// BFT mode: a Propose with the Prepareds that justify its value.
    BftPropose(crate::middleware::bft::Justified),
    /// A BFT Propose its own justification does not allow: proof that its
    /// leader ignored the Prepared values; every receiver re-checks it.
    BftUnjustified(crate::middleware::bft::Justified),
    /// A certified Commit whose certificate does not hold by signatures
    /// alone, with its sender's signature over the whole `Certified` body:
    /// proof on its own (the PREMATURE_COMMIT defence); receivers re-check.
    BadCertificate {
        from: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        sig: Vec<u8>,
    },
    /// `signer`'s signature over a packet that claims to come from
    /// `claimed` (the FORGERY defence): `body` is the postcard of the forged
    /// packet's body, the very bytes signed, so receivers re-check it
    /// without decoding it.
    Forgery {
        signer: NodeId,
        claimed: NodeId,
        body: Vec<u8>,
        sig: Vec<u8>,
    },
    /// A `Propose` with the signed Prepared quorum (and the leader's own
    /// accepted Propose) its value is derived from (the IGNORE_PREPARED
    /// defence); acceptors recompute the value.
    Justified(Justification),
    /// A justification whose value contradicts its own reports, with the
    /// leader's signature over the whole `Justified` body: proof that the
    /// leader ignored Prepared values. Every receiver re-checks it.
    Unjustified {
        justification: Justification,
        sig: Vec<u8>,
    },
    /// A node's signed `Accept` and its signed `Prepared` that hides it:
    /// proof of a stale Prepared (STALE_PREPARED). Re-checked by receivers.
    Stale(Signed, Signed),
}

impl Body {
    /// A short label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Paxos(m) => m.kind(),
            Body::Certified { .. } => "Commit+certificate",
            Body::Echo(_) => "Echo",
            Body::Evidence(..) => "Evidence",
            Body::Overreach(_) => "Overreach",
            Body::Climb { .. } => "Prepare+witness",
            Body::BftPrepared(_) => "Prepared+proofs",
            Body::BftPropose(_) => "Propose+justification",
            Body::BftUnjustified(_) => "Unjustified",
            Body::BadCertificate { .. } => "BadCertificate",
            Body::Forgery { .. } => "Forgery",
            Body::Justified(_) => "Propose+justification",
            Body::Unjustified { .. } => "Unjustified",
            Body::Stale(..) => "Stale",
        }
    }
}
