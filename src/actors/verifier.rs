//! `Verifier`: checks the signatures of incoming packets on a thread of its
//! own, ahead of the shield, so a node's signature checks use the second
//! core while its core and shield run on the first.
//!
//! It only warms the shield's verified-signature cache (through a
//! [`Keyring::sharing`] copy): the shield still makes every decision and
//! checks for itself whatever is not in the cache, so a packet's fate is the
//! same with or without a verifier; only its cost moves. Packets come back
//! to their middleware in the order they were sent (one thread, one FIFO
//! mailbox), so the order of delivery to the core is unchanged.

use crate::auth::Keyring;
use crate::wire::{self, Packet};
use actix::prelude::*;
use std::sync::Arc;

/// The signature checker, on a `SyncArbiter` thread.
pub struct Verifier;

impl Actor for Verifier {
    type Context = SyncContext<Self>;
}

/// Check `packet`'s signatures under `keys`, then hand it to `back`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Precheck {
    pub packet: Packet,
    pub keys: Arc<Keyring>,
    pub back: Recipient<Checked>,
}

/// A packet whose signatures were checked ahead (good ones are cached).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Checked(pub Packet);

impl Handler<Precheck> for Verifier {
    type Result = ();
    fn handle(&mut self, p: Precheck, _: &mut SyncContext<Self>) {
        wire::precheck(&p.keys, &p.packet);
        p.back.do_send(Checked(p.packet));
    }
}

/// Verifier threads for this process's nodes, up to one per core, when
/// there is more than one core (on one core they would only add hand-offs). A node
/// keeps one of them ([`Verifiers::for_node`]), so its packets stay in order.
#[derive(Clone)]
pub struct Verifiers(Vec<Addr<Verifier>>);

impl Verifiers {
    /// Threads for `nodes` nodes: one per core, at most one per node.
    pub fn start(nodes: usize) -> Option<Verifiers> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(nodes.max(1));
        (cores > 1).then(|| {
            Verifiers(
                (0..threads)
                    .map(|_| SyncArbiter::start(1, || Verifier))
                    .collect(),
            )
        })
    }

    /// The verifier node `id` uses, always the same one.
    pub fn for_node(&self, id: crate::core::NodeId) -> Addr<Verifier> {
        self.0[id as usize % self.0.len()].clone()
    }
}
