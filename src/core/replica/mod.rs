//! The honest replica: proposer, acceptor and learner for a log of positions.
//!
//! Multi-Paxos with a stable leader. A proposer with client values runs
//! phase 1 once, for the whole rest of the log: `Prepare(p, b)` asks for a
//! promise of `b` at `p` *and every later position*, and each `Prepared`
//! answer reports every value that acceptor accepted (or knows committed) from
//! `p` on. With a quorum of them the proposer leads in `b`: it re-proposes
//! the reported values at their positions (the highest-ballot one at each,
//! as single-decree Paxos requires) and proposes client values at every other
//! position from `p` on with no phase 1 at all, until it sees a higher ballot.
//! Everything below `p` was already committed at the leader (`p` is its first
//! gap), so no position escapes the rule.
//!
//! **Steady state, n = 3**: a committed position costs exactly the usual
//! fan-out, 6 messages on the network — `Propose` to the 2 followers, their 2
//! `Accept`s, and `Commit` to the 2 followers (the leader's own promise,
//! acceptance and commit are handled inside its step, not sent). In general
//! `3(n-1)` messages per position, for up to `Config::batch` client values,
//! with up to `Config::window` positions in flight at once (pipelining).
//!
//! The price: nodes that all get client requests contend for the whole log,
//! and a preempted proposer backs off before it climbs (see the retry policy
//! below), so many concurrent proposers are slower than one leader. So a
//! follower asked by a client names the leader it knows instead
//! ([`Process::leader`], from the last Propose it could accept and whether
//! it heard from that node within [`Config::leader_ticks`]); the client
//! asks that node, and a value it gets again after a timeout it proposes.
//!
//! It is safe under loss, duplication and reordering because:
//!
//! - as an acceptor it keeps, per position, the highest ballot it promised and
//!   the last value it accepted, plus the promise that covers every position
//!   from some `p` on, and never goes back on any of them; it answers
//!   `Prepare(p, b)` only if `b` is at least its promise at every position
//!   from `p` on;
//! - as a proposer it counts a quorum of *distinct* senders, and at each
//!   position proposes the highest-ballot value any of them reported (its own
//!   value only where none was);
//! - as a learner it only applies a Commit once per position.
//!
//! It is live when the network behaves because a proposer retries on logical
//! ticks with randomised exponential backoff (the randomness arrives in the
//! tick), and because a node that missed Commits asks a peer (`CatchUp`).
//!
//! Every value a client asked for is committed exactly once: a batch stays
//! bound to its position until that position is decided; if another value won
//! it, the batch goes back to the front of the queue and is proposed at the
//! next free position.
//!
//! The retry policy is written so an honest proposer never looks like the
//! brief's LIVENESS attacker: a retry after silence re-sends the *same* ballot
//! (acceptors answer it again without a new promise), and a proposer that was
//! preempted waits until the competing promise is at least `2 * grace_ticks`
//! old before it climbs. So an honest node never cuts off a fresh promise of
//! another proposer by policy, which is what the middleware's ballot-climbing
//! check counts. A stable leader sends no Prepare at all, so it collects no
//! strikes however long it leads.

use super::config::Config;
use super::message::Message;
use super::types::{Ballot, NodeId, Pos, Value};
use super::PosMap;
use super::{Durable, Event, Input, Output, Process, Snapshot, Write};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Most Commits sent in answer to one `CatchUp`.
const CATCH_UP_BATCH: usize = 64;

/// What an acceptor remembers about one position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AcceptorSlot {
    /// The highest ballot promised at this position alone (the promise
    /// from a position on is kept apart, see [`Durable::promised_from`]).
    pub promised: Ballot,
    /// The tick at which `promised` was first promised.
    pub promised_at: u64,
    /// The last value accepted here, and the ballot it was accepted in.
    pub accepted: Option<(Ballot, Value)>,
}

/// The promise of a ballot at every position from `from` on.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
struct Floor {
    from: Pos,
    ballot: Ballot,
    /// The tick at which `ballot` was first promised.
    at: u64,
}

/// Phase 1 in progress (or waiting to be retried) for the rest of the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Prep {
    from: Pos,
    ballot: Ballot,
    /// Who answered Prepared, with what they reported.
    promises: BTreeMap<NodeId, Vec<(Pos, Ballot, Value)>>,
    deadline: u64,
    attempts: u32,
    /// A higher ballot was seen: the next attempt needs a new ballot, and
    /// late Prepareds of this one no longer count. This node's own acceptor
    /// promised the higher ballot, so leading here would mean proposing
    /// what it refuses itself (and a leader's commit certificate carries
    /// its own Accept); and if it had led here before (this is the wait
    /// after losing that lead), a new quorum of late or duplicated answers
    /// could make it propose a second value in one ballot.
    preempted: bool,
}

/// Phase 1 won: this node leads in `ballot` at every position from `from` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Lead {
    from: Pos,
    ballot: Ballot,
}

/// The leader this node last saw: the owner of the highest ballot whose
/// Propose it could accept, and when it last heard anything from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Heard {
    ballot: Ballot,
    at: u64,
}

/// Who leads, as far as this node can tell: a hint, compared and hashed as
/// equal whatever it holds. No message the node sends and no vote depends
/// on it — only the answer to a client's ask ([`Process::leader`]) — so two
/// replicas that differ only here are the same state to the model checker,
/// which would otherwise count every moment a follower last heard from the
/// leader as a state of its own.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Hint(Option<Heard>);

impl PartialEq for Hint {
    fn eq(&self, _: &Hint) -> bool {
        true
    }
}

impl Eq for Hint {}

impl PartialOrd for Hint {
    fn partial_cmp(&self, other: &Hint) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hint {
    fn cmp(&self, _: &Hint) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl std::hash::Hash for Hint {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A position this node proposed at and has not seen decided.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Slot {
    /// The client batch bound to this position until it is decided (`None`
    /// for a value recovered from another proposer's Prepared reports).
    own: Option<Value>,
    /// What was proposed, in `ballot`.
    value: Value,
    ballot: Ballot,
    accepts: Voters,
    /// The tick at which to re-send the Propose.
    deadline: u64,
    attempts: u32,
    /// The tick of the last Propose sent, to measure commit latency.
    sent_at: u64,
}

/// Distinct voters: a bitmask for ids below 64, a sorted list above, so
/// counting a quorum allocates nothing in any cluster a lab runs. (A
/// `u128` mask would make every position in flight 16-byte aligned, 144
/// bytes where 128 do, and each is moved in and out of the leader's window.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Voters {
    low: u64,
    high: Vec<NodeId>,
}

impl Voters {
    fn insert(&mut self, id: NodeId) {
        if id < 64 {
            self.low |= 1 << id;
        } else if let Err(at) = self.high.binary_search(&id) {
            self.high.insert(at, id);
        }
    }

    fn len(&self) -> usize {
        self.low.count_ones() as usize + self.high.len()
    }

    fn clear(&mut self) {
        self.low = 0;
        self.high.clear();
    }
}

/// An honest Multi-Paxos replica. See the module docs for the rules it keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Replica {
    id: NodeId,
    cfg: Config,
    now: u64,
    /// The last randomness a tick brought, for jitter.
    entropy: u64,
    acceptor: PosMap<AcceptorSlot>,
    floor: Option<Floor>,
    log: PosMap<Value>,
    /// The first position not in `log` (everything below is committed).
    gap: Pos,
    /// The first position `log` holds: below it, the snapshot.
    base: Pos,
    /// The state machine's snapshot that replaced the log below `base`.
    snapshot: Option<Snapshot>,
    /// Peers' snapshots on their way in ([`snapshot`]).
    incoming: snapshot::Incoming,
    /// Client batches not yet bound to a position, as they arrived.
    queue: VecDeque<Value>,
    /// How many client values `queue` holds.
    queued: usize,
    prep: Option<Prep>,
    lead: Option<Lead>,
    slots: PosMap<Slot>,
    /// Where the leader looks for its next free position.
    cursor: Pos,
    /// Highest round seen in any ballot; new ballots go above it.
    max_round: u64,
    /// `max_round` reached `u64::MAX`: no ballot of ours can win any more.
    exhausted: bool,
    /// Smoothed ticks from Propose to Commit of first attempts, for the
    /// retransmission timeout: a leader whose cluster is slow (busy checking
    /// signatures, say) must not mistake slowness for loss and re-send its
    /// whole window, which only adds work (a congestion collapse).
    srtt: u64,
    next_sync: u64,
    syncs: u64,
    /// The hole this node has seen in its log since when (set on ticks
    /// only): see [`Replica::watch_hole`].
    hole: Option<(Pos, u64)>,
    /// Who leads, as far as this node can tell (volatile: a restarted
    /// node learns it again from the leader's next message).
    heard: Hint,
    /// Reads by read-index waiting, and their confirmation rounds ([`reads`]).
    reads: reads::Reads,
    /// Messages to self of the step under way; empty between steps (kept
    /// only so each step does not allocate its own).
    #[serde(skip)]
    local: VecDeque<Message>,
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
            acceptor: PosMap::new(),
            floor: None,
            log: PosMap::new(),
            gap: 0,
            base: 0,
            snapshot: None,
            incoming: Default::default(),
            queue: VecDeque::new(),
            queued: 0,
            prep: None,
            lead: None,
            slots: PosMap::new(),
            cursor: 0,
            max_round: 0,
            exhausted: false,
            srtt: 0,
            next_sync,
            syncs: 0,
            hole: None,
            heard: Hint(None),
            reads: reads::Reads::default(),
            local: VecDeque::new(),
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
        r.max_round = durable.max_round();
        r.acceptor = durable.acceptor.into_iter().collect();
        for slot in r.acceptor.values_mut() {
            slot.promised_at = 0;
        }
        r.floor = durable.promised_from.map(|(from, ballot)| Floor {
            from,
            ballot,
            at: 0,
        });
        r.log = durable.log.into_iter().collect();
        if let Some(snap) = durable.snapshot {
            r.base = snap.upto;
            r.gap = snap.upto;
            r.cursor = snap.upto;
            r.snapshot = Some(snap);
        }
        r.advance_gap();
        r
    }

    /// What this replica has persisted so far (the state [`Replica::restore`]
    /// starts from), rebuilt from its live state.
    pub fn durable(&self) -> Durable {
        Durable {
            acceptor: self.acceptor.to_btree(),
            log: self.log.to_btree(),
            promised_from: self.floor.map(|f| (f.from, f.ballot)),
            snapshot: self.snapshot.clone(),
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
        self.queued
    }

    /// Positions this node is currently proposing at.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Whether this node currently leads (won phase 1 and saw no higher ballot).
    pub fn leading(&self) -> bool {
        self.lead.is_some()
    }

    /// The first position this node has not committed.
    pub fn first_gap(&self) -> Pos {
        self.gap
    }

    fn quorum(&self) -> usize {
        self.cfg.quorum.max(1)
    }

    fn note_round(&mut self, round: u64) {
        self.max_round = self.max_round.max(round);
    }

    /// The promise in force at `pos`, and the tick it was first made.
    fn promise_at(&self, pos: Pos) -> (Ballot, u64) {
        let mut best = (Ballot::ZERO, 0);
        if let Some(f) = self.floor.filter(|f| pos >= f.from) {
            best = (f.ballot, f.at);
        }
        if let Some(a) = self.acceptor.get(&pos) {
            if a.promised > best.0 {
                best = (a.promised, a.promised_at);
            }
        }
        best
    }

    /// The highest promise in force at any position from `pos` on.
    fn promise_from(&self, pos: Pos) -> Ballot {
        let floor = self.floor.map_or(Ballot::ZERO, |f| f.ballot);
        self.acceptor
            .range(pos..)
            .map(|(_, a)| a.promised)
            .fold(floor, Ballot::max)
    }

    /// The ballot this node is using as a proposer, if any.
    fn own_ballot(&self) -> Option<Ballot> {
        self.lead
            .map(|l| l.ballot)
            .or_else(|| self.prep.as_ref().map(|p| p.ballot))
    }

    fn send(&self, st: &mut Step, to: NodeId, msg: Message) {
        if to == self.id && !self.cfg.loopback {
            st.local.push_back(msg);
        } else {
            st.out.push(Output::Send { to, msg });
        }
    }

    fn broadcast(&self, st: &mut Step, msg: Message) {
        if self.cfg.loopback {
            st.out.push(Output::Send {
                to: self.id,
                msg: msg.clone(),
            });
        } else {
            st.local.push_back(msg.clone());
        }
        st.out.push(Output::Broadcast { msg });
    }

    fn event(st: &mut Step, e: Event) {
        st.out.push(Output::Event(e));
    }

    fn persist(st: &mut Step, w: Write) {
        st.out.push(Output::Persist(w));
    }

    fn on_tick(&mut self, st: &mut Step) {
        self.now += 1;
        if self.prep.as_ref().is_some_and(|p| p.deadline <= self.now) {
            self.retry_prepare(st);
        }
        if let Some(lead) = self.lead {
            let due: Vec<Pos> = self
                .slots
                .iter()
                .filter(|(_, s)| s.deadline <= self.now && s.ballot == lead.ballot)
                .map(|(&p, _)| p)
                .collect();
            for pos in due {
                // Silence, not rejection: the Propose (or its answers) was
                // lost. Re-send the same ballot; acceptors answer it again.
                let deadline;
                let msg;
                {
                    let attempts = self.slots[&pos].attempts + 1;
                    deadline = self.now + self.rto(attempts);
                    let now = self.now;
                    let s = self.slots.get_mut(&pos).expect("due slot exists");
                    s.attempts = attempts;
                    s.deadline = deadline;
                    s.sent_at = now;
                    msg = Message::Propose {
                        pos,
                        ballot: s.ballot,
                        value: s.value.clone(),
                    };
                }
                st.out.push(Output::Broadcast { msg });
            }
        }
        if self.now >= self.next_sync && self.cfg.n > 1 {
            self.next_sync = self.now + self.cfg.sync_ticks.max(1);
            // Ask the peers in turn; anyone who knows later Commits answers.
            let peer =
                (self.id as u64 + 1 + self.syncs % (self.cfg.n as u64 - 1)) % self.cfg.n as u64;
            self.syncs += 1;
            let from = self.gap;
            self.send(st, peer as NodeId, Message::CatchUp { from });
        }
        self.watch_hole(st);
    }

    /// A hole — the first uncommitted position, with a later one committed
    /// — is normally a lost Commit, which the catch-ups fill. But when the
    /// proposer of that position crashed or lost its lead with nothing
    /// queued, nobody would ever propose there again, and the log (and any
    /// state machine applied in its order) would stop at the hole for good
    /// while later positions commit. A node that sees the same hole for
    /// [`Config::hole_ticks`] runs phase 1 from it, which re-proposes what
    /// was accepted there or fills it with a no-op ([`Self::take_lead`]).
    fn watch_hole(&mut self, st: &mut Step) {
        let holed = self.log.len() as u64 > self.gap - self.base;
        if !holed || self.prep.is_some() || self.slots.contains_key(&self.gap) {
            self.hole = None;
            return;
        }
        match self.hole {
            Some((pos, since)) if pos == self.gap => {
                if self.now >= since + self.cfg.hole_ticks(self.id) {
                    self.hole = None;
                    self.lead = None;
                    self.start_prepare(st, 0);
                }
            }
            _ => self.hole = Some((self.gap, self.now)),
        }
    }

    /// One message from a peer, handed to the role it concerns.
    /// Keep track of who leads, for a client's ask ([`Process::leader`]):
    /// a competing Prepare means nobody is known to lead until someone
    /// proposes; any message from the leader says it is alive. (A Propose
    /// this node accepts names its sender: [`Self::saw_leader`].)
    fn hear(&mut self, from: NodeId, msg: &Message) {
        let known = self.heard.0.map(|h| h.ballot);
        match msg {
            Message::Prepare { ballot, .. } if known.is_some_and(|b| *ballot > b) => {
                self.heard.0 = None;
            }
            _ => {
                if let Some(h) = self.heard.0.as_mut().filter(|h| h.ballot.node == from) {
                    h.at = self.now;
                }
            }
        }
    }

    /// This node accepts a Propose in `ballot`: its owner leads, unless a
    /// higher ballot's owner was seen leading.
    fn saw_leader(&mut self, ballot: Ballot) {
        if self.heard.0.is_none_or(|h| ballot >= h.ballot) {
            self.heard.0 = Some(Heard {
                ballot,
                at: self.now,
            });
        }
    }

    fn on_message(&mut self, st: &mut Step, from: NodeId, msg: Message) {
        if let Some(round) = msg.highest_round() {
            self.note_round(round);
        }
        self.hear(from, &msg);
        match msg {
            Message::Prepare { pos, ballot } => self.on_prepare(st, from, pos, ballot),
            Message::Prepared {
                pos,
                ballot,
                accepted,
            } => self.on_prepared(st, from, pos, ballot, accepted),
            Message::Propose { pos, ballot, value } => {
                self.on_propose(st, from, pos, ballot, value)
            }
            Message::Accept { pos, ballot, value } => self.on_accept(st, from, pos, ballot, value),
            Message::Commit { pos, value } => self.learn(st, pos, value),
            Message::Nack {
                ballot, promised, ..
            } => self.on_nack(st, ballot, promised),
            Message::CatchUp { from: start } => self.send_commits(st, from, start),
            Message::Confirm { pos, ballot, read } => self.on_confirm(st, from, pos, ballot, read),
            Message::Confirmed { ballot, read, .. } => self.on_confirmed(from, ballot, read),
            Message::Snapshot {
                upto,
                total,
                offset,
                chunk,
            } => self.on_snapshot(st, from, upto, total, offset, chunk),
        }
    }
}

impl Process for Replica {
    fn id(&self) -> NodeId {
        self.id
    }

    fn leader(&self) -> Option<NodeId> {
        if self.lead.is_some() || self.prep.is_some() || !self.queue.is_empty() {
            return None; // it leads, or is trying to: it takes the value
        }
        let h = self.heard.0?;
        let fresh = self.now.saturating_sub(h.at) <= self.cfg.leader_ticks();
        (fresh && h.ballot.node != self.id).then_some(h.ballot.node)
    }

    fn leading(&self) -> Option<(Pos, Ballot)> {
        self.lead.map(|l| (l.from, l.ballot))
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.step_into(input, &mut out);
        out
    }

    fn step_into(&mut self, input: Input, out: &mut Vec<Output>) {
        let start = out.len();
        let mut st = Step {
            out: std::mem::take(out),
            local: std::mem::take(&mut self.local),
        };
        match input {
            Input::Deliver { from, msg } => self.on_message(&mut st, from, msg),
            Input::Tick { entropy } => {
                self.entropy = entropy;
                self.on_tick(&mut st);
            }
            Input::Request { value } => {
                if !value.is_empty() {
                    self.queued += value.len();
                    self.queue.push_back(value);
                }
                self.fill_window(&mut st);
            }
            Input::Read { id } => self.on_read(&mut st, id),
            Input::Compact(snap) => self.compact(&mut st, snap),
        }
        // Messages to self are handled at once, in order, without a network.
        while let Some(msg) = st.local.pop_front() {
            self.on_message(&mut st, self.id, msg);
        }
        if !self.reads.is_empty() {
            self.settle_reads(&mut st);
        }
        // Writes first, so a driver that works through the outputs in order
        // persists before it sends (the order among the rest is kept).
        // (A stable partition by hand: a step writes one or two, and the
        // general sort cost 3% of a sequential position.)
        let mut writes = start;
        for at in start..st.out.len() {
            if matches!(st.out[at], Output::Persist(_)) {
                st.out[writes..=at].rotate_right(1);
                writes += 1;
            }
        }
        *out = st.out;
        self.local = st.local;
    }

    fn log(&self) -> &PosMap<Value> {
        &self.log
    }

    fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }
}

mod acceptor;
mod learner;
mod proposer;
mod reads;
mod snapshot;
#[cfg(test)]
mod tests;
