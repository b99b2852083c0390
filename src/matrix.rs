//! `paxos matrix`: every attack × middleware off/on × classic/BFT mode, run on
//! the simulator over several seeds, as one table.
//!
//! Each row is one configuration: the attack's own scenario ([`scenario`]),
//! run for `seeds` seeds. A row says in how many runs honest nodes kept
//! agreement (no position with two values; validity and stability too — the
//! simulator checks all three), in how many every requested value committed
//! on every honest node after the faults healed (live), in how many the
//! attacker was flagged by an honest node (detected), in how many an honest
//! node was flagged (framed — must stay 0), and on what evidence.
//!
//! The rows are the README's table, measured: nothing in it is typed in by
//! hand, and `tests/matrix.rs` asserts the cells the README claims.

use crate::attack::Attack;
use crate::cluster::Defences;
use crate::core::NodeId;
use crate::middleware::Evidence;
use crate::sim::{self, SimConfig, SimError};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Write;

/// Classic Paxos (n = 2f+1, majorities) or BFT mode (n >= 3f+1, 2f+1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Classic,
    Bft,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Classic => "classic",
            Mode::Bft => "bft",
        }
    }
}

/// The node that attacks in every row: node 0, the one the client asks
/// first (so a SAFETY attacker leads position 0, as in the brief's demo).
pub const ATTACKER: NodeId = 0;

/// The largest cluster a matrix row simulates: beyond it a row would take
/// hours, not minutes.
pub const MAX_NODES: usize = 25;

/// The most seeds a row runs.
pub const MAX_SEEDS: u64 = 10_000;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixConfig {
    /// Cluster sizes: classic rows run at each, BFT rows at each n >= 4.
    pub nodes: Vec<usize>,
    /// Seeds per row.
    pub seeds: u64,
    /// The first seed.
    pub seed: u64,
    /// Instead of middleware off/on: classic mode, each attack against its
    /// own defence alone and against every defence but its own.
    pub by_defence: bool,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        MatrixConfig {
            nodes: vec![3, 4],
            seeds: 10,
            seed: 0,
            by_defence: false,
        }
    }
}

/// Why a matrix could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatrixError {
    #[error("--nodes needs at least one cluster size")]
    NoSizes,
    #[error("--nodes {0}: a cluster with an attacker needs at least 2 nodes")]
    TooSmall(usize),
    #[error("--seeds must be at least 1")]
    NoSeeds,
    #[error(transparent)]
    Sim(#[from] SimError),
}

impl MatrixError {
    /// The request itself was wrong (not the run): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            MatrixError::Sim(e) => e.is_bad_input(),
            _ => true,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The attack's `--attack` name, or "NONE" for the honest baseline.
    pub attack: String,
    pub middleware: bool,
    /// The defences in force: `all`, `none`, or their names.
    pub defences: String,
    /// "classic" or "bft".
    pub mode: Mode,
    pub nodes: usize,
    /// No run broke agreement, validity or stability.
    pub agreement: bool,
    /// Every run was live after the faults healed.
    pub live: bool,
    /// The attacker was flagged in every run (false for the baseline).
    pub detected: bool,
    pub runs: u64,
    pub violations: u64,
    pub live_runs: u64,
    pub detected_runs: u64,
    /// Runs in which an honest node was flagged.
    pub framed_runs: u64,
    /// What the attacker was flagged on, over all runs.
    pub evidence: Vec<Evidence>,
}

/// What `--json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Matrix {
    pub rows: Vec<Row>,
}

/// The simulator configuration of one row: the attack's scenario.
///
/// Every attack runs in the simulator's default world (delay 1..3 ticks and
/// reordering, no loss, a client asking every honest node in turn, the
/// attacker first where it takes requests), which is where each of them
/// bites when undefended.
pub fn scenario(attack: Option<Attack>, nodes: usize, middleware: bool, mode: Mode) -> SimConfig {
    SimConfig {
        nodes,
        attack,
        attacker: ATTACKER,
        middleware,
        bft: mode == Mode::Bft,
        ..SimConfig::default()
    }
}

/// One row to run: mode, size, attack, defences.
pub type Cell = (Mode, usize, Option<Attack>, Defences);

/// Every row the config asks for, in table order.
pub fn plan(cfg: &MatrixConfig) -> Vec<Cell> {
    if cfg.by_defence {
        return by_defence(cfg);
    }
    let mut plan = Vec::new();
    for mode in [Mode::Classic, Mode::Bft] {
        for &n in &cfg.nodes {
            if mode == Mode::Bft && crate::core::bft_faults(n, None).is_err() {
                continue;
            }
            let attacks = std::iter::once(None).chain(Attack::ALL.iter().copied().map(Some));
            for attack in attacks {
                for middleware in [false, true] {
                    plan.push((mode, n, attack, Defences::all_if(middleware)));
                }
            }
        }
    }
    plan
}

/// Classic mode, each attack against its own defence alone, then against
/// all but it: which defence suffices, and what the others do without it.
fn by_defence(cfg: &MatrixConfig) -> Vec<Cell> {
    let mut plan = Vec::new();
    for &n in &cfg.nodes {
        for d in crate::middleware::Defence::ALL {
            let Ok(attack) = d.answers().parse::<Attack>() else {
                continue;
            };
            for set in [Defences::of([d]), Defences::all_but(d)] {
                plan.push((Mode::Classic, n, Some(attack), set));
            }
        }
    }
    plan
}

/// Run one row.
pub fn row(
    attack: Option<Attack>,
    nodes: usize,
    middleware: bool,
    mode: Mode,
    seed: u64,
    seeds: u64,
) -> Result<Row, MatrixError> {
    row_with(
        attack,
        nodes,
        Defences::all_if(middleware),
        mode,
        seed,
        seeds,
    )
}

/// Run one row with exactly `defences` in force (classic mode: any set).
pub fn row_with(
    attack: Option<Attack>,
    nodes: usize,
    defences: Defences,
    mode: Mode,
    seed: u64,
    seeds: u64,
) -> Result<Row, MatrixError> {
    let middleware = !defences.is_empty();
    let cfg = SimConfig {
        defences: Some(defences),
        ..scenario(attack, nodes, middleware, mode)
    };
    cfg.validate()?;
    let mut r = Row {
        attack: attack.map_or("NONE".into(), |a| a.to_string()),
        middleware,
        defences: cfg
            .defences
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        mode,
        nodes,
        agreement: false,
        live: false,
        detected: false,
        runs: 0,
        violations: 0,
        live_runs: 0,
        detected_runs: 0,
        framed_runs: 0,
        evidence: Vec::new(),
    };
    let mut evidence = BTreeSet::new();
    // Seeds seed ..= seed + seeds - 1 (checked in `run` not to overflow).
    for s in (0..seeds).map(|i| seed + i) {
        let o = sim::run(&cfg, s);
        r.runs += 1;
        r.violations += u64::from(o.violation.is_some());
        r.live_runs += u64::from(o.live);
        let attacker = attack.map(|_| ATTACKER);
        r.detected_runs += u64::from(attacker.is_some_and(|a| o.detected.contains(&a)));
        r.framed_runs += u64::from(o.detected.iter().any(|d| Some(*d) != attacker));
        evidence.extend(o.evidence);
    }
    r.agreement = r.violations == 0;
    r.live = r.live_runs == r.runs;
    r.detected = attack.is_some() && r.detected_runs == r.runs;
    r.evidence = evidence.into_iter().collect();
    Ok(r)
}

/// Run the whole matrix, calling `progress(done, total)` after each row.
pub fn run(
    cfg: &MatrixConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<Matrix, MatrixError> {
    if cfg.nodes.is_empty() {
        return Err(MatrixError::NoSizes);
    }
    if let Some(&n) = cfg.nodes.iter().find(|&&n| n < 2) {
        return Err(MatrixError::TooSmall(n));
    }
    if cfg.seeds == 0 {
        return Err(MatrixError::NoSeeds);
    }
    if cfg.seed.checked_add(cfg.seeds - 1).is_none() {
        return Err(SimError::SeedOverflow {
            start: cfg.seed,
            count: cfg.seeds,
        }
        .into());
    }
    let plan = plan(cfg);
    // Rows are independent runs of plain code: one thread per core, each
    // taking the next row, results put back in table order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut rows: Vec<Option<Row>> = vec![None; plan.len()];
    std::thread::scope(|scope| -> Result<(), MatrixError> {
        for _ in 0..threads.min(plan.len()) {
            let (tx, next, plan) = (tx.clone(), &next, &plan);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((mode, n, attack, defences)) = plan.get(i).cloned() else {
                    return;
                };
                let r = row_with(attack, n, defences, mode, cfg.seed, cfg.seeds);
                if tx.send((i, r)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (done, (i, r)) in rx.iter().enumerate() {
            rows[i] = Some(r?);
            progress(done + 1, plan.len());
        }
        Ok(())
    })?;
    Ok(Matrix {
        rows: rows.into_iter().flatten().collect(),
    })
}

/// The defences column: `on`, `off`, `only echo`, or `all but echo`.
fn column(defences: &str) -> String {
    let Ok(set) = defences.parse::<Defences>() else {
        return defences.to_string();
    };
    match crate::middleware::Defence::ALL
        .into_iter()
        .find(|d| set == Defences::all_but(*d))
    {
        Some(d) => format!("all but {d}"),
        None => set.label(),
    }
}

/// `k/n`, or `-` where the column does not apply.
fn count(k: u64, n: u64, applies: bool) -> String {
    if applies {
        format!("{k}/{n}")
    } else {
        "-".into()
    }
}

/// The table, as `paxos matrix` prints it.
pub fn render(m: &Matrix, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:>2}  {:<17} {:<28} {:>9} {:>6} {:>8} {:>6}  evidence",
        "mode", "n", "attack", "middleware", "agreement", "live", "detected", "framed"
    )?;
    for r in &m.rows {
        let attacked = r.attack != "NONE";
        let evidence: Vec<String> = r.evidence.iter().map(|e| e.to_string()).collect();
        writeln!(
            out,
            "{:<8} {:>2}  {:<17} {:<28} {:>9} {:>6} {:>8} {:>6}  {}",
            r.mode.name(),
            r.nodes,
            r.attack,
            column(&r.defences),
            count(r.runs - r.violations, r.runs, true),
            count(r.live_runs, r.runs, true),
            count(r.detected_runs, r.runs, attacked),
            r.framed_runs,
            if evidence.is_empty() {
                "-".into()
            } else {
                evidence.join(", ")
            }
        )?;
    }
    writeln!(
        out,
        "agreement/live/detected: runs (of seeds) that kept agreement, committed every value after the faults healed, flagged the attacker (node {ATTACKER}); framed: runs that flagged an honest node"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_every_attack_both_ways_in_both_modes() {
        let p = plan(&MatrixConfig::default());
        let per_size = 2 * (1 + Attack::ALL.len());
        // Classic at 3 and 4, BFT only at 4 (3 < 3f+1).
        assert_eq!(p.len(), 3 * per_size);
        assert!(p.iter().all(|(m, n, ..)| *m == Mode::Classic || *n == 4));
        assert!(p.contains(&(Mode::Bft, 4, Some(Attack::Safety), Defences::all())));
    }

    #[test]
    fn by_defence_pairs_each_defence_with_its_attack_alone_and_left_out() {
        let cfg = MatrixConfig {
            nodes: vec![3],
            by_defence: true,
            ..MatrixConfig::default()
        };
        let p = plan(&cfg);
        assert_eq!(p.len(), 2 * crate::middleware::Defence::ALL.len());
        let echo = crate::middleware::Defence::Echo;
        assert!(p.contains(&(Mode::Classic, 3, Some(Attack::Safety), Defences::of([echo]))));
        assert!(p.contains(&(
            Mode::Classic,
            3,
            Some(Attack::Safety),
            Defences::all_but(echo)
        )));
        assert_eq!(column(&Defences::all_but(echo).to_string()), "all but echo");
        assert_eq!(column(&Defences::of([echo]).to_string()), "only echo");
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |nodes: Vec<usize>, seeds| {
            run(
                &MatrixConfig {
                    nodes,
                    seeds,
                    ..MatrixConfig::default()
                },
                |_, _| {},
            )
            .unwrap_err()
        };
        assert_eq!(bad(vec![], 1), MatrixError::NoSizes);
        assert_eq!(bad(vec![1], 1), MatrixError::TooSmall(1));
        assert_eq!(bad(vec![3], 0), MatrixError::NoSeeds);
    }
}
