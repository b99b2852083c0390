//! What a sequence chart holds: lanes, arrows and notes ([`Trace`]), and
//! how a packet is labelled on it. Plain data; `svg.rs` and `mermaid.rs`
//! draw it.

use crate::core::{Message, NodeId, Pos};
use crate::wire::Body;

/// A lane of the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LaneId {
    Coordinator,
    Node(NodeId),
}

/// One participant's column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    pub id: LaneId,
    /// The attack this node runs, if it is an attacker.
    pub attack: Option<String>,
    /// The committed log, drawn at the bottom of the lane.
    pub log: Vec<String>,
}

/// One row of the chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A message from one lane to another; `dropped` if it never arrived.
    Arrow {
        from: LaneId,
        to: LaneId,
        label: String,
        dropped: bool,
    },
    /// Something a participant noticed or did; `alarm` for the middleware's
    /// verdicts (flagged, dropped, conflict), drawn in red.
    Note {
        lane: LaneId,
        text: String,
        alarm: bool,
    },
}

/// A whole chart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub title: String,
    /// What was left out (for instance positions outside the range drawn).
    pub caption: String,
    pub lanes: Vec<Lane>,
    pub steps: Vec<Step>,
}

/// A kind of step that repeats this many times is drawn as one.
const REPEATS: usize = 3;

impl Trace {
    /// The chart with repeats collapsed, so a run of a thousand Prepares
    /// fits on a screen: of the steps alike but for their numbers (same
    /// lanes, same text with the digits left out), more than [`REPEATS`]
    /// are drawn as two — the first as it was, and where the last was, one
    /// standing for all the others, its numbers as ranges and a count
    /// (`Prepare(pos 0, b 2..213.0) ×212`).
    pub fn collapsed(&self) -> Trace {
        let mut groups: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (i, step) in self.steps.iter().enumerate() {
            groups.entry(step_shape(step)).or_default().push(i);
        }
        let mut keep: Vec<Option<Step>> = self.steps.iter().cloned().map(Some).collect();
        for idx in groups.values().filter(|g| g.len() > REPEATS) {
            let rest = &idx[1..];
            let texts: Vec<&str> = rest.iter().map(|i| step_text(&self.steps[*i])).collect();
            let summary = format!("{} ×{}", ranges(&texts), rest.len());
            for i in &rest[..rest.len() - 1] {
                keep[*i] = None;
            }
            if let Some(last) = keep[rest[rest.len() - 1]].as_mut() {
                set_text(last, summary);
            }
        }
        Trace {
            steps: keep.into_iter().flatten().collect(),
            ..self.clone()
        }
    }

    /// The first log position at which two honest lanes hold different
    /// values: where the chart marks the split.
    pub fn first_conflict(&self) -> Option<usize> {
        let honest: Vec<&Lane> = self
            .lanes
            .iter()
            .filter(|l| l.attack.is_none() && l.id != LaneId::Coordinator)
            .collect();
        let longest = honest.iter().map(|l| l.log.len()).max().unwrap_or(0);
        (0..longest).find(|&p| {
            let mut seen = honest.iter().filter_map(|l| l.log.get(p));
            let first = seen.next();
            seen.any(|v| Some(v) != first)
        })
    }

    /// Arrows for messages that arrived.
    pub fn delivered(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Arrow { dropped: false, .. }))
            .count()
    }
}

/// What makes steps alike: lanes, kind, and text without its digits.
fn step_shape(step: &Step) -> String {
    let digitless = |t: &str| -> String { t.chars().filter(|c| !c.is_ascii_digit()).collect() };
    match step {
        Step::Arrow {
            from,
            to,
            label,
            dropped,
        } => format!("A{from:?}{to:?}{dropped}{}", digitless(label)),
        Step::Note { lane, text, alarm } => format!("N{lane:?}{alarm}{}", digitless(text)),
    }
}

fn step_text(step: &Step) -> &str {
    match step {
        Step::Arrow { label, .. } => label,
        Step::Note { text, .. } => text,
    }
}

fn set_text(step: &mut Step, new: String) {
    match step {
        Step::Arrow { label, .. } => *label = new,
        Step::Note { text, .. } => *text = new,
    }
}

/// Texts alike but for their numbers, as one: each number that differs
/// shown as `lowest..highest`.
fn ranges(texts: &[&str]) -> String {
    let split = |t: &str| -> Vec<String> {
        let mut parts: Vec<String> = Vec::new();
        for c in t.chars() {
            match parts.last_mut() {
                Some(p) if p.chars().all(|d| d.is_ascii_digit()) == c.is_ascii_digit() => p.push(c),
                _ => parts.push(c.to_string()),
            }
        }
        parts
    };
    let all: Vec<Vec<String>> = texts.iter().map(|t| split(t)).collect();
    let Some(first) = all.first() else {
        return String::new();
    };
    (0..first.len())
        .map(|j| {
            let nums: Vec<u128> = all.iter().filter_map(|p| p.get(j)?.parse().ok()).collect();
            match (nums.iter().min(), nums.iter().max()) {
                (Some(lo), Some(hi)) if lo != hi && nums.len() == all.len() => {
                    format!("{lo}..{hi}")
                }
                _ => first[j].clone(),
            }
        })
        .collect()
}

/// The position a packet is about, if it is about one.
pub fn position(body: &Body) -> Option<Pos> {
    match body {
        Body::Paxos(Message::CatchUp { .. }) => None,
        Body::Paxos(m) | Body::Certified { commit: m, .. } => Some(m.pos()),
        Body::Echo(s) => Some(s.msg.pos()),
        Body::Accuse(p) => p.position(),
        Body::Climb { prepare, .. } => Some(prepare.pos()),
        Body::BftPrepared(p) => Some(p.prepared.msg.pos()),
        Body::BftPropose(j) => Some(j.propose.msg.pos()),
        Body::Justified(j) => Some(j.propose.msg.pos()),
    }
}

/// A short arrow label for a packet: kind, position, ballot, short value.
pub fn label(body: &Body) -> String {
    match body {
        Body::Paxos(m) => short(&m.to_string()),
        Body::Certified { commit, accepts } => {
            format!("{} +{} Accepts", short(&commit.to_string()), accepts.len())
        }
        Body::Echo(s) => format!("Echo {}", short(&s.msg.to_string())),
        Body::Accuse(p) => format!("{} vs node {}", p.title(), p.accused()),
        Body::Climb { prepare, witness } => format!(
            "{} over node {}'s round",
            short(&prepare.to_string()),
            witness.from
        ),
        Body::BftPrepared(p) => format!(
            "{} +{} proofs",
            short(&p.prepared.msg.to_string()),
            p.proofs.len()
        ),
        Body::BftPropose(j) => format!(
            "{} +{} Prepareds",
            short(&j.propose.msg.to_string()),
            j.justification.len()
        ),
        Body::Justified(j) => format!(
            "{} +{} Prepared",
            short(&j.propose.msg.to_string()),
            j.prepareds.len()
        ),
    }
}

/// Cut quoted values to twenty characters so labels fit between lanes.
fn short(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_quote = false;
    let mut quoted = 0;
    for c in s.chars() {
        if c == '\'' {
            if in_quote && quoted > 20 {
                out.push('…');
            }
            in_quote = !in_quote;
            quoted = 0;
            out.push(c);
        } else if in_quote {
            quoted += 1;
            if quoted <= 20 {
                out.push(c);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The lane's title, as both renderers print it.
pub fn lane_title(lane: &Lane) -> String {
    match (lane.id, &lane.attack) {
        (LaneId::Coordinator, _) => "coordinator".to_string(),
        (LaneId::Node(id), None) => format!("node {id}"),
        (LaneId::Node(id), Some(a)) => format!("node {id} ({a} attacker)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow(label: String) -> Step {
        Step::Arrow {
            from: LaneId::Node(0),
            to: LaneId::Node(1),
            label,
            dropped: false,
        }
    }

    #[test]
    fn repeats_collapse_into_the_first_and_one_with_ranges_and_a_count() {
        let mut steps: Vec<Step> = (2..=9)
            .map(|r| arrow(format!("Prepare(pos 0+, b {r}.0)")))
            .collect();
        steps.insert(3, arrow("Commit(pos 0, 'v0')".into()));
        let t = Trace {
            steps,
            ..Trace::default()
        };
        let c = t.collapsed();
        let labels: Vec<&str> = c.steps.iter().map(step_text).collect();
        assert_eq!(
            labels,
            vec![
                "Prepare(pos 0+, b 2.0)",
                "Commit(pos 0, 'v0')",
                "Prepare(pos 0+, b 3..9.0) ×7"
            ]
        );
        // A few alike stay as they are.
        let few = Trace {
            steps: (1..=3).map(|r| arrow(format!("Prepare(b {r})"))).collect(),
            ..Trace::default()
        };
        assert_eq!(few.collapsed(), few);
    }

    #[test]
    fn the_first_conflict_is_among_honest_lanes_only() {
        let lane = |id, attack: Option<&str>, log: &[&str]| Lane {
            id: LaneId::Node(id),
            attack: attack.map(Into::into),
            log: log.iter().map(|s| s.to_string()).collect(),
        };
        let t = Trace {
            lanes: vec![
                lane(0, Some("SAFETY"), &["z", "z"]),
                lane(1, None, &["a", "b"]),
                lane(2, None, &["a", "c"]),
            ],
            ..Trace::default()
        };
        assert_eq!(t.first_conflict(), Some(1));
        let agreed = Trace {
            lanes: vec![lane(0, Some("SAFETY"), &["z"]), lane(1, None, &["a"])],
            ..Trace::default()
        };
        assert_eq!(agreed.first_conflict(), None);
    }
}
