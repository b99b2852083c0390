//! The protocol as plain, deterministic state machines.
//!
//! Nothing in this module knows about actix, sockets, clocks or random number
//! generators. A participant is a value with `step(input) -> outputs`: the
//! input is a message from a peer, a logical tick (carrying whatever
//! randomness the driver wants the participant to use) or a client request;
//! the outputs are messages to send and events for the trace. The actors,
//! the simulator and the tests all drive the very same code.

mod config;
mod message;
mod posmap;
mod replica;
mod types;

pub use config::{bft_faults, bft_quorum, mode_config, BftError, Config};
pub use message::Message;
pub use posmap::PosMap;
pub use replica::{AcceptorSlot, Replica};
pub use types::{digest_form, majority, Ballot, BatchBuilder, Items, NodeId, Pos, Value};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a participant reacts to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Input {
    /// A message from peer `from` (already authenticated by the layer below).
    Deliver { from: NodeId, msg: Message },
    /// One logical tick. `entropy` is a random number chosen by the driver,
    /// used for retry jitter so the core itself stays deterministic.
    Tick { entropy: u64 },
    /// The client (the brief's coordinator) asks this node to propagate `value`.
    Request { value: Value },
    /// A client's read `id`, to answer by read-index: [`Event::ReadReady`]
    /// once it may be answered from the applied state, or
    /// [`Event::ReadRefused`].
    Read { id: u64 },
    /// The state machine above the log applied every position below
    /// `snapshot.upto` and its state is `snapshot.state`: keep that instead
    /// of the log below `upto` (compaction). Ignored unless every position
    /// below `upto` is committed here and `upto` is past the snapshot kept.
    Compact(Snapshot),
}

/// A state machine's state once every position below `upto` is applied:
/// what replaces the log below `upto` when a node compacts, and what a node
/// that is behind it receives instead of the Commits it misses. The core
/// never reads `state`; the layer that applies the log wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Snapshot {
    pub upto: Pos,
    pub state: String,
}

/// What a participant asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Output {
    /// Send `msg` to node `to`.
    Send { to: NodeId, msg: Message },
    /// Send `msg` to every other node.
    Broadcast { msg: Message },
    /// Something worth telling the coordinator (the brief's `DebugInfo`).
    Event(Event),
    /// State the node must not forget across a crash. A durable driver
    /// writes (and syncs) every `Persist` of a step before it sends any
    /// message of that step: a promise that was sent is a promise kept.
    Persist(Write),
    /// **Attackers only** (the honest [`Replica`] never emits it): send `msg`
    /// to `to` in a way an honest node never would, as `how` says. The
    /// driver hands it to the middleware's shield like any message; the
    /// shield, which holds the only key this node has, builds the packet.
    Forge {
        to: NodeId,
        msg: Message,
        /// Boxed: attackers alone forge, and every honest output would
        /// otherwise be as large as this one.
        how: Box<Forgery>,
    },
    /// Every position below `below` is in a snapshot now: the shield may
    /// forget what it keeps per position there (certificates, signed
    /// Proposes), in memory and on disk. Comes after the step's `Persist`.
    Forget { below: Pos },
}

impl Output {
    /// Where a message output goes in a cluster of `n` nodes, sent by
    /// `from`: `(to, message)` for a `Send`, one per other node for a
    /// `Broadcast`, nothing for the rest. The one router of outputs that
    /// drives replicas without a shield (the replica tests, the criterion
    /// core bench, the model check); the runtimes hand outputs to the
    /// shield instead (`node::outgoing`). Allocates nothing; a broadcast
    /// clones its message once per receiver but the last.
    #[inline]
    pub fn deliveries(self, from: NodeId, n: usize) -> Deliveries {
        match self {
            Output::Send { to, msg } => Deliveries {
                msg: Some(msg),
                targets: to..to + 1,
                skip: None,
            },
            Output::Broadcast { msg } => Deliveries {
                msg: Some(msg),
                targets: 0..n as NodeId,
                skip: Some(from),
            },
            Output::Event(_)
            | Output::Persist(_)
            | Output::Forge { .. }
            | Output::Forget { .. } => Deliveries {
                msg: None,
                targets: 0..0,
                skip: None,
            },
        }
    }
}

/// The `(to, message)` pairs of one output ([`Output::deliveries`]).
pub struct Deliveries {
    msg: Option<Message>,
    targets: std::ops::Range<NodeId>,
    skip: Option<NodeId>,
}

impl Iterator for Deliveries {
    type Item = (NodeId, Message);

    #[inline]
    fn next(&mut self) -> Option<(NodeId, Message)> {
        let to = loop {
            let to = self.targets.next()?;
            if Some(to) != self.skip {
                break to;
            }
        };
        let rest = self.targets.clone();
        let last = rest.is_empty() || (rest.len() == 1 && Some(rest.start) == self.skip);
        let msg = if last {
            self.msg.take()?
        } else {
            self.msg.clone()?
        };
        Some((to, msg))
    }
}

/// How an attacker's [`Output::Forge`] lies. Each is the narrowest thing its
/// attack needs from the shield, which alone holds keys and signatures.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Forgery {
    /// Claim to be node `.0`: the packet says `from: .0`, and is signed (if
    /// signatures are on) with our own key, the only one we have (FORGERY).
    As(NodeId),
    /// Re-send the packet `from` sent us carrying `original` (recorded by
    /// our shield with `from`'s signature), with its message replaced by
    /// `msg`: a plain replay when `msg == original`, a re-bound one
    /// otherwise (REPLAY). Unsigned when nothing was recorded.
    Replay { from: NodeId, original: Message },
    /// `msg` is our own `Commit`: attach a certificate that does not hold —
    /// our own `Accept` in `ballot`, twice, plus the signed Accepts of the
    /// latest certificate our shield holds for another position
    /// (PREMATURE_COMMIT).
    ShortCertificate { ballot: Ballot },
}

/// One change to a replica's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Write {
    /// The acceptor's promise and accepted value at `pos` are now `slot`.
    Promise { pos: Pos, slot: AcceptorSlot },
    /// The acceptor now promises `ballot` at every position from `pos` on
    /// (a leader's Prepare); this replaces the previous such promise.
    PromiseFrom { pos: Pos, ballot: Ballot },
    /// `value` is committed at `pos`; the acceptor state there is obsolete.
    Commit { pos: Pos, value: Value },
    /// The log below `.upto` is replaced by this snapshot (compacted, or
    /// received from a peer): the log, acceptor state and older snapshot
    /// below it are obsolete.
    Snapshot(Snapshot),
}

/// Everything a replica persists: what [`Replica::restore`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Durable {
    pub acceptor: BTreeMap<Pos, AcceptorSlot>,
    pub log: BTreeMap<Pos, Value>,
    /// The promise that covers every position from `.0` on.
    pub promised_from: Option<(Pos, Ballot)>,
    /// The state machine's snapshot that replaced the log below its `upto`.
    pub snapshot: Option<Snapshot>,
}

impl Durable {
    /// The highest ballot round this node promised or accepted: a restarted
    /// node's next ballot goes above it, and its middleware has seen it.
    pub fn max_round(&self) -> u64 {
        self.acceptor
            .values()
            .flat_map(|a| {
                std::iter::once(a.promised.round).chain(a.accepted.iter().map(|(b, _)| b.round))
            })
            .chain(self.promised_from.iter().map(|(_, b)| b.round))
            .max()
            .unwrap_or(0)
    }

    /// Replay one write, as a store does when it loads its log.
    pub fn apply(&mut self, w: Write) {
        let base = self.base();
        match w {
            Write::Promise { pos, slot } => {
                if pos >= base && !self.log.contains_key(&pos) {
                    self.acceptor.insert(pos, slot);
                }
            }
            Write::Commit { pos, value } if pos >= base => {
                self.acceptor.remove(&pos);
                self.log.entry(pos).or_insert(value);
            }
            Write::Commit { .. } => {}
            Write::PromiseFrom { pos, ballot } => self.promised_from = Some((pos, ballot)),
            Write::Snapshot(snap) if snap.upto > base => {
                self.log = self.log.split_off(&snap.upto);
                self.acceptor = self.acceptor.split_off(&snap.upto);
                self.snapshot = Some(snap);
            }
            Write::Snapshot(_) => {}
        }
    }

    /// The first position the log holds: everything below is in the snapshot.
    pub fn base(&self) -> Pos {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }
}

/// Notable things that happened inside a participant, for timelines and tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Event {
    /// Phase 1 started at `pos` in `ballot`, on behalf of the client's `value`.
    Preparing {
        pos: Pos,
        ballot: Ballot,
        value: Value,
    },
    /// A quorum answered Prepared with an earlier accepted `value`, which the
    /// proposer must propose instead of its own.
    Adopted {
        pos: Pos,
        ballot: Ballot,
        value: Value,
    },
    /// The proposer's `ballot` at `pos` was overtaken by `by`.
    Preempted {
        pos: Pos,
        ballot: Ballot,
        by: Ballot,
    },
    /// `value` is now committed at `pos` in this node's log.
    Committed { pos: Pos, value: Value },
    /// A Commit for `pos` disagreed with what this node had already
    /// committed; the first one is kept. Only a Byzantine peer causes this.
    Conflict {
        pos: Pos,
        kept: Value,
        refused: Value,
    },
    /// The client's `value` lost `pos` to another value and goes back in line.
    Requeued { pos: Pos, value: Value },
    /// The middleware flagged `node` as malicious, and why (the evidence).
    Flagged { node: NodeId, reason: String },
    /// The middleware dropped a message from `from`, and why.
    Dropped {
        from: NodeId,
        kind: String,
        reason: String,
    },
    /// A client asked this node, which does not lead, for `value`: it
    /// proposed nothing and names the node it knows leads, for the client
    /// to ask instead (leader forwarding, done by the client).
    Redirected { value: Value, leader: NodeId },
    /// Read `id` may be answered from the state applied so far: a quorum
    /// confirmed this leader's ballot after the read arrived, and the log
    /// is whole below `index`.
    ReadReady { id: u64, index: Pos },
    /// Read `id` cannot be answered here (not the leader, the lead lost,
    /// or no quorum confirmed in time); `leader`: whom to ask instead.
    ReadRefused { id: u64, leader: Option<NodeId> },
    /// The log below `upto` was replaced by a snapshot of the state
    /// machine this node applied (compaction).
    Compacted { upto: Pos },
    /// A snapshot of everything below `upto`, received from `from` (and as
    /// many other peers as vouch for it), replaced this node's log below it:
    /// it was behind what its peers still keep as Commits.
    Installed { upto: Pos, from: Vec<NodeId> },
    /// Free-form narration (attackers explain what they do).
    Note(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Preparing { pos, ballot, value } => {
                write!(f, "Prepare pos {pos} ballot {ballot} for '{value}'")
            }
            Event::Adopted { pos, ballot, value } => write!(
                f,
                "adopted '{value}' at pos {pos} (ballot {ballot}) from Prepared"
            ),
            Event::Preempted { pos, ballot, by } => {
                write!(f, "ballot {ballot} at pos {pos} preempted by {by}")
            }
            Event::Committed { pos, value } => write!(f, "committed '{value}' at {pos}"),
            Event::Conflict { pos, kept, refused } => write!(
                f,
                "CONFLICT at {pos}: kept '{kept}', refused Commit of '{refused}'"
            ),
            Event::Requeued { pos, value } => {
                write!(
                    f,
                    "'{value}' lost pos {pos}, re-proposing at the next free position"
                )
            }
            Event::Flagged { node, reason } => write!(f, "FLAGGED node {node}: {reason}"),
            Event::Dropped { from, kind, reason } => {
                write!(f, "dropped {kind} from node {from}: {reason}")
            }
            Event::Redirected { value, leader } => {
                write!(
                    f,
                    "not leading: '{value}' is for node {leader}, which leads"
                )
            }
            Event::ReadReady { id, index } => {
                write!(f, "read {id} confirmed by a quorum at index {index}")
            }
            Event::ReadRefused {
                id,
                leader: Some(l),
            } => {
                write!(f, "read {id} refused: node {l} leads")
            }
            Event::ReadRefused { id, leader: None } => write!(f, "read {id} refused"),
            Event::Compacted { upto } => {
                write!(f, "compacted: a snapshot replaces the log below {upto}")
            }
            Event::Installed { upto, from } => write!(
                f,
                "installed the snapshot below {upto} from node(s) {from:?}: it was behind"
            ),
            Event::Note(s) => f.write_str(s),
        }
    }
}

/// A participant of the cluster: an honest replica or an attacker.
pub trait Process: Send {
    /// This participant's node id.
    fn id(&self) -> NodeId;
    /// React to one input.
    fn step(&mut self, input: Input) -> Vec<Output>;
    /// React to one input, appending the outputs to `out` (what `step`
    /// returns, in the same order), so a driver can reuse one buffer.
    fn step_into(&mut self, input: Input, out: &mut Vec<Output>) {
        out.extend(self.step(input));
    }
    /// The committed log, position by position.
    fn log(&self) -> &PosMap<Value>;
    /// Where this participant would send a client's ask instead of
    /// proposing the value itself: the live leader it knows of, when it
    /// does not lead or try to. `None`: it proposes what it is asked
    /// (attackers always do).
    fn leader(&self) -> Option<NodeId> {
        None
    }
    /// The ballot this participant leads in, from which position on, while
    /// it leads (what the explorer's node panel says). `None`: it does not
    /// lead, or does not say.
    fn leading(&self) -> Option<(Pos, Ballot)> {
        None
    }
    /// The snapshot that replaced the log below its `upto`, if any: the
    /// state machine above starts from it when it is past what it applied.
    fn snapshot(&self) -> Option<&Snapshot> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare() -> Message {
        Message::Prepare {
            pos: 0,
            ballot: Ballot::new(1, 1),
        }
    }

    #[test]
    fn a_broadcast_reaches_every_other_node_and_a_send_its_one() {
        let to: Vec<NodeId> = Output::Broadcast { msg: prepare() }
            .deliveries(1, 4)
            .map(|(to, m)| {
                assert_eq!(m, prepare());
                to
            })
            .collect();
        assert_eq!(to, [0, 2, 3]);
        let last_is_sender: Vec<NodeId> = Output::Broadcast { msg: prepare() }
            .deliveries(3, 4)
            .map(|(to, _)| to)
            .collect();
        assert_eq!(last_is_sender, [0, 1, 2]);
        let one: Vec<_> = Output::Send {
            to: 2,
            msg: prepare(),
        }
        .deliveries(0, 3)
        .collect();
        assert_eq!(one, [(2, prepare())]);
        let none = Output::Event(Event::Note("x".into())).deliveries(0, 3);
        assert_eq!(none.count(), 0);
    }
}
