//! Each defence on its own (`--defences NAME`), and every defence but one,
//! against the attack it answers (`paxos defences`), classic mode with
//! n = 3, on the simulator: which defence stops which attack, and what the
//! others do without it. The README's table of single defences is this.

use paxos::attack::Attack;
use paxos::cluster::Defences;
use paxos::matrix::{row_with, Mode, Row};
use paxos::middleware::Defence;

const SEEDS: u64 = 10;

/// What a row shows.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Safe, live, the attacker flagged in every seed.
    Defeated,
    /// Safe, live, the attacker flagged in most seeds.
    MostlyCaught,
    /// Safe and live, nobody flagged: something else stops it unseen.
    Prevented,
    /// Safe and live, flagged or not.
    Safe,
    /// Safe, nothing commits.
    Stalls,
    /// Agreement broken in every seed.
    Splits,
}

fn check(r: &Row, what: &str, outcome: Outcome) {
    let all = r.runs;
    assert_eq!(
        r.framed_runs, 0,
        "{what}: an honest node was flagged: {r:?}"
    );
    let (safe, live) = (r.violations == 0, r.live_runs == all);
    let ok = match outcome {
        Outcome::Defeated => safe && live && r.detected_runs == all,
        Outcome::MostlyCaught => safe && live && r.detected_runs * 2 > all,
        Outcome::Prevented => safe && live && r.detected_runs == 0,
        Outcome::Safe => safe && live,
        Outcome::Stalls => safe && r.live_runs == 0,
        Outcome::Splits => r.violations == all,
    };
    assert!(ok, "{what}: expected {outcome:?}, got {r:?}");
}

fn run(cases: &[(Defence, &str, Defences, Outcome)]) {
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(d, label, set, outcome)| {
                let attack: Attack = d.answers().parse().expect("an attack");
                let set = set.clone();
                s.spawn(move || {
                    let r = row_with(Some(attack), 3, set, Mode::Classic, 0, SEEDS).expect("valid");
                    (format!("{attack} with {label}"), r, *outcome)
                })
            })
            .collect();
        for h in handles {
            let (what, r, outcome) = h.join().expect("a row");
            check(&r, &what, outcome);
        }
    });
}

#[test]
fn each_attack_fails_against_its_own_defence_alone() {
    use Outcome::*;
    let only = |d: Defence, o| (d, "only its defence", Defences::of([d]), o);
    run(&[
        only(Defence::Echo, Defeated),
        only(Defence::Certificates, Defeated),
        only(Defence::PrepareLimit, Defeated),
        only(Defence::BallotBound, Defeated),
        // Prevented in every seed; the accusation needs a quorum of
        // Prepareds to hold against the Propose, which not every run gives.
        only(Defence::Justify, MostlyCaught),
        only(Defence::Forgery, Defeated),
        // n = 2f+1: a quorum with the liar in it is a quorum (README).
        only(Defence::Stale, Splits),
    ]);
}

#[test]
fn without_its_own_defence_an_attack_bites_or_another_defence_hides_it() {
    use Outcome::*;
    let but = |d: Defence, o| (d, "every defence but its own", Defences::all_but(d), o);
    run(&[
        // Nothing else answers these three.
        but(Defence::Certificates, Splits),
        but(Defence::PrepareLimit, Stalls),
        but(Defence::BallotBound, Stalls),
        // Others keep these safe, but only their own defence names the
        // attacker: the justification and certificates stop the equivocating
        // leader's second value, signatures drop the forged packets, and the
        // echo and certificates stop the leader that ignores Prepared.
        but(Defence::Echo, Safe),
        but(Defence::Justify, Prevented),
        but(Defence::Forgery, Prevented),
        but(Defence::Stale, Splits),
    ]);
}

#[test]
fn bft_mode_takes_all_defences_or_none() {
    let cfg = paxos::sim::SimConfig {
        nodes: 4,
        bft: true,
        defences: Some(Defences::of([Defence::Echo])),
        ..paxos::sim::SimConfig::default()
    };
    let e = cfg
        .validate()
        .expect_err("a partial set in BFT mode")
        .to_string();
    assert!(e.contains("all of them (--middleware) or none"), "{e}");
    assert!(e.contains("not echo"), "{e}");
}
