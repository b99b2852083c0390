//! The in-process network: delivers packets between middlewares, dropping a
//! seeded fraction of them to show the protocol recovering from loss.

use super::messages::{Incoming, Transmit};
use crate::core::NodeId;
use crate::core::Pos;
use crate::wire::Packet;
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// One packet the network carried (or lost), for the demo's `--trace`.
#[derive(Clone, Debug)]
pub struct NetRecord {
    pub at: Duration,
    pub from: NodeId,
    pub to: NodeId,
    pub label: String,
    pub dropped: bool,
}

/// Take what the network recorded so far.
#[derive(Message)]
#[rtype(result = "Vec<NetRecord>")]
pub struct TakeNetRecords;

/// What to record: packets about these positions, timed from `start`.
struct Recorder {
    start: Instant,
    positions: Range<Pos>,
    records: Vec<NetRecord>,
}

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
    recorder: Option<Recorder>,
}

impl Network {
    /// A network losing each delivery with probability `drop` (0.0..=1.0),
    /// the losses drawn from `seed`.
    pub fn new(seed: u64, drop: f64) -> Self {
        Network {
            peers: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6574_776f_726b),
            drop_ppm: (drop.clamp(0.0, 1.0) * 1e6) as u64,
            recorder: None,
        }
    }

    /// Also record every packet about `positions`, timed from `start`.
    pub fn recording(mut self, start: Instant, positions: Range<Pos>) -> Self {
        self.recorder = Some(Recorder {
            start,
            positions,
            records: Vec::new(),
        });
        self
    }

    fn record(&mut self, packet: &Packet, to: NodeId, dropped: bool) {
        let Some(r) = &mut self.recorder else {
            return;
        };
        if crate::trace::position(&packet.body).is_some_and(|p| r.positions.contains(&p)) {
            r.records.push(NetRecord {
                at: r.start.elapsed(),
                from: packet.from,
                to,
                label: crate::trace::label(&packet.body),
                dropped,
            });
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

impl Handler<TakeNetRecords> for Network {
    type Result = MessageResult<TakeNetRecords>;
    fn handle(&mut self, _: TakeNetRecords, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.recorder
                .as_mut()
                .map(|r| std::mem::take(&mut r.records))
                .unwrap_or_default(),
        )
    }
}

impl Handler<Transmit> for Network {
    type Result = ();
    fn handle(&mut self, Transmit(packet): Transmit, _: &mut Context<Self>) {
        let targets: Vec<NodeId> = match packet.to {
            Some(to) => vec![to],
            None => self
                .peers
                .keys()
                .copied()
                .filter(|&id| id != packet.from)
                .collect(),
        };
        for to in targets {
            let lost = self.lost();
            self.record(&packet, to, lost);
            if !lost {
                if let Some(peer) = self.peers.get(&to) {
                    peer.do_send(Incoming(packet.clone()));
                }
            }
        }
    }
}
