//! The client's policy, as plain functions and a small sans-IO state: which
//! node to ask for each value, and when to ask again.
//!
//! Paxos commits what proposers propose; whether *every* value the client
//! wanted ends up committed also depends on the client. A value asked of a
//! node that crashed (its queue was volatile) or that the cluster caught
//! misbehaving may never be proposed, so the client asks again. The
//! coordinator actor follows this policy; the simulator drives this very code
//! so its liveness verdict is about the same client.

use crate::attack::Attack;
use crate::core::{NodeId, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The order in which the client asks nodes, one value each, round robin.
///
/// The seed's habit: ask the SAFETY attacker first (so it leads position 0)
/// and never ask the LIVENESS attacker; otherwise every node in turn,
/// starting at `attacker`.
pub fn targets(nodes: usize, attack: Option<Attack>, attacker: NodeId) -> Vec<NodeId> {
    let n = nodes as NodeId;
    match attack {
        Some(a) if !a.takes_requests() => (0..n).filter(|&id| id != attacker).collect(),
        _ => (0..n).map(|i| (i + attacker) % n.max(1)).collect(),
    }
}

/// What the client knows and whom it asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    nodes: Vec<NodeId>,
    /// The node last asked to propagate each value.
    asked: BTreeMap<Value, NodeId>,
    /// Values some node reported committed.
    committed: BTreeSet<Value>,
    /// Nodes some honest node flagged: never asked again.
    suspects: BTreeSet<NodeId>,
    next: usize,
}

impl Client {
    /// A client of the nodes `nodes`.
    pub fn new(nodes: impl IntoIterator<Item = NodeId>) -> Self {
        Client {
            nodes: nodes.into_iter().collect(),
            ..Client::default()
        }
    }

    /// Record that `node` was asked to propagate `value`.
    pub fn asked(&mut self, value: Value, node: NodeId) {
        self.asked.insert(value, node);
    }

    /// Every value asked so far, with the node last asked.
    pub fn requests(&self) -> &BTreeMap<Value, NodeId> {
        &self.asked
    }

    /// A node reported `value` committed.
    pub fn committed(&mut self, value: &Value) {
        if !self.committed.contains(value) {
            self.committed.insert(value.clone());
        }
    }

    /// Some honest node flagged `node`: the client stops trusting it.
    pub fn flagged(&mut self, node: NodeId) {
        self.suspects.insert(node);
    }

    /// The nodes the client no longer asks.
    pub fn suspects(&self) -> &BTreeSet<NodeId> {
        &self.suspects
    }

    /// The next node, round robin, that nobody flagged.
    pub fn pick(&mut self) -> Option<NodeId> {
        let ok: Vec<NodeId> = self
            .nodes
            .iter()
            .copied()
            .filter(|id| !self.suspects.contains(id))
            .collect();
        if ok.is_empty() {
            return None;
        }
        let id = ok[self.next % ok.len()];
        self.next += 1;
        Some(id)
    }

    /// The node to ask for a new value meant for `preferred`: that node,
    /// unless it was flagged, in which case the next trusted one.
    pub fn route(&mut self, preferred: NodeId) -> Option<NodeId> {
        if self.suspects.contains(&preferred) {
            self.pick()
        } else {
            Some(preferred)
        }
    }

    /// Values asked of a flagged node and not committed yet, each with the
    /// node to ask instead (recorded as asked). A flagged node may never
    /// propose what it was given.
    pub fn resend_from_suspects(&mut self) -> Vec<(Value, NodeId)> {
        let stuck: Vec<Value> = self
            .asked
            .iter()
            .filter(|(v, node)| self.suspects.contains(node) && !self.committed.contains(*v))
            .map(|(v, _)| v.clone())
            .collect();
        let mut again = Vec::new();
        for value in stuck {
            if let Some(node) = self.pick() {
                self.asked(value.clone(), node);
                again.push((value, node));
            }
        }
        again
    }

    /// `node` restarted after a crash: its queue of client values was
    /// volatile, so the values asked of it and not committed yet are asked
    /// of it again.
    pub fn restarted(&self, node: NodeId) -> Vec<Value> {
        self.asked
            .iter()
            .filter(|(v, n)| **n == node && !self.committed.contains(*v))
            .map(|(v, _)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safety_attacker_is_asked_first_and_the_liveness_one_never() {
        assert_eq!(targets(3, Some(Attack::Safety), 1), vec![1, 2, 0]);
        assert_eq!(targets(3, Some(Attack::Liveness), 1), vec![0, 2]);
        assert_eq!(targets(3, Some(Attack::BallotOverflow), 1), vec![0, 2]);
        assert_eq!(targets(3, None, 0), vec![0, 1, 2]);
    }

    #[test]
    fn values_of_a_flagged_node_go_elsewhere_unless_committed() {
        let mut c = Client::new(0..3);
        c.asked("a".into(), 0);
        c.asked("b".into(), 0);
        c.asked("c".into(), 1);
        c.committed(&"b".into());
        c.flagged(0);
        let again = c.resend_from_suspects();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, "a");
        assert_ne!(again[0].1, 0, "never the flagged node");
        assert!(c.resend_from_suspects().is_empty(), "asked elsewhere now");
        assert_eq!(c.route(1), Some(1));
        assert_ne!(c.route(0), Some(0), "new values avoid the flagged node");
    }

    #[test]
    fn a_restarted_node_gets_back_what_it_lost() {
        let mut c = Client::new(0..3);
        c.asked("a".into(), 2);
        c.asked("b".into(), 2);
        c.asked("c".into(), 1);
        c.committed(&"a".into());
        assert_eq!(c.restarted(2), vec![Value::from("b")]);
    }
}
