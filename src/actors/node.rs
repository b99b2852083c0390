//! `NodeActor`: drives one participant (honest replica or attacker) with the
//! messages its middleware lets through, logical ticks from `run_interval`
//! (each carrying seeded randomness for jitter), and client requests.

use super::messages::{DebugInfo, Deliver, GetStatus, NodeCommand, NodeStatus, Outgoing};
use crate::core::{Input, NodeId, Output, Process};
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::time::Duration;

pub struct NodeActor {
    id: NodeId,
    process: Box<dyn Process>,
    middleware: Recipient<Outgoing>,
    coordinator: Recipient<DebugInfo>,
    rng: ChaCha8Rng,
    tick: Duration,
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
            id,
            process,
            middleware,
            coordinator,
            rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(id) << 32)),
            tick,
        }
    }

    fn feed(&mut self, input: crate::core::Input) {
        let outs = self.process.step(input);
        self.dispatch(outs);
    }

    fn dispatch(&mut self, outs: Vec<Output>) {
        let mut send = Vec::with_capacity(outs.len());
        for o in outs {
            match o {
                Output::Event(event) => self.coordinator.do_send(DebugInfo {
                    node: self.id,
                    event,
                }),
                other => send.push(other),
            }
        }
        if !send.is_empty() {
            self.middleware.do_send(Outgoing(send));
        }
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |act, _| {
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
            NodeCommand::Peers(_) => {}
            NodeCommand::Exit => ctx.stop(),
        }
    }
}

impl Handler<GetStatus> for NodeActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(NodeStatus {
            id: self.id,
            log: self.process.log().clone(),
            flagged: Default::default(),
        })
    }
}
