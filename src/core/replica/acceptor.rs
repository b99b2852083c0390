//! The acceptor: it answers `Prepare` with a promise (`Prepared`, reporting
//! what it accepted from that position on) and `Propose` with an `Accept`,
//! each persisted before the answer goes out, or with a `Nack` naming the
//! higher ballot it promised. It never goes back on a promise.

use super::{Floor, Replica, Step};
use crate::core::message::Message;
use crate::core::types::{Ballot, NodeId, Pos, Value};
use crate::core::Write;

impl Replica {
    /// `Prepare(pos, ballot)`: promise `ballot` from `pos` on, unless a
    /// higher promise covers it; a node behind on the log is sent Commits.
    pub(super) fn on_prepare(&mut self, st: &mut Step, from: NodeId, pos: Pos, ballot: Ballot) {
        if ballot.node != from {
            return; // a ballot belongs to the node that uses it
        }
        if self.is_committed(pos) {
            // The asker is behind: it learns first, then asks again from
            // its new first gap.
            self.send_commits(st, from, pos);
            return;
        }
        let promised = self.promise_from(pos);
        if ballot < promised {
            self.nack(st, from, pos, ballot, promised);
            return;
        }
        self.promise_floor(st, pos, ballot);
        let mut accepted: Vec<(Pos, Ballot, Value)> = self
            .acceptor
            .range(pos..)
            .filter_map(|(&p, a)| a.accepted.clone().map(|(b, v)| (p, b, v)))
            .collect();
        // Decided positions beyond a gap: reported in this very ballot,
        // above anything else that can be reported there.
        accepted.extend(self.log.range(pos..).map(|(&p, v)| (p, ballot, v.clone())));
        if from != self.id {
            self.preempt(st, ballot);
        }
        let prepared = Message::Prepared {
            pos,
            ballot,
            accepted,
        };
        self.send(st, from, prepared);
    }

    /// Raise the promise that covers every position from `pos` on to
    /// `ballot` (persisted). Promising more than asked (from the lower of
    /// the two starts) only refuses more, which is always safe.
    fn promise_floor(&mut self, st: &mut Step, pos: Pos, ballot: Ballot) {
        let floor = self.floor.unwrap_or_default();
        if self.floor.is_some() && ballot <= floor.ballot && pos >= floor.from {
            return;
        }
        let at = if ballot > floor.ballot {
            self.now
        } else {
            floor.at
        };
        let start = if self.floor.is_some() {
            pos.min(floor.from)
        } else {
            pos
        };
        self.floor = Some(Floor {
            from: start,
            ballot,
            at,
        });
        Self::persist(st, Write::PromiseFrom { pos: start, ballot });
    }

    /// `Propose(pos, ballot, value)`: accept it (persisted) unless a higher
    /// promise covers `pos`; a decided position is answered with its Commit.
    pub(super) fn on_propose(
        &mut self,
        st: &mut Step,
        from: NodeId,
        pos: Pos,
        ballot: Ballot,
        value: Value,
    ) {
        if ballot.node != from || pos < self.base {
            return; // in the snapshot: decided long ago
        }
        if let Some(v) = self.committed_at(pos) {
            let value = v.clone();
            self.send(st, from, Message::Commit { pos, value });
            return;
        }
        let (promised, _) = self.promise_at(pos);
        if ballot < promised {
            self.nack(st, from, pos, ballot, promised);
            return;
        }
        self.saw_leader(ballot);
        let now = self.now;
        let acc = self.acceptor.get_or_default(pos);
        let changed = ballot > acc.promised
            || acc
                .accepted
                .as_ref()
                .is_none_or(|(b, v)| *b != ballot || *v != value);
        if changed {
            if ballot > acc.promised {
                acc.promised = ballot;
                acc.promised_at = now;
            }
            acc.accepted = Some((ballot, value.clone()));
            let slot = acc.clone();
            Self::persist(st, Write::Promise { pos, slot });
        }
        if from != self.id {
            self.preempt(st, ballot);
        } else if !self.cfg.loopback {
            // Our own vote, counted at once rather than queued as a
            // message to self: the same vote, without the message's moves.
            self.on_accept(st, from, pos, ballot, value);
            return;
        }
        self.send(st, from, Message::Accept { pos, ballot, value });
    }

    /// Refuse `ballot` at `pos`: `promised` is higher.
    fn nack(&self, st: &mut Step, to: NodeId, pos: Pos, ballot: Ballot, promised: Ballot) {
        let nack = Message::Nack {
            pos,
            ballot,
            promised,
        };
        self.send(st, to, nack);
    }
}
