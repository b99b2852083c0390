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
//! Confirmations come in rounds, one in flight at a time: a read that
//! arrives while a round is under way waits for the next one (a round that
//! started before the read proves nothing about it), which starts as soon as
//! the current one is confirmed. Under load one round answers many reads.
//!
//! A round's Confirm goes out again every `sync_ticks` until a quorum
//! answers. A node that does not lead, a leader that loses its ballot, and
//! a round not confirmed within `Config::leader_ticks` refuse their reads
//! ([`Event::ReadRefused`]); the driver then reads through the log. The
//! path trusts the leader: a Byzantine one can answer anything, so BFT mode
//! reads through the log only.

use super::{Replica, Step};
use crate::core::{Ballot, Event, Message, NodeId, Output, Pos};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The leader's reads and its confirmation rounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Reads {
    /// Each read waiting: the round that must confirm it, and its index.
    waiting: BTreeMap<u64, (u64, Pos)>,
    /// The round in flight.
    round: Option<Round>,
    /// The last round a quorum confirmed.
    confirmed: u64,
    /// The last round started.
    started: u64,
}

/// One round of confirmations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Round {
    id: u64,
    ballot: Ballot,
    acks: BTreeSet<NodeId>,
    since: u64,
    /// When its Confirm last went out (it goes again every `sync_ticks`
    /// until a quorum answers: Confirms and answers get lost).
    sent: u64,
}

impl Reads {
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

impl Replica {
    /// A client's read `id`, asked of this node.
    pub(super) fn on_read(&mut self, st: &mut Step, id: u64) {
        if self.lead.is_none() {
            let leader = crate::core::Process::leader(self);
            return Self::event(st, Event::ReadRefused { id, leader });
        }
        let index = self
            .slots
            .keys()
            .next_back()
            .map_or(self.gap, |p| (p + 1).max(self.gap));
        // The round that starts after this read arrived.
        let round = self.reads.started + 1;
        self.reads.waiting.insert(id, (round, index));
        if self.reads.round.is_none() {
            self.start_round(st);
        }
    }

    /// Ask every node to confirm our ballot, for the reads of the next round.
    fn start_round(&mut self, st: &mut Step) {
        let Some(lead) = self.lead else {
            return;
        };
        self.reads.started += 1;
        let id = self.reads.started;
        if self.quorum() <= 1 {
            // Alone, this node's own standing is the quorum: nobody to ask.
            self.reads.confirmed = id;
            return;
        }
        self.reads.round = Some(Round {
            id,
            ballot: lead.ballot,
            acks: BTreeSet::from([self.id]),
            since: self.now,
            sent: self.now,
        });
        self.send_confirm(st);
    }

    fn send_confirm(&mut self, st: &mut Step) {
        let gap = self.gap;
        let Some(r) = self.reads.round.as_mut() else {
            return;
        };
        r.sent = self.now;
        let msg = Message::Confirm {
            pos: gap,
            ballot: r.ballot,
            read: r.id,
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
        let quorum = self.quorum();
        let Some(r) = self.reads.round.as_mut() else {
            return;
        };
        if (r.id, r.ballot) == (read, ballot) && r.acks.insert(from) && r.acks.len() >= quorum {
            self.reads.confirmed = r.id;
            self.reads.round = None;
        }
    }

    /// After every step: answer the reads whose round a quorum confirmed
    /// and whose index the log reached; refuse those that can no longer be;
    /// start the next round for reads that wait for one.
    pub(super) fn settle_reads(&mut self, st: &mut Step) {
        let ballot = self.lead.map(|l| l.ballot);
        let stale = self.reads.round.as_ref().is_some_and(|r| {
            Some(r.ballot) != ballot || self.now.saturating_sub(r.since) > self.cfg.leader_ticks()
        });
        if ballot.is_none() || stale {
            // Every read waiting lost its leader or its quorum.
            self.reads.round = None;
            self.reads.confirmed = self.reads.started;
            for (id, _) in std::mem::take(&mut self.reads.waiting) {
                Self::event(st, Event::ReadRefused { id, leader: None });
            }
            return;
        }
        let (confirmed, gap) = (self.reads.confirmed, self.gap);
        let ready: Vec<(u64, Pos)> = self
            .reads
            .waiting
            .iter()
            .filter(|(_, &(round, index))| round <= confirmed && gap >= index)
            .map(|(&id, &(_, index))| (id, index))
            .collect();
        for (id, index) in ready {
            self.reads.waiting.remove(&id);
            Self::event(st, Event::ReadReady { id, index });
        }
        let unconfirmed = self.reads.waiting.values().any(|&(r, _)| r > confirmed);
        match &self.reads.round {
            None if unconfirmed => {
                self.start_round(st);
                if self.reads.confirmed > confirmed {
                    // Confirmed at once (a cluster of one): answer now.
                    self.settle_reads(st);
                }
            }
            Some(r) if self.now >= r.sent + self.cfg.sync_ticks.max(1) => self.send_confirm(st),
            _ => {}
        }
    }
}
