//! Thin actix wrappers around the sans-IO core.
//!
//! - [`NodeActor`] drives one participant (an honest replica or an attacker):
//!   it feeds it messages, ticks and client requests, and hands its outputs on.
//! - [`Middleware`] sits between a node and the network: every message to and
//!   from its node passes through it, and its [`Shield`](crate::middleware::Shield)
//!   decides what gets through.
//! - [`Network`] delivers packets between middlewares in one process, and can
//!   drop a seeded fraction of them, and drops everything on links the demo
//!   cut (its split scenario). [`Switchboard`] is the perfect network the
//!   bench runs on: no actor, each packet straight into its receivers'
//!   mailboxes.
//! - [`Coordinator`] is the brief's coordinator: registry of peers (`PeerInfo`),
//!   sink of debug lines (`DebugInfo`), the client that asks nodes to
//!   propagate values, and the one that stops the cluster.
//!
//! - [`spawn_node`] starts one member of a [`ClusterSpec`](crate::cluster::ClusterSpec)
//!   as its `NodeActor` and `Middleware` pair: the one place the demo, the
//!   bench and a node process wire them.
//!
//! No protocol decision is taken here: actors only carry messages and ticks;
//! what a node's outputs mean is [`crate::node`]'s, called on both sides.

mod coordinator;
mod messages;
mod middleware;
mod network;
mod node;
mod ticker;
mod verifier;

pub use coordinator::{
    Admit, Coordinator, GetKvReply, GetProgress, GetRegistry, GetStatuses, NodeLost, Profile,
    Progress, Registry, Release, TakeTimeline, TimelineEntry,
};
pub use messages::*;
pub use middleware::Middleware;
pub use network::{
    CutLinks, HealLinks, Join, NetRecord, Network, Route, Switchboard, TakeLost, TakeNetRecords,
};
pub use node::{writing_steps, NodeActor, Persist};
pub use ticker::Ticker;
pub use verifier::{Checked, Precheck, Verifier, Verifiers};

use crate::cluster::Member;
use crate::storage::ProofLog;
use actix::prelude::*;
use std::time::Duration;

/// How often node and middleware actors tick (sent by their [`Ticker`]).
pub const TICK: Duration = Duration::from_millis(1);

/// Call `f` every `period`, counted from the end of the last call.
///
/// Not `run_interval`: after a stall (a loaded machine, a paused process)
/// that fires every missed tick in one burst, before the mailbox is read, so
/// every node's randomised backoff expires at the same instant and honest
/// proposers duel in lock-step. A node's ticks measure the time it was
/// running; a stall skips them.
pub(crate) fn every<A>(ctx: &mut Context<A>, period: Duration, f: fn(&mut A, &mut Context<A>))
where
    A: Actor<Context = Context<A>>,
{
    ctx.run_later(period, move |act, ctx| {
        f(act, ctx);
        every(ctx, period, f);
    });
}

/// Where a node's actors send what they produce, and what they keep.
pub struct Wiring {
    /// Where the middleware sends packets.
    pub network: Route,
    /// Where both actors report their DebugInfo lines.
    pub coordinator: Recipient<DebugInfo>,
    /// Makes the node's retry jitter reproducible.
    pub seed: u64,
    /// Where the core's writes go, synced before anything is sent.
    pub store: Option<Box<dyn Persist>>,
    /// Where the middleware appends its proofs.
    pub proofs: Option<ProofLog>,
    /// Start the pair on this arbiter (default: the caller's).
    pub arbiter: Option<ArbiterHandle>,
    /// Told if the node halts for good (its store failed).
    pub fatal: Option<Recipient<Fatal>>,
    /// Checks incoming signatures on another core first ([`verifier`]).
    pub verifier: Option<Verifier>,
    /// Where the node's key-value store sends its replies, if it keeps one.
    pub kv: Option<Recipient<KvApplied>>,
    /// How the node serves reads ([`crate::kv::ReadPath::Local`] only for
    /// the bench's baseline).
    pub kv_reads: crate::kv::ReadPath,
    /// Positions between two snapshots of that store (0: never).
    pub snapshot_every: u64,
}

impl Wiring {
    /// In memory, on the caller's arbiter.
    pub fn new(network: Recipient<Transmit>, coordinator: Recipient<DebugInfo>, seed: u64) -> Self {
        Wiring::routed(Route::Via(network), coordinator, seed)
    }

    /// In memory, on the caller's arbiter, sending packets by `network`.
    pub fn routed(network: Route, coordinator: Recipient<DebugInfo>, seed: u64) -> Self {
        Wiring {
            network,
            coordinator,
            seed,
            store: None,
            proofs: None,
            arbiter: None,
            fatal: None,
            verifier: None,
            kv: None,
            kv_reads: crate::kv::ReadPath::Log,
            snapshot_every: crate::kv::SNAPSHOT_EVERY,
        }
    }
}

/// Verifier threads for the nodes of this process, when signatures are on
/// and a core is free for them.
pub fn verifiers(signs: bool, nodes: usize) -> Option<Verifiers> {
    signs.then(|| Verifiers::start(nodes)).flatten()
}

/// Start `member` as a `NodeActor` behind its `Middleware` (both on one
/// arbiter); the middleware's address is the node's, for the network and
/// the coordinator.
pub fn spawn_node(member: Member, w: Wiring) -> Addr<Middleware> {
    let Member {
        process, shield, ..
    } = member;
    let Wiring {
        network,
        coordinator,
        seed,
        store,
        proofs,
        arbiter,
        fatal,
        verifier,
        kv,
        kv_reads,
        snapshot_every,
    } = w;
    let build = move |ctx: &mut Context<Middleware>| {
        // Started from inside the middleware's context: the same thread.
        let node = NodeActor::new(
            process,
            ctx.address().recipient(),
            coordinator.clone(),
            seed,
        )
        .with_store(store)
        .with_fatal(fatal)
        .with_kv(kv, kv_reads, snapshot_every)
        .start();
        Ticker::new(ctx.address().recipient(), TICK).start();
        Middleware::new(shield, node, network, coordinator)
            .with_proofs(proofs)
            .with_verifier(verifier)
    };
    match arbiter {
        None => Middleware::create(build),
        Some(a) => Middleware::start_in_arbiter(&a, build),
    }
}
