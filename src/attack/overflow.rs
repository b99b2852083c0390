//! The BALLOT_OVERFLOW attack: use up the ballot space.
//!
//! Ballot rounds are `u64`, and an honest proposer picks its next round just
//! above the highest it has seen, from anyone. So whoever sends the largest
//! round there is, `u64::MAX`, leaves nothing above it: acceptors promise it,
//! and no honest proposer can ever outbid the promise (before the core's fix
//! it even panicked, or wrapped to round 0, trying). The attacker then
//! ignores the `Prepared` answers and never proposes: every position from
//! the one it prepared on stays undecided for good. Agreement is never at
//! risk — only liveness, and permanently, from one message.
//!
//! - On an honest `Prepare(pos, b)` — or a `Propose(pos, b)` of a leader
//!   that won its phase 1 before the attacker could answer — it answers at
//!   once with `Prepare(pos, u64::MAX)`.
//! - Every [`RESEND_TICKS`] ticks it prepares again at the open positions it
//!   saw, each time with a huge jump above the highest round it saw or used
//!   (at least 2^62, the rest drawn from the tick's `entropy`), so a lost
//!   message is made up for and the rounds reach `u64::MAX` within a few
//!   jumps even if the first one was lost. No RNG of its own: the jumps are
//!   a function of the inputs, as everywhere in the sans-IO core.

use crate::core::{Ballot, Event, Input, Message, NodeId, Output, Pos, PosMap, Process, Value};
use std::collections::BTreeSet;

/// Ticks between re-sends at the positions it saw.
pub const RESEND_TICKS: u64 = 5;

/// The smallest jump a tick's re-send makes: two of them from anywhere
/// below 2^62 saturate the round at `u64::MAX`.
pub const MIN_JUMP: u64 = 1 << 62;

/// Open positions re-sent each time (the most recent).
const RESEND: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BallotOverflow {
    id: NodeId,
    /// Positions it saw honest Prepares at and no Commit yet.
    open: BTreeSet<Pos>,
    /// Highest round seen or used.
    top: u64,
    ticks: u64,
    done: BTreeSet<Pos>,
    log: PosMap<Value>,
}

impl BallotOverflow {
    pub fn new(id: NodeId) -> Self {
        BallotOverflow {
            id,
            open: BTreeSet::new(),
            top: 0,
            ticks: 0,
            done: BTreeSet::new(),
            log: PosMap::new(),
        }
    }

    /// The round a re-send uses: a jump of `MIN_JUMP` plus up to another
    /// `MIN_JUMP` of the driver's entropy, saturating at `u64::MAX`.
    pub fn jump(&self, entropy: u64) -> u64 {
        self.top
            .saturating_add(MIN_JUMP)
            .saturating_add(entropy % MIN_JUMP)
    }

    fn prepare(&mut self, pos: Pos, round: u64) -> Output {
        self.top = self.top.max(round);
        Output::Broadcast {
            msg: Message::Prepare {
                pos,
                ballot: Ballot::new(round, self.id),
            },
        }
    }

    fn resend(&mut self, entropy: u64) -> Vec<Output> {
        let open: Vec<Pos> = self.open.iter().rev().take(RESEND).copied().collect();
        let mut out = Vec::new();
        for (i, pos) in open.into_iter().enumerate() {
            // A different jump per position, still a function of the input.
            let round = self.jump(entropy.rotate_left(i as u32 * 7));
            out.push(self.prepare(pos, round));
        }
        out
    }
}

impl Process for BallotOverflow {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let (from, msg) = match input {
            Input::Deliver { from, msg } => (from, msg),
            Input::Tick { entropy } => {
                self.ticks += 1;
                if !self.ticks.is_multiple_of(RESEND_TICKS) {
                    return Vec::new();
                }
                return self.resend(entropy);
            }
            Input::Request { .. } | Input::Read { .. } | Input::Compact(_) => return Vec::new(),
        };
        match msg {
            // A Propose is a leader that needs no Prepare any more (it won
            // phase 1 before this node could answer): cut it off the same way.
            Message::Prepare { pos, ballot } | Message::Propose { pos, ballot, .. }
                if from != self.id =>
            {
                self.top = self.top.max(ballot.round);
                if self.done.contains(&pos) {
                    return Vec::new();
                }
                self.open.insert(pos);
                vec![
                    Output::Event(Event::Note(format!(
                        "BALLOT_OVERFLOW attack: answering Prepare {ballot} at pos {pos} with round u64::MAX"
                    ))),
                    self.prepare(pos, u64::MAX),
                ]
            }
            Message::Commit { pos, .. } => {
                self.open.remove(&pos);
                self.done.insert(pos);
                Vec::new()
            }
            _ => Vec::new(), // Prepared, Nack, …: ignored
        }
    }

    fn log(&self) -> &PosMap<Value> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepares(out: &[Output]) -> Vec<(Pos, Ballot)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Broadcast {
                    msg: Message::Prepare { pos, ballot },
                } => Some((*pos, *ballot)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_honest_prepare_is_answered_with_the_largest_round() {
        let mut m = BallotOverflow::new(2);
        let out = m.step(Input::Deliver {
            from: 0,
            msg: Message::Prepare {
                pos: 3,
                ballot: Ballot::new(1, 0),
            },
        });
        assert_eq!(prepares(&out), vec![(3, Ballot::new(u64::MAX, 2))]);
        // The answers, requests and its own Prepare echoed back: ignored.
        for input in [
            Input::Deliver {
                from: 0,
                msg: Message::Prepared {
                    pos: 3,
                    ballot: Ballot::new(u64::MAX, 2),
                    accepted: vec![],
                },
            },
            Input::Request { value: "v".into() },
            Input::Deliver {
                from: 2,
                msg: Message::Prepare {
                    pos: 3,
                    ballot: Ballot::new(u64::MAX, 2),
                },
            },
        ] {
            assert!(m.step(input).is_empty());
        }
    }

    #[test]
    fn a_leader_that_needs_no_prepare_is_cut_off_at_its_next_propose() {
        let mut m = BallotOverflow::new(1);
        let out = m.step(Input::Deliver {
            from: 2,
            msg: Message::Propose {
                pos: 4,
                ballot: Ballot::new(1, 2),
                value: "v".into(),
            },
        });
        assert_eq!(prepares(&out), vec![(4, Ballot::new(u64::MAX, 1))]);
        // A position it saw committed is left alone.
        m.step(Input::Deliver {
            from: 2,
            msg: Message::Commit {
                pos: 5,
                value: "w".into(),
            },
        });
        let late = Message::Propose {
            pos: 5,
            ballot: Ballot::new(1, 2),
            value: "w".into(),
        };
        assert!(m.step(Input::Deliver { from: 2, msg: late }).is_empty());
    }

    #[test]
    fn ticks_resend_huge_entropy_driven_jumps_at_open_positions_only() {
        let mut m = BallotOverflow::new(1);
        // Nothing seen yet: ticks send nothing.
        for t in 0..RESEND_TICKS {
            assert!(m.step(Input::Tick { entropy: t }).is_empty());
        }
        let fresh = BallotOverflow::new(1);
        let (a, b) = (fresh.jump(12345), fresh.jump(987_654_321));
        assert!(a >= MIN_JUMP && b >= MIN_JUMP && a != b, "{a} {b}");
        // The jumps compound: 2^62 → at least 2^63 → the top.
        let mut high = BallotOverflow::new(1);
        high.top = MIN_JUMP;
        assert_eq!(high.jump(0), 2 * MIN_JUMP);
        high.top = 2 * MIN_JUMP;
        assert_eq!(high.jump(MIN_JUMP - 1), u64::MAX);
        high.top = u64::MAX - 5;
        assert_eq!(high.jump(u64::MAX), u64::MAX, "saturates, never wraps");

        m.step(Input::Deliver {
            from: 0,
            msg: Message::Prepare {
                pos: 4,
                ballot: Ballot::new(1, 0),
            },
        });
        let resent: Vec<_> = (0..RESEND_TICKS)
            .flat_map(|t| prepares(&m.step(Input::Tick { entropy: t })))
            .collect();
        assert_eq!(resent.len(), 1, "{resent:?}");
        assert_eq!(resent[0].0, 4);
        // Once the position is committed it stops.
        m.step(Input::Deliver {
            from: 0,
            msg: Message::Commit {
                pos: 4,
                value: "v".into(),
            },
        });
        let after: Vec<_> = (0..RESEND_TICKS)
            .flat_map(|t| prepares(&m.step(Input::Tick { entropy: t })))
            .collect();
        assert!(after.is_empty());
    }
}
