//! Messages between nodes: the brief's `Prepare`, `Prepared`, `Propose`,
//! `Accept`, `Commit`, plus what correctness needs beyond the brief: `Nack`
//! (a rejection carrying the higher ballot the acceptor promised) and
//! `CatchUp` (a request for committed positions, so a node that missed
//! messages for a position learns it instead of dropping them).

use super::types::{Ballot, Pos, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A message from one node to another. The sender is not part of the
/// message: the transport says who sent it (and, with signatures on, proves it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Message {
    /// Phase 1a: "promise not to accept anything below `ballot` at `pos` and
    /// every later position". One Prepare makes its sender the leader of the
    /// whole rest of the log (Multi-Paxos), so a stable leader proposes
    /// without a phase 1 per position.
    Prepare { pos: Pos, ballot: Ballot },
    /// Phase 1b: the promise, with every `(position, ballot, value)` this
    /// acceptor accepted at `pos` or later and has not seen decided. A
    /// position it knows committed is reported with its committed value in
    /// the Prepare's own `ballot`, above anything else anyone can report
    /// there, so the new leader proposes exactly that value.
    Prepared {
        pos: Pos,
        ballot: Ballot,
        accepted: Vec<(Pos, Ballot, Value)>,
    },
    /// Phase 2a: "accept `value` at `pos` in `ballot`".
    Propose {
        pos: Pos,
        ballot: Ballot,
        value: Value,
    },
    /// Phase 2b: the acceptor accepted `value` at `pos` in `ballot`. The
    /// value is carried so a quorum of Accepts is a certificate of what was
    /// chosen, checkable by anyone.
    Accept {
        pos: Pos,
        ballot: Ballot,
        value: Value,
    },
    /// `value` is chosen at `pos`; learners apply it to their log.
    Commit { pos: Pos, value: Value },
    /// The acceptor refused `ballot` at `pos` because it promised `promised`.
    Nack {
        pos: Pos,
        ballot: Ballot,
        promised: Ballot,
    },
    /// "Send me the Commits you know for positions `from` and later."
    CatchUp { from: Pos },
    /// Read-index: the leader of `ballot` asks whether the receiver has
    /// promised nothing higher, for its client's read `read` at index `pos`.
    Confirm { pos: Pos, ballot: Ballot, read: u64 },
    /// The answer: nothing higher promised (silence otherwise).
    Confirmed { pos: Pos, ballot: Ballot, read: u64 },
    /// One piece of the sender's snapshot of everything below `upto`
    /// (`total` bytes of state, this piece from byte `offset`), sent to a
    /// node asking for positions the sender compacted away. Pieces keep a
    /// packet well under the bridge's frame limit whatever the state's size.
    Snapshot {
        upto: Pos,
        total: u64,
        offset: u64,
        chunk: String,
    },
}

impl Message {
    /// The brief's name for the message kind, as printed in timelines.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "Prepare",
            Message::Prepared { .. } => "Prepared",
            Message::Propose { .. } => "Propose",
            Message::Accept { .. } => "Accept",
            Message::Commit { .. } => "Commit",
            Message::Nack { .. } => "Nack",
            Message::CatchUp { .. } => "CatchUp",
            Message::Confirm { .. } => "Confirm",
            Message::Confirmed { .. } => "Confirmed",
            Message::Snapshot { .. } => "Snapshot",
        }
    }

    /// The log position the message is about.
    pub fn pos(&self) -> Pos {
        match self {
            Message::Prepare { pos, .. }
            | Message::Prepared { pos, .. }
            | Message::Propose { pos, .. }
            | Message::Accept { pos, .. }
            | Message::Commit { pos, .. }
            | Message::Nack { pos, .. }
            | Message::Confirm { pos, .. }
            | Message::Confirmed { pos, .. } => *pos,
            Message::CatchUp { from } => *from,
            Message::Snapshot { upto, .. } => *upto,
        }
    }

    /// The highest round the message names: its ballot's, or for a Nack
    /// the higher of the refused ballot and the promise that refused it.
    /// A proposer's next ballot must climb over it (a Nack is how a node
    /// that never saw the higher Prepare learns of it), so the ballot
    /// bound checks it too.
    pub fn highest_round(&self) -> Option<u64> {
        match self {
            Message::Nack {
                ballot, promised, ..
            } => Some(ballot.round.max(promised.round)),
            _ => self.ballot().map(|b| b.round),
        }
    }

    /// The ballot the message is about, where it has one.
    pub fn ballot(&self) -> Option<Ballot> {
        match self {
            Message::Prepare { ballot, .. }
            | Message::Prepared { ballot, .. }
            | Message::Propose { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Nack { ballot, .. }
            | Message::Confirm { ballot, .. }
            | Message::Confirmed { ballot, .. } => Some(*ballot),
            Message::Commit { .. } | Message::CatchUp { .. } | Message::Snapshot { .. } => None,
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Prepare { pos, ballot } => write!(f, "Prepare(pos {pos}+, b {ballot})"),
            Message::Prepared {
                pos,
                ballot,
                accepted,
            } => {
                write!(f, "Prepared(pos {pos}+, b {ballot}, ")?;
                if accepted.is_empty() {
                    f.write_str("none")?;
                }
                for (i, (p, ab, v)) in accepted.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{p}@{ab}:'{v}'")?;
                }
                f.write_str(")")
            }
            Message::Propose { pos, ballot, value } => {
                write!(f, "Propose(pos {pos}, b {ballot}, '{value}')")
            }
            Message::Accept { pos, ballot, value } => {
                write!(f, "Accept(pos {pos}, b {ballot}, '{value}')")
            }
            Message::Commit { pos, value } => write!(f, "Commit(pos {pos}, '{value}')"),
            Message::Nack {
                pos,
                ballot,
                promised,
            } => write!(f, "Nack(pos {pos}, b {ballot}, promised {promised})"),
            Message::CatchUp { from } => write!(f, "CatchUp(from {from})"),
            Message::Confirm { pos, ballot, read } => {
                write!(f, "Confirm(read {read} at pos {pos}, b {ballot})")
            }
            Message::Confirmed { pos, ballot, read } => {
                write!(f, "Confirmed(read {read} at pos {pos}, b {ballot})")
            }
            Message::Snapshot {
                upto,
                total,
                offset,
                chunk,
            } => {
                let end = offset + chunk.len() as u64;
                write!(
                    f,
                    "Snapshot(below {upto}, bytes {offset}..{end} of {total})"
                )
            }
        }
    }
}
