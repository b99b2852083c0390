//! The protocol's vocabulary: node ids, log positions, ballots and values.
//!
//! Everything here is plain data that derives `Clone, Debug, Eq, Hash, Ord`
//! and serde, so the same values travel through actors, the TCP bridge, the
//! simulator and a model checker unchanged.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the cluster, numbered `0..n` everywhere (output, flags, JSON).
pub type NodeId = u32;

/// A position (slot) of the replicated log.
pub type Pos = u64;

/// A value the client asked the cluster to propagate.
pub type Value = String;

/// A ballot number: `(round, node)`, totally ordered by round first, then by
/// the node that owns it, so two proposers never use the same ballot.
///
/// `Ballot::ZERO` is below every ballot a proposer uses (proposers start at
/// round 1), and stands for "no promise yet".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Ballot {
    /// Compared first: a higher round wins.
    pub round: u64,
    /// Breaks ties between proposers that picked the same round.
    pub node: NodeId,
}

impl Ballot {
    /// Below every ballot a proposer will ever use.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    pub fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

/// The size of a majority quorum of `n` nodes: `n/2 + 1`.
///
/// Any two majorities of the same `n` intersect in at least one node, which is
/// the whole of Paxos's safety argument against crashes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        assert!(Ballot::new(2, 0) > Ballot::new(1, 9));
        assert!(Ballot::new(1, 2) > Ballot::new(1, 1));
        assert!(Ballot::ZERO < Ballot::new(1, 0));
    }

    #[test]
    fn majority_intersects() {
        for n in 1..20 {
            let q = majority(n);
            assert!(2 * q > n, "two quorums of {q} out of {n} must intersect");
            assert!(q <= n);
        }
    }
}
