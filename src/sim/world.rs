//! The simulated world: every member's participant (honest replica,
//! attacker or twin) behind its own [`Shield`], the [`Net`] between them, the
//! [`Client`], and logical time — driven one tick at a time by plain code.
//!
//! Each member is a [`Node`], built by the [`ClusterSpec`] as every runtime
//! builds it: the very composition of process and shield the actors and the
//! node processes run. A step is one delivered packet, one tick or one
//! client request of one member; its [`Ready`](crate::node::Ready) is carried
//! out in order (persist, then packets onto the network, then events), and
//! the safety invariants are checked after each.
//!
//! Durability is modelled as a node process keeps it with `--data-dir`:
//! every write of the core and every proof of the shield a step asks to keep
//! goes into the member's [`Saved`] before the step's packets go out, a crash
//! drops everything else (queue, slots in flight, the shield's volatile
//! state, whom it flagged), and a restart is [`ClusterSpec::rebuild`] from
//! exactly that — the function a node process restarts through.

use super::config::SimConfig;
use super::invariants::{Invariants, Violation};
use super::network::{Faults, InFlight, Net, Sent};
use crate::client::Client;
use crate::cluster::{ClusterSpec, Saved};
use crate::core::{Event, NodeId, PosMap, Value};
use crate::kv::{Op, Reply, Store};
use crate::node::{Node, NodeInput, Ready};
use crate::trace::{self, Lane, LaneId, Step, Trace};
use crate::wire::{Body, Packet};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};

/// What a member is, for the invariants (only honest logs count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Honest,
    Attacker,
    /// One of two copies of one node: together they are a Byzantine node.
    Twin,
}

struct Member {
    id: NodeId,
    role: Role,
    /// The running node; after a crash, what it was (its shield still says
    /// whom it had flagged) until it restarts.
    node: Node,
    up: bool,
    /// What this member persisted, as its data directory would hold it.
    saved: Saved,
    /// The key-value store it applies its committed log to, when the run
    /// drives a KV workload (honest members only): rebuilt from the log on
    /// restart, as a node process rebuilds it from its data directory.
    store: Option<Store>,
    /// How often its store applied each (client, seq) as a fresh command,
    /// since it last started: exactly once is 1.
    fresh: Applications,
}

/// How often a store applied each (client, seq) as a fresh command.
pub type Applications = BTreeMap<(u64, u64), u32>;

/// A node's answer to a client's KV command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvReply {
    pub client: u64,
    pub seq: u64,
    pub reply: Reply,
    pub by: NodeId,
}

/// A node's answer to a read by read-index: `index` once it may be
/// answered from `member`'s store (only an honest member's counts), `None`
/// refused, with whom to ask instead if it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadAnswer {
    pub id: u64,
    pub member: usize,
    pub index: Option<crate::core::Pos>,
    pub leader: Option<NodeId>,
}

/// A violation and the tick it happened at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub tick: u64,
    pub violation: Violation,
    /// The packet whose delivery broke it (`from→to message`), when a
    /// delivery did.
    pub cause: Option<String>,
}

/// A packet in flight, as the explorer lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Flying {
    /// Stable while it flies: what an action names it by.
    pub id: u64,
    /// The tick it would arrive at on its own.
    pub due: u64,
    pub from: NodeId,
    pub to: NodeId,
    /// The member it is for (twins share a node id).
    pub member: usize,
    /// The kind of body (`Propose`, `Echo`, …).
    pub kind: String,
    pub pos: Option<crate::core::Pos>,
    /// The ballot of the message it carries, if it names one.
    pub ballot: Option<String>,
    /// The value it carries, if any.
    pub value: Option<String>,
    /// The message in full.
    pub text: String,
    /// Signed (and so checked by the receiver's middleware).
    pub signed: bool,
    /// The extra copy of a duplicated packet.
    pub duplicate: bool,
    /// Its link is cut: delivering it loses it.
    pub cut: bool,
}

pub struct World {
    spec: ClusterSpec,
    /// Every node's verifying key, when the cluster signs.
    keys: Vec<[u8; 32]>,
    rng: ChaCha8Rng,
    now: u64,
    steps: u64,
    members: Vec<Member>,
    net: Net,
    faults: Faults,
    client: Client,
    invariants: Invariants,
    violation: Option<Found>,
    /// Each honest member's first accusation of each node, with its reason.
    accusations: Vec<(NodeId, NodeId, String)>,
    resend: bool,
    /// Redirects the last ask drew: (by, value, leader named).
    redirects: Vec<(NodeId, Value, NodeId)>,
    /// Ticks the client waits for a value before asking another node
    /// ([`Client::overdue`]); 0: never.
    patience: u64,
    trace: Option<Vec<String>>,
    /// The sequence chart being drawn (`--replay --trace FILE`).
    chart: Option<Chart>,
    /// Replies of the members' stores not yet taken ([`World::take_replies`]).
    replies: Vec<KvReply>,
    /// Answers to reads by read-index not yet taken ([`World::take_reads`]).
    reads: Vec<ReadAnswer>,
    /// The packet being delivered, for a violation's cause.
    delivering: Option<String>,
    /// The members have ticked at `now` ([`World::next`] goes one step
    /// of a tick at a time).
    ticked: bool,
    /// Each member's latest events, newest last, when kept ([`World::keep_notes`]).
    notes: Option<Vec<Vec<String>>>,
    /// Compactions and installs by honest nodes ([`World::snapshots`]).
    snapshots: (u64, u64),
    /// [`World::peak_kept`].
    peak_kept: usize,
}

/// Events kept per member for [`World::notes`].
const NOTES: usize = 8;

/// Rows of a sequence chart, for messages about `positions` only.
struct Chart {
    positions: std::ops::Range<crate::core::Pos>,
    steps: Vec<Step>,
}

/// Rows in a chart; past this the chart says it stopped.
const MAX_CHART_STEPS: usize = 1500;

/// The protocol message a body carries (an echo's or a proof's inner one);
/// `None` for an accusation.
fn carried(body: &Body) -> Option<&crate::core::Message> {
    match body {
        Body::Paxos(m) | Body::Certified { commit: m, .. } | Body::Climb { prepare: m, .. } => {
            Some(m)
        }
        Body::Echo(s) => Some(&s.msg),
        Body::BftPrepared(p) => Some(&p.prepared.msg),
        Body::BftPropose(j) => Some(&j.propose.msg),
        Body::Justified(j) => Some(&j.propose.msg),
        Body::Accuse(_) => None,
    }
}

/// The value a message carries, if any.
fn value_of(m: &crate::core::Message) -> Option<String> {
    use crate::core::Message as M;
    match m {
        M::Propose { value, .. } | M::Accept { value, .. } | M::Commit { value, .. } => {
            Some(value.to_string())
        }
        _ => None,
    }
}

/// A short description of a packet body, for the trace.
fn describe(body: &Body) -> String {
    match body {
        Body::Paxos(m) => m.to_string(),
        Body::Certified { commit, accepts } => format!("{commit}+cert of {}", accepts.len()),
        Body::Echo(s) => format!("Echo of node {}'s {}", s.from, s.msg),
        Body::Accuse(p) => p.to_string(),
        Body::Climb { prepare, witness } => {
            format!(
                "{prepare} justified by node {}'s {}",
                witness.from, witness.msg
            )
        }
        Body::BftPrepared(p) => format!("{} with {} proofs", p.prepared.msg, p.proofs.len()),
        Body::BftPropose(j) => format!(
            "{} justified by {} Prepareds",
            j.propose.msg,
            j.justification.len()
        ),
        Body::Justified(j) => format!(
            "{} justified by {} Prepared{}",
            j.propose.msg,
            j.prepareds.len(),
            if j.own.is_some() { " and its own" } else { "" }
        ),
    }
}

impl World {
    /// Members `0..nodes` are nodes `0..nodes` (the attacker, if any, at
    /// `cfg.attacker`); a twin, if asked for, is one more member.
    pub fn new(cfg: &SimConfig, seed: u64) -> World {
        let spec = cfg.spec(seed);
        let n = spec.nodes;
        let keys = if spec.signs() {
            (0..n as NodeId)
                .map(|i| spec.identity(i).public())
                .collect()
        } else {
            Vec::new()
        };
        let mut w = World {
            spec,
            keys,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5349_4d57_4f52_4c44),
            now: 0,
            steps: 0,
            members: Vec::new(),
            net: Net::new(cfg.max_delay),
            faults: Faults {
                loss: 0.0,
                dup: 0.0,
            },
            client: Client::new(0..n as NodeId),
            invariants: Invariants::new(cfg.attack.is_some()),
            violation: None,
            accusations: Vec::new(),
            resend: false,
            redirects: Vec::new(),
            patience: cfg.patience,
            trace: cfg.trace.then(Vec::new),
            chart: cfg.chart.clone().map(|positions| Chart {
                positions,
                steps: Vec::new(),
            }),
            replies: Vec::new(),
            reads: Vec::new(),
            delivering: None,
            ticked: true,
            notes: None,
            snapshots: (0, 0),
            peak_kept: 0,
        };
        for id in (0..n as NodeId).chain(cfg.twins) {
            let role = match (cfg.twins == Some(id), w.spec.role(id)) {
                (true, _) => Role::Twin,
                (false, crate::cluster::Role::Attacker(_)) => Role::Attacker,
                (false, crate::cluster::Role::Honest) => Role::Honest,
            };
            let node = w.build(id, None);
            let store = (cfg.kv.is_some() && role == Role::Honest).then(Store::default);
            w.members.push(Member {
                id,
                role,
                node,
                up: true,
                saved: Saved::default(),
                store,
                fresh: BTreeMap::new(),
            });
        }
        w
    }

    /// Node `id` as the spec builds it: fresh, or rebuilt from `saved`. Its
    /// shield knows every key and tracks what it must keep.
    fn build(&self, id: NodeId, saved: Option<Saved>) -> Node {
        let identity = || self.spec.identity(id);
        let member = match saved {
            None => self.spec.member(id, identity),
            Some(saved) => self.spec.rebuild(id, identity, saved),
        };
        let mut node = Node::new(member);
        for (j, key) in self.keys.iter().enumerate() {
            node.shield_mut().add_peer_key(j as NodeId, *key);
        }
        if !self.spec.defences.is_empty() {
            // What a node process appends to proofs.log (with the defences
            // on, the only case it keeps one).
            node.shield_mut().track_durable();
        }
        node
    }

    /// Add a row to the chart, if one is drawn and it has room.
    fn draw(&mut self, step: impl FnOnce() -> Step) {
        if let Some(c) = &mut self.chart {
            if c.steps.len() < MAX_CHART_STEPS {
                c.steps.push(step());
            }
        }
    }

    /// Draw a message, if it is about a charted position.
    fn draw_packet(&mut self, from: NodeId, to: NodeId, body: &Body, dropped: bool) {
        let shown = self
            .chart
            .as_ref()
            .is_some_and(|c| trace::position(body).is_some_and(|p| c.positions.contains(&p)));
        if shown {
            self.draw(|| Step::Arrow {
                from: LaneId::Node(from),
                to: LaneId::Node(to),
                label: trace::label(body),
                dropped,
            });
        }
    }

    /// Draw a note on node `id`'s lane.
    fn draw_note(&mut self, id: NodeId, text: String, alarm: bool) {
        self.draw(|| Step::Note {
            lane: LaneId::Node(id),
            text,
            alarm,
        });
    }

    /// The chart drawn so far, with each member's lane and log.
    pub fn chart(&self, title: String, attack: Option<String>) -> Option<Trace> {
        let c = self.chart.as_ref()?;
        let mut lanes = vec![Lane {
            id: LaneId::Coordinator,
            attack: None,
            log: Vec::new(),
        }];
        for (m, member) in self.members.iter().enumerate() {
            let id = LaneId::Node(member.id);
            // Twins share an id: one lane says it.
            if lanes.iter().any(|l| l.id == id) {
                continue;
            }
            lanes.push(Lane {
                id,
                attack: match member.role {
                    Role::Honest => None,
                    Role::Attacker => attack.clone().or_else(|| Some("unnamed".into())),
                    Role::Twin => Some("twin".into()),
                },
                log: self.log(m).into_values().map(|v| v.to_string()).collect(),
            });
        }
        let mut caption = format!(
            "simulated, logical time; messages about positions {}..{}",
            c.positions.start, c.positions.end
        );
        if c.steps.len() >= MAX_CHART_STEPS {
            caption.push_str(&format!("; the first {MAX_CHART_STEPS} rows"));
        }
        Some(Trace {
            title,
            caption,
            lanes,
            steps: c.steps.clone(),
        })
    }

    fn log_line(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push(format!("t={:<5} {}", self.now, line()));
        }
    }

    /// The current tick.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Steps taken so far (deliveries and member ticks).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The first invariant broken, if any.
    pub fn violation(&self) -> Option<&Found> {
        self.violation.as_ref()
    }

    /// The trace so far (empty unless tracing).
    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or(&[])
    }

    /// Take the trace.
    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.take().unwrap_or_default()
    }

    /// How many members (nodes, plus a twin).
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Member `m`'s node id.
    pub fn id_of(&self, m: usize) -> NodeId {
        self.members[m].id
    }

    /// Member `m`'s role.
    pub fn role(&self, m: usize) -> Role {
        self.members[m].role
    }

    /// Whether member `m` is running.
    pub fn is_up(&self, m: usize) -> bool {
        self.members[m].up
    }

    /// Member `m`'s committed log (empty while crashed).
    pub fn log(&self, m: usize) -> BTreeMap<crate::core::Pos, Value> {
        let member = &self.members[m];
        match member.up {
            true => member.node.log().to_btree(),
            false => BTreeMap::new(),
        }
    }

    /// Nodes that honest members' shields flagged.
    pub fn detected(&self) -> BTreeSet<NodeId> {
        let honest = self
            .members
            .iter()
            .filter(|m| m.role == Role::Honest)
            .map(|m| m.id)
            .collect();
        // A twin shares its original's id: only honest members report.
        crate::verdict::detected(
            self.members
                .iter()
                .filter(|m| m.role == Role::Honest)
                .map(|m| (m.id, m.node.shield().flagged())),
            &honest,
        )
    }

    /// Each honest member's first accusation of each node: (reporter,
    /// accused, reason), in the order they were made.
    pub fn accusations(&self) -> &[(NodeId, NodeId, String)] {
        &self.accusations
    }

    /// The logs of the honest members, by node id (a crashed one's is empty).
    pub fn honest_logs(&self) -> BTreeMap<NodeId, BTreeMap<crate::core::Pos, Value>> {
        (0..self.members.len())
            .filter(|m| self.members[*m].role == Role::Honest)
            .map(|m| (self.members[m].id, self.log(m)))
            .collect()
    }

    /// The kinds of evidence honest members' shields flagged nodes on.
    pub fn evidence(&self) -> BTreeSet<crate::middleware::Evidence> {
        self.members
            .iter()
            .filter(|m| m.role == Role::Honest)
            .flat_map(|m| m.node.shield().evidence().values().copied())
            .collect()
    }

    /// The highest ballot round any member's middleware has seen.
    pub fn max_round_seen(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.node.shield().max_round_seen())
            .max()
            .unwrap_or(0)
    }

    /// Nodes member `m`'s shield flagged.
    pub fn flagged_by(&self, m: usize) -> &BTreeSet<NodeId> {
        self.members[m].node.shield().flagged()
    }

    /// Loss and duplication from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Cut the link between members `a` and `b`.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.net.cut(a, b);
    }

    /// Split the members into `side` and the rest.
    pub fn partition(&mut self, side: &BTreeSet<usize>) {
        for a in side {
            for b in 0..self.members.len() {
                if !side.contains(&b) {
                    self.net.cut(*a, b);
                }
            }
        }
        self.log_line(|| format!("PARTITION {side:?} | the rest"));
        for &m in side {
            let id = self.members[m].id;
            self.draw_note(id, format!("partitioned with {side:?}"), true);
        }
    }

    /// Cut every link between a member of `a` and a member of `b`.
    pub fn split(&mut self, a: &BTreeSet<usize>, b: &BTreeSet<usize>) {
        for &x in a {
            for &y in b {
                self.net.cut(x, y);
            }
        }
        self.log_line(|| format!("SPLIT {a:?} | {b:?} (both still reach the others)"));
    }

    /// Restore every link.
    pub fn heal(&mut self) {
        if self.net.partitioned() {
            self.net.heal();
            self.log_line(|| "partition healed".to_string());
        }
    }

    /// The client asks member `m` to propagate `value`.
    /// If the client has flagged that node, it asks a trusted one instead.
    pub fn request(&mut self, m: usize, value: Value) {
        self.invariants.requested(&value);
        let mut m = m;
        if let Some(id) = self.client.route(self.members[m].id) {
            if id != self.members[m].id {
                m = self.members.iter().position(|x| x.id == id).unwrap_or(m);
            }
        }
        self.hand(m, value, NodeInput::Request);
    }

    /// The client asks the node it follows for `value` ([`Client::pick`]);
    /// a node that names another leader has the client ask that one
    /// ([`Client::redirected`]), which proposes it.
    pub fn ask(&mut self, value: Value) {
        self.invariants.requested(&value);
        let Some(id) = self.client.pick() else {
            return;
        };
        let Some(m) = self.members.iter().position(|x| x.id == id) else {
            return;
        };
        self.hand(m, value, NodeInput::Ask);
        for (by, value, leader) in std::mem::take(&mut self.redirects) {
            if let Some(to) = self.client.redirected(&value, by, leader) {
                self.ask_again(value, to, &format!("node {by} names it the leader"));
            }
        }
    }

    /// Give `value` to member `m` as `input` says, if it is up; the client
    /// records the ask either way.
    fn hand(&mut self, m: usize, value: Value, input: fn(Value) -> NodeInput) {
        let id = self.members[m].id;
        self.client.asked(value.clone(), id, self.now);
        if !self.is_up(m) {
            self.log_line(|| format!("client cannot reach node {id} for '{value}' (down)"));
            return;
        }
        self.log_line(|| format!("client asks node {id} to propagate '{value}'"));
        self.draw(|| Step::Arrow {
            from: LaneId::Coordinator,
            to: LaneId::Node(id),
            label: format!("Propagate '{value}'"),
            dropped: false,
        });
        self.step(m, input(value));
    }

    /// Member `m` crashes: everything not persisted is lost.
    pub fn crash(&mut self, m: usize) {
        if std::mem::replace(&mut self.members[m].up, false) {
            let id = self.members[m].id;
            self.log_line(|| format!("CRASH node {id}"));
            self.draw_note(id, "CRASH".into(), true);
        }
    }

    /// Member `m` restarts from what it persisted, as a node process does
    /// from its data directory ([`ClusterSpec::rebuild`]): its core's
    /// writes and its shield's proofs; whom it flagged is forgotten. The
    /// client re-sends what it had asked of it and has not seen committed.
    pub fn restart(&mut self, m: usize) {
        if self.is_up(m) {
            return;
        }
        let id = self.members[m].id;
        let saved = self.members[m].saved.clone();
        let (commits, promises) = (saved.core.log.len(), saved.core.acceptor.len());
        self.members[m].node = self.build(id, Some(saved));
        self.members[m].up = true;
        if let Some(store) = &mut self.members[m].store {
            *store = Store::default();
            self.members[m].fresh.clear();
        }
        self.log_line(|| {
            format!("RESTART node {id} with {commits} commits and {promises} promises persisted")
        });
        self.draw_note(id, format!("RESTART ({commits} commits kept)"), true);
        self.check(m);
        for value in self.client.restarted(id) {
            self.log_line(|| format!("client re-sends '{value}' to restarted node {id}"));
            self.step(m, NodeInput::Request(value));
        }
    }

    fn check(&mut self, m: usize) {
        let member = &self.members[m];
        if member.role != Role::Honest || self.violation.is_some() {
            return;
        }
        if !member.up {
            return;
        }
        let base = member.node.snapshot().map_or(0, |s| s.upto);
        if let Err(violation) = self.invariants.check(m, member.id, member.node.log(), base) {
            let tick = self.now;
            self.log_line(|| format!("VIOLATION {violation}"));
            let id = self.members[m].id;
            self.draw_note(id, format!("VIOLATION {violation}"), true);
            let cause = self.delivering.clone();
            self.violation = Some(Found {
                tick,
                violation,
                cause,
            });
        }
    }

    /// Feed one input to member `m` and carry out what it asks, in the
    /// order of its [`Ready`]: keep, send, report.
    fn step(&mut self, m: usize, input: NodeInput) {
        if !self.is_up(m) {
            return;
        }
        let ready = self.members[m].node.step(input);
        self.carry_out(m, ready);
        self.check(m);
        self.apply(m);
    }

    /// Member `m`'s store applies what its log committed since; each reply
    /// goes to the client.
    fn apply(&mut self, m: usize) {
        let every = self.spec.tunables.snapshot_every;
        let member = &mut self.members[m];
        let Some(store) = &mut member.store else {
            return;
        };
        let followed = match store.follow(member.node.process(), every) {
            Ok(followed) => followed,
            Err(e) => {
                let id = member.id;
                self.log_line(|| format!("node {id}: {e}"));
                return;
            }
        };
        for a in followed.applied {
            if a.fresh {
                *member.fresh.entry((a.client, a.seq)).or_default() += 1;
            }
            if let Some(reply) = a.reply {
                self.replies.push(KvReply {
                    client: a.client,
                    seq: a.seq,
                    reply,
                    by: member.id,
                });
            }
        }
        if let Some(snap) = followed.compact {
            self.step(m, NodeInput::Compact(snap));
        }
    }

    /// The client asks member `m` for read `id` by read-index; a member
    /// that is down refuses it at once.
    pub fn read_index(&mut self, m: usize, id: u64) {
        let node = self.members[m].id;
        self.log_line(|| format!("client asks node {node} for read {id} by read-index"));
        match self.is_up(m) {
            true => self.step(m, NodeInput::Read(id)),
            false => self.reads.push(ReadAnswer {
                id,
                member: m,
                index: None,
                leader: None,
            }),
        }
    }

    /// The answers to reads by read-index since the last call, in order.
    /// (An attacker's "ready" counts as a refusal: it keeps no store.)
    pub fn take_reads(&mut self) -> Vec<ReadAnswer> {
        std::mem::take(&mut self.reads)
    }

    /// Member `m`'s store answers a read of `key` that read-index confirmed
    /// at `index`: `None` if it is down or has not applied that far.
    pub fn read_confirmed(&self, m: usize, key: &str, index: crate::core::Pos) -> Option<Reply> {
        let member = &self.members[m];
        let store = member.store.as_ref().filter(|_| member.up)?;
        (store.applied_up_to() >= index).then(|| store.read_here(key))
    }

    /// The member the client follows now (the leader it knows, else one it
    /// trusts), for a read by read-index.
    pub fn followed(&mut self) -> Option<usize> {
        let id = self.client.pick()?;
        self.members.iter().position(|x| x.id == id)
    }

    /// The replies the members' stores gave since the last call, in order.
    pub fn take_replies(&mut self) -> Vec<KvReply> {
        std::mem::take(&mut self.replies)
    }

    /// Member `m` answers a read from its own store, without the log: the
    /// classic mistake (a follower's state may be behind), kept as a
    /// planted bug the linearizability check must catch. `None`: the
    /// member is down or keeps no store.
    pub fn read_local(&mut self, m: usize, op: &Op) -> Option<Reply> {
        let member = &self.members[m];
        let store = member.store.as_ref().filter(|_| member.up)?;
        let reply = store.read_here(op.key());
        let id = member.id;
        self.log_line(|| format!("node {id} answers {op:?} from its own store: {reply:?}"));
        Some(reply)
    }

    /// The client has its answer for `value`: it stops asking for it.
    pub fn answered(&mut self, value: &Value) {
        self.client.committed(value, self.now);
    }

    /// Per honest member running a store: how often it applied each
    /// (client, seq) fresh since it last started.
    /// With its store: what it holds may have been applied by the peers
    /// whose snapshot it installed.
    pub fn applications(&self) -> Vec<(NodeId, &Applications, &Store)> {
        (self.members.iter())
            .filter(|m| m.up)
            .filter_map(|m| Some((m.id, &m.fresh, m.store.as_ref()?)))
            .collect()
    }

    /// Snapshots honest nodes took of their stores, and snapshots they
    /// installed from peers because they were behind, so far.
    pub fn snapshots(&self) -> (u64, u64) {
        self.snapshots
    }

    /// The most entries any honest node's durable state held at once, so
    /// far: its log, acceptor slots and the middleware's proofs (what a
    /// node process keeps in its data directory, beside one snapshot).
    pub fn peak_kept(&self) -> usize {
        self.peak_kept
    }

    /// Every running store has applied its whole log: no honest log has a
    /// hole (what a KV run waits for before it is judged live).
    pub fn stores_caught_up(&self) -> bool {
        self.members.iter().all(|m| match &m.store {
            Some(store) => {
                let base = m.node.snapshot().map_or(0, |s| s.upto);
                m.up && store.applied_up_to() == base + m.node.log().len() as u64
            }
            None => true,
        })
    }

    /// Commands committed at more than one position of some honest log
    /// (asked again and committed twice; applied once).
    pub fn committed_twice(&self) -> usize {
        let mut worst = 0;
        for m in self.members.iter().filter(|m| m.role == Role::Honest) {
            let mut seen = BTreeMap::<&str, u32>::new();
            for v in m.node.log().values() {
                for item in v.items() {
                    *seen.entry(item).or_default() += 1;
                }
            }
            let twice = seen
                .iter()
                .filter(|(v, n)| **n > 1 && crate::kv::Command::decode(v).is_some())
                .count();
            worst = worst.max(twice);
        }
        worst
    }

    fn carry_out(&mut self, m: usize, ready: Ready) {
        self.steps += ready.steps;
        let saved = &mut self.members[m].saved;
        for w in ready.persist {
            saved.core.apply(w);
        }
        if let Some(below) = ready.forgot {
            saved.proofs.forget_below(below);
        }
        if let Some(proofs) = ready.proofs {
            saved.proofs.merge(proofs);
        }
        if self.members[m].role == Role::Honest {
            let kept = self.members[m].saved.kept();
            self.peak_kept = self.peak_kept.max(kept);
        }
        for p in ready.packets {
            self.route(m, p);
        }
        for e in ready.events {
            self.event(m, e);
        }
    }

    fn event(&mut self, m: usize, e: Event) {
        let (id, honest) = (self.members[m].id, self.members[m].role == Role::Honest);
        if honest {
            match &e {
                Event::Committed { value, .. } => self.client.committed(value, self.now),
                Event::Compacted { .. } => self.snapshots.0 += 1,
                Event::Installed { .. } => self.snapshots.1 += 1,
                Event::Redirected { value, leader } => {
                    self.redirects.push((id, value.clone(), *leader))
                }
                Event::ReadReady { id: read, index } => self.reads.push(ReadAnswer {
                    id: *read,
                    member: m,
                    index: self.members[m].store.is_some().then_some(*index),
                    leader: None,
                }),
                Event::ReadRefused { id: read, leader } => self.reads.push(ReadAnswer {
                    id: *read,
                    member: m,
                    index: None,
                    leader: *leader,
                }),
                Event::Flagged { node, reason } => {
                    self.client.flagged(*node);
                    self.resend = true;
                    if !self
                        .accusations
                        .iter()
                        .any(|(b, a, _)| (*b, *a) == (id, *node))
                    {
                        self.accusations.push((id, *node, reason.clone()));
                    }
                }
                _ => {}
            }
        }
        self.log_line(|| format!("node {id}: {e}"));
        if let Some(notes) = &mut self.notes {
            let n = &mut notes[m];
            if n.len() == NOTES {
                n.remove(0);
            }
            n.push(format!("t={} {e}", self.now));
        }
        if self.chart.is_some() {
            let range = self
                .chart
                .as_ref()
                .map(|c| c.positions.clone())
                .unwrap_or_default();
            match &e {
                Event::Flagged { .. } | Event::Dropped { .. } | Event::Conflict { .. } => {
                    self.draw_note(id, e.to_string(), true)
                }
                Event::Committed { pos, .. } if range.contains(pos) => {
                    self.draw_note(id, e.to_string(), false)
                }
                Event::Note(n) => self.draw_note(id, n.clone(), false),
                _ => {}
            }
        }
    }

    /// Put a packet from member `src` on the network to every member it is for.
    fn route(&mut self, src: usize, packet: Packet) {
        for dst in 0..self.members.len() {
            let to_it = match packet.to {
                Some(to) => self.members[dst].id == to,
                None => self.members[dst].id != packet.from,
            };
            if dst == src || !to_it {
                continue;
            }
            let sent = self.net.send(
                &mut self.rng,
                self.now,
                self.faults,
                src,
                dst,
                packet.clone(),
            );
            if sent == Sent::Lost {
                let (from, to) = (packet.from, self.members[dst].id);
                self.log_line(|| format!("lost {from}→{to} {}", describe(&packet.body)));
                self.draw_packet(from, to, &packet.body, true);
            }
        }
    }

    fn deliver(&mut self, f: InFlight) {
        let (from, to) = (f.packet.from, self.members[f.dst].id);
        if self.net.is_cut(f.src, f.dst) {
            self.log_line(|| format!("cut {from}→{to} {}", describe(&f.packet.body)));
            self.draw_packet(from, to, &f.packet.body, true);
            return;
        }
        if !self.is_up(f.dst) {
            return;
        }
        self.log_line(|| {
            let dup = if f.duplicate { " (duplicate)" } else { "" };
            format!("deliver {from}→{to} {}{dup}", describe(&f.packet.body))
        });
        self.draw_packet(from, to, &f.packet.body, false);
        self.delivering = Some(format!("{from}→{to} {}", describe(&f.packet.body)));
        self.step(f.dst, NodeInput::Packet(f.packet));
        self.delivering = None;
    }

    /// One tick: deliver every packet due, then tick every running member
    /// (shield, then participant) in a seeded random order.
    pub fn tick(&mut self) {
        self.now += 1;
        while let Some(f) = self.net.pop_due(self.now) {
            self.deliver(f);
        }
        self.tick_members();
    }

    /// The next thing [`World::tick`] would do, alone: deliver the first
    /// packet due, else tick the members, else start the next tick. Steps
    /// of `next` from the end of a tick to the end of the next are exactly
    /// one `tick`.
    pub fn next(&mut self) {
        loop {
            if let Some(f) = self.net.pop_due(self.now) {
                self.deliver(f);
                return;
            }
            if !self.ticked {
                self.tick_members();
                return;
            }
            self.now += 1;
            self.ticked = false;
        }
    }

    /// Time passes by one tick and nothing arrives: every running member
    /// ticks, and packets due stay in flight until someone delivers them
    /// (the explorer's manual network).
    pub fn tick_only(&mut self) {
        self.now += 1;
        self.tick_members();
    }

    /// Tick every running member (shield, then participant) in a seeded
    /// random order; then the client asks again for what it must.
    fn tick_members(&mut self) {
        self.ticked = true;
        let mut order: Vec<usize> = (0..self.members.len()).collect();
        for i in (1..order.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for m in order {
            if !self.is_up(m) {
                continue;
            }
            self.step(m, NodeInput::ShieldTick);
            let entropy = self.rng.next_u64();
            self.step(m, NodeInput::Tick { entropy });
        }
        if std::mem::take(&mut self.resend) {
            for (value, node) in self.client.resend_from_suspects(self.now) {
                self.ask_again(value, node, "its first node was flagged");
            }
        }
        if self.patience > 0 {
            for (value, node) in self.client.overdue(self.now, self.patience) {
                self.ask_again(value, node, "not committed within the client's patience");
            }
        }
    }

    /// Every packet in flight, in the order the network would deliver them.
    pub fn flying(&self) -> Vec<Flying> {
        self.net
            .pending()
            .map(|(id, due, f)| Flying {
                id,
                due,
                from: f.packet.from,
                to: self.members[f.dst].id,
                member: f.dst,
                kind: f.packet.body.kind().to_string(),
                pos: trace::position(&f.packet.body),
                ballot: carried(&f.packet.body)
                    .and_then(|m| m.ballot())
                    .map(|b| b.to_string()),
                value: carried(&f.packet.body).and_then(value_of),
                text: describe(&f.packet.body),
                signed: f.packet.sig.is_some(),
                duplicate: f.duplicate,
                cut: self.net.is_cut(f.src, f.dst),
            })
            .collect()
    }

    /// The first packet in flight, if it is due by now.
    pub fn next_due(&self) -> Option<u64> {
        let (id, due, _) = self.net.pending().next()?;
        (due <= self.now).then_some(id)
    }

    /// Deliver packet `id` now, due or not (lost if its link is cut).
    /// `false`: no such packet in flight.
    pub fn deliver_packet(&mut self, id: u64) -> bool {
        match self.net.take(id) {
            Some(f) => {
                self.deliver(f);
                true
            }
            None => false,
        }
    }

    /// The network loses packet `id`.
    pub fn lose_packet(&mut self, id: u64) -> bool {
        let Some(f) = self.net.take(id) else {
            return false;
        };
        let (from, to) = (f.packet.from, self.members[f.dst].id);
        self.log_line(|| format!("lost {from}→{to} {}", describe(&f.packet.body)));
        self.draw_packet(from, to, &f.packet.body, true);
        true
    }

    /// The network delivers packet `id` twice: a copy joins the flight.
    pub fn duplicate_packet(&mut self, id: u64) -> bool {
        let now = self.now;
        self.net.duplicate(&mut self.rng, now, id).is_some()
    }

    /// Packet `id` arrives `ticks` later.
    pub fn delay_packet(&mut self, id: u64, ticks: u64) -> bool {
        self.net.delay(id, ticks)
    }

    /// Switch every member to exactly `defences`, signing exactly when one
    /// runs, from the next step on ([`crate::middleware::Shield::set_defences`]).
    pub fn set_defences(&mut self, defences: crate::cluster::Defences) {
        self.spec.defences = defences;
        let signs = self.spec.signs();
        if signs && self.keys.is_empty() {
            self.keys = (0..self.spec.nodes as NodeId)
                .map(|i| self.spec.identity(i).public())
                .collect();
        }
        let set: BTreeSet<_> = self.spec.defences.iter().collect();
        for m in 0..self.members.len() {
            let id = self.members[m].id;
            let identity = signs.then(|| self.spec.identity(id));
            let shield = self.members[m].node.shield_mut();
            shield.set_defences(set.clone(), identity, &self.keys);
            if signs {
                shield.track_durable();
            }
        }
        let label = self.spec.defences.label();
        self.log_line(|| format!("defences {label} from now on"));
    }

    /// The cluster this world runs (with the defences now in force).
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// What member `m` persisted: its promises, accepted values and log.
    pub fn durable(&self, m: usize) -> &crate::core::Durable {
        &self.members[m].saved.core
    }

    /// The cut links, as member pairs `(low, high)`.
    pub fn cut_links(&self) -> Vec<(usize, usize)> {
        self.net.cuts().collect()
    }

    /// Between two ticks: the members ticked at `now`, where a script's
    /// actions for `now` go (as [`crate::sim::run`] places them).
    pub fn between_ticks(&self) -> bool {
        self.ticked
    }

    /// The ballot member `m` leads in, and from which position on.
    pub fn leading(&self, m: usize) -> Option<(crate::core::Pos, crate::core::Ballot)> {
        let member = &self.members[m];
        member.up.then(|| member.node.leading()).flatten()
    }

    /// Keep each member's latest events from now on ([`World::notes`]).
    pub fn keep_notes(&mut self) {
        self.notes = Some(vec![Vec::new(); self.members.len()]);
    }

    /// Member `m`'s latest events, oldest first (empty unless kept).
    pub fn notes(&self, m: usize) -> &[String] {
        self.notes.as_ref().map_or(&[], |n| &n[m])
    }

    /// The client asks `node` again for `value`, saying why.
    fn ask_again(&mut self, value: Value, node: NodeId, why: &str) {
        let Some(m) = self.members.iter().position(|x| x.id == node) else {
            return;
        };
        self.log_line(|| format!("client re-sends '{value}' to node {node}: {why}"));
        if self.is_up(m) {
            self.step(m, NodeInput::Request(value));
        }
    }

    /// Every requested value is committed on every honest member, and every
    /// honest member is running.
    pub fn all_committed(&self) -> bool {
        let requested = self.client.requested();
        self.members
            .iter()
            .filter(|m| m.role == Role::Honest)
            .all(|m| m.up && crate::verdict::has_all(&*self.whole_log(m), requested))
    }

    /// Member `m`'s log with what its snapshot replaced put back, as the
    /// honest nodes committed it (a compacted log is no less committed).
    fn whole_log<'a>(&'a self, m: &'a Member) -> std::borrow::Cow<'a, PosMap<Value>> {
        match m.node.snapshot() {
            Some(snap) => {
                let mut log = self.invariants.chosen_below(snap.upto);
                log.extend(m.node.log().iter().map(|(p, v)| (*p, v.clone())));
                std::borrow::Cow::Owned(log)
            }
            None => std::borrow::Cow::Borrowed(m.node.log()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(w: &mut World, ticks: u64) {
        for _ in 0..ticks {
            w.tick();
            if w.all_committed() {
                return;
            }
        }
    }

    /// What a world shows of itself: enough to tell two runs apart.
    fn state(w: &World) -> String {
        let logs: Vec<_> = (0..w.members()).map(|m| w.log(m)).collect();
        format!("{} {:?} {:?} {:?}", w.now(), logs, w.flying(), w.detected())
    }

    #[test]
    fn steps_of_next_from_one_tick_to_the_next_are_one_tick() {
        let cfg = SimConfig {
            attack: Some(crate::attack::Attack::Safety),
            nodes: 5,
            ..SimConfig::default()
        };
        for seed in 0..20 {
            let (mut a, mut b) = (World::new(&cfg, seed), World::new(&cfg, seed));
            for w in [&mut a, &mut b] {
                w.request(0, "v0".into());
                w.request(1, "v1".into());
            }
            for _ in 0..40 {
                a.tick();
                let t = b.now() + 1;
                while !(b.now() == t && b.ticked) {
                    b.next();
                }
                assert_eq!(state(&a), state(&b), "seed {seed}");
            }
            assert_eq!(a.violation(), b.violation());
            assert!(a.steps() > 0);
        }
    }

    #[test]
    fn a_restarted_node_keeps_its_commits_and_the_client_resends_its_values() {
        // An impatient client: only the restart may bring 'b' back.
        let cfg = SimConfig {
            patience: 0,
            ..SimConfig::default()
        };
        let mut w = World::new(&cfg, 1);
        w.request(0, "a".into());
        run(&mut w, 50);
        assert!(w.all_committed());
        // Node 1 is asked for 'b' and crashes before anyone learns it.
        w.request(1, "b".into());
        w.crash(1);
        run(&mut w, 100);
        assert!(
            !w.all_committed(),
            "'b' was only in node 1's volatile queue"
        );
        w.restart(1);
        assert_eq!(
            w.log(1).get(&0).and_then(|v| v.single()),
            Some("a"),
            "persisted"
        );
        run(&mut w, 1000);
        assert!(w.all_committed(), "{}", w.trace().join("\n"));
        assert_eq!(w.violation(), None);
    }

    #[test]
    fn a_value_a_node_sits_on_is_asked_of_another_after_the_patience() {
        let cfg = SimConfig {
            patience: 50,
            ..SimConfig::default()
        };
        let mut w = World::new(&cfg, 1);
        // Node 1 is asked for 'b' and crashes for good: nobody flags it and
        // it never restarts, so only the client's patience can help.
        w.request(1, "b".into());
        w.crash(1);
        run(&mut w, 49);
        assert!(!w.all_committed(), "not within the patience");
        let mut patient = World::new(&SimConfig { patience: 0, ..cfg }, 1);
        patient.request(1, "b".into());
        patient.crash(1);
        run(&mut patient, 1000);
        assert!(
            patient.members.iter().all(|m| m.node.log().is_empty()),
            "without patience 'b' is never committed"
        );
        run(&mut w, 1000);
        let committed = |w: &World, id: usize| {
            w.is_up(id) && w.log(id).values().any(|v| v.single() == Some("b"))
        };
        assert!(
            committed(&w, 0) && committed(&w, 2),
            "{}",
            w.trace().join("\n")
        );
        assert_eq!(w.violation(), None);
    }
}
