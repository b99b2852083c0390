//! The safety invariants the simulator checks after every step, over the
//! honest members only (an attacker's or a twin's log proves nothing):
//!
//! - **agreement**: no two honest nodes commit different values at one
//!   position;
//! - **validity**: every committed value was requested by the client before
//!   it was committed — or, only while an attack runs, is the attacker's own
//!   forgery of a requested value;
//! - **stability**: a node never changes or forgets a committed position,
//!   not even across a crash and restart (what it restores must hold it).
//!
//! Liveness is checked by the run itself (see [`super::world`]), since it is
//! a property of the whole run after the faults heal, not of one step.

use crate::core::{NodeId, Pos, PosMap, Value};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A broken invariant, with what proves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Violation {
    Agreement {
        pos: Pos,
        first: (NodeId, Value),
        then: (NodeId, Value),
    },
    Validity {
        node: NodeId,
        pos: Pos,
        value: Value,
    },
    Stability {
        node: NodeId,
        pos: Pos,
        before: Value,
        after: Option<Value>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Agreement { pos, first, then } => write!(
                f,
                "agreement: node {} committed '{}' at pos {pos}, node {} committed '{}'",
                first.0, first.1, then.0, then.1
            ),
            Violation::Validity { node, pos, value } => write!(
                f,
                "validity: node {node} committed '{value}' at pos {pos}, which nobody requested"
            ),
            Violation::Stability {
                node,
                pos,
                before,
                after,
            } => write!(
                f,
                "stability: node {node} had '{before}' at pos {pos}, now {}",
                after
                    .as_ref()
                    .map_or("nothing".to_string(), |v| format!("'{v}'"))
            ),
        }
    }
}

/// The invariants' memory: what was requested and what was committed.
#[derive(Clone, Debug, Default)]
pub struct Invariants {
    /// Values the client requested so far.
    requested: BTreeSet<Value>,
    /// Whether an attacker may inject its own values.
    attack: bool,
    /// The first value an honest node committed at each position, and who.
    chosen: BTreeMap<Pos, (NodeId, Value)>,
    /// Each honest member's log as last checked.
    seen: BTreeMap<usize, BTreeMap<Pos, Value>>,
}

impl Invariants {
    pub fn new(attack: bool) -> Self {
        Invariants {
            attack,
            ..Invariants::default()
        }
    }

    /// The client requested `value` (from now on it may be committed).
    pub fn requested(&mut self, value: &Value) {
        self.requested.insert(value.clone());
    }

    fn valid(&self, value: &Value) -> bool {
        // An empty batch is a no-op (a hole filled): it carries no value.
        value.is_empty()
            || self.requested.contains(value)
            || (self.attack
                && crate::attack::original(value).is_some_and(|v| self.requested.contains(&v)))
    }

    /// What was chosen below `base`, as first committed by an honest node:
    /// the log a snapshot below `base` replaced.
    pub fn chosen_below(&self, base: Pos) -> PosMap<Value> {
        (self.chosen.range(..base))
            .map(|(p, (_, v))| (*p, v.clone()))
            .collect()
    }

    /// Check honest member `member` (node `node`) whose log is now `log`.
    pub fn check(
        &mut self,
        member: usize,
        node: NodeId,
        log: &PosMap<Value>,
        base: Pos,
    ) -> Result<(), Violation> {
        let seen = self.seen.entry(member).or_default();
        // Below `base` a snapshot replaced the log: not a change of mind.
        if seen.first_key_value().is_some_and(|(p, _)| *p < base) {
            *seen = seen.split_off(&base);
        }
        // Stability: everything seen before is still there, unchanged.
        // One walk over both (ordered) maps, which also collects what is new.
        let mut old = seen.iter().peekable();
        let mut new: Vec<(Pos, Value)> = Vec::new();
        for (pos, value) in log {
            let mut known = false;
            while let Some((&p, before)) = old.peek().copied() {
                if p > *pos {
                    break;
                }
                old.next();
                known = p == *pos;
                let after = known.then_some(value);
                if after != Some(before) {
                    return Err(Violation::Stability {
                        node,
                        pos: p,
                        before: before.clone(),
                        after: after.cloned(),
                    });
                }
                if known {
                    break;
                }
            }
            if !known {
                new.push((*pos, value.clone()));
            }
        }
        if let Some((&pos, before)) = old.next() {
            return Err(Violation::Stability {
                node,
                pos,
                before: before.clone(),
                after: None,
            });
        }
        for (pos, value) in new {
            if !self.valid(&value) {
                return Err(Violation::Validity { node, pos, value });
            }
            match self.chosen.get(&pos) {
                Some((first, v)) if *v != value => {
                    return Err(Violation::Agreement {
                        pos,
                        first: (*first, v.clone()),
                        then: (node, value),
                    })
                }
                Some(_) => {}
                None => {
                    self.chosen.insert(pos, (node, value.clone()));
                }
            }
            self.seen.entry(member).or_default().insert(pos, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(entries: &[(Pos, &str)]) -> PosMap<Value> {
        entries.iter().map(|(p, v)| (*p, Value::from(*v))).collect()
    }

    #[test]
    fn each_invariant_catches_its_violation() {
        let mut inv = Invariants::new(false);
        inv.requested(&"a".into());
        inv.requested(&"b".into());
        assert_eq!(inv.check(0, 0, &log(&[(0, "a")]), 0), Ok(()));
        assert_eq!(inv.check(1, 1, &log(&[(0, "a"), (1, "b")]), 0), Ok(()));
        assert!(matches!(
            inv.check(2, 2, &log(&[(0, "b")]), 0),
            Err(Violation::Agreement { pos: 0, .. })
        ));
        assert!(matches!(
            inv.check(0, 0, &log(&[(0, "a"), (3, "zzz")]), 0),
            Err(Violation::Validity { pos: 3, .. })
        ));
        assert!(matches!(
            inv.check(1, 1, &log(&[(0, "a")]), 0),
            Err(Violation::Stability {
                pos: 1,
                after: None,
                ..
            })
        ));
        // A snapshot that replaced the log below 2 is no change of mind.
        assert_eq!(inv.check(1, 1, &log(&[(2, "b")]), 2), Ok(()));
    }

    #[test]
    fn forged_values_are_valid_only_under_attack() {
        let forged = crate::attack::safety::forged(&"a".into());
        let forged = forged.single().expect("one value");
        let mut honest = Invariants::new(false);
        honest.requested(&"a".into());
        assert!(honest.check(0, 0, &log(&[(0, forged)]), 0).is_err());
        let mut attacked = Invariants::new(true);
        attacked.requested(&"a".into());
        assert_eq!(attacked.check(0, 0, &log(&[(0, forged)]), 0), Ok(()));
        assert!(attacked
            .check(0, 0, &log(&[(0, forged), (1, "zzz")]), 0)
            .is_err());
    }
}
