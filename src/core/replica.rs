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
//! below), so many concurrent proposers are slower than one leader. Clients
//! should send to one node; forwarding to the leader is not implemented.
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
//! seed's LIVENESS attacker: a retry after silence re-sends the *same* ballot
//! (acceptors answer it again without a new promise), and a proposer that was
//! preempted waits until the competing promise is at least `2 * grace_ticks`
//! old before it climbs. So an honest node never cuts off a fresh promise of
//! another proposer by policy, which is what the middleware's ballot-climbing
//! check counts. A stable leader sends no Prepare at all, so it collects no
//! strikes however long it leads.

use super::config::Config;
use super::message::Message;
use super::types::{Ballot, NodeId, Pos, Value};
use super::{Durable, Event, Input, Output, Process, Write};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

/// A position this node proposed at and has not seen decided.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Slot {
    /// The client batch bound to this position until it is decided (`None`
    /// for a value recovered from another proposer's Prepared reports).
    own: Option<Value>,
    /// What was proposed, in `ballot`.
    value: Value,
    ballot: Ballot,
    accepts: BTreeSet<NodeId>,
    /// The tick at which to re-send the Propose.
    deadline: u64,
    attempts: u32,
    /// The tick of the last Propose sent, to measure commit latency.
    sent_at: u64,
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
    floor: Option<Floor>,
    log: BTreeMap<Pos, Value>,
    /// The first position not in `log` (everything below is committed).
    gap: Pos,
    queue: VecDeque<String>,
    prep: Option<Prep>,
    lead: Option<Lead>,
    slots: BTreeMap<Pos, Slot>,
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
            floor: None,
            log: BTreeMap::new(),
            gap: 0,
            queue: VecDeque::new(),
            prep: None,
            lead: None,
            slots: BTreeMap::new(),
            cursor: 0,
            max_round: 0,
            exhausted: false,
            srtt: 0,
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
            .chain(durable.promised_from.iter().map(|(_, b)| b.round))
            .max()
            .unwrap_or(0);
        r.acceptor = durable.acceptor;
        for slot in r.acceptor.values_mut() {
            slot.promised_at = 0;
        }
        r.floor = durable.promised_from.map(|(from, ballot)| Floor {
            from,
            ballot,
            at: 0,
        });
        r.log = durable.log;
        r.advance_gap();
        r
    }

    /// What this replica has persisted so far (the state [`Replica::restore`]
    /// starts from), rebuilt from its live state.
    pub fn durable(&self) -> Durable {
        Durable {
            acceptor: self.acceptor.clone(),
            log: self.log.clone(),
            promised_from: self.floor.map(|f| (f.from, f.ballot)),
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

    /// Whether this node currently leads (won phase 1 and saw no higher ballot).
    pub fn leading(&self) -> bool {
        self.lead.is_some()
    }

    /// The first position this node has not committed.
    pub fn first_gap(&self) -> Pos {
        self.gap
    }

    fn advance_gap(&mut self) {
        while self.log.contains_key(&self.gap) {
            self.gap += 1;
        }
    }

    fn quorum(&self) -> usize {
        self.cfg.quorum.max(1)
    }

    fn backoff(&self, attempts: u32) -> u64 {
        let base = self.cfg.retry_ticks.max(1);
        base * (1 << attempts.min(3)) + self.entropy % base
    }

    /// When to re-send a Propose after silence: the usual backoff, but at
    /// least three smoothed commit latencies.
    fn rto(&self, attempts: u32) -> u64 {
        self.backoff(attempts).max(3 * self.srtt)
    }

    fn note_ballot(&mut self, b: Ballot) {
        self.max_round = self.max_round.max(b.round);
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
    fn next_ballot(&mut self) -> Option<Ballot> {
        self.max_round = self.max_round.checked_add(1)?;
        Some(Ballot::new(self.max_round, self.id))
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

    /// The next position a leader proposes a client batch at: not decided,
    /// not in flight here. Positions the last Prepared reports mentioned are
    /// in flight (recovered), so every other one from the lead on is free.
    fn next_free(&mut self) -> Pos {
        let mut p = self.cursor.max(self.gap);
        while self.log.contains_key(&p) || self.slots.contains_key(&p) {
            p += 1;
        }
        self.cursor = p + 1;
        p
    }

    /// Put client values to work: as the leader, propose batches while the
    /// window has room; otherwise win phase 1 first.
    fn fill_window(&mut self, st: &mut Step) {
        let Some(lead) = self.lead else {
            if self.prep.is_none() && (!self.queue.is_empty() || !self.slots.is_empty()) {
                self.start_prepare(st, 0);
            }
            return;
        };
        while self.slots.len() < self.cfg.window.max(1) && !self.queue.is_empty() {
            let take = self.cfg.batch.max(1).min(self.queue.len());
            let own = Value::batch(self.queue.drain(..take).collect());
            let pos = self.next_free();
            let deadline = self.now + self.rto(0);
            self.slots.insert(
                pos,
                Slot {
                    own: Some(own.clone()),
                    value: own.clone(),
                    ballot: lead.ballot,
                    accepts: BTreeSet::new(),
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

    /// Phase 1 for every position from the first gap on, in a new ballot.
    fn start_prepare(&mut self, st: &mut Step, attempts: u32) {
        let Some(ballot) = self.next_ballot() else {
            // No higher ballot exists: we cannot lead. Stay out of phase 1
            // (`prep` stays empty); say so once, not on every request.
            if !self.exhausted {
                self.exhausted = true;
                Self::event(
                    st,
                    Event::Note(format!(
                        "node {}: ballot rounds exhausted (round {} seen), not proposing",
                        self.id, self.max_round
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
            .or_else(|| self.queue.front().map(|v| Value::one(v.clone())))
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
    }

    fn retry_prepare(&mut self, st: &mut Step) {
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
    fn preempt(&mut self, st: &mut Step, by: Ballot) {
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
    fn take_lead(&mut self, st: &mut Step, from: Pos, ballot: Ballot) {
        let prep = self.prep.take().expect("preparing");
        // Paxos's rule, per position: the highest-ballot value reported.
        let mut reported: BTreeMap<Pos, (Ballot, Value)> = BTreeMap::new();
        for (pos, b, v) in prep.promises.into_values().flatten() {
            if pos < from || self.log.contains_key(&pos) {
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
            let slot = self.slots.entry(pos).or_insert_with(|| Slot {
                own: None,
                value: report.clone().unwrap_or_default(),
                ballot,
                accepts: BTreeSet::new(),
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
    }

    fn learn(&mut self, st: &mut Step, pos: Pos, value: Value) {
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
                for v in own.items().iter().rev() {
                    self.queue.push_front(v.clone());
                }
            }
        }
        Self::event(st, Event::Committed { pos, value });
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
                if self.log.contains_key(&pos) {
                    // The asker is behind: it learns first, then asks again
                    // from its new first gap.
                    let commits: Vec<(Pos, Value)> = self
                        .log
                        .range(pos..)
                        .take(CATCH_UP_BATCH)
                        .map(|(&p, v)| (p, v.clone()))
                        .collect();
                    for (pos, value) in commits {
                        self.send(st, from, Message::Commit { pos, value });
                    }
                    return;
                }
                let promised = self.promise_from(pos);
                if ballot < promised {
                    self.send(
                        st,
                        from,
                        Message::Nack {
                            pos,
                            ballot,
                            promised,
                        },
                    );
                    return;
                }
                let floor = self.floor.unwrap_or_default();
                if self.floor.is_none() || ballot > floor.ballot || pos < floor.from {
                    // Promising more than asked (from the lower of the two
                    // starts) only refuses more, which is always safe.
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
                let mut accepted: Vec<(Pos, Ballot, Value)> = self
                    .acceptor
                    .range(pos..)
                    .filter_map(|(&p, a)| a.accepted.clone().map(|(b, v)| (p, b, v)))
                    .collect();
                // Decided positions beyond a gap: reported in this very
                // ballot, above anything else that can be reported there.
                accepted.extend(self.log.range(pos..).map(|(&p, v)| (p, ballot, v.clone())));
                if from != self.id {
                    self.preempt(st, ballot);
                }
                self.send(
                    st,
                    from,
                    Message::Prepared {
                        pos,
                        ballot,
                        accepted,
                    },
                );
            }
            Message::Prepared {
                pos,
                ballot,
                accepted,
            } => {
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
            Message::Propose { pos, ballot, value } => {
                if ballot.node != from {
                    return;
                }
                if let Some(v) = self.log.get(&pos) {
                    let value = v.clone();
                    self.send(st, from, Message::Commit { pos, value });
                    return;
                }
                let (promised, _) = self.promise_at(pos);
                if ballot < promised {
                    self.send(
                        st,
                        from,
                        Message::Nack {
                            pos,
                            ballot,
                            promised,
                        },
                    );
                    return;
                }
                let now = self.now;
                let acc = self.acceptor.entry(pos).or_default();
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
                }
                self.send(st, from, Message::Accept { pos, ballot, value });
            }
            Message::Accept { pos, ballot, value } => {
                let quorum = self.quorum();
                let Some(slot) = self.slots.get_mut(&pos) else {
                    return;
                };
                // Accepts of an earlier ballot of ours still count: a quorum
                // of them chose the value whatever happened since.
                if slot.ballot != ballot || slot.value != value {
                    return;
                }
                slot.accepts.insert(from);
                if slot.accepts.len() == quorum {
                    self.broadcast(st, Message::Commit { pos, value });
                }
            }
            Message::Commit { pos, value } => self.learn(st, pos, value),
            Message::Nack {
                ballot, promised, ..
            } => {
                if self.own_ballot() == Some(ballot) {
                    self.preempt(st, promised);
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
                self.queue.extend(value.items().iter().cloned());
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
