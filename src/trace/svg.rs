//! A trace as a standalone SVG: lanes left to right, time downward, one
//! `<line class="msg">` per delivered message (`class="lost"`, dashed, for
//! lost ones), notes as boxes on their lane, the attacker's lane in red, and
//! each node's log under its lane, the first position where honest logs
//! disagree in red on every lane. Notes wrap inside their box (never cut),
//! labels carry a white halo so lane lines do not strike them through, and
//! repeats are collapsed ([`Trace::collapsed`]). Classes make the file easy
//! to check.

use super::chart::{lane_title, Lane, LaneId, Step, Trace};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const LANE_W: usize = 230;
const ROW_H: usize = 24;
const TOP: usize = 70;
const LEFT: usize = 20;
/// Characters of a note's line, in its box of `LANE_W - 20` pixels.
const NOTE_CHARS: usize = 30;
const LINE_H: usize = 13;

/// Escape text for XML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A step's lines of text: a note wraps, an arrow's label is one line.
fn note_lines(text: &str) -> Vec<String> {
    crate::term::wrap(text, NOTE_CHARS)
}

/// How tall a step's row is.
fn row_height(step: &Step) -> usize {
    match step {
        Step::Arrow { .. } => ROW_H,
        Step::Note { text, .. } => ROW_H.max(note_lines(text).len() * LINE_H + 16),
    }
}

pub fn render(trace: &Trace) -> String {
    let trace = &trace.collapsed();
    let conflict = trace.first_conflict();
    let x: BTreeMap<LaneId, usize> = trace
        .lanes
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, LEFT + LANE_W / 2 + i * LANE_W))
        .collect();
    let rows: usize = trace.steps.iter().map(row_height).sum();
    let bottom = TOP + rows + ROW_H;
    let width = LEFT * 2 + trace.lanes.len().max(1) * LANE_W;
    let height = bottom
        + 40
        + 16 * trace
            .lanes
            .iter()
            .map(|l| l.log.len())
            .max()
            .unwrap_or(0)
            .min(20);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">
<title>{}</title>
<defs>
<marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker>
<marker id="cross" markerWidth="10" markerHeight="10" refX="5" refY="5" orient="auto"><path d="M1,1 L9,9 M9,1 L1,9" stroke="#999" stroke-width="1.5"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>
<text x="{LEFT}" y="34" fill="#666">{}</text>"##,
        esc(&trace.title),
        esc(&trace.title),
        esc(&trace.caption)
    );
    for lane in &trace.lanes {
        draw_lane(&mut s, lane, x[&lane.id], bottom, conflict);
    }
    let mut y = TOP;
    for step in &trace.steps {
        let h = row_height(step);
        y += h;
        match step {
            Step::Arrow {
                from,
                to,
                label,
                dropped,
            } => draw_arrow(&mut s, (x[from], x[to]), y, label, *dropped),
            Step::Note { lane, text, alarm } => {
                draw_note(&mut s, x[lane], y - h + ROW_H, text, *alarm)
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// One lane: its title, its line, and (for a node) its log below.
fn draw_lane(s: &mut String, lane: &Lane, lx: usize, bottom: usize, conflict: Option<usize>) {
    let colour = if lane.attack.is_some() {
        "#c0392b"
    } else {
        "#222"
    };
    let _ = writeln!(
        s,
        r#"<g class="lane" data-lane="{}"><text x="{lx}" y="{}" text-anchor="middle" font-weight="bold" fill="{colour}">{}</text><line x1="{lx}" y1="{}" x2="{lx}" y2="{bottom}" stroke="{colour}" stroke-width="{}"/>"#,
        esc(&lane_title(lane)),
        TOP - 14,
        esc(&lane_title(lane)),
        TOP - 6,
        if lane.attack.is_some() { 3 } else { 1 },
    );
    if lane.id != LaneId::Coordinator {
        let mut y = bottom + 18;
        let _ = writeln!(
            s,
            r#"<text class="log" x="{lx}" y="{y}" text-anchor="middle" font-weight="bold">log</text>"#
        );
        for (i, v) in lane.log.iter().take(20).enumerate() {
            y += 16;
            let (class, mark) = match Some(i) == conflict {
                true => (
                    r##" class="conflict" fill="#c0392b" font-weight="bold""##,
                    "≠ ",
                ),
                false => ("", ""),
            };
            let _ = writeln!(
                s,
                r#"<text{class} x="{lx}" y="{y}" text-anchor="middle">{mark}{i}: {}</text>"#,
                esc(v)
            );
        }
    }
    s.push_str("</g>\n");
}

/// One message, drawn from lane `x1` to lane `x2` at height `y`.
fn draw_arrow(s: &mut String, (x1, x2): (usize, usize), y: usize, label: &str, dropped: bool) {
    let (class, style) = if dropped {
        (
            "lost",
            r##"stroke="#999" stroke-dasharray="5,4" marker-end="url(#cross)""##,
        )
    } else {
        ("msg", r##"stroke="#333" marker-end="url(#head)""##)
    };
    // The label starts beside the sender, in the gap to the next lane, on
    // a white halo that lane lines pass under.
    let (tx, anchor) = if x2 >= x1 {
        (x1 + 6, "start")
    } else {
        (x1 - 6, "end")
    };
    let _ = writeln!(
        s,
        r##"<line class="{class}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" {style}/><text x="{tx}" y="{}" text-anchor="{anchor}" fill="{}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"##,
        y - 4,
        if dropped { "#999" } else { "#000" },
        esc(label)
    );
}

/// One note in lane `lx`'s box, its first line at height `y`, wrapped to
/// fit: every word of it is in the picture.
fn draw_note(s: &mut String, lx: usize, y: usize, text: &str, alarm: bool) {
    let (fill, stroke) = if alarm {
        ("#fdecea", "#c0392b")
    } else {
        ("#fff8dc", "#b8a96a")
    };
    let w = LANE_W - 20;
    let lines = note_lines(text);
    let h = lines.len() * LINE_H + 5;
    let _ = write!(
        s,
        r#"<g class="note"><title>{}</title><rect x="{}" y="{}" width="{w}" height="{h}" fill="{fill}" stroke="{stroke}"/><text x="{lx}" y="{y}" text-anchor="middle">"#,
        esc(text),
        lx - w / 2,
        y - 13,
    );
    for (i, line) in lines.iter().enumerate() {
        let dy = if i == 0 { 0 } else { LINE_H };
        let _ = write!(s, r#"<tspan x="{lx}" dy="{dy}">{}</tspan>"#, esc(line));
    }
    s.push_str("</text></g>\n");
}
