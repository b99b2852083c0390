//! The brief's two attacks against the actor cluster, with the middleware off
//! (the attack works) and on (it fails), for 3, 5 and 7 nodes and the
//! attacker at the first, a middle and the last index; and BALLOT_OVERFLOW
//! for 3 and 5 nodes with the attacker first and last.

use paxos::attack::Attack;
use paxos::core::NodeId;
use paxos::demo::{self, DemoConfig, Summary};
use std::time::Duration;

fn run(
    nodes: usize,
    attack: Option<Attack>,
    attacker: NodeId,
    middleware: bool,
    deadline: u64,
) -> Summary {
    let cfg = DemoConfig {
        nodes,
        values: 6,
        seed: 7 + attacker as u64,
        deadline: Duration::from_secs(deadline),
        drop: 0.0,
        attack,
        attacker,
        middleware,
        max_prepares: 3,
        trace: None,
        ..DemoConfig::default()
    };
    actix::System::new()
        .block_on(demo::run(&cfg))
        .expect("demo runs")
        .summary
}

fn placements() -> Vec<(usize, NodeId)> {
    [3usize, 5, 7]
        .iter()
        .flat_map(|&n| [(n, 0), (n, (n / 2) as NodeId), (n, (n - 1) as NodeId)])
        .collect()
}

#[test]
fn safety_attack_breaks_agreement_without_the_middleware() {
    for (n, m) in placements() {
        let s = run(n, Some(Attack::Safety), m, false, 2);
        assert!(
            !s.agreement,
            "n={n} attacker={m}: honest logs should diverge: {s:?}"
        );
        assert_eq!(s.attackers, vec![m]);
    }
}

#[test]
fn safety_attack_fails_with_the_middleware() {
    for (n, m) in placements() {
        let s = run(n, Some(Attack::Safety), m, true, 20);
        assert!(s.agreement, "n={n} attacker={m}: {s:?}");
        assert!(s.live, "n={n} attacker={m}: every value committed: {s:?}");
        assert_eq!(s.detected, vec![m], "n={n}: only the attacker flagged");
    }
}

#[test]
fn liveness_attack_stops_progress_without_the_middleware() {
    for (n, m) in placements() {
        let s = run(n, Some(Attack::Liveness), m, false, 1);
        assert!(!s.live, "n={n} attacker={m}: {s:?}");
        assert_eq!(s.committed, 0, "n={n} attacker={m}: nothing commits: {s:?}");
        assert!(s.agreement, "the climber never breaks safety");
    }
}

#[test]
fn liveness_attack_fails_with_the_middleware() {
    for (n, m) in placements() {
        let s = run(n, Some(Attack::Liveness), m, true, 20);
        assert!(s.live, "n={n} attacker={m}: {s:?}");
        assert!(s.agreement);
        assert_eq!(s.detected, vec![m], "n={n}: only the attacker flagged");
    }
}

#[test]
fn an_honest_cluster_with_the_middleware_and_loss_flags_nobody() {
    for (n, seed) in [(3, 1), (5, 2), (3, 3)] {
        let cfg = DemoConfig {
            nodes: n,
            values: 10,
            seed,
            deadline: Duration::from_secs(30),
            drop: 0.2,
            middleware: true,
            ..DemoConfig::default()
        };
        let s = actix::System::new()
            .block_on(demo::run(&cfg))
            .expect("demo runs")
            .summary;
        assert!(s.detected.is_empty(), "n={n}: {s:?}");
        assert!(s.agreement && s.live, "n={n}: {s:?}");
    }
}

fn overflow_placements() -> Vec<(usize, NodeId)> {
    [3usize, 5]
        .iter()
        .flat_map(|&n| [(n, 0), (n, (n - 1) as NodeId)])
        .collect()
}

#[test]
fn ballot_overflow_stops_progress_for_good_without_the_middleware() {
    for (n, m) in overflow_placements() {
        // The demo returning at all shows no honest node panicked.
        let s = run(n, Some(Attack::BallotOverflow), m, false, 2);
        assert!(!s.live, "n={n} attacker={m}: {s:?}");
        assert!(
            s.agreement,
            "n={n} attacker={m}: overflow never splits a position"
        );
        assert_eq!(s.attackers, vec![m]);
        assert!(s.detected.is_empty(), "nothing checks: {s:?}");
    }
}

#[test]
fn ballot_overflow_fails_with_the_middleware() {
    for (n, m) in overflow_placements() {
        let s = run(n, Some(Attack::BallotOverflow), m, true, 20);
        assert!(s.live, "n={n} attacker={m}: {s:?}");
        assert!(s.agreement, "n={n} attacker={m}: {s:?}");
        assert_eq!(s.detected, vec![m], "n={n}: only the attacker flagged");
    }
}

/// BFT mode (`--bft`, n = 4 = 3f+1) in the actor demo: each of the brief's
/// attacks is defeated with the middleware on — agreement, every value
/// committed, only the attacker flagged.
#[test]
fn bft_mode_defeats_the_briefs_attacks_in_the_actor_demo() {
    for attack in [Attack::Safety, Attack::Liveness, Attack::BallotOverflow] {
        for m in [0, 3] {
            let cfg = DemoConfig {
                nodes: 4,
                values: 6,
                seed: 7 + m as u64,
                deadline: Duration::from_secs(20),
                attack: Some(attack),
                attacker: m,
                middleware: true,
                bft: true,
                ..DemoConfig::default()
            };
            let s = actix::System::new()
                .block_on(demo::run(&cfg))
                .expect("demo runs")
                .summary;
            assert!(s.agreement, "{attack} attacker={m}: {s:?}");
            assert!(s.live, "{attack} attacker={m}: {s:?}");
            assert_eq!(s.detected, vec![m], "{attack}: only the attacker");
        }
    }
}
/// PREMATURE_COMMIT, FORGERY and REPLAY, undefended and defended. FORGERY
/// and REPLAY run unsigned when undefended (signatures are their defence).
fn catalog_off_breaks_on_holds(attack: Attack, nodes: &[usize], flagged: bool) {
    for &n in nodes {
        for m in [0, (n - 1) as NodeId] {
            let s = run(n, Some(attack), m, false, 2);
            assert!(!s.agreement, "{attack} n={n} attacker={m}: {s:?}");
            assert!(s.detected.is_empty(), "nothing checks: {s:?}");
            let s = run(n, Some(attack), m, true, 20);
            assert!(s.agreement && s.live, "{attack} n={n} attacker={m}: {s:?}");
            let expect = if flagged { vec![m] } else { vec![] };
            assert_eq!(s.detected, expect, "{attack} n={n} attacker={m}");
        }
    }
}

#[test]
fn premature_commit_splits_without_the_middleware_and_is_proven_with_it() {
    catalog_off_breaks_on_holds(Attack::PrematureCommit, &[3, 5], true);
}

#[test]
fn forgery_splits_unsigned_and_is_proven_with_the_middleware() {
    catalog_off_breaks_on_holds(Attack::Forgery, &[3, 5], true);
}

#[test]
fn re_bound_replays_split_unsigned_and_are_inert_with_the_middleware() {
    // At n = 3 the only node a replay can split is the one that is neither
    // the leader nor the signer, so it needs the current leader's own
    // earlier Commit; the demo's few leaderships rarely give one.
    catalog_off_breaks_on_holds(Attack::Replay, &[5, 7], false);
}

/// IGNORE_PREPARED and STALE_PREPARED need the split scenario (the honest
/// nodes in two halves that both reach the attacker but not each other),
/// which the demo sets up for them as the simulator does.
fn split_run(attack: Attack, nodes: usize, bft: bool, middleware: bool, seed: u64) -> Summary {
    let cfg = DemoConfig {
        nodes,
        values: 6,
        seed,
        // Undefended, the two halves keep different values at a position
        // and so never hold every value: the run lasts the whole deadline.
        // The split shows within the first few hundred milliseconds.
        deadline: Duration::from_secs(if bft { 20 } else { 3 }),
        attack: Some(attack),
        attacker: 0,
        middleware,
        bft,
        ..DemoConfig::default()
    };
    let report = actix::System::new()
        .block_on(demo::run(&cfg))
        .expect("demo runs");
    let split = report.split.expect("the demo splits the honest nodes");
    let (p, attacker) = (&split.plan, 0);
    assert!(!p.left.contains(&attacker) && !p.right.contains(&attacker));
    assert_eq!(
        p.left.len() + p.right.len(),
        nodes - 1,
        "{attack}: every honest node"
    );
    assert!(split.healed.is_some(), "{attack} seed {seed}: never healed");
    report.summary
}

const SPLIT_SEEDS: std::ops::Range<u64> = 1..7;

#[test]
fn ignore_prepared_splits_the_halves_without_the_middleware() {
    let broken = SPLIT_SEEDS
        .filter(|&seed| !split_run(Attack::IgnorePrepared, 3, false, false, seed).agreement)
        .count();
    eprintln!("IGNORE_PREPARED n=3 undefended: agreement broken in {broken} of 6 seeds");
    // Measured: 6 of 6 here; the release CLI, seeds 1 to 20: 20 of 20.
    assert!(broken >= 3, "agreement broken in only {broken} of 6 seeds");
}

#[test]
fn ignore_prepared_fails_with_the_middleware_and_flags_only_the_attacker() {
    for seed in SPLIT_SEEDS {
        let s = split_run(Attack::IgnorePrepared, 3, false, true, seed);
        assert!(s.agreement, "seed {seed}: {s:?}");
        assert!(
            s.live,
            "seed {seed}: its values re-sent once flagged: {s:?}"
        );
        assert_eq!(s.detected, vec![0], "seed {seed}: {s:?}");
    }
}

#[test]
fn stale_prepared_splits_the_halves_and_n3_middleware_only_detects() {
    let (mut off, mut on) = (0, 0);
    for seed in SPLIT_SEEDS {
        let s = split_run(Attack::StalePrepared, 3, false, false, seed);
        off += usize::from(!s.agreement);
        assert!(s.detected.is_empty(), "nothing checks: {s:?}");
        let s = split_run(Attack::StalePrepared, 3, false, true, seed);
        on += usize::from(!s.agreement);
        // n = 2f+1: detection at best, never of an honest node.
        assert!(s.detected.iter().all(|&d| d == 0), "seed {seed}: {s:?}");
    }
    eprintln!("STALE_PREPARED n=3: agreement broken in {off} of 6 undefended, {on} of 6 defended");
    // Measured: 6 of 6 undefended and defended here; the release CLI,
    // seeds 1 to 20: 20 of 20 both ways, nobody flagged.
    assert!(off >= 3, "agreement broken in only {off} of 6 seeds");
}

#[test]
fn bft_mode_keeps_agreement_and_liveness_in_the_split() {
    for seed in SPLIT_SEEDS {
        let s = split_run(Attack::StalePrepared, 4, true, true, seed);
        assert!(s.agreement && s.live, "STALE_PREPARED seed {seed}: {s:?}");
        assert!(s.detected.iter().all(|&d| d == 0), "seed {seed}: {s:?}");
        let s = split_run(Attack::IgnorePrepared, 4, true, true, seed);
        assert!(s.agreement && s.live, "IGNORE_PREPARED seed {seed}: {s:?}");
        assert_eq!(s.detected, vec![0], "IGNORE_PREPARED seed {seed}");
    }
}
