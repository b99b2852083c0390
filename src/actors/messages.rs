//! The typed messages the actors exchange through their mailboxes, named as
//! in the brief (`PeerInfo`, `DebugInfo`, `CoordinatorPropagateMessage`,
//! `CoordinatorExitCommand`).

use crate::core::{Event, Message, NodeId, Output, Pos, PosMap, Value};
use crate::wire::Packet;
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Ticker → middleware → node: one period of the node's clock has passed
/// ([`super::ticker`]).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Tick;

/// Middleware → node: messages that passed the middleware, with their sender.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Deliver(pub Vec<(NodeId, Message)>);

/// Node → middleware: what the core wants sent.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Outgoing(pub Vec<Output>);

/// Middleware → network: a packet to carry.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Transmit(pub Packet);

/// Network → middleware: a packet that arrived.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Incoming(pub Packet);

/// A node's entry in the coordinator's registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub id: NodeId,
    /// The node's ed25519 verifying key, when signatures are on.
    pub key: Option<[u8; 32]>,
    /// Where the node listens, for multi-process mode.
    pub addr: Option<String>,
}

/// Node → coordinator: "register me" (the brief's `PeerInfo`).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct PeerInfo {
    pub record: PeerRecord,
    /// Where the coordinator sends this node its commands.
    pub commands: Recipient<NodeCommand>,
    /// Where the coordinator asks this node for its status.
    pub status: Recipient<GetStatus>,
}

/// Coordinator → node.
#[derive(Message, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[rtype(result = "()")]
pub enum NodeCommand {
    /// The client asks this node to propagate a value.
    Propagate(Value),
    /// The current registry: every peer and its key.
    Peers(Vec<PeerRecord>),
    /// The brief's `CoordinatorExitCommand`, as delivered to one node.
    Exit,
    /// The client asks this node for a value: it proposes it, or answers
    /// with an `Event::Redirected` naming the leader (see `node::ask`).
    Ask(Value),
    /// Drop every packet to and from these peers from now on (none: heal):
    /// the coordinator's `paxos partition`, for split scenarios across
    /// processes. Carried out by the node's bridge, like a cable pulled.
    Cut(Vec<NodeId>),
}

/// Client → coordinator: cut every link between the nodes of `a` and those
/// of `b` (each node still reaches the rest); empty sets heal every link.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Partition {
    pub a: Vec<NodeId>,
    pub b: Vec<NodeId>,
}

/// Node or middleware → coordinator: one line of the brief's `DebugInfo`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct DebugInfo {
    pub node: NodeId,
    pub event: Event,
}

/// Node → its runtime: the node's key-value store applied a client's
/// command ([`crate::kv`]), and this is the reply.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct KvApplied {
    pub node: NodeId,
    pub client: u64,
    pub seq: u64,
    pub reply: crate::kv::Reply,
}

/// Client → coordinator: ask `node` (or the one the coordinator's client
/// picks, the leader it knows) to propagate `value`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct CoordinatorPropagateMessage {
    pub value: Value,
    pub node: Option<NodeId>,
    /// The node must propose the value itself, even if it knows another
    /// leader: an attack scenario that needs this proposer. Otherwise a
    /// node that does not lead names the leader and the value goes there.
    pub pinned: bool,
}

impl CoordinatorPropagateMessage {
    /// Ask `node` (or the client's pick) for `value`; it may name the
    /// leader instead of proposing it.
    pub fn ask(value: Value, node: Option<NodeId>) -> Self {
        CoordinatorPropagateMessage {
            value,
            node,
            pinned: false,
        }
    }
}

/// Client → coordinator: stop every node.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct CoordinatorExitCommand;

/// Node → its process: it cannot go on (its store failed) and has halted;
/// the process must stop, so that nobody keeps asking a node that answers
/// nothing (and the coordinator sees it leave).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Fatal(pub String);

/// Anyone → node: what is your committed log? `None` when the node did not
/// answer (a remote node whose connection is down).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[rtype(result = "Option<NodeStatus>")]
pub struct GetStatus {
    /// The first log position wanted.
    pub from: Pos,
    /// Roughly how many bytes of values to return: the page ends before the
    /// entry that would pass it (but always holds one, if there is one).
    pub budget: usize,
}

impl GetStatus {
    /// The whole log at once (in one process, where nothing limits a reply).
    pub const ALL: GetStatus = GetStatus {
        from: 0,
        budget: usize::MAX,
    };
}

/// A node's answer to [`GetStatus`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub log: BTreeMap<Pos, Value>,
    /// The nodes this node's middleware flagged as malicious.
    pub flagged: BTreeSet<NodeId>,
    /// Across processes, the peers whose authenticated connection to this
    /// node is up (it hears them); `None` in one process, where every node
    /// hears every other.
    pub hears_from: Option<BTreeSet<NodeId>>,
    /// The log did not fit the page: ask again from this position.
    pub more: Option<Pos>,
}

impl NodeStatus {
    /// The page of `log` that `ask` wants, and where the next page starts.
    pub fn page(log: &PosMap<Value>, ask: GetStatus) -> (BTreeMap<Pos, Value>, Option<Pos>) {
        let mut page = BTreeMap::new();
        let mut used = 0usize;
        for (pos, value) in log.range(ask.from..) {
            let size = value.items().map(|v| v.len() + 8).sum::<usize>() + 16;
            if !page.is_empty() && used.saturating_add(size) > ask.budget {
                return (page, Some(*pos));
            }
            used = used.saturating_add(size);
            page.insert(*pos, value.clone());
        }
        (page, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_the_log_once_each_within_the_budget() {
        let log: PosMap<Value> = (0..100u64)
            .map(|p| (p, Value::one("x".repeat(50))))
            .collect();
        let mut from = 0;
        let mut seen = BTreeMap::new();
        let mut pages = 0;
        loop {
            let (page, more) = NodeStatus::page(
                &log,
                GetStatus {
                    from,
                    budget: 1_000,
                },
            );
            assert!(!page.is_empty());
            let bytes: usize = page
                .values()
                .map(|v| v.items().first().map_or(0, str::len))
                .sum();
            assert!(bytes <= 1_000, "{bytes}");
            seen.extend(page);
            pages += 1;
            match more {
                Some(next) => from = next,
                None => break,
            }
        }
        assert_eq!(log, seen);
        assert!(pages > 5, "{pages}");
        // A value bigger than the budget still comes, alone.
        let big: PosMap<Value> = [(0, Value::one("y".repeat(5_000))), (1, Value::one("z"))]
            .into_iter()
            .collect();
        let (page, more) = NodeStatus::page(
            &big,
            GetStatus {
                from: 0,
                budget: 100,
            },
        );
        assert_eq!((page.len(), more), (1, Some(1)));
    }
}
