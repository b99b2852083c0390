//! The verdict over a cluster's honest nodes, one function per question, so
//! the demo, `paxos status` and the simulator judge alike:
//!
//! - [`agreement`]: no position holds two different values, and how many
//!   positions every honest node committed;
//! - [`has_all`]: a node's log holds every requested value (positions may
//!   carry batches, so values are looked for inside them);
//! - [`detected`]: the nodes at least one honest node flagged (an
//!   attacker's accusations count for nothing);
//! - [`first_conflict`]: the first position two honest nodes disagree on,
//!   with both values, so a verdict of "no agreement" says where.
//!
//! [`Verdict::lines`] words the three answers, and [`Story::sentences`]
//! tells a learner what happened in plain sentences; the demo, the tour and
//! `paxos status` print those, so no two outputs can judge a run apart.

use crate::attack::Attack;
use crate::core::{NodeId, Pos, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Two honest nodes committed different values at one position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub pos: Pos,
    /// The two nodes, the one with the lower id first.
    pub nodes: [NodeId; 2],
    /// What each of them committed there.
    pub values: [Value; 2],
}

/// The first position at which two of `logs` hold different values.
pub fn first_conflict(logs: &[(NodeId, &BTreeMap<Pos, Value>)]) -> Option<Conflict> {
    let mut by_pos: BTreeMap<Pos, (NodeId, &Value)> = BTreeMap::new();
    let mut first: Option<Conflict> = None;
    let mut sorted: Vec<&(NodeId, &BTreeMap<Pos, Value>)> = logs.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    for (id, log) in sorted {
        for (pos, v) in log.iter() {
            if first.as_ref().is_some_and(|c| c.pos <= *pos) {
                break;
            }
            match by_pos.get(pos) {
                Some((other, w)) if *w != v => {
                    first = Some(Conflict {
                        pos: *pos,
                        nodes: [*other, *id],
                        values: [(*w).clone(), v.clone()],
                    })
                }
                Some(_) => {}
                None => {
                    by_pos.insert(*pos, (*id, v));
                }
            }
        }
    }
    first
}

/// The three answers of a run, ready to be worded.
#[derive(Clone, Debug, Default)]
pub struct Verdict<'a> {
    pub conflict: Option<&'a Conflict>,
    /// Values the client asked for, and how many every honest node holds;
    /// `None` where nobody asked for a known set (`paxos status`).
    pub values: Option<(usize, usize)>,
    /// How long the run took, for the liveness line.
    pub elapsed_ms: Option<f64>,
    /// Positions committed on every honest node.
    pub positions: usize,
    /// Each flagged node with the honest nodes that flagged it.
    pub flagged_by: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

/// One worded answer: its label, whether it is good news (`None`: neutral),
/// and the text.
pub type Line = (&'static str, Option<bool>, String);

impl Verdict<'_> {
    /// `agreement`, `liveness` (where values were asked for) and
    /// `detected`, each a sentence that cannot contradict the others: they
    /// are worded from the same counts the JSON carries.
    pub fn lines(&self) -> Vec<Line> {
        let mut out = vec![match self.conflict {
            None => (
                "agreement",
                Some(true),
                "yes — no position holds two different values on honest nodes".to_string(),
            ),
            Some(c) => (
                "agreement",
                Some(false),
                format!(
                    "NO — position {}: node {} committed '{}', node {} committed '{}'",
                    c.pos, c.nodes[0], c.values[0], c.nodes[1], c.values[1]
                ),
            ),
        }];
        if let Some((asked, have)) = self.values {
            let live = have == asked;
            let mut text = format!(
                "{} — {have} of {asked} values committed on every honest node",
                if live { "yes" } else { "NO" }
            );
            if let Some(ms) = self.elapsed_ms {
                text += &format!(", in {ms:.1} ms");
            }
            out.push(("liveness", Some(live), text));
        } else {
            let text = format!(
                "{} committed on every honest node",
                count(self.positions, "position")
            );
            out.push(("committed", None, text));
        }
        let detected = if self.flagged_by.is_empty() {
            "nobody".to_string()
        } else {
            let who: Vec<String> = self
                .flagged_by
                .iter()
                .map(|(m, by)| format!("node {m} (flagged by {})", nodes(by)))
                .collect();
            who.join(", ")
        };
        out.push((
            "detected",
            (!self.flagged_by.is_empty()).then_some(false),
            detected,
        ));
        out
    }
}

/// `node 1` or `nodes 1 and 2` or `nodes 1, 2 and 3`.
pub fn nodes(ids: &BTreeSet<NodeId>) -> String {
    let v: Vec<String> = ids.iter().map(ToString::to_string).collect();
    match v.as_slice() {
        [] => "no node".into(),
        [one] => format!("node {one}"),
        [init @ .., last] => format!("nodes {} and {last}", init.join(", ")),
    }
}

/// `n` and the noun, in the singular for one: `1 node`, `3 nodes`.
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The first `named` of `items`, and how many more there are: `a, b, c and
/// 7 more` (a log line or an error about many values).
/// Only the named ones are formatted.
pub fn first_few<T: std::fmt::Display>(
    items: impl ExactSizeIterator<Item = T>,
    named: usize,
) -> String {
    let total = items.len();
    let mut out: Vec<String> = items.take(named).map(|t| t.to_string()).collect();
    if total > named {
        out.push(format!("and {} more", total - named));
    }
    out.join(", ")
}

/// What a learner is told happened in a run: the facts the verdict rests
/// on, in the order they matter.
#[derive(Clone, Debug, Default)]
pub struct Story<'a> {
    pub attack: Option<Attack>,
    pub attackers: &'a [NodeId],
    /// The defences that ran, as `paxos defences` names them (`none`,
    /// `all`, `echo,stale`).
    pub defences: &'a str,
    pub conflict: Option<&'a Conflict>,
    /// Values asked, values on every honest node.
    pub values: (usize, usize),
    /// Seconds the run was given (`None`: a simulated run, in ticks).
    pub deadline_s: Option<f64>,
    /// (reporter, accused, evidence), the first accusation of each honest
    /// reporter against each node.
    pub evidence: &'a [(NodeId, NodeId, String)],
    /// What to try next.
    pub hint: Option<&'a str>,
    /// The run ended at the violation (the simulator stops there), so what
    /// was committed is what had been by then.
    pub stopped_at_violation: bool,
}

impl Story<'_> {
    /// A few plain sentences: the attack, the decisive position, whether
    /// every value committed, who caught whom on what evidence, what to try.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.attack {
            Some(a) => out.push(format!(
                "{} ran {a}: {}.",
                capital(&nodes(&self.attackers.iter().copied().collect())),
                a.what()
            )),
            None => out.push("No attacker: every node was honest.".into()),
        }
        if let Some(c) = self.conflict {
            out.push(format!(
                "At position {}, node {} committed '{}' and node {} committed '{}': two honest nodes hold different values for one position, so agreement is broken.",
                c.pos, c.nodes[0], c.values[0], c.nodes[1], c.values[1]
            ));
        }
        let (asked, have) = self.values;
        out.push(if self.stopped_at_violation {
            format!(
                "The simulator stops at the first violation: by then {have} of the {asked} \
                 values asked for were committed on every honest node."
            )
        } else if have == asked {
            format!("Every honest node committed all {asked} values asked for.")
        } else {
            format!(
                "Only {have} of the {asked} values asked for were committed on every honest node {}.",
                match self.deadline_s {
                    Some(s) => format!("within {s:.0} s"),
                    None => "by the end of the run".into(),
                }
            )
        });
        out.extend(self.caught());
        if let Some(h) = self.hint {
            out.push(format!("{}.", capital(h.trim_end_matches('.'))));
        }
        out
    }

    /// Who caught whom, or why nobody did.
    fn caught(&self) -> Vec<String> {
        if self.evidence.is_empty() {
            return match (self.attack, self.defences) {
                (None, _) => vec![],
                (Some(_), "none") => vec!["No defence ran, so nobody was flagged.".into()],
                (Some(_), d) => vec![format!("The defences that ran ({d}) flagged nobody.")],
            };
        }
        let mut by_accused: BTreeMap<NodeId, (BTreeSet<NodeId>, &str)> = BTreeMap::new();
        for (reporter, accused, why) in self.evidence {
            let e = by_accused.entry(*accused).or_insert((BTreeSet::new(), why));
            e.0.insert(*reporter);
        }
        by_accused
            .into_iter()
            .map(|(accused, (by, why))| {
                let framed = if self.attackers.contains(&accused) {
                    ""
                } else {
                    " (an honest node: wrongly flagged)"
                };
                format!(
                    "{} flagged node {accused}{framed}, on this evidence: {why}.",
                    capital(&nodes(&by))
                )
            })
            .collect()
    }
}

/// Why an attack nobody caught did no harm, and what to try.
pub fn why_harmless(attack: Attack, bft: bool, defended: bool, nodes: usize) -> String {
    match attack {
        Attack::Replay if defended => "REPLAY is stopped by the signatures themselves (they bind kind, position, ballot and value): nothing to flag".into(),
        Attack::Replay if nodes < 5 && !bft => format!("REPLAY did not bite with {nodes} nodes in this demo: try --nodes 5"),
        _ if bft => format!("{attack} did not bite: in BFT mode every quorum shares an honest node, which signs one value only"),
        _ => format!("{attack} did not bite in this run: try another --seed, or see where it does with paxos matrix"),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

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

/// Whether `log` (any map of positions to values) holds every item of
/// every value in `requested`.
pub fn has_all<'a, 'l>(
    log: impl IntoIterator<Item = (&'l Pos, &'l Value)>,
    requested: impl IntoIterator<Item = &'a Value>,
) -> bool {
    let have: BTreeSet<&str> = log.into_iter().flat_map(|(_, b)| b.items()).collect();
    requested
        .into_iter()
        .all(|v| v.items().all(|i| have.contains(i)))
}

/// How many of `requested` every one of `logs` holds (liveness counts
/// values, not positions: a position may carry a batch, or a value the
/// client never asked for).
pub fn values_on_all(logs: &[&BTreeMap<Pos, Value>], requested: &[Value]) -> usize {
    // Each log's items once, not once per value: a run of a million values
    // is judged in a second, not in hours.
    let sets: Vec<BTreeSet<&str>> = logs
        .iter()
        .map(|log| log.values().flat_map(|b| b.items()).collect())
        .collect();
    requested
        .iter()
        .filter(|v| sets.iter().all(|have| v.items().all(|i| have.contains(i))))
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
    fn the_first_conflict_names_its_position_and_both_values() {
        let a = log(&[(0, "x"), (1, "y"), (2, "p")]);
        let b = log(&[(0, "x"), (1, "z"), (2, "q")]);
        let c = first_conflict(&[(2, &b), (1, &a)]).expect("a conflict");
        assert_eq!((c.pos, c.nodes), (1, [1, 2]));
        assert_eq!(c.values, [Value::one("y"), Value::one("z")]);
        assert_eq!(first_conflict(&[(1, &a), (2, &a)]), None);
        let short = log(&[(0, "x")]);
        assert_eq!(first_conflict(&[(1, &a), (2, &short)]), None);
    }

    #[test]
    fn the_lines_are_worded_from_one_set_of_counts() {
        let c = Conflict {
            pos: 3,
            nodes: [1, 2],
            values: [Value::one("v3"), Value::one("v3 (safety attack)")],
        };
        let v = Verdict {
            conflict: Some(&c),
            values: Some((5, 4)),
            flagged_by: [(0, [1, 2].into_iter().collect())].into_iter().collect(),
            ..Verdict::default()
        };
        let lines = v.lines();
        assert_eq!(lines[0].1, Some(false));
        assert!(lines[0]
            .2
            .starts_with("NO — position 3: node 1 committed 'v3'"));
        assert_eq!(
            lines[1],
            (
                "liveness",
                Some(false),
                "NO — 4 of 5 values committed on every honest node".into()
            )
        );
        assert_eq!(lines[2].2, "node 0 (flagged by nodes 1 and 2)");
        let ok = Verdict {
            values: Some((5, 5)),
            ..Verdict::default()
        }
        .lines();
        assert!(ok[0].2.starts_with("yes") && ok[1].2.starts_with("yes") && ok[2].2 == "nobody");
    }

    #[test]
    fn the_story_names_the_attack_the_position_and_the_evidence() {
        let c = Conflict {
            pos: 1,
            nodes: [1, 2],
            values: [Value::one("v3"), Value::one("v3 (safety attack)")],
        };
        let evidence = vec![
            (1, 0, "echo mismatch".to_string()),
            (2, 0, "echo mismatch".to_string()),
        ];
        let story = Story {
            attack: Some(Attack::Safety),
            attackers: &[0],
            defences: "echo",
            conflict: Some(&c),
            values: (5, 4),
            deadline_s: Some(5.0),
            evidence: &evidence,
            hint: None,
            stopped_at_violation: false,
        };
        let text = story.sentences().join(" ");
        assert!(text.starts_with("Node 0 ran SAFETY: "), "{text}");
        assert!(
            text.contains("At position 1, node 1 committed 'v3'"),
            "{text}"
        );
        assert!(text.contains("Only 4 of the 5 values"), "{text}");
        assert!(
            text.contains("Nodes 1 and 2 flagged node 0, on this evidence: echo mismatch."),
            "{text}"
        );
        let quiet = Story {
            attack: Some(Attack::Safety),
            attackers: &[0],
            defences: "none",
            values: (5, 5),
            ..Story::default()
        };
        let text = quiet.sentences().join(" ");
        assert!(
            text.contains("No defence ran") && text.contains("all 5 values"),
            "{text}"
        );
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
