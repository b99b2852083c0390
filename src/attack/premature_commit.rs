//! The brief's PREMATURE_COMMIT attack: a leader that sends `Commit` before a
//! quorum accepted anything.
//!
//! Asked to propagate `va`, the attacker picks the next free position and,
//! without any `Prepare`, `Propose` or `Accept`, sends `Commit(pos, va)` to
//! one half of the other nodes and `Commit(pos, vb)` to the other half (`vb`
//! is `va` marked as the SAFETY attack marks it). A learner applies a
//! `Commit` as it comes, so without the middleware the halves hold
//! different values at one position at once: agreement is broken by one
//! message per node, deterministically.
//!
//! With the middleware a bare Commit is refused, so the attacker dresses
//! each one up with a certificate that cannot hold
//! ([`Forgery::ShortCertificate`]): its own signed `Accept`, twice, plus the
//! valid signed Accepts of another position's certificate it received. Its
//! shield signs the whole; the receivers count fewer than a quorum of
//! distinct valid matching Accepts, refuse the Commit, and hold the signed
//! Commit as proof against the attacker
//! ([`crate::middleware::certificate::proves_premature`]).

use crate::core::{
    Ballot, Event, Forgery, Input, Message, NodeId, Output, Pos, PosMap, Process, Value,
};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrematureCommit {
    id: NodeId,
    n: usize,
    max_round: u64,
    highest_pos: Option<Pos>,
    log: PosMap<Value>,
}

impl PrematureCommit {
    pub fn new(id: NodeId, n: usize) -> Self {
        PrematureCommit {
            id,
            n,
            max_round: 0,
            highest_pos: None,
            log: PosMap::new(),
        }
    }

    /// The two halves of the other nodes.
    fn halves(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let others: Vec<NodeId> = (0..self.n as NodeId).filter(|&i| i != self.id).collect();
        let mid = others.len().div_ceil(2);
        (others[..mid].to_vec(), others[mid..].to_vec())
    }
}

impl Process for PrematureCommit {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick { .. } | Input::Read { .. } | Input::Compact(_) => {}
            Input::Deliver { msg, .. } => {
                if let Some(b) = msg.ballot() {
                    self.max_round = self.max_round.max(b.round);
                }
                if !matches!(msg, Message::CatchUp { .. }) {
                    let p = msg.pos();
                    self.highest_pos = Some(self.highest_pos.map_or(p, |h| h.max(p)));
                }
            }
            Input::Request { value } => {
                let pos = self.highest_pos.map_or(0, |h| h + 1);
                self.highest_pos = Some(pos);
                self.max_round = self.max_round.saturating_add(1);
                let ballot = Ballot::new(self.max_round, self.id);
                let vb = super::mark(&value, super::Attack::PrematureCommit);
                let (half_a, half_b) = self.halves();
                out.push(Output::Event(Event::Note(format!(
                    "PREMATURE_COMMIT attack: Commit '{value}' to {half_a:?} and '{vb}' to {half_b:?} at pos {pos}, nothing accepted"
                ))));
                for (half, v) in [(&half_a, &value), (&half_b, &vb)] {
                    for &to in half {
                        out.push(Output::Forge {
                            to,
                            msg: Message::Commit {
                                pos,
                                value: v.clone(),
                            },
                            how: Box::new(Forgery::ShortCertificate { ballot }),
                        });
                    }
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
    fn commits_two_values_to_two_halves_at_the_next_position() {
        let mut m = PrematureCommit::new(0, 5);
        m.step(Input::Deliver {
            from: 1,
            msg: Message::Commit {
                pos: 3,
                value: "old".into(),
            },
        });
        let out = m.step(Input::Request { value: "v".into() });
        let mut commits = std::collections::BTreeMap::new();
        for o in out {
            if let Output::Forge {
                to,
                msg: Message::Commit { pos, value },
                how,
            } = o
            {
                assert!(matches!(*how, Forgery::ShortCertificate { .. }));
                assert_eq!(pos, 4, "the next free position");
                commits.insert(to, value);
            }
        }
        assert_eq!(commits[&1], "v");
        assert_eq!(commits[&2], "v");
        assert_eq!(commits[&3], "v (premature commit attack)");
        assert_eq!(commits[&4], "v (premature commit attack)");
        assert!(!commits.contains_key(&0), "never to itself");
    }
}
