//! Compaction and catch-up from a snapshot.
//!
//! The state machine above the log hands the replica its state once it
//! has applied every position below some `upto` ([`Input::Compact`]); the
//! replica keeps that snapshot instead of the log, acceptor state and
//! proofs below `upto` (persisted as [`Write::Snapshot`], and
//! [`Output::Forget`] tells the shield). Every position below `upto` is
//! committed, so nothing a proposer may still need is lost: a Prepare or a
//! Propose below the snapshot concerns a decided position.
//!
//! A peer that asks for positions below the snapshot (a `CatchUp` or a
//! Prepare from there) is sent the snapshot in pieces of at most
//! [`Config::snapshot_chunk`] bytes, then the Commits from `upto` on. The
//! receiver puts the pieces of each sender together (in any order; a lost
//! piece comes again with the next catch-up) and installs the snapshot once
//! [`Config::vouchers`] distinct peers sent the very same one: one in
//! classic mode, f+1 in BFT mode, where a single sender may lie.
//!
//! [`Config::snapshot_chunk`]: crate::core::Config::snapshot_chunk
//! [`Config::vouchers`]: crate::core::Config::vouchers

use super::{Replica, Step};
use crate::core::{Event, Message, NodeId, Output, Pos, Snapshot, Write};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest snapshot a node takes in (1 GiB): a peer announcing more
/// is refused before it is sent any memory.
pub const MAX_SNAPSHOT: u64 = 1 << 30;

/// Snapshots on their way in, per sender.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Incoming {
    /// The pieces of the snapshot each sender is sending.
    parts: BTreeMap<NodeId, Parts>,
    /// The last whole snapshot each sender sent, waiting for vouchers.
    whole: BTreeMap<NodeId, Snapshot>,
}

/// The pieces of one sender's snapshot received so far.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Parts {
    upto: Pos,
    total: u64,
    /// Pieces by byte offset.
    pieces: BTreeMap<u64, String>,
    have: u64,
}

impl Parts {
    /// The state, once the pieces cover it exactly from 0 to `total`.
    fn whole(&self) -> Option<String> {
        let mut state = String::with_capacity(self.total as usize);
        for (&offset, piece) in &self.pieces {
            if offset != state.len() as u64 {
                return None;
            }
            state.push_str(piece);
        }
        (state.len() as u64 == self.total).then_some(state)
    }
}

/// `state` cut into pieces of at most `size` bytes, on character boundaries.
fn pieces(state: &str, size: usize) -> Vec<(u64, &str)> {
    let size = size.max(4); // a UTF-8 character takes at most 4 bytes
    let mut out = Vec::new();
    let mut start = 0;
    while start < state.len() || out.is_empty() {
        let mut end = (start + size).min(state.len());
        while !state.is_char_boundary(end) {
            end -= 1;
        }
        out.push((start as u64, &state[start..end]));
        start = end;
    }
    out
}

impl Replica {
    /// The first position the log holds: everything below it is in the
    /// snapshot.
    pub fn base(&self) -> Pos {
        self.base
    }

    /// [`Input::Compact`]: keep `snap` instead of everything below its
    /// `upto`, if every position there is committed and it is news.
    pub(super) fn compact(&mut self, st: &mut Step, snap: Snapshot) {
        if snap.upto <= self.base || snap.upto > self.gap {
            return;
        }
        let upto = snap.upto;
        self.cut_below(upto);
        Self::persist(st, Write::Snapshot(snap.clone()));
        st.out.push(Output::Forget { below: upto });
        Self::event(st, Event::Compacted { upto });
        self.snapshot = Some(snap);
    }

    /// Drop the log, acceptor state and proposals below `upto`, all decided.
    fn cut_below(&mut self, upto: Pos) {
        self.log = self.log.split_off(&upto);
        self.acceptor = self.acceptor.split_off(&upto);
        let kept = self.slots.split_off(&upto);
        for slot in std::mem::replace(&mut self.slots, kept).into_values().rev() {
            // Decided, by whom and for which value this node cannot tell:
            // its client batch goes back in line (the sessions above dedupe).
            if let Some(own) = slot.own {
                self.queued += own.len();
                self.queue.push_front(own);
            }
        }
        self.base = upto;
        self.gap = self.gap.max(upto);
        self.cursor = self.cursor.max(upto);
        self.advance_gap();
        self.incoming.parts.retain(|_, p| p.upto > upto);
        self.incoming.whole.retain(|_, s| s.upto > upto);
    }

    /// Send `to` our snapshot, piece by piece (a catch-up from below it).
    pub(super) fn send_snapshot(&self, st: &mut Step, to: NodeId) {
        let Some(snap) = &self.snapshot else {
            return;
        };
        let total = snap.state.len() as u64;
        for (offset, chunk) in pieces(&snap.state, self.cfg.snapshot_chunk) {
            let msg = Message::Snapshot {
                upto: snap.upto,
                total,
                offset,
                chunk: chunk.to_string(),
            };
            self.send(st, to, msg);
        }
    }

    /// One piece of `from`'s snapshot of everything below `upto`.
    pub(super) fn on_snapshot(
        &mut self,
        st: &mut Step,
        from: NodeId,
        upto: Pos,
        total: u64,
        offset: u64,
        chunk: String,
    ) {
        let fits = total <= MAX_SNAPSHOT && offset.saturating_add(chunk.len() as u64) <= total;
        if from == self.id || upto <= self.gap || !fits {
            return; // nothing this node lacks, or a piece that cannot fit
        }
        let parts = self.incoming.parts.entry(from).or_insert_with(|| Parts {
            upto,
            total,
            pieces: BTreeMap::new(),
            have: 0,
        });
        if (parts.upto, parts.total) != (upto, total) {
            if upto < parts.upto {
                return; // an older snapshot, late
            }
            *parts = Parts {
                upto,
                total,
                pieces: BTreeMap::new(),
                have: 0,
            };
        }
        if parts.pieces.contains_key(&offset) || parts.have + chunk.len() as u64 > total {
            return;
        }
        parts.have += chunk.len() as u64;
        parts.pieces.insert(offset, chunk);
        if parts.have < total {
            return;
        }
        let state = parts.whole();
        self.incoming.parts.remove(&from);
        if let Some(state) = state {
            self.incoming.whole.insert(from, Snapshot { upto, state });
            self.install_vouched(st);
        }
    }

    /// Install the furthest snapshot enough distinct peers sent alike.
    fn install_vouched(&mut self, st: &mut Step) {
        let need = self.cfg.vouchers.max(1);
        let mut best: Option<(&Snapshot, Vec<NodeId>)> = None;
        for snap in self.incoming.whole.values() {
            let from: Vec<NodeId> = (self.incoming.whole.iter())
                .filter(|(_, s)| *s == snap)
                .map(|(&id, _)| id)
                .collect();
            if from.len() >= need && best.as_ref().is_none_or(|(b, _)| snap.upto > b.upto) {
                best = Some((snap, from));
            }
        }
        let Some((snap, from)) = best.map(|(s, f)| (s.clone(), f)) else {
            return;
        };
        let upto = snap.upto;
        self.cut_below(upto);
        Self::persist(st, Write::Snapshot(snap.clone()));
        st.out.push(Output::Forget { below: upto });
        Self::event(st, Event::Installed { upto, from });
        self.snapshot = Some(snap);
        self.fill_window(st);
    }
}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn pieces_cover_the_state_on_character_boundaries() {
        let state = "añb€c".repeat(7);
        for size in [1, 4, 5, 9, 1000] {
            let p = pieces(&state, size);
            let joined: String = p.iter().map(|(_, s)| *s).collect();
            assert_eq!(joined, state);
            let mut at = 0;
            for (offset, s) in &p {
                assert_eq!(*offset, at);
                assert!(s.len() <= size.max(4));
                at += s.len() as u64;
            }
        }
        assert_eq!(pieces("", 8), vec![(0, "")]);
    }
}
