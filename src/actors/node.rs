//! `NodeActor`: drives one participant (honest replica or attacker) with the
//! messages its middleware lets through, logical ticks from `run_interval`
//! (each carrying seeded randomness for jitter), and client requests.

use super::messages::{DebugInfo, Deliver, Fatal, GetStatus, NodeCommand, NodeStatus, Outgoing};
use crate::core::{Input, NodeId, Output, Pos, Process, Value, Write};
use crate::node::{self, Split};
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a durable node writes its `Persist` outputs (the node's data
/// directory); `Err` means the write is not known to be on disk.
pub trait Persist: Send {
    fn persist(&mut self, writes: &[Write]) -> Result<(), String>;
}

pub struct NodeActor {
    /// `None` runs in memory: a restart forgets promises (see README).
    store: Option<Box<dyn Persist>>,
    id: NodeId,
    process: Box<dyn Process>,
    middleware: Recipient<Outgoing>,
    coordinator: Recipient<DebugInfo>,
    rng: ChaCha8Rng,
    tick: Duration,
    /// Told when the node halts for good; without it, the actor system stops.
    fatal: Option<Recipient<Fatal>>,
}

impl NodeActor {
    /// `seed` makes the retry jitter reproducible.
    pub fn new(
        process: Box<dyn Process>,
        middleware: Recipient<Outgoing>,
        coordinator: Recipient<DebugInfo>,
        seed: u64,
        tick: Duration,
    ) -> Self {
        let id = process.id();
        NodeActor {
            store: None,
            id,
            process,
            middleware,
            coordinator,
            rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(id) << 32)),
            tick,
            fatal: None,
        }
    }

    /// Persist every write before sending anything (see [`Output::Persist`]).
    pub fn with_store(mut self, store: Option<Box<dyn Persist>>) -> Self {
        self.store = store;
        self
    }

    /// Tell `to` when the node halts for good, instead of stopping the system.
    pub fn with_fatal(mut self, to: Option<Recipient<Fatal>>) -> Self {
        self.fatal = to;
        self
    }

    fn feed(&mut self, input: crate::core::Input) {
        let outs = self.process.step(input);
        self.dispatch(outs);
    }

    /// Carry out one step's outputs as [`node::split`] sorts them: persist
    /// (synced) first; then report (a report needs only the writes to be
    /// durable, and a client waiting for a commit hears of it sooner), then
    /// hand the messages to the middleware.
    fn dispatch(&mut self, outs: Vec<Output>) {
        let Split {
            persist,
            events,
            send,
        } = node::split(outs);
        if let (Some(store), false) = (&mut self.store, persist.is_empty()) {
            if let Err(e) = store.persist(&persist) {
                // A promise that is not on disk must not be sent: stop here
                // rather than answer and forget it after a crash.
                let why = format!("node {}: cannot persist ({e}); stopping", self.id);
                log::error!("{why}");
                match &self.fatal {
                    Some(to) => to.do_send(Fatal(why)),
                    None => System::current().stop_with_code(1),
                }
                self.store = None;
                self.process = Box::new(Halted(self.id, Default::default()));
                return;
            }
        }
        for event in events {
            self.coordinator.do_send(DebugInfo {
                node: self.id,
                event,
            });
        }
        if !send.is_empty() {
            self.middleware.do_send(Outgoing(send));
        }
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        super::every(ctx, self.tick, |act| {
            let entropy = act.rng.next_u64();
            act.feed(Input::Tick { entropy });
        });
    }
}

impl Handler<Deliver> for NodeActor {
    type Result = ();
    fn handle(&mut self, Deliver(msgs): Deliver, _: &mut Context<Self>) {
        let mut outs = Vec::new();
        for (from, msg) in msgs {
            outs.extend(self.process.step(Input::Deliver { from, msg }));
        }
        self.dispatch(outs);
    }
}

impl Handler<NodeCommand> for NodeActor {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, ctx: &mut Context<Self>) {
        match cmd {
            NodeCommand::Propagate(value) => self.feed(Input::Request { value }),
            // Keys are the middleware's business; it keeps Peers for itself.
            NodeCommand::Peers(_) | NodeCommand::Cut(_) => {}
            NodeCommand::Exit => ctx.stop(),
        }
    }
}

impl Handler<GetStatus> for NodeActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, ask: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let (log, more) = NodeStatus::page(self.process.log(), ask);
        MessageResult(Some(NodeStatus {
            id: self.id,
            log,
            flagged: Default::default(),
            hears_from: None,
            more,
        }))
    }
}

/// What a node becomes after a failed write: it answers nothing.
struct Halted(NodeId, BTreeMap<Pos, Value>);

impl Process for Halted {
    fn id(&self) -> NodeId {
        self.0
    }
    fn step(&mut self, _: Input) -> Vec<Output> {
        Vec::new()
    }
    fn log(&self) -> &BTreeMap<Pos, Value> {
        &self.1
    }
}
