//! The FORGERY attack: messages claiming another node's identity.
//!
//! The attacker takes no part in the protocol (it never promises nor
//! accepts). The first time it sees an honest leader `L` propose `w` at a
//! position, it sends a `Commit` of its own value there *in `L`'s name*
//! ([`Forgery::As`]) to `n - quorum` other nodes. Without signatures the
//! sender of a packet is whatever it says: a node that already accepted
//! `w` (the Propose usually arrives first: it left one hop earlier) learns
//! the forged value, while `L` commits `w` with its Accept: agreement is
//! broken.
//!
//! It stays out of every quorum on purpose: a flagged node's Accepts no
//! longer count in certificates (`Certificates::check`), so an attacker
//! whose Accept completed a quorum before it was caught would leave the
//! nodes that caught it unable to learn that position — an attack on
//! liveness of its own, not this one.
//!
//! With the middleware every packet is signed over its claimed sender and
//! its body; the forged one carries the attacker's signature (the only key
//! it has), which does not verify under `L`'s key: dropped. Trying the other
//! known keys on that failure path finds the attacker's: it signed a claim
//! to be `L`, which is self-verifying proof (`Evidence::Forgery`), forwarded
//! and re-checked by every receiver.

use crate::core::{
    Config, Event, Forgery, Input, Message, NodeId, Output, Pos, PosMap, Process, Value,
};
use std::collections::BTreeSet;

/// The attacker's value made from `value` (of its first item, when `value`
/// is a batch), marked so the simulator counts it as the attack's.
pub fn forged(value: &Value) -> Value {
    match value.items().first() {
        Some(first) if value.single().is_none() => {
            super::mark(&Value::one(first), super::Attack::Forgery)
        }
        _ => super::mark(value, super::Attack::Forgery),
    }
}

pub struct Forger {
    id: NodeId,
    n: usize,
    quorum: usize,
    /// Positions already attacked.
    hit: BTreeSet<Pos>,
    log: PosMap<Value>,
}

impl Forger {
    pub fn new(id: NodeId, cfg: Config) -> Self {
        Forger {
            id,
            n: cfg.n,
            quorum: cfg.quorum,
            hit: BTreeSet::new(),
            log: PosMap::new(),
        }
    }
}

/// `n - quorum` (at least one) of the nodes other than `exclude`: a minority
/// the honest leader's quorum can do without.
pub(super) fn minority(n: usize, quorum: usize, exclude: &[NodeId]) -> Vec<NodeId> {
    (0..n as NodeId)
        .filter(|i| !exclude.contains(i))
        .take(n.saturating_sub(quorum).max(1))
        .collect()
}

impl Process for Forger {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let attack = match &input {
            Input::Deliver {
                from,
                msg: Message::Propose { pos, ballot, value },
            } if ballot.node == *from && *from != self.id && self.hit.insert(*pos) => {
                Some((*from, *pos, value.clone()))
            }
            _ => None,
        };
        let mut out = Vec::new();
        if let Some((leader, pos, value)) = attack {
            let fake = forged(&value);
            let victims = minority(self.n, self.quorum, &[self.id, leader]);
            out.push(Output::Event(Event::Note(format!(
                "FORGERY attack: Commit '{fake}' at pos {pos} to {victims:?} in node {leader}'s name"
            ))));
            for to in victims {
                out.push(Output::Forge {
                    to,
                    msg: Message::Commit {
                        pos,
                        value: fake.clone(),
                    },
                    how: Box::new(Forgery::As(leader)),
                });
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
    use crate::core::Ballot;

    #[test]
    fn commits_its_own_value_in_the_leaders_name_to_a_minority() {
        let mut m = Forger::new(0, Config::new(5));
        let propose = Message::Propose {
            pos: 2,
            ballot: Ballot::new(1, 1),
            value: "w".into(),
        };
        let out = m.step(Input::Deliver {
            from: 1,
            msg: propose.clone(),
        });
        let forged: Vec<(NodeId, Message, Forgery)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Forge { to, msg, how } => Some((*to, msg.clone(), (**how).clone())),
                _ => None,
            })
            .collect();
        let commit = Message::Commit {
            pos: 2,
            value: "w (forgery attack)".into(),
        };
        assert_eq!(
            forged,
            vec![
                (2, commit.clone(), Forgery::As(1)),
                (3, commit, Forgery::As(1))
            ]
        );
        // It never accepts: it is never part of a certificate.
        assert!(!out.iter().any(|o| matches!(o, Output::Send { .. })));
        // Once per position.
        let again = m.step(Input::Deliver {
            from: 1,
            msg: propose,
        });
        assert!(!again.iter().any(|o| matches!(o, Output::Forge { .. })));
    }
}
