//! The seeded simulator across layers: 1,000 seeds per fault mix against the
//! honest core (no violation, every run live once the faults heal), exact
//! replay from a seed, the SAFETY attack found without the middleware and
//! stopped with it, the LIVENESS and BALLOT_OVERFLOW attacks stalling without
//! it and not with it,
//! and the `paxos sim` command as a user meets it.

use paxos::attack::Attack;
use paxos::sim::{self, SimConfig, Summary};
use std::process::Command;

const SEEDS: u64 = 1000;

fn search(cfg: &SimConfig, start: u64, count: u64) -> Summary {
    sim::run_seeds(cfg, start, count, |_| {}).expect("valid config")
}

fn assert_safe_and_live(name: &str, cfg: SimConfig) {
    let s = search(&cfg, 0, SEEDS);
    assert_eq!(s.runs, SEEDS);
    assert_eq!(
        s.violations, 0,
        "{name}: first violation at seed {:?}: {:?}",
        s.first_violation_seed, s.first_violation
    );
    assert_eq!(s.live_runs, SEEDS, "{name}: every run live after the heal");
    assert_eq!(s.detected_runs, 0, "{name}: nothing to detect");
}

#[test]
fn loss_duplication_and_reordering() {
    assert_safe_and_live(
        "loss+dup",
        SimConfig {
            loss: 0.2,
            dup: 0.2,
            max_delay: 6,
            ..SimConfig::default()
        },
    );
}

#[test]
fn crashes_and_restarts() {
    assert_safe_and_live(
        "crashes",
        SimConfig {
            crashes: true,
            ..SimConfig::default()
        },
    );
}

#[test]
fn partitions_that_form_and_heal() {
    assert_safe_and_live(
        "partitions",
        SimConfig {
            partitions: true,
            ..SimConfig::default()
        },
    );
}

#[test]
fn every_fault_at_once_on_three_and_five_nodes() {
    for nodes in [3, 5] {
        assert_safe_and_live(
            &format!("all faults, n={nodes}"),
            SimConfig {
                nodes,
                loss: 0.1,
                dup: 0.1,
                crashes: true,
                partitions: true,
                ..SimConfig::default()
            },
        );
    }
}

/// The same faults with the middleware's defences (and signatures) on: a
/// restarted node keeps the certificates of its commits with them, or a
/// position only crashed nodes had learnt can never be learnt again (bare
/// Commits are refused). Seeds 9100.. hold such runs (9127, 9140, 9165, …).
#[test]
fn every_fault_at_once_with_the_middleware() {
    let cfg = SimConfig {
        loss: 0.1,
        dup: 0.1,
        crashes: true,
        partitions: true,
        middleware: true,
        ..SimConfig::default()
    };
    let seeds = 150;
    let s = search(&cfg, 9100, seeds);
    assert_eq!(s.violations, 0, "{s:?}");
    assert_eq!(s.live_runs, seeds, "{s:?}");
    assert_eq!(s.detected_runs, 0, "nobody framed: {s:?}");
}

#[test]
fn a_seed_replays_exactly() {
    let cfg = SimConfig {
        loss: 0.2,
        dup: 0.2,
        crashes: true,
        partitions: true,
        trace: true,
        ..SimConfig::default()
    };
    let a = sim::run(&cfg, 11);
    let b = sim::run(&cfg, 11);
    assert!(a.trace.len() > 50, "a real run: {} lines", a.trace.len());
    assert_eq!(a.trace, b.trace, "same seed, same run, step by step");
    assert_eq!((a.ticks, a.steps), (b.ticks, b.steps));
    let c = sim::run(&cfg, 12);
    assert_ne!(a.trace, c.trace, "another seed, another run");
    // Tracing only records; it changes nothing in the run.
    let quiet = sim::run(
        &SimConfig {
            trace: false,
            ..cfg
        },
        11,
    );
    assert_eq!((quiet.ticks, quiet.steps), (a.ticks, a.steps));
}

#[test]
fn the_safety_attack_is_found_without_the_middleware_and_stopped_with_it() {
    // The README's claim is for a network that delivers (here: delayed and
    // reordered, no loss); see `safety_attack_under_loss` for loss.
    let seeds = 100;
    let attack = SimConfig {
        attack: Some(Attack::Safety),
        ..SimConfig::default()
    };
    let off = search(&attack, 0, seeds);
    assert!(off.violations > 0, "{off:?}");
    let seed = off.first_violation_seed.expect("a seed that shows it");
    assert!(
        off.first_violation
            .as_deref()
            .is_some_and(|v| v.contains("agreement")),
        "{off:?}"
    );
    // The reported seed replays to the same violation.
    let again = sim::run(&attack, seed);
    assert!(again.violation.is_some());

    let on = search(
        &SimConfig {
            middleware: true,
            ..attack
        },
        0,
        seeds,
    );
    assert_eq!(on.violations, 0, "{on:?}");
    assert_eq!(
        on.detected_runs, seeds,
        "the attacker is flagged every time"
    );
    assert_eq!(
        on.live_runs, seeds,
        "the client re-sends, every value commits"
    );
}

#[test]
fn safety_attack_under_loss_with_the_middleware() {
    // Under loss the attacker's Propose (or its echo) can be lost. What the
    // middleware still gives over these seeds: no violation. Liveness is the
    // client's doing: a Byzantine leader that silently sits on a value is
    // not flagged, so only a client that asks another node after its
    // patience gets that value committed.
    let seeds = 60;
    let cfg = SimConfig {
        attack: Some(Attack::Safety),
        middleware: true,
        loss: 0.1,
        ..SimConfig::default()
    };
    let s = search(&cfg, 0, seeds);
    assert_eq!(s.violations, 0, "{s:?}");
    assert!(s.detected_runs > seeds / 2, "{s:?}");
    assert_eq!(s.live_runs, seeds, "{s:?}");
    let impatient = search(&SimConfig { patience: 0, ..cfg }, 0, seeds);
    assert_eq!(impatient.violations, 0, "{impatient:?}");
    assert!(
        impatient.live_runs < seeds,
        "some value sits with the unflagged attacker: {impatient:?}"
    );
}

#[test]
fn the_liveness_attack_stalls_without_the_middleware_and_not_with_it() {
    let seeds = 20;
    let attack = SimConfig {
        attack: Some(Attack::Liveness),
        ..SimConfig::default()
    };
    let off = search(&attack, 0, seeds);
    assert_eq!(
        off.violations, 0,
        "the climber never breaks safety: {off:?}"
    );
    assert_eq!(off.live_runs, 0, "nothing commits everywhere: {off:?}");
    let on = search(
        &SimConfig {
            middleware: true,
            ..attack
        },
        0,
        seeds,
    );
    assert_eq!(on.violations, 0, "{on:?}");
    assert_eq!(on.live_runs, seeds, "{on:?}");
    assert_eq!(on.detected_runs, seeds, "the climber is flagged: {on:?}");
}

#[test]
fn ballot_overflow_stalls_for_good_without_the_middleware_and_not_with_it() {
    let seeds = 50;
    for attacker in [0, 2] {
        let attack = SimConfig {
            attack: Some(Attack::BallotOverflow),
            attacker,
            ..SimConfig::default()
        };
        let off = search(&attack, 0, seeds);
        assert_eq!(off.runs, seeds);
        assert_eq!(off.violations, 0, "overflow never breaks safety: {off:?}");
        assert_eq!(off.live_runs, 0, "no run ever finishes: {off:?}");
        assert_eq!(off.detected_runs, 0, "nothing checks: {off:?}");
        let on = search(
            &SimConfig {
                middleware: true,
                ..attack
            },
            0,
            seeds,
        );
        assert_eq!(on.violations, 0, "{on:?}");
        assert_eq!(on.live_runs, seeds, "{on:?}");
        assert_eq!(on.detected_runs, seeds, "the attacker is flagged: {on:?}");
    }
}

#[test]
fn ballot_overflow_flags_only_the_attacker() {
    for seed in 0..20 {
        let cfg = SimConfig {
            attack: Some(Attack::BallotOverflow),
            attacker: 1,
            middleware: true,
            ..SimConfig::default()
        };
        let o = sim::run(&cfg, seed);
        assert_eq!(o.detected, vec![1], "seed {seed}: {:?}", o.violation);
        assert!(o.live && o.violation.is_none(), "seed {seed}");
    }
}

/// PREMATURE_COMMIT, FORGERY and REPLAY over `seeds` seeds, on 3 and 5
/// nodes with the attacker first and last: `(violations, runs)` with the
/// middleware off; with it on, every run must be safe and live, and flag
/// exactly `flagged(attacker)`.
fn off_and_on(attack: Attack, seeds: u64, flagged: fn(u32) -> Vec<u32>) -> (u64, u64) {
    let (mut violations, mut runs) = (0, 0);
    for nodes in [3usize, 5] {
        for attacker in [0, nodes as u32 - 1] {
            let cfg = SimConfig {
                nodes,
                attack: Some(attack),
                attacker,
                ..SimConfig::default()
            };
            let off = search(&cfg, 0, seeds);
            assert_eq!(off.detected_runs, 0, "nothing checks: {off:?}");
            violations += off.violations;
            runs += off.runs;
            if let Some(what) = &off.first_violation {
                assert!(what.contains("agreement"), "{attack} n={nodes}: {what}");
            }
            let on = SimConfig {
                middleware: true,
                ..cfg
            };
            for seed in 0..seeds / 4 {
                let o = sim::run(&on, seed);
                let ctx = format!("{attack} n={nodes} attacker={attacker} seed {seed}");
                assert!(o.violation.is_none(), "{ctx}: {:?}", o.violation);
                assert!(o.live, "{ctx}: not live");
                assert_eq!(o.detected, flagged(attacker), "{ctx}");
            }
        }
    }
    (violations, runs)
}

#[test]
fn premature_commit_splits_without_the_middleware_and_is_proven_with_it() {
    // Measured: 800 of 800 runs (200 seeds × 4 placements) break agreement.
    let (violations, runs) = off_and_on(Attack::PrematureCommit, 40, |a| vec![a]);
    assert_eq!(violations, runs, "every run: two halves, two values");
    let o = sim::run(
        &SimConfig {
            attack: Some(Attack::PrematureCommit),
            middleware: true,
            ..SimConfig::default()
        },
        0,
    );
    assert_eq!(
        o.evidence,
        vec![paxos::middleware::Evidence::BadCertificate]
    );
}

#[test]
fn forgery_splits_without_the_middleware_and_is_proven_with_it() {
    // Measured: 800 of 800 runs break agreement.
    let (violations, runs) = off_and_on(Attack::Forgery, 40, |a| vec![a]);
    assert_eq!(violations, runs);
    let o = sim::run(
        &SimConfig {
            attack: Some(Attack::Forgery),
            middleware: true,
            ..SimConfig::default()
        },
        0,
    );
    assert_eq!(o.evidence, vec![paxos::middleware::Evidence::Forgery]);
}

#[test]
fn re_bound_replays_split_without_signatures_and_are_inert_with_them() {
    // Measured: 795 of 800 runs break agreement (n=3: 198 and 197 of 200;
    // n=5: 200 and 200); a run escapes when every re-bound Commit arrived
    // before the Propose and its victim told the leader.
    let (violations, runs) = off_and_on(Attack::Replay, 40, |_| vec![]);
    assert!(violations * 10 >= runs * 9, "{violations} of {runs}");
}

fn paxos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(args)
        .output()
        .expect("the paxos binary runs")
}

#[test]
fn sim_json_reports_runs_violations_and_liveness() {
    let out = paxos(&[
        "sim",
        "--seeds",
        "20",
        "--loss",
        "0.1",
        "--crashes",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "no progress with --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["runs"], 20);
    assert_eq!(v["violations"], 0);
    assert!(v["first_violation_seed"].is_null());
    assert_eq!(v["live_runs"], 20);

    let out = paxos(&["sim", "--seeds", "5", "--attack", "safety", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["violations"], 5);
    assert_eq!(v["first_violation_seed"], 0);
}

#[test]
fn sim_replay_prints_the_run_step_by_step() {
    let out = paxos(&["sim", "--seed", "3", "--replay", "--attack", "SAFETY"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("SAFETY attack: Propose"), "{text}");
    assert!(text.contains("deliver 0→"), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.contains("VIOLATION")));
    let progress = paxos(&["sim", "--seeds", "3"]);
    assert!(String::from_utf8_lossy(&progress.stderr).contains("3/3"));
}

#[test]
fn sim_bad_input_is_an_error_not_a_panic() {
    for args in [
        &["sim", "--loss", "2"][..],
        &["sim", "--dup", "-0.5"],
        &["sim", "--nodes", "0"],
        &["sim", "--seeds", "0"],
        &["sim", "--attack", "SAFETY", "--attacker", "3"],
        &["sim", "--attack", "chaos"],
        &["sim", "--seeds", "many"],
        &["sim", "--nodes", "1", "--attack", "LIVENESS"],
    ] {
        let out = paxos(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?}: says why");
    }
}

/// BFT mode (n >= 3f+1, 2f+1 quorums, proofs and justifications) under every
/// fault at once: safe, and live once the faults heal.
#[test]
fn honest_bft_clusters_stay_safe_and_live_under_loss_crashes_and_partitions() {
    // (nodes, --faults, seeds, first seed). n = 7 with f = 1 is more nodes
    // than 3f+1: its quorum is 5, not 2f+1 = 3 (with 3, two partitions
    // decided apart in 25 of 300 runs from seed 61000; the first, 61017, is
    // in this range).
    for (nodes, faults, seeds, start) in
        [(4, None, 200, 0), (7, None, 40, 0), (7, Some(1), 30, 61000)]
    {
        let cfg = SimConfig {
            nodes,
            faults,
            bft: true,
            middleware: true,
            loss: 0.15,
            dup: 0.15,
            crashes: true,
            partitions: true,
            ..SimConfig::default()
        };
        let s = search(&cfg, start, seeds);
        assert_eq!(s.violations, 0, "n={nodes} f={faults:?}: {s:?}");
        assert_eq!(s.live_runs, seeds, "n={nodes} f={faults:?}: {s:?}");
        assert_eq!(s.detected_runs, 0, "n={nodes}: nobody framed: {s:?}");
    }
}

/// In BFT mode the brief's attacks are defeated: agreement kept, every value
/// committed, the attacker flagged, nobody else.
#[test]
fn bft_mode_defeats_the_briefs_attacks() {
    for attack in [Attack::Safety, Attack::Liveness, Attack::BallotOverflow] {
        let cfg = SimConfig {
            nodes: 4,
            bft: true,
            middleware: true,
            attack: Some(attack),
            ..SimConfig::default()
        };
        for seed in 0..20 {
            let o = sim::run(&cfg, seed);
            assert_eq!(o.violation, None, "{attack} seed {seed}");
            assert!(o.live, "{attack} seed {seed}");
            assert_eq!(
                o.detected,
                vec![0],
                "{attack} seed {seed}: only the attacker"
            );
        }
    }
}

#[test]
fn bft_needs_3f_plus_1_nodes() {
    let cfg = SimConfig {
        nodes: 3,
        bft: true,
        ..SimConfig::default()
    };
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("3f+1 = 4"), "{e}");
}

/// Runs of `cfg` over `seeds`: (violations, live, attacker flagged, runs in
/// which an honest node was flagged).
fn tally(cfg: &SimConfig, seeds: u64) -> (u64, u64, u64, u64) {
    let (mut bad, mut live, mut caught, mut framed) = (0, 0, 0, 0);
    for seed in 0..seeds {
        let o = sim::run(cfg, seed);
        bad += u64::from(o.violation.is_some());
        live += u64::from(o.live);
        caught += u64::from(o.detected.contains(&cfg.attacker));
        framed += u64::from(o.detected.iter().any(|&d| d != cfg.attacker));
    }
    eprintln!(
        "{:?} n={} middleware={}: {bad} violations, {live} live, {caught} caught, {framed} framed of {seeds}",
        cfg.attack, cfg.nodes, cfg.middleware
    );
    (bad, live, caught, framed)
}

#[test]
fn ignore_prepared_breaks_agreement_without_the_middleware_and_not_with_it() {
    let seeds = 100;
    for nodes in [3, 5] {
        let attack = SimConfig {
            nodes,
            attack: Some(Attack::IgnorePrepared),
            ..SimConfig::default()
        };
        let (bad, _, caught, _) = tally(&attack, seeds);
        // Measured: 92 (n=3) and 86 (n=5) of 100.
        assert!(bad >= 75, "n={nodes}: {bad} violations");
        assert_eq!(caught, 0);
        let (bad, live, caught, framed) = tally(
            &SimConfig {
                middleware: true,
                ..attack
            },
            seeds,
        );
        assert_eq!(bad, 0, "n={nodes}: the justification keeps agreement");
        assert_eq!(framed, 0, "n={nodes}: no honest node is ever flagged");
        // Measured: n=3 90 live, 90 caught; n=5 95 live, 92 caught (of 100).
        // Not live: runs where the attacker's cut-ins were all legitimate
        // (nothing reported) and it ran out of bait unflagged.
        assert!(
            live >= 85 && caught >= 85,
            "n={nodes}: {live} live, {caught} caught"
        );
    }
}

#[test]
fn stale_prepared_breaks_agreement_and_is_only_detected() {
    let seeds = 100;
    for nodes in [3, 5] {
        let attack = SimConfig {
            nodes,
            attack: Some(Attack::StalePrepared),
            ..SimConfig::default()
        };
        let (bad, _, _, _) = tally(&attack, seeds);
        // Measured: 100 of 100 for n=3 and n=5.
        assert!(bad >= 90, "n={nodes}: {bad} violations");
        // With n = 2f+1 the lie decides a position before anyone holds both
        // halves of the proof: agreement still breaks with the middleware.
        let (bad_on, _, _, framed) = tally(
            &SimConfig {
                middleware: true,
                ..attack
            },
            seeds,
        );
        // Measured: 100 (n=3) and 96 (n=5) of 100 still break, the liar
        // flagged in 0 (n=3) and 7 (n=5): the run stops at the violation,
        // usually before the pair of signed messages meets.
        assert!(bad_on > 0, "n={nodes}: detection only, not prevention");
        assert_eq!(framed, 0, "n={nodes}: no honest node is ever flagged");
    }
}

/// A restarted node's middleware starts its ballot bound from the rounds
/// its node promised before the crash (what its data directory keeps), not
/// from 0: otherwise, once the cluster's rounds pass the bound's step, the
/// first in-bound Propose a restarted follower hears looks like a ballot
/// overflow and it flags an honest leader. Many restarts of a follower
/// with nothing pending (so it hears the others before it speaks), between
/// bursts of contention that climb the rounds. The bound's step is 8 here
/// so that a debug-build test reaches many times it in seconds; the code
/// path is the one the default of 1,000 takes.
#[test]
fn restarts_after_rounds_past_the_ballot_bound_flag_no_honest_node() {
    use paxos::sim::network::Faults;
    use paxos::sim::World;
    let max_jump = 8;
    let cfg = SimConfig {
        nodes: 3,
        middleware: true,
        max_jump,
        ..SimConfig::default()
    };
    let mut w = World::new(&cfg, 3);
    let settle = |w: &mut World| {
        for _ in 0..2_000 {
            w.tick();
            if w.all_committed() {
                return true;
            }
        }
        false
    };
    let mut restarts = 0;
    for k in 0..60 {
        // Contention: every node asked at once, under loss.
        w.set_faults(Faults {
            loss: 0.3,
            dup: 0.0,
        });
        for m in 0..3 {
            w.request(m, format!("v{k}-{m}").into());
        }
        for _ in 0..40 {
            w.tick();
        }
        w.set_faults(Faults {
            loss: 0.0,
            dup: 0.0,
        });
        assert!(settle(&mut w), "round {k}: {:?}", w.violation());
        // A follower crashes and restarts with nothing pending; the leader
        // is asked for one more value, so its Propose reaches it first.
        let (follower, leader) = (k % 3, (k + 1) % 3);
        w.crash(follower);
        w.restart(follower);
        restarts += 1;
        w.request(leader, format!("after-{k}").into());
        assert!(settle(&mut w), "after restart {k}: {:?}", w.violation());
        for m in 0..3 {
            assert!(
                w.flagged_by(m).is_empty(),
                "restart {k}, round {}: node {m} flagged {:?}",
                w.max_round_seen(),
                w.flagged_by(m)
            );
        }
    }
    assert!(
        w.max_round_seen() > 5 * max_jump,
        "the rounds must pass the bound many times over: {}",
        w.max_round_seen()
    );
    assert!(restarts >= 60);
    assert_eq!(w.violation(), None);
}

/// Seeds per attack the signature-scheme comparison runs (the 300:
/// `PAXOS_SIGNATURE_SEEDS=300 cargo test --release --test sim modelled`).
fn signature_seeds() -> u64 {
    std::env::var("PAXOS_SIGNATURE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

#[test]
fn modelled_signatures_give_the_same_outcomes_as_ed25519_seed_by_seed() {
    use paxos::auth::Scheme;
    let attacks = std::iter::once(None).chain(Attack::ALL.into_iter().map(Some));
    for attack in attacks {
        for (nodes, bft) in [(3, false), (4, true)] {
            let modelled = SimConfig {
                nodes,
                bft,
                attack,
                middleware: true,
                loss: 0.05,
                partitions: true,
                signatures: Scheme::Modelled,
                ..SimConfig::default()
            };
            let real = SimConfig {
                signatures: Scheme::Ed25519,
                ..modelled.clone()
            };
            for seed in 0..signature_seeds() {
                let (m, r) = (sim::run(&modelled, seed), sim::run(&real, seed));
                let what = |o: &sim::Outcome| (o.violation.is_some(), o.live, o.detected.clone());
                assert_eq!(
                    what(&m),
                    what(&r),
                    "{attack:?} n={nodes} bft={bft} seed {seed}: modelled vs ed25519"
                );
            }
        }
    }
}

/// The seeds at the very top of the range run, each once: the run does not
/// wrap around to seed 0, and a range past the largest seed is refused.
#[test]
fn the_largest_seeds_run_once_each_and_a_range_past_them_is_refused() {
    let cfg = SimConfig::default();
    let s = search(&cfg, u64::MAX - 1, 2);
    assert_eq!(s.runs, 2, "{s:?}");
    assert!(matches!(
        sim::run_seeds(&cfg, u64::MAX - 1, 3, |_| {}),
        Err(sim::SimError::SeedOverflow { .. })
    ));
}

/// A fault-free run asked for more values than commit in the base
/// liveness window is still live: the window grows with the workload.
#[test]
fn a_big_fault_free_workload_is_live() {
    let cfg = SimConfig {
        values: 4000,
        ..SimConfig::default()
    };
    assert!(cfg.live_window() > cfg.live_ticks);
    let o = sim::run(&cfg, 1);
    assert!(
        o.violation.is_none() && o.live,
        "{:?} at {}",
        o.violation,
        o.ticks
    );
    // It needed more than the base window after the heal.
    assert!(o.ticks > cfg.fault_ticks + cfg.live_ticks, "{}", o.ticks);
}
