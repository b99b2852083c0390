//! The `Middleware` actor: one per node, and every message to and from that
//! node passes through it. It owns the node's [`Shield`] and applies its
//! verdicts; the decisions themselves are made by the sans-IO shield.

use super::messages::{DebugInfo, Deliver, Incoming, Outgoing, Transmit};
use crate::middleware::{Shield, Verdict};
use actix::prelude::*;
use std::time::Duration;

pub struct Middleware {
    shield: Shield,
    node: Recipient<Deliver>,
    network: Recipient<Transmit>,
    coordinator: Recipient<DebugInfo>,
    tick: Duration,
}

impl Middleware {
    pub fn new(
        shield: Shield,
        node: Recipient<Deliver>,
        network: Recipient<Transmit>,
        coordinator: Recipient<DebugInfo>,
        tick: Duration,
    ) -> Self {
        Middleware {
            shield,
            node,
            network,
            coordinator,
            tick,
        }
    }

    fn apply(&mut self, v: Verdict) {
        for p in v.send {
            self.network.do_send(Transmit(p));
        }
        for event in v.events {
            self.coordinator.do_send(DebugInfo {
                node: self.shield.id(),
                event,
            });
        }
        if !v.deliver.is_empty() {
            self.node.do_send(Deliver(v.deliver));
        }
    }
}

impl Actor for Middleware {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |act, _| {
            let v = act.shield.tick();
            act.apply(v);
        });
    }
}

impl Handler<Outgoing> for Middleware {
    type Result = ();
    fn handle(&mut self, Outgoing(outs): Outgoing, _: &mut Context<Self>) {
        for o in outs {
            for p in self.shield.outgoing(o) {
                self.network.do_send(Transmit(p));
            }
        }
    }
}

impl Handler<Incoming> for Middleware {
    type Result = ();
    fn handle(&mut self, Incoming(packet): Incoming, _: &mut Context<Self>) {
        let v = self.shield.incoming(packet);
        self.apply(v);
    }
}
