//! The SAFETY defence: the brief's echo. Every `Propose` a node receives is
//! echoed, with the leader's own signature, to every peer, and the node holds
//! the `Propose` back from its core until it has the echoes of every other
//! node (or `wait` ticks passed): broadcast, then accept. Two different signed
//! `Propose`s from one leader for the same (position, ballot) are evidence of
//! equivocation that anyone can check.
//!
//! In BFT mode the wait has no timeout: a Propose reaches the core only once
//! a quorum of `2f+1` nodes vouched for it — its leader (by proposing) and
//! the nodes that echoed it, this one included. Honest nodes echo one
//! Propose per slot, so two values can never both gather a quorum (two
//! quorums share an honest node). The signed echoes are kept: a Propose with
//! a quorum of them is a *prepared certificate*, the proof a BFT acceptor
//! attaches when it reports the value in a Prepared.

use crate::auth::Signed;
use crate::core::{Ballot, Message, NodeId, Pos};
use std::collections::{BTreeMap, BTreeSet};

/// A leader's proposal slot: (leader, position, ballot).
pub type Key = (NodeId, Pos, Ballot);

/// Whether `a` and `b` prove their signer equivocated: both Proposes from the
/// same node for the same position and ballot, with different values. (The
/// signatures are checked by the caller.)
pub fn conflicting(a: &Signed, b: &Signed) -> bool {
    match (&a.msg, &b.msg) {
        (
            Message::Propose {
                pos: pa,
                ballot: ba,
                value: va,
            },
            Message::Propose {
                pos: pb,
                ballot: bb,
                value: vb,
            },
        ) => a.from == b.from && pa == pb && ba == bb && va != vb,
        _ => false,
    }
}

fn key(s: &Signed) -> Option<Key> {
    match &s.msg {
        Message::Propose { pos, ballot, .. } => Some((s.from, *pos, *ballot)),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoCheck {
    /// The first signed Propose seen for each slot.
    seen: BTreeMap<Key, Signed>,
    /// Who echoed each slot to us, with their signature over the echo.
    echoes: BTreeMap<Key, BTreeMap<NodeId, Vec<u8>>>,
    /// Proposes held back, with the tick they arrived at.
    held: BTreeMap<Key, (Signed, u64)>,
    /// Slots already released to the core (retransmissions pass at once).
    released: BTreeSet<Key>,
    /// Slots this node echoed itself.
    sent: BTreeSet<Key>,
    /// Echoes needed to release early: every node but us and the leader.
    needed: usize,
    wait: u64,
    /// BFT mode: release only with this many vouchers (no timeout).
    quorum: Option<usize>,
}

/// What recording a signed Propose found.
pub enum Seen {
    /// Nothing new or nothing wrong.
    Consistent,
    /// The first time this slot is seen: echo it.
    New,
    /// Proof of equivocation.
    Conflict(Box<(Signed, Signed)>),
}

impl EchoCheck {
    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: Pos) {
        self.seen.retain(|k, _| k.1 >= below);
        self.echoes.retain(|k, _| k.1 >= below);
        self.held.retain(|k, _| k.1 >= below);
        self.released.retain(|k| k.1 >= below);
    }

    pub fn new(n: usize, wait: u64) -> Self {
        EchoCheck {
            seen: BTreeMap::new(),
            echoes: BTreeMap::new(),
            held: BTreeMap::new(),
            released: BTreeSet::new(),
            sent: BTreeSet::new(),
            needed: n.saturating_sub(2),
            wait,
            quorum: None,
        }
    }

    /// BFT mode: a Propose is released once `quorum` distinct nodes vouched
    /// for it (its leader, the echoers, this node once it echoed, recorded
    /// with [`EchoCheck::echoed`] like the others), and never for waiting.
    pub fn bft(quorum: usize) -> Self {
        EchoCheck {
            quorum: Some(quorum),
            ..EchoCheck::new(0, u64::MAX)
        }
    }

    /// The distinct nodes vouching for slot `k`: its leader, and whoever
    /// echoed it (this node's own echo is kept like the others).
    fn vouchers(&self, k: &Key) -> usize {
        let echoers = self.echoes.get(k);
        let leader_echoed = echoers.is_some_and(|e| e.contains_key(&k.0));
        1 + echoers.map_or(0, BTreeMap::len) - usize::from(leader_echoed)
    }

    /// The prepared certificate of `(pos, ballot, value)`: the leader's
    /// signed Propose and a quorum's signed echoes of it (BFT mode).
    pub fn certificate(
        &self,
        pos: Pos,
        ballot: Ballot,
        value: &crate::core::Value,
    ) -> Option<super::bft::ValueProof> {
        let k = (ballot.node, pos, ballot);
        let propose = self.seen.get(&k)?;
        let matches = matches!(&propose.msg, Message::Propose { value: v, .. } if v == value);
        if !matches || self.vouchers(&k) < self.quorum? {
            return None;
        }
        let echoes = self.echoes.get(&k)?;
        let sigs = echoes
            .iter()
            .filter(|(id, _)| **id != k.0)
            .map(|(id, sig)| (*id, sig.clone()))
            .collect();
        Some(super::bft::ValueProof::Prepared {
            propose: propose.clone(),
            echoes: sigs,
        })
    }

    /// Record a signed Propose, received directly or inside an echo.
    pub fn record(&mut self, s: &Signed) -> Seen {
        let Some(k) = key(s) else {
            return Seen::Consistent;
        };
        match self.seen.get(&k) {
            None => {
                self.seen.insert(k, s.clone());
                Seen::New
            }
            Some(first) if conflicting(first, s) => {
                Seen::Conflict(Box::new((first.clone(), s.clone())))
            }
            Some(_) => Seen::Consistent,
        }
    }

    /// A Propose arrived from its leader: `true` the first time for its
    /// slot, when it must be echoed. Not the same as [`EchoCheck::record`]
    /// returning `New`: a peer's echo may arrive before the leader's own
    /// Propose, and the peers still wait for this node's echo.
    pub fn first_echo(&mut self, s: &Signed) -> bool {
        key(s).is_some_and(|k| self.sent.insert(k))
    }

    /// Whether exactly this signed Propose (same signature) was recorded
    /// already, hence verified already: an echo of it need not be checked again.
    pub fn known(&self, s: &Signed) -> bool {
        key(s).is_some_and(|k| self.seen.get(&k) == Some(s))
    }

    /// Note that `by` echoed `s`, with `sig`, its signature over the echo.
    /// Only an echo of the very Propose first seen for the slot counts.
    pub fn echoed(&mut self, by: NodeId, s: &Signed, sig: Vec<u8>) {
        if let Some(k) = key(s) {
            if self.seen.get(&k).is_some_and(|first| first == s) {
                self.echoes.entry(k).or_default().entry(by).or_insert(sig);
            }
        }
    }

    /// A Propose arrived from its leader: `true` if it was already released
    /// (a retransmission, to pass at once), else it is held.
    pub fn hold(&mut self, s: Signed, now: u64) -> bool {
        let Some(k) = key(&s) else {
            return true;
        };
        if self.released.contains(&k) {
            return true;
        }
        self.held.entry(k).or_insert((s, now));
        false
    }

    /// Held Proposes that may go to the core: every echo arrived, or waited
    /// long enough.
    pub fn release(&mut self, now: u64) -> Vec<Signed> {
        let ready: Vec<Key> = self
            .held
            .iter()
            .filter(|(k, (_, since))| match self.quorum {
                Some(q) => self.vouchers(k) >= q,
                None => {
                    self.echoes.get(*k).map_or(0, BTreeMap::len) >= self.needed
                        || now >= since.saturating_add(self.wait)
                }
            })
            .map(|(k, _)| *k)
            .collect();
        ready
            .into_iter()
            .filter_map(|k| {
                self.released.insert(k);
                self.held.remove(&k).map(|(s, _)| s)
            })
            .collect()
    }

    /// Forget everything held from a node found equivocating.
    pub fn drop_leader(&mut self, leader: NodeId) {
        self.held.retain(|k, _| k.0 != leader);
    }
}
