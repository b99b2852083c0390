//! Every cell of the README's attack table, asserted from simulator runs
//! (`paxos matrix` computes the same rows): undefended attacks break
//! agreement or liveness; defended ones keep both and flag only the
//! attacker — except where the README says the defence only detects
//! (STALE_PREPARED with n = 2f+1) or has nothing to detect (REPLAY is inert).

use paxos::attack::Attack;
use paxos::matrix::{self, Mode, Row};

/// Seeds per row: enough to see each claim hold seed after seed, few enough
/// for a debug build (`paxos matrix --seeds 20` in release is the README's).
const SEEDS: u64 = 10;

/// What the README claims for one row.
#[derive(Clone, Copy, Debug)]
enum Claim {
    /// Agreement broken in every seed.
    Splits,
    /// Agreement broken in most seeds (the attack needs the right timing).
    MostlySplits,
    /// Agreement broken in some seeds.
    SometimesSplits,
    /// Agreement kept in every seed (what happens to liveness aside).
    Safe,
    /// Agreement kept, nothing committed after the faults healed.
    Stalls,
    /// Agreement kept, live, the attacker flagged in every seed.
    Defeated,
    /// Agreement kept, live, nobody flagged (nothing to prove).
    Inert,
}

fn rows(plan: &[(Mode, usize, Attack, bool)]) -> Vec<Row> {
    std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .iter()
            .map(|&(mode, n, attack, mw)| {
                s.spawn(move || matrix::row(Some(attack), n, mw, mode, 0, SEEDS).expect("valid"))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("row"))
            .collect()
    })
}

fn check(r: &Row, claim: Claim) {
    let all = r.runs;
    assert_eq!(r.framed_runs, 0, "no honest node is ever flagged: {r:?}");
    match claim {
        Claim::Splits => assert_eq!(r.violations, all, "{r:?}"),
        Claim::MostlySplits => assert!(r.violations * 2 > all, "{r:?}"),
        Claim::SometimesSplits => assert!(r.violations > 0, "{r:?}"),
        Claim::Safe => assert_eq!(r.violations, 0, "{r:?}"),
        Claim::Stalls => {
            assert_eq!(r.violations, 0, "{r:?}");
            assert_eq!(r.live_runs, 0, "{r:?}");
        }
        Claim::Defeated => {
            assert_eq!(r.violations, 0, "{r:?}");
            assert_eq!(r.live_runs, all, "{r:?}");
            assert_eq!(r.detected_runs, all, "{r:?}");
        }
        Claim::Inert => {
            assert_eq!(r.violations, 0, "{r:?}");
            assert_eq!(r.live_runs, all, "{r:?}");
            assert_eq!(r.detected_runs, 0, "{r:?}");
        }
    }
}

fn assert_claims(cells: &[(Mode, usize, Attack, bool, Claim)]) {
    let plan: Vec<_> = cells
        .iter()
        .map(|&(m, n, a, mw, _)| (m, n, a, mw))
        .collect();
    for (r, cell) in rows(&plan).iter().zip(cells) {
        check(r, cell.4);
    }
}

#[test]
fn classic_mode_undefended_every_attack_breaks_agreement_or_liveness() {
    use Attack::*;
    use Claim::*;
    let c = |a, claim| (Mode::Classic, 3, a, false, claim);
    assert_claims(&[
        c(Safety, Splits),
        c(Liveness, Stalls),
        c(BallotOverflow, Stalls),
        c(IgnorePrepared, MostlySplits),
        c(StalePrepared, Splits),
        c(PrematureCommit, Splits),
        c(Forgery, Splits),
        c(Replay, MostlySplits),
    ]);
}

#[test]
fn classic_mode_with_the_middleware_defeats_all_but_the_lying_acceptor() {
    use Attack::*;
    use Claim::*;
    let c = |a, claim| (Mode::Classic, 3, a, true, claim);
    assert_claims(&[
        c(Safety, Defeated),
        c(Liveness, Defeated),
        c(BallotOverflow, Defeated),
        c(IgnorePrepared, Defeated),
        // n = 2f+1: a quorum with the liar in it is a quorum. Detection at
        // best, and too late here: the README says so.
        c(StalePrepared, Splits),
        c(PrematureCommit, Defeated),
        c(Forgery, Defeated),
        c(Replay, Inert),
    ]);
}

#[test]
fn bft_mode_defeats_every_attack() {
    use Attack::*;
    use Claim::*;
    let b = |a, claim| (Mode::Bft, 4, a, true, claim);
    assert_claims(&[
        b(Safety, Defeated),
        b(Liveness, Defeated),
        b(BallotOverflow, Defeated),
        b(IgnorePrepared, Defeated),
        // Its omission is harmless with 2f+1 quorums (an honest report with
        // its proof is always in the quorum): prevented, nothing to prove.
        b(StalePrepared, Inert),
        b(PrematureCommit, Defeated),
        b(Forgery, Defeated),
        b(Replay, Inert),
    ]);
}

/// The README's remarks on the n = 4 rows: quorums of 3 alone stop the
/// brief's SAFETY split and the STALE_PREPARED omission, but not a leader
/// that ignores Prepared values — the justification does.
#[test]
fn with_four_nodes_quorum_size_alone_stops_some_attacks_not_all() {
    use Attack::*;
    use Claim::*;
    assert_claims(&[
        (Mode::Classic, 4, Safety, false, Safe),
        (Mode::Classic, 4, StalePrepared, false, Safe),
        (Mode::Bft, 4, IgnorePrepared, false, SometimesSplits),
        (Mode::Bft, 4, IgnorePrepared, true, Defeated),
    ]);
}

#[test]
fn the_matrix_has_every_attack_in_both_modes() {
    let m = matrix::run(
        &matrix::MatrixConfig {
            nodes: vec![4],
            seeds: 1,
            ..matrix::MatrixConfig::default()
        },
        |_, _| {},
    )
    .expect("runs");
    for mode in [Mode::Classic, Mode::Bft] {
        for a in Attack::ALL {
            for mw in [false, true] {
                assert!(
                    m.rows
                        .iter()
                        .any(|r| r.mode == mode && r.attack == a.to_string() && r.middleware == mw),
                    "{mode:?} {a} {mw}"
                );
            }
        }
    }
}
