//! The `Middleware` actor: one per node, and every message to and from that
//! node passes through it — peer packets, and the coordinator's commands. It
//! owns the node's [`Shield`] and applies its verdicts; the decisions
//! themselves are made by the sans-IO shield. With a data directory it also
//! appends what the shield must keep across a restart (its proofs) to
//! `proofs.log` ([`ProofLog`]).

use super::messages::{
    DebugInfo, Deliver, GetStatus, Incoming, NodeCommand, NodeStatus, Outgoing, Tick,
};
use super::network::Route;
use super::node::NodeActor;
use super::verifier::{Checked, Precheck, Verifier};
use crate::auth::Keyring;
use crate::middleware::{Shield, Verdict};
use crate::node;
use crate::storage::ProofLog;
use actix::prelude::*;
use std::sync::Arc;

pub struct Middleware {
    shield: Shield,
    node: Addr<NodeActor>,
    network: Route,
    coordinator: Recipient<DebugInfo>,
    proofs: Option<ProofLog>,
    /// Checks incoming signatures on another core, with a copy of the
    /// shield's keys that shares its cache (renewed when keys change).
    verifier: Option<(Verifier, Arc<Keyring>)>,
}

impl Middleware {
    pub fn new(
        shield: Shield,
        node: Addr<NodeActor>,
        network: Route,
        coordinator: Recipient<DebugInfo>,
    ) -> Self {
        Middleware {
            shield,
            node,
            network,
            coordinator,
            proofs: None,
            verifier: None,
        }
    }

    /// Have `verifier` check incoming signatures first (see [`Verifier`]).
    pub fn with_verifier(mut self, verifier: Option<Verifier>) -> Self {
        self.verifier = verifier.map(|v| (v, Arc::new(self.shield.keys().sharing())));
        self
    }

    fn take(&mut self, packet: crate::wire::Packet) {
        let v = self.shield.incoming(packet);
        self.apply(v);
    }

    /// Append the shield's new proofs to `log` from now on.
    pub fn with_proofs(mut self, log: Option<ProofLog>) -> Self {
        if log.is_some() {
            self.shield.track_durable();
        }
        self.proofs = log;
        self
    }

    /// Write what the shield added to its durable state, if anything. A
    /// failure costs only this node's ability to prove what it did later
    /// (never safety), so it is an error line and the log is given up.
    fn keep_proofs(&mut self) {
        let Some(log) = self.proofs.as_mut() else {
            return;
        };
        let forgot = self.shield.take_forgot().is_some();
        let delta = self.shield.take_durable();
        let written = match (forgot, delta) {
            // A snapshot covers what it forgot: what is left, from scratch.
            (true, _) => Some(log.rewrite(&self.shield.durable())),
            (false, Some(delta)) => Some(log.append(&delta)),
            (false, None) => None,
        };
        if let Some(Err(e)) = written {
            log::error!(
                "node {}: cannot persist the middleware's proofs, no longer trying: {e}",
                self.shield.id()
            );
            self.proofs = None;
        }
    }

    fn apply(&mut self, v: Verdict) {
        self.keep_proofs();
        for p in v.send {
            self.network.send(p);
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
}

impl Handler<Tick> for Middleware {
    type Result = ();
    /// The shield's clock first, then the node's.
    fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
        let v = self.shield.tick();
        self.apply(v);
        self.node.do_send(tick);
    }
}

impl Handler<Outgoing> for Middleware {
    type Result = ();
    fn handle(&mut self, Outgoing(outs): Outgoing, _: &mut Context<Self>) {
        // The node's own votes of the whole batch go back in one Deliver.
        let mut local = Verdict::default();
        for o in outs {
            let (packets, own) = node::outgoing(&mut self.shield, o);
            // Our own commits' certificates are made here: kept before they go.
            self.keep_proofs();
            for p in packets {
                self.network.send(p);
            }
            local.merge(own);
        }
        self.apply(local);
    }
}

impl Handler<Incoming> for Middleware {
    type Result = ();
    fn handle(&mut self, Incoming(packet): Incoming, ctx: &mut Context<Self>) {
        match &self.verifier {
            // Every packet goes through the verifier, so they come back in
            // the order they arrived.
            Some((verifier, keys)) => verifier.do_send(Precheck {
                packet,
                keys: Arc::clone(keys),
                back: ctx.address().recipient(),
            }),
            None => self.take(packet),
        }
    }
}

impl Handler<Checked> for Middleware {
    type Result = ();
    fn handle(&mut self, Checked(packet): Checked, _: &mut Context<Self>) {
        self.take(packet);
    }
}

impl Handler<NodeCommand> for Middleware {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, ctx: &mut Context<Self>) {
        match cmd {
            NodeCommand::Peers(peers) => {
                for p in peers {
                    if let Some(key) = p.key {
                        if !self.shield.add_peer_key(p.id, key) {
                            log::warn!(
                                "node {}: peer {} sent an invalid key",
                                self.shield.id(),
                                p.id
                            );
                        }
                    }
                }
                if let Some((_, keys)) = self.verifier.as_mut() {
                    *keys = Arc::new(self.shield.keys().sharing());
                }
            }
            NodeCommand::Exit => {
                self.node.do_send(NodeCommand::Exit);
                ctx.stop();
            }
            other => self.node.do_send(other),
        }
    }
}

impl Handler<GetStatus> for Middleware {
    type Result = ResponseFuture<Option<NodeStatus>>;
    fn handle(&mut self, page: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let flagged = self.shield.flagged().clone();
        let ask = self.node.send(page);
        Box::pin(async move {
            let mut status = ask.await.ok().flatten()?;
            status.flagged = flagged;
            Some(status)
        })
    }
}
