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

impl Trace {
    /// Arrows for messages that arrived.
    pub fn delivered(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Arrow { dropped: false, .. }))
            .count()
    }
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
