//! The demo: a whole cluster in one process.
//!
//! [`run`] starts the coordinator, the network and one node + middleware per
//! node id, asks the coordinator to propagate the requested values, waits
//! until every honest node committed them all or the deadline passes, and
//! returns a [`Report`]: the machine-readable [`Summary`] (field names as in
//! the design notes, stable for scripts) and the timeline of `DebugInfo`
//! lines. [`summarize`] is the pure verdict, tested on its own.

pub mod kv;

use crate::actors::{
    spawn_node, Coordinator, CoordinatorExitCommand, CoordinatorPropagateMessage, CutLinks,
    DebugInfo, GetProgress, GetStatuses, HealLinks, Join, NetRecord, Network, NodeStatus, PeerInfo,
    PeerRecord, Progress, TakeLost, TakeNetRecords, TakeTimeline, TimelineEntry, Wiring,
};
use crate::attack::Attack;
use crate::cluster::{changed_flag, ClusterSpec, Defences, Tunables};
use crate::core::{Event, NodeId, Pos, Value};
use crate::term::Palette;
use crate::trace::{Lane, LaneId, Step, Trace};
use crate::verdict::{self, Conflict};
use actix::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub nodes: usize,
    pub values: usize,
    pub seed: u64,
    pub deadline: Duration,
    /// Fraction of deliveries the in-process network loses (0.0..=1.0).
    pub drop: f64,
    /// The attack the attacker node runs, if any.
    pub attack: Option<Attack>,
    /// Which node attacks.
    pub attacker: NodeId,
    /// Run the middleware's defences on every node.
    pub middleware: bool,
    /// Run only these defences (`--defences`); `None`: all of them with
    /// `middleware`, else none.
    pub defences: Option<Defences>,
    /// Strikes at one position before a node is ignored.
    pub max_prepares: u32,
    /// Record a sequence chart of the messages about these positions.
    pub trace: Option<Range<Pos>>,
    /// BFT mode: quorums of 2f+1 signed votes, n >= 3f+1 (`--bft`).
    pub bft: bool,
    /// The f of BFT mode (`--faults`); by default the largest n allows.
    pub faults: Option<usize>,
    /// Positions between two snapshots of a KV node's store (0: never).
    pub snapshot_every: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            nodes: 3,
            values: 5,
            seed: 42,
            deadline: Duration::from_secs(5),
            drop: 0.0,
            attack: None,
            attacker: 0,
            middleware: false,
            defences: None,
            max_prepares: 3,
            trace: None,
            bft: false,
            faults: None,
            snapshot_every: crate::kv::SNAPSHOT_EVERY,
        }
    }
}

/// Why a demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("--drop must be between 0 and 1 (got {0})")]
    BadDrop(f64),
    #[error("the coordinator stopped answering: {0}")]
    Mailbox(#[from] MailboxError),
    #[error("read-index trusts the leader, which BFT mode does not: with --bft, reads go through the log")]
    IndexReadsInBft,
    #[error("the KV demo draws no sequence chart; the simulator's KV runs do (sim --workload kv --replay --trace FILE)")]
    KvChart,
}

impl DemoError {
    /// The request itself was wrong (not the run): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, DemoError::Mailbox(_))
    }
}

impl DemoConfig {
    /// The `paxos demo` flags that give this configuration (those that
    /// differ from the defaults; a chart's `--trace` aside).
    pub fn flags(&self) -> String {
        let d = DemoConfig::default();
        let mut f = Vec::new();
        f.extend(changed_flag("nodes", self.nodes, d.nodes));
        f.extend(changed_flag("values", self.values, d.values));
        f.extend(changed_flag("seed", self.seed, d.seed));
        let secs = |t: Duration| t.as_secs_f64().to_string();
        f.extend(changed_flag(
            "deadline",
            secs(self.deadline),
            secs(d.deadline),
        ));
        f.extend(changed_flag("drop", self.drop, d.drop));
        f.extend(changed_flag(
            "max-prepares",
            self.max_prepares,
            d.max_prepares,
        ));
        f.extend(changed_flag(
            "snapshot-every",
            self.snapshot_every,
            d.snapshot_every,
        ));
        f.extend(self.spec().flags());
        f.join(" ")
    }

    /// The cluster the demo runs: signed exactly when defended, so an
    /// undefended run shows what each attack does.
    pub fn spec(&self) -> ClusterSpec {
        let (n, attack, at) = (self.nodes, self.attack, self.attacker);
        ClusterSpec {
            seed: self.seed,
            tunables: Tunables {
                max_prepares: self.max_prepares,
                snapshot_every: self.snapshot_every,
                ..Tunables::default()
            },
            defences: self
                .defences
                .clone()
                .unwrap_or_else(|| Defences::all_if(self.middleware)),
            ..ClusterSpec::lab(n, attack, at, self.middleware, self.bft, self.faults)
        }
    }

    /// The defences in force (`--defences`, else all or none by `middleware`).
    pub fn defences(&self) -> Defences {
        self.spec().defences
    }

    /// The spec, checked.
    pub fn validate(&self) -> Result<ClusterSpec, DemoError> {
        if !(0.0..=1.0).contains(&self.drop) {
            return Err(DemoError::BadDrop(self.drop));
        }
        let spec = self.spec();
        spec.validate()?;
        Ok(spec)
    }
}

/// The demo's machine-readable summary (`paxos demo --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub nodes: usize,
    pub attack: Option<String>,
    pub attackers: Vec<NodeId>,
    pub middleware: bool,
    /// The defences in force: `all`, `none`, or their names (`echo,stale`).
    pub defences: String,
    /// The `paxos demo` flags that run this again.
    pub flags: String,
    /// What to try next, when the run shows less than the attack or its
    /// defence can (see [`hint`]).
    pub hint: Option<String>,
    pub seed: u64,
    pub requested: usize,
    pub honest: Vec<NodeId>,
    /// Each honest node's committed values, in log order.
    pub logs: BTreeMap<NodeId, Vec<Value>>,
    /// Positions committed on every honest node.
    pub committed: usize,
    /// Requested values committed on every honest node (`live` is this
    /// equal to `requested`).
    pub values_committed: usize,
    /// No position holds two different values on honest nodes.
    pub agreement: bool,
    /// Every requested value committed on every honest node before the deadline.
    pub live: bool,
    /// Nodes that at least one honest node flagged.
    pub detected: Vec<NodeId>,
    /// The first position two honest nodes committed different values at.
    pub conflict: Option<Conflict>,
    /// Each honest node's first accusation of each node, with its evidence.
    pub evidence: Vec<Evidence>,
    /// The run in a few plain sentences (see [`verdict::Story`]).
    pub what_happened: Vec<String>,
    pub elapsed_ms: f64,
}

/// An honest node flagged a node, on this evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub by: NodeId,
    pub node: NodeId,
    pub reason: String,
}

/// A finished demo run.
#[derive(Clone, Debug)]
pub struct Report {
    pub summary: Summary,
    pub timeline: Vec<TimelineEntry>,
    /// The sequence chart, when `DemoConfig::trace` asked for one.
    pub trace: Option<Trace>,
    /// The split scenario, when the attack needs one.
    pub split: Option<SplitRun>,
}

/// The scenario IGNORE_PREPARED and STALE_PREPARED need, as in the
/// simulator (the same [`ClusterSpec::honest_halves`]): the honest nodes in
/// two halves that both reach the attacker but not each other, so that a
/// value chosen by one half plus the attacker stays unknown to the other.
///
/// When to heal is decided here, from what the demo observes
/// ([`Progress`]), not from a timer: see [`SplitPlan::heal_reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    pub attack: Attack,
    pub attacker: NodeId,
    pub left: BTreeSet<NodeId>,
    pub right: BTreeSet<NodeId>,
    /// The values asked of an honest node whose half reaches a quorum
    /// together with the attacker: each can be decided during the split,
    /// and the attacker is in every quorum that decides it.
    pub awaited: Vec<Value>,
}

/// Why the split healed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealReason {
    /// Every awaited value was committed on some honest node.
    Decided,
    /// Honest nodes flagged these nodes.
    Flagged(BTreeSet<NodeId>),
}

impl std::fmt::Display for HealReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealReason::Decided => f.write_str(
                "every value asked of a half that reaches a quorum is committed on an honest node, \
                 so the attacker had its chance at each",
            ),
            HealReason::Flagged(nodes) => write!(
                f,
                "the middleware flagged node {}: it no longer bridges the halves, \
                 so the split could only keep them from committing",
                ids(nodes)
            ),
        }
    }
}

/// `1, 2` for the set {1, 2}.
fn ids(nodes: &BTreeSet<NodeId>) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SplitPlan {
    /// The split for `cfg`, if its attack needs one and there are two
    /// honest nodes to split. `quorum` is the cluster's; `asked` says which
    /// node each value is asked of.
    pub fn new(cfg: &DemoConfig, quorum: usize, asked: &[(Value, NodeId)]) -> Option<SplitPlan> {
        let attack = cfg.attack.filter(|a| a.splits_honest_nodes())?;
        let (left, right) = cfg.spec().honest_halves()?;
        // A half decides on its own with the attacker's vote, or not at all.
        let viable = |h: &BTreeSet<NodeId>| h.len() + 1 >= quorum;
        let awaited = asked
            .iter()
            .filter(|(_, node)| {
                (left.contains(node) && viable(&left)) || (right.contains(node) && viable(&right))
            })
            .map(|(v, _)| v.clone())
            .collect();
        Some(SplitPlan {
            attack,
            attacker: cfg.attacker,
            left,
            right,
            awaited,
        })
    }

    /// Every link between the halves.
    pub fn links(&self) -> Vec<(NodeId, NodeId)> {
        self.left
            .iter()
            .flat_map(|&a| self.right.iter().map(move |&b| (a, b)))
            .collect()
    }

    /// Whether to heal now, and why. Not a timer but a condition on what
    /// the cluster reported:
    ///
    /// - every awaited value was committed on some honest node: each was
    ///   decided by a quorum that contains the attacker while the other half
    ///   could not hear of it, which is the attacker's chance (IGNORE_PREPARED
    ///   cuts in right after accepting it, STALE_PREPARED hides it from the
    ///   other half's next Prepare). Keeping the split longer could not give
    ///   it more values to attack, only withhold liveness; healing lets the
    ///   halves catch up, so a split position shows in both logs;
    /// - or an honest node flagged someone: with the attacker's packets
    ///   dropped by the middleware, neither half reaches a quorum, and the
    ///   split could only stall the cluster.
    ///
    /// Values asked of the attacker, or of a half too small to reach a
    /// quorum with it (BFT), are not awaited: they need the heal to commit.
    pub fn heal_reason(
        &self,
        progress: &Progress,
        honest: &BTreeSet<NodeId>,
    ) -> Option<HealReason> {
        let flagged: BTreeSet<NodeId> = progress
            .flagged
            .iter()
            .filter(|(reporter, _)| honest.contains(reporter))
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        if !flagged.is_empty() {
            return Some(HealReason::Flagged(flagged));
        }
        let decided = self
            .awaited
            .iter()
            .all(|v| committed_on_honest(progress, honest, v));
        decided.then_some(HealReason::Decided)
    }

    /// The timeline line for the split.
    fn cut_note(&self) -> String {
        let attack = self.attack;
        format!(
            "SPLIT: links between nodes {{{}}} and {{{}}} cut; both halves still reach node {} \
             (the {attack} scenario)",
            ids(&self.left),
            ids(&self.right),
            self.attacker
        )
    }
}

/// Whether some honest node reported committing `value`.
fn committed_on_honest(progress: &Progress, honest: &BTreeSet<NodeId>, value: &Value) -> bool {
    progress
        .committed
        .get(value)
        .is_some_and(|nodes| nodes.iter().any(|n| honest.contains(n)))
}

/// What became of the split in a run.
#[derive(Clone, Debug)]
pub struct SplitRun {
    pub plan: SplitPlan,
    /// When it healed and why; `None` if the run ended first.
    pub healed: Option<(Duration, HealReason)>,
}

/// The values the demo asks for: `v0`, `v1`, …
pub fn requested_values(k: usize) -> Vec<Value> {
    (0..k).map(|i| Value::one(format!("v{i}"))).collect()
}

/// The verdict over the nodes' statuses. `flagged` maps each node to the nodes
/// its middleware flagged; only honest nodes' accusations count.
pub fn summarize(
    cfg: &DemoConfig,
    attackers: &[NodeId],
    statuses: &[NodeStatus],
    flagged: &BTreeMap<NodeId, BTreeSet<NodeId>>,
    evidence: &[Evidence],
    requested: &[Value],
    elapsed: Duration,
) -> Summary {
    let honest: BTreeSet<NodeId> = (0..cfg.nodes as NodeId)
        .filter(|id| !attackers.contains(id))
        .collect();
    let honest_statuses: Vec<&NodeStatus> =
        statuses.iter().filter(|s| honest.contains(&s.id)).collect();
    let logs: Vec<_> = honest_statuses.iter().map(|s| &s.log).collect();
    let (agreement, on_all) = verdict::agreement(&logs);
    let with_ids: Vec<_> = honest_statuses.iter().map(|s| (s.id, &s.log)).collect();
    let conflict = verdict::first_conflict(&with_ids);
    let evidence: Vec<Evidence> = evidence
        .iter()
        .filter(|e| honest.contains(&e.by))
        .cloned()
        .collect();
    // A node that did not answer counts as having committed nothing.
    let all_answered = honest_statuses.len() == honest.len();
    let committed = if all_answered { on_all } else { 0 };
    let values_committed = match all_answered {
        true => verdict::values_on_all(&logs, requested),
        false => 0,
    };
    let live = all_answered && values_committed == requested.len();
    let detected = verdict::detected(flagged.iter().map(|(r, f)| (*r, f)), &honest);
    let hint = hint(cfg, agreement, live, !detected.is_empty());
    let told: Vec<(NodeId, NodeId, String)> = evidence
        .iter()
        .map(|e| (e.by, e.node, e.reason.clone()))
        .collect();
    let what_happened = verdict::Story {
        attack: cfg.attack,
        attackers,
        defences: &cfg.defences().to_string(),
        conflict: conflict.as_ref(),
        values: (requested.len(), values_committed),
        deadline_s: Some(cfg.deadline.as_secs_f64()),
        evidence: &told,
        hint: hint.as_deref(),
        stopped_at_violation: false,
    }
    .sentences();
    Summary {
        nodes: cfg.nodes,
        attack: cfg.attack.map(|a| a.to_string()),
        attackers: attackers.to_vec(),
        middleware: !cfg.defences().is_empty(),
        defences: cfg.defences().to_string(),
        flags: cfg.flags(),
        hint,
        seed: cfg.seed,
        requested: requested.len(),
        logs: honest_statuses
            .iter()
            .map(|s| (s.id, s.log.values().cloned().collect()))
            .collect(),
        honest: honest.into_iter().collect(),
        committed,
        values_committed,
        agreement,
        live,
        detected: detected.into_iter().collect(),
        conflict,
        evidence,
        what_happened,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
    }
}

/// Each node's first accusation of each node in `timeline`, with its reason.
fn evidence_of(timeline: &[TimelineEntry]) -> Vec<Evidence> {
    let mut seen = BTreeSet::new();
    timeline
        .iter()
        .filter_map(|e| match &e.event {
            Event::Flagged { node, reason } if seen.insert((e.node, *node)) => Some(Evidence {
                by: e.node,
                node: *node,
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The running cluster's actors.
struct Running {
    coordinator: Addr<Coordinator>,
    network: Addr<Network>,
}

/// Start the coordinator, the network and every member of `spec`, each
/// registered with the coordinator (its PeerInfo) and joined to the network.
fn start(
    spec: &ClusterSpec,
    cfg: &DemoConfig,
    start: Instant,
    kv: Option<crate::kv::ReadPath>,
) -> Running {
    let coordinator = Coordinator::new().start();
    let mut network = Network::new(cfg.seed, cfg.drop).timed_from(start);
    if let Some(range) = &cfg.trace {
        network = network.recording(start, range.clone());
    }
    let network = network.start();
    for id in 0..spec.nodes as NodeId {
        let identity = spec.identity(id);
        let key = identity.public();
        let honest = spec.role(id) == crate::cluster::Role::Honest;
        let wiring = Wiring {
            // With KV clients, every honest node applies its log to a store
            // and tells the coordinator its replies.
            kv: (kv.is_some() && honest).then(|| coordinator.clone().recipient()),
            kv_reads: kv.unwrap_or(crate::kv::ReadPath::Log),
            snapshot_every: spec.tunables.snapshot_every,
            ..Wiring::new(
                network.clone().recipient(),
                coordinator.clone().recipient(),
                cfg.seed,
            )
        };
        let middleware = spawn_node(spec.member(id, || identity), wiring);
        coordinator.do_send(PeerInfo {
            record: PeerRecord {
                id,
                key: Some(key),
                addr: None,
            },
            commands: middleware.clone().recipient(),
            status: middleware.clone().recipient(),
        });
        network.do_send(Join {
            id,
            middleware: middleware.recipient(),
        });
    }
    Running {
        coordinator,
        network,
    }
}

/// The values to ask for, and the node each is asked of
/// ([`crate::client::targets`]): under attack the brief's habit (the SAFETY
/// attacker first, never the LIVENESS attacker, otherwise every node in
/// turn); with no attack one node, which may name the leader.
fn requests(cfg: &DemoConfig) -> (Vec<Value>, Vec<(Value, NodeId)>) {
    let targets = crate::client::targets(cfg.nodes, cfg.attack, cfg.attacker);
    let requested = requested_values(cfg.values);
    let asked = requested
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), targets[i % targets.len()]))
        .collect();
    (requested, asked)
}

/// Run the demo. Must be called inside an actix system.
pub async fn run(cfg: &DemoConfig) -> Result<Report, DemoError> {
    let spec = cfg.validate()?;
    let begin = Instant::now();
    let cluster = start(&spec, cfg, begin, None);
    let attackers: Vec<NodeId> = spec.attacker().into_iter().collect();
    let (requested, asked) = requests(cfg);
    let honest = spec.honest();
    let quorum = spec.core_config().quorum;
    let split = SplitPlan::new(cfg, quorum, &asked).map(|plan| SplitRun { plan, healed: None });
    let mut client = DemoClient {
        cluster: &cluster,
        begin,
        honest: &honest,
        queue: asked.into(),
        waiting_for: None,
        split,
        propagations: Vec::new(),
        pinned: cfg.attack.is_some(),
    };
    client.cut().await?;
    let progress = client.drive(&requested, begin + cfg.deadline).await?;
    let (split, propagations) = (client.split, client.propagations);
    let elapsed = begin.elapsed();
    let statuses = cluster
        .coordinator
        .send(GetStatuses(crate::actors::GetStatus::ALL))
        .await?;
    let timeline = timeline_of(&cluster).await?;
    let records = cluster.network.send(TakeNetRecords).await?;
    cluster.coordinator.do_send(CoordinatorExitCommand);
    let summary = summarize(
        cfg,
        &attackers,
        &statuses,
        &progress.flagged,
        &evidence_of(&timeline),
        &requested,
        elapsed,
    );
    let trace = cfg.trace.as_ref().map(|range| {
        chart(
            cfg,
            &attackers,
            &statuses,
            &timeline,
            &records,
            &propagations,
            range,
        )
    });
    Ok(Report {
        summary,
        timeline,
        trace,
        split,
    })
}

/// The run's story: the coordinator's timeline with what the network
/// lost woven in, in time order.
async fn timeline_of(cluster: &Running) -> Result<Vec<TimelineEntry>, DemoError> {
    let mut timeline = cluster.coordinator.send(TakeTimeline).await?;
    let lost = cluster.network.send(TakeLost).await?;
    timeline.extend(lost.into_iter().map(|r| TimelineEntry {
        at: r.at,
        node: r.from,
        event: Event::Note(format!(
            "{LOST}{} to node {} ({})",
            r.label,
            r.to,
            if r.cut {
                "the link is cut"
            } else {
                "the network dropped it"
            }
        )),
    }));
    timeline.sort_by_key(|e| e.at);
    Ok(timeline)
}

/// The demo's client: asks for the values and, in the split scenario,
/// cuts, paces and heals.
///
/// Normally it asks for every value at once. During the split it is
/// closed-loop for the awaited values (those a half can decide with the
/// attacker): it asks for the next one only once the previous one was
/// committed on an honest node, as the simulator spreads its requests over
/// the faulty period. Two honest leaders duelling for the same position
/// through the attacker would rarely let either value be chosen, and the
/// attacks need a chosen value one half does not know. Other values (the
/// attacker's bait, a half too small for a quorum) are asked for without
/// waiting. A progress condition, not a timer: the next request waits for
/// the commit it depends on.
struct DemoClient<'a> {
    cluster: &'a Running,
    begin: Instant,
    honest: &'a BTreeSet<NodeId>,
    queue: std::collections::VecDeque<(Value, NodeId)>,
    waiting_for: Option<Value>,
    split: Option<SplitRun>,
    /// The requests drawn on the chart.
    propagations: Vec<(Duration, NodeId, Value)>,
    /// Each node asked proposes its value (the attack scenarios' habit,
    /// see [`crate::client::targets`]); else it may name the leader.
    pinned: bool,
}

impl DemoClient<'_> {
    /// The split scenario: cut before the first request (awaited, so the
    /// network drops from the first packet on), announced in the timeline.
    async fn cut(&self) -> Result<(), DemoError> {
        if let Some(s) = &self.split {
            self.cluster.network.send(CutLinks(s.plan.links())).await?;
            self.note(s, s.plan.cut_note());
        }
        Ok(())
    }

    /// A timeline line about the split, on its first node's lane.
    fn note(&self, s: &SplitRun, text: String) {
        self.cluster.coordinator.do_send(DebugInfo {
            node: *s.plan.left.first().unwrap_or(&0),
            event: Event::Note(text),
        });
    }

    /// Wait for the DebugInfo stream to show every requested value
    /// committed on every honest node, or for the deadline, asking for
    /// values (and healing the split) as the progress allows.
    async fn drive(
        &mut self,
        requested: &[Value],
        deadline: Instant,
    ) -> Result<Progress, DemoError> {
        loop {
            let asked_at = Instant::now();
            let progress = self.cluster.coordinator.send(GetProgress).await?;
            // Looking costs more as values pile up: look less often then,
            // so the cluster keeps the time to commit them.
            let pause = (asked_at.elapsed() * 4).max(Duration::from_millis(2));
            self.heal_if_due(&progress).await?;
            self.ask(&progress);
            let done = requested.iter().all(|v| {
                progress
                    .committed
                    .get(v)
                    .is_some_and(|nodes| self.honest.is_subset(nodes))
            });
            let now = Instant::now();
            if done || now >= deadline {
                return Ok(progress);
            }
            actix_rt::time::sleep(pause.min(deadline - now)).await;
        }
    }

    async fn heal_if_due(&mut self, progress: &Progress) -> Result<(), DemoError> {
        let Some(s) = self.split.as_ref().filter(|s| s.healed.is_none()) else {
            return Ok(());
        };
        if let Some(reason) = s.plan.heal_reason(progress, self.honest) {
            self.cluster.network.send(HealLinks).await?;
            self.note(s, format!("HEALED: every link restored: {reason}"));
            if let Some(s) = self.split.as_mut() {
                s.healed = Some((self.begin.elapsed(), reason));
            }
        }
        Ok(())
    }

    /// Ask for every queued value the pacing allows now.
    fn ask(&mut self, progress: &Progress) {
        let pacing = self.split.as_ref().filter(|s| s.healed.is_none());
        while let Some((value, node)) = self.queue.front().cloned() {
            if pacing.is_some()
                && self
                    .waiting_for
                    .as_ref()
                    .is_some_and(|v| !committed_on_honest(progress, self.honest, v))
            {
                break;
            }
            self.queue.pop_front();
            if pacing.is_some_and(|s| s.plan.awaited.contains(&value)) {
                self.waiting_for = Some(value.clone());
            }
            if self.propagations.len() < MAX_TRACED_REQUESTS {
                self.propagations
                    .push((self.begin.elapsed(), node, value.clone()));
            }
            self.cluster
                .coordinator
                .do_send(CoordinatorPropagateMessage {
                    value,
                    node: Some(node),
                    pinned: self.pinned,
                });
        }
    }
}

/// Client requests drawn from the coordinator's lane.
const MAX_TRACED_REQUESTS: usize = 12;

/// Rows in a chart; past this the chart says it stopped.
const MAX_TRACED_STEPS: usize = 800;

/// The chart's lanes: the coordinator, then each node with its attack (if
/// it attacks) and its committed log.
fn chart_lanes(cfg: &DemoConfig, attackers: &[NodeId], statuses: &[NodeStatus]) -> Vec<Lane> {
    let mut lanes = vec![Lane {
        id: LaneId::Coordinator,
        attack: None,
        log: Vec::new(),
    }];
    for id in 0..cfg.nodes as NodeId {
        lanes.push(Lane {
            id: LaneId::Node(id),
            attack: cfg
                .attack
                .filter(|_| attackers.contains(&id))
                .map(|a| a.to_string()),
            log: statuses
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.log.values().map(ToString::to_string).collect())
                .unwrap_or_default(),
        });
    }
    lanes
}

/// The sequence chart: the network's records, the coordinator's requests and
/// the nodes' notable events, in time order.
fn chart(
    cfg: &DemoConfig,
    attackers: &[NodeId],
    statuses: &[NodeStatus],
    timeline: &[TimelineEntry],
    records: &[NetRecord],
    propagations: &[(Duration, NodeId, Value)],
    range: &Range<Pos>,
) -> Trace {
    let mut rows: Vec<(Duration, Step)> = Vec::new();
    for (at, node, value) in propagations {
        rows.push((
            *at,
            Step::Arrow {
                from: LaneId::Coordinator,
                to: LaneId::Node(*node),
                label: format!("Propagate '{value}'"),
                dropped: false,
            },
        ));
    }
    for r in records {
        rows.push((
            r.at,
            Step::Arrow {
                from: LaneId::Node(r.from),
                to: LaneId::Node(r.to),
                label: r.label.clone(),
                dropped: r.dropped,
            },
        ));
    }
    for e in timeline {
        let (text, alarm) = match &e.event {
            Event::Flagged { .. } | Event::Dropped { .. } | Event::Conflict { .. } => {
                (e.event.to_string(), true)
            }
            Event::Committed { pos, .. } if range.contains(pos) => (e.event.to_string(), false),
            Event::Note(n) => (n.clone(), false),
            _ => continue,
        };
        rows.push((
            e.at,
            Step::Note {
                lane: LaneId::Node(e.node),
                text,
                alarm,
            },
        ));
    }
    // Stable: a message sent and its effect keep their order on equal times.
    rows.sort_by_key(|(at, _)| *at);
    let total = rows.len();
    rows.truncate(MAX_TRACED_STEPS);
    let mut caption = format!(
        "messages about positions {}..{} (--trace-positions A..B for others)",
        range.start, range.end
    );
    if total > MAX_TRACED_STEPS {
        let _ = write!(caption, "; first {MAX_TRACED_STEPS} of {total} rows");
    }
    let lanes = chart_lanes(cfg, attackers, statuses);
    let attack = match cfg.attack {
        Some(a) => format!("{a} attack from node {}", cfg.attacker),
        None => "no attack".to_string(),
    };
    Trace {
        title: format!(
            "paxos demo: {}, {attack}, middleware {}, seed {}",
            crate::verdict::count(cfg.nodes, "node"),
            cfg.defences().label(),
            cfg.seed
        ),
        caption,
        lanes,
        steps: rows.into_iter().map(|(_, s)| s).collect(),
    }
}

/// The human-readable account of a run: timeline, logs and verdict.
pub fn render(report: &Report, max_lines: usize, paint: &Palette) -> String {
    let mut out = String::new();
    render_header(&mut out, report);
    render_timeline(&mut out, report, max_lines, paint);
    render_logs(&mut out, report);
    render_verdict(&mut out, &report.summary, paint);
    out
}

/// What ran, and the split scenario if there was one.
fn render_header(out: &mut String, report: &Report) {
    let s = &report.summary;
    let _ = writeln!(
        out,
        "paxos demo: {}, {}, seed {}, attack {}, middleware {}",
        crate::verdict::count(s.nodes, "node"),
        crate::verdict::count(s.requested, "value"),
        s.seed,
        match (&s.attack, s.attackers.first()) {
            (Some(a), Some(m)) => format!("{a} from node {m}"),
            _ => "none".to_string(),
        },
        s.defences
            .parse::<Defences>()
            .map_or_else(|_| s.defences.clone(), |d| d.label())
    );
    if !s.flags.is_empty() {
        let _ = writeln!(out, "run again with: paxos demo {}", s.flags);
    }
    if let Some(split) = &report.split {
        let p = &split.plan;
        let _ = writeln!(
            out,
            "scenario: nodes {{{}}} and {{{}}} cannot reach each other, both reach node {} \
             (set before the first request, as in `paxos sim`)",
            ids(&p.left),
            ids(&p.right),
            p.attacker
        );
        let _ = match &split.healed {
            Some((at, reason)) => writeln!(
                out,
                "          healed at {:.1} ms: {reason}",
                at.as_secs_f64() * 1e3
            ),
            None => writeln!(out, "          never healed: the run ended first"),
        };
    }
}

/// The nodes' DebugInfo lines, at most `max_lines`.
/// How a lost delivery's timeline line begins.
const LOST: &str = "lost: ";

fn render_timeline(out: &mut String, report: &Report, max_lines: usize, paint: &Palette) {
    let _ = writeln!(out, "\ntimeline (from the nodes' DebugInfo):");
    let shown = report.timeline.len().min(max_lines);
    for e in &report.timeline[..shown] {
        let text = e.event.to_string();
        let text = match &e.event {
            Event::Flagged { .. } | Event::Conflict { .. } | Event::Dropped { .. } => {
                paint.bad(&text)
            }
            Event::Note(_) => paint.warn(&text),
            _ => text,
        };
        // The scenario's cuts and heals are the network's, not a node's.
        let who = match &e.event {
            Event::Note(n) if n.starts_with("SPLIT:") || n.starts_with("HEALED:") => {
                "network".to_string()
            }
            _ => format!("node {}", e.node),
        };
        let _ = writeln!(
            out,
            "  {:>9.3} ms  {who:<7} {text}",
            e.at.as_secs_f64() * 1e3
        );
    }
    if report.timeline.len() > shown {
        let _ = writeln!(
            out,
            "  … {} more lines (RUST_LOG=debug prints them all)",
            report.timeline.len() - shown
        );
    }
}

/// Each honest node's log, and whom the honest middlewares flagged.
fn render_logs(out: &mut String, report: &Report) {
    let s = &report.summary;
    let _ = writeln!(out, "\ncommitted logs:");
    // Neighbours with the same log share a line: 100 agreeing nodes are
    // one line, and a split stands out.
    let mut groups: Vec<(NodeId, NodeId, &Vec<Value>)> = Vec::new();
    for (id, log) in &s.logs {
        match groups.last_mut() {
            Some((_, last, l)) if *l == log && *last + 1 == *id => *last = *id,
            _ => groups.push((*id, *id, log)),
        }
    }
    for (first, last, log) in groups {
        let who = match last - first {
            0 => format!("node {first}"),
            1 => format!("nodes {first}, {last}"),
            _ => format!("nodes {first} to {last}"),
        };
        let values: Vec<String> = log.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "  {who}: {}", values.join(" "));
    }
    let flags: Vec<String> = report
        .timeline
        .iter()
        .filter(|e| s.honest.contains(&e.node))
        .filter_map(|e| match &e.event {
            Event::Flagged { node, reason } => {
                Some(format!("  node {} flagged node {node}: {reason}", e.node))
            }
            _ => None,
        })
        .collect();
    if !flags.is_empty() {
        let _ = writeln!(out, "\nflagged by the middleware:");
        for f in flags {
            let _ = writeln!(out, "{f}");
        }
    }
}

/// What a learner should try next, if the run leaves a question open: an
/// attack that did not bite and why, a defence that was not the attack's
/// own, a defence that can only detect at this size.
pub fn hint(cfg: &DemoConfig, agreement: bool, live: bool, caught: bool) -> Option<String> {
    use crate::middleware::Defence;
    let attack = cfg.attack?;
    let name = attack.to_string();
    let own = Defence::ALL.into_iter().find(|d| d.answers() == name);
    let defences = cfg.defences();
    let bit = !agreement || !live;
    if !bit && !caught {
        return Some(quiet_attack(cfg, attack, &defences));
    }
    if attack == Attack::StalePrepared && !cfg.bft && defences.contains(Defence::Stale) && bit {
        return Some(
            "with n = 2f+1 the stale defence can only detect the lying acceptor, and too late: \
             BFT mode prevents it; try --bft --nodes 4 --middleware"
                .into(),
        );
    }
    let own = own?;
    if cfg.bft && bit && defences.is_empty() {
        // BFT mode runs its defences as one: there is no single one to try.
        return Some(format!(
            "{name}'s own defence is {own}; in BFT mode the defences run all together: try --middleware"
        ));
    }
    match (bit, defences.is_empty(), defences.contains(own)) {
        (true, true, _) => Some(format!(
            "{name}'s own defence is {own}: try --defences {own} (or --middleware for all)"
        )),
        (true, false, false) => Some(format!(
            "{name}'s own defence, {own}, was not among those that ran ({defences}): try --defences {own}"
        )),
        _ => None,
    }
}

/// Why an attack that nobody caught did no harm, and what to try.
fn quiet_attack(cfg: &DemoConfig, attack: Attack, defences: &Defences) -> String {
    verdict::why_harmless(attack, cfg.bft, !defences.is_empty(), cfg.nodes)
}

fn render_verdict(out: &mut String, s: &Summary, paint: &Palette) {
    let _ = writeln!(out, "\nverdict:");
    let mut flagged_by: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
    for e in &s.evidence {
        flagged_by.entry(e.node).or_default().insert(e.by);
    }
    for d in &s.detected {
        flagged_by.entry(*d).or_default();
    }
    let v = verdict::Verdict {
        conflict: s.conflict.as_ref(),
        values: Some((s.requested, s.values_committed)),
        elapsed_ms: Some(s.elapsed_ms),
        positions: s.committed,
        flagged_by,
    };
    for (label, good, text) in v.lines() {
        let text = match good {
            Some(true) => paint.good(&text),
            Some(false) if label == "detected" => paint.warn(&text),
            Some(false) => paint.bad(&text),
            None => text,
        };
        let _ = writeln!(out, "  {:<10} {text}", format!("{label}:"));
    }
    let _ = writeln!(out, "\nwhat happened:");
    for line in crate::term::wrap(&s.what_happened.join(" "), 76) {
        let _ = writeln!(out, "  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: NodeId, log: &[(u64, &str)]) -> NodeStatus {
        NodeStatus {
            id,
            log: log.iter().map(|(p, v)| (*p, Value::from(*v))).collect(),
            flagged: BTreeSet::new(),
            hears_from: None,
            more: None,
        }
    }

    fn cfg(nodes: usize) -> DemoConfig {
        DemoConfig {
            nodes,
            ..DemoConfig::default()
        }
    }

    /// The verdict over `st`, nobody flagged, no time taken.
    fn judge(nodes: usize, attackers: &[NodeId], st: &[NodeStatus], req: &[Value]) -> Summary {
        summarize(
            &cfg(nodes),
            attackers,
            st,
            &BTreeMap::new(),
            &[],
            req,
            Duration::ZERO,
        )
    }

    #[test]
    fn identical_logs_are_agreement_and_live() {
        let req = requested_values(2);
        let st = [
            status(0, &[(0, "v0"), (1, "v1")]),
            status(1, &[(0, "v0"), (1, "v1")]),
        ];
        let s = judge(2, &[], &st, &req);
        assert!(s.agreement && s.live);
        assert_eq!(s.committed, 2);
    }

    #[test]
    fn different_values_at_one_position_break_agreement() {
        let req = requested_values(1);
        let st = [status(0, &[(0, "v0")]), status(1, &[(0, "evil")])];
        let s = judge(2, &[], &st, &req);
        assert!(!s.agreement);
        assert!(!s.live, "node 1 never committed v0");
    }

    /// The liveness line counts values, as liveness is judged: a split
    /// position is committed everywhere but its value is not, and an extra
    /// position (a value committed twice) adds nothing. Never "NO — 5 of 5".
    #[test]
    fn the_liveness_line_counts_the_values_it_judges() {
        let req = requested_values(2);
        let split = [
            status(1, &[(0, "v0"), (1, "v1")]),
            status(2, &[(0, "v0 (safety attack)"), (1, "v1")]),
        ];
        let twice = [
            status(1, &[(0, "v0"), (1, "v1"), (2, "v1")]),
            status(2, &[(0, "v0"), (1, "v1"), (2, "v1")]),
        ];
        for (st, live, values, positions) in [(&split, false, 1, 2), (&twice, true, 2, 3)] {
            let s = judge(3, &[0], st, &req);
            assert_eq!(
                (s.live, s.values_committed, s.committed),
                (live, values, positions)
            );
            let report = Report {
                summary: s,
                timeline: Vec::new(),
                trace: None,
                split: None,
            };
            let text = render(&report, 10, &Palette::plain());
            let verdict = if live { "yes" } else { "NO" };
            let line = format!("liveness:  {verdict} — {values} of 2 values committed");
            assert!(text.contains(&line), "{text}");
        }
    }

    #[test]
    fn attackers_logs_and_accusations_do_not_count() {
        let req = requested_values(1);
        let st = [
            status(0, &[(0, "junk")]),
            status(1, &[(0, "v0")]),
            status(2, &[(0, "v0")]),
        ];
        let flagged = BTreeMap::from([
            (0, BTreeSet::from([1])), // the attacker accuses an honest node
            (1, BTreeSet::from([0])),
        ]);
        let s = summarize(&cfg(3), &[0], &st, &flagged, &[], &req, Duration::ZERO);
        assert!(s.agreement && s.live);
        assert_eq!(s.honest, vec![1, 2]);
        assert_eq!(s.detected, vec![0]);
    }

    #[test]
    fn the_split_awaits_what_a_half_can_decide_and_heals_on_progress_or_a_flag() {
        let asked: Vec<(Value, NodeId)> = requested_values(6)
            .into_iter()
            .zip([0, 1, 2, 3, 1, 2])
            .collect();
        let cfg = DemoConfig {
            nodes: 4,
            attack: Some(Attack::StalePrepared),
            ..DemoConfig::default()
        };
        // BFT, n = 4, quorum 3: {1, 2} + the attacker decide, {3} cannot.
        let plan = SplitPlan::new(&cfg, 3, &asked).expect("a split");
        assert_eq!(plan.left, BTreeSet::from([1, 2]));
        assert_eq!(plan.right, BTreeSet::from([3]));
        assert_eq!(plan.links(), vec![(1, 3), (2, 3)]);
        let names: Vec<String> = plan.awaited.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["v1", "v2", "v4", "v5"],
            "not the attacker's, not {{3}}'s"
        );

        let honest = BTreeSet::from([1, 2, 3]);
        let mut progress = Progress::default();
        for v in ["v1", "v2", "v4"] {
            progress
                .committed
                .insert(Value::from(v), BTreeSet::from([1]));
        }
        // The attacker's word does not count, for commits or for flags.
        progress
            .committed
            .insert(Value::from("v5"), BTreeSet::from([0]));
        progress.flagged.insert(0, BTreeSet::from([1]));
        assert_eq!(plan.heal_reason(&progress, &honest), None);
        progress
            .committed
            .insert(Value::from("v5"), BTreeSet::from([0, 2]));
        assert_eq!(
            plan.heal_reason(&progress, &honest),
            Some(HealReason::Decided)
        );
        progress.flagged.insert(2, BTreeSet::from([0]));
        assert_eq!(
            plan.heal_reason(&progress, &honest),
            Some(HealReason::Flagged(BTreeSet::from([0])))
        );

        // Classic n = 3: each half of one reaches a quorum of 2.
        let cfg = DemoConfig {
            attack: Some(Attack::IgnorePrepared),
            ..DemoConfig::default()
        };
        let plan = SplitPlan::new(&cfg, 2, &asked[..3]).expect("a split");
        assert_eq!(
            (plan.left.len(), plan.right.len(), plan.awaited.len()),
            (1, 1, 2)
        );
        // Other attacks, or a single honest node, get no split.
        let safety = DemoConfig {
            attack: Some(Attack::Safety),
            ..DemoConfig::default()
        };
        assert_eq!(SplitPlan::new(&safety, 2, &asked), None);
        let two = DemoConfig { nodes: 2, ..cfg };
        assert_eq!(SplitPlan::new(&two, 2, &asked), None);
    }

    #[test]
    fn a_silent_honest_node_is_not_live() {
        let req = requested_values(1);
        let st = [status(0, &[(0, "v0")])];
        let s = judge(2, &[], &st, &req);
        assert!(!s.live);
        assert_eq!(s.committed, 0);
    }
}
