//! Message sequence charts of a run, like the hand-drawn ones in the brief's
//! report: one lane per node (and one for the coordinator), time downward,
//! an arrow per message, dashed when the network lost it, the middleware's
//! verdicts written where they happened, and each node's log at the end.
//!
//! A [`Trace`] is plain data, built by whoever ran the cluster (the demo
//! from its network's records, the simulator from its replay); [`svg`] and
//! [`mermaid`] only draw it. [`write`] picks the format from the file name.

pub mod mermaid;
pub mod svg;

use crate::core::{Message, NodeId, Pos};
use crate::wire::Body;
use std::ops::Range;
use std::path::Path;

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

impl Trace {
    /// Arrows for messages that arrived.
    pub fn delivered(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Arrow { dropped: false, .. }))
            .count()
    }
}

/// Positions drawn by default: the start of a run is where attacks bite,
/// and a chart of a thousand positions is not readable.
pub const DEFAULT_POSITIONS: Range<Pos> = 0..3;

/// Parse `A..B` (B exclusive) or a single position `A`.
pub fn parse_positions(s: &str) -> Result<Range<Pos>, String> {
    let bad = || format!("'{s}' is not a position range like 0..4");
    let range = match s.split_once("..") {
        Some((a, b)) => {
            let a: Pos = a.trim().parse().map_err(|_| bad())?;
            let b: Pos = b.trim().parse().map_err(|_| bad())?;
            a..b
        }
        None => {
            let a: Pos = s.trim().parse().map_err(|_| bad())?;
            a..a + 1
        }
    };
    if range.is_empty() {
        return Err(format!("'{s}' is an empty range"));
    }
    Ok(range)
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

/// Cut quoted values to a dozen characters so labels fit between lanes.
fn short(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_quote = false;
    let mut quoted = 0;
    for c in s.chars() {
        if c == '\'' {
            if in_quote && quoted > 12 {
                out.push('…');
            }
            in_quote = !in_quote;
            quoted = 0;
            out.push(c);
        } else if in_quote {
            quoted += 1;
            if quoted <= 12 {
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

/// Why a trace could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot write the trace to {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("--trace {0}: the file name must end in .svg or .mmd")]
    Format(String),
}

/// Check that `path` names a format we draw, before the run starts.
pub fn check_path(path: &Path) -> Result<(), TraceError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") | Some("mmd") => Ok(()),
        _ => Err(TraceError::Format(path.display().to_string())),
    }
}

/// Write `trace` to `path` as SVG or Mermaid, by extension.
pub fn write(trace: &Trace, path: &Path) -> Result<(), TraceError> {
    check_path(path)?;
    let text = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => svg::render(trace),
        _ => mermaid::render(trace),
    };
    std::fs::write(path, text).map_err(|source| TraceError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ballot;

    #[test]
    fn positions_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_positions("2..5"), Ok(2..5));
        assert_eq!(parse_positions("7"), Ok(7..8));
        assert!(parse_positions("5..2").is_err());
        assert!(parse_positions("x").is_err());
    }

    #[test]
    fn labels_are_short() {
        let body = Body::Paxos(Message::Propose {
            pos: 1,
            ballot: Ballot::new(3, 2),
            value: "a rather long value indeed".into(),
        });
        assert_eq!(label(&body), "Propose(pos 1, b 3.2, 'a rather lon…')");
        assert_eq!(position(&body), Some(1));
    }
}
