//! The learner: a position is committed once (a Commit that disagrees with
//! what was committed is reported, never applied), persisted, and the
//! client values it displaced go back in line; a node behind is sent the
//! Commits it misses (`CatchUp`, or a Prepare for a decided position).

use super::{Replica, Step, CATCH_UP_BATCH};
use crate::core::message::Message;
use crate::core::types::{NodeId, Pos, Value};
use crate::core::{Event, Write};

impl Replica {
    /// What was committed at `pos`. The log holds every position below the
    /// first gap, so when it holds no more than that (the steady state) a
    /// position at or above the gap is answered without searching it.
    pub(super) fn committed_at(&self, pos: Pos) -> Option<&Value> {
        if pos >= self.gap && self.log.len() as u64 == self.gap - self.base {
            return None;
        }
        self.log.get(&pos)
    }

    pub(super) fn is_committed(&self, pos: Pos) -> bool {
        pos < self.gap || self.committed_at(pos).is_some()
    }

    pub(super) fn advance_gap(&mut self) {
        while self.log.len() as u64 > self.gap - self.base && self.log.contains_key(&self.gap) {
            self.gap += 1;
        }
    }

    pub(super) fn learn(&mut self, st: &mut Step, pos: Pos, value: Value) {
        if pos < self.base {
            return; // in the snapshot: decided, and no longer kept
        }
        if let Some(kept) = self.committed_at(pos) {
            if *kept != value {
                let kept = kept.clone();
                Self::event(
                    st,
                    Event::Conflict {
                        pos,
                        kept,
                        refused: value,
                    },
                );
            }
            return;
        }
        self.log.insert(pos, value.clone());
        if pos == self.gap {
            self.gap += 1; // the steady state: no search for the next gap
        }
        self.advance_gap();
        Self::persist(
            st,
            Write::Commit {
                pos,
                value: value.clone(),
            },
        );
        if let Some(slot) = self.slots.remove(&pos) {
            if slot.attempts == 0 {
                // Karn's rule: only unambiguous samples (no re-send).
                let sample = self.now.saturating_sub(slot.sent_at);
                self.srtt = (7 * self.srtt + sample).div_ceil(8);
            }
            if let Some(own) = slot.own.filter(|own| *own != value) {
                Self::event(
                    st,
                    Event::Requeued {
                        pos,
                        value: own.clone(),
                    },
                );
                self.queued += own.len();
                self.queue.push_front(own);
            }
        }
        Self::event(st, Event::Committed { pos, value });
        // The acceptor state of a decided position is no longer needed: any
        // later message about it is answered with the Commit.
        self.acceptor.remove(&pos);
        self.fill_window(st);
    }

    /// Send `to` the Commits of our log from `start` on (at most
    /// [`CATCH_UP_BATCH`]), after our snapshot if `start` is below it.
    pub(super) fn send_commits(&self, st: &mut Step, to: NodeId, start: Pos) {
        if start < self.base && to != self.id {
            self.send_snapshot(st, to);
        }
        for (&pos, value) in self.log.range(start..).take(CATCH_UP_BATCH) {
            let value = value.clone();
            self.send(st, to, Message::Commit { pos, value });
        }
    }
}
