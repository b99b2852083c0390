//! Message sequence charts of a run, like the hand-drawn ones in the brief's
//! report: one lane per node (and one for the coordinator), time downward,
//! an arrow per message, dashed when the network lost it, the middleware's
//! verdicts written where they happened, and each node's log at the end.
//!
//! A [`Trace`] is plain data, built by whoever ran the cluster (the demo
//! from its network's records, the simulator from its replay); [`svg`] and
//! [`mermaid`] only draw it. [`write`] picks the format from the file name.

mod chart;
pub mod mermaid;
pub mod svg;

use crate::core::Pos;
pub use chart::{label, lane_title, position, Lane, LaneId, Step, Trace};
use std::ops::Range;
use std::path::Path;

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
    #[error("cannot write the trace to {path}: {why}")]
    Place { path: String, why: String },
}

impl TraceError {
    /// The path asked for cannot be written (checked before a run): exit
    /// code 2; a write that failed afterwards is not.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, TraceError::Io { .. })
    }
}

/// Check that `path` names a format we draw, in a directory that exists,
/// before the run starts: a run is not thrown away for a typo.
pub fn check_path(path: &Path) -> Result<(), TraceError> {
    let place = |why: String| TraceError::Place {
        path: path.display().to_string(),
        why,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") | Some("mmd") => {}
        _ => return Err(TraceError::Format(path.display().to_string())),
    }
    if path.is_dir() {
        return Err(place("it is a directory".into()));
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(place(format!("no directory {}", dir.display()))),
        _ => Ok(()),
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
    use crate::core::{Ballot, Message};
    use crate::wire::Body;

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
        assert_eq!(
            label(&body),
            "Propose(pos 1, b 3.2, 'a rather long value …')"
        );
        assert_eq!(position(&body), Some(1));
    }
}
