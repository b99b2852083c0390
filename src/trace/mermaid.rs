//! A trace as a Mermaid `sequenceDiagram`, to paste into Markdown.
//! Delivered messages are solid arrows (`->>`), lost ones end in a cross
//! (`--x`), verdicts are notes over the lane that made them.

use super::chart::{lane_title, LaneId, Step, Trace};
use std::fmt::Write as _;

fn alias(id: LaneId) -> String {
    match id {
        LaneId::Coordinator => "C".to_string(),
        LaneId::Node(n) => format!("N{n}"),
    }
}

/// Mermaid breaks on a few characters in message text.
fn clean(s: &str) -> String {
    s.replace([';', '#', '\n'], " ")
}

pub fn render(trace: &Trace) -> String {
    let trace = &trace.collapsed();
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "    %% {}", clean(&trace.title));
    if !trace.caption.is_empty() {
        let _ = writeln!(out, "    %% {}", clean(&trace.caption));
    }
    for lane in &trace.lanes {
        let _ = writeln!(
            out,
            "    participant {} as {}",
            alias(lane.id),
            clean(&lane_title(lane))
        );
    }
    for step in &trace.steps {
        match step {
            Step::Arrow {
                from,
                to,
                label,
                dropped,
            } => {
                let arrow = if *dropped { "--x" } else { "->>" };
                let lost = if *dropped { " (lost)" } else { "" };
                let _ = writeln!(
                    out,
                    "    {}{arrow}{}: {}{lost}",
                    alias(*from),
                    alias(*to),
                    clean(label)
                );
            }
            Step::Note { lane, text, alarm } => {
                let mark = if *alarm { "⚠ " } else { "" };
                let _ = writeln!(out, "    Note over {}: {mark}{}", alias(*lane), clean(text));
            }
        }
    }
    let conflict = trace.first_conflict();
    for lane in trace.lanes.iter().filter(|l| l.id != LaneId::Coordinator) {
        let log: Vec<String> = lane
            .log
            .iter()
            .enumerate()
            .map(|(i, v)| match Some(i) == conflict {
                true => format!("≠{i}: {v}"),
                false => v.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "    Note over {}: log [{}]",
            alias(lane.id),
            clean(&log.join(", "))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Lane;

    #[test]
    fn one_line_per_arrow_and_lost_ones_are_crossed() {
        let t = Trace {
            title: "t".into(),
            caption: String::new(),
            lanes: vec![
                Lane {
                    id: LaneId::Node(0),
                    attack: Some("SAFETY".into()),
                    log: vec!["a".into()],
                },
                Lane {
                    id: LaneId::Node(1),
                    attack: None,
                    log: vec![],
                },
            ],
            steps: vec![
                Step::Arrow {
                    from: LaneId::Node(0),
                    to: LaneId::Node(1),
                    label: "Prepare(pos 0, b 1.0)".into(),
                    dropped: false,
                },
                Step::Arrow {
                    from: LaneId::Node(1),
                    to: LaneId::Node(0),
                    label: "Prepared; x".into(),
                    dropped: true,
                },
            ],
        };
        let m = render(&t);
        assert!(m.starts_with("sequenceDiagram\n"));
        assert_eq!(m.lines().filter(|l| l.contains("->>")).count(), 1);
        assert!(m.contains("N1--xN0: Prepared  x (lost)"));
        assert!(m.contains("participant N0 as node 0 (SAFETY attacker)"));
    }
}
