//! The verdict over a cluster's honest nodes, one function per question, so
//! the demo, `paxos status` and the simulator judge alike:
//!
//! - [`agreement`]: no position holds two different values, and how many
//!   positions every honest node committed;
//! - [`has_all`]: a node's log holds every requested value (positions may
//!   carry batches, so values are looked for inside them);
//! - [`detected`]: the nodes at least one honest node flagged (an
//!   attacker's accusations count for nothing).

use crate::core::{NodeId, Pos, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Agreement over honest nodes' logs (no position holds two different
/// values), and how many positions every one of them committed.
pub fn agreement(logs: &[&BTreeMap<Pos, Value>]) -> (bool, usize) {
    let mut agree = true;
    let mut by_pos: BTreeMap<Pos, &Value> = BTreeMap::new();
    for log in logs {
        for (pos, v) in log.iter() {
            if let Some(other) = by_pos.insert(*pos, v) {
                agree &= other == v;
            }
        }
    }
    let on_all = by_pos
        .keys()
        .filter(|p| logs.iter().all(|log| log.contains_key(p)))
        .count();
    (agree, on_all)
}

/// Whether `log` holds every item of every value in `requested`.
pub fn has_all<'a>(
    log: &BTreeMap<Pos, Value>,
    requested: impl IntoIterator<Item = &'a Value>,
) -> bool {
    let have: BTreeSet<&str> = log
        .values()
        .flat_map(|b| b.items().iter().map(String::as_str))
        .collect();
    requested
        .into_iter()
        .all(|v| v.items().iter().all(|i| have.contains(i.as_str())))
}

/// How many of `requested` every one of `logs` holds (liveness counts
/// values, not positions: a position may carry a batch, or a value the
/// client never asked for).
pub fn values_on_all(logs: &[&BTreeMap<Pos, Value>], requested: &[Value]) -> usize {
    requested
        .iter()
        .filter(|v| logs.iter().all(|log| has_all(log, [*v])))
        .count()
}

/// The nodes flagged by at least one of `honest`, given who flagged whom.
pub fn detected<'a>(
    flagged: impl IntoIterator<Item = (NodeId, &'a BTreeSet<NodeId>)>,
    honest: &BTreeSet<NodeId>,
) -> BTreeSet<NodeId> {
    flagged
        .into_iter()
        .filter(|(reporter, _)| honest.contains(reporter))
        .flat_map(|(_, f)| f.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(entries: &[(Pos, &str)]) -> BTreeMap<Pos, Value> {
        entries.iter().map(|(p, v)| (*p, Value::one(*v))).collect()
    }

    #[test]
    fn agreement_counts_positions_on_every_node_and_spots_a_split() {
        let (a, b) = (log(&[(0, "x"), (1, "y")]), log(&[(0, "x")]));
        assert_eq!(agreement(&[&a, &b]), (true, 1));
        let c = log(&[(0, "z")]);
        assert_eq!(agreement(&[&a, &c]), (false, 1));
        assert_eq!(agreement(&[]), (true, 0));
    }

    #[test]
    fn values_are_found_inside_batches() {
        let mut l = BTreeMap::new();
        l.insert(0, Value::batch(vec!["a".into(), "b".into()]));
        assert!(has_all(&l, &[Value::one("b"), Value::one("a")]));
        assert!(!has_all(&l, &[Value::one("c")]));
    }

    #[test]
    fn values_count_where_every_log_holds_them() {
        let (a, b) = (log(&[(0, "x"), (1, "y")]), log(&[(0, "x"), (1, "z")]));
        let asked = [Value::one("x"), Value::one("y"), Value::one("w")];
        assert_eq!(values_on_all(&[&a, &b], &asked), 1);
        assert_eq!(values_on_all(&[&a], &asked), 2);
    }

    #[test]
    fn only_honest_accusations_count() {
        let honest: BTreeSet<NodeId> = [1, 2].into_iter().collect();
        let (by1, by0): (BTreeSet<NodeId>, BTreeSet<NodeId>) =
            ([0].into_iter().collect(), [1].into_iter().collect());
        let d = detected([(1, &by1), (0, &by0)], &honest);
        assert_eq!(d, [0].into_iter().collect());
    }
}
