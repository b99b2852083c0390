//! The proofs that travel inside packet bodies: what a Propose carries to
//! justify its value, and what a BFT Prepared carries to make its reports
//! count. Plain signed data, checkable by any third party that holds the
//! keys; the checks themselves are the middleware's
//! ([`crate::middleware::justify`], [`crate::middleware::bft`]).
//!
//! An accusation carries one [`Proof`]: what each kind says about whom and
//! where is written here, once; whether it holds is re-checked by every
//! receiver before it changes anything (`middleware/accuse.rs`).

use crate::auth::Signed;
use crate::core::{Message, NodeId, Pos};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A Propose and what justifies its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Justification {
    /// The leader's signed `Propose(p, b, v)`.
    pub propose: Signed,
    /// Signed `Prepared(p0 ≤ p, b, …)` of distinct nodes.
    pub prepareds: Vec<Signed>,
    /// The signed Propose the leader itself last accepted at `p`, in a
    /// ballot below `b` (signed by that ballot's leader).
    pub own: Option<Signed>,
}

/// Why a reported value may count.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ValueProof {
    /// The value's leader signed the Propose, and these nodes signed an echo
    /// of it: with the leader, a quorum vouched for it.
    Prepared {
        propose: Signed,
        echoes: Vec<(NodeId, Vec<u8>)>,
    },
    /// A quorum of signed Accepts of the value at its position.
    Committed { accepts: Vec<Signed> },
}

/// A BFT Prepared: the acceptor's signed message and a proof per report.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Proven {
    pub prepared: Signed,
    /// `proofs[i]` proves the i-th report of the Prepared; `None` for a
    /// report its sender cannot prove (it does not count).
    pub proofs: Vec<Option<ValueProof>>,
}

/// A BFT Propose: the leader's signed Propose and its justification.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BftJustified {
    pub propose: Signed,
    pub justification: Vec<Proven>,
}

/// What a node was flagged on: the kind of evidence, as `paxos matrix`
/// reports it. Each is checkable by any third party (or, for the Prepare
/// limit, a count each node makes itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Two signed Proposes for one (position, ballot) with different values.
    Equivocation,
    /// One signed message whose ballot jumps out of bounds.
    Overreach,
    /// Too many Prepares cutting off fresh promises (counted, not proven).
    PrepareLimit,
    /// A signed Commit whose certificate lacks a quorum of valid Accepts.
    BadCertificate,
    /// A packet signed with one node's key that claims another sender.
    Forgery,
    /// A signed justified Propose whose value is not the one its own
    /// Prepared quorum calls for.
    IgnoredPrepared,
    /// A signed Accept and a later signed Prepared of the same node that
    /// does not report it.
    StalePrepared,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).expect("a unit variant serializes");
        f.write_str(s.as_str().unwrap_or("?"))
    }
}

/// Self-verifying evidence that one node broke the protocol: what an
/// accusation (`Body::Accuse`) carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Proof {
    /// Two signed Proposes of one leader for one (position, ballot) with
    /// different values (SAFETY, caught by the echo).
    Equivocation(Signed, Signed),
    /// One signed message whose ballot jumps out of bounds
    /// (BALLOT_OVERFLOW); receivers compare it with their own highest round.
    Overreach(Signed),
    /// A certified Commit whose certificate does not hold by signatures
    /// alone, with its sender's signature over the whole `Certified` body
    /// (PREMATURE_COMMIT).
    BadCertificate {
        from: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        sig: Vec<u8>,
    },
    /// `signer`'s signature over a packet that claims to come from
    /// `claimed` (FORGERY): `body` is the postcard of the forged packet's
    /// body, the very bytes signed, so receivers re-check it without
    /// decoding it.
    Forgery {
        signer: NodeId,
        claimed: NodeId,
        body: Vec<u8>,
        sig: Vec<u8>,
    },
    /// A justification whose value contradicts its own reports, with the
    /// leader's signature over the whole `Justified` body
    /// (IGNORE_PREPARED, classic mode).
    IgnoredPrepared {
        justification: Justification,
        sig: Vec<u8>,
    },
    /// A BFT Propose its own justification does not allow (IGNORE_PREPARED,
    /// BFT mode).
    BftIgnoredPrepared(BftJustified),
    /// A node's signed `Accept` and its signed `Prepared` that hides it
    /// (STALE_PREPARED).
    StalePrepared(Signed, Signed),
}

impl Proof {
    /// The node this proof accuses.
    pub fn accused(&self) -> NodeId {
        match self {
            Proof::Equivocation(a, _) | Proof::Overreach(a) | Proof::StalePrepared(a, _) => a.from,
            Proof::BadCertificate { from, .. } => *from,
            Proof::Forgery { signer, .. } => *signer,
            Proof::IgnoredPrepared { justification, .. } => justification.propose.from,
            Proof::BftIgnoredPrepared(j) => j.propose.from,
        }
    }

    /// What the accused is flagged on.
    pub fn evidence(&self) -> Evidence {
        match self {
            Proof::Equivocation(..) => Evidence::Equivocation,
            Proof::Overreach(_) => Evidence::Overreach,
            Proof::BadCertificate { .. } => Evidence::BadCertificate,
            Proof::Forgery { .. } => Evidence::Forgery,
            Proof::IgnoredPrepared { .. } | Proof::BftIgnoredPrepared(_) => {
                Evidence::IgnoredPrepared
            }
            Proof::StalePrepared(..) => Evidence::StalePrepared,
        }
    }

    /// The log position it is about, if one (a forgery's is inside bytes
    /// nobody decodes).
    pub fn position(&self) -> Option<Pos> {
        match self {
            Proof::Equivocation(a, _) | Proof::Overreach(a) | Proof::StalePrepared(a, _) => {
                Some(a.msg.pos())
            }
            Proof::BadCertificate { commit, .. } => Some(commit.pos()),
            Proof::Forgery { .. } => None,
            Proof::IgnoredPrepared { justification, .. } => Some(justification.propose.msg.pos()),
            Proof::BftIgnoredPrepared(j) => Some(j.propose.msg.pos()),
        }
    }

    /// A short label for logs (`Body::kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Proof::Equivocation(..) => "Evidence",
            Proof::Overreach(_) => "Overreach",
            Proof::BadCertificate { .. } => "BadCertificate",
            Proof::Forgery { .. } => "Forgery",
            Proof::IgnoredPrepared { .. } | Proof::BftIgnoredPrepared(_) => "Unjustified",
            Proof::StalePrepared(..) => "Stale",
        }
    }

    /// Its name in charts and the simulator's trace.
    pub fn title(&self) -> &'static str {
        match self {
            Proof::Equivocation(..) => "Evidence",
            Proof::Overreach(_) => "Overreach evidence",
            Proof::BadCertificate { .. } => "BadCertificate evidence",
            Proof::Forgery { .. } => "Forgery evidence",
            Proof::IgnoredPrepared { .. } | Proof::BftIgnoredPrepared(_) => "Unjustified evidence",
            Proof::StalePrepared(..) => "Stale-Prepared evidence",
        }
    }
}

impl fmt::Display for Proof {
    /// `Overreach evidence against node 0`, with what a forgery claimed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} against node {}", self.title(), self.accused())?;
        match self {
            Proof::Forgery { claimed, .. } => write!(f, " (signed as node {claimed})"),
            Proof::BadCertificate { commit, .. } => write!(f, " ({commit})"),
            _ => Ok(()),
        }
    }
}
