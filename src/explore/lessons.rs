//! Ready runs for a class: one per attack with its defence off and on
//! (`?lesson=safety`, `?lesson=safety-defended`), each the simulator's own
//! run of the attack's scenario (the client and partitions of
//! `paxos sim`'s script, as actions) opened at the step worth watching —
//! the step before the violation, the flag, or the stall — with a short
//! text of what to watch.
//!
//! "Find me a violation" ([`find`]) is the same transcription of the first
//! seed whose `paxos sim` run breaks an invariant.

use super::session::{sim_config, Session, Until};
use super::{Action, ExploreError, Setup};
use crate::attack::Attack;
use crate::cluster::Defences;
use crate::middleware::Defence;
use crate::sim::schedule::{self, Schedule};
use serde::Serialize;

/// Single steps a lesson looks through for its moment.
const LOOK: u64 = 20_000;

/// Steps shown of a run in which nothing breaks or is flagged.
const QUIET: u64 = 400;

/// Seeds [`find`] tries.
pub const FIND_SEEDS: u64 = 200;

/// A lesson, as the drop-down lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Lesson {
    /// Its name in the URL (`safety`, `safety-defended`).
    pub name: String,
    pub title: String,
    /// What to watch, in a few sentences.
    pub text: String,
}

/// The defence that answers `attack`, and the setup it needs: REPLAY is
/// answered by signatures with every defence on, and STALE_PREPARED only
/// by BFT mode (in classic mode no defence prevents it).
fn defended(attack: Attack) -> (Defences, bool) {
    match attack {
        Attack::Replay => (Defences::all(), false),
        Attack::StalePrepared => (Defences::all(), true),
        a => {
            let d = Defence::ALL
                .into_iter()
                .find(|d| d.answers() == a.to_string());
            (Defences::of(d), false)
        }
    }
}

/// What breaks when `attack` runs undefended: agreement, or progress.
fn stalls(attack: Attack) -> bool {
    matches!(attack, Attack::Liveness | Attack::BallotOverflow)
}

fn watch(attack: Attack, on: bool) -> &'static str {
    match (attack, on) {
        (Attack::Safety, false) => "Step on and watch node 0's Proposes: the same position and ballot carry two different values, one to each half. Each half accepts and commits its own, and the banner names both values.",
        (Attack::Safety, true) => "Every node now echoes each Propose to the others before accepting it. Step on: the two echoes for one position disagree, and the honest nodes flag node 0 with both signed Proposes as proof.",
        (Attack::Liveness, false) => "Node 0 answers every Prepare at once with a higher one. Run until a commit: none comes, however long you run, while the ballots keep climbing.",
        (Attack::Liveness, true) => "The prepare limit counts the Prepares that cut off fresh promises. Step on: after a few strikes node 0 is ignored, and the honest nodes commit.",
        (Attack::BallotOverflow, false) => "Node 0 prepares with the largest round there is. After its Prepare no honest ballot can go higher: nothing commits, ever.",
        (Attack::BallotOverflow, true) => "The ballot bound lets a round climb only a bounded step above what was seen: the huge Prepare is dropped and its sender flagged.",
        (Attack::PrematureCommit, false) => "Node 0 sends Commits nobody voted for, one value to each half. Deliver them: each half commits a different value at position 0.",
        (Attack::PrematureCommit, true) => "A Commit now counts only with a quorum of signed Accepts for its value. The attacker's Commits carry a certificate that does not hold: dropped.",
        (Attack::Forgery, false) => "Node 0 sends Commits in an honest node's name. Unsigned, nobody can tell: the forged value is committed beside the real one.",
        (Attack::Forgery, true) => "Packets are signed now: a Commit that claims another sender but verifies under node 0's key convicts node 0.",
        (Attack::Replay, false) => "Node 0 re-sends Commits it recorded, moved to new positions. Without signatures binding the position, an old value lands where another was chosen.",
        (Attack::Replay, true) => "Signatures bind each message to its position: a re-bound Commit fails to verify and is dropped. Nobody is flagged: a replay proves nothing about who sent it.",
        (Attack::IgnorePrepared, false) => "The honest nodes are split in two halves that both reach node 0. Node 0 leads a position one half already decided and proposes its own value over the Prepared reports.",
        (Attack::IgnorePrepared, true) => "A Propose now carries the signed Prepared quorum its value must come from. Node 0's value is not the one the quorum reported: refused and flagged.",
        (Attack::StalePrepared, false) => "Node 0 accepts honestly but reports nothing in its Prepared, hiding a decided value from the next leader, which then chooses another.",
        (Attack::StalePrepared, true) => "No classic defence stops this one. In BFT mode (n = 4, quorums of 3 signed votes) a quorum of Prepareds always includes an honest report of the decided value.",
    }
}

/// The setup of a lesson: the attack's scenario of `paxos matrix` (node 0
/// attacks; five nodes for REPLAY, four in BFT mode for STALE_PREPARED
/// defended), at seed 1.
fn lesson_setup(attack: Attack, on: bool) -> Setup {
    let (defences, bft) = if on {
        defended(attack)
    } else {
        (Defences::none(), false)
    };
    let nodes = match (attack, bft) {
        (_, true) => 4,
        (Attack::Replay, _) => 5,
        _ => 3,
    };
    Setup {
        nodes,
        bft,
        attack: Some(attack),
        attacker: 0,
        defences,
        seed: 1,
    }
}

/// Every lesson, in the drop-down's order.
pub fn all() -> Vec<Lesson> {
    let mut out = Vec::new();
    for attack in Attack::ALL {
        for on in [false, true] {
            let name = attack.to_string().to_ascii_lowercase().replace('_', "-");
            let how = if on { "defended" } else { "undefended" };
            out.push(Lesson {
                name: if on { format!("{name}-defended") } else { name },
                title: format!("{attack}, {how}"),
                text: format!("The attacker: {}. {}", attack.what(), watch(attack, on)),
            });
        }
    }
    out
}

/// Every lesson's name.
pub fn names() -> Vec<String> {
    all().into_iter().map(|l| l.name).collect()
}

/// The attack and defence a lesson's name means.
fn parse(name: &str) -> Option<(Attack, bool)> {
    let (base, on) = match name.strip_suffix("-defended") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let attack = base.replace('-', "_").parse().ok()?;
    Some((attack, on))
}

/// A schedule action as explorer actions.
fn transcribe(a: &schedule::Action, members: usize) -> Vec<Action> {
    let across = |x: &Vec<usize>, y: &Vec<usize>| {
        let mut cuts = Vec::new();
        for &p in x {
            for &q in y {
                cuts.push(Action::Cut(p, q));
            }
        }
        cuts
    };
    match a {
        schedule::Action::Partition(side) => {
            let side: Vec<usize> = side.iter().copied().collect();
            let rest = (0..members).filter(|m| !side.contains(m)).collect();
            across(&side, &rest)
        }
        schedule::Action::Split(x, y) => {
            across(&x.iter().copied().collect(), &y.iter().copied().collect())
        }
        schedule::Action::Heal => vec![Action::Heal],
        schedule::Action::Crash(m) => vec![Action::Crash(*m)],
        schedule::Action::Restart(m) => vec![Action::Restart(*m)],
        schedule::Action::Request(m, v) => vec![Action::Request(*m, v.clone())],
        schedule::Action::Ask(v) => vec![Action::Ask(v.clone())],
    }
}

/// `paxos sim`'s run of `setup` as explorer actions: its script's actions
/// at their ticks, single steps between them, `steps` steps in all — or,
/// with `stop`, up to the step at which `stop` first happens (returned too).
fn script(
    setup: &Setup,
    steps: u64,
    stop: Option<Until>,
) -> Result<(Session, Option<u64>), ExploreError> {
    let sched = Schedule::new(&sim_config(setup), setup.seed);
    let mut s = Session::start(setup)?;
    let mut next = 0;
    for taken in 0..=steps {
        if s.world().between_ticks() {
            while let Some((t, a)) = sched.actions.get(next) {
                if *t > s.world().now() {
                    break;
                }
                for a in transcribe(a, s.world().members()) {
                    s.apply(a)?;
                }
                next += 1;
            }
        }
        if taken == steps {
            break;
        }
        match stop {
            Some(until) if s.run_until(until, 1)? => return Ok((s, Some(taken + 1))),
            Some(_) => {}
            None => s.apply(Action::Next(1))?,
        }
    }
    Ok((s, None))
}

/// The step at which `until` first happens in `setup`'s scripted run.
fn moment(setup: &Setup, until: Until) -> Result<Option<u64>, ExploreError> {
    Ok(script(setup, LOOK, Some(until))?.1)
}

/// The scripted run of `setup` opened one step before `until` happens
/// (or after [`QUIET`] steps if it never does).
fn before(setup: &Setup, until: Until) -> Result<Session, ExploreError> {
    let steps = match moment(setup, until)? {
        Some(k) => k - 1,
        None => QUIET,
    };
    Ok(script(setup, steps, None)?.0)
}

/// Open lesson `name`.
pub fn open(name: &str) -> Result<Session, ExploreError> {
    let (attack, on) = parse(name).ok_or_else(|| ExploreError::NoLesson(name.into()))?;
    let setup = lesson_setup(attack, on);
    let until = match (on, stalls(attack)) {
        (false, false) => Until::Violation,
        (false, true) => Until::Commit,
        (true, _) => Until::Flag,
    };
    before(&setup, until)
}

/// The first seed from `setup.seed` on (of [`FIND_SEEDS`]) whose
/// `paxos sim` run breaks an invariant, opened at the step before it
/// breaks. `None`: no seed did.
pub fn find(setup: &Setup) -> Result<Option<Session>, ExploreError> {
    let mut cfg = sim_config(setup);
    cfg.trace = false;
    cfg.chart = None;
    for seed in setup.seed..setup.seed.saturating_add(FIND_SEEDS) {
        if crate::sim::run(&cfg, seed).violation.is_some() {
            let at = Setup {
                seed,
                ..setup.clone()
            };
            return before(&at, Until::Violation).map(Some);
        }
    }
    Ok(None)
}

/// The `paxos sim` command of the whole run this one begins, when it is
/// `paxos sim`'s own run cut short (a lesson, a found violation, either
/// stepped on with Next): `None` once the learner did anything else.
pub fn sim_command(s: &Session) -> Option<String> {
    let mut steps = 0;
    for a in s.actions() {
        match a {
            Action::Next(k) => steps += k,
            Action::Request(..) | Action::Ask(_) | Action::Cut(..) | Action::Heal => {}
            _ => return None,
        }
    }
    let same = script(s.setup(), steps, None).ok()?.0;
    if same.actions() != s.actions() {
        return None;
    }
    let cfg = sim_config(s.setup());
    Some(format!(
        "paxos sim --seed {} --replay {}",
        s.setup().seed,
        cfg.flags()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_name_opens_its_own_attack() {
        let lessons = all();
        assert_eq!(lessons.len(), 2 * Attack::ALL.len());
        for l in &lessons {
            let (attack, on) = parse(&l.name).expect(&l.name);
            assert!(l.title.starts_with(&attack.to_string()));
            assert_eq!(l.name.ends_with("-defended"), on);
        }
        assert!(matches!(open("nope"), Err(ExploreError::NoLesson(_))));
    }

    #[test]
    fn a_scripted_run_is_the_simulators_run() {
        // The transcript reaches the same violation at the same tick as
        // `paxos sim` with the same seed.
        let setup = lesson_setup(Attack::Safety, false);
        let cfg = sim_config(&setup);
        for seed in 1..6 {
            let at = Setup {
                seed,
                ..setup.clone()
            };
            let sim = crate::sim::run(&cfg, seed);
            let (s, when) = script(&at, LOOK, Some(Until::Violation)).unwrap();
            assert_eq!(when.is_some(), sim.violation.is_some(), "seed {seed}");
            if let Some(v) = &sim.violation {
                let found = s.world().violation().expect("found");
                assert_eq!((found.tick, &found.violation), (v.tick, &v.violation));
            }
            let cmd = sim_command(&s).expect("a scripted run names its command");
            assert_eq!(
                cmd,
                format!("paxos sim --seed {seed} --replay --attack SAFETY")
            );
            let mut other = s;
            other.apply(Action::Tick).unwrap();
            assert_eq!(
                sim_command(&other),
                None,
                "a tick by hand is not paxos sim's"
            );
        }
    }
}
