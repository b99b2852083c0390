//! The seed's coordinator. It is not a Paxos participant: it keeps the
//! registry of peers (`PeerInfo`), collects each node's `DebugInfo` lines into
//! a timeline, acts as the client that asks nodes to propagate values, and
//! stops the cluster with `CoordinatorExitCommand`.
//!
//! As a client it re-sends a value it asked of a node once some node's
//! middleware has flagged that node: a client stops trusting a node the
//! cluster caught misbehaving.

use super::messages::{
    CoordinatorExitCommand, CoordinatorPropagateMessage, DebugInfo, GetStatus, NodeCommand,
    NodeStatus, PeerInfo, PeerRecord,
};
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
pub struct GetStatuses;

struct Peer {
    record: PeerRecord,
    commands: Recipient<NodeCommand>,
    status: Recipient<GetStatus>,
}

pub struct Coordinator {
    peers: BTreeMap<NodeId, Peer>,
    start: Instant,
    timeline: Vec<TimelineEntry>,
    progress: Progress,
    /// Which node was last asked to propagate each value.
    asked: BTreeMap<Value, NodeId>,
    next: usize,
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl Coordinator {
    pub fn new() -> Self {
        Coordinator {
            peers: BTreeMap::new(),
            start: Instant::now(),
            timeline: Vec::new(),
            progress: Progress::default(),
            asked: BTreeMap::new(),
            next: 0,
        }
    }

    fn suspects(&self) -> BTreeSet<NodeId> {
        self.progress.flagged.values().flatten().copied().collect()
    }

    /// The next node, round robin, that nobody flagged.
    fn pick(&mut self) -> Option<NodeId> {
        let suspects = self.suspects();
        let ids: Vec<NodeId> = self
            .peers
            .keys()
            .copied()
            .filter(|id| !suspects.contains(id))
            .collect();
        if ids.is_empty() {
            return None;
        }
        let id = ids[self.next % ids.len()];
        self.next += 1;
        Some(id)
    }

    fn propagate(&mut self, value: Value, node: NodeId) {
        if let Some(peer) = self.peers.get(&node) {
            log::debug!("asking node {node} to propagate '{value}'");
            peer.commands.do_send(NodeCommand::Propagate(value.clone()));
            self.asked.insert(value, node);
        } else {
            log::warn!("cannot propagate '{value}': node {node} is not registered");
        }
    }

    /// Re-send values whose node was flagged before they committed.
    fn resend_from_suspects(&mut self) {
        let suspects = self.suspects();
        let stuck: Vec<Value> = self
            .asked
            .iter()
            .filter(|(v, node)| {
                suspects.contains(node) && !self.progress.committed.contains_key(*v)
            })
            .map(|(v, _)| v.clone())
            .collect();
        for value in stuck {
            if let Some(node) = self.pick() {
                log::info!("re-sending '{value}' to node {node}: its first node was flagged");
                self.propagate(value, node);
            }
        }
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(20), |act, _| {
            act.resend_from_suspects()
        });
    }
}

impl Handler<PeerInfo> for Coordinator {
    type Result = ();
    fn handle(&mut self, info: PeerInfo, _: &mut Context<Self>) {
        let id = info.record.id;
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

impl Handler<DebugInfo> for Coordinator {
    type Result = ();
    fn handle(&mut self, info: DebugInfo, _: &mut Context<Self>) {
        log::debug!("node {}: {}", info.node, info.event);
        match &info.event {
            Event::Committed { value, .. } => {
                self.progress
                    .committed
                    .entry(value.clone())
                    .or_default()
                    .insert(info.node);
            }
            Event::Flagged { node, .. } => {
                self.progress
                    .flagged
                    .entry(info.node)
                    .or_default()
                    .insert(*node);
            }
            _ => {}
        }
        self.timeline.push(TimelineEntry {
            at: self.start.elapsed(),
            node: info.node,
            event: info.event,
        });
    }
}

impl Handler<CoordinatorPropagateMessage> for Coordinator {
    type Result = ();
    fn handle(&mut self, msg: CoordinatorPropagateMessage, _: &mut Context<Self>) {
        match msg.node.or_else(|| self.pick()) {
            Some(node) => self.propagate(msg.value, node),
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
    fn handle(&mut self, _: GetStatuses, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self
            .peers
            .values()
            .map(|p| p.status.send(GetStatus))
            .collect();
        Box::pin(async move {
            join_all(asks)
                .await
                .into_iter()
                .filter_map(Result::ok)
                .collect()
        })
    }
}
