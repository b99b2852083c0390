//! The demo: a whole cluster in one process.
//!
//! [`run`] starts the coordinator, the network and one node + middleware per
//! node id, asks the coordinator to propagate the requested values, waits
//! until every honest node committed them all or the deadline passes, and
//! returns a [`Report`]: the machine-readable [`Summary`] (field names as in
//! the design notes, stable for scripts) and the timeline of `DebugInfo`
//! lines. [`summarize`] is the pure verdict, tested on its own.

use crate::actors::{
    Coordinator, CoordinatorExitCommand, CoordinatorPropagateMessage, GetProgress, GetStatuses,
    Join, Middleware, NetRecord, Network, NodeActor, NodeStatus, PeerInfo, PeerRecord,
    TakeNetRecords, TakeTimeline, TimelineEntry,
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
    for (i, value) in requested.iter().enumerate() {
        let node = targets[i % targets.len()];
        if propagations.len() < MAX_TRACED_REQUESTS {
            propagations.push((start.elapsed(), node, value.clone()));
        }
        coordinator.do_send(CoordinatorPropagateMessage {
            value: value.clone(),
            node: Some(node),
        });
    }

    let honest: BTreeSet<NodeId> = (0..cfg.nodes as NodeId)
        .filter(|id| !attackers.contains(id))
        .collect();
    // Wait for the DebugInfo stream to show every value committed on every
    // honest node, or for the deadline.
    let deadline = start + cfg.deadline;
    let progress = loop {
        let progress = coordinator.send(GetProgress).await?;
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
    fn a_silent_honest_node_is_not_live() {
        let req = requested_values(1);
        let st = [status(0, &[(0, "v0")])];
        let s = summarize(&cfg(2), &[], &st, &BTreeMap::new(), &req, Duration::ZERO);
        assert!(!s.live);
        assert_eq!(s.committed, 0);
    }
}
