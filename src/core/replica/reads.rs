//! Read-index: a linearizable read answered without a log entry.
//!
//! The leader takes the read's *index*: its first uncommitted position, or
//! one past its last proposal in flight if that is later — every value
//! chosen before the read arrived lies below it (earlier ballots' values
//! were reported to this leader's phase 1 and re-proposed, its own are in
//! flight or committed). It then asks every node to confirm that it has
//! promised nothing above the leader's ballot (`Confirm`); once a quorum
//! has (`Confirmed`, counting itself) and its log is whole below the index,
//! it tells its driver the read may be answered from the state applied so
//! far ([`Event::ReadReady`]). A quorum that confirmed after the read
//! arrived means no higher ballot had a quorum's promise then, so no value
//! was chosen that this leader does not know of.
//!
//! A node that does not lead, a leader that loses its ballot, and a read
//! not confirmed within [`Config::leader_ticks`] refuse it
//! ([`Event::ReadRefused`]); the driver then reads through the log. The
//! path trusts the leader: a Byzantine one can answer anything, so BFT mode
//! reads through the log only.

use super::{Replica, Step};
use crate::core::{Ballot, Event, Message, NodeId, Output, Pos};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A read waiting for its confirmations and its index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct ReadWait {
    ballot: Ballot,
    index: Pos,
    acks: BTreeSet<NodeId>,
    since: u64,
}

impl Replica {
    /// A client's read `id`, asked of this node.
    pub(super) fn on_read(&mut self, st: &mut Step, id: u64) {
        let Some(lead) = self.lead else {
            let leader = crate::core::Process::leader(self);
            return Self::event(st, Event::ReadRefused { id, leader });
        };
        let index = self
            .slots
            .keys()
            .next_back()
            .map_or(self.gap, |p| (p + 1).max(self.gap));
        let wait = ReadWait {
            ballot: lead.ballot,
            index,
            acks: BTreeSet::from([self.id]),
            since: self.now,
        };
        self.reads.insert(id, wait);
        let msg = Message::Confirm {
            pos: index,
            ballot: lead.ballot,
            read: id,
        };
        st.out.push(Output::Broadcast { msg });
    }

    /// The leader of `ballot` asks whether we still stand by it.
    pub(super) fn on_confirm(
        &mut self,
        st: &mut Step,
        from: NodeId,
        pos: Pos,
        ballot: Ballot,
        read: u64,
    ) {
        if self.promise_from(0) <= ballot {
            self.send(st, from, Message::Confirmed { pos, ballot, read });
        }
    }

    pub(super) fn on_confirmed(&mut self, from: NodeId, ballot: Ballot, read: u64) {
        if let Some(r) = self.reads.get_mut(&read).filter(|r| r.ballot == ballot) {
            r.acks.insert(from);
        }
    }

    /// After every step: answer the reads confirmed by a quorum whose index
    /// the log reached; refuse those that can no longer be.
    pub(super) fn settle_reads(&mut self, st: &mut Step) {
        let ballot = self.lead.map(|l| l.ballot);
        let (quorum, gap, now) = (self.quorum(), self.gap, self.now);
        let patience = self.cfg.leader_ticks();
        let mut settled = Vec::new();
        for (&id, r) in &self.reads {
            if ballot != Some(r.ballot) || now.saturating_sub(r.since) > patience {
                settled.push((id, None));
            } else if r.acks.len() >= quorum && gap >= r.index {
                settled.push((id, Some(r.index)));
            }
        }
        for (id, index) in settled {
            self.reads.remove(&id);
            let e = match index {
                Some(index) => Event::ReadReady { id, index },
                None => Event::ReadRefused { id, leader: None },
            };
            Self::event(st, e);
        }
    }
}
