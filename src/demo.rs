//! The demo: a whole cluster in one process.
//!
//! [`run`] starts the coordinator, the network and one node + middleware per
//! node id, asks the coordinator to propagate the requested values, waits
//! until every honest node committed them all or the deadline passes, and
//! returns a [`Report`]: the machine-readable [`Summary`] (field names as in
//! the design notes, stable for scripts) and the timeline of `DebugInfo`
//! lines. [`summarize`] is the pure verdict, tested on its own.

use crate::actors::{
    Coordinator, CoordinatorExitCommand, CoordinatorPropagateMessage, CutLinks, DebugInfo,
    GetProgress, GetStatuses, HealLinks, Join, Middleware, NetRecord, Network, NodeActor,
    NodeStatus, PeerInfo, PeerRecord, Progress, TakeNetRecords, TakeTimeline, TimelineEntry,
};
use crate::attack::{self, Attack};
use crate::auth::Identity;
use crate::core::{Event, NodeId, Pos, Value};
use crate::middleware::{Shield, ShieldConfig};
use crate::term::Palette;
use crate::trace::{Lane, LaneId, Step, Trace};
use actix::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

/// How often node and middleware actors tick.
pub const TICK: Duration = Duration::from_millis(1);

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
    /// Strikes at one position before a node is ignored.
    pub max_prepares: u32,
    /// Record a sequence chart of the messages about these positions.
    pub trace: Option<Range<Pos>>,
    /// BFT mode: quorums of 2f+1 signed votes, n >= 3f+1 (`--bft`).
    pub bft: bool,
    /// The f of BFT mode (`--faults`); by default the largest n allows.
    pub faults: Option<usize>,
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
            max_prepares: 3,
            trace: None,
            bft: false,
            faults: None,
        }
    }
}

/// Why a demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("a cluster needs at least 1 node (got --nodes {0})")]
    NoNodes(usize),
    #[error("the {0} attacker is the only node: there is no honest node to ask for values")]
    NoHonestNode(String),
    #[error("--drop must be between 0 and 1 (got {0})")]
    BadDrop(f64),
    #[error(transparent)]
    Bft(#[from] crate::core::BftError),
    #[error(
        "--attacker {attacker} is not a node of this {nodes}-node cluster (nodes are 0..{nodes})"
    )]
    BadAttacker { attacker: NodeId, nodes: usize },
    #[error("--max-prepares must be at least 1")]
    BadMaxPrepares,
    #[error("the coordinator stopped answering: {0}")]
    Mailbox(#[from] MailboxError),
}

/// The demo's machine-readable summary (`paxos demo --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub nodes: usize,
    pub attack: Option<String>,
    pub attackers: Vec<NodeId>,
    pub middleware: bool,
    pub seed: u64,
    pub requested: usize,
    pub honest: Vec<NodeId>,
    /// Each honest node's committed values, in log order.
    pub logs: BTreeMap<NodeId, Vec<Value>>,
    /// Positions committed on every honest node.
    pub committed: usize,
    /// No position holds two different values on honest nodes.
    pub agreement: bool,
    /// Every requested value committed on every honest node before the deadline.
    pub live: bool,
    /// Nodes that at least one honest node flagged.
    pub detected: Vec<NodeId>,
    pub elapsed_ms: f64,
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
/// simulator (`sim::schedule`, same [`honest_halves`](crate::sim::schedule::honest_halves)): the honest nodes in
/// two halves that both reach the attacker but not each other, so that a
/// value chosen by one half plus the attacker stays unknown to the other.
///
/// When to heal is decided here, from what the demo observes
/// ([`Progress`]), not from a timer: see [`SplitPlan::heal_reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPlan {
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
        if !cfg.attack.is_some_and(Attack::splits_honest_nodes) {
            return None;
        }
        let (left, right) = crate::sim::schedule::honest_halves(cfg.nodes, cfg.attacker)?;
        let to_ids = |h: BTreeSet<usize>| -> BTreeSet<NodeId> {
            h.into_iter().map(|m| m as NodeId).collect()
        };
        let (left, right) = (to_ids(left), to_ids(right));
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
    fn cut_note(&self, attack: Attack) -> String {
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

/// Agreement over honest nodes' logs (no position holds two different
/// values), and how many positions every one of them committed. Shared by
/// the demo and `paxos status`, so both judge alike.
pub fn agreement(honest: &[&NodeStatus]) -> (bool, usize) {
    let mut agree = true;
    let mut by_pos: BTreeMap<u64, &Value> = BTreeMap::new();
    for s in honest {
        for (pos, v) in &s.log {
            if let Some(other) = by_pos.insert(*pos, v) {
                agree &= other == v;
            }
        }
    }
    let on_all = by_pos
        .keys()
        .filter(|p| honest.iter().all(|s| s.log.contains_key(p)))
        .count();
    (agree, on_all)
}

/// The verdict over the nodes' statuses. `flagged` maps each node to the nodes
/// its middleware flagged; only honest nodes' accusations count.
pub fn summarize(
    cfg: &DemoConfig,
    attackers: &[NodeId],
    statuses: &[NodeStatus],
    flagged: &BTreeMap<NodeId, BTreeSet<NodeId>>,
    requested: &[Value],
    elapsed: Duration,
) -> Summary {
    let honest: Vec<NodeId> = (0..cfg.nodes as NodeId)
        .filter(|id| !attackers.contains(id))
        .collect();
    let honest_statuses: Vec<&NodeStatus> =
        statuses.iter().filter(|s| honest.contains(&s.id)).collect();
    let (agreement, on_all) = agreement(&honest_statuses);
    // A node that did not answer counts as having committed nothing.
    let all_answered = honest_statuses.len() == honest.len();
    let committed = if all_answered { on_all } else { 0 };
    let live = all_answered
        && honest_statuses.iter().all(|s| {
            // Positions may carry batches: look for each value in them.
            let have: BTreeSet<&str> = s
                .log
                .values()
                .flat_map(|b| b.items().iter().map(String::as_str))
                .collect();
            requested
                .iter()
                .all(|v| v.items().iter().all(|i| have.contains(i.as_str())))
        });
    let detected: BTreeSet<NodeId> = flagged
        .iter()
        .filter(|(reporter, _)| honest.contains(reporter))
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    Summary {
        nodes: cfg.nodes,
        attack: cfg.attack.map(|a| a.to_string()),
        attackers: attackers.to_vec(),
        middleware: cfg.middleware,
        seed: cfg.seed,
        requested: requested.len(),
        logs: honest_statuses
            .iter()
            .map(|s| (s.id, s.log.values().cloned().collect()))
            .collect(),
        honest,
        committed,
        agreement,
        live,
        detected: detected.into_iter().collect(),
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
    }
}

/// Run the demo. Must be called inside an actix system.
pub async fn run(cfg: &DemoConfig) -> Result<Report, DemoError> {
    if cfg.nodes == 0 {
        return Err(DemoError::NoNodes(cfg.nodes));
    }
    if !(0.0..=1.0).contains(&cfg.drop) {
        return Err(DemoError::BadDrop(cfg.drop));
    }
    let attackers: Vec<NodeId> = match cfg.attack {
        Some(_) if cfg.attacker as usize >= cfg.nodes => {
            return Err(DemoError::BadAttacker {
                attacker: cfg.attacker,
                nodes: cfg.nodes,
            })
        }
        Some(_) => vec![cfg.attacker],
        None => Vec::new(),
    };
    if let (Some(a), 1) = (cfg.attack, cfg.nodes) {
        return Err(DemoError::NoHonestNode(a.to_string()));
    }
    if cfg.max_prepares == 0 {
        return Err(DemoError::BadMaxPrepares);
    }
    let core_cfg = crate::core::mode_config(cfg.nodes, cfg.bft, cfg.faults)?;
    let start = Instant::now();
    let coordinator = Coordinator::new().start();
    let mut network = Network::new(cfg.seed, cfg.drop);
    if let Some(range) = &cfg.trace {
        network = network.recording(start, range.clone());
    }
    let network = network.start();
    let mut propagations = Vec::new();
    let shield_cfg = ShieldConfig {
        max_prepares: cfg.max_prepares,
        grace_ticks: core_cfg.grace_ticks,
        quorum: core_cfg.quorum,
        bft: cfg.bft,
        implicit_leader: !core_cfg.loopback,
        ..ShieldConfig::new(cfg.nodes, cfg.middleware)
    };
    for id in 0..cfg.nodes as NodeId {
        let attack = cfg.attack.filter(|_| attackers.contains(&id));
        let process = attack::participant(id, core_cfg.clone(), attack);
        let identity = Identity::from_seed(cfg.seed, id);
        let key = identity.public();
        let shield_cfg = ShieldConfig {
            record: attack.is_some_and(Attack::records_packets),
            ..shield_cfg.clone()
        };
        // Undefended against an attack that signatures alone stop: no
        // signatures at all (as in the simulator), or nothing would show.
        let unsigned = !cfg.middleware && cfg.attack.is_some_and(Attack::defeated_by_signatures);
        let shield = Shield::new(id, shield_cfg, (!unsigned).then_some(identity));
        let (coord, net) = (coordinator.clone(), network.clone());
        let seed = cfg.seed;
        let middleware = Middleware::create(move |ctx| {
            let node = NodeActor::new(
                process,
                ctx.address().recipient(),
                coord.clone().recipient(),
                seed,
                TICK,
            )
            .start();
            coord.do_send(PeerInfo {
                record: PeerRecord {
                    id,
                    key: Some(key),
                    addr: None,
                },
                commands: ctx.address().recipient(),
                status: ctx.address().recipient(),
            });
            Middleware::new(shield, node, net.recipient(), coord.recipient(), TICK)
        });
        network.do_send(Join {
            id,
            middleware: middleware.recipient(),
        });
    }

    // The seed's habit: ask the SAFETY attacker first (so it leads position
    // 0), never ask the LIVENESS attacker; otherwise every node in turn.
    let targets = crate::client::targets(cfg.nodes, cfg.attack, cfg.attacker);
    let requested = requested_values(cfg.values);
    let asked: Vec<(Value, NodeId)> = requested
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), targets[i % targets.len()]))
        .collect();
    let honest: BTreeSet<NodeId> = (0..cfg.nodes as NodeId)
        .filter(|id| !attackers.contains(id))
        .collect();

    // The split scenario: cut before the first request (awaited, so the
    // network drops from the first packet on), announced in the timeline.
    let mut split =
        SplitPlan::new(cfg, core_cfg.quorum, &asked).map(|plan| SplitRun { plan, healed: None });
    if let (Some(s), Some(attack)) = (&split, cfg.attack) {
        network.send(CutLinks(s.plan.links())).await?;
        coordinator.do_send(DebugInfo {
            node: *s.plan.left.first().unwrap_or(&0),
            event: Event::Note(s.plan.cut_note(attack)),
        });
    }

    // The client. Normally it asks for every value at once. During the
    // split it is closed-loop for the awaited values (those a half can
    // decide with the attacker): it asks for the next one only once the
    // previous one was committed on an honest node, as the simulator
    // spreads its requests over the faulty period. Two honest leaders
    // duelling for the same position through the attacker would rarely let
    // either value be chosen, and the attacks need a chosen value one half
    // does not know. Other values (the attacker's bait, a half too small
    // for a quorum) are asked for without waiting. A progress condition,
    // not a timer: the next request waits for the commit it depends on.
    let mut queue: std::collections::VecDeque<(Value, NodeId)> = asked.into();
    let mut waiting_for: Option<Value> = None;

    // Wait for the DebugInfo stream to show every value committed on every
    // honest node, or for the deadline.
    let deadline = start + cfg.deadline;
    let progress = loop {
        let progress = coordinator.send(GetProgress).await?;
        if let Some(s) = split.as_mut().filter(|s| s.healed.is_none()) {
            if let Some(reason) = s.plan.heal_reason(&progress, &honest) {
                network.send(HealLinks).await?;
                coordinator.do_send(DebugInfo {
                    node: *s.plan.left.first().unwrap_or(&0),
                    event: Event::Note(format!("HEALED: every link restored: {reason}")),
                });
                s.healed = Some((start.elapsed(), reason));
            }
        }
        let pacing = split.as_ref().filter(|s| s.healed.is_none());
        while let Some((value, node)) = queue.front().cloned() {
            if pacing.is_some()
                && waiting_for
                    .as_ref()
                    .is_some_and(|v| !committed_on_honest(&progress, &honest, v))
            {
                break;
            }
            queue.pop_front();
            if pacing.is_some_and(|s| s.plan.awaited.contains(&value)) {
                waiting_for = Some(value.clone());
            }
            if propagations.len() < MAX_TRACED_REQUESTS {
                propagations.push((start.elapsed(), node, value.clone()));
            }
            coordinator.do_send(CoordinatorPropagateMessage {
                value,
                node: Some(node),
            });
        }
        let done = requested.iter().all(|v| {
            progress
                .committed
                .get(v)
                .is_some_and(|nodes| honest.is_subset(nodes))
        });
        if done || Instant::now() >= deadline {
            break progress;
        }
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    };
    let elapsed = start.elapsed();
    let statuses = coordinator.send(GetStatuses).await?;
    let timeline = coordinator.send(TakeTimeline).await?;
    let records = network.send(TakeNetRecords).await?;
    coordinator.do_send(CoordinatorExitCommand);
    let summary = summarize(
        cfg,
        &attackers,
        &statuses,
        &progress.flagged,
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

/// Client requests drawn from the coordinator's lane.
const MAX_TRACED_REQUESTS: usize = 12;

/// Rows in a chart; past this the chart says it stopped.
const MAX_TRACED_STEPS: usize = 800;

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
    let attack = match cfg.attack {
        Some(a) => format!("{a} attack from node {}", cfg.attacker),
        None => "no attack".to_string(),
    };
    Trace {
        title: format!(
            "paxos demo: {} nodes, {attack}, middleware {}, seed {}",
            cfg.nodes,
            if cfg.middleware { "on" } else { "off" },
            cfg.seed
        ),
        caption,
        lanes,
        steps: rows.into_iter().map(|(_, s)| s).collect(),
    }
}

/// The human-readable account of a run: timeline, logs and verdict.
pub fn render(report: &Report, max_lines: usize, paint: &Palette) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "paxos demo: {} nodes, {} values, seed {}, attack {}, middleware {}",
        s.nodes,
        s.requested,
        s.seed,
        match (&s.attack, s.attackers.first()) {
            (Some(a), Some(m)) => format!("{a} from node {m}"),
            _ => "none".to_string(),
        },
        if s.middleware { "on" } else { "off" }
    );
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
        let _ = writeln!(
            out,
            "  {:>9.3} ms  node {}  {text}",
            e.at.as_secs_f64() * 1e3,
            e.node,
        );
    }
    if report.timeline.len() > shown {
        let _ = writeln!(
            out,
            "  … {} more lines (RUST_LOG=debug prints them all)",
            report.timeline.len() - shown
        );
    }
    let _ = writeln!(out, "\ncommitted logs:");
    for (id, log) in &s.logs {
        let _ = writeln!(
            out,
            "  node {id}: {}",
            log.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
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
    let _ = writeln!(out, "\nverdict:");
    let _ = writeln!(
        out,
        "  agreement: {}",
        if s.agreement {
            paint.good("yes — no position holds two different values on honest nodes")
        } else {
            paint.bad("NO — honest nodes committed different values at the same position")
        }
    );
    let _ = writeln!(
        out,
        "  liveness:  {} — {} of {} positions committed on every honest node, in {:.1} ms",
        paint.verdict(s.live, if s.live { "yes" } else { "NO" }),
        s.committed,
        s.requested,
        s.elapsed_ms
    );
    let _ = writeln!(
        out,
        "  detected:  {}",
        if s.detected.is_empty() {
            "nobody".to_string()
        } else {
            let ids: Vec<String> = s.detected.iter().map(|d| format!("node {d}")).collect();
            paint.warn(&ids.join(", "))
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: NodeId, log: &[(u64, &str)]) -> NodeStatus {
        NodeStatus {
            id,
            log: log.iter().map(|(p, v)| (*p, Value::from(*v))).collect(),
            flagged: BTreeSet::new(),
        }
    }

    fn cfg(nodes: usize) -> DemoConfig {
        DemoConfig {
            nodes,
            ..DemoConfig::default()
        }
    }

    #[test]
    fn identical_logs_are_agreement_and_live() {
        let req = requested_values(2);
        let st = [
            status(0, &[(0, "v0"), (1, "v1")]),
            status(1, &[(0, "v0"), (1, "v1")]),
        ];
        let s = summarize(&cfg(2), &[], &st, &BTreeMap::new(), &req, Duration::ZERO);
        assert!(s.agreement && s.live);
        assert_eq!(s.committed, 2);
    }

    #[test]
    fn different_values_at_one_position_break_agreement() {
        let req = requested_values(1);
        let st = [status(0, &[(0, "v0")]), status(1, &[(0, "evil")])];
        let s = summarize(&cfg(2), &[], &st, &BTreeMap::new(), &req, Duration::ZERO);
        assert!(!s.agreement);
        assert!(!s.live, "node 1 never committed v0");
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
        let s = summarize(&cfg(3), &[0], &st, &flagged, &req, Duration::ZERO);
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
        let s = summarize(&cfg(2), &[], &st, &BTreeMap::new(), &req, Duration::ZERO);
        assert!(!s.live);
        assert_eq!(s.committed, 0);
    }
}
