//! The Middleware's logic, as a sans-IO state machine: the [`Shield`].
//!
//! Every message to and from a node passes through its shield. Outgoing, the
//! shield turns the core's outputs into packets; incoming, it decides which
//! packets reach the core. With the middleware off it is a pass-through. The
//! `Middleware` actor only carries packets and ticks to and from it, and the
//! simulator drives the very same code.

use crate::core::{Event, Message, NodeId, Output};
use crate::wire::{Body, Packet};

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

/// One node's middleware state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shield {
    id: NodeId,
}

impl Shield {
    /// A pass-through shield for node `id`.
    pub fn new(id: NodeId) -> Self {
        Shield { id }
    }

    /// The node this shield guards.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Turn one of the core's outputs into packets (events are not sent).
    pub fn outgoing(&mut self, out: Output) -> Vec<Packet> {
        match out {
            Output::Send { to, msg } => vec![Packet {
                from: self.id,
                to: Some(to),
                body: Body::Paxos(msg),
            }],
            Output::Broadcast { msg } => vec![Packet {
                from: self.id,
                to: None,
                body: Body::Paxos(msg),
            }],
            Output::Event(_) => Vec::new(),
        }
    }

    /// Decide what an incoming packet means for the core.
    pub fn incoming(&mut self, packet: Packet) -> Verdict {
        let mut v = Verdict::default();
        match packet.body {
            Body::Paxos(msg) => v.deliver.push((packet.from, msg)),
        }
        v
    }

    /// One logical tick.
    pub fn tick(&mut self) -> Verdict {
        Verdict::default()
    }
}
