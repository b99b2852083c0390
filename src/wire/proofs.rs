//! The proofs that travel inside packet bodies: what a Propose carries to
//! justify its value, and what a BFT Prepared carries to make its reports
//! count. Plain signed data, checkable by any third party that holds the
//! keys; the checks themselves are the middleware's
//! ([`crate::middleware::justify`], [`crate::middleware::bft`]).

use crate::auth::Signed;
use crate::core::NodeId;
use serde::{Deserialize, Serialize};

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
pub enum Proof {
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
    pub proofs: Vec<Option<Proof>>,
}

/// A BFT Propose: the leader's signed Propose and its justification.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Justified {
    pub propose: Signed,
    pub justification: Vec<Proven>,
}
