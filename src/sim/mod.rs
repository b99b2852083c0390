//! Deterministic simulation of the whole protocol (`paxos sim`).
//!
//! A run drives the participants (honest replicas, attackers), each behind
//! its middleware [`Shield`](crate::middleware::Shield), and a client, over a
//! simulated network with loss, duplication, delay and reordering,
//! partitions that form and heal, and nodes that crash and restart keeping
//! only what they persisted. Everything random comes from one seed and time
//! is a tick counter, so a run replays exactly from its seed: a failure
//! found in a long search is reproduced with `paxos sim --seed S --replay`.
//!
//! After every step the safety invariants are checked ([`invariants`]);
//! after the last fault heals, the run must commit every requested value on
//! every honest node within [`SimConfig::live_window`] ticks (liveness).
//!
//! - [`SimConfig`] (`config.rs`): what to simulate, and the cluster it is;
//! - [`network`]: packets in flight, faults;
//! - [`schedule`]: the run's script drawn from the seed;
//! - [`world`]: members, shields, client, time — one tick at a time;
//! - [`invariants`]: agreement, validity, stability.

mod config;
pub mod invariants;
pub mod kv;
pub mod network;
pub mod schedule;
pub mod world;

use crate::core::NodeId;
pub use config::{SimConfig, SimError};
use network::Faults;
use schedule::{Action, Schedule};
use serde::Serialize;
use std::io::Write;
use std::time::Instant;
pub use world::{Found, Role, World};

/// One run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub violation: Option<Found>,
    /// Every requested value committed on every honest node within
    /// [`SimConfig::live_window`] of the heal.
    pub live: bool,
    /// Ticks the run took.
    pub ticks: u64,
    pub steps: u64,
    /// Nodes flagged by honest nodes' middleware.
    pub detected: Vec<NodeId>,
    /// What they were flagged on.
    pub evidence: Vec<crate::middleware::Evidence>,
    /// Each honest node's first accusation of each node: (reporter,
    /// accused, reason).
    pub accusations: Vec<(NodeId, NodeId, String)>,
    /// The honest nodes' committed logs at the end.
    pub logs: std::collections::BTreeMap<
        NodeId,
        std::collections::BTreeMap<crate::core::Pos, crate::core::Value>,
    >,
    /// The step-by-step trace, when `cfg.trace`.
    pub trace: Vec<String>,
    /// The sequence chart, when `cfg.chart`.
    pub chart: Option<crate::trace::Trace>,
    /// The KV workload's history and its check, when `cfg.kv`.
    pub kv: Option<kv::KvOutcome>,
}

/// Run one seed. The config must be valid ([`SimConfig::validate`]).
///
/// A KV workload's run goes on past a broken invariant, so the clients'
/// history shows what they saw of it.
pub fn run(cfg: &SimConfig, seed: u64) -> Outcome {
    let schedule = Schedule::new(cfg, seed);
    let mut w = World::new(cfg, seed);
    w.set_faults(Faults {
        loss: cfg.loss,
        dup: cfg.dup,
    });
    let mut driver = cfg.kv.as_ref().map(|k| kv::Driver::new(cfg, k, seed));
    let last_request = schedule
        .actions
        .iter()
        .filter(|(_, a)| a.is_request())
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(0);
    let mut next = 0;
    let mut live = false;
    loop {
        let t = w.now();
        if t == schedule.heal {
            w.set_faults(Faults {
                loss: 0.0,
                dup: 0.0,
            });
        }
        while next < schedule.actions.len() && schedule.actions[next].0 <= t {
            act(&mut w, schedule.actions[next].1.clone());
            next += 1;
        }
        if let Some(d) = &mut driver {
            d.step(&mut w);
        }
        if w.violation().is_some() && driver.is_none() {
            break;
        }
        let clients_done = driver
            .as_ref()
            .is_none_or(|d| d.done() && w.stores_caught_up());
        if t >= schedule.heal && t >= last_request && clients_done && w.all_committed() {
            live = true;
            break;
        }
        if t >= schedule.heal + cfg.live_window() {
            break;
        }
        w.tick();
    }
    Outcome {
        seed,
        violation: w.violation().cloned(),
        live,
        ticks: w.now(),
        steps: w.steps(),
        detected: w.detected().into_iter().collect(),
        evidence: w.evidence().into_iter().collect(),
        accusations: w.accusations().to_vec(),
        logs: w.honest_logs(),
        trace: w.take_trace(),
        chart: w.chart(title(cfg, seed), cfg.attack.map(|a| a.to_string())),
        kv: driver.map(|d| d.finish(&w, live)),
    }
}

/// Carry out one action of the script.
fn act(w: &mut World, action: Action) {
    match action {
        Action::Partition(side) => w.partition(&side),
        Action::Heal => w.heal(),
        Action::Split(a, b) => w.split(&a, &b),
        Action::Crash(m) => w.crash(m),
        Action::Restart(m) => w.restart(m),
        Action::Request(m, value) => w.request(m, value),
        Action::Ask(value) => w.ask(value),
    }
}

/// A chart's title: what ran.
fn title(cfg: &SimConfig, seed: u64) -> String {
    let attack = match cfg.attack {
        Some(a) => format!("{a} attack from node {}", cfg.attacker),
        None => "no attack".into(),
    };
    format!(
        "paxos sim: {}{}, {attack}, middleware {}, seed {seed}",
        crate::verdict::count(cfg.nodes, "node"),
        if cfg.bft { " (BFT)" } else { "" },
        cfg.spec(seed).defences.label()
    )
}

/// What `paxos sim --json` prints.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub runs: u64,
    /// Runs in which an invariant broke.
    pub violations: u64,
    /// The first seed whose run broke an invariant.
    pub first_violation_seed: Option<u64>,
    /// What broke in that run.
    pub first_violation: Option<String>,
    /// Runs in which every requested value committed everywhere after the heal.
    pub live_runs: u64,
    /// Runs in which some honest node flagged some node.
    pub detected_runs: u64,
    /// With a KV workload: runs whose client history is linearizable (a
    /// run whose history is not counts as a violation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizable_runs: Option<u64>,
    pub seed: u64,
    pub nodes: usize,
    pub attack: Option<String>,
    pub middleware: bool,
    /// The `paxos sim` flags of this configuration (with `seed` and `runs`,
    /// all it takes to run it again).
    pub flags: String,
    pub elapsed_ms: f64,
}

/// Run seeds `start..start+count`, calling `progress` after each run.
pub fn run_seeds(
    cfg: &SimConfig,
    start: u64,
    count: u64,
    mut progress: impl FnMut(&Summary),
) -> Result<Summary, SimError> {
    cfg.validate()?;
    if count == 0 {
        return Err(SimError::NoSeeds);
    }
    // The last seed is start + count - 1: every seed up to u64::MAX runs.
    if start.checked_add(count - 1).is_none() {
        return Err(SimError::SeedOverflow { start, count });
    }
    let began = Instant::now();
    let mut s = Summary {
        seed: start,
        nodes: cfg.nodes,
        attack: cfg.attack.map(|a| a.to_string()),
        middleware: !cfg.spec(0).defences.is_empty(),
        flags: cfg.flags(),
        linearizable_runs: cfg.kv.as_ref().map(|_| 0),
        ..Summary::default()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let chunk = threads * 8;
    let mut left = count;
    let mut next = start;
    while left > 0 {
        let k = chunk.min(left);
        // Seeds next ..= next + k - 1, which cannot overflow (checked above).
        let seeds: Vec<u64> = (0..k).map(|i| next + i).collect();
        for (&seed, o) in seeds.iter().zip(run_parallel(cfg, &seeds, threads)) {
            tally(&mut s, seed, o);
            s.elapsed_ms = began.elapsed().as_secs_f64() * 1e3;
            progress(&s);
        }
        left -= k;
        next = next.wrapping_add(k);
    }
    Ok(s)
}

/// Run `seeds` on `threads` threads; the outcomes come back in seed order,
/// so what is reported is the same however many cores ran it.
fn run_parallel(cfg: &SimConfig, seeds: &[u64], threads: u64) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = seeds.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1) as usize)
            .map(|t| {
                let mine: Vec<(usize, u64)> = seeds
                    .iter()
                    .copied()
                    .enumerate()
                    .skip(t)
                    .step_by(threads.max(1) as usize)
                    .collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|(i, seed)| (i, run(cfg, seed)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for w in workers {
            for (i, o) in w.join().expect("a simulation thread panicked") {
                out[i] = Some(o);
            }
        }
    });
    out.into_iter().flatten().collect()
}

/// Add one run's outcome to the summary.
fn tally(s: &mut Summary, seed: u64, o: Outcome) {
    s.runs += 1;
    s.live_runs += u64::from(o.live);
    s.detected_runs += u64::from(!o.detected.is_empty());
    let kv_broken = o.kv.as_ref().and_then(|k| k.violation());
    if let (Some(n), Some(k)) = (&mut s.linearizable_runs, &o.kv) {
        *n += u64::from(k.verdict == crate::kv::check::Verdict::Linearizable);
    }
    let what = match (o.violation, kv_broken) {
        (Some(f), _) => format!("at time {}: {}", f.tick, f.violation),
        (None, Some(what)) => what,
        (None, None) => return,
    };
    s.violations += 1;
    if s.first_violation_seed.is_none() {
        s.first_violation_seed = Some(seed);
        s.first_violation = Some(what);
    }
}

/// What the `paxos sim` command was asked to do.
#[derive(Clone, Debug)]
pub struct Command {
    pub cfg: SimConfig,
    pub seed: u64,
    pub seeds: u64,
    /// Print seed `seed`'s trace step by step instead of searching.
    pub replay: bool,
    pub json: bool,
}

fn io(e: std::io::Error) -> SimError {
    SimError::Io(e.to_string())
}

/// Carry out `paxos sim`: the report on `out`, progress on `err`.
pub fn command(cmd: &Command, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), SimError> {
    cmd.cfg.validate()?;
    if cmd.replay {
        let cfg = SimConfig {
            trace: true,
            ..cmd.cfg.clone()
        };
        let o = run(&cfg, cmd.seed);
        for line in &o.trace {
            writeln!(out, "{line}").map_err(io)?;
        }
        let verdict = match &o.violation {
            Some(f) => format!("VIOLATION at time {}: {}", f.tick, f.violation),
            None if o.live => format!(
                "no violation; live: everything committed by time {} (simulated)",
                o.ticks
            ),
            None => format!(
                "no violation; NOT live: still missing values at time {} (simulated)",
                o.ticks
            ),
        };
        writeln!(out, "seed {}: {verdict} ({} steps)", o.seed, o.steps).map_err(io)?;
        if let Some(k) = &o.kv {
            write!(out, "{}", k.report()).map_err(io)?;
        }
        return Ok(());
    }
    let every = (cmd.seeds / 100).max(1);
    let s = run_seeds(&cmd.cfg, cmd.seed, cmd.seeds, |s| {
        if !cmd.json && (s.runs % every == 0 || s.runs == cmd.seeds) {
            let _ = write!(
                err,
                "\rsimulated {}/{} seeds, {} violations",
                s.runs, cmd.seeds, s.violations
            );
            if s.runs == cmd.seeds {
                let _ = writeln!(err);
            }
        }
    })?;
    if cmd.json {
        serde_json::to_writer(&mut *out, &s).map_err(|e| SimError::Io(e.to_string()))?;
        writeln!(out).map_err(io)?;
        return Ok(());
    }
    writeln!(
        out,
        "paxos sim {}\nseeds {}..={}: {} runs, {} violations, {} live after the faults healed, {} with a node flagged ({:.0} ms)",
        cmd.cfg.flags(),
        cmd.seed,
        cmd.seed + (cmd.seeds - 1),
        s.runs,
        s.violations,
        s.live_runs,
        s.detected_runs,
        s.elapsed_ms
    )
    .map_err(io)?;
    if let Some(n) = s.linearizable_runs {
        writeln!(out, "{n} of {} client histories linearizable", s.runs).map_err(io)?;
    }
    if let (Some(seed), Some(what)) = (s.first_violation_seed, &s.first_violation) {
        writeln!(out, "first violation: seed {seed}, {what}").map_err(io)?;
        let flags = cmd.cfg.flags();
        let sep = if flags.is_empty() { "" } else { " " };
        writeln!(
            out,
            "replay it with: paxos sim --seed {seed} --replay{sep}{flags}"
        )
        .map_err(io)?;
    }
    Ok(())
}
