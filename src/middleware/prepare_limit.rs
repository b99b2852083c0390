//! The LIVENESS defence: the brief's "ignore a node after too many Prepares
//! for one position", made precise so honest retries never trip it.
//!
//! What the ballot climber does, and an honest proposer never does, is cut
//! off a *fresh* promise: it answers another proposer's `Prepare` at once
//! with a higher one, before that proposer could propose. So a strike is a
//! `Prepare` from `S` at `pos` that overtakes a promise made less than
//! `grace` ticks ago — to another node, or to `S` itself: a climber that
//! keeps re-preparing to keep its own promise fresh is cutting off every
//! proposer in advance. A node with `max` strikes at one position is
//! ignored from then on.
//!
//! A node that goes on to `Propose` at the position answered its Prepared
//! (the brief's own criterion) and its strikes there are forgiven.
//!
//! Honest proposers cannot collect strikes by policy: after silence they
//! re-send the *same* ballot (which overtakes nothing), and after being
//! preempted they wait until the competing promise is `2 * grace` ticks old
//! (see `core::replica`); their own next ballot comes at least `retry_ticks`
//! (four times `grace` by default) after their last. Only a simultaneous first attempt can overtake a
//! fresh promise by chance, and that happens once, not `max` times.

use crate::core::{Ballot, NodeId, Pos};
use std::collections::BTreeMap;

/// What one observed Prepare means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    Fine,
    /// The sender cut off a fresh promise; `strikes` so far at this position.
    Strike {
        strikes: u32,
    },
    /// The sender reached the limit and is to be ignored.
    Ban {
        strikes: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareLimit {
    max: u32,
    grace: u64,
    /// Highest Prepare seen per position: its ballot, sender and tick.
    promises: BTreeMap<Pos, (Ballot, NodeId, u64)>,
    strikes: BTreeMap<(NodeId, Pos), u32>,
}

impl PrepareLimit {
    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: Pos) {
        self.promises = self.promises.split_off(&below);
        self.strikes.retain(|(_, p), _| *p >= below);
    }

    pub fn new(max: u32, grace: u64) -> Self {
        PrepareLimit {
            max: max.max(1),
            grace,
            promises: BTreeMap::new(),
            strikes: BTreeMap::new(),
        }
    }

    /// `from` proposed at `pos`: it answered its Prepared, as the brief's rule
    /// asks, so its strikes there are forgiven.
    pub fn proposed(&mut self, from: NodeId, pos: Pos) {
        self.strikes.remove(&(from, pos));
    }

    /// Note a Prepare from `from` at `pos` in `ballot`, seen at tick `now`.
    pub fn observe(&mut self, from: NodeId, pos: Pos, ballot: Ballot, now: u64) -> Judgement {
        let mut judgement = Judgement::Fine;
        match self.promises.get(&pos) {
            // Not higher than the promise: overtakes nothing.
            Some(&(hi, _, _)) if ballot <= hi => return judgement,
            Some(&(_, _, at)) if now.saturating_sub(at) < self.grace => {
                let s = self.strikes.entry((from, pos)).or_default();
                *s += 1;
                judgement = if *s >= self.max {
                    Judgement::Ban { strikes: *s }
                } else {
                    Judgement::Strike { strikes: *s }
                };
            }
            _ => {}
        }
        self.promises.insert(pos, (ballot, from, now));
        judgement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_climber_cutting_off_fresh_promises_is_flagged_at_the_limit() {
        let mut l = PrepareLimit::new(3, 10);
        let mut now = 0;
        let mut verdicts = Vec::new();
        for round in 0..3u64 {
            // Honest node 0 prepares after waiting; the climber (2) answers at once.
            now += 25;
            assert_eq!(
                l.observe(0, 7, Ballot::new(2 * round + 1, 0), now),
                Judgement::Fine
            );
            verdicts.push(l.observe(2, 7, Ballot::new(2 * round + 2, 2), now));
        }
        assert_eq!(
            verdicts,
            vec![
                Judgement::Strike { strikes: 1 },
                Judgement::Strike { strikes: 2 },
                Judgement::Ban { strikes: 3 }
            ]
        );
    }

    #[test]
    fn honest_retries_never_strike() {
        let mut l = PrepareLimit::new(3, 10);
        // Same ballot re-sent after silence, many times: overtakes nothing.
        for t in 0..50 {
            assert_eq!(l.observe(0, 1, Ballot::new(1, 0), t * 20), Judgement::Fine);
        }
        // Climbing over a competitor whose promise is old enough: fine.
        assert_eq!(l.observe(1, 1, Ballot::new(2, 1), 2000), Judgement::Fine);
        assert_eq!(l.observe(0, 1, Ballot::new(3, 0), 2020), Judgement::Fine);
        // One's own next ballot, a retry period later: fine.
        assert_eq!(l.observe(0, 1, Ballot::new(4, 0), 2040), Judgement::Fine);
    }

    #[test]
    fn a_climber_refreshing_its_own_promise_is_flagged() {
        let mut l = PrepareLimit::new(3, 10);
        let verdicts: Vec<Judgement> = (1..=4)
            .map(|t| l.observe(2, 5, Ballot::new(t, 2), t))
            .collect();
        assert_eq!(verdicts[0], Judgement::Fine);
        assert_eq!(verdicts[3], Judgement::Ban { strikes: 3 });
    }

    #[test]
    fn proposing_forgives_strikes() {
        let mut l = PrepareLimit::new(2, 10);
        l.observe(0, 1, Ballot::new(1, 0), 0);
        assert_eq!(
            l.observe(1, 1, Ballot::new(2, 1), 1),
            Judgement::Strike { strikes: 1 }
        );
        l.proposed(1, 1);
        l.observe(0, 1, Ballot::new(3, 0), 2);
        assert_eq!(
            l.observe(1, 1, Ballot::new(4, 1), 3),
            Judgement::Strike { strikes: 1 }
        );
    }
}
