//! The brief's STALE_PREPARED attack: an acceptor whose `Prepared` hides
//! what it accepted.
//!
//! It is an honest acceptor (an inner [`Replica`] promises and accepts by
//! the rules and answers every Prepare) with two deviations nobody can see
//! from outside: every `Prepared` it sends reports nothing (the values it
//! accepted, and the positions it knows decided, are omitted), and it never
//! applies a Commit (it stays a pure acceptor that "has not learnt", so it
//! keeps accepting at positions already decided, as an acceptor that missed
//! the Commit would). It never proposes and takes no client values.
//!
//! **Scenario where it bites** (the simulator and the demo set it up, see
//! `sim::schedule`): the honest nodes are split in two halves that cannot
//! reach each other but both reach the attacker `M` (with `n = 3`, the link
//! between nodes 1 and 2 is down). Leader 1 proposes `w` at `p`; `M`
//! accepts, so `w` is chosen by `{1, M}` and node 1 commits it; node 2
//! never hears of it. Node 2 gets a client value and prepares: node 1
//! cannot answer, `M` answers with an empty report, so node 2's quorum
//! `{2, M}` says nothing was accepted at `p`. Node 2 proposes its own value
//! there, `M` accepts it, node 2 commits it: two honest nodes, two values.
//!
//! With `n = 2f+1` no check can stop this: the lie is in the only report
//! that could have carried `w`, and a quorum that includes the liar is a
//! quorum. What the middleware does is *detect* it afterwards, with a
//! self-verifying pair: `M`'s signed `Accept(p, b1, w)` (held in a commit
//! certificate) next to `M`'s signed `Prepared(p0 ≤ p, b2 > b1, …)` that has
//! no report at `p` of a ballot `≥ b1` (seen inside a justified Propose).
//! Preventing it takes BFT quorums (`n ≥ 3f+1`): then every two quorums
//! share an honest node.

use crate::core::{Config, Event, Input, Message, NodeId, Output, PosMap, Process, Replica, Value};

/// The acceptor whose Prepared omits what it accepted. See the module docs.
#[derive(Clone, Debug)]
pub struct StalePrepared {
    inner: Replica,
    /// Never written: this acceptor does not learn.
    log: PosMap<Value>,
}

impl StalePrepared {
    pub fn new(id: NodeId, cfg: Config) -> Self {
        StalePrepared {
            inner: Replica::new(id, cfg),
            log: PosMap::new(),
        }
    }

    /// The lie: the same Prepared with nothing reported.
    fn stale(&self, out: Vec<Output>) -> Vec<Output> {
        let mut lied = Vec::new();
        for o in out {
            match o {
                Output::Send {
                    to,
                    msg:
                        Message::Prepared {
                            pos,
                            ballot,
                            accepted,
                        },
                } => {
                    if !accepted.is_empty() {
                        let hidden: Vec<String> = accepted
                            .iter()
                            .map(|(p, b, v)| format!("{p}@{b}:'{v}'"))
                            .collect();
                        lied.push(Output::Event(Event::Note(format!(
                            "STALE_PREPARED attack: Prepared to node {to} for pos {pos}+ ballot {ballot} hides {}",
                            hidden.join(", ")
                        ))));
                    }
                    lied.push(Output::Send {
                        to,
                        msg: Message::Prepared {
                            pos,
                            ballot,
                            accepted: Vec::new(),
                        },
                    });
                }
                o => lied.push(o),
            }
        }
        lied
    }
}

impl Process for StalePrepared {
    fn id(&self) -> NodeId {
        self.inner.id()
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        match input {
            // Takes no client values, applies no Commit.
            Input::Request { .. }
            | Input::Deliver {
                msg: Message::Commit { .. },
                ..
            } => Vec::new(),
            input => {
                let out = self.inner.step(input);
                self.stale(out)
            }
        }
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
    fn accepts_honestly_and_reports_nothing() {
        let mut m = StalePrepared::new(0, Config::new(3));
        let b1 = Ballot::new(1, 1);
        let out = m.step(Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 3,
                ballot: b1,
                value: "w".into(),
            },
        });
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Send {
                to: 1,
                msg: Message::Accept { pos: 3, .. }
            }
        )));
        // The Commit is not applied: it stays an acceptor at pos 3.
        m.step(Input::Deliver {
            from: 1,
            msg: Message::Commit {
                pos: 3,
                value: "w".into(),
            },
        });
        assert!(m.log().is_empty());
        let b2 = Ballot::new(2, 2);
        let out = m.step(Input::Deliver {
            from: 2,
            msg: Message::Prepare { pos: 0, ballot: b2 },
        });
        assert!(out.contains(&Output::Send {
            to: 2,
            msg: Message::Prepared {
                pos: 0,
                ballot: b2,
                accepted: vec![]
            }
        }));
        // And it accepts the new leader's other value at the same position.
        let out = m.step(Input::Deliver {
            from: 2,
            msg: Message::Propose {
                pos: 3,
                ballot: b2,
                value: "u".into(),
            },
        });
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Send { to: 2, msg: Message::Accept { pos: 3, value, .. } } if *value == "u"
        )));
    }
}
