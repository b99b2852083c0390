//! The core's configuration: the tunables of a replica, and the two modes a
//! cluster runs in — classic (majority quorums, n = 2f+1) and BFT (quorums
//! of `ceil((n+f+1)/2)` signed votes, n >= 3f+1). Quorum sizes are decided
//! here and nowhere else; `cluster::ClusterSpec` picks the mode.

use super::types::majority;
use serde::{Deserialize, Serialize};

/// Bytes of snapshot state per `Snapshot` message: far below the bridge's
/// 1 MiB frame limit, with room for the packet around it.
pub const SNAPSHOT_CHUNK: usize = 64 * 1024;

/// Tunables of a replica. All durations are in logical ticks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Config {
    /// Number of nodes in the cluster; quorums are majorities of it.
    pub n: usize,
    /// Ticks a proposer waits for a phase before retrying (doubles on each
    /// retry up to 8x, plus up to one more `retry_ticks` of jitter).
    pub retry_ticks: u64,
    /// Ticks between two anti-entropy `CatchUp` requests to a peer.
    pub sync_ticks: u64,
    /// How young another proposer's promise must be for a preempting
    /// Prepare to count as cutting it off; an honest proposer waits twice this.
    pub grace_ticks: u64,
    /// Positions this proposer keeps in flight at once (pipelining).
    pub window: usize,
    /// Most client values one position carries: a ceiling. A leader
    /// proposes a value at once while its window has room and folds what
    /// queued meanwhile into one position when a slot frees, as OmniPaxos
    /// does, so a busy leader batches without being told to.
    pub batch: usize,
    /// Distinct nodes whose Prepared (phase 1) or Accept (phase 2) make a
    /// quorum: a majority in classic mode, [`bft_quorum`] in BFT mode.
    pub quorum: usize,
    /// Every vote is a message, even this node's own (BFT mode): what the
    /// node sends itself — its own Prepared, its acceptance of its own
    /// Propose, its own Accept, its own Commit — goes out as
    /// `Output::Send { to: self }` for the middleware to sign, check and
    /// hand back, instead of being handled inside the step. Then the
    /// middleware holds every vote as a signed message (a leader can prove
    /// its own Prepared like anyone's) and the leader accepts its own
    /// Propose only after the same echo quorum as everyone else.
    pub loopback: bool,
    /// Most bytes of snapshot state one `Snapshot` message carries.
    pub snapshot_chunk: usize,
    /// Distinct peers that must send the same snapshot before a node
    /// installs it: one in classic mode (peers fail only by stopping),
    /// f+1 in BFT mode, so at least one of them is honest.
    pub vouchers: usize,
}

impl Config {
    /// Defaults that suit the in-process actors (one tick per millisecond):
    /// a few positions in flight, one value per position.
    pub fn new(n: usize) -> Self {
        Config {
            n,
            retry_ticks: 20,
            sync_ticks: 25,
            grace_ticks: 5,
            window: 4,
            batch: 1024,
            quorum: majority(n),
            loopback: false,
            snapshot_chunk: SNAPSHOT_CHUNK,
            vouchers: 1,
        }
    }

    /// How long a follower trusts that the leader it last saw is alive
    /// without hearing from it: two rounds of every node's anti-entropy
    /// `CatchUp`s (each node sends one to each peer in turn every
    /// `sync_ticks`), which a live leader sends even when idle. Past this,
    /// a follower asked for a value leads itself instead of redirecting.
    pub fn leader_ticks(&self) -> u64 {
        2 * self.sync_ticks.max(1) * (self.n.max(2) as u64 - 1)
    }

    /// How long node `id` lets a hole in its log stand (a position not
    /// committed while a later one is) before it runs phase 1 to fill it:
    /// past the catch-ups that fill a hole left by a lost Commit
    /// ([`Self::leader_ticks`]), staggered by id so the nodes that see one
    /// hole do not all compete for it at once.
    pub fn hole_ticks(&self, id: crate::core::NodeId) -> u64 {
        self.leader_ticks() + self.sync_ticks.max(1) * u64::from(id)
    }

    /// BFT mode for `n` nodes tolerating `f` Byzantine ones: every vote a
    /// signed message, and quorums of [`bft_quorum`] (`2f+1` at
    /// `n = 3f+1`). `n >= 3f+1` is the caller's to check ([`bft_faults`]).
    pub fn bft(n: usize, f: usize) -> Self {
        Config {
            quorum: bft_quorum(n, f),
            loopback: true,
            vouchers: f + 1,
            ..Config::new(n)
        }
    }
}

/// The BFT quorum of `n` nodes tolerating `f` Byzantine ones: the smallest
/// `q` with `2q - n >= f + 1`, so that any two quorums share an honest node,
/// i.e. `ceil((n + f + 1) / 2)`. It is `2f+1` when `n = 3f+1`; with more
/// nodes than that it is larger (n = 7, f = 1: 5, not 3 — two quorums of 3
/// need not meet at all). It never exceeds `n - f` when `n >= 3f+1`, so the
/// honest nodes alone can form one.
pub fn bft_quorum(n: usize, f: usize) -> usize {
    (n + f + 2) / 2
}

/// A BFT cluster that cannot tolerate what it was asked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BftError {
    #[error(
        "BFT mode needs at least 3f+1 = {need} nodes to tolerate f = {f} Byzantine node(s); the cluster has {n}"
    )]
    TooFewNodes { n: usize, f: usize, need: usize },
    #[error("BFT mode must tolerate at least f = 1 Byzantine node (f = 0 tolerates none)")]
    NoFaults,
}

/// The core's configuration for a cluster of `n`: classic, or BFT with
/// `faults` (see [`bft_faults`]).
pub fn mode_config(n: usize, bft: bool, faults: Option<usize>) -> Result<Config, BftError> {
    if !bft {
        return Ok(Config::new(n));
    }
    Ok(Config::bft(n, bft_faults(n, faults)?))
}

/// The `f` a BFT cluster of `n` nodes runs with: `faults` if given, else the
/// largest `f` with `n >= 3f+1`; refused if `n < 3f+1` or `f = 0`.
pub fn bft_faults(n: usize, faults: Option<usize>) -> Result<usize, BftError> {
    // Without --faults: as many as n allows, and at least 1 (so a cluster
    // too small for any is refused, not silently run with f = 0).
    let f = faults.unwrap_or((n.saturating_sub(1) / 3).max(1));
    if f == 0 {
        return Err(BftError::NoFaults);
    }
    let need = 3 * f + 1;
    if n < need {
        return Err(BftError::TooFewNodes { n, f, need });
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bft_clusters_too_small_for_f_are_refused() {
        assert_eq!(bft_faults(4, None), Ok(1));
        assert_eq!(bft_faults(7, None), Ok(2));
        assert_eq!(bft_faults(7, Some(1)), Ok(1));
        assert_eq!(
            bft_faults(3, None),
            Err(BftError::TooFewNodes {
                n: 3,
                f: 1,
                need: 4
            })
        );
        assert_eq!(
            bft_faults(6, Some(2)),
            Err(BftError::TooFewNodes {
                n: 6,
                f: 2,
                need: 7
            })
        );
        assert_eq!(bft_faults(4, Some(0)), Err(BftError::NoFaults));
        assert_eq!(Config::bft(7, 2).quorum, 5);
    }

    /// BFT quorums intersect in f+1 nodes (an honest one) and the n-f honest
    /// nodes can always form one, for every n >= 3f+1 — not only n = 3f+1,
    /// where the quorum is 2f+1. (With `--faults 1` on 7 nodes a quorum of
    /// 2f+1 = 3 let two partitions decide apart: `paxos sim --bft --nodes 7
    /// --faults 1 …` broke agreement in 25 of 300 runs.)
    #[test]
    fn bft_quorums_intersect_in_an_honest_node_for_any_n() {
        for f in 1..=6 {
            assert_eq!(bft_quorum(3 * f + 1, f), 2 * f + 1);
            for n in 3 * f + 1..=40 {
                let q = bft_quorum(n, f);
                assert!(2 * q > n + f, "n={n} f={f}: q={q} too small");
                assert!(
                    2 * (q - 1) < n + f + 1,
                    "n={n} f={f}: q={q} not the smallest"
                );
                assert!(q <= n - f, "n={n} f={f}: q={q} needs a faulty node");
            }
        }
    }
}
