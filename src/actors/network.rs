//! The in-process network: delivers packets between middlewares, dropping a
//! seeded fraction of them to show the protocol recovering from loss, and
//! every packet on a link the demo cut ([`CutLinks`], [`HealLinks`]).

use super::messages::{Incoming, Transmit};
use crate::core::NodeId;
use crate::core::Pos;
use crate::wire::Packet;
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One packet the network carried (or lost), for the demo's `--trace`.
#[derive(Clone, Debug)]
pub struct NetRecord {
    pub at: Duration,
    pub from: NodeId,
    pub to: NodeId,
    pub label: String,
    pub dropped: bool,
    /// Lost because the link was cut (the split scenario), not by chance.
    pub cut: bool,
}

/// Take what the network recorded so far.
#[derive(Message)]
#[rtype(result = "Vec<NetRecord>")]
pub struct TakeNetRecords;

/// What to record: packets about these positions, timed from `start`.
struct Recorder {
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

/// Cut the links between these pairs of nodes: every packet between the
/// two nodes of a pair is dropped, both ways, until [`HealLinks`]. A link is
/// judged by the packet's sender field, as an in-process network has no
/// other (the attacks that need a split do not forge senders).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct CutLinks(pub Vec<(NodeId, NodeId)>);

/// Restore every cut link.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct HealLinks;

/// The unordered link between `a` and `b`.
fn link(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

/// The in-process network actor.
pub struct Network {
    peers: BTreeMap<NodeId, Recipient<Incoming>>,
    /// Links that carry nothing, as (smaller id, larger id).
    cut: BTreeSet<(NodeId, NodeId)>,
    rng: ChaCha8Rng,
    /// Probability of losing each delivery, in millionths.
    drop_ppm: u64,
    recorder: Option<Recorder>,
    /// The first [`MAX_LOST`] deliveries lost to `drop` or a cut link, for
    /// the demo's timeline.
    lost: Vec<NetRecord>,
    start: Instant,
}

/// How many lost deliveries the network remembers for the timeline.
pub const MAX_LOST: usize = 10_000;

/// Take the lost deliveries remembered so far.
#[derive(Message)]
#[rtype(result = "Vec<NetRecord>")]
pub struct TakeLost;

impl Handler<TakeLost> for Network {
    type Result = MessageResult<TakeLost>;
    fn handle(&mut self, _: TakeLost, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(&mut self.lost))
    }
}

impl Network {
    /// A network losing each delivery with probability `drop` (0.0..=1.0),
    /// the losses drawn from `seed`.
    pub fn new(seed: u64, drop: f64) -> Self {
        Network {
            peers: BTreeMap::new(),
            cut: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6574_776f_726b),
            drop_ppm: (drop.clamp(0.0, 1.0) * 1e6) as u64,
            recorder: None,
            lost: Vec::new(),
            start: Instant::now(),
        }
    }

    /// Time what it remembers from `start` (the run's beginning).
    pub fn timed_from(mut self, start: Instant) -> Self {
        self.start = start;
        self
    }

    /// Also record every packet about `positions`, timed from `start`.
    pub fn recording(mut self, start: Instant, positions: Range<Pos>) -> Self {
        self.start = start;
        self.recorder = Some(Recorder {
            positions,
            records: Vec::new(),
        });
        self
    }

    fn record(&mut self, packet: &Packet, to: NodeId, dropped: bool) {
        let keep_lost = dropped && self.lost.len() < MAX_LOST;
        let drawn = self.recorder.as_ref().is_some_and(|r| {
            crate::trace::position(&packet.body).is_some_and(|p| r.positions.contains(&p))
        });
        if !keep_lost && !drawn {
            return;
        }
        let record = NetRecord {
            at: self.start.elapsed(),
            from: packet.from,
            to,
            label: crate::trace::label(&packet.body),
            dropped,
            cut: dropped && self.cut.contains(&link(packet.from, to)),
        };
        if keep_lost {
            self.lost.push(record.clone());
        }
        if let Some(r) = self.recorder.as_mut().filter(|_| drawn) {
            r.records.push(record);
        }
    }

    /// Whether a delivery from `from` to `to` is lost: on a cut link always
    /// (drawing no randomness, so the losses elsewhere stay those of the
    /// seed), else with the configured probability.
    fn lost(&mut self, from: NodeId, to: NodeId) -> bool {
        if self.cut.contains(&link(from, to)) {
            return true;
        }
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

impl Handler<CutLinks> for Network {
    type Result = ();
    fn handle(&mut self, CutLinks(pairs): CutLinks, _: &mut Context<Self>) {
        for (a, b) in pairs {
            if a != b {
                self.cut.insert(link(a, b));
            }
        }
    }
}

impl Handler<HealLinks> for Network {
    type Result = ();
    fn handle(&mut self, _: HealLinks, _: &mut Context<Self>) {
        self.cut.clear();
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
            let lost = self.lost(packet.from, to);
            self.record(&packet, to, lost);
            if !lost {
                if let Some(peer) = self.peers.get(&to) {
                    peer.do_send(Incoming(packet.clone()));
                }
            }
        }
    }
}

/// A perfect in-process network: it loses nothing and cuts no link, so it
/// needs no actor of its own. A middleware hands each packet straight to its
/// receivers' mailboxes: one hop per delivery where the [`Network`] actor
/// takes two. What `paxos bench` runs on, as it measures the cluster, not
/// the faults the demo injects.
#[derive(Clone, Default)]
pub struct Switchboard(Arc<RwLock<BTreeMap<NodeId, Recipient<Incoming>>>>);

impl Switchboard {
    /// Packets for `id` go to `middleware` from now on.
    pub fn join(&self, id: NodeId, middleware: Recipient<Incoming>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, middleware);
    }

    /// Deliver `packet` to its receiver, or to every joined node but its
    /// sender; a node that has not joined gets nothing, as on [`Network`].
    fn carry(&self, packet: Packet) {
        let peers = self.0.read().unwrap_or_else(|e| e.into_inner());
        match packet.to {
            Some(to) => {
                if let Some(peer) = peers.get(&to) {
                    peer.do_send(Incoming(packet));
                }
            }
            None => {
                let from = packet.from;
                for (_, peer) in peers.iter().filter(|(&id, _)| id != from) {
                    peer.do_send(Incoming(packet.clone()));
                }
            }
        }
    }
}

/// Where a middleware sends its packets.
#[derive(Clone)]
pub enum Route {
    /// To an actor that carries them: the [`Network`] (which may lose,
    /// cut and record them) or a process's TCP bridge.
    Via(Recipient<Transmit>),
    /// Straight to the receivers ([`Switchboard`]).
    Direct(Switchboard),
}

impl Route {
    pub fn send(&self, packet: Packet) {
        match self {
            Route::Via(to) => to.do_send(Transmit(packet)),
            Route::Direct(board) => board.carry(packet),
        }
    }
}

impl From<Recipient<Transmit>> for Route {
    fn from(to: Recipient<Transmit>) -> Self {
        Route::Via(to)
    }
}

impl From<Switchboard> for Route {
    fn from(board: Switchboard) -> Self {
        Route::Direct(board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Ballot, Message};
    use crate::wire::Body;

    /// Counts the packets it is handed, by sender.
    #[derive(Default)]
    struct Sink(BTreeMap<NodeId, usize>);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Incoming> for Sink {
        type Result = ();
        fn handle(&mut self, Incoming(p): Incoming, _: &mut Context<Self>) {
            *self.0.entry(p.from).or_default() += 1;
        }
    }

    #[derive(Message)]
    #[rtype(result = "BTreeMap<NodeId, usize>")]
    struct Count;

    impl Handler<Count> for Sink {
        type Result = MessageResult<Count>;
        fn handle(&mut self, _: Count, _: &mut Context<Self>) -> Self::Result {
            MessageResult(self.0.clone())
        }
    }

    fn broadcast(from: NodeId) -> Transmit {
        Transmit(Packet {
            from,
            to: None,
            body: Body::Paxos(Message::Prepare {
                pos: 0,
                ballot: Ballot::new(1, from),
            }),
            sig: None,
        })
    }

    /// The switchboard carries what the network actor would on a perfect
    /// network: a packet to its one receiver, a broadcast to every joined
    /// node but its sender, nothing to a node that has not joined.
    #[test]
    fn the_switchboard_delivers_as_a_lossless_network_does() {
        actix::System::new().block_on(async {
            let board = Switchboard::default();
            let sinks: Vec<Addr<Sink>> = (0..3).map(|_| Sink::default().start()).collect();
            for (id, s) in sinks.iter().enumerate() {
                board.join(id as NodeId, s.clone().recipient());
            }
            let route = Route::from(board.clone());
            for from in 0..3 {
                route.send(broadcast(from).0);
            }
            route.send(Packet {
                to: Some(2),
                ..broadcast(0).0
            });
            // Node 7 never joined: its packets go nowhere, and nobody fails.
            route.send(Packet {
                to: Some(7),
                ..broadcast(1).0
            });
            let got = |i: usize| sinks[i].send(Count);
            assert_eq!(got(0).await.unwrap(), BTreeMap::from([(1, 1), (2, 1)]));
            assert_eq!(got(1).await.unwrap(), BTreeMap::from([(0, 1), (2, 1)]));
            assert_eq!(got(2).await.unwrap(), BTreeMap::from([(0, 2), (1, 1)]));
        });
    }

    #[test]
    fn a_cut_link_drops_both_ways_until_healed_and_others_still_carry() {
        actix::System::new().block_on(async {
            let net = Network::new(1, 0.0).start();
            let sinks: Vec<Addr<Sink>> = (0..3).map(|_| Sink::default().start()).collect();
            for (id, s) in sinks.iter().enumerate() {
                net.send(Join {
                    id: id as NodeId,
                    middleware: s.clone().recipient(),
                })
                .await
                .unwrap();
            }
            net.send(CutLinks(vec![(2, 1)])).await.unwrap();
            for from in 0..3 {
                net.send(broadcast(from)).await.unwrap();
            }
            net.send(HealLinks).await.unwrap();
            net.send(broadcast(1)).await.unwrap();
            let got = |i: usize| sinks[i].send(Count);
            // Node 0 hears both halves; 1 and 2 hear only node 0 until the
            // heal, then 2 hears 1 again.
            assert_eq!(got(0).await.unwrap(), BTreeMap::from([(1, 2), (2, 1)]));
            assert_eq!(got(1).await.unwrap(), BTreeMap::from([(0, 1)]));
            assert_eq!(got(2).await.unwrap(), BTreeMap::from([(0, 1), (1, 1)]));
        });
    }
}
