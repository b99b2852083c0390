//! The honest replica: proposer, acceptor and learner for a log of positions.
//!
//! Each log position is an independent single-decree Paxos instance, as in the
//! seed. The replica is safe under loss, duplication and reordering because:
//!
//! - as an acceptor it keeps, per position, the highest ballot it promised and
//!   the last value it accepted, and never goes back on either;
//! - as a proposer it counts a quorum of *distinct* senders, and proposes the
//!   highest-ballot value any of them reported accepted (its own value only
//!   when none was);
//! - as a learner it only applies a Commit once per position.
//!
//! It is live when the network behaves because a proposer retries on logical
//! ticks with randomised exponential backoff (the randomness arrives in the
//! tick), and because a node that missed Commits asks a peer (`CatchUp`).
//!
//! Every value a client asked for is committed exactly once: a value stays
//! bound to its position until that position is decided; if another value won
//! it, the client's value goes back to the front of the queue and is proposed
//! at the next free position.
//!
//! The retry policy is written so an honest proposer never looks like the
//! seed's LIVENESS attacker: a retry after silence re-sends the *same* ballot
//! (acceptors answer it again without a new promise), and a proposer that was
//! preempted waits until the competing promise is at least `2 * grace_ticks`
//! old before it climbs. So an honest node never cuts off a fresh promise of
//! another proposer by policy, which is what the middleware's ballot-climbing
//! check counts.

use super::message::Message;
use super::types::{majority, Ballot, NodeId, Pos, Value};
use super::{Durable, Event, Input, Output, Process, Write};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Positions further than this beyond the last committed one are not used to
/// choose where to propose: a peer cannot push honest proposers to the end of
/// the log by mentioning a huge position.
const MAX_AHEAD: Pos = 1 << 16;

/// Most Commits sent in answer to one `CatchUp`.
const CATCH_UP_BATCH: usize = 64;

/// Tunables of a replica. All durations are in logical ticks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Config {
    /// Number of nodes in the cluster; quorums are majorities of it.
    pub n: usize,
    /// Ticks a proposer waits for a phase before retrying (doubles on each
    /// retry up to 8x, plus up to one more `retry_ticks` of jitter).
    pub retry_ticks: u64,
    /// Ticks between two anti-entropy `CatchUp` requests to a peer.
    pub sync_ticks: u64,
    /// How young another proposer's promise must be for a preempting
    /// Prepare to count as cutting it off; an honest proposer waits twice this.
    pub grace_ticks: u64,
    /// Positions this proposer keeps in flight at once.
    pub window: usize,
}

impl Config {
    /// Defaults that suit the in-process actors (one tick per millisecond).
    pub fn new(n: usize) -> Self {
        Config {
            n,
            retry_ticks: 20,
            sync_ticks: 25,
            grace_ticks: 5,
            window: 4,
        }
    }
}

/// What an acceptor remembers about one position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AcceptorSlot {
    /// The highest ballot promised at this position.
    pub promised: Ballot,
    /// The tick at which `promised` was first promised.
    pub promised_at: u64,
    /// The last value accepted here, and the ballot it was accepted in.
    pub accepted: Option<(Ballot, Value)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
enum Phase {
    /// Waiting for a quorum of Prepared: who answered, with what they accepted.
    Preparing {
        promises: BTreeMap<NodeId, Option<(Ballot, Value)>>,
    },
    /// Waiting for a quorum of Accept for `value`.
    Proposing {
        value: Value,
        accepts: BTreeSet<NodeId>,
    },
}

/// A position this node is trying to get decided.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Slot {
    ballot: Ballot,
    /// The client's value bound to this position until it is decided.
    own: Value,
    phase: Phase,
    /// The tick at which to retry.
    deadline: u64,
    attempts: u32,
    /// A higher ballot was seen: the next attempt needs a new ballot.
    preempted: bool,
}

/// An honest Multi-Paxos replica. See the module docs for the rules it keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Replica {
    id: NodeId,
    cfg: Config,
    now: u64,
    /// The last randomness a tick brought, for jitter.
    entropy: u64,
    acceptor: BTreeMap<Pos, AcceptorSlot>,
    log: BTreeMap<Pos, Value>,
    queue: VecDeque<Value>,
    slots: BTreeMap<Pos, Slot>,
    /// Highest round seen in any ballot; new ballots go above it.
    max_round: u64,
    /// Highest position any message mentioned (bounded by `MAX_AHEAD`).
    highest_seen: Option<Pos>,
    next_sync: u64,
    syncs: u64,
}

/// Outputs being gathered during one `step`, plus messages to self.
struct Step {
    out: Vec<Output>,
    local: VecDeque<Message>,
}

impl Replica {
    pub fn new(id: NodeId, cfg: Config) -> Self {
        let next_sync = cfg.sync_ticks;
        Replica {
            id,
            cfg,
            now: 0,
            entropy: 0,
            acceptor: BTreeMap::new(),
            log: BTreeMap::new(),
            queue: VecDeque::new(),
            slots: BTreeMap::new(),
            max_round: 0,
            highest_seen: None,
            next_sync,
            syncs: 0,
        }
    }

    /// A replica that restarts after a crash with what it had persisted:
    /// every promise, accepted value and commit it ever answered with. The
    /// client queue and positions in flight were volatile and are gone; the
    /// client re-sends what it still waits for.
    pub fn restore(id: NodeId, cfg: Config, durable: Durable) -> Self {
        let mut r = Replica::new(id, cfg);
        // New ballots must go above every ballot this node ever promised,
        // including the ones it used itself (its own acceptor promised them).
        r.max_round = durable
            .acceptor
            .values()
            .flat_map(|a| {
                std::iter::once(a.promised.round).chain(a.accepted.iter().map(|(b, _)| b.round))
            })
            .max()
            .unwrap_or(0);
        r.highest_seen = durable.log.keys().next_back().copied();
        r.acceptor = durable.acceptor;
        for slot in r.acceptor.values_mut() {
            slot.promised_at = 0;
        }
        r.log = durable.log;
        r
    }

    /// What this replica has persisted so far (the state [`Replica::restore`]
    /// starts from), rebuilt from its live state.
    pub fn durable(&self) -> Durable {
        Durable {
            acceptor: self.acceptor.clone(),
            log: self.log.clone(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The acceptor's state at `pos` (what a durable node must persist).
    pub fn acceptor_slot(&self, pos: Pos) -> Option<&AcceptorSlot> {
        self.acceptor.get(&pos)
    }

    /// Client values not yet bound to a position.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Positions this node is currently proposing at.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// The first position this node has not committed.
    pub fn first_gap(&self) -> Pos {
        let mut p = 0;
        for (&pos, _) in self.log.iter() {
            if pos != p {
                break;
            }
            p += 1;
        }
        p
    }

    fn quorum(&self) -> usize {
        majority(self.cfg.n)
    }

    fn backoff(&self, attempts: u32) -> u64 {
        let base = self.cfg.retry_ticks.max(1);
        base * (1 << attempts.min(3)) + self.entropy % base
    }

    fn note_ballot(&mut self, b: Ballot) {
        self.max_round = self.max_round.max(b.round);
    }

    fn note_pos(&mut self, pos: Pos) {
        let horizon = self.log.keys().next_back().map_or(0, |p| p + 1) + MAX_AHEAD;
        if pos < horizon {
            self.highest_seen = Some(self.highest_seen.map_or(pos, |h| h.max(pos)));
        }
    }

    fn next_ballot(&mut self) -> Ballot {
        self.max_round += 1;
        Ballot::new(self.max_round, self.id)
    }

    /// The next position to propose at: past everything seen, not decided,
    /// not already in flight here.
    fn next_free(&self) -> Pos {
        let mut p = self.highest_seen.map_or(0, |h| h + 1).max(self.first_gap());
        while self.log.contains_key(&p) || self.slots.contains_key(&p) {
            p += 1;
        }
        p
    }

    fn send(&self, st: &mut Step, to: NodeId, msg: Message) {
        if to == self.id {
            st.local.push_back(msg);
        } else {
            st.out.push(Output::Send { to, msg });
        }
    }

    fn broadcast(&self, st: &mut Step, msg: Message) {
        st.local.push_back(msg.clone());
        st.out.push(Output::Broadcast { msg });
    }

    fn event(st: &mut Step, e: Event) {
        st.out.push(Output::Event(e));
    }

    fn persist(st: &mut Step, w: Write) {
        st.out.push(Output::Persist(w));
    }

    /// Start proposing queued values while the window has room.
    fn fill_window(&mut self, st: &mut Step) {
        while self.slots.len() < self.cfg.window.max(1) {
            let Some(own) = self.queue.pop_front() else {
                break;
            };
            let pos = self.next_free();
            let ballot = self.next_ballot();
            self.note_pos(pos);
            let deadline = self.now + self.backoff(0);
            self.slots.insert(
                pos,
                Slot {
                    ballot,
                    own: own.clone(),
                    phase: Phase::Preparing {
                        promises: BTreeMap::new(),
                    },
                    deadline,
                    attempts: 0,
                    preempted: false,
                },
            );
            Self::event(
                st,
                Event::Preparing {
                    pos,
                    ballot,
                    value: own,
                },
            );
            self.broadcast(st, Message::Prepare { pos, ballot });
        }
    }

    fn on_tick(&mut self, st: &mut Step) {
        self.now += 1;
        let due: Vec<Pos> = self
            .slots
            .iter()
            .filter(|(_, s)| s.deadline <= self.now)
            .map(|(&p, _)| p)
            .collect();
        for pos in due {
            self.retry(st, pos);
        }
        if self.now >= self.next_sync && self.cfg.n > 1 {
            self.next_sync = self.now + self.cfg.sync_ticks.max(1);
            // Ask the peers in turn; anyone who knows later Commits answers.
            let peer =
                (self.id as u64 + 1 + self.syncs % (self.cfg.n as u64 - 1)) % self.cfg.n as u64;
            self.syncs += 1;
            let from = self.first_gap();
            self.send(st, peer as NodeId, Message::CatchUp { from });
        }
    }

    fn retry(&mut self, st: &mut Step, pos: Pos) {
        let Some(slot) = self.slots.get(&pos).cloned() else {
            return;
        };
        if slot.preempted {
            // Someone else holds a higher ballot here. Let a fresh competitor
            // finish first: climbing over it now would be ballot duelling.
            if let Some(acc) = self.acceptor.get(&pos) {
                let fresh_until = acc.promised_at + 2 * self.cfg.grace_ticks;
                if acc.promised.node != self.id && self.now < fresh_until {
                    // Wide jitter: honest proposers deferring to the same
                    // competitor must not all come back on the same tick.
                    let spread = 4 * self.cfg.retry_ticks.max(1);
                    let wait = fresh_until - self.now + self.entropy % spread;
                    if let Some(s) = self.slots.get_mut(&pos) {
                        s.deadline = self.now + wait;
                    }
                    return;
                }
            }
            let ballot = self.next_ballot();
            let attempts = slot.attempts + 1;
            let deadline = self.now + self.backoff(attempts);
            let own = slot.own.clone();
            let s = self.slots.get_mut(&pos).expect("slot exists");
            s.ballot = ballot;
            s.phase = Phase::Preparing {
                promises: BTreeMap::new(),
            };
            s.preempted = false;
            s.attempts = attempts;
            s.deadline = deadline;
            Self::event(
                st,
                Event::Preparing {
                    pos,
                    ballot,
                    value: own,
                },
            );
            self.broadcast(st, Message::Prepare { pos, ballot });
        } else {
            // Silence, not rejection: the messages (or their answers) were
            // lost. Re-send the same ballot; acceptors answer it again.
            let attempts = slot.attempts + 1;
            let deadline = self.now + self.backoff(attempts);
            let msg = match &slot.phase {
                Phase::Preparing { .. } => Message::Prepare {
                    pos,
                    ballot: slot.ballot,
                },
                Phase::Proposing { value, .. } => Message::Propose {
                    pos,
                    ballot: slot.ballot,
                    value: value.clone(),
                },
            };
            let s = self.slots.get_mut(&pos).expect("slot exists");
            s.attempts = attempts;
            s.deadline = deadline;
            st.out.push(Output::Broadcast { msg });
        }
    }

    /// A higher ballot than ours appeared at `pos`.
    fn preempt(&mut self, st: &mut Step, pos: Pos, by: Ballot) {
        let now = self.now;
        let backoff = self.backoff(1);
        if let Some(s) = self.slots.get_mut(&pos) {
            if by > s.ballot && !s.preempted {
                s.preempted = true;
                s.deadline = now + backoff;
                let ballot = s.ballot;
                Self::event(st, Event::Preempted { pos, ballot, by });
            }
        }
    }

    fn learn(&mut self, st: &mut Step, pos: Pos, value: Value) {
        self.note_pos(pos);
        if let Some(kept) = self.log.get(&pos) {
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
        Self::persist(
            st,
            Write::Commit {
                pos,
                value: value.clone(),
            },
        );
        Self::event(
            st,
            Event::Committed {
                pos,
                value: value.clone(),
            },
        );
        if let Some(slot) = self.slots.remove(&pos) {
            if slot.own != value {
                Self::event(
                    st,
                    Event::Requeued {
                        pos,
                        value: slot.own.clone(),
                    },
                );
                self.queue.push_front(slot.own);
            }
        }
        // The acceptor state of a decided position is no longer needed: any
        // later message about it is answered with the Commit.
        self.acceptor.remove(&pos);
        self.fill_window(st);
    }

    fn on_message(&mut self, st: &mut Step, from: NodeId, msg: Message) {
        if let Some(b) = msg.ballot() {
            self.note_ballot(b);
        }
        match msg {
            Message::Prepare { pos, ballot } => {
                if ballot.node != from {
                    return; // a ballot belongs to the node that uses it
                }
                self.note_pos(pos);
                if let Some(v) = self.log.get(&pos) {
                    let value = v.clone();
                    self.send(st, from, Message::Commit { pos, value });
                    return;
                }
                let now = self.now;
                let acc = self.acceptor.entry(pos).or_default();
                if ballot >= acc.promised {
                    if ballot > acc.promised {
                        acc.promised = ballot;
                        acc.promised_at = now;
                        let slot = acc.clone();
                        Self::persist(st, Write::Promise { pos, slot });
                    }
                    let accepted = acc.accepted.clone();
                    self.preempt(st, pos, ballot);
                    self.send(
                        st,
                        from,
                        Message::Prepared {
                            pos,
                            ballot,
                            accepted,
                        },
                    );
                } else {
                    let promised = acc.promised;
                    self.send(
                        st,
                        from,
                        Message::Nack {
                            pos,
                            ballot,
                            promised,
                        },
                    );
                }
            }
            Message::Prepared {
                pos,
                ballot,
                accepted,
            } => {
                let quorum = self.quorum();
                let Some(slot) = self.slots.get_mut(&pos) else {
                    return;
                };
                if slot.ballot != ballot {
                    return; // an answer to an older attempt
                }
                let Phase::Preparing { promises } = &mut slot.phase else {
                    return;
                };
                promises.insert(from, accepted);
                if promises.len() < quorum {
                    return;
                }
                // Paxos's rule: the highest-ballot value reported accepted by
                // the quorum, or our own if none was.
                let adopted = promises
                    .values()
                    .flatten()
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .map(|(_, v)| v.clone());
                let value = adopted.clone().unwrap_or_else(|| slot.own.clone());
                slot.phase = Phase::Proposing {
                    value: value.clone(),
                    accepts: BTreeSet::new(),
                };
                slot.deadline = self.now + self.cfg.retry_ticks.max(1);
                if adopted.is_some() && value != slot.own {
                    Self::event(
                        st,
                        Event::Adopted {
                            pos,
                            ballot,
                            value: value.clone(),
                        },
                    );
                }
                self.broadcast(st, Message::Propose { pos, ballot, value });
            }
            Message::Propose { pos, ballot, value } => {
                if ballot.node != from {
                    return;
                }
                self.note_pos(pos);
                if let Some(v) = self.log.get(&pos) {
                    let value = v.clone();
                    self.send(st, from, Message::Commit { pos, value });
                    return;
                }
                let now = self.now;
                let acc = self.acceptor.entry(pos).or_default();
                if ballot >= acc.promised {
                    let changed = ballot > acc.promised
                        || acc.accepted.as_ref() != Some(&(ballot, value.clone()));
                    if ballot > acc.promised {
                        acc.promised = ballot;
                        acc.promised_at = now;
                    }
                    acc.accepted = Some((ballot, value.clone()));
                    if changed {
                        let slot = acc.clone();
                        Self::persist(st, Write::Promise { pos, slot });
                    }
                    self.preempt(st, pos, ballot);
                    self.send(st, from, Message::Accept { pos, ballot, value });
                } else {
                    let promised = acc.promised;
                    self.send(
                        st,
                        from,
                        Message::Nack {
                            pos,
                            ballot,
                            promised,
                        },
                    );
                }
            }
            Message::Accept { pos, ballot, value } => {
                let quorum = self.quorum();
                let Some(slot) = self.slots.get_mut(&pos) else {
                    return;
                };
                if slot.ballot != ballot {
                    return;
                }
                let Phase::Proposing {
                    value: ours,
                    accepts,
                } = &mut slot.phase
                else {
                    return;
                };
                if *ours != value {
                    return;
                }
                accepts.insert(from);
                if accepts.len() >= quorum {
                    self.broadcast(st, Message::Commit { pos, value });
                }
            }
            Message::Commit { pos, value } => self.learn(st, pos, value),
            Message::Nack {
                pos,
                ballot,
                promised,
            } => {
                if self.slots.get(&pos).is_some_and(|s| s.ballot == ballot) {
                    self.preempt(st, pos, promised);
                }
            }
            Message::CatchUp { from: start } => {
                let commits: Vec<(Pos, Value)> = self
                    .log
                    .range(start..)
                    .take(CATCH_UP_BATCH)
                    .map(|(&p, v)| (p, v.clone()))
                    .collect();
                for (pos, value) in commits {
                    self.send(st, from, Message::Commit { pos, value });
                }
            }
        }
    }
}

impl Process for Replica {
    fn id(&self) -> NodeId {
        self.id
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut st = Step {
            out: Vec::new(),
            local: VecDeque::new(),
        };
        match input {
            Input::Deliver { from, msg } => self.on_message(&mut st, from, msg),
            Input::Tick { entropy } => {
                self.entropy = entropy;
                self.on_tick(&mut st);
            }
            Input::Request { value } => {
                self.queue.push_back(value);
                self.fill_window(&mut st);
            }
        }
        // Messages to self are handled at once, in order, without a network.
        while let Some(msg) = st.local.pop_front() {
            self.on_message(&mut st, self.id, msg);
        }
        // Writes first, so a driver that works through the outputs in order
        // persists before it sends (the order among the rest is kept).
        st.out.sort_by_key(|o| !matches!(o, Output::Persist(_)));
        st.out
    }

    fn log(&self) -> &BTreeMap<Pos, Value> {
        &self.log
    }
}

#[cfg(test)]
mod tests;
