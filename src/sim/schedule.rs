//! A run's script, drawn from its seed before it starts: when the client
//! asks for each value and of whom, and when partitions form and heal and
//! nodes crash and restart. Every fault lies inside `[0, heal)`; from `heal`
//! on the network is reliable (still delayed and reordered) and every node
//! is up, which is when liveness is judged.

use super::config::SimConfig;
use crate::attack::Attack;
use crate::client;
use crate::core::{NodeId, Value};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeSet;

/// Something the script does to the world at a tick.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Members in the set on one side, the rest on the other.
    Partition(BTreeSet<usize>),
    Heal,
    /// Cut every link between members of `.0` and members of `.1` (both
    /// sides still reach everyone else).
    Split(BTreeSet<usize>, BTreeSet<usize>),
    Crash(usize),
    Restart(usize),
    /// The client asks member `.0` to propagate `.1`, and that member
    /// proposes it (the attack scenarios' scripted client).
    Request(usize, Value),
    /// The client asks the node it follows for `.0`, which proposes it or
    /// names the leader (the client with no attack to stage).
    Ask(Value),
}

impl Action {
    /// A client request, to whichever node.
    pub fn is_request(&self) -> bool {
        matches!(self, Action::Request(..) | Action::Ask(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// `(tick, action)`, sorted by tick (stable among equal ticks).
    pub actions: Vec<(u64, Action)>,
    /// The tick at which the last fault has healed.
    pub heal: u64,
}

/// Non-overlapping `(start, end)` windows inside `[0, span)`.
fn windows(rng: &mut ChaCha8Rng, span: u64) -> Vec<(u64, u64)> {
    let gap = (span / 3).max(1);
    let mut out = Vec::new();
    let mut t = rng.next_u64() % gap;
    while t + 1 < span {
        let len = 10 + rng.next_u64() % (span / 4).max(1);
        let end = (t + len).min(span - 1);
        out.push((t, end));
        t = end + 1 + rng.next_u64() % gap;
    }
    out
}

impl Schedule {
    pub fn new(cfg: &SimConfig, seed: u64) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5343_4845_4455_4c45);
        let span = cfg.fault_ticks.max(1);
        let mut actions = Vec::new();

        // The client: values v0, v1, … spread over the first half of the
        // faulty period; a SAFETY attacker gets the first at once (as in the
        // demo, so it leads position 0).
        let targets = client::targets(cfg.nodes, cfg.attack, cfg.attacker);
        // A KV workload's clients invoke their own operations (`kv.rs`).
        let values = if cfg.kv.is_some() { 0 } else { cfg.values };
        for i in 0..values {
            let value = format!("v{i}");
            let node: NodeId = targets[i % targets.len()];
            let at = if i == 0 && cfg.attack == Some(Attack::Safety) {
                0
            } else {
                rng.next_u64() % (span / 2).max(1)
            };
            let action = match cfg.attack {
                None => Action::Ask(value.into()),
                Some(_) => Action::Request(node as usize, value.into()),
            };
            actions.push((at, action));
        }

        // The scenario of the attacks that need a decided value one side
        // does not know (IGNORE_PREPARED, STALE_PREPARED): the honest nodes
        // split in two halves that both reach the attacker but not each
        // other, for the whole faulty period — a broken link in between.
        if cfg.attack.is_some_and(|a| a.splits_honest_nodes()) {
            if let Some((left, right)) = cfg.spec(seed).honest_halves() {
                let members = |h: BTreeSet<NodeId>| h.into_iter().map(|id| id as usize).collect();
                actions.push((0, Action::Split(members(left), members(right))));
                actions.push((span.saturating_sub(1), Action::Heal));
            }
        }

        if cfg.partitions && cfg.nodes > 1 {
            for (start, end) in windows(&mut rng, span) {
                let mut side = BTreeSet::new();
                while side.is_empty() || side.len() == cfg.nodes {
                    side = (0..cfg.nodes).filter(|_| rng.next_u64() % 2 == 0).collect();
                }
                actions.push((start, Action::Partition(side)));
                actions.push((end, Action::Heal));
            }
        }

        if cfg.crashes {
            let honest: Vec<usize> = (0..cfg.nodes)
                .filter(|&m| cfg.attack.is_none() || m as NodeId != cfg.attacker)
                .collect();
            if !honest.is_empty() {
                for (start, end) in windows(&mut rng, span) {
                    let m = honest[(rng.next_u64() % honest.len() as u64) as usize];
                    actions.push((start, Action::Crash(m)));
                    actions.push((end, Action::Restart(m)));
                }
            }
        }
        actions.sort_by_key(|(t, _)| *t);
        Schedule {
            actions,
            heal: span,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_stay_inside_the_faulty_period_and_replay() {
        let cfg = SimConfig {
            crashes: true,
            partitions: true,
            ..SimConfig::default()
        };
        for seed in 0..50 {
            let s = Schedule::new(&cfg, seed);
            assert_eq!(s, Schedule::new(&cfg, seed), "same seed, same script");
            assert!(s.actions.iter().all(|(t, _)| *t < s.heal));
            let requests = s.actions.iter().filter(|(_, a)| a.is_request()).count();
            assert_eq!(requests, cfg.values);
            // Every crash is followed by its restart, every partition by a heal.
            let crashes = s
                .actions
                .iter()
                .filter(|(_, a)| matches!(a, Action::Crash(_)));
            let restarts = s
                .actions
                .iter()
                .filter(|(_, a)| matches!(a, Action::Restart(_)));
            assert_eq!(crashes.count(), restarts.count());
        }
    }
}
