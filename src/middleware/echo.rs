//! The SAFETY defence: the seed's echo. Every `Propose` a node receives is
//! echoed, with the leader's own signature, to every peer, and the node holds
//! the `Propose` back from its core until it has the echoes of every other
//! node (or `wait` ticks passed): broadcast, then accept. Two different signed
//! `Propose`s from one leader for the same (position, ballot) are evidence of
//! equivocation that anyone can check.

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
    /// Who echoed each slot to us.
    echoes: BTreeMap<Key, BTreeSet<NodeId>>,
    /// Proposes held back, with the tick they arrived at.
    held: BTreeMap<Key, (Signed, u64)>,
    /// Slots already released to the core (retransmissions pass at once).
    released: BTreeSet<Key>,
    /// Slots this node echoed itself.
    sent: BTreeSet<Key>,
    /// Echoes needed to release early: every node but us and the leader.
    needed: usize,
    wait: u64,
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
    pub fn new(n: usize, wait: u64) -> Self {
        EchoCheck {
            seen: BTreeMap::new(),
            echoes: BTreeMap::new(),
            held: BTreeMap::new(),
            released: BTreeSet::new(),
            sent: BTreeSet::new(),
            needed: n.saturating_sub(2),
            wait,
        }
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

    /// Note that `by` echoed `s`.
    pub fn echoed(&mut self, by: NodeId, s: &Signed) {
        if let Some(k) = key(s) {
            self.echoes.entry(k).or_default().insert(by);
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
            .filter(|(k, (_, since))| {
                self.echoes.get(*k).map_or(0, BTreeSet::len) >= self.needed
                    || now >= since + self.wait
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
