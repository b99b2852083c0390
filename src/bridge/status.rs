//! `paxos status`: the verdict over a cluster's statuses, with the same
//! field names as the demo's summary so one script reads both.

use super::frame::ClusterStatus;
use crate::core::{NodeId, Value};
use crate::term::Palette;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// `paxos status --json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusSummary {
    pub nodes: usize,
    pub attackers: Vec<NodeId>,
    pub honest: Vec<NodeId>,
    /// Registered nodes whose connection to the coordinator is down, or that
    /// did not answer.
    pub unreachable: Vec<NodeId>,
    /// Slots no node has taken yet.
    pub free: Vec<NodeId>,
    /// Each answering honest node's committed values, in log order.
    pub logs: BTreeMap<NodeId, Vec<Value>>,
    /// Positions committed on every answering honest node.
    pub committed: usize,
    /// No position holds two different values on honest nodes.
    pub agreement: bool,
    /// The first position two honest nodes disagree on.
    pub conflict: Option<crate::verdict::Conflict>,
    /// Nodes that at least one honest node flagged.
    pub detected: Vec<NodeId>,
    /// Who flagged whom, attackers' accusations included.
    pub flagged: BTreeMap<NodeId, Vec<NodeId>>,
    /// For each answering node, the other nodes of the cluster it has no
    /// authenticated connection from yet: what it would not hear. Empty
    /// once the cluster is fully connected.
    pub unlinked: BTreeMap<NodeId, Vec<NodeId>>,
}

/// The verdict. Honest means registered without declaring an attack.
pub fn summarize(status: &ClusterStatus) -> StatusSummary {
    let attackers: BTreeSet<NodeId> = status.attackers.iter().copied().collect();
    let answered: BTreeSet<NodeId> = status.nodes.iter().map(|s| s.id).collect();
    let honest: Vec<&crate::actors::NodeStatus> = status
        .nodes
        .iter()
        .filter(|s| !attackers.contains(&s.id))
        .collect();
    let logs: Vec<_> = honest.iter().map(|s| &s.log).collect();
    let (agreement, committed) = crate::verdict::agreement(&logs);
    let with_ids: Vec<_> = honest.iter().map(|s| (s.id, &s.log)).collect();
    let conflict = crate::verdict::first_conflict(&with_ids);
    let honest_ids: BTreeSet<NodeId> = honest.iter().map(|s| s.id).collect();
    let detected = crate::verdict::detected(honest.iter().map(|s| (s.id, &s.flagged)), &honest_ids);
    let registered: BTreeSet<NodeId> = status.registered.iter().copied().collect();
    let unreachable: BTreeSet<NodeId> = (0..status.n as NodeId)
        .filter(|id| registered.contains(id) || status.unreachable.contains(id))
        .filter(|id| status.unreachable.contains(id) || !answered.contains(id))
        .collect();
    let free: Vec<NodeId> = (0..status.n as NodeId)
        .filter(|id| {
            !registered.contains(id) && !answered.contains(id) && !unreachable.contains(id)
        })
        .collect();
    StatusSummary {
        nodes: status.n,
        attackers: attackers.iter().copied().collect(),
        honest: honest.iter().map(|s| s.id).collect(),
        unreachable: unreachable.into_iter().collect(),
        free,
        logs: honest
            .iter()
            .map(|s| (s.id, s.log.values().cloned().collect()))
            .collect(),
        committed,
        agreement,
        conflict,
        detected: detected.into_iter().collect(),
        flagged: status
            .nodes
            .iter()
            .filter(|s| !s.flagged.is_empty())
            .map(|s| (s.id, s.flagged.iter().copied().collect()))
            .collect(),
        unlinked: unlinked(status),
    }
}

/// Who does not hear whom yet: `(node, [peers it has no connection from])`.
fn unlinked(status: &ClusterStatus) -> BTreeMap<NodeId, Vec<NodeId>> {
    status
        .nodes
        .iter()
        .filter_map(|s| {
            let hears = s.hears_from.as_ref()?;
            let missing: Vec<NodeId> = (0..status.n as NodeId)
                .filter(|p| *p != s.id && !hears.contains(p))
                .collect();
            (!missing.is_empty()).then_some((s.id, missing))
        })
        .collect()
}

/// The human-readable form.
pub fn render(s: &StatusSummary, paint: &Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "cluster of {} nodes", s.nodes);
    for (id, log) in &s.logs {
        let _ = writeln!(out, "  node {id}: {log:?}");
    }
    for id in &s.attackers {
        let _ = writeln!(out, "  node {id}: attacker");
    }
    for id in &s.unreachable {
        let _ = writeln!(out, "  node {id}: unreachable");
    }
    for id in &s.free {
        let _ = writeln!(out, "  node {id}: not registered yet (a free slot)");
    }
    for (by, accused) in &s.flagged {
        let accused: BTreeSet<NodeId> = accused.iter().copied().collect();
        let _ = writeln!(
            out,
            "  node {by} flagged {}",
            crate::verdict::nodes(&accused)
        );
    }
    for (id, missing) in &s.unlinked {
        let _ = writeln!(out, "  node {id}: no connection from {missing:?}");
    }
    let mut flagged_by: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
    for (by, accused) in &s.flagged {
        for a in accused.iter().filter(|a| s.detected.contains(a)) {
            if s.honest.contains(by) {
                flagged_by.entry(*a).or_default().insert(*by);
            }
        }
    }
    let v = crate::verdict::Verdict {
        conflict: s.conflict.as_ref(),
        positions: s.committed,
        flagged_by,
        ..Default::default()
    };
    let _ = writeln!(out, "verdict:");
    for (label, good, text) in v.lines() {
        // Agreement is checked over the logs that answered: say so when
        // some could not be read.
        let text = match (label, good, s.unreachable.is_empty()) {
            ("agreement", Some(true), false) => format!(
                "{text}; {} unreachable, not checked",
                crate::verdict::nodes(&s.unreachable.iter().copied().collect())
            ),
            _ => text,
        };
        let text = match good {
            Some(ok) if label != "detected" => paint.verdict(ok, &text),
            _ => text,
        };
        let _ = writeln!(out, "  {:<10} {text}", format!("{label}:"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::NodeStatus;

    fn node(id: NodeId, log: &[&str], flagged: &[NodeId]) -> NodeStatus {
        NodeStatus {
            id,
            log: log
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u64, Value::from(*v)))
                .collect(),
            flagged: flagged.iter().copied().collect(),
            hears_from: None,
            more: None,
        }
    }

    #[test]
    fn attackers_do_not_count_and_divergence_is_reported() {
        let s = summarize(&ClusterStatus {
            n: 4,
            attackers: vec![0],
            unreachable: vec![],
            registered: vec![0, 1, 2, 3],
            nodes: vec![
                node(0, &["evil"], &[1]),
                node(1, &["a", "b"], &[0]),
                node(2, &["a"], &[]),
            ],
        });
        assert!(s.agreement);
        assert_eq!(s.honest, vec![1, 2]);
        assert_eq!(s.committed, 1);
        assert_eq!(s.detected, vec![0]);
        assert_eq!(s.unreachable, vec![3]);
        assert!(s.free.is_empty());
        assert_eq!(s.flagged.get(&0), Some(&vec![1]));
        // What could not be read is not vouched for.
        let text = render(&s, &Palette::plain());
        assert!(text.contains("node 3 unreachable, not checked"), "{text}");

        let s = summarize(&ClusterStatus {
            n: 2,
            attackers: vec![],
            unreachable: vec![],
            registered: (0..2).collect(),
            nodes: vec![node(0, &["a"], &[]), node(1, &["b"], &[])],
        });
        assert!(!s.agreement);
    }

    #[test]
    fn a_node_that_does_not_hear_a_peer_yet_is_reported() {
        let mut a = node(0, &[], &[]);
        a.hears_from = Some([1].into());
        let mut b = node(1, &[], &[]);
        b.hears_from = Some([0, 2].into());
        let s = summarize(&ClusterStatus {
            n: 3,
            attackers: vec![],
            unreachable: vec![],
            registered: (0..3).collect(),
            nodes: vec![a, b, node(2, &[], &[])],
        });
        assert_eq!(s.unlinked, BTreeMap::from([(0, vec![2])]));
        let text = render(&s, &Palette::plain());
        assert!(text.contains("node 0: no connection from [2]"), "{text}");
    }

    #[test]
    fn the_text_says_who_flagged_whom() {
        let s = summarize(&ClusterStatus {
            n: 3,
            attackers: vec![0],
            unreachable: vec![],
            registered: (0..3).collect(),
            nodes: vec![node(1, &[], &[0]), node(2, &[], &[0])],
        });
        let text = render(&s, &Palette::plain());
        assert!(text.contains("node 1 flagged node 0"), "{text}");
        assert!(text.contains("node 2 flagged node 0"), "{text}");
        assert!(
            text.contains("detected:  node 0 (flagged by nodes 1 and 2)"),
            "{text}"
        );
        let split = summarize(&ClusterStatus {
            n: 3,
            attackers: vec![0],
            unreachable: vec![],
            registered: vec![1, 2],
            nodes: vec![node(1, &["a", "b"], &[]), node(2, &["a", "c"], &[])],
        });
        let text = render(&split, &Palette::plain());
        assert!(
            text.contains("node 0: not registered yet (a free slot)"),
            "{text}"
        );
        assert!(
            text.contains("agreement: NO — position 1: node 1 committed 'b', node 2 committed 'c'"),
            "{text}"
        );
    }
}
