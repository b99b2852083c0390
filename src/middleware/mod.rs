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
//!   and forward the signed bytes, which every receiver re-checks. A
//!   justified Propose or certified Commit the shield lets through is the
//!   exception: its body vouches for itself ([`Body::vouches_for_itself`]),
//!   so its packet signature is checked only when the body is refused, the
//!   one case where who sent it matters.
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
//! With `n = 2f+1` these detect and block the brief's attacks as they run in
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

mod accuse;
pub mod ballot_bound;
pub mod bft;
mod bft_shield;
pub mod certificate;
pub mod defence;
pub mod echo;
mod forge;
pub mod justify;
pub mod prepare_limit;
pub mod stale;
mod votes;

use crate::auth::{Identity, Keyring, Signed};
use crate::core::{majority, Event, Message, NodeId, Output};
use crate::wire::{Body, Packet};
use ballot_bound::BallotBound;
use certificate::Certificates;
use echo::{EchoCheck, Seen};
use justify::Justify;
use prepare_limit::PrepareLimit;
use stale::StaleCheck;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::wire::proofs::{Evidence, Proof};
pub use defence::{Defence, UnknownDefence};

/// A value at a position in a ballot.
pub type Slot = (crate::core::Pos, crate::core::Ballot, crate::core::Value);

/// What a shield keeps across a crash of its node, beside its core's
/// persisted state: without it a restarted node could not show why it
/// accepted or committed what it persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShieldDurable {
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
    pub prepared: BTreeMap<Slot, bft::ValueProof>,
}

impl ShieldDurable {
    /// Nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.certificates.is_empty() && self.prepared.is_empty()
    }

    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: crate::core::Pos) {
        self.accepted = self.accepted.split_off(&below);
        self.certificates = self.certificates.split_off(&below);
        self.prepared.retain(|(p, _, _), _| *p >= below);
    }

    /// Add what `more` holds (a later record wins where both hold one).
    pub fn merge(&mut self, more: ShieldDurable) {
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

impl Verdict {
    /// Add `more` after what this verdict holds.
    pub fn merge(&mut self, more: Verdict) {
        self.deliver.extend(more.deliver);
        self.send.extend(more.send);
        self.events.extend(more.events);
    }
}

/// How a shield behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShieldConfig {
    pub n: usize,
    /// Run the defences (`--middleware`). Needs signatures.
    pub defend: bool,
    /// Which defences run, when `defend` (all of them unless a learner
    /// picked some: `--defences`). BFT mode runs all or none.
    pub defences: BTreeSet<Defence>,
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
            defences: Defence::ALL.into_iter().collect(),
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

    /// Whether a leader's signed Propose is its vote in a certificate:
    /// classic mode, where its own acceptance is internal to its core.
    pub fn leader_votes(&self) -> bool {
        self.implicit_leader && !self.bft
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
    flagged_nodes: BTreeSet<NodeId>,
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
    /// kept (and persisted, [`ShieldDurable::prepared`]) so that a restarted node
    /// can still prove what it reports; the echo maps are volatile.
    accepted_proofs: BTreeMap<Slot, bft::ValueProof>,
    /// Keys of `accepted_proofs` added since [`Shield::take_durable`], when
    /// a driver persists them.
    fresh_proofs: Option<Vec<Slot>>,
    /// Signed packets received, by sender and message (`cfg.record` only).
    recorded: BTreeMap<(NodeId, Message), (Body, Vec<u8>)>,
    /// Set by [`Shield::forget_below`], taken by [`Shield::take_forgot`].
    forgot: Option<crate::core::Pos>,
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
            certs: Certificates::new(cfg.quorum, cfg.leader_votes()),
            bound: BallotBound::new(cfg.max_jump),
            justify: Justify::new(cfg.justification_size(), cfg.implicit_leader),
            stale: StaleCheck::new(cfg.leader_votes()),
            cfg,
            keys: Keyring::for_scheme(identity.as_ref().map(Identity::scheme).unwrap_or_default()),
            identity,
            now: 0,
            flagged_nodes: BTreeSet::new(),
            evidence: BTreeMap::new(),
            local: Vec::new(),
            witness: None,
            proven: BTreeMap::new(),
            preparing: BTreeMap::new(),
            frozen: BTreeMap::new(),
            accepted_proofs: BTreeMap::new(),
            fresh_proofs: None,
            recorded: BTreeMap::new(),
            forgot: None,
        }
    }

    /// The node this shield guards.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The nodes this shield flagged and ignores.
    pub fn flagged(&self) -> &BTreeSet<NodeId> {
        &self.flagged_nodes
    }

    /// The highest ballot round this shield let through or sent.
    pub fn max_round_seen(&self) -> u64 {
        self.bound.max_seen()
    }

    /// What each flagged node was flagged on.
    pub fn evidence(&self) -> &BTreeMap<NodeId, Evidence> {
        &self.evidence
    }

    /// The keys this shield checks signatures with (a [`Keyring::sharing`]
    /// copy lets a verifier on another core warm its cache).
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Learn a peer's verifying key (from the coordinator's registry).
    pub fn add_peer_key(&mut self, id: NodeId, key: [u8; 32]) -> bool {
        self.keys.insert(id, key)
    }

    /// Run exactly `defences` from now on, signing with `identity` (or not
    /// at all) and verifying under `keys`, one per node: the explorer's
    /// switch, flipped mid-run on every node at once (classic mode; BFT
    /// mode's proofs only work as a whole from the start). What the
    /// defences learnt so far stays; what they never saw, they do not know.
    pub fn set_defences(
        &mut self,
        defences: BTreeSet<Defence>,
        identity: Option<Identity>,
        keys: &[[u8; 32]],
    ) {
        self.cfg.defend = identity.is_some() && !defences.is_empty();
        self.cfg.defences = defences;
        if let Some(i) = &identity {
            self.keys = Keyring::for_scheme(i.scheme());
            for (j, key) in keys.iter().enumerate() {
                self.keys.insert(j as NodeId, *key);
            }
        }
        self.identity = identity;
    }

    fn packet(&self, to: Option<NodeId>, body: Body) -> Packet {
        let sig = self.identity.as_ref().map(|i| {
            let bytes = crate::wire::signing_bytes(self.id, &body);
            let sig = i.sign_bytes(&bytes);
            if matches!(body, Body::Paxos(Message::Accept { .. })) {
                // It comes back to us inside the leader's certificate.
                self.keys.remember_own(i, self.id, &bytes, &sig);
            }
            sig
        });
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
        if let Output::Forget { below } = out {
            self.forget_below(below);
            return Vec::new();
        }
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
            v.merge(w);
        }
        v
    }

    /// What this shield must keep across a crash of its node, beside what
    /// its core persisted ([`ShieldDurable`]).
    pub fn durable(&self) -> ShieldDurable {
        ShieldDurable {
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
    pub fn take_durable(&mut self) -> Option<ShieldDurable> {
        // The message path: nothing to build unless something is new.
        let fresh = self.fresh_proofs.as_ref().is_some_and(|f| !f.is_empty());
        if !fresh && !self.justify.has_fresh() && !self.certs.has_fresh() {
            return None;
        }
        let prepared = self
            .fresh_proofs
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| self.accepted_proofs.get(&k).map(|p| (k, p.clone())))
            .collect();
        let d = ShieldDurable {
            accepted: self.justify.take_fresh(),
            certificates: self.certs.take_fresh(),
            prepared,
        };
        (!d.is_empty()).then_some(d)
    }

    /// Forget what this shield keeps per position below `below`, which
    /// its core now keeps as a snapshot ([`Output::Forget`]): certificates,
    /// signed Proposes, echoes and strikes of decided positions.
    pub fn forget_below(&mut self, below: crate::core::Pos) {
        self.justify.forget_below(below);
        self.certs.forget_below(below);
        self.stale.forget_below(below);
        self.echo.forget_below(below);
        self.limit.forget_below(below);
        self.accepted_proofs.retain(|(p, _, _), _| *p >= below);
        if let Some(fresh) = self.fresh_proofs.as_mut() {
            fresh.retain(|(p, _, _)| *p >= below);
        }
        self.forgot = Some(self.forgot.map_or(below, |f| f.max(below)));
    }

    /// The position below which this shield forgot since the last call, if
    /// it did: a driver that persists proofs rewrites them without what is
    /// below it ([`ShieldDurable::forget_below`]).
    pub fn take_forgot(&mut self) -> Option<crate::core::Pos> {
        self.forgot.take()
    }

    /// Restore [`Shield::durable`] after a restart, with `round` the
    /// highest round the node's core promised before it (what its
    /// persisted state shows): the ballot bound starts there, not at 0, or
    /// the cluster's current rounds would look like an overreach.
    pub fn restore(&mut self, durable: ShieldDurable, round: u64) {
        self.bound.observe_round(round);
        self.justify.restore(durable.accepted);
        self.certs.restore(durable.certificates);
        self.accepted_proofs = durable.prepared;
    }

    fn wrap(&mut self, out: Output) -> Vec<Packet> {
        let (to, msg) = match out {
            Output::Send { to, msg } => (Some(to), msg),
            Output::Broadcast { msg } => (None, msg),
            Output::Forge { to, msg, how } => return vec![self.forge(to, msg, *how)],
            Output::Event(_) | Output::Persist(_) | Output::Forget { .. } => return Vec::new(),
        };
        if !self.cfg.defend {
            return vec![self.packet(to, Body::Paxos(msg))];
        }
        // Our own rounds count as seen: answers to them are in bounds.
        self.bound.observe(&msg);
        let body = self.defended(to, msg);
        if self.holds_own(&body) {
            // It vouches for itself at every honest receiver (see
            // `vouched`): signing the packet would add nothing.
            let from = self.id;
            return vec![Packet {
                from,
                to,
                body,
                sig: None,
            }];
        }
        vec![self.packet(to, body)]
    }

    /// The body the defences send `msg` in, and what they keep of it.
    fn defended(&mut self, to: Option<NodeId>, msg: Message) -> Body {
        match &msg {
            Message::Prepared { .. } if self.bft() => self.prove(msg),
            Message::Propose { .. } if self.bft() => self.bft_justify(msg),
            Message::Prepare { pos, ballot } => {
                let (pos, ballot) = (*pos, *ballot);
                self.sent_prepare(pos, ballot, msg)
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
                if self.on(Defence::Justify) {
                    Body::Justified(Box::new(self.justify.justify(signed)))
                } else {
                    Body::Paxos(msg)
                }
            }
            Message::Accept { pos, ballot, value } => {
                self.justify.sent_accept(*pos, *ballot, value);
                if self.bft() {
                    self.keep_accepted_proof(*pos, *ballot, value);
                }
                Body::Paxos(msg)
            }
            Message::Commit { pos, .. } if !self.on(Defence::Certificates) => {
                self.justify.decided(*pos);
                Body::Paxos(msg)
            }
            Message::Commit { .. } => self.certify(msg),
            _ => Body::Paxos(msg),
        }
    }

    /// Our core's Prepare: its answers are counted anew, and it climbs
    /// with its witness when the ballot bound runs.
    fn sent_prepare(
        &mut self,
        pos: crate::core::Pos,
        ballot: crate::core::Ballot,
        msg: Message,
    ) -> Body {
        // Our own promise counts as fresh for overtaking.
        self.limit.observe(self.id, pos, ballot, self.now);
        if self.bft() {
            // A new attempt in this ballot starts a new quorum.
            if self.preparing.insert(ballot, pos) != Some(pos) {
                self.proven.remove(&ballot);
                self.frozen.remove(&ballot);
            }
            while self.preparing.len() > KEEP_BALLOTS {
                self.preparing.pop_first();
            }
        }
        self.justify.sent_prepare(pos, ballot);
        if self.on(Defence::BallotBound) {
            self.climb(msg)
        } else {
            Body::Paxos(msg)
        }
    }

    /// Our core's Commit with its certificate, or bare when we hold none
    /// (peers will refuse it).
    fn certify(&mut self, msg: Message) -> Body {
        let Message::Commit { pos, value } = &msg else {
            return Body::Paxos(msg);
        };
        self.justify.decided(*pos);
        let identity = self.identity.as_ref().expect("defend implies identity");
        let justify = &self.justify;
        let own = |ballot| justify.accepted_at(*pos, ballot).cloned();
        match self.certs.for_commit(self.id, identity, (*pos, value), own) {
            Some(accepts) => Body::Certified {
                commit: msg,
                accepts,
            },
            None => Body::Paxos(msg),
        }
    }

    /// Whether a body we send holds by the signatures inside it: a
    /// certificate we assembled from valid votes (it holds by signatures
    /// alone, so it is never evidence), or a justification that passes the
    /// check every acceptor will make. One that does not hold is signed:
    /// it is evidence against us (our core ignored its reports), as it
    /// must be.
    fn holds_own(&self, body: &Body) -> bool {
        match body {
            Body::Certified { .. } => true,
            Body::Justified(j) => self.justify.check_own(j, &self.keys).is_ok(),
            _ => false,
        }
    }

    /// What a certificate counts: a quorum, and whether a leader's signed
    /// Propose is its vote ([`certificate`]).
    pub(super) fn cert_rule(&self) -> (usize, bool) {
        (self.cfg.quorum, self.cfg.leader_votes())
    }

    /// Whether defence `d` runs.
    pub(super) fn on(&self, d: Defence) -> bool {
        self.cfg.defend && self.cfg.defences.contains(&d)
    }

    pub(super) fn flag(&mut self, v: &mut Verdict, node: NodeId, kind: Evidence, reason: String) {
        if node == self.id || !self.flagged_nodes.insert(node) {
            return;
        }
        self.evidence.insert(node, kind);
        log::info!("node {}: flagged node {node}: {reason}", self.id);
        self.echo.drop_leader(node);
        v.events.push(Event::Flagged { node, reason });
    }

    /// An accusation that does not re-check: dropped, and nobody flagged.
    pub(super) fn unfounded(v: &mut Verdict, from: NodeId, kind: &str) {
        v.events.push(Event::Dropped {
            from,
            kind: kind.to_string(),
            reason: "accusation without valid evidence".into(),
        });
    }

    pub(super) fn dropped(v: &mut Verdict, from: NodeId, body: &Body, reason: String) {
        v.events.push(Event::Dropped {
            from,
            kind: body.kind().to_string(),
            reason,
        });
    }

    /// Decide what an incoming packet means for the core.
    pub fn incoming(&mut self, packet: Packet) -> Verdict {
        let mut v = Verdict::default();
        let from = packet.from;
        if from == self.id || self.flagged_nodes.contains(&from) {
            return v;
        }
        if self.identity.is_some() && !self.vouched(&packet) {
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
                if let (true, Some(sig)) = (self.on(Defence::Forgery), &packet.sig) {
                    self.find_forger(&mut v, from, &packet.body, sig);
                }
                return v;
            }
        }
        if let (true, Some(sig), Body::Paxos(m) | Body::Certified { commit: m, .. }) =
            (self.cfg.record, &packet.sig, &packet.body)
        {
            self.recorded
                .insert((from, m.clone()), (packet.body.clone(), sig.clone()));
        }
        self.accept(packet)
    }

    /// Whether `packet`'s body vouches for itself here and now
    /// ([`Body::vouches_for_itself`]), so that its packet signature is not
    /// checked (an honest sender does not even sign it): it would only say
    /// who relayed what the signatures inside already show.
    ///
    /// - A justified Propose of its sender, when what this shield does with
    ///   it rests on the signatures inside: a justification that holds, or
    ///   (out of bounds, or with justifications off here) the leader's
    ///   signed Propose alone, which is then the evidence or the vote.
    /// - A Commit whose certificate holds by its signatures.
    ///
    /// A body refused for what it says (a justification that ignores its
    /// reports, a short certificate) is evidence against its sender only
    /// with the packet signature, so that one is checked as usual, before
    /// the shield acts on it; unsigned, it is dropped and proves nothing.
    fn vouched(&self, packet: &Packet) -> bool {
        match &packet.body {
            Body::Justified(j) if !self.bft() && j.propose.from == packet.from => {
                if !self.on(Defence::Justify) || self.out_of_bounds(&j.propose.msg) {
                    self.keys.verify_signed(&j.propose).is_ok()
                } else {
                    self.justify.check(j, &self.keys).is_ok()
                }
            }
            Body::Certified {
                commit: Message::Commit { pos, value },
                accepts,
            } => {
                let (quorum, leader_votes) = self.cert_rule();
                let ignored = self.cert_ignored();
                certificate::signers(*pos, value, accepts, &self.keys, &ignored, leader_votes)
                    >= quorum
            }
            _ => false,
        }
    }

    /// What a packet whose signature holds (or our own) means for the core:
    /// one line per kind of body, votes first, accusations after.
    fn accept(&mut self, packet: Packet) -> Verdict {
        let mut v = Verdict::default();
        let from = packet.from;
        let own = from == self.id;
        if !self.cfg.defend || (own && !matches!(packet.body, Body::BftPropose(_))) {
            if own && self.cfg.defend {
                self.keep_own(&packet);
            }
            if let Some(msg) = packet.body.into_message() {
                v.deliver.push((from, msg));
            }
            return v;
        }
        let sig = packet.sig.unwrap_or_default();
        let v_ = &mut v;
        match packet.body {
            body @ (Body::Paxos(Message::Propose { .. } | Message::Prepared { .. })
            | Body::Justified(_))
                if self.bft() =>
            {
                let reason = "BFT mode needs its proofs (justification, certificates)".into();
                Self::dropped(v_, from, &body, reason);
            }
            Body::BftPrepared(p) => self.on_proven(v_, from, *p),
            Body::BftPropose(j) => self.on_justified(v_, from, *j),
            Body::Paxos(msg) if self.out_of_bounds(&msg) => {
                self.on_overreach_drop(v_, from, msg, sig)
            }
            body @ Body::Paxos(Message::Propose { .. }) if self.on(Defence::Justify) => {
                let reason = "Propose without its justification".into();
                Self::dropped(v_, from, &body, reason);
            }
            Body::Paxos(msg) => self.on_plain(v_, from, msg, sig),
            Body::Climb { prepare, witness } => self.on_climb(v_, from, prepare, *witness, sig),
            Body::Justified(j) => self.on_classic_justified(v_, from, *j, sig),
            Body::Certified { commit, accepts } => {
                self.on_certified(v_, from, commit, accepts, sig)
            }
            Body::Echo(s) => self.on_echo(v_, from, s, sig),
            Body::Accuse(proof) => self.on_accusation(v_, from, *proof),
        }
        v
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
