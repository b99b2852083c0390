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
//! The `Middleware` actor only carries packets and ticks to and from it, and
//! the simulator can drive the very same code.

pub mod ballot_bound;
pub mod certificate;
pub mod echo;
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
}

impl Shield {
    /// A shield for node `id`. Without an identity nothing is signed or
    /// verified, and the defences stay off whatever `cfg.defend` says.
    pub fn new(id: NodeId, mut cfg: ShieldConfig, identity: Option<Identity>) -> Self {
        cfg.defend &= identity.is_some();
        Shield {
            id,
            echo: EchoCheck::new(cfg.n, cfg.echo_wait_ticks),
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

    /// Our own votes, signed like any other, back for our core.
    pub fn take_local(&mut self) -> Verdict {
        let mut v = Verdict::default();
        for p in std::mem::take(&mut self.local) {
            match p.body {
                Body::Paxos(msg) | Body::Certified { commit: msg, .. } => {
                    v.deliver.push((self.id, msg))
                }
                Body::Justified(j) => v.deliver.push((self.id, j.propose.msg)),
                _ => {}
            }
        }
        v
    }

    /// What this shield must keep across a crash of its node: the signed
    /// Proposes its core accepted (the core persisted their values).
    pub fn durable(&self) -> BTreeMap<crate::core::Pos, BTreeMap<crate::core::Ballot, Signed>> {
        self.justify.durable()
    }

    /// Restore [`Shield::durable`] after a restart.
    pub fn restore(
        &mut self,
        accepted: BTreeMap<crate::core::Pos, BTreeMap<crate::core::Ballot, Signed>>,
    ) {
        self.justify.restore(accepted);
    }

    fn wrap(&mut self, out: Output) -> Vec<Packet> {
        let (to, msg) = match out {
            Output::Send { to, msg } => (Some(to), msg),
            Output::Broadcast { msg } => (None, msg),
            Output::Event(_) | Output::Persist(_) => return Vec::new(),
        };
        if !self.cfg.defend {
            return vec![self.packet(to, Body::Paxos(msg))];
        }
        // Our own rounds count as seen: answers to them are in bounds.
        self.bound.observe(&msg);
        let body = match &msg {
            Message::Prepare { pos, ballot } => {
                // Our own promise counts as fresh for overtaking.
                self.limit.observe(self.id, *pos, *ballot, self.now);
                self.justify.sent_prepare(*pos, *ballot);
                Body::Paxos(msg)
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
                return v;
            }
        }
        if !self.cfg.defend {
            match packet.body {
                Body::Paxos(msg) | Body::Certified { commit: msg, .. } => {
                    v.deliver.push((from, msg))
                }
                Body::Justified(j) => v.deliver.push((from, j.propose.msg)),
                Body::Echo(_)
                | Body::Evidence(..)
                | Body::Overreach(_)
                | Body::Unjustified { .. }
                | Body::Stale(..) => {}
            }
            return v;
        }
        let sig = packet.sig.clone().unwrap_or_default();
        match packet.body {
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
                self.on_paxos(&mut v, from, msg, sig)
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
                        let body = Body::Unjustified {
                            justification,
                            sig: leader_sig,
                        };
                        Self::dropped(
                            &mut v,
                            from,
                            &body,
                            "accusation without valid evidence".into(),
                        );
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
                    let body = Body::Stale(accept, prepared);
                    Self::dropped(
                        &mut v,
                        from,
                        &body,
                        "accusation without valid evidence".into(),
                    );
                }
            }
            Body::Certified { commit, accepts } => {
                // A node caught ignoring Prepared reports still accepted by
                // the rules as an acceptor (that is how it looks honest), and
                // positions it helped choose before it was caught must stay
                // learnable: its Accepts count. Other flagged nodes' do not.
                let ignored: BTreeSet<NodeId> = self
                    .banned
                    .iter()
                    .copied()
                    .filter(|n| self.evidence.get(n) != Some(&Evidence::IgnoredPrepared))
                    .collect();
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
                        let body = Body::Certified { commit, accepts };
                        Self::dropped(&mut v, from, &body, format!("bad certificate: {e}"));
                    }
                }
            }
            Body::Echo(s) => {
                if self.banned.contains(&s.from) || s.from == self.id {
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
                self.echo.echoed(from, &s);
                if let Seen::Conflict(pair) = self.echo.record(&s) {
                    let (a, b) = *pair;
                    self.convict(&mut v, a, b);
                }
                self.release(&mut v);
            }
            Body::Overreach(s) => {
                // Re-checked here, never taken on the forwarder's word: the
                // signer's own signature, and out of bounds for *us*.
                let valid = self.bound.overreaches(&s.msg) && self.keys.verify_signed(&s).is_ok();
                if valid {
                    self.overreach(&mut v, s);
                } else {
                    let body = Body::Overreach(s);
                    Self::dropped(
                        &mut v,
                        from,
                        &body,
                        "accusation without valid evidence".into(),
                    );
                }
            }
            Body::Evidence(a, b) => {
                let valid = echo::conflicting(&a, &b)
                    && self.keys.verify_signed(&a).is_ok()
                    && self.keys.verify_signed(&b).is_ok();
                if valid {
                    self.convict(&mut v, a, b);
                } else {
                    let body = Body::Evidence(a, b);
                    Self::dropped(
                        &mut v,
                        from,
                        &body,
                        "accusation without valid evidence".into(),
                    );
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
                if self.echo.first_echo(&signed) {
                    v.send.push(self.packet(None, Body::Echo(signed.clone())));
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
mod tests {
    use super::*;
    use crate::core::{Ballot, Pos};

    fn shields(n: usize, defend: bool) -> Vec<Shield> {
        let ids: Vec<Identity> = (0..n as NodeId)
            .map(|i| Identity::from_seed(9, i))
            .collect();
        (0..n as NodeId)
            .map(|i| {
                let mut s = Shield::new(
                    i,
                    ShieldConfig::new(n, defend),
                    Some(ids[i as usize].clone()),
                );
                for (j, id) in ids.iter().enumerate() {
                    s.add_peer_key(j as NodeId, id.public());
                }
                s
            })
            .collect()
    }

    fn propose(pos: Pos, value: &str) -> Message {
        Message::Propose {
            pos,
            ballot: Ballot::new(1, 0),
            value: value.into(),
        }
    }

    fn send(from: &mut Shield, to: NodeId, msg: Message) -> Packet {
        from.outgoing(Output::Send { to, msg }).remove(0)
    }

    #[test]
    fn a_message_signed_by_the_wrong_key_is_dropped() {
        let mut s = shields(3, false);
        // Node 1 signs a packet that claims to come from node 0.
        let mut p = send(&mut s[1], 2, propose(0, "x"));
        p.from = 0;
        let v = s[2].incoming(p);
        assert!(v.deliver.is_empty());
        assert!(matches!(&v.events[..], [Event::Dropped { from: 0, .. }]));
    }

    #[test]
    fn a_re_signed_or_altered_message_is_dropped() {
        let mut s = shields(3, false);
        let mut p = send(&mut s[0], 2, propose(0, "x"));
        p.body = Body::Paxos(propose(0, "y"));
        let v = s[2].incoming(p);
        assert!(v.deliver.is_empty(), "content changed after signing");
        let mut p = send(&mut s[0], 2, propose(0, "x"));
        p.sig = None;
        assert!(s[2].incoming(p).deliver.is_empty(), "unsigned");
        let good = send(&mut s[0], 2, propose(0, "x"));
        assert_eq!(s[2].incoming(good).deliver, vec![(0, propose(0, "x"))]);
    }

    /// Node 0 prepares ballot 1.0 and node 1 promises: node 0's shield can
    /// justify its Proposes in that ballot.
    fn lead(s: &mut [Shield]) {
        let ballot = Ballot::new(1, 0);
        s[0].outgoing(Output::Broadcast {
            msg: Message::Prepare { pos: 0, ballot },
        });
        let p = send(
            &mut s[1],
            0,
            Message::Prepared {
                pos: 0,
                ballot,
                accepted: vec![],
            },
        );
        assert_eq!(s[0].incoming(p).deliver.len(), 1);
    }

    #[test]
    fn an_equivocating_leader_is_convicted_by_the_echo() {
        let mut s = shields(3, true);
        lead(&mut s);
        let to1 = send(&mut s[0], 1, propose(0, "a"));
        let to2 = send(&mut s[0], 2, propose(0, "b"));
        let v1 = s[1].incoming(to1);
        assert!(v1.deliver.is_empty(), "held until the echoes are in");
        let echo = v1.send.into_iter().next().expect("node 1 echoes");
        let v2 = s[2].incoming(to2);
        assert!(v2.deliver.is_empty());
        let v = s[2].incoming(echo);
        assert!(
            v.deliver.is_empty(),
            "the conflicting Propose never reaches the core"
        );
        assert!(s[2].flagged().contains(&0));
        let evidence = v
            .send
            .into_iter()
            .find(|p| matches!(p.body, Body::Evidence(..)))
            .expect("evidence forwarded");
        // Node 1 checks the evidence itself and flags the leader too.
        s[1].incoming(evidence);
        assert!(s[1].flagged().contains(&0));
    }

    #[test]
    fn a_propose_ignoring_its_reports_is_refused_flagged_and_proven_but_never_forged() {
        let mut s = shields(3, true);
        let ballot = Ballot::new(1, 0);
        s[0].outgoing(Output::Broadcast {
            msg: Message::Prepare { pos: 0, ballot },
        });
        let report = Message::Prepared {
            pos: 0,
            ballot,
            accepted: vec![(0, Ballot::new(0, 1), "w".into())],
        };
        let p = send(&mut s[1], 0, report);
        s[0].incoming(p);
        // Node 0's core ignores the report and proposes 'u'.
        let bad = send(&mut s[0], 2, propose(0, "u"));
        assert!(matches!(bad.body, Body::Justified(_)));
        let v = s[2].incoming(bad.clone());
        assert!(v.deliver.is_empty(), "refused");
        assert_eq!(s[2].evidence().get(&0), Some(&Evidence::IgnoredPrepared));
        let evidence = v
            .send
            .into_iter()
            .find(|p| matches!(p.body, Body::Unjustified { .. }))
            .expect("forwarded");
        s[1].incoming(evidence);
        assert!(s[1].flagged().contains(&0), "node 1 re-checked it");
        // Node 2 forges an accusation against honest node 1: a justification
        // signed by itself in node 1's name does not verify.
        let mut s = shields(3, true);
        let Body::Justified(j) = bad.body else {
            unreachable!()
        };
        let sig = Identity::from_seed(9, 2).sign(0, &Body::Justified(j.clone()));
        let forged = s[2].packet(
            None,
            Body::Unjustified {
                justification: j,
                sig,
            },
        );
        let v = s[1].incoming(forged);
        assert!(s[1].flagged().is_empty());
        assert!(v.send.is_empty());
        // And a bare Propose is refused without flagging anyone.
        let p = s[0].packet(Some(1), Body::Paxos(propose(0, "x")));
        assert!(s[1].incoming(p).deliver.is_empty());
        assert!(s[1].flagged().is_empty());
    }

    #[test]
    fn an_accusation_without_valid_evidence_changes_nothing() {
        let mut s = shields(3, true);
        // Node 2 forges "evidence" against honest node 0: the second Propose
        // is signed by node 2, not node 0.
        let a = Identity::from_seed(9, 0).sign_message(0, propose(0, "a"));
        let mut b = Identity::from_seed(9, 2).sign_message(2, propose(0, "b"));
        b.from = 0;
        let p = s[2].packet(None, Body::Evidence(a, b));
        let v = s[1].incoming(p);
        assert!(s[1].flagged().is_empty());
        assert!(v.send.is_empty());
    }

    fn prepare(round: u64, node: NodeId) -> Message {
        Message::Prepare {
            pos: 0,
            ballot: Ballot::new(round, node),
        }
    }

    #[test]
    fn an_out_of_bound_ballot_is_dropped_flagged_and_proven_to_the_others() {
        let mut s = shields(3, true);
        let p = s[2].outgoing(Output::Broadcast {
            msg: prepare(u64::MAX, 2),
        });
        let v = s[0].incoming(p[0].clone());
        assert!(v.deliver.is_empty(), "the core never sees it");
        assert!(s[0].flagged().contains(&2));
        let evidence = v
            .send
            .into_iter()
            .find(|p| matches!(p.body, Body::Overreach(_)))
            .expect("the signed Prepare is forwarded");
        // Node 1 re-checks it itself (signature, and out of bounds for it).
        let v1 = s[1].incoming(evidence);
        assert!(s[1].flagged().contains(&2));
        assert!(v1.deliver.is_empty());
        // Once flagged, nothing of node 2 gets through, nor its own Prepare.
        assert!(s[1].incoming(p[0].clone()).deliver.is_empty());
    }

    #[test]
    fn honest_climbing_through_the_shields_never_trips_the_bound() {
        let mut s = shields(3, true);
        // Proposers preempting each other in turn, one round at a time, and
        // a SAFETY-style jump of 100 now and then.
        let mut round = 0u64;
        for i in 0..3000u64 {
            round += if i % 500 == 499 { 100 } else { 1 };
            let from = (i % 3) as usize;
            // Honest proposers wait for a competitor's promise to age (the
            // LIVENESS defence's rule), so let the ticks pass.
            for x in s.iter_mut() {
                for _ in 0..2 * x.cfg.grace_ticks {
                    x.tick();
                }
            }
            let packets = s[from].outgoing(Output::Broadcast {
                msg: prepare(round, from as NodeId),
            });
            for to in (0..3).filter(|&t| t != from) {
                let v = s[to].incoming(packets[0].clone());
                assert_eq!(v.deliver.len(), 1, "round {round} to {to}: {v:?}");
            }
        }
        assert!(s.iter().all(|x| x.flagged().is_empty()));
    }

    #[test]
    fn an_overreach_accusation_against_an_honest_node_is_ignored() {
        let mut s = shields(3, true);
        // Node 2 claims node 0's in-bound Prepare is an overreach.
        let honest = Identity::from_seed(9, 0).sign_message(0, prepare(5, 0));
        let p = s[2].packet(None, Body::Overreach(honest));
        let v = s[1].incoming(p);
        assert!(s[1].flagged().is_empty());
        assert!(v.send.is_empty());
        // Or forges an out-of-bound one in node 0's name, signed by itself.
        let mut forged = Identity::from_seed(9, 2).sign_message(2, prepare(u64::MAX, 0));
        forged.from = 0;
        let p = s[2].packet(None, Body::Overreach(forged));
        s[1].incoming(p);
        assert!(s[1].flagged().is_empty());
    }

    #[test]
    fn the_bound_is_configurable() {
        let ids: Vec<Identity> = (0..2).map(|i| Identity::from_seed(9, i)).collect();
        let cfg = ShieldConfig {
            max_jump: 10,
            ..ShieldConfig::new(2, true)
        };
        let mut s = Shield::new(0, cfg, Some(ids[0].clone()));
        s.add_peer_key(1, ids[1].public());
        let mut peer = Shield::new(1, ShieldConfig::new(2, true), Some(ids[1].clone()));
        let ok = peer.outgoing(Output::Broadcast {
            msg: prepare(10, 1),
        });
        assert_eq!(s.incoming(ok[0].clone()).deliver.len(), 1);
        let far = peer.outgoing(Output::Broadcast {
            msg: prepare(21, 1),
        });
        assert!(s.incoming(far[0].clone()).deliver.is_empty());
        assert!(s.flagged().contains(&1));
    }

    /// Node `i`'s signed Accept of 'x' at pos 0, ballot 1.0.
    fn signed_accept(i: NodeId) -> Signed {
        Identity::from_seed(9, i).sign_message(
            i,
            Message::Accept {
                pos: 0,
                ballot: Ballot::new(1, 0),
                value: "x".into(),
            },
        )
    }

    #[test]
    fn a_commit_without_a_quorum_certificate_is_refused() {
        let mut s = shields(3, true);
        let commit = Message::Commit {
            pos: 0,
            value: "x".into(),
        };
        // Bare Commit: refused.
        let p = send(&mut s[0], 1, commit.clone());
        assert!(s[1].incoming(p).deliver.is_empty());
        // Certificate with only the leader's own Accept: refused.
        let own = signed_accept(0);
        let p = s[0].packet(
            Some(1),
            Body::Certified {
                commit: commit.clone(),
                accepts: vec![own.clone(), own.clone()],
            },
        );
        assert!(
            s[1].incoming(p).deliver.is_empty(),
            "one signer counted twice"
        );
        // With node 2's signed Accept too: a quorum of 2, applied.
        let other = signed_accept(2);
        let p = s[0].packet(
            Some(1),
            Body::Certified {
                commit: commit.clone(),
                accepts: vec![own, other],
            },
        );
        assert_eq!(s[1].incoming(p).deliver, vec![(0, commit)]);
    }
}
