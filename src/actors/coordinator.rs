//! The brief's coordinator. It is not a Paxos participant: it keeps the
//! registry of peers (`PeerInfo`), collects each node's `DebugInfo` lines into
//! a timeline, acts as the client that asks nodes to propagate values, and
//! stops the cluster with `CoordinatorExitCommand`.
//!
//! As a client it follows [`crate::client::Client`]: it re-sends a value it
//! asked of a node once some node's middleware has flagged that node or its
//! connection went down, and asks another node too when a value is not
//! committed within its patience (a Byzantine node can sit on a value
//! without anything to prove against it).

use super::messages::{
    CoordinatorExitCommand, CoordinatorPropagateMessage, DebugInfo, GetStatus, NodeCommand,
    NodeStatus, Partition, PeerInfo, PeerRecord,
};
use crate::client::Client;
use crate::core::{Event, NodeId, Value};
use actix::prelude::*;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One `DebugInfo` line, stamped with when the coordinator received it.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    pub at: Duration,
    pub node: NodeId,
    pub event: Event,
}

/// Ask the coordinator for the answer to client `client`'s KV request
/// `seq`, if the nodes gave one ([`crate::kv::Replies`]).
#[derive(Message)]
#[rtype(result = "Option<crate::kv::Reply>")]
pub struct GetKvReply {
    pub client: u64,
    pub seq: u64,
}

/// Ask the coordinator how far the cluster got.
#[derive(Message)]
#[rtype(result = "Progress")]
pub struct GetProgress;

/// What the coordinator learnt from the `DebugInfo` stream.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// For each value, the nodes that reported committing it.
    pub committed: BTreeMap<Value, BTreeSet<NodeId>>,
    /// For each node, the nodes its middleware flagged.
    pub flagged: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

/// Take the timeline collected so far.
#[derive(Message)]
#[rtype(result = "Vec<TimelineEntry>")]
pub struct TakeTimeline;

/// Ask every registered node for its status.
#[derive(Message)]
#[rtype(result = "Vec<NodeStatus>")]
pub struct GetStatuses(pub GetStatus);

struct Peer {
    record: PeerRecord,
    commands: Recipient<NodeCommand>,
    status: Recipient<GetStatus>,
}

/// A node asks to join (multi-process mode): which id may it have?
/// A node that registered this key before gets its old id back (a restart);
/// otherwise the id it asks for if free, else the lowest free one.
#[derive(Message)]
#[rtype(result = "Result<NodeId, String>")]
pub struct Admit {
    pub wanted: Option<NodeId>,
    pub key: [u8; 32],
    /// The attack the node declares it runs, for honest reporting.
    pub attack: Option<String>,
    /// How the node runs the protocol; every member must run it alike.
    pub profile: Profile,
}

/// How a node runs the protocol: what every member of one cluster must
/// share (a BFT node among classic ones, or one whose defences differ,
/// would never commit with them).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub bft: bool,
    /// BFT mode's `--faults`, if given.
    pub faults: Option<usize>,
    /// The defences in force: `all`, `none`, or their names.
    pub defences: String,
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.bft, self.faults) {
            (false, _) => f.write_str("classic mode")?,
            (true, None) => f.write_str("BFT mode")?,
            (true, Some(k)) => write!(f, "BFT mode with --faults {k}")?,
        }
        write!(f, ", defences {}", self.defences)
    }
}

/// A registered node's connection went down: stop asking it for values and
/// re-send what it had not committed (its client queue died with it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeLost {
    pub id: NodeId,
    /// The connection that went down: a node that already re-registered on
    /// a new one is not lost.
    pub commands: Recipient<NodeCommand>,
}

/// Who is registered, who attacks and who is unreachable.
#[derive(Message)]
#[rtype(result = "Registry")]
pub struct GetRegistry;

/// The answer to [`GetRegistry`].
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// The cluster size the coordinator admits, if it was given one.
    pub size: Option<usize>,
    pub registered: BTreeSet<NodeId>,
    pub attackers: BTreeSet<NodeId>,
    pub unreachable: BTreeSet<NodeId>,
}

/// Where the registry goes before an admission is final.
pub type Persist = Box<dyn FnMut(&BTreeMap<NodeId, [u8; 32]>) -> Result<(), String>>;

pub struct Coordinator {
    peers: BTreeMap<NodeId, Peer>,
    /// Cluster size for [`Admit`]; `None` in one process, where ids are fixed.
    size: Option<usize>,
    /// Keys that registered, and the id each got.
    keys: BTreeMap<[u8; 32], NodeId>,
    /// Called with the whole registry (id → key) before a new key is
    /// admitted; an error refuses the admission. A coordinator with a data
    /// directory persists there, so no restart hands an id to a new key.
    persist: Option<Persist>,
    /// How the cluster's members run the protocol: the first admitted
    /// node's, which every other must share.
    profile: Option<Profile>,
    attackers: BTreeSet<NodeId>,
    lost: BTreeSet<NodeId>,
    /// Print each `DebugInfo` line on stdout as it arrives (the brief's
    /// coordinator terminal).
    print: bool,
    /// Also hand every `DebugInfo` to this recipient (a bench's client).
    tap: Option<Recipient<DebugInfo>>,
    start: Instant,
    timeline: Vec<TimelineEntry>,
    /// Record the timeline (the demo reads it). A long-running coordinator
    /// process does not: nothing takes it, and it would grow with every line.
    keep_timeline: bool,
    progress: Progress,
    /// The client policy: whom to ask, and when to ask again.
    client: Client,
    /// What the nodes' key-value stores answered the clients.
    replies: crate::kv::Replies,
}

/// How long the coordinator waits for a value to commit before it asks
/// another node too, until commits have been measured (then the client's
/// patience follows their latency, see [`crate::client`]; doubling per
/// value). Every re-send of a value that was only slow may commit it twice.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// The least patience, however fast commits are measured to be: a
/// millisecond commit says little about the next one under contention, and
/// every early re-send adds a competing proposer (which the Prepare limit
/// may take for a climber under load). The measured timer only lengthens
/// the wait.
pub const MIN_PATIENCE: Duration = PATIENCE;

/// The most patience, however slow commits are measured to be.
pub const MAX_PATIENCE: Duration = Duration::from_secs(60);

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl Coordinator {
    pub fn new() -> Self {
        Coordinator {
            peers: BTreeMap::new(),
            size: None,
            keys: BTreeMap::new(),
            persist: None,
            profile: None,
            attackers: BTreeSet::new(),
            lost: BTreeSet::new(),
            print: false,
            tap: None,
            start: Instant::now(),
            timeline: Vec::new(),
            keep_timeline: true,
            progress: Progress::default(),
            client: Client::default(),
            replies: crate::kv::Replies::default(),
        }
    }

    /// A coordinator for a cluster of `n` nodes that register over the
    /// bridge, printing their `DebugInfo` lines when `print` is set.
    pub fn with_size(n: usize, print: bool) -> Self {
        Coordinator {
            size: Some(n),
            print,
            keep_timeline: false,
            ..Coordinator::new()
        }
    }

    /// Start from a registry kept before (id → key), and hand every change
    /// to `persist` before it takes effect.
    pub fn with_registry(mut self, known: BTreeMap<NodeId, [u8; 32]>, persist: Persist) -> Self {
        self.keys = known.into_iter().map(|(id, key)| (key, id)).collect();
        self.persist = Some(persist);
        self
    }

    /// Forward every `DebugInfo` line to `tap` as well.
    pub fn with_tap(mut self, tap: Recipient<DebugInfo>) -> Self {
        self.tap = Some(tap);
        self
    }

    /// The client's clock: milliseconds since the coordinator started.
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn admit(&mut self, msg: Admit) -> Result<NodeId, String> {
        let n = self.size.unwrap_or(usize::MAX);
        // Before any slot is taken: a node that could never take part.
        if let Some(size) = self.size {
            crate::core::mode_config(size, msg.profile.bft, msg.profile.faults)
                .map_err(|e| e.to_string())?;
        }
        match &self.profile {
            Some(p) if *p != msg.profile => {
                return Err(format!(
                    "this cluster runs {p}, and this node runs {}: start every node with the same \
                     --bft, --faults, --middleware and --defences",
                    msg.profile
                ))
            }
            _ => {}
        }
        let id = if let Some(&id) = self.keys.get(&msg.key) {
            if msg.wanted.is_some_and(|w| w != id) {
                return Err(format!(
                    "this key registered as node {id}, not node {}",
                    msg.wanted.unwrap_or_default()
                ));
            }
            id
        } else {
            let taken: BTreeSet<NodeId> = self.keys.values().copied().collect();
            match msg.wanted {
                Some(w) if (w as usize) >= n => {
                    return Err(format!(
                        "node {w} does not exist in this {n}-node cluster (ids are 0 to {})",
                        n - 1
                    ))
                }
                Some(w) if taken.contains(&w) => {
                    return Err(format!("node {w} is already registered with another key"))
                }
                Some(w) => w,
                None => match (0..n as NodeId).find(|i| !taken.contains(i)) {
                    Some(i) => i,
                    None => return Err(format!("the cluster is full: all {n} nodes registered")),
                },
            }
        };
        if !self.keys.contains_key(&msg.key) {
            if let Some(persist) = self.persist.as_mut() {
                let mut all: BTreeMap<NodeId, [u8; 32]> =
                    self.keys.iter().map(|(k, i)| (*i, *k)).collect();
                all.insert(id, msg.key);
                persist(&all)
                    .map_err(|e| format!("the coordinator cannot keep its registry: {e}"))?;
            }
        }
        self.keys.insert(msg.key, id);
        self.profile = Some(msg.profile);
        if msg.attack.is_some() {
            self.attackers.insert(id);
        } else {
            self.attackers.remove(&id);
        }
        Ok(id)
    }

    /// `by` reports it flagged `accused`; the client believes it once
    /// enough nodes say so ([`Self::believe_after`]).
    fn report(&mut self, by: NodeId, accused: NodeId) {
        self.progress.flagged.entry(by).or_default().insert(accused);
        if self.reporters(accused) >= self.believe_after() {
            self.client.flagged(accused);
        }
    }

    /// How many nodes reported flagging `node`.
    fn reporters(&self, node: NodeId) -> usize {
        self.progress
            .flagged
            .iter()
            .filter(|(by, accused)| **by != node && accused.contains(&node))
            .count()
    }

    /// Reports it takes before the client stops asking a flagged node: one
    /// more than the faults the cluster tolerates ((n-1)/2, the most any
    /// mode allows), so at least one report is an honest node's, and an
    /// honest node flags only on evidence. One liar's report changes nothing.
    fn believe_after(&self) -> usize {
        let n = self.size.unwrap_or(self.peers.len()).max(1);
        (n - 1) / 2 + 1
    }

    /// Ask `node` for `value` (one value, or a batch of them: the client
    /// keeps books on each): with `may_redirect`, it proposes it or names
    /// the leader; without, it proposes it. One command whatever the
    /// batch's size, so a `propose` of many values is one frame to the
    /// node, not a flood of them.
    fn propagate(&mut self, value: Value, node: NodeId, may_redirect: bool) {
        let Some(peer) = self.peers.get(&node) else {
            log::warn!("cannot propagate '{value}': node {node} is not registered");
            return;
        };
        log::debug!("asking node {node} to propagate '{value}'");
        peer.commands.do_send(match may_redirect {
            true => NodeCommand::Ask(value.clone()),
            false => NodeCommand::Propagate(value.clone()),
        });
        if self.tap.is_none() {
            // A bench's client keeps its own books (millions of values).
            let now = self.now();
            for item in value.items() {
                self.client.asked(Value::one(item), node, now);
            }
        }
    }

    /// Ask each node for its values, all of a node's in one command; none
    /// may be redirected (they are asked again, or after a redirect).
    fn propagate_each(&mut self, asks: Vec<(Value, NodeId)>) {
        let mut by_node: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
        for (value, node) in asks {
            by_node
                .entry(node)
                .or_default()
                .extend(value.items().map(str::to_owned));
        }
        for (node, items) in by_node {
            self.propagate(Value::batch(items), node, false);
        }
    }

    /// Node `by` named `leader` for `value` (one or a batch): ask the node
    /// the client follows for each (a bench's client keeps no books: the
    /// leader) to propose it.
    fn redirected(&mut self, value: &Value, by: NodeId, leader: NodeId) {
        log::debug!("node {by} names node {leader} as leader for '{value}'");
        let asks = match self.tap {
            Some(_) => vec![(value.clone(), leader)],
            None => value
                .items()
                .map(Value::one)
                .filter_map(|v| self.client.redirected(&v, by, leader).map(|to| (v, to)))
                .collect(),
        };
        self.propagate_each(asks);
    }

    /// Ask again what a flagged or lost node had not committed, and what
    /// nobody committed within the patience.
    fn resend(&mut self) {
        let now = self.now();
        let again = self.client.resend_from_suspects(now);
        if !again.is_empty() {
            log::info!(
                "re-sending {} to other nodes: their first node was flagged or lost",
                first_few(&again)
            );
        }
        let patience = self.client.patience(
            PATIENCE.as_millis() as u64,
            MIN_PATIENCE.as_millis() as u64,
            MAX_PATIENCE.as_millis() as u64,
        );
        let late = self.client.overdue(now, patience);
        if !late.is_empty() {
            log::info!(
                "re-sending {} to other nodes: not committed within the client's patience",
                first_few(&late)
            );
        }
        self.propagate_each(again);
        self.propagate_each(late);
    }
}

/// `'a' (to node 1), 'b' (to node 1), 'c' (to node 2), and 7 more`.
fn first_few(asks: &[(Value, NodeId)]) -> String {
    let named = asks.iter().map(|(v, n)| format!("'{v}' (to node {n})"));
    crate::verdict::first_few(named, 3)
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(20), |act, _| act.resend());
    }
}

impl Handler<PeerInfo> for Coordinator {
    type Result = ();
    fn handle(&mut self, info: PeerInfo, _: &mut Context<Self>) {
        let id = info.record.id;
        self.lost.remove(&id);
        self.client.joined(id);
        // Tell the others about the newcomer, and the newcomer about everyone.
        for peer in self.peers.values() {
            peer.commands
                .do_send(NodeCommand::Peers(vec![info.record.clone()]));
        }
        self.peers.insert(
            id,
            Peer {
                record: info.record,
                commands: info.commands,
                status: info.status,
            },
        );
        let all: Vec<PeerRecord> = self.peers.values().map(|p| p.record.clone()).collect();
        self.peers[&id].commands.do_send(NodeCommand::Peers(all));
    }
}

impl Handler<super::messages::KvApplied> for Coordinator {
    type Result = ();
    fn handle(&mut self, a: super::messages::KvApplied, _: &mut Context<Self>) {
        self.replies.record(a.node, a.client, a.seq, a.reply);
    }
}

impl Handler<GetKvReply> for Coordinator {
    type Result = Option<crate::kv::Reply>;
    fn handle(&mut self, q: GetKvReply, _: &mut Context<Self>) -> Self::Result {
        // Classic mode trusts the first reply; BFT mode waits for f+1 alike.
        let needed = match (&self.profile, self.size) {
            (Some(p), Some(n)) if p.bft => {
                crate::core::bft_faults(n, p.faults).map_or(1, |f| f + 1)
            }
            _ => 1,
        };
        self.replies.answer(q.client, q.seq, needed)
    }
}

impl Handler<DebugInfo> for Coordinator {
    type Result = ();
    fn handle(&mut self, info: DebugInfo, _: &mut Context<Self>) {
        if let Some(tap) = &self.tap {
            // The tap (a bench's client) keeps its own books; keeping a
            // timeline of millions of lines here would only cost memory.
            tap.do_send(info);
            return;
        }
        if self.print {
            println!("node {}: {}", info.node, info.event);
        } else {
            log::debug!("node {}: {}", info.node, info.event);
        }
        let now = self.now();
        match &info.event {
            Event::Committed { value, .. } => {
                // A position may carry a batch: the client waits for each value.
                let items = value.items();
                if items.len() == 1 {
                    self.client.committed(value, now);
                    let e = self.progress.committed.entry(value.clone());
                    e.or_default().insert(info.node);
                } else {
                    for v in items {
                        let v = Value::one(v);
                        self.client.committed(&v, now);
                        self.progress
                            .committed
                            .entry(v)
                            .or_default()
                            .insert(info.node);
                    }
                }
            }
            Event::Flagged { node, .. } => self.report(info.node, *node),
            Event::Redirected { value, leader } => self.redirected(value, info.node, *leader),
            _ => {}
        }
        if self.keep_timeline {
            self.timeline.push(TimelineEntry {
                at: self.start.elapsed(),
                node: info.node,
                event: info.event,
            });
        }
    }
}

impl Handler<CoordinatorPropagateMessage> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: CoordinatorPropagateMessage, _: &mut Context<Self>) {
        match msg.node.or_else(|| self.client.pick()) {
            Some(node) => self.propagate(msg.value, node, !msg.pinned),
            None => log::warn!("cannot propagate '{}': no node registered", msg.value),
        }
    }
}

impl Handler<CoordinatorExitCommand> for Coordinator {
    type Result = ();
    fn handle(&mut self, _: CoordinatorExitCommand, ctx: &mut Context<Self>) {
        for peer in self.peers.values() {
            peer.commands.do_send(NodeCommand::Exit);
        }
        ctx.stop();
    }
}

impl Handler<Partition> for Coordinator {
    type Result = ();
    fn handle(&mut self, Partition { a, b }: Partition, _: &mut Context<Self>) {
        for (id, peer) in &self.peers {
            let cut = match (a.contains(id), b.contains(id)) {
                (true, _) => b.clone(),
                (_, true) => a.clone(),
                _ => Vec::new(),
            };
            peer.commands.do_send(NodeCommand::Cut(cut));
        }
        let line = match a.is_empty() && b.is_empty() {
            true => "every link healed".to_string(),
            false => format!("links cut between nodes {a:?} and nodes {b:?}"),
        };
        if self.print {
            println!("coordinator: {line}");
        } else {
            log::info!("{line}");
        }
    }
}

impl Handler<GetProgress> for Coordinator {
    type Result = MessageResult<GetProgress>;
    fn handle(&mut self, _: GetProgress, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.progress.clone())
    }
}

impl Handler<TakeTimeline> for Coordinator {
    type Result = MessageResult<TakeTimeline>;
    fn handle(&mut self, _: TakeTimeline, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(&mut self.timeline))
    }
}

impl Handler<GetStatuses> for Coordinator {
    type Result = ResponseFuture<Vec<NodeStatus>>;
    fn handle(&mut self, GetStatuses(page): GetStatuses, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self.peers.values().map(|p| p.status.send(page)).collect();
        Box::pin(async move {
            join_all(asks)
                .await
                .into_iter()
                .filter_map(|r| r.ok().flatten())
                .collect()
        })
    }
}

impl Handler<Admit> for Coordinator {
    type Result = Result<NodeId, String>;
    fn handle(&mut self, msg: Admit, _: &mut Context<Self>) -> Self::Result {
        self.admit(msg)
    }
}

/// A node welcomed under `id` left before it started: undo its admission,
/// so its slot is free (it never voted, so nobody can miss its promises).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub id: NodeId,
    pub key: [u8; 32],
}

impl Handler<Release> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: Release, _: &mut Context<Self>) {
        if self.keys.get(&msg.key) != Some(&msg.id) || self.peers.contains_key(&msg.id) {
            return;
        }
        self.keys.remove(&msg.key);
        self.attackers.remove(&msg.id);
        if self.keys.is_empty() {
            self.profile = None;
        }
        if let Some(persist) = self.persist.as_mut() {
            let all: BTreeMap<NodeId, [u8; 32]> = self.keys.iter().map(|(k, i)| (*i, *k)).collect();
            if let Err(e) = persist(&all) {
                log::warn!("the coordinator cannot keep its registry: {e}");
            }
        }
    }
}

impl Handler<NodeLost> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: NodeLost, _: &mut Context<Self>) {
        if self
            .peers
            .get(&msg.id)
            .is_some_and(|p| p.commands == msg.commands)
        {
            log::warn!("lost the connection to node {}", msg.id);
            self.lost.insert(msg.id);
            self.client.lost(msg.id);
            self.resend();
        }
    }
}

impl Handler<GetRegistry> for Coordinator {
    type Result = MessageResult<GetRegistry>;
    fn handle(&mut self, _: GetRegistry, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Registry {
            size: self.size,
            registered: self.peers.keys().copied().collect(),
            attackers: self.attackers.clone(),
            unreachable: self.lost.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(c: &mut Coordinator, wanted: Option<NodeId>, key: u8) -> Result<NodeId, String> {
        c.admit(Admit {
            wanted,
            key: [key; 32],
            attack: None,
            profile: Profile::default(),
        })
    }

    #[test]
    fn admission_gives_free_ids_and_returns_a_restarted_node_its_own() {
        let mut c = Coordinator::with_size(3, false);
        assert_eq!(admit(&mut c, None, 1), Ok(0));
        assert_eq!(admit(&mut c, Some(2), 2), Ok(2));
        assert_eq!(admit(&mut c, None, 3), Ok(1));
        // The same key again is a restart: same id.
        assert_eq!(admit(&mut c, None, 2), Ok(2));
        assert_eq!(admit(&mut c, Some(2), 2), Ok(2));
        // Refusals say why.
        assert!(admit(&mut c, None, 4).unwrap_err().contains("full"));
        assert!(admit(&mut c, Some(1), 5)
            .unwrap_err()
            .contains("already registered"));
        assert!(admit(&mut c, Some(7), 6)
            .unwrap_err()
            .contains("does not exist"));
        assert!(admit(&mut c, Some(0), 2)
            .unwrap_err()
            .contains("registered as node 2"));
    }

    #[test]
    fn one_report_of_a_flag_changes_nothing_and_a_majority_does() {
        let mut c = Coordinator::with_size(5, false);
        c.report(0, 4);
        c.report(0, 4); // the same reporter twice is one report
        c.report(4, 4); // nor does a node's word about itself count
        c.report(1, 3);
        assert!(
            !c.client.suspects().contains(&4),
            "one liar must not silence node 4"
        );
        c.report(2, 4);
        assert!(
            !c.client.suspects().contains(&4),
            "f = 2 reports could all be lies"
        );
        c.report(3, 4);
        assert!(
            c.client.suspects().contains(&4),
            "3 of 5 include an honest node"
        );
        assert!(!c.client.suspects().contains(&3));

        let mut c = Coordinator::with_size(3, false);
        c.report(0, 1);
        assert!(!c.client.suspects().contains(&1));
        c.report(2, 1);
        assert!(c.client.suspects().contains(&1));
    }
}
