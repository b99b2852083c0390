//! Thin actix wrappers around the sans-IO core.
//!
//! - [`NodeActor`] drives one participant (an honest replica or an attacker):
//!   it feeds it messages, ticks and client requests, and hands its outputs on.
//! - [`Middleware`] sits between a node and the network: every message to and
//!   from its node passes through it, and its [`Shield`](crate::middleware::Shield)
//!   decides what gets through.
//! - [`Network`] delivers packets between middlewares in one process, and can
//!   drop a seeded fraction of them, and drops everything on links the demo
//!   cut (its split scenario).
//! - [`Coordinator`] is the seed's coordinator: registry of peers (`PeerInfo`),
//!   sink of debug lines (`DebugInfo`), the client that asks nodes to
//!   propagate values, and the one that stops the cluster.
//!
//! No protocol decision is taken here: actors only carry messages and ticks.

mod coordinator;
mod messages;
mod middleware;
mod network;
mod node;

pub use coordinator::{
    Admit, Coordinator, GetProgress, GetRegistry, GetStatuses, NodeLost, Progress, Registry,
    TakeTimeline, TimelineEntry,
};
pub use messages::*;
pub use middleware::Middleware;
pub use network::{CutLinks, HealLinks, Join, NetRecord, Network, TakeNetRecords};
pub use node::{NodeActor, Persist};
