//! The REPLAY attack: old signed messages sent again.
//!
//! What replay can do here, honestly: a packet's signature covers its
//! sender, kind, position, ballot and value, so an *unmodified* replay is a
//! duplicate, and Paxos tolerates duplicates. The dangerous variant re-binds
//! a recorded message to another position, which works only where nothing
//! binds them — without signatures.
//!
//! The attacker runs an honest replica (so honest leaders' quorums can form
//! with it) and records every `Commit` it receives. It re-sends each one,
//! unmodified, to the other nodes (inert), and the first time it sees an
//! honest leader propose `w` at a new position it re-sends an old
//! `Commit(q, v)` of some node `S` *re-bound* to that position,
//! `Commit(pos, v)`, in `S`'s name, to `n - quorum` nodes the leader's
//! quorum does not need ([`Forgery::Replay`](crate::core::Forgery::Replay)). Without signatures they learn
//! `v` there while the leader commits `w`: agreement broken.
//!
//! With signatures the attacker's shield has `S`'s signature over
//! `Commit(q, v)` (and its certificate) only: the re-bound packet fails
//! verification and is dropped, and the unmodified one verifies and changes
//! nothing. Nobody can be flagged for it by signatures: the only signature
//! in it is `S`'s, over something `S` really sent. The TCP bridge, which
//! knows which peer each link belongs to, drops the replayed packet (its
//! claimed sender is not the link's) and logs the link.

use super::forgery::minority;
use crate::core::{
    Config, Event, Forgery, Input, Message, NodeId, Output, Pos, PosMap, Process, Replica, Value,
};
use std::collections::{BTreeMap, BTreeSet};

pub struct Replayer {
    inner: Replica,
    id: NodeId,
    n: usize,
    quorum: usize,
    /// The latest Commit received from each node.
    recorded: BTreeMap<NodeId, (Pos, Value)>,
    /// Positions already attacked.
    hit: BTreeSet<Pos>,
}

impl Replayer {
    pub fn new(id: NodeId, cfg: Config) -> Self {
        Replayer {
            id,
            n: cfg.n,
            quorum: cfg.quorum,
            inner: Replica::new(id, cfg),
            recorded: BTreeMap::new(),
            hit: BTreeSet::new(),
        }
    }

    /// A recorded Commit to re-bind to `pos` instead of `value`: the
    /// leader's own latest if it differs, else any other node's.
    fn pick(&self, leader: NodeId, pos: Pos, value: &Value) -> Option<(NodeId, Pos, Value)> {
        let fits = |(_, (q, v)): &(&NodeId, &(Pos, Value))| *q != pos && v != value;
        self.recorded
            .get_key_value(&leader)
            .filter(fits)
            .or_else(|| self.recorded.iter().find(fits))
            .map(|(s, (q, v))| (*s, *q, v.clone()))
    }
}

impl Process for Replayer {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut extra = Vec::new();
        match &input {
            Input::Deliver {
                from,
                msg: msg @ Message::Commit { pos, value },
            } if *from != self.id => {
                if self.recorded.get(from).is_none_or(|(q, _)| q <= pos) {
                    self.recorded.insert(*from, (*pos, value.clone()));
                }
                // The plain replay: the very message, to everyone else.
                for to in (0..self.n as NodeId).filter(|&t| t != self.id && t != *from) {
                    extra.push(Output::Forge {
                        to,
                        msg: msg.clone(),
                        how: Box::new(Forgery::Replay {
                            from: *from,
                            original: msg.clone(),
                        }),
                    });
                }
            }
            Input::Deliver {
                from,
                msg: Message::Propose { pos, ballot, value },
            } if ballot.node == *from && *from != self.id && !self.hit.contains(pos) => {
                if let Some((signer, q, v)) = self.pick(*from, *pos, value) {
                    self.hit.insert(*pos);
                    let victims = minority(self.n, self.quorum, &[self.id, *from, signer]);
                    extra.push(Output::Event(Event::Note(format!(
                        "REPLAY attack: node {signer}'s Commit('{v}') of pos {q} re-bound to pos {pos}, to {victims:?}"
                    ))));
                    for to in victims {
                        extra.push(Output::Forge {
                            to,
                            msg: Message::Commit {
                                pos: *pos,
                                value: v.clone(),
                            },
                            how: Box::new(Forgery::Replay {
                                from: signer,
                                original: Message::Commit {
                                    pos: q,
                                    value: v.clone(),
                                },
                            }),
                        });
                    }
                }
            }
            _ => {}
        }
        let mut out = self.inner.step(input);
        out.extend(extra);
        out
    }

    fn log(&self) -> &PosMap<Value> {
        self.inner.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ballot;

    fn forged(out: &[Output]) -> Vec<(NodeId, Message, Forgery)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Forge { to, msg, how } => Some((*to, msg.clone(), (**how).clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn replays_commits_as_they_were_and_re_bound_to_a_new_position() {
        let mut m = Replayer::new(0, Config::new(3));
        let old = Message::Commit {
            pos: 0,
            value: "v".into(),
        };
        let out = m.step(Input::Deliver {
            from: 1,
            msg: old.clone(),
        });
        let plain = Forgery::Replay {
            from: 1,
            original: old.clone(),
        };
        assert_eq!(forged(&out), vec![(2, old.clone(), plain)], "unmodified");
        let out = m.step(Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 1,
                ballot: Ballot::new(1, 1),
                value: "w".into(),
            },
        });
        let rebound = Message::Commit {
            pos: 1,
            value: "v".into(),
        };
        assert_eq!(
            forged(&out),
            vec![(
                2,
                rebound,
                Forgery::Replay {
                    from: 1,
                    original: old
                }
            )],
            "node 1's old Commit, re-bound to pos 1, to the node the quorum can do without"
        );
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Send {
                    to: 1,
                    msg: Message::Accept { .. }
                }
            )),
            "and it accepts like an honest node"
        );
    }

    #[test]
    fn nothing_recorded_nothing_to_re_bind() {
        let mut m = Replayer::new(0, Config::new(3));
        let out = m.step(Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 0,
                ballot: Ballot::new(1, 1),
                value: "w".into(),
            },
        });
        assert!(forged(&out).is_empty());
    }
}
