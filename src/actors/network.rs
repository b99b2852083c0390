//! The in-process network: delivers packets between middlewares, dropping a
//! seeded fraction of them to show the protocol recovering from loss.

use super::messages::{Incoming, Transmit};
use crate::core::NodeId;
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;

/// Connects a node's middleware to the network.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub id: NodeId,
    pub middleware: Recipient<Incoming>,
}

/// The in-process network actor.
pub struct Network {
    peers: BTreeMap<NodeId, Recipient<Incoming>>,
    rng: ChaCha8Rng,
    /// Probability of losing each delivery, in millionths.
    drop_ppm: u64,
}

impl Network {
    /// A network losing each delivery with probability `drop` (0.0..=1.0),
    /// the losses drawn from `seed`.
    pub fn new(seed: u64, drop: f64) -> Self {
        Network {
            peers: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6574_776f_726b),
            drop_ppm: (drop.clamp(0.0, 1.0) * 1e6) as u64,
        }
    }

    fn lost(&mut self) -> bool {
        self.drop_ppm > 0 && self.rng.next_u64() % 1_000_000 < self.drop_ppm
    }
}

impl Actor for Network {
    type Context = Context<Self>;
}

impl Handler<Join> for Network {
    type Result = ();
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.peers.insert(msg.id, msg.middleware);
    }
}

impl Handler<Transmit> for Network {
    type Result = ();
    fn handle(&mut self, Transmit(packet): Transmit, _: &mut Context<Self>) {
        match packet.to {
            Some(to) => {
                if !self.lost() {
                    if let Some(peer) = self.peers.get(&to) {
                        peer.do_send(Incoming(packet));
                    }
                }
            }
            None => {
                let targets: Vec<NodeId> = self
                    .peers
                    .keys()
                    .copied()
                    .filter(|&id| id != packet.from)
                    .collect();
                for to in targets {
                    if !self.lost() {
                        self.peers[&to].do_send(Incoming(packet.clone()));
                    }
                }
            }
        }
    }
}
