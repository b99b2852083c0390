//! `paxos tour`: the lab in the terminal, a teacher's first exercise.
//!
//! One stop per attack: a line of what the attacker does, then the same
//! run (the simulator's, seeded, so it replays exactly) with no defence and
//! with the attack's own defence, side by side — the three verdict answers,
//! the honest nodes' logs with the first disagreeing position marked, and
//! what happened in words. It ends in the table of what stopped what.
//!
//! Every run is one cell of `paxos matrix` at one seed ([`crate::matrix::
//! row_with`] runs the very same configuration), so the tour's table and
//! the matrix cannot disagree; `tests/tour.rs` checks that they do not.

use crate::attack::Attack;
use crate::cluster::Defences;
use crate::core::{NodeId, Pos, Value};
use crate::matrix::{self, Cell, Mode, ATTACKER};
use crate::middleware::Defence;
use crate::sim::{self, SimConfig, SimError};
use crate::term::{wrap, Palette};
use crate::verdict::{self, Conflict};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One attack's stop: the run without a defence and the run with its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub attack: Attack,
    pub off: Cell,
    pub on: Cell,
}

/// Every stop, in the matrix's order. Each attack meets the defence
/// `paxos defences` names for it, in classic mode with 3 nodes, where it
/// bites undefended — except STALE_PREPARED, which classic mode can only
/// detect too late, so it meets BFT mode (4 nodes, every defence), and
/// REPLAY, which signatures alone stop (any defence signs).
pub fn stops() -> Vec<Stop> {
    Attack::ALL
        .into_iter()
        .map(|attack| {
            let off = (Mode::Classic, 3, Some(attack), Defences::none());
            let name = attack.to_string();
            let own = Defence::ALL.into_iter().find(|d| d.answers() == name);
            let on = match (attack, own) {
                (Attack::StalePrepared, _) => (Mode::Bft, 4, Some(attack), Defences::all()),
                (_, Some(d)) => (Mode::Classic, 3, Some(attack), Defences::of([d])),
                (_, None) => (Mode::Classic, 3, Some(attack), Defences::all()),
            };
            Stop { attack, off, on }
        })
        .collect()
}

/// The `paxos demo` flags of a cell (the same scenario with actors; the
/// demo's REPLAY needs 5 nodes to bite, the simulator's 3).
pub fn demo_flags(cell: &Cell) -> String {
    let mut f = Vec::new();
    if let Some(a) = cell.2 {
        f.push(format!("--attack {a}"));
    }
    if cell.2 == Some(Attack::Replay) && cell.1 < 5 {
        f.push("--nodes 5".into());
    }
    let rest = defence_flags(cell);
    if !rest.is_empty() {
        f.push(rest);
    }
    f.join(" ")
}

/// The flags that set a cell's mode and defences (`--defences echo`,
/// `--bft --nodes 4 --middleware`).
pub fn defence_flags(cell: &Cell) -> String {
    let (mode, n, _, defences) = cell;
    let mut f = Vec::new();
    if *mode == Mode::Bft {
        f.push("--bft".to_string());
    }
    if *n != 3 || *mode == Mode::Bft {
        f.push(format!("--nodes {n}"));
    }
    match (defences.is_empty(), defences.is_all()) {
        (true, _) => {}
        (_, true) => f.push("--middleware".into()),
        _ => f.push(format!("--defences {defences}")),
    }
    f.join(" ")
}

/// One run of a stop, as the tour shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    pub mode: Mode,
    pub nodes: usize,
    /// The defences in force, as `paxos defences` names them.
    pub defences: String,
    /// What to type to see it with actors: `paxos demo …`.
    pub demo: String,
    /// The flags of its mode and defences (empty: classic, none).
    pub flags: String,
    pub agreement: bool,
    pub live: bool,
    /// The attacker was flagged by an honest node.
    pub detected: bool,
    /// An honest node was flagged.
    pub framed: bool,
    pub conflict: Option<Conflict>,
    /// Values asked for, and committed on every honest node.
    pub values: (usize, usize),
    pub logs: BTreeMap<NodeId, BTreeMap<Pos, Value>>,
    pub what_happened: Vec<String>,
}

/// One stop's two runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Leg {
    pub attack: String,
    pub what: String,
    pub off: Side,
    pub on: Side,
}

/// What `paxos tour --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tour {
    pub seed: u64,
    pub legs: Vec<Leg>,
}

/// Run one cell at `seed`, as `paxos matrix` runs it.
pub fn side(cell: &Cell, seed: u64) -> Result<Side, SimError> {
    let (mode, n, attack, defences) = cell.clone();
    let cfg = SimConfig {
        defences: Some(defences.clone()),
        ..matrix::scenario(attack, n, !defences.is_empty(), mode)
    };
    cfg.validate()?;
    let o = sim::run(&cfg, seed);
    let requested: Vec<Value> = (0..cfg.values)
        .map(|i| Value::one(format!("v{i}")))
        .collect();
    let logs: Vec<&BTreeMap<Pos, Value>> = o.logs.values().collect();
    let values = (requested.len(), verdict::values_on_all(&logs, &requested));
    let with_ids: Vec<_> = o.logs.iter().map(|(id, l)| (*id, l)).collect();
    let conflict = verdict::first_conflict(&with_ids);
    let attackers: Vec<NodeId> = attack.map(|_| ATTACKER).into_iter().collect();
    let harmless = o.violation.is_none() && o.live && o.detected.is_empty();
    let bft = mode == Mode::Bft;
    let why = match attack {
        Some(a) if harmless => Some(verdict::why_harmless(a, bft, !defences.is_empty(), n)),
        _ => None,
    };
    let what_happened = verdict::Story {
        attack,
        attackers: &attackers,
        defences: &defences.to_string(),
        conflict: conflict.as_ref(),
        values,
        deadline_s: None,
        evidence: &o.accusations,
        hint: why.as_deref(),
        stopped_at_violation: o.violation.is_some(),
    }
    .sentences();
    Ok(Side {
        mode,
        nodes: n,
        defences: defences.to_string(),
        demo: format!("paxos demo {}", demo_flags(cell)),
        flags: defence_flags(cell),
        agreement: o.violation.is_none(),
        live: o.live,
        detected: attack.is_some() && o.detected.contains(&ATTACKER),
        framed: o.detected.iter().any(|d| !attackers.contains(d)),
        conflict,
        values,
        logs: o.logs,
        what_happened,
    })
}

/// Run the tour (every stop, or only `only`'s) at `seed`.
pub fn run(only: Option<Attack>, seed: u64) -> Result<Tour, SimError> {
    let legs = stops()
        .into_iter()
        .filter(|s| only.is_none_or(|a| a == s.attack))
        .map(|s| {
            Ok(Leg {
                attack: s.attack.to_string(),
                what: s.attack.what().to_string(),
                off: side(&s.off, seed)?,
                on: side(&s.on, seed)?,
            })
        })
        .collect::<Result<_, SimError>>()?;
    Ok(Tour { seed, legs })
}

/// Width of one column of a stop.
const COLUMN: usize = 38;

/// One stop, for the terminal: `k` of `total`.
pub fn render_leg(leg: &Leg, k: usize, total: usize, paint: &Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "── {k}/{total}  {} ──", leg.attack);
    let what = format!("What the attacker (node {ATTACKER}) does: {}.", leg.what);
    for line in wrap(&what, 78) {
        let _ = writeln!(out, "{line}");
    }
    let head = |s: &Side| match s.defences.as_str() {
        "none" => "no defence".to_string(),
        _ => format!("with {}", s.flags),
    };
    let _ = writeln!(
        out,
        "\n  {:<11}{:<COLUMN$}{}",
        "",
        head(&leg.off),
        head(&leg.on)
    );
    for (label, off, on) in [
        ("agreement", agreement(&leg.off), agreement(&leg.on)),
        ("liveness", liveness(&leg.off), liveness(&leg.on)),
        ("detected", detected(&leg.off), detected(&leg.on)),
    ] {
        let pad = |(ok, t): (Option<bool>, String)| {
            let cell = format!("{t:<COLUMN$}");
            match ok {
                Some(true) => paint.good(&cell),
                Some(false) => paint.bad(&cell),
                None => cell,
            }
        };
        let _ = writeln!(out, "  {label:<11}{}{}", pad(off), pad(on).trim_end());
    }
    render_logs(&mut out, leg);
    for (name, s) in [("no defence", &leg.off), ("with the defence", &leg.on)] {
        let _ = writeln!(out, "\n  what happened, {name}:");
        for line in wrap(&s.what_happened[1..].join(" "), 74) {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(out, "\n  see it with actors:  {}", leg.off.demo);
    let _ = writeln!(out, "                       {}", leg.on.demo);
    out
}

fn agreement(s: &Side) -> (Option<bool>, String) {
    match &s.conflict {
        Some(c) => (Some(false), format!("NO (position {})", c.pos)),
        None if !s.agreement => (Some(false), "NO".into()),
        None => (Some(true), "yes".into()),
    }
}

fn liveness(s: &Side) -> (Option<bool>, String) {
    let (asked, have) = s.values;
    let word = if s.live { "yes" } else { "NO" };
    (Some(s.live), format!("{word} ({have} of {asked} values)"))
}

fn detected(s: &Side) -> (Option<bool>, String) {
    match (s.detected, s.framed) {
        (_, true) => (Some(false), "an honest node (framed)".into()),
        (true, _) => (Some(true), format!("node {ATTACKER}, the attacker")),
        _ => (None, "nobody".into()),
    }
}

/// Both runs' honest logs, side by side, `[value]` at the first position
/// where two honest nodes differ.
fn render_logs(out: &mut String, leg: &Leg) {
    let _ = writeln!(out, "\n  honest logs ([…]: where they disagree):");
    let ids: BTreeSet<NodeId> = leg
        .off
        .logs
        .keys()
        .chain(leg.on.logs.keys())
        .copied()
        .collect();
    for id in ids {
        let show = |s: &Side| {
            let log = s.logs.get(&id).cloned().unwrap_or_default();
            log_line(&log, s.conflict.as_ref().map(|c| c.pos))
        };
        let (off, on) = (show(&leg.off), show(&leg.on));
        let _ = writeln!(out, "  {:<11}{off:<COLUMN$}{on}", format!("node {id}"));
    }
}

/// `v0 v2 [v3 (safety attack)] v1`: a log in position order, `_` for a gap.
pub fn log_line(log: &BTreeMap<Pos, Value>, mark: Option<Pos>) -> String {
    let end = log.keys().next_back().map_or(0, |p| p + 1);
    (0..end)
        .map(|p| match (log.get(&p), Some(p) == mark) {
            (Some(v), true) => format!("[{v}]"),
            (Some(v), false) => v.to_string(),
            (None, _) => "_".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The closing table: what each attack does undefended, and what its
/// defence makes of it.
pub fn render_table(tour: &Tour) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "what stopped what (seed {}; `paxos matrix` runs many seeds):\n",
        tour.seed
    );
    let _ = writeln!(
        out,
        "  {:<18}{:<22}{:<34}with it",
        "attack", "no defence", "defence"
    );
    for leg in &tour.legs {
        let defence = &leg.on.flags;
        let _ = writeln!(
            out,
            "  {:<18}{:<22}{:<34}{}",
            leg.attack,
            outcome(&leg.off),
            defence,
            outcome(&leg.on)
        );
    }
    out
}

/// A run in two or three words.
pub fn outcome(s: &Side) -> &'static str {
    match (s.agreement, s.live, s.detected, s.framed) {
        (_, _, _, true) => "framed an honest node",
        (false, _, _, _) => "agreement broken",
        (true, false, _, _) => "nothing commits",
        (true, true, true, _) => "caught, all commit",
        (true, true, false, _) if s.defences == "none" => "no harm",
        (true, true, false, _) => "prevented",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attack_has_one_stop_and_its_defence_is_on() {
        let s = stops();
        assert_eq!(s.len(), Attack::ALL.len());
        for stop in &s {
            assert!(stop.off.3.is_empty(), "{stop:?}");
            assert!(!stop.on.3.is_empty(), "{stop:?}");
        }
        let safety = &s[0];
        assert_eq!(demo_flags(&safety.on), "--attack SAFETY --defences echo");
        let stale = s
            .iter()
            .find(|x| x.attack == Attack::StalePrepared)
            .unwrap();
        assert_eq!(
            demo_flags(&stale.on),
            "--attack STALE_PREPARED --bft --nodes 4 --middleware"
        );
    }

    #[test]
    fn a_log_line_marks_the_disagreeing_position_and_gaps() {
        let log: BTreeMap<Pos, Value> =
            [(0, "a"), (2, "c")].map(|(p, v)| (p, Value::one(v))).into();
        assert_eq!(log_line(&log, Some(2)), "a _ [c]");
        assert_eq!(log_line(&BTreeMap::new(), None), "");
    }
}
