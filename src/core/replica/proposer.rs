//! The proposer: phase 1 once for the rest of the log (`Prepare`, a quorum
//! of `Prepared`), then phase 2 at every position of its window (`Propose`,
//! a quorum of `Accept`, then `Commit`), with client values batched per
//! position, retries with backoff, and preemption by higher ballots.

use super::{Lead, Prep, Replica, Slot, Step, Voters};
use crate::core::message::Message;
use crate::core::types::{Ballot, BatchBuilder, NodeId, Pos, Value};
use crate::core::{Event, Output};
use std::collections::{BTreeMap, BTreeSet};

impl Replica {
    /// A promise for our current Prepare: with a quorum of them we lead.
    pub(super) fn on_prepared(
        &mut self,
        st: &mut Step,
        from: NodeId,
        pos: Pos,
        ballot: Ballot,
        accepted: Vec<(Pos, Ballot, Value)>,
    ) {
        let quorum = self.quorum();
        let Some(prep) = self.prep.as_mut() else {
            return;
        };
        if prep.ballot != ballot || prep.from != pos || prep.preempted {
            return; // an answer to an older or a preempted attempt
        }
        prep.promises.insert(from, accepted);
        if prep.promises.len() >= quorum {
            self.take_lead(st, pos, ballot);
        }
    }

    /// An acceptance of one of our Proposes: with a quorum, Commit.
    pub(super) fn on_accept(
        &mut self,
        st: &mut Step,
        from: NodeId,
        pos: Pos,
        ballot: Ballot,
        value: Value,
    ) {
        let quorum = self.quorum();
        let Some(slot) = self.slots.get_mut(&pos) else {
            return;
        };
        // Accepts of an earlier ballot of ours still count: a quorum of
        // them chose the value whatever happened since.
        if slot.ballot != ballot || slot.value != value {
            return;
        }
        slot.accepts.insert(from);
        if slot.accepts.len() == quorum {
            if self.cfg.loopback {
                self.broadcast(st, Message::Commit { pos, value });
            } else {
                // Learnt here at once rather than queued as a Commit to
                // self: the same commit, without the message's moves.
                let msg = Message::Commit {
                    pos,
                    value: value.clone(),
                };
                st.out.push(Output::Broadcast { msg });
                self.learn(st, pos, value);
            }
        }
    }

    /// Our `ballot` was refused for a higher `promised` one.
    pub(super) fn on_nack(&mut self, st: &mut Step, ballot: Ballot, promised: Ballot) {
        if self.own_ballot() == Some(ballot) {
            self.preempt(st, promised);
        }
    }

    pub(super) fn backoff(&self, attempts: u32) -> u64 {
        let base = self.cfg.retry_ticks.max(1);
        base * (1 << attempts.min(3)) + self.entropy % base
    }

    /// When to re-send a Propose after silence: the usual backoff, but at
    /// least three smoothed commit latencies.
    pub(super) fn rto(&self, attempts: u32) -> u64 {
        self.backoff(attempts).max(3 * self.srtt)
    }

    /// A new ballot above every round seen, or `None` once the rounds are
    /// used up.
    ///
    /// Rounds come from peers, so a Byzantine one can hand us `u64::MAX`
    /// (the BALLOT_OVERFLOW attack). `max_round + 1` would then panic in
    /// debug builds and wrap to round 0 in release builds — and a ballot
    /// below every promise can never win again. Refusing to climb is the
    /// only honest answer: no ballot we could pick is higher, so this node
    /// simply does not propose from here on (it still accepts, learns and
    /// catches up). The middleware's jump bound keeps such rounds away from
    /// the core in the first place.
    pub(super) fn next_ballot(&mut self) -> Option<Ballot> {
        self.max_round = self.max_round.checked_add(1)?;
        Some(Ballot::new(self.max_round, self.id))
    }

    /// The next position a leader proposes a client batch at: not decided,
    /// not in flight here. Positions the last Prepared reports mentioned are
    /// in flight (recovered), so every other one from the lead on is free.
    pub(super) fn next_free(&mut self) -> Pos {
        let mut p = self.cursor.max(self.gap);
        while self.is_committed(p) || self.slots.contains_key(&p) {
            p += 1;
        }
        self.cursor = p + 1;
        p
    }

    /// Put client values to work: as the leader, propose batches while the
    /// window has room; otherwise win phase 1 first.
    pub(super) fn fill_window(&mut self, st: &mut Step) {
        let Some(lead) = self.lead else {
            if self.prep.is_none() && (!self.queue.is_empty() || !self.slots.is_empty()) {
                self.start_prepare(st, 0);
            }
            return;
        };
        while self.slots.len() < self.cfg.window.max(1) && !self.queue.is_empty() {
            let own = self.next_batch();
            let pos = self.next_free();
            let deadline = self.now + self.rto(0);
            self.slots.insert(
                pos,
                Slot {
                    own: Some(own.clone()),
                    value: own.clone(),
                    ballot: lead.ballot,
                    accepts: Voters::default(),
                    deadline,
                    attempts: 0,
                    sent_at: self.now,
                },
            );
            self.broadcast(
                st,
                Message::Propose {
                    pos,
                    ballot: lead.ballot,
                    value: own,
                },
            );
        }
    }

    /// The next client batch to propose: up to `batch` values from the
    /// front of the queue. A queued batch that fits goes as it is (a value
    /// that arrived while the window had room is proposed without a copy);
    /// values that queued up while the window was full go out together, so
    /// `batch` is a ceiling, not what makes a leader fast.
    fn next_batch(&mut self) -> Value {
        let ceiling = self.cfg.batch.max(1);
        let front = self.queue.front().map_or(0, Value::len);
        let next = self.queue.get(1).map_or(usize::MAX, Value::len);
        if front <= ceiling && front.saturating_add(next) > ceiling {
            let v = self.queue.pop_front().expect("queue is not empty");
            self.queued -= v.len();
            return v;
        }
        let mut items = BatchBuilder::with_capacity(ceiling.min(self.queued), 0);
        while items.len() < ceiling {
            let Some(v) = self.queue.pop_front() else {
                break;
            };
            let mut rest = v.items();
            items.extend(rest.split_to(ceiling - items.len()));
            if rest.len() > 0 {
                let mut left = BatchBuilder::default();
                left.extend(rest);
                self.queue.push_front(left.build());
            }
        }
        self.queued -= items.len();
        items.build()
    }

    /// Phase 1 for every position from the first gap on, in a new ballot.
    pub(super) fn start_prepare(&mut self, st: &mut Step, attempts: u32) {
        let Some(ballot) = self.next_ballot() else {
            // No higher ballot exists: we cannot lead. Stay out of phase 1
            // (`prep` stays empty); say so once, not on every request.
            if !self.exhausted {
                self.exhausted = true;
                Self::event(
                    st,
                    Event::Note(format!(
                        "ballot rounds exhausted (round {} seen), not proposing",
                        self.max_round
                    )),
                );
            }
            self.prep = None;
            return;
        };
        let from = self.gap;
        let deadline = self.now + self.backoff(attempts);
        self.prep = Some(Prep {
            from,
            ballot,
            promises: BTreeMap::new(),
            deadline,
            attempts,
            preempted: false,
        });
        // On behalf of the first client value waiting (for the timeline).
        let value = self
            .slots
            .values()
            .find_map(|s| s.own.clone())
            .or_else(|| {
                self.queue
                    .front()
                    .and_then(|v| v.items().first().map(Value::one))
            })
            .unwrap_or_default();
        Self::event(
            st,
            Event::Preparing {
                pos: from,
                ballot,
                value,
            },
        );
        self.broadcast(st, Message::Prepare { pos: from, ballot });
    }

    pub(super) fn retry_prepare(&mut self, st: &mut Step) {
        let Some(prep) = self.prep.clone() else {
            return;
        };
        if prep.preempted {
            // Someone else holds a higher ballot. Let a fresh competitor
            // finish first: climbing over it now would be ballot duelling.
            let (promised, at) = self.promise_at(self.gap.max(prep.from));
            let fresh_until = at + 2 * self.cfg.grace_ticks;
            if promised.node != self.id && self.now < fresh_until {
                // Wide jitter: honest proposers deferring to the same
                // competitor must not all come back on the same tick.
                let spread = 4 * self.cfg.retry_ticks.max(1);
                let wait = fresh_until - self.now + self.entropy % spread;
                if let Some(p) = self.prep.as_mut() {
                    p.deadline = self.now + wait;
                }
                return;
            }
            if self.queue.is_empty() && self.slots.is_empty() {
                self.prep = None; // nothing left to propose: stop competing
                return;
            }
            self.start_prepare(st, prep.attempts + 1);
        } else {
            // Silence: re-send the same ballot. Commits learnt meanwhile move
            // the first gap; the promise asked for then starts there.
            let attempts = prep.attempts + 1;
            let deadline = self.now + self.backoff(attempts);
            let from = prep.from.max(self.gap);
            let p = self.prep.as_mut().expect("prep exists");
            if from != p.from {
                p.promises.clear();
                p.from = from;
            }
            p.attempts = attempts;
            p.deadline = deadline;
            let msg = Message::Prepare {
                pos: from,
                ballot: prep.ballot,
            };
            st.local.push_back(msg.clone());
            st.out.push(Output::Broadcast { msg });
        }
    }

    /// A higher ballot than ours appeared.
    pub(super) fn preempt(&mut self, st: &mut Step, by: Ballot) {
        let backoff = self.backoff(1);
        if let Some(lead) = self.lead {
            if by > lead.ballot {
                self.lead = None;
                Self::event(
                    st,
                    Event::Preempted {
                        pos: lead.from,
                        ballot: lead.ballot,
                        by,
                    },
                );
                // Positions in flight stay bound to their batches; they are
                // proposed again once this node leads again (or learnt).
                self.prep = Some(Prep {
                    from: lead.from,
                    ballot: lead.ballot,
                    promises: BTreeMap::new(),
                    deadline: self.now + backoff,
                    attempts: 0,
                    preempted: true,
                });
            }
        } else if let Some(p) = self.prep.as_mut() {
            if by > p.ballot && !p.preempted {
                p.preempted = true;
                p.deadline = self.now + backoff;
                Self::event(
                    st,
                    Event::Preempted {
                        pos: p.from,
                        ballot: p.ballot,
                        by,
                    },
                );
            }
        }
    }

    /// A quorum promised: lead from `from` on in `ballot`, proposing the
    /// reported values where there are any and client batches elsewhere.
    pub(super) fn take_lead(&mut self, st: &mut Step, from: Pos, ballot: Ballot) {
        let prep = self.prep.take().expect("preparing");
        // Paxos's rule, per position: the highest-ballot value reported.
        let mut reported: BTreeMap<Pos, (Ballot, Value)> = BTreeMap::new();
        for (pos, b, v) in prep.promises.into_values().flatten() {
            if pos < from || self.is_committed(pos) {
                continue;
            }
            match reported.get(&pos) {
                Some((hb, _)) if *hb >= b => {}
                _ => {
                    reported.insert(pos, (b, v));
                }
            }
        }
        self.lead = Some(Lead { from, ballot });
        self.cursor = from;
        let deadline = self.now + self.rto(0);
        let now = self.now;
        // Positions already bound here, then the reported ones not yet.
        let mut positions: BTreeSet<Pos> = self.slots.keys().copied().collect();
        positions.extend(reported.keys().copied());
        for pos in positions {
            let report = reported.remove(&pos).map(|(_, v)| v);
            let slot = self.slots.get_or_insert_with(pos, || Slot {
                own: None,
                value: report.clone().unwrap_or_default(),
                ballot,
                accepts: Voters::default(),
                deadline,
                attempts: 0,
                sent_at: now,
            });
            // With no report here nothing can have been chosen at a lower
            // ballot, so the batch bound to the position is free to go.
            let value = report.unwrap_or_else(|| slot.own.clone().unwrap_or(slot.value.clone()));
            if slot.own.as_ref().is_some_and(|own| *own != value) {
                Self::event(
                    st,
                    Event::Adopted {
                        pos,
                        ballot,
                        value: value.clone(),
                    },
                );
            }
            slot.value = value.clone();
            slot.ballot = ballot;
            slot.accepts.clear();
            slot.deadline = deadline;
            slot.attempts = 0;
            slot.sent_at = now;
            self.broadcast(st, Message::Propose { pos, ballot, value });
        }
        self.fill_window(st);
        self.fill_holes(st, from, ballot);
    }

    /// Propose a no-op (an empty batch) at every position from `from` below
    /// the highest one committed or in flight here that is neither: no
    /// Prepared report named a value there and no client batch was left to
    /// fill it, so nothing can have been chosen there yet, and a hole left
    /// open would hold up the log behind it for good.
    fn fill_holes(&mut self, st: &mut Step, from: Pos, ballot: Ballot) {
        let top = [self.log.keys().last(), self.slots.keys().last()]
            .into_iter()
            .flatten()
            .max()
            .copied();
        let Some(top) = top else {
            return;
        };
        let (deadline, now) = (self.now + self.rto(0), self.now);
        for pos in from..top {
            if self.is_committed(pos) || self.slots.contains_key(&pos) {
                continue;
            }
            self.slots.insert(
                pos,
                Slot {
                    own: None,
                    value: Value::default(),
                    ballot,
                    accepts: Voters::default(),
                    deadline,
                    attempts: 0,
                    sent_at: now,
                },
            );
            let value = Value::default();
            self.broadcast(st, Message::Propose { pos, ballot, value });
        }
    }
}
