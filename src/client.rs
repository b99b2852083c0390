//! The client's policy, as plain functions and a small sans-IO state: which
//! node to ask for each value, and when to ask again.
//!
//! Paxos commits what proposers propose; whether *every* value the client
//! wanted ends up committed also depends on the client. A value asked of a
//! node that crashed (its queue was volatile) or that the cluster caught
//! misbehaving may never be proposed, so the client asks again. A Byzantine
//! node can also just sit on a value without doing anything anyone can
//! prove, so — as PBFT's clients do — a value not committed within the
//! client's patience is asked of the next trusted node too, with the
//! patience doubling on each try (up to [`MAX_BACKOFF`] times) so a long
//! partition does not turn into a storm of duplicates. The patience itself
//! follows the measured commit latency ([`Client::patience`]), and a value
//! whose node keeps committing others waits longer ([`Client::overdue`]):
//! slowness must not become duplicates. For plain values the client is
//! at-least-once: a value asked twice may be committed at two positions (a
//! key-value request carries its session, and the store applies it once:
//! [`crate::kv`]).
//!
//! It asks one node for everything ([`Client::pick`]), so one proposer
//! leads the log and nobody contends for it. A node that does not lead
//! answers with the leader it knows (`Event::Redirected`), and the client
//! asks that node to propose the value ([`Client::redirected`]): leader
//! forwarding, done by the client as Raft's and etcd's clients do, so no
//! new message crosses the shields. A value asked again — after a
//! redirect, a flag, a crash or the patience — is always proposed by the
//! node asked: a node that names a leader that then sits on the value
//! cannot keep it from the log.
//!
//! Time is whatever the caller counts in (ticks in the simulator,
//! milliseconds in the coordinator actor): the client has no clock. The
//! coordinator actor and the simulator both drive this very code, so the
//! simulator's liveness verdict is about the same client.

use crate::attack::Attack;
use crate::core::{NodeId, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The order in which the demo's and the simulator's scripted client asks
/// nodes, one value each, round robin.
///
/// Under attack, the brief's habit, which the attack scenarios are built
/// on: ask the SAFETY attacker first (so it leads position 0) and never ask
/// the LIVENESS attacker; otherwise every node in turn, starting at
/// `attacker` — each node proposes what it is asked, contending for the
/// log as the brief's nodes do. With no attack, one node (the first the
/// [`Client`] picks), which may name the leader instead.
pub fn targets(nodes: usize, attack: Option<Attack>, attacker: NodeId) -> Vec<NodeId> {
    let n = nodes as NodeId;
    match attack {
        None => vec![0],
        Some(a) if !a.takes_requests() => (0..n).filter(|&id| id != attacker).collect(),
        _ => (0..n).map(|i| (i + attacker) % n.max(1)).collect(),
    }
}

/// The patience doubles at most this many times for one value.
pub const MAX_BACKOFF: u32 = 3;

/// A value waits at most this many patiences while other values commit.
pub const PROGRESS_CAP: u64 = 8;

/// One value the client asked for and has not seen committed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ask {
    /// The node last asked.
    node: NodeId,
    /// When it was asked (the caller's time).
    at: u64,
    /// How many times it was asked again for want of a commit.
    tries: u32,
}

/// What the client knows and whom it asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    nodes: BTreeSet<NodeId>,
    /// Each value asked and not committed yet.
    asked: BTreeMap<Value, Ask>,
    /// Every value ever asked.
    requested: BTreeSet<Value>,
    /// Values some node reported committed.
    committed: BTreeSet<Value>,
    /// Nodes some honest node flagged: never asked again.
    suspects: BTreeSet<NodeId>,
    /// Nodes out of reach for now (a lost connection): not asked until
    /// they are back.
    down: BTreeSet<NodeId>,
    /// The node new values are asked of: the leader as far as the client
    /// knows (a node's redirect names it), else the node it settled on.
    leader: Option<NodeId>,
    next: usize,
    /// Smoothed commit latency and its variation (RFC 6298's SRTT and
    /// RTTVAR), from values committed on their first ask (Karn's rule: a
    /// value asked twice says nothing about either ask).
    srtt: Option<u64>,
    rttvar: u64,
    /// When a value last committed: a cluster that keeps committing is
    /// working through its queues, not sitting on what waits in them.
    progress: u64,
}

impl Client {
    /// A client of the nodes `nodes`.
    pub fn new(nodes: impl IntoIterator<Item = NodeId>) -> Self {
        Client {
            nodes: nodes.into_iter().collect(),
            ..Client::default()
        }
    }

    /// A node joined (multi-process mode) or is reachable again.
    pub fn joined(&mut self, node: NodeId) {
        self.nodes.insert(node);
        self.down.remove(&node);
    }

    /// A node's connection went down: not asked until it is back.
    pub fn lost(&mut self, node: NodeId) {
        self.down.insert(node);
    }

    /// Record that `node` was asked to propagate `value` at time `now`.
    pub fn asked(&mut self, value: Value, node: NodeId, now: u64) {
        if !self.requested.contains(&value) {
            self.requested.insert(value.clone());
        }
        if self.committed.contains(&value) {
            return;
        }
        let tries = self.asked.get(&value).map_or(0, |a| a.tries);
        self.asked.insert(
            value,
            Ask {
                node,
                at: now,
                tries,
            },
        );
    }

    /// Every value ever asked, committed or not.
    pub fn requested(&self) -> &BTreeSet<Value> {
        &self.requested
    }

    /// A node reported `value` committed, at time `now`.
    pub fn committed(&mut self, value: &Value, now: u64) {
        if self.committed.contains(value) {
            return;
        }
        if let Some(a) = self.asked.remove(value) {
            if a.tries == 0 {
                self.sample(now.saturating_sub(a.at));
            }
        }
        self.progress = self.progress.max(now);
        self.committed.insert(value.clone());
    }

    fn sample(&mut self, r: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                self.rttvar = (3 * self.rttvar + s.abs_diff(r)) / 4;
                self.srtt = Some((7 * s + r) / 8);
            }
        }
    }

    /// The patience the measured commit latency calls for, as TCP's
    /// retransmit timer: SRTT + 4·RTTVAR, kept within `[floor, ceiling]`;
    /// `initial` before anything committed.
    pub fn patience(&self, initial: u64, floor: u64, ceiling: u64) -> u64 {
        match self.srtt {
            None => initial,
            Some(s) => s.saturating_add(4 * self.rttvar).clamp(floor, ceiling),
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

    fn avoided(&self, node: NodeId) -> bool {
        self.suspects.contains(&node) || self.down.contains(&node)
    }

    /// The node to ask for a new value: the leader the client knows of,
    /// as long as nobody flagged it and it is not down; else the next
    /// trusted node round robin, which it then keeps asking. One node asked
    /// for everything is one proposer: nobody contends for the log until
    /// that node is lost.
    pub fn pick(&mut self) -> Option<NodeId> {
        if let Some(l) = self.leader.filter(|&l| self.usable(l)) {
            return Some(l);
        }
        let id = self.rotate(None)?;
        self.leader = Some(id);
        Some(id)
    }

    fn usable(&self, node: NodeId) -> bool {
        self.nodes.contains(&node) && !self.avoided(node)
    }

    /// The next trusted node round robin other than `not` (`not` itself
    /// if it is the only one left).
    fn rotate(&mut self, not: Option<NodeId>) -> Option<NodeId> {
        let ok: Vec<NodeId> = self
            .nodes
            .iter()
            .copied()
            .filter(|&id| !self.avoided(id))
            .collect();
        if ok.is_empty() {
            return None;
        }
        let others = ok.iter().filter(|&&id| Some(id) != not).count();
        loop {
            let id = ok[self.next % ok.len()];
            self.next += 1;
            if others == 0 || Some(id) != not {
                return Some(id);
            }
        }
    }

    /// A trusted node other than `not` (which failed to commit a value in
    /// time): the leader if that is another node, else the next one round
    /// robin, which new values then go to as well.
    fn pick_other(&mut self, not: NodeId) -> Option<NodeId> {
        if let Some(l) = self.leader.filter(|&l| l != not && self.usable(l)) {
            return Some(l);
        }
        let id = self.rotate(Some(not))?;
        self.leader = Some(id);
        Some(id)
    }

    /// Node `by`, asked for `value`, answered that `leader` leads: the node
    /// to ask now, which must then propose the value itself — the leader,
    /// or `by` when the client will not ask the leader (flagged, down, or
    /// not a member). New values go to the leader too. `None`: nothing to
    /// do (the value committed, or was asked of another node since).
    pub fn redirected(&mut self, value: &Value, by: NodeId, leader: NodeId) -> Option<NodeId> {
        if self.asked.get(value)?.node != by {
            return None;
        }
        let to = if leader != by && self.usable(leader) {
            self.leader = Some(leader);
            leader
        } else {
            by
        };
        if let Some(a) = self.asked.get_mut(value) {
            a.node = to;
        }
        Some(to)
    }

    /// The node to ask for a new value meant for `preferred`: that node,
    /// unless it was flagged or is down, in which case the next trusted one.
    pub fn route(&mut self, preferred: NodeId) -> Option<NodeId> {
        if self.avoided(preferred) {
            self.pick()
        } else {
            Some(preferred)
        }
    }

    /// Values asked of a flagged or unreachable node and not committed yet,
    /// each with the node to ask instead (recorded as asked at `now`). A
    /// flagged node may never propose what it was given.
    pub fn resend_from_suspects(&mut self, now: u64) -> Vec<(Value, NodeId)> {
        let stuck: Vec<Value> = self
            .asked
            .iter()
            .filter(|(_, a)| self.avoided(a.node))
            .map(|(v, _)| v.clone())
            .collect();
        let mut again = Vec::new();
        for value in stuck {
            if let Some(node) = self.pick() {
                self.asked(value.clone(), node, now);
                again.push((value, node));
            }
        }
        again
    }

    /// Values not committed within the client's patience: each is asked of
    /// the next trusted node (recorded as asked at `now`), and its patience
    /// doubles, up to [`MAX_BACKOFF`] times. What nobody can prove against
    /// a node — sitting on a value — is what this answers.
    ///
    /// The wait restarts whenever another value commits (a busy cluster is
    /// working through its queues, as an ACK restarts TCP's timer; a value
    /// queued at a node that does not lead waits for its turn), but never
    /// beyond [`PROGRESS_CAP`] times the patience: a node cannot sit on a
    /// value forever because others commit theirs.
    pub fn overdue(&mut self, now: u64, patience: u64) -> Vec<(Value, NodeId)> {
        let late: Vec<(Value, NodeId)> = self
            .asked
            .iter()
            .filter(|(_, a)| {
                let wait = patience.saturating_mul(1 << a.tries.min(MAX_BACKOFF));
                let moved = a.at.max(self.progress);
                now.saturating_sub(moved) >= wait
                    || now.saturating_sub(a.at) >= wait.saturating_mul(PROGRESS_CAP)
            })
            .map(|(v, a)| (v.clone(), a.node))
            .collect();
        let mut again = Vec::new();
        for (value, last) in late {
            let Some(node) = self.pick_other(last) else {
                break;
            };
            if let Some(a) = self.asked.get_mut(&value) {
                a.node = node;
                a.at = now;
                a.tries = a.tries.saturating_add(1);
            }
            again.push((value, node));
        }
        again
    }

    /// `node` restarted after a crash: its queue of client values was
    /// volatile, so the values asked of it and not committed yet are asked
    /// of it again.
    pub fn restarted(&self, node: NodeId) -> Vec<Value> {
        self.asked
            .iter()
            .filter(|(_, a)| a.node == node)
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
        assert_eq!(targets(3, None, 2), vec![0], "no attack: one node");
    }

    #[test]
    fn the_client_keeps_asking_one_node_and_follows_a_redirect_to_the_leader() {
        let mut c = Client::new(0..3);
        let first = c.pick().unwrap();
        assert_eq!(c.pick(), Some(first), "one node for every new value");
        c.asked("a".into(), first, 0);
        let leader = (first + 1) % 3;
        assert_eq!(c.redirected(&"a".into(), first, leader), Some(leader));
        assert_eq!(c.pick(), Some(leader), "new values go to the leader");
        // Only the node last asked can redirect a value; a committed one
        // is not asked again.
        assert_eq!(c.redirected(&"a".into(), first, leader), None);
        c.committed(&"a".into(), 1);
        assert_eq!(c.redirected(&"a".into(), leader, first), None);
        // A redirect to a node the client avoids: the node asked proposes it.
        c.asked("b".into(), leader, 2);
        let flagged = (leader + 1) % 3;
        c.flagged(flagged);
        assert_eq!(c.redirected(&"b".into(), leader, flagged), Some(leader));
        assert_eq!(c.pick(), Some(leader));
        // The leader lost: new values and overdue ones move to another node.
        c.lost(leader);
        let next = c.pick().unwrap();
        assert!(next != leader && next != flagged);
        assert_eq!(c.overdue(10_000, 10), vec![(Value::from("b"), next)]);
    }

    #[test]
    fn values_of_a_flagged_node_go_elsewhere_unless_committed() {
        let mut c = Client::new(0..3);
        c.asked("a".into(), 0, 0);
        c.asked("b".into(), 0, 0);
        c.asked("c".into(), 1, 0);
        c.committed(&"b".into(), 0);
        c.flagged(0);
        let again = c.resend_from_suspects(1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, "a");
        assert_ne!(again[0].1, 0, "never the flagged node");
        assert!(c.resend_from_suspects(2).is_empty(), "asked elsewhere now");
        assert_eq!(c.route(1), Some(1));
        assert_ne!(c.route(0), Some(0), "new values avoid the flagged node");
    }

    #[test]
    fn a_restarted_node_gets_back_what_it_lost() {
        let mut c = Client::new(0..3);
        c.asked("a".into(), 2, 0);
        c.asked("b".into(), 2, 0);
        c.asked("c".into(), 1, 0);
        c.committed(&"a".into(), 0);
        assert_eq!(c.restarted(2), vec![Value::from("b")]);
    }

    #[test]
    fn a_value_nobody_commits_is_asked_elsewhere_with_growing_patience() {
        let mut c = Client::new(0..3);
        c.asked("a".into(), 1, 0);
        c.asked("b".into(), 2, 5);
        assert!(c.overdue(9, 10).is_empty(), "still within patience");
        let again = c.overdue(10, 10);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].0, "a");
        assert_ne!(again[0].1, 1, "another node than the one sitting on it");
        // Asked again at 10: the next try waits twice as long.
        assert_eq!(c.overdue(15, 10).len(), 1, "only 'b' (asked at 5)");
        assert!(c.overdue(29, 10).is_empty());
        assert_eq!(c.overdue(30, 10)[0].0, "a");
        // A committed value is never asked again, even if asked once more.
        c.committed(&"a".into(), 0);
        c.asked("a".into(), 0, 30);
        assert!(c.overdue(1_000, 10).iter().all(|(v, _)| v != "a"));
    }

    #[test]
    fn patience_stops_doubling_and_an_unreachable_node_is_skipped() {
        let mut c = Client::new(0..2);
        c.asked("a".into(), 0, 0);
        let mut now = 0;
        for _ in 0..10 {
            now += 10 << MAX_BACKOFF;
            assert_eq!(c.overdue(now, 10).len(), 1, "never waits longer");
        }
        c.lost(1);
        c.flagged(0);
        assert_eq!(c.pick(), None, "nobody left to ask");
        assert!(c.overdue(now * 2, 10).is_empty());
        c.joined(1);
        assert_eq!(c.route(0), Some(1));
    }

    #[test]
    fn patience_follows_measured_latency_within_bounds() {
        let mut c = Client::new([0, 1]);
        assert_eq!(
            c.patience(2_000, 250, 60_000),
            2_000,
            "nothing measured yet"
        );
        for i in 0..50u64 {
            let v: Value = format!("v{i}").into();
            c.asked(v.clone(), 0, i * 100);
            c.committed(&v, i * 100 + 40);
        }
        assert_eq!(
            c.patience(2_000, 250, 60_000),
            250,
            "40 ms commits: the floor"
        );
        for i in 50..100u64 {
            let v: Value = format!("v{i}").into();
            c.asked(v.clone(), 0, i * 10_000);
            c.committed(&v, i * 10_000 + 5_000);
        }
        let p = c.patience(2_000, 250, 60_000);
        assert!((5_000..20_000).contains(&p), "5 s commits: {p}");
        // A value asked twice does not count (Karn): it says nothing of either ask.
        let slow: Value = "slow".into();
        c.asked(slow.clone(), 0, 0);
        let _ = c.overdue(1_000_000, 1);
        c.committed(&slow, 9_000_000);
        assert_eq!(c.patience(2_000, 250, 60_000), p);
    }

    #[test]
    fn a_value_queued_behind_others_that_commit_is_not_overdue() {
        let mut c = Client::new([0, 1]);
        for i in 0..10 {
            c.asked(format!("q{i}").into(), 0, 0);
        }
        // Node 0 commits one value every 50: it is busy, not sitting.
        for i in 0..9u64 {
            c.committed(&format!("q{i}").into(), 50 * (i + 1));
            assert!(c.overdue(50 * (i + 1) + 10, 100).is_empty(), "at {i}");
        }
        // Its progress stops: after a patience, the last one goes elsewhere.
        assert_eq!(c.overdue(450 + 100, 100), vec![("q9".into(), 1)]);
        // And a node that commits others cannot hold one past the cap.
        let mut c = Client::new([0, 1]);
        c.asked("held".into(), 0, 0);
        for t in 1..=PROGRESS_CAP * 100 {
            let v: Value = format!("o{t}").into();
            c.asked(v.clone(), 0, t);
            c.committed(&v, t);
            let late = c.overdue(t, 100);
            if t < PROGRESS_CAP * 100 {
                assert!(late.is_empty(), "at {t}");
            } else {
                assert_eq!(late, vec![("held".into(), 1)]);
            }
        }
    }
}
