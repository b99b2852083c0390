//! The brief's IGNORE_PREPARED attack: a leader that proposes its own value
//! where the Prepared quorum reported an accepted one.
//!
//! Single-decree Paxos is safe because a new leader proposes, at each
//! position, the highest-ballot value its Prepared quorum reported: a value
//! chosen in an earlier ballot was accepted by a quorum, every two quorums
//! share a node, so some Prepared reports it. This attacker reads the
//! reports and throws them away.
//!
//! It is otherwise an honest node (an inner [`Replica`] accepts, learns,
//! catches up and answers like everyone else), and it takes the client's
//! values, which it keeps as bait. Its strategy is to **cut in**: when an
//! honest leader's `Propose(p, b, w)` reaches it, it accepts `w` like any
//! acceptor (its `Accept` may be the one that chooses `w`), then at once
//! sends `Prepare(p, b')` with `b' > b`, ignores what the `Prepared`
//! answers (and its own acceptance) report at `p`, proposes a client value
//! `u` of its own at `p` in `b'`, and commits `u` once a quorum accepted.
//!
//! **Scenario where it bites** (the simulator and the demo set it up, see
//! `sim::schedule`): the honest nodes are split in two halves that cannot
//! reach each other but both reach the attacker `M` — with `n = 3`, the
//! link between nodes 1 and 2 is down (a lossy or broken link). Leader 1
//! proposes `w` at `p`; `M` accepts, so `w` is chosen by `{1, M}` and node
//! 1 commits it; node 2 never hears of it. `M` prepares `p`, node 2
//! promises and reports nothing there, `M`'s own acceptance of `w` is
//! ignored, node 2 accepts `u`, `M` commits `u`: node 1 holds `w` and node
//! 2 holds `u` at `p`. Without the split it still bites now and then, when
//! node 2 accepted `w` but the leader's Commit to it is late: node 2 then
//! reports `w`, and the attacker ignores it.
//!
//! What stops it: the `justify` defence of the middleware — a Propose
//! carries the signed Prepared quorum (and the signed Propose its leader
//! accepted itself) it was derived from, and acceptors recompute the value.

use crate::core::{
    Ballot, Config, Event, Input, Message, NodeId, Output, Pos, PosMap, Process, Replica, Value,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Ticks a cut-in may take before the attacker gives up on it.
const PLAN_TICKS: u64 = 60;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Plan {
    ballot: Ballot,
    value: Value,
    prepared: BTreeSet<NodeId>,
    proposed: bool,
    accepts: BTreeSet<NodeId>,
    committed: bool,
    deadline: u64,
}

/// The leader that ignores Prepared reports. See the module docs.
#[derive(Clone, Debug)]
pub struct IgnorePrepared {
    id: NodeId,
    quorum: usize,
    /// BFT mode: its own votes travel as messages (its shield signs them
    /// into the justification), so they are counted when they come back.
    loopback: bool,
    inner: Replica,
    now: u64,
    max_round: u64,
    /// Client values waiting to be used for a cut-in.
    bait: VecDeque<Value>,
    plans: BTreeMap<Pos, Plan>,
}

impl IgnorePrepared {
    pub fn new(id: NodeId, cfg: Config) -> Self {
        IgnorePrepared {
            id,
            quorum: cfg.quorum.max(1),
            loopback: cfg.loopback,
            inner: Replica::new(id, cfg),
            now: 0,
            max_round: 0,
            bait: VecDeque::new(),
            plans: BTreeMap::new(),
        }
    }

    /// Start a cut-in at `pos` over ballot `over`, if there is bait.
    fn cut_in(&mut self, out: &mut Vec<Output>, pos: Pos, over: Ballot) {
        if self.plans.contains_key(&pos) {
            return;
        }
        let Some(value) = self.bait.pop_front() else {
            return;
        };
        self.max_round = self.max_round.max(over.round).saturating_add(1);
        let ballot = Ballot::new(self.max_round, self.id);
        out.push(Output::Event(Event::Note(format!(
            "IGNORE_PREPARED attack: cutting in at pos {pos} with ballot {ballot} for '{value}', whatever is reported there"
        ))));
        self.plans.insert(
            pos,
            Plan {
                ballot,
                value,
                prepared: self.own_vote(),
                proposed: false,
                accepts: self.own_vote(),
                committed: false,
                deadline: self.now + PLAN_TICKS,
            },
        );
        // The Prepare goes out first: in BFT mode the shield must know the
        // ballot before our own Prepared comes back to it.
        out.push(Output::Broadcast {
            msg: Message::Prepare { pos, ballot },
        });
        self.vote_own(out, Message::Prepare { pos, ballot });
    }

    /// Its own vote counts at once, unless it must come back as a signed
    /// message (BFT mode).
    fn own_vote(&self) -> BTreeSet<NodeId> {
        if self.loopback {
            BTreeSet::new()
        } else {
            BTreeSet::from([self.id])
        }
    }

    /// Our own acceptor promises and accepts what we send, by the rules:
    /// the attacker only ignores reports, it does not hide its own votes
    /// (that would be STALE_PREPARED). In BFT mode those votes go out to
    /// ourselves as messages, like an honest replica's.
    fn vote_own(&mut self, out: &mut Vec<Output>, msg: Message) {
        let from = self.id;
        for o in self.inner.step(Input::Deliver { from, msg }) {
            let to_self = matches!(&o, Output::Send { to, .. } if *to == from);
            if matches!(o, Output::Persist(_)) || (self.loopback && to_self) {
                out.push(o);
            }
        }
    }

    /// Drop the plan at `pos`; its value goes back to the bait if it was
    /// not committed.
    fn abandon(&mut self, pos: Pos) {
        if let Some(plan) = self.plans.remove(&pos) {
            if !plan.committed {
                self.bait.push_back(plan.value);
            }
        }
    }

    /// Handle a message about one of our plans; `true` if it was one.
    fn on_plan(&mut self, out: &mut Vec<Output>, from: NodeId, msg: &Message) -> bool {
        let quorum = self.quorum;
        match msg {
            Message::Prepared {
                pos,
                ballot,
                accepted,
            } => {
                let Some(plan) = self.plans.get_mut(pos).filter(|p| p.ballot == *ballot) else {
                    return false;
                };
                if plan.proposed {
                    return true;
                }
                let ignored: Vec<String> = accepted
                    .iter()
                    .filter(|(p, _, _)| p == pos)
                    .map(|(_, b, v)| format!("'{v}'@{b}"))
                    .collect();
                if !ignored.is_empty() {
                    out.push(Output::Event(Event::Note(format!(
                        "IGNORE_PREPARED attack: node {from} reports {} at pos {pos}; ignored",
                        ignored.join(", ")
                    ))));
                }
                plan.prepared.insert(from);
                if plan.prepared.len() >= quorum {
                    plan.proposed = true;
                    out.push(Output::Event(Event::Note(format!(
                        "IGNORE_PREPARED attack: Propose '{}' at pos {pos} ballot {}",
                        plan.value, plan.ballot
                    ))));
                    let msg = Message::Propose {
                        pos: *pos,
                        ballot: *ballot,
                        value: plan.value.clone(),
                    };
                    self.vote_own(out, msg.clone());
                    out.push(Output::Broadcast { msg });
                }
                true
            }
            Message::Accept { pos, ballot, value } => {
                let Some(plan) = self
                    .plans
                    .get_mut(pos)
                    .filter(|p| p.ballot == *ballot && p.value == *value)
                else {
                    return false;
                };
                plan.accepts.insert(from);
                if plan.accepts.len() >= quorum && !plan.committed {
                    plan.committed = true;
                    out.push(Output::Event(Event::Note(format!(
                        "IGNORE_PREPARED attack: Commit '{value}' at pos {pos}"
                    ))));
                    out.push(Output::Broadcast {
                        msg: Message::Commit {
                            pos: *pos,
                            value: value.clone(),
                        },
                    });
                }
                true
            }
            Message::Nack { pos, ballot, .. } => {
                if self.plans.get(pos).is_some_and(|p| p.ballot == *ballot) {
                    self.abandon(*pos);
                    return true;
                }
                false
            }
            _ => false,
        }
    }
}

impl Process for IgnorePrepared {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Request { value } => self.bait.push_back(value),
            // It answers no reads (a client asks again elsewhere).
            Input::Read { .. } | Input::Compact(_) => {}
            Input::Tick { entropy } => {
                self.now += 1;
                let late: Vec<Pos> = self
                    .plans
                    .iter()
                    .filter(|(_, p)| !p.committed && p.deadline <= self.now)
                    .map(|(&pos, _)| pos)
                    .collect();
                for pos in late {
                    self.abandon(pos);
                }
                out.extend(self.inner.step(Input::Tick { entropy }));
            }
            Input::Deliver { from, msg } => {
                if let Some(b) = msg.ballot() {
                    self.max_round = self.max_round.max(b.round);
                }
                if self.on_plan(&mut out, from, &msg) {
                    return out;
                }
                let cut = match &msg {
                    Message::Propose { pos, ballot, .. }
                        if from != self.id && ballot.node == from =>
                    {
                        Some((*pos, *ballot))
                    }
                    _ => None,
                };
                // Accept like an honest acceptor first: our Accept may be
                // the one that chooses the value we are about to ignore.
                out.extend(self.inner.step(Input::Deliver { from, msg }));
                if let Some((pos, over)) = cut {
                    self.cut_in(&mut out, pos, over);
                }
            }
        }
        out
    }

    fn log(&self) -> &PosMap<Value> {
        self.inner.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(out: &[Output]) -> Vec<Message> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { msg, .. } | Output::Broadcast { msg } => Some(msg.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn cuts_in_after_accepting_and_proposes_its_own_value_over_the_reports() {
        let mut m = IgnorePrepared::new(0, Config::new(3));
        m.step(Input::Request { value: "u".into() });
        let b = Ballot::new(1, 1);
        let out = m.step(Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 4,
                ballot: b,
                value: "w".into(),
            },
        });
        let msgs = sends(&out);
        assert!(
            msgs.iter()
                .any(|m| matches!(m, Message::Accept { pos: 4, value, .. } if *value == "w")),
            "accepts like an acceptor: {msgs:?}"
        );
        let ballot = Ballot::new(2, 0);
        assert!(msgs.contains(&Message::Prepare { pos: 4, ballot }));
        // Node 2 reports 'w' at pos 4: ignored, 'u' proposed.
        let out = m.step(Input::Deliver {
            from: 2,
            msg: Message::Prepared {
                pos: 4,
                ballot,
                accepted: vec![(4, b, "w".into())],
            },
        });
        assert!(sends(&out).contains(&Message::Propose {
            pos: 4,
            ballot,
            value: "u".into()
        }));
        let out = m.step(Input::Deliver {
            from: 2,
            msg: Message::Accept {
                pos: 4,
                ballot,
                value: "u".into(),
            },
        });
        assert!(sends(&out).contains(&Message::Commit {
            pos: 4,
            value: "u".into()
        }));
    }

    #[test]
    fn without_bait_it_is_an_honest_acceptor() {
        let mut m = IgnorePrepared::new(0, Config::new(3));
        let out = m.step(Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 0,
                ballot: Ballot::new(1, 1),
                value: "w".into(),
            },
        });
        assert_eq!(sends(&out).len(), 1, "just the Accept: {out:?}");
    }
}
