//! The seed's LIVENESS attack: the ballot climber.
//!
//! Every time it receives `Prepare(pos, b)`, it immediately sends
//! `Prepare(pos, b')` with `b' > b` to all nodes, and ignores the `Prepared`
//! answers. Its Prepare reaches the acceptors one hop after the honest
//! proposer's, the honest `Propose` needs two, so the acceptors have always
//! promised the climber by the time the honest proposal arrives: nothing
//! commits, and nothing unsafe happens either.

use crate::core::{Ballot, Event, Input, Message, NodeId, Output, Pos, Process, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BallotClimber {
    id: NodeId,
    /// Highest round seen at each position.
    rounds: BTreeMap<Pos, u64>,
    log: BTreeMap<Pos, Value>,
}

impl BallotClimber {
    pub fn new(id: NodeId) -> Self {
        BallotClimber {
            id,
            rounds: BTreeMap::new(),
            log: BTreeMap::new(),
        }
    }
}

impl Process for BallotClimber {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let Input::Deliver { from, msg } = input else {
            return Vec::new();
        };
        let Message::Prepare { pos, ballot } = msg else {
            return Vec::new(); // Prepared, Propose, …: ignored
        };
        if from == self.id {
            return Vec::new();
        }
        let round = self.rounds.entry(pos).or_default();
        *round = (*round).max(ballot.round) + 1;
        let higher = Ballot::new(*round, self.id);
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

    fn log(&self) -> &BTreeMap<Pos, Value> {
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
                accepted: None,
            },
        });
        assert!(ignored.is_empty());
        assert!(m.step(Input::Request { value: "v".into() }).is_empty());
    }
}
