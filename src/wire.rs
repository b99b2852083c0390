//! What travels between nodes: a [`Packet`] from one node to one node or to
//! all, carrying a [`Body`]. The Middleware produces and consumes packets; the
//! network (in-process or the TCP bridge) only moves them.

use crate::core::{Message, NodeId};
use serde::{Deserialize, Serialize};

/// One message on the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Packet {
    /// The node that sent it (a claim the Middleware checks when signatures are on).
    pub from: NodeId,
    /// One node, or `None` for every node but the sender.
    pub to: Option<NodeId>,
    pub body: Body,
}

/// The contents of a packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Body {
    /// A protocol message, as the core produced it.
    Paxos(Message),
}

impl Body {
    /// A short label for logs: the message kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Paxos(m) => m.kind(),
        }
    }
}
