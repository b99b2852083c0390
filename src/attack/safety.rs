//! The brief's SAFETY attack: the equivocating leader.
//!
//! With `n = 2f+1` nodes, the attacker `M` sends `Prepare(b)` to all; once a
//! majority (counting itself) answered, it sends `Propose(b, va)` to one half
//! of the other nodes and `Propose(b, vb)` to the other half. Each half plus
//! `M` is a majority, so when a half accepts, `M` holds a quorum of Accepts
//! for its value and sends that half `Commit(va)` (resp. `vb`), as the brief's
//! code does: honest nodes commit different values at the same position.
//!
//! In BFT mode (quorums of 2f+1, every vote a signed message) it plays by
//! the same counting: it sends its own Prepared to itself (so its shield can
//! put it in the justification) and waits for a quorum before it
//! equivocates — the echo quorum, not a missing justification, is what must
//! stop it there.
//!
//! `va` is the value the client asked for; `vb` is `va` marked
//! `" (safety attack)"` so the damage is visible in the logs.

use crate::core::{
    Ballot, Config, Event, Input, Message, NodeId, Output, Pos, PosMap, Process, Value,
};
use std::collections::{BTreeMap, BTreeSet};

/// How far above the highest round seen the attacker's ballots go.
const BALLOT_JUMP: u64 = 100;

/// The attacker's own value made from the client's `value`, marked as
/// SAFETY's.
pub fn forged(value: &Value) -> Value {
    super::mark(value, super::Attack::Safety)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Plan {
    ballot: Ballot,
    va: Value,
    vb: Value,
    prepared: BTreeSet<NodeId>,
    proposed: bool,
    accepts_a: BTreeSet<NodeId>,
    accepts_b: BTreeSet<NodeId>,
    committed_a: bool,
    committed_b: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Equivocator {
    id: NodeId,
    n: usize,
    quorum: usize,
    /// BFT mode: its own Prepared travels as a message, like everyone's.
    loopback: bool,
    max_round: u64,
    highest_pos: Option<Pos>,
    plans: BTreeMap<Pos, Plan>,
    log: PosMap<Value>,
}

impl Equivocator {
    pub fn new(id: NodeId, cfg: &Config) -> Self {
        Equivocator {
            id,
            n: cfg.n,
            quorum: cfg.quorum,
            loopback: cfg.loopback,
            max_round: 0,
            highest_pos: None,
            plans: BTreeMap::new(),
            log: PosMap::new(),
        }
    }

    /// The two halves of the other nodes.
    fn halves(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let others: Vec<NodeId> = (0..self.n as NodeId).filter(|&i| i != self.id).collect();
        let mid = others.len().div_ceil(2);
        (others[..mid].to_vec(), others[mid..].to_vec())
    }

    fn note(&mut self, msg: &Message) {
        if let Some(b) = msg.ballot() {
            self.max_round = self.max_round.max(b.round);
        }
        if !matches!(msg, Message::CatchUp { .. }) {
            let p = msg.pos();
            self.highest_pos = Some(self.highest_pos.map_or(p, |h| h.max(p)));
        }
    }

    /// A client value: plan to equivocate at the next position, and Prepare.
    fn plan(&mut self, out: &mut Vec<Output>, value: Value) {
        let pos = self.highest_pos.map_or(0, |h| h + 1);
        self.highest_pos = Some(pos);
        // A Byzantine leader may pick any ballot: one far above what it
        // has seen wins the position over honest proposers racing it.
        self.max_round = self.max_round.saturating_add(BALLOT_JUMP);
        let ballot = Ballot::new(self.max_round, self.id);
        let vb = forged(&value);
        out.push(Output::Event(Event::Note(format!(
            "SAFETY attack: Prepare pos {pos} ballot {ballot} to all, planning '{value}' for one half and '{vb}' for the other"
        ))));
        self.plans.insert(
            pos,
            Plan {
                ballot,
                va: value,
                vb,
                // Its own promise counts at once, unless it must
                // come back as a signed message (BFT mode).
                prepared: if self.loopback {
                    BTreeSet::new()
                } else {
                    BTreeSet::from([self.id])
                },
                proposed: false,
                accepts_a: BTreeSet::from([self.id]),
                accepts_b: BTreeSet::from([self.id]),
                committed_a: false,
                committed_b: false,
            },
        );
        out.push(Output::Broadcast {
            msg: Message::Prepare { pos, ballot },
        });
        if self.loopback {
            out.push(Output::Send {
                to: self.id,
                msg: Message::Prepared {
                    pos,
                    ballot,
                    accepted: Vec::new(),
                },
            });
        }
    }

    /// A promise: with a quorum, Propose one value to each half.
    fn on_prepared(&mut self, out: &mut Vec<Output>, from: NodeId, pos: Pos, ballot: Ballot) {
        let (half_a, half_b) = self.halves();
        let quorum = self.quorum;
        let Some(plan) = self.plans.get_mut(&pos) else {
            return;
        };
        if plan.ballot != ballot || plan.proposed {
            return;
        }
        plan.prepared.insert(from);
        if plan.prepared.len() < quorum {
            return;
        }
        plan.proposed = true;
        out.push(Output::Event(Event::Note(format!(
            "SAFETY attack: Propose '{}' to {:?} and '{}' to {:?} at pos {pos}",
            plan.va, half_a, plan.vb, half_b
        ))));
        for (half, value) in [(&half_a, &plan.va), (&half_b, &plan.vb)] {
            for &to in half {
                out.push(Output::Send {
                    to,
                    msg: Message::Propose {
                        pos,
                        ballot,
                        value: value.clone(),
                    },
                });
            }
        }
    }

    /// An acceptance: with a quorum for one value, Commit it to its half.
    fn on_accept(
        &mut self,
        out: &mut Vec<Output>,
        from: NodeId,
        pos: Pos,
        ballot: Ballot,
        value: Value,
    ) {
        let (half_a, half_b) = self.halves();
        let quorum = self.quorum;
        let Some(plan) = self.plans.get_mut(&pos) else {
            return;
        };
        if plan.ballot != ballot {
            return;
        }
        let (accepts, committed, half) = if value == plan.va {
            (&mut plan.accepts_a, &mut plan.committed_a, &half_a)
        } else if value == plan.vb {
            (&mut plan.accepts_b, &mut plan.committed_b, &half_b)
        } else {
            return;
        };
        accepts.insert(from);
        if accepts.len() >= quorum && !*committed {
            *committed = true;
            out.push(Output::Event(Event::Note(format!(
                "SAFETY attack: Commit '{value}' at pos {pos} to {half:?}"
            ))));
            for &to in half {
                out.push(Output::Send {
                    to,
                    msg: Message::Commit {
                        pos,
                        value: value.clone(),
                    },
                });
            }
        }
    }
}

impl Process for Equivocator {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick { .. } | Input::Read { .. } | Input::Compact(_) => {}
            Input::Request { value } => self.plan(&mut out, value),
            Input::Deliver { from, msg } => {
                self.note(&msg);
                match msg {
                    Message::Prepared { pos, ballot, .. } => {
                        self.on_prepared(&mut out, from, pos, ballot)
                    }
                    Message::Accept { pos, ballot, value } => {
                        self.on_accept(&mut out, from, pos, ballot, value)
                    }
                    _ => {}
                }
            }
        }
        out
    }

    fn log(&self) -> &PosMap<Value> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposes_two_values_to_two_halves() {
        let mut m = Equivocator::new(0, &Config::new(5));
        m.step(Input::Request { value: "v".into() });
        let ballot = Ballot::new(BALLOT_JUMP, 0);
        let mut proposes = BTreeMap::new();
        for from in [1, 2] {
            for o in m.step(Input::Deliver {
                from,
                msg: Message::Prepared {
                    pos: 0,
                    ballot,
                    accepted: vec![],
                },
            }) {
                if let Output::Send {
                    to,
                    msg: Message::Propose { value, .. },
                } = o
                {
                    proposes.insert(to, value);
                }
            }
        }
        assert_eq!(proposes[&1], "v");
        assert_eq!(proposes[&2], "v");
        assert_eq!(proposes[&3], "v (safety attack)");
        assert_eq!(proposes[&4], "v (safety attack)");
    }
}
