//! The simulated network: packets in flight between *members* (a member is
//! one running copy of a node; twins are two members with one node id),
//! with seeded loss, duplication, delay and reordering, and cut links that
//! model partitions.
//!
//! Delivery order is a total order on `(time, random key, sequence number)`,
//! so packets due at the same tick arrive in a seeded random order and a
//! packet with a longer delay overtakes nothing it should not: reordering
//! comes from the delays and the random keys, and is replayed by the seed.

use crate::wire::Packet;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use std::collections::{BTreeMap, BTreeSet};

/// A packet on its way from member `src` to member `dst`.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub src: usize,
    pub dst: usize,
    pub packet: Packet,
    /// This is the extra copy of a duplicated packet.
    pub duplicate: bool,
}

/// What the network does to the packets sent while faults are on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability of losing a packet.
    pub loss: f64,
    /// Probability of delivering a packet twice.
    pub dup: f64,
}

/// What happened to a packet handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    Lost,
    Duplicated,
}

#[derive(Debug)]
pub struct Net {
    queue: BTreeMap<(u64, u64, u64), InFlight>,
    seq: u64,
    /// Longest delay of a packet, in ticks (the shortest is 1).
    pub max_delay: u64,
    /// Links that drop everything, as member pairs `(low, high)`.
    cuts: BTreeSet<(usize, usize)>,
}

/// `true` with probability `p`, drawn from `rng`.
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    // 53 random bits give a uniform number in [0, 1).
    p > 0.0 && ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

impl Net {
    pub fn new(max_delay: u64) -> Self {
        Net {
            queue: BTreeMap::new(),
            seq: 0,
            max_delay: max_delay.max(1),
            cuts: BTreeSet::new(),
        }
    }

    fn link(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    /// Cut the link between members `a` and `b` (both directions).
    pub fn cut(&mut self, a: usize, b: usize) {
        if a != b {
            self.cuts.insert(Self::link(a, b));
        }
    }

    /// Restore every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cuts.contains(&Self::link(a, b))
    }

    /// The cut links, as member pairs `(low, high)`.
    pub fn cuts(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.cuts.iter().copied()
    }

    pub fn partitioned(&self) -> bool {
        !self.cuts.is_empty()
    }

    fn enqueue(&mut self, rng: &mut ChaCha8Rng, now: u64, f: InFlight) {
        let delay = 1 + rng.next_u64() % self.max_delay;
        let key = rng.next_u64();
        self.seq += 1;
        self.queue.insert((now + delay, key, self.seq), f);
    }

    /// Hand a packet to the network at tick `now`, under `faults`.
    pub fn send(
        &mut self,
        rng: &mut ChaCha8Rng,
        now: u64,
        faults: Faults,
        src: usize,
        dst: usize,
        packet: Packet,
    ) -> Sent {
        if chance(rng, faults.loss) {
            return Sent::Lost;
        }
        let twice = chance(rng, faults.dup);
        if twice {
            let copy = InFlight {
                src,
                dst,
                packet: packet.clone(),
                duplicate: true,
            };
            self.enqueue(rng, now, copy);
        }
        let f = InFlight {
            src,
            dst,
            packet,
            duplicate: false,
        };
        self.enqueue(rng, now, f);
        if twice {
            Sent::Duplicated
        } else {
            Sent::Queued
        }
    }

    /// The next packet due at or before `now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<InFlight> {
        let (&k, _) = self.queue.first_key_value()?;
        if k.0 > now {
            return None;
        }
        self.queue.remove(&k)
    }

    /// Packets still in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Every packet in flight in delivery order, with its id (stable while
    /// it flies) and the tick it is due at: what a learner picks from.
    pub fn pending(&self) -> impl Iterator<Item = (u64, u64, &InFlight)> {
        self.queue.iter().map(|(k, f)| (k.2, k.0, f))
    }

    fn key_of(&self, id: u64) -> Option<(u64, u64, u64)> {
        self.queue.keys().find(|k| k.2 == id).copied()
    }

    /// Take packet `id` off the network (to deliver it now, or to lose it).
    pub fn take(&mut self, id: u64) -> Option<InFlight> {
        let k = self.key_of(id)?;
        self.queue.remove(&k)
    }

    /// Put a second copy of packet `id` on the network, due when a fresh
    /// send at `now` would be; the copy gets a new id.
    pub fn duplicate(&mut self, rng: &mut ChaCha8Rng, now: u64, id: u64) -> Option<u64> {
        let k = self.key_of(id)?;
        let copy = InFlight {
            duplicate: true,
            ..self.queue[&k].clone()
        };
        self.enqueue(rng, now, copy);
        Some(self.seq)
    }

    /// Packet `id` arrives `ticks` later than it would have, behind the
    /// packets due before then.
    pub fn delay(&mut self, id: u64, ticks: u64) -> bool {
        let Some(k) = self.key_of(id) else {
            return false;
        };
        let f = self.queue.remove(&k).expect("the key was just found");
        self.queue.insert((k.0 + ticks, k.1, k.2), f);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Message;
    use crate::wire::Body;
    use rand_core::SeedableRng;

    fn packet() -> Packet {
        Packet {
            from: 0,
            to: Some(1),
            body: Body::Paxos(Message::CatchUp { from: 0 }),
            sig: None,
        }
    }

    #[test]
    fn loss_and_duplication_follow_their_probabilities() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Net::new(3);
        let faults = Faults {
            loss: 0.25,
            dup: 0.5,
        };
        let mut lost = 0;
        for _ in 0..4000 {
            if net.send(&mut rng, 0, faults, 0, 1, packet()) == Sent::Lost {
                lost += 1;
            }
        }
        assert!((800..1200).contains(&lost), "about a quarter lost: {lost}");
        let kept = 4000 - lost;
        let copies = net.in_flight() - kept;
        assert!(
            (kept * 4 / 10..kept * 6 / 10).contains(&copies),
            "about half duplicated: {copies} of {kept}"
        );
        // Nothing arrives before one tick, everything within max_delay.
        assert!(net.pop_due(0).is_none());
        let mut arrived = 0;
        while net.pop_due(3).is_some() {
            arrived += 1;
        }
        assert_eq!(arrived, kept + copies);
    }

    #[test]
    fn a_chosen_packet_is_taken_copied_or_delayed_by_its_id() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Net::new(1);
        let none = Faults {
            loss: 0.0,
            dup: 0.0,
        };
        for _ in 0..3 {
            net.send(&mut rng, 0, none, 0, 1, packet());
        }
        let ids: Vec<u64> = net.pending().map(|(id, _, _)| id).collect();
        assert_eq!(ids.len(), 3);
        assert!(net.delay(ids[0], 5));
        assert_eq!(net.pending().last().map(|p| (p.0, p.1)), Some((ids[0], 6)));
        let copy = net.duplicate(&mut rng, 0, ids[1]).expect("in flight");
        assert!(net.pending().any(|(id, _, f)| id == copy && f.duplicate));
        assert!(net.take(ids[2]).is_some());
        assert!(net.take(ids[2]).is_none(), "taken once");
        assert!(!net.delay(ids[2], 1) && net.duplicate(&mut rng, 0, ids[2]).is_none());
        assert_eq!(net.in_flight(), 3);
    }

    #[test]
    fn cuts_are_symmetric_and_heal() {
        let mut net = Net::new(1);
        net.cut(2, 0);
        assert!(net.is_cut(0, 2) && net.is_cut(2, 0));
        assert!(!net.is_cut(0, 1));
        net.heal();
        assert!(!net.partitioned());
    }
}
