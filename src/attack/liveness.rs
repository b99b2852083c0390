//! The brief's LIVENESS attack: the ballot climber.
//!
//! Every time it receives `Prepare(pos, b)`, it immediately sends
//! `Prepare(pos, b')` with `b' > b` to all nodes, and ignores the `Prepared`
//! answers. Its Prepare reaches the acceptors one hop after the honest
//! proposer's, the honest `Propose` needs two, so the acceptors have always
//! promised the climber by the time the honest proposal arrives: nothing
//! commits, and nothing unsafe happens either.
//!
//! Hop counting only wins when the attacker is as fast as the honest nodes;
//! across processes it may be a little slower. So on every tick it also
//! re-climbs the positions it saw honest Prepares at and no Commit: the
//! acceptors then always hold a promise younger than one honest round trip.

use crate::core::{Ballot, Event, Input, Message, NodeId, Output, Pos, PosMap, Process, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BallotClimber {
    id: NodeId,
    /// Highest round seen at each position still open.
    rounds: BTreeMap<Pos, u64>,
    /// Highest round seen or used at any position.
    top: u64,
    ticks: u64,
    /// Positions it saw committed.
    done: BTreeSet<Pos>,
    log: PosMap<Value>,
}

impl BallotClimber {
    pub fn new(id: NodeId) -> Self {
        BallotClimber {
            id,
            rounds: BTreeMap::new(),
            top: 0,
            ticks: 0,
            done: BTreeSet::new(),
            log: PosMap::new(),
        }
    }
}

impl BallotClimber {
    /// One more Prepare at each of the most recent open positions.
    fn reclimb(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let open: Vec<Pos> = self.rounds.keys().rev().take(RECLIMB).copied().collect();
        for pos in open {
            // Above every round seen anywhere: honest proposers pick their
            // next round above everything they saw, at any position.
            self.top = self.top.saturating_add(1);
            self.rounds.insert(pos, self.top);
            out.push(Output::Broadcast {
                msg: Message::Prepare {
                    pos,
                    ballot: Ballot::new(self.top, self.id),
                },
            });
        }
        out
    }
}

/// Open positions re-climbed each time.
const RECLIMB: usize = 64;

/// Ticks between re-climbs: often enough that an honest proposer, which
/// waits for a foreign promise to be `2 * grace` (10) ticks old, never sees
/// one that old; rarely enough not to drown the attacker in answers.
const RECLIMB_TICKS: u64 = 3;

impl Process for BallotClimber {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let (from, msg) = match input {
            Input::Deliver { from, msg } => (from, msg),
            Input::Tick { .. } => {
                self.ticks += 1;
                if !self.ticks.is_multiple_of(RECLIMB_TICKS) {
                    return Vec::new();
                }
                return self.reclimb();
            }
            Input::Request { .. } | Input::Read { .. } | Input::Compact(_) => return Vec::new(),
        };
        let (pos, ballot) = match msg {
            Message::Prepare { pos, ballot } if from != self.id => (pos, ballot),
            Message::Commit { pos, .. } => {
                // Too late for this one; stop spending messages on it.
                self.rounds.remove(&pos);
                self.done.insert(pos);
                return Vec::new();
            }
            _ => return Vec::new(), // Prepared, Propose, …: ignored
        };
        if self.done.contains(&pos) {
            return Vec::new();
        }
        self.top = self.top.max(ballot.round).saturating_add(1);
        self.rounds.insert(pos, self.top);
        let higher = Ballot::new(self.top, self.id);
        vec![
            Output::Event(Event::Note(format!(
                "LIVENESS attack: answering Prepare {ballot} at pos {pos} with Prepare {higher}"
            ))),
            Output::Broadcast {
                msg: Message::Prepare {
                    pos,
                    ballot: higher,
                },
            },
        ]
    }

    fn log(&self) -> &PosMap<Value> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prepare_is_answered_by_a_higher_one() {
        let mut m = BallotClimber::new(2);
        let b = Ballot::new(4, 0);
        let out = m.step(Input::Deliver {
            from: 0,
            msg: Message::Prepare { pos: 3, ballot: b },
        });
        let climbed = out.iter().find_map(|o| match o {
            Output::Broadcast {
                msg: Message::Prepare { pos: 3, ballot },
            } => Some(*ballot),
            _ => None,
        });
        assert!(climbed.is_some_and(|c| c > b));
        // Prepared answers and client requests are ignored.
        let ignored = m.step(Input::Deliver {
            from: 0,
            msg: Message::Prepared {
                pos: 3,
                ballot: climbed.unwrap(),
                accepted: vec![],
            },
        });
        assert!(ignored.is_empty());
        assert!(m.step(Input::Request { value: "v".into() }).is_empty());
    }
}
