//! The Middleware's logic, as a sans-IO state machine: the [`Shield`].
//!
//! Every message to and from a node passes through its shield. Outgoing, the
//! shield signs the core's messages (and attaches a certificate to each
//! Commit); incoming, it verifies signatures and, with the middleware on,
//! runs the defences before anything reaches the core:
//!
//! - [`echo`] against SAFETY: echo every Propose, hold it until the echoes
//!   are in, flag a leader caught with two signed Proposes for one slot, and
//!   forward that evidence so every honest node checks it itself;
//! - [`certificate`]: never apply a Commit without a quorum of signed Accepts;
//! - [`prepare_limit`] against LIVENESS: ignore a node that keeps cutting off
//!   fresh promises at one position;
//! - [`ballot_bound`] against BALLOT_OVERFLOW: drop a ballot that jumps more
//!   than `max_jump` rounds above everything seen, flag its sender, and
//!   forward the signed message so every honest node checks it itself;
//! - against PREMATURE_COMMIT: a signed Commit whose certificate does not
//!   hold by signatures alone is proof against its sender
//!   ([`certificate::proves_premature`]): flag, forward, re-check;
//! - against FORGERY: a packet whose signature does not verify under the
//!   node it claims to come from is dropped; if it verifies under another
//!   known node's key, that node signed a claim to be someone else: flag it
//!   and forward the signed bytes, which every receiver re-checks.
//!
//! REPLAY needs no defence of its own: a signature binds sender, kind,
//! position, ballot and value, so a re-bound replay fails verification and an
//! unmodified one is a duplicate Paxos tolerates. It cannot be pinned on the
//! replayer by signatures (it re-sends someone else's); the TCP bridge,
//! which knows each link's peer, drops it and logs the link.
//! - [`justify`] against IGNORE_PREPARED: every Propose carries the signed
//!   Prepared quorum its value comes from; acceptors recompute the value,
//!   refuse a Propose that ignored it, flag its leader and forward the
//!   signed justification as evidence;
//! - [`stale`] against STALE_PREPARED: a node's signed Accept next to its
//!   signed Prepared that hides it is proof; flag and forward (detection
//!   only, see there).
//!
//! With `n = 2f+1` these detect and block the seed's attacks as they run in
//! the demo, but they are not a Byzantine guarantee: the echo only helps if
//! the honest echoes arrive before the wait ends, and the ballot bound only
//! holds while honest views stay within `max_jump` rounds of each other.
//!
//! In BFT mode ([`bft`], n >= 3f+1) the same shield makes these guarantees:
//! every vote is a signed message (the node's own too), a Propose reaches
//! the core only after a quorum of 2f+1 vouched for it (no timeout), a
//! Prepared carries a proof for each value it reports, and a Propose carries
//! the Prepareds that justify its value, which every acceptor recomputes.
//!
//! The `Middleware` actor only carries packets and ticks to and from it, and
//! the simulator can drive the very same code.

pub mod ballot_bound;
pub mod bft;
mod bft_shield;
pub mod certificate;
pub mod echo;
mod forge;
pub mod justify;
pub mod prepare_limit;
pub mod stale;

use crate::auth::{Identity, Keyring, Signed};
use crate::core::{majority, Event, Message, NodeId, Output};
use crate::wire::{Body, Packet};
use ballot_bound::BallotBound;
use certificate::Certificates;
use echo::{EchoCheck, Seen};
use justify::{Justification, Justify, Refusal};
use prepare_limit::{Judgement, PrepareLimit};
use stale::StaleCheck;
use std::collections::{BTreeMap, BTreeSet};

/// What a node was flagged on: the kind of evidence, as `paxos matrix`
/// reports it. Each is checkable by any third party (or, for the Prepare
/// limit, a count each node makes itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Two signed Proposes for one (position, ballot) with different values.
    Equivocation,
    /// One signed message whose ballot jumps out of bounds.
    Overreach,
    /// Too many Prepares cutting off fresh promises (counted, not proven).
    PrepareLimit,
    /// A signed Commit whose certificate lacks a quorum of valid Accepts.
    BadCertificate,
    /// A packet signed with one node's key that claims another sender.
    Forgery,
    /// A signed justified Propose whose value is not the one its own
    /// Prepared quorum calls for.
    IgnoredPrepared,
    /// A signed Accept and a later signed Prepared of the same node that
    /// does not report it.
    StalePrepared,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).expect("a unit variant serializes");
        f.write_str(s.as_str().unwrap_or("?"))
    }
}

/// A value at a position in a ballot.
pub type Slot = (crate::core::Pos, crate::core::Ballot, crate::core::Value);

/// What a shield keeps across a crash of its node, beside its core's
/// persisted state: without it a restarted node could not show why it
/// accepted or committed what it persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Durable {
    /// The signed Proposes its core accepted (the core persisted their
    /// values; these are their signatures, a leader's justification).
    pub accepted: BTreeMap<crate::core::Pos, BTreeMap<crate::core::Ballot, Signed>>,
    /// The certificate of each position its core committed. A node that
    /// lost them answers for its decided positions with bare Commits nobody
    /// applies, and if it was one of the few that learnt a position, nobody
    /// else can learn it or choose it again: the cluster stalls there.
    pub certificates: BTreeMap<crate::core::Pos, (crate::core::Value, Vec<Signed>)>,
    /// BFT mode: the prepared certificate of each value its core accepted,
    /// which its Prepared reports must carry to count.
    pub prepared: BTreeMap<Slot, bft::Proof>,
}

impl Durable {
    /// Nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.certificates.is_empty() && self.prepared.is_empty()
    }

    /// Add what `more` holds (a later record wins where both hold one).
    pub fn merge(&mut self, more: Durable) {
        for (pos, by_ballot) in more.accepted {
            self.accepted.entry(pos).or_default().extend(by_ballot);
        }
        self.certificates.extend(more.certificates);
        self.prepared.extend(more.prepared);
    }
}

/// What the shield decided about one incoming packet or tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Messages for the core, with their (verified) sender.
    pub deliver: Vec<(NodeId, Message)>,
    /// Packets the shield itself sends (echoes, evidence).
    pub send: Vec<Packet>,
    /// What the shield noticed, for the trace.
    pub events: Vec<Event>,
}

/// How a shield behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShieldConfig {
    pub n: usize,
    /// Run the defences (`--middleware`). Needs signatures.
    pub defend: bool,
    /// Strikes at one position before a node is ignored (`--max-prepares`).
    pub max_prepares: u32,
    /// How young a promise must be for overtaking it to count as a strike.
    pub grace_ticks: u64,
    /// Longest a Propose is held waiting for echoes.
    pub echo_wait_ticks: u64,
    /// How many rounds above the highest round seen a ballot may jump.
    pub max_jump: u64,
    /// Distinct signed Accepts a Commit certificate needs (the core's quorum).
    pub quorum: usize,
    /// BFT mode (with `defend`): proofs, justifications, echo quorums.
    pub bft: bool,
    /// Keep every signed packet received, for [`Forgery::Replay`](crate::core::Forgery::Replay): only the
    /// REPLAY attacker's shield does.
    pub record: bool,
    /// The leader's own promise and acceptance are internal to its core
    /// (classic mode): a justification then needs `quorum - 1` signed
    /// Prepareds of other nodes. `false` in loopback (BFT) mode, where the
    /// leader's own Prepared is a signed message like any other.
    pub implicit_leader: bool,
}

impl ShieldConfig {
    pub fn new(n: usize, defend: bool) -> Self {
        ShieldConfig {
            n,
            defend,
            max_prepares: 3,
            grace_ticks: 5,
            echo_wait_ticks: 20,
            max_jump: ballot_bound::DEFAULT_MAX_JUMP,
            quorum: majority(n),
            bft: false,
            record: false,
            implicit_leader: true,
        }
    }

    /// Signed Prepareds a justified Propose carries.
    pub fn justification_size(&self) -> usize {
        if self.implicit_leader {
            self.quorum.saturating_sub(1)
        } else {
            self.quorum
        }
    }
}

/// One node's middleware state.
#[derive(Clone, Debug)]
pub struct Shield {
    id: NodeId,
    cfg: ShieldConfig,
    /// Our signing key; `None` runs without signatures (and without defences).
    identity: Option<Identity>,
    keys: Keyring,
    now: u64,
    banned: BTreeSet<NodeId>,
    /// What each flagged node was flagged on (the first evidence).
    evidence: BTreeMap<NodeId, Evidence>,
    echo: EchoCheck,
    limit: PrepareLimit,
    certs: Certificates,
    bound: BallotBound,
    justify: Justify,
    stale: StaleCheck,
    /// Packets our core addressed to itself (loopback mode), signed, not
    /// yet handed back ([`Shield::take_local`]).
    local: Vec<Packet>,
    /// The signed message of another node with the highest round we let
    /// through: what justifies our next Prepare's climb ([`Body::Climb`]).
    witness: Option<Signed>,
    /// BFT mode: the Proven Prepareds received for each ballot of ours
    /// (answers to our Prepare at exactly its position, as the core counts
    /// them), the justification of its Proposes.
    proven: BTreeMap<crate::core::Ballot, BTreeMap<NodeId, bft::Proven>>,
    /// The position each of our ballots prepared from.
    preparing: BTreeMap<crate::core::Ballot, crate::core::Pos>,
    /// The justification of each ballot, fixed at its first Propose: the
    /// quorum the core took the lead on. Prepareds that arrive later may
    /// report more, and Paxos does not ask the leader to follow them — so
    /// acceptors must recompute from the very set the leader used.
    frozen: BTreeMap<crate::core::Ballot, Vec<bft::Proven>>,
    /// BFT mode: the prepared certificate of each value our core accepted,
    /// kept (and persisted, [`Durable::prepared`]) so that a restarted node
    /// can still prove what it reports; the echo maps are volatile.
    accepted_proofs: BTreeMap<Slot, bft::Proof>,
    /// Keys of `accepted_proofs` added since [`Shield::take_durable`], when
    /// a driver persists them.
    fresh_proofs: Option<Vec<Slot>>,
    /// Signed packets received, by sender and message (`cfg.record` only).
    recorded: BTreeMap<(NodeId, Message), (Body, Vec<u8>)>,
}

/// Ballots whose Prepareds a BFT leader keeps (its latest attempts).
const KEEP_BALLOTS: usize = 2;

impl Shield {
    /// A shield for node `id`. Without an identity nothing is signed or
    /// verified, and the defences stay off whatever `cfg.defend` says.
    pub fn new(id: NodeId, mut cfg: ShieldConfig, identity: Option<Identity>) -> Self {
        cfg.defend &= identity.is_some();
        Shield {
            id,
            echo: if cfg.bft && cfg.defend {
                EchoCheck::bft(cfg.quorum)
            } else {
                EchoCheck::new(cfg.n, cfg.echo_wait_ticks)
            },
            limit: PrepareLimit::new(cfg.max_prepares, cfg.grace_ticks),
            certs: Certificates::new(cfg.quorum),
            bound: BallotBound::new(cfg.max_jump),
            justify: Justify::new(cfg.justification_size(), cfg.implicit_leader),
            stale: StaleCheck::default(),
            cfg,
            identity,
            keys: Keyring::default(),
            now: 0,
            banned: BTreeSet::new(),
            evidence: BTreeMap::new(),
            local: Vec::new(),
            witness: None,
            proven: BTreeMap::new(),
            preparing: BTreeMap::new(),
            frozen: BTreeMap::new(),
            accepted_proofs: BTreeMap::new(),
            fresh_proofs: None,
            recorded: BTreeMap::new(),
        }
    }

    /// A pass-through: no signatures, no defences.
    pub fn passthrough(id: NodeId, n: usize) -> Self {
        Shield::new(id, ShieldConfig::new(n, false), None)
    }

    /// The node this shield guards.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The nodes this shield flagged and ignores.
    pub fn flagged(&self) -> &BTreeSet<NodeId> {
        &self.banned
    }

    /// What each flagged node was flagged on.
    pub fn evidence(&self) -> &BTreeMap<NodeId, Evidence> {
        &self.evidence
    }

    /// Learn a peer's verifying key (from the coordinator's registry).
    pub fn add_peer_key(&mut self, id: NodeId, key: [u8; 32]) -> bool {
        self.keys.insert(id, key)
    }

    fn packet(&self, to: Option<NodeId>, body: Body) -> Packet {
        let sig = self.identity.as_ref().map(|i| i.sign(self.id, &body));
        Packet {
            from: self.id,
            to,
            body,
            sig,
        }
    }

    /// Turn one of the core's outputs into packets for the network (events
    /// are not sent). A message the core addressed to itself (loopback mode)
    /// is kept for [`Shield::take_local`] instead: drivers call that after
    /// `outgoing` and hand its verdict back like any incoming one.
    pub fn outgoing(&mut self, out: Output) -> Vec<Packet> {
        let mut packets = self.wrap(out);
        let mut i = 0;
        while i < packets.len() {
            if packets[i].to == Some(self.id) {
                self.local.push(packets.remove(i));
            } else {
                i += 1;
            }
        }
        packets
    }

    /// Our own votes, signed like any other, back for our core: through
    /// the same checks as a peer's (a BFT leader's own Propose waits for its
    /// echo quorum too), minus verifying our own signature.
    pub fn take_local(&mut self) -> Verdict {
        let mut v = Verdict::default();
        for p in std::mem::take(&mut self.local) {
            let w = self.accept(p);
            v.deliver.extend(w.deliver);
            v.send.extend(w.send);
            v.events.extend(w.events);
        }
        v
    }

    /// What this shield must keep across a crash of its node, beside what
    /// its core persisted ([`Durable`]).
    pub fn durable(&self) -> Durable {
        Durable {
            accepted: self.justify.durable(),
            certificates: self.certs.durable(),
            prepared: self.accepted_proofs.clone(),
        }
    }

    /// From now on, keep track of what is added to [`Shield::durable`], for
    /// a driver that persists it ([`Shield::take_durable`]).
    pub fn track_durable(&mut self) {
        self.justify.track();
        self.certs.track();
        self.fresh_proofs.get_or_insert_with(Vec::new);
    }

    /// What was added to [`Shield::durable`] since the last call (after
    /// [`Shield::track_durable`]), if anything: the record a driver appends
    /// to the node's data directory.
    pub fn take_durable(&mut self) -> Option<Durable> {
        let prepared = self
            .fresh_proofs
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| self.accepted_proofs.get(&k).map(|p| (k, p.clone())))
            .collect();
        let d = Durable {
            accepted: self.justify.take_fresh(),
            certificates: self.certs.take_fresh(),
            prepared,
        };
        (!d.is_empty()).then_some(d)
    }

    /// Restore [`Shield::durable`] after a restart.
    pub fn restore(&mut self, durable: Durable) {
        self.justify.restore(durable.accepted);
        self.certs.restore(durable.certificates);
        self.accepted_proofs = durable.prepared;
    }

    fn wrap(&mut self, out: Output) -> Vec<Packet> {
        let (to, msg) = match out {
            Output::Send { to, msg } => (Some(to), msg),
            Output::Broadcast { msg } => (None, msg),
            Output::Forge { to, msg, how } => return vec![self.forge(to, msg, how)],
            Output::Event(_) | Output::Persist(_) => return Vec::new(),
        };
        if !self.cfg.defend {
            return vec![self.packet(to, Body::Paxos(msg))];
        }
        // Our own rounds count as seen: answers to them are in bounds.
        self.bound.observe(&msg);
        let body = match &msg {
            Message::Prepared { .. } if self.bft() => self.prove(msg.clone()),
            Message::Propose { .. } if self.bft() => self.bft_justify(msg.clone()),
            Message::Prepare { pos, ballot } => {
                // Our own promise counts as fresh for overtaking.
                self.limit.observe(self.id, *pos, *ballot, self.now);
                if self.bft() {
                    // A new attempt in this ballot starts a new quorum.
                    if self.preparing.insert(*ballot, *pos) != Some(*pos) {
                        self.proven.remove(ballot);
                        self.frozen.remove(ballot);
                    }
                    while self.preparing.len() > KEEP_BALLOTS {
                        self.preparing.pop_first();
                    }
                }
                self.justify.sent_prepare(*pos, *ballot);
                self.climb(msg.clone())
            }
            Message::Prepared { .. } if to == Some(self.id) => {
                // Loopback mode: our own promise, a signed vote like others'.
                let identity = self.identity.as_ref().expect("defend implies identity");
                let own = identity.sign_message(self.id, msg.clone());
                self.justify.got_prepared(&own);
                Body::Paxos(msg)
            }
            Message::Propose { .. } => {
                let identity = self.identity.as_ref().expect("defend implies identity");
                let signed = identity.sign_message(self.id, msg.clone());
                self.justify.sent_propose(&signed);
                Body::Justified(self.justify.justify(signed))
            }
            Message::Accept { pos, ballot, value } => {
                self.justify.sent_accept(*pos, *ballot, value);
                if self.bft() {
                    self.keep_accepted_proof(*pos, *ballot, value);
                }
                Body::Paxos(msg)
            }
            Message::Commit { pos, value } => {
                self.justify.decided(*pos);
                let identity = self.identity.as_ref().expect("defend implies identity");
                match self.certs.for_commit(self.id, identity, *pos, value) {
                    Some(accepts) => Body::Certified {
                        commit: msg,
                        accepts,
                    },
                    None => Body::Paxos(msg), // peers will refuse it
                }
            }
            _ => Body::Paxos(msg),
        };
        vec![self.packet(to, body)]
    }

    fn flag(&mut self, v: &mut Verdict, node: NodeId, kind: Evidence, reason: String) {
        if node == self.id || !self.banned.insert(node) {
            return;
        }
        self.evidence.insert(node, kind);
        log::info!("node {}: flagged node {node}: {reason}", self.id);
        self.echo.drop_leader(node);
        v.events.push(Event::Flagged { node, reason });
    }

    /// An accusation that does not re-check: dropped, and nobody flagged.
    fn unfounded(v: &mut Verdict, from: NodeId, kind: &str) {
        v.events.push(Event::Dropped {
            from,
            kind: kind.to_string(),
            reason: "accusation without valid evidence".into(),
        });
    }

    fn dropped(v: &mut Verdict, from: NodeId, body: &Body, reason: String) {
        v.events.push(Event::Dropped {
            from,
            kind: body.kind().to_string(),
            reason,
        });
    }

    /// Evidence of equivocation: flag the leader and tell everyone, once.
    fn convict(&mut self, v: &mut Verdict, a: Signed, b: Signed) {
        let leader = a.from;
        if self.banned.contains(&leader) {
            return;
        }
        let describe = |s: &Signed| match &s.msg {
            Message::Propose { value, .. } => format!("'{value}'"),
            m => m.to_string(),
        };
        let (pos, ballot) = (a.msg.pos(), a.msg.ballot().unwrap_or_default());
        let reason = format!(
            "echo mismatch: two signed Proposes at pos {pos} ballot {ballot}, {} and {}",
            describe(&a),
            describe(&b)
        );
        self.flag(v, leader, Evidence::Equivocation, reason);
        v.send.push(self.packet(None, Body::Evidence(a, b)));
    }

    /// A signed message whose ballot jumps out of bounds: flag its signer
    /// and tell everyone, once. The message is the evidence.
    fn overreach(&mut self, v: &mut Verdict, s: Signed) {
        if s.from == self.id || self.banned.contains(&s.from) {
            return;
        }
        let reason = format!(
            "ballot overflow: signed {} jumps more than {} rounds above the highest round seen ({})",
            s.msg,
            self.cfg.max_jump,
            self.bound.max_seen()
        );
        self.flag(v, s.from, Evidence::Overreach, reason);
        v.send.push(self.packet(None, Body::Overreach(s)));
    }

    /// A signed Commit with a certificate that fails by signatures alone:
    /// flag its sender and tell everyone, once. The signed Commit is the
    /// evidence.
    fn premature(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        sig: Vec<u8>,
    ) {
        if from == self.id || self.banned.contains(&from) {
            return;
        }
        let reason = format!(
            "premature commit: signed {commit} whose certificate of {} Accepts has no quorum of {} valid matching ones",
            accepts.len(),
            self.cfg.quorum
        );
        self.flag(v, from, Evidence::BadCertificate, reason);
        v.send.push(self.packet(
            None,
            Body::BadCertificate {
                from,
                commit,
                accepts,
                sig,
            },
        ));
    }

    /// A justified Propose that ignores its own reports: flag its leader
    /// and tell everyone, once. The leader's signature over the whole
    /// justification is the evidence.
    fn unjustified(&mut self, v: &mut Verdict, j: Justification, sig: Vec<u8>, reason: String) {
        let leader = j.propose.from;
        if leader == self.id || self.banned.contains(&leader) {
            return;
        }
        self.flag(v, leader, Evidence::IgnoredPrepared, reason);
        v.send.push(self.packet(
            None,
            Body::Unjustified {
                justification: j,
                sig,
            },
        ));
    }

    /// A signed Accept and a signed Prepared of one node that hides it:
    /// check both signatures, flag the node and tell everyone, once.
    fn stale_pair(&mut self, v: &mut Verdict, pair: Option<(Signed, Signed)>) {
        let Some((accept, prepared)) = pair else {
            return;
        };
        let node = accept.from;
        if node == self.id || self.banned.contains(&node) {
            return;
        }
        if !stale::hides(&accept, &prepared)
            || !self.justify.valid(&accept, &self.keys)
            || !self.justify.valid(&prepared, &self.keys)
        {
            return;
        }
        let reason = format!(
            "stale Prepared: signed {} then signed {} without it",
            accept.msg, prepared.msg
        );
        self.flag(v, node, Evidence::StalePrepared, reason);
        v.send
            .push(self.packet(None, Body::Stale(accept, prepared)));
    }

    /// Decide what an incoming packet means for the core.
    pub fn incoming(&mut self, packet: Packet) -> Verdict {
        let mut v = Verdict::default();
        let from = packet.from;
        if from == self.id || self.banned.contains(&from) {
            return v;
        }
        if self.identity.is_some() {
            let checked = match &packet.sig {
                Some(sig) => self.keys.verify(from, &packet.body, sig),
                None => Err(crate::auth::AuthError::Malformed),
            };
            if let Err(e) = checked {
                log::warn!(
                    "node {}: dropped {} from node {from}: {e}",
                    self.id,
                    packet.body.kind()
                );
                Self::dropped(&mut v, from, &packet.body, e.to_string());
                if let (true, Some(sig)) = (self.cfg.defend, &packet.sig) {
                    self.find_forger(&mut v, from, &packet.body, sig);
                }
                return v;
            }
            if let (true, Some(sig), Body::Paxos(m) | Body::Certified { commit: m, .. }) =
                (self.cfg.record, &packet.sig, &packet.body)
            {
                self.recorded
                    .insert((from, m.clone()), (packet.body.clone(), sig.clone()));
            }
        }
        self.accept(packet)
    }

    /// What a packet whose signature holds (or our own) means for the core.
    fn accept(&mut self, packet: Packet) -> Verdict {
        let mut v = Verdict::default();
        let from = packet.from;
        let own = from == self.id;
        if !self.cfg.defend || (own && !matches!(packet.body, Body::BftPropose(_))) {
            if own && self.cfg.defend {
                self.keep_own(&packet);
            }
            match packet.body {
                Body::Paxos(msg) | Body::Certified { commit: msg, .. } => {
                    v.deliver.push((from, msg))
                }
                Body::BftPrepared(p) => v.deliver.push((from, p.prepared.msg)),
                Body::BftPropose(j) => v.deliver.push((from, j.propose.msg)),
                Body::Justified(j) => v.deliver.push((from, j.propose.msg)),
                Body::Climb { prepare, .. } => v.deliver.push((from, prepare)),
                Body::Echo(_)
                | Body::Evidence(..)
                | Body::Overreach(_)
                | Body::BftUnjustified(_)
                | Body::Unjustified { .. }
                | Body::Stale(..)
                | Body::BadCertificate { .. }
                | Body::Forgery { .. } => {}
            }
            return v;
        }
        let sig = packet.sig.clone().unwrap_or_default();
        match packet.body {
            Body::Paxos(msg @ (Message::Propose { .. } | Message::Prepared { .. }))
                if self.bft() =>
            {
                let reason = "BFT mode needs its proofs (justification, certificates)".into();
                Self::dropped(&mut v, from, &Body::Paxos(msg), reason);
            }
            body @ Body::Justified(_) if self.bft() => {
                let reason = "BFT mode needs its proofs (justification, certificates)".into();
                Self::dropped(&mut v, from, &body, reason);
            }
            Body::BftPrepared(p) => self.on_proven(&mut v, from, p),
            Body::BftPropose(j) => self.on_justified(&mut v, from, j),
            Body::BftUnjustified(j) => {
                // Re-checked here: the leader's own signature, and a value
                // its own justification does not allow.
                let leader = j.propose.from;
                match bft::check(&j, &self.keys, self.cfg.quorum) {
                    Err(e @ bft::JustifyError::Ignored { .. }) => {
                        self.bft_unjustified(&mut v, j, e)
                    }
                    _ => Self::dropped(
                        &mut v,
                        from,
                        &Body::BftUnjustified(j),
                        format!("accusation against node {leader} without valid evidence"),
                    ),
                }
            }
            Body::Paxos(msg) if self.bound.overreaches(&msg) => {
                Self::dropped(
                    &mut v,
                    from,
                    &Body::Paxos(msg.clone()),
                    "ballot jumps out of bounds".into(),
                );
                self.overreach(&mut v, Signed { from, msg, sig });
            }
            Body::Paxos(msg @ Message::Propose { .. }) => {
                let body = Body::Paxos(msg);
                Self::dropped(
                    &mut v,
                    from,
                    &body,
                    "Propose without its justification".into(),
                );
            }
            Body::Paxos(msg) => {
                self.bound.observe(&msg);
                // Cloned only when it becomes the witness (a new highest
                // round): this is the message path.
                if self.outranks_witness(from, &msg) {
                    self.witness = Some(Signed {
                        from,
                        msg: msg.clone(),
                        sig: sig.clone(),
                    });
                }
                self.on_paxos(&mut v, from, msg, sig)
            }
            Body::Climb { prepare, witness } => {
                // In bounds, or justified by a third node's signed message:
                // the witness is checked, never taken on the climber's word.
                let justified = witness.from != from
                    && ballot_bound::justifies(&witness.msg, &prepare, self.cfg.max_jump)
                    && self.keys.verify_signed(&witness).is_ok();
                if self.bound.overreaches(&prepare) && !justified {
                    let body = Body::Climb { prepare, witness };
                    let reason = "ballot jumps out of bounds, not justified by its witness";
                    Self::dropped(&mut v, from, &body, reason.into());
                    return v;
                }
                if justified {
                    self.bound.observe(&witness.msg);
                    self.witnessed(witness);
                }
                self.bound.observe(&prepare);
                self.on_paxos(&mut v, from, prepare, sig)
            }
            Body::Justified(j) => {
                if j.propose.from != from {
                    let body = Body::Justified(j);
                    Self::dropped(&mut v, from, &body, "Propose of another node".into());
                    return v;
                }
                if self.bound.overreaches(&j.propose.msg) {
                    let s = j.propose.clone();
                    let body = Body::Justified(j);
                    Self::dropped(&mut v, from, &body, "ballot jumps out of bounds".into());
                    self.overreach(&mut v, s);
                    return v;
                }
                match self.justify.check(&j, &self.keys) {
                    Ok(()) => {
                        for s in self.justify.counted(&j, &self.keys) {
                            let pair = self.stale.prepared(&s);
                            self.stale_pair(&mut v, pair);
                        }
                        self.bound.observe(&j.propose.msg);
                        let Signed { msg, sig, .. } = j.propose;
                        self.on_paxos(&mut v, from, msg, sig);
                    }
                    Err(Refusal::Malformed(why)) => {
                        let body = Body::Justified(j);
                        Self::dropped(&mut v, from, &body, format!("bad justification: {why}"));
                    }
                    Err(Refusal::Contradicts { reason, .. }) => {
                        let body = Body::Justified(j.clone());
                        Self::dropped(&mut v, from, &body, reason.clone());
                        self.unjustified(&mut v, j, sig, reason);
                    }
                }
            }
            Body::Unjustified {
                justification,
                sig: leader_sig,
            } => {
                // Re-checked here: the leader's signature over the whole
                // justification, and the contradiction recomputed by us.
                let leader = justification.propose.from;
                let signed = self
                    .keys
                    .verify(leader, &Body::Justified(justification.clone()), &leader_sig)
                    .is_ok();
                let verdict = self.justify.check(&justification, &self.keys);
                match verdict {
                    Err(Refusal::Contradicts { reason, .. }) if signed => {
                        self.unjustified(&mut v, justification, leader_sig, reason)
                    }
                    _ => {
                        Self::unfounded(&mut v, from, "Unjustified");
                    }
                }
            }
            Body::Stale(accept, prepared) => {
                let valid = stale::hides(&accept, &prepared)
                    && self.justify.valid(&accept, &self.keys)
                    && self.justify.valid(&prepared, &self.keys);
                if valid {
                    self.stale_pair(&mut v, Some((accept, prepared)));
                } else {
                    Self::unfounded(&mut v, from, "Stale");
                }
            }
            Body::Certified { commit, accepts } => {
                // Classic mode: only an equivocator's Accepts stop counting:
                // with quorums of f+1 they are what could back two
                // certificates for one position. A node caught lying in a
                // Prepared or ignoring one still accepted by the rules as an
                // acceptor (that is how it looks honest), and positions it
                // helped choose before it was caught must stay learnable, or
                // the nodes that caught it stall there.
                //
                // BFT mode: every valid signer counts. 2f+1 signers hold
                // f+1 honest ones, and honest nodes accept only a Propose
                // 2f+1 nodes echoed, so no second certificate can exist at
                // a (position, ballot); leaving the equivocator out would
                // only leave a node that never saw enough honest Accepts
                // unable to learn a position the others decided.
                let ignored: BTreeSet<NodeId> = if self.bft() {
                    BTreeSet::new()
                } else {
                    self.banned
                        .iter()
                        .copied()
                        .filter(|n| self.evidence.get(n) == Some(&Evidence::Equivocation))
                        .collect()
                };
                match self.certs.check(&commit, &accepts, &self.keys, &ignored) {
                    Ok(()) => {
                        self.justify.decided(commit.pos());
                        for a in &accepts {
                            let pair = self.stale.accept(a);
                            self.stale_pair(&mut v, pair);
                        }
                        v.deliver.push((from, commit))
                    }
                    Err(e) => {
                        let proof = certificate::proves_premature(
                            &commit,
                            &accepts,
                            &self.keys,
                            self.cfg.quorum,
                        );
                        let body = Body::Certified { commit, accepts };
                        Self::dropped(&mut v, from, &body, format!("bad certificate: {e}"));
                        if proof {
                            let Body::Certified { commit, accepts } = body else {
                                unreachable!("built just above")
                            };
                            self.premature(&mut v, from, commit, accepts, sig);
                        }
                    }
                }
            }
            Body::BadCertificate {
                from: accused,
                commit,
                accepts,
                sig: signed,
            } => {
                // Re-checked here: the accused's own signature over the
                // Commit and its certificate, and the certificate fails.
                let certified = Body::Certified {
                    commit: commit.clone(),
                    accepts: accepts.clone(),
                };
                let valid =
                    certificate::proves_premature(&commit, &accepts, &self.keys, self.cfg.quorum)
                        && self.keys.verify(accused, &certified, &signed).is_ok();
                if valid {
                    self.premature(&mut v, accused, commit, accepts, signed);
                } else {
                    Self::unfounded(&mut v, from, "BadCertificate");
                }
            }
            Body::Forgery {
                signer,
                claimed,
                body,
                sig: signed,
            } => {
                let valid = signer != claimed
                    && self
                        .keys
                        .verify_claim(signer, claimed, &body, &signed)
                        .is_ok();
                if valid {
                    self.forger(&mut v, signer, claimed, body, signed);
                } else {
                    Self::unfounded(&mut v, from, "Forgery");
                }
            }
            Body::Echo(s) => {
                if self.banned.contains(&s.from) || (s.from == self.id && !self.bft()) {
                    return v;
                }
                // One verification per signed Propose: the echoes of every
                // peer carry the very same bytes (n-2 of them per position).
                if !self.echo.known(&s) && self.keys.verify_signed(&s).is_err() {
                    let body = Body::Echo(s);
                    Self::dropped(
                        &mut v,
                        from,
                        &body,
                        "echoed Propose not signed by its leader".into(),
                    );
                    return v;
                }
                if self.bound.overreaches(&s.msg) {
                    // Verified above: the leader's own out-of-bound Propose.
                    self.overreach(&mut v, s);
                    return v;
                }
                if let Seen::Conflict(pair) = self.echo.record(&s) {
                    let (a, b) = *pair;
                    self.convict(&mut v, a, b);
                }
                self.echo.echoed(from, &s, sig);
                self.release(&mut v);
            }
            Body::Overreach(s) => {
                // Re-checked here, never taken on the forwarder's word: the
                // signer's own signature, and out of bounds for *us*.
                let valid = self.bound.overreaches(&s.msg) && self.keys.verify_signed(&s).is_ok();
                if valid {
                    self.overreach(&mut v, s);
                } else {
                    Self::unfounded(&mut v, from, "Overreach");
                }
            }
            Body::Evidence(a, b) => {
                let valid = echo::conflicting(&a, &b)
                    && self.keys.verify_signed(&a).is_ok()
                    && self.keys.verify_signed(&b).is_ok();
                if valid {
                    self.convict(&mut v, a, b);
                } else {
                    Self::unfounded(&mut v, from, "Evidence");
                }
            }
        }
        v
    }

    fn on_paxos(&mut self, v: &mut Verdict, from: NodeId, msg: Message, sig: Vec<u8>) {
        match &msg {
            Message::Prepare { pos, ballot } => {
                match self.limit.observe(from, *pos, *ballot, self.now) {
                    Judgement::Ban { strikes } => {
                        let reason = format!(
                            "{strikes} Prepares at pos {pos} each cut off another proposer's fresh promise (limit {})",
                            self.cfg.max_prepares
                        );
                        self.flag(v, from, Evidence::PrepareLimit, reason);
                    }
                    Judgement::Strike { .. } | Judgement::Fine => v.deliver.push((from, msg)),
                }
            }
            Message::Propose { pos, .. } => {
                self.limit.proposed(from, *pos);
                let signed = Signed { from, msg, sig };
                self.justify.saw_propose(&signed);
                if let Seen::Conflict(pair) = self.echo.record(&signed) {
                    let (a, b) = *pair;
                    self.convict(v, a, b)
                }
                if self.banned.contains(&from) {
                    return;
                }
                // BFT: echo again whenever the leader re-sends. Nothing is
                // released on a timeout there, so an echo lost on the way
                // must be made up for, or a node could wait for good.
                if self.echo.first_echo(&signed) || self.bft() {
                    let echo = self.packet(None, Body::Echo(signed.clone()));
                    if self.bft() {
                        // Our own echo vouches too, and goes in certificates.
                        let sig = echo.sig.clone().unwrap_or_default();
                        self.echo.echoed(self.id, &signed, sig);
                    }
                    v.send.push(echo);
                }
                if self.echo.hold(signed.clone(), self.now) {
                    v.deliver.push((from, signed.msg));
                } else {
                    self.release(v);
                }
            }
            Message::Accept { .. } => {
                let signed = Signed {
                    from,
                    msg: msg.clone(),
                    sig,
                };
                let pair = self.stale.accept(&signed);
                self.stale_pair(v, pair);
                self.certs.collect(signed);
                v.deliver.push((from, msg));
            }
            Message::Prepared { .. } => {
                let signed = Signed {
                    from,
                    msg: msg.clone(),
                    sig,
                };
                self.justify.got_prepared(&signed);
                let pair = self.stale.prepared(&signed);
                self.stale_pair(v, pair);
                v.deliver.push((from, msg));
            }
            Message::Commit { .. } => {
                let body = Body::Paxos(msg);
                Self::dropped(
                    v,
                    from,
                    &body,
                    "Commit without a certificate of Accepts".into(),
                );
            }
            _ => v.deliver.push((from, msg)),
        }
    }

    /// Our own vote, signed by us: keep what a peer's would have left.
    fn keep_own(&mut self, packet: &Packet) {
        match &packet.body {
            Body::Paxos(msg @ Message::Accept { .. }) => self.certs.collect(Signed {
                from: self.id,
                msg: msg.clone(),
                sig: packet.sig.clone().unwrap_or_default(),
            }),
            Body::BftPrepared(p) => self.keep_proven(self.id, p.clone()),
            _ => {}
        }
    }

    /// Our Prepare, carrying the signed message it climbed over when that
    /// justifies its round ([`ballot_bound::justifies`]): a node whose view
    /// was pushed ahead (by a partition, or by a Byzantine node feeding it
    /// alone) is not out of bounds for the others, it shows why it climbed.
    /// Never signed bare then, so nobody holds an accusation against it.
    fn climb(&self, prepare: Message) -> Body {
        match &self.witness {
            Some(w) if ballot_bound::justifies(&w.msg, &prepare, self.cfg.max_jump) => {
                Body::Climb {
                    prepare,
                    witness: w.clone(),
                }
            }
            _ => Body::Paxos(prepare),
        }
    }

    /// Whether `msg` from `from` would be a better witness than ours: another
    /// node's, with a round above the witness's.
    fn outranks_witness(&self, from: NodeId, msg: &Message) -> bool {
        let Some(b) = msg.ballot() else {
            return false;
        };
        let round = |w: &Signed| w.msg.ballot().map_or(0, |b| b.round);
        from != self.id && self.witness.as_ref().is_none_or(|w| b.round > round(w))
    }

    /// Remember `s` as our witness if its round is the highest seen yet.
    fn witnessed(&mut self, s: Signed) {
        if self.outranks_witness(s.from, &s.msg) {
            self.witness = Some(s);
        }
    }

    fn release(&mut self, v: &mut Verdict) {
        for s in self.echo.release(self.now) {
            v.deliver.push((s.from, s.msg));
        }
    }

    /// One logical tick: held Proposes whose wait is over go to the core.
    pub fn tick(&mut self) -> Verdict {
        self.now += 1;
        let mut v = Verdict::default();
        if self.cfg.defend {
            self.release(&mut v);
        }
        v
    }
}

#[cfg(test)]
mod tests;
