//! The BALLOT_OVERFLOW defence: a ballot may only climb a bounded step above
//! everything this shield has seen.
//!
//! Honest rounds climb one at a time: a proposer's next round is one above
//! the highest round it has seen (see `core::replica`), and it only climbs
//! when preempted, i.e. after seeing a higher one. The SAFETY attacker's
//! ballots, the highest an honest-looking node produces here, jump 100
//! above what it saw. So a message whose ballot round is more than
//! `max_jump` (default [`DEFAULT_MAX_JUMP`] = 1,000) above the highest round
//! this shield has let through or sent is not something an honest node
//! produces: it is dropped before the core sees it and its sender is
//! flagged. That covers every round the core reads its next round from
//! (the ballot of a Prepare, Propose, Prepared, Accept or Nack, and a
//! Nack's promise): an honest answer carries the ballot of the node it
//! answers, which that node's own shield has seen, and an honest Nack's
//! promise one its sender's shield let through.
//!
//! The signed message is its own evidence: anyone holding the sender's key
//! can check the signature and compare the round with its own highest round
//! seen. The shield forwards it as [`crate::wire::proofs::Proof::Overreach`] and every
//! receiver re-checks both before flagging; an accusation that fails either
//! check is ignored, and since a shield's highest round only grows, a
//! message that is within bounds for a receiver stays so.
//!
//! What the bound assumes, and why this is detection, not a Byzantine
//! guarantee, with `n = 2f+1`:
//!
//! - **Views within `max_jump`.** No honest node may get `max_jump` rounds
//!   ahead of another honest node's view. Honest retries alone never do
//!   that (they climb by one and broadcast every Prepare), but loss, a long
//!   partition of a busy proposer, or a Byzantine node feeding in-bound
//!   jumps to *one* honest node only, can. Then that honest node's next
//!   Prepare looks out of bounds to the others: it is dropped, and its
//!   sender could be flagged — framed without having signed anything wrong.
//!   So a Prepare carries the signed message of another node it climbed
//!   over (`Body::Climb`, see [`justifies`]): a receiver whose own view is
//!   behind checks that signature and lets a climb within `max_jump` of it
//!   through. The node is never framed — it never signed the bare Prepare —
//!   and an attacker gains nothing: a witness must come from another node,
//!   so it still climbs at most `max_jump` above what others signed.
//! - **Rate, not impossibility.** An attacker that stays within the bound
//!   still climbs `max_jump` rounds per message; exhausting `u64` then takes
//!   about 2^64 / `max_jump` ≈ 1.8·10^16 messages instead of one.
//! - **Detection.** Each honest shield decides for itself; with `n = 2f+1`
//!   there is no quorum of honest checkers to make every node agree, so a
//!   node that missed the evidence keeps listening to the attacker until it
//!   sees an out-of-bound message itself (which it then drops anyway).

use crate::core::Message;

/// Whether `witness`, another node's signed message, justifies `prepare`'s
/// round: at most `max_jump` above the witness's round.
pub fn justifies(witness: &Message, prepare: &Message, max_jump: u64) -> bool {
    match (witness.ballot(), prepare.ballot()) {
        (Some(w), Some(p)) => p.round <= w.round.saturating_add(max_jump),
        _ => false,
    }
}

/// The default bound: far above the SAFETY attacker's jump of 100 and an
/// honest retry's 1, far below anything that threatens the `u64` space.
pub const DEFAULT_MAX_JUMP: u64 = 1_000;

/// The highest round seen, and how far above it a ballot may go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BallotBound {
    max_jump: u64,
    max_seen: u64,
}

impl BallotBound {
    pub fn new(max_jump: u64) -> Self {
        BallotBound {
            max_jump,
            max_seen: 0,
        }
    }

    /// The highest round this shield let through or sent.
    pub fn max_seen(&self) -> u64 {
        self.max_seen
    }

    /// Whether a round `msg` names ([`Message::highest_round`]: a Nack's
    /// promise too), if it names one, jumps too far.
    pub fn overreaches(&self, msg: &Message) -> bool {
        msg.highest_round()
            .is_some_and(|r| r > self.max_seen.saturating_add(self.max_jump))
    }

    /// Remember `msg`'s round (a message let through, or one we send).
    pub fn observe(&mut self, msg: &Message) {
        if let Some(round) = msg.highest_round() {
            self.observe_round(round);
        }
    }

    /// Remember a round seen some other way (what a restarted node had
    /// promised before its crash).
    pub fn observe_round(&mut self, round: u64) {
        self.max_seen = self.max_seen.max(round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ballot;

    fn prepare(round: u64) -> Message {
        Message::Prepare {
            pos: 0,
            ballot: Ballot::new(round, 1),
        }
    }

    #[test]
    fn the_largest_round_and_huge_jumps_overreach() {
        let b = BallotBound::new(DEFAULT_MAX_JUMP);
        assert!(b.overreaches(&prepare(u64::MAX)));
        assert!(b.overreaches(&prepare(1 << 62)));
        assert!(b.overreaches(&prepare(DEFAULT_MAX_JUMP + 1)));
        assert!(!b.overreaches(&prepare(DEFAULT_MAX_JUMP)));
        // No ballot, nothing to bound.
        assert!(!b.overreaches(&Message::CatchUp { from: 0 }));
        // A Nack names the promise that refused: that round is bounded too.
        let nack = |promised: u64| Message::Nack {
            pos: 0,
            ballot: Ballot::new(1, 0),
            promised: Ballot::new(promised, 2),
        };
        assert!(b.overreaches(&nack(u64::MAX)));
        assert!(!b.overreaches(&nack(DEFAULT_MAX_JUMP)));
    }

    #[test]
    fn honest_climbing_never_trips_the_bound() {
        // Proposers preempting one another, each one round above what it saw,
        // for far longer than any run: the bound follows them.
        let mut b = BallotBound::new(DEFAULT_MAX_JUMP);
        for round in 1..100_000u64 {
            let m = prepare(round);
            assert!(!b.overreaches(&m), "round {round}");
            b.observe(&m);
        }
        // The SAFETY attacker's +100 over the highest round is within bounds.
        assert!(!b.overreaches(&prepare(b.max_seen() + 100)));
        // Near the top, the bound saturates instead of wrapping.
        let mut top = BallotBound::new(DEFAULT_MAX_JUMP);
        top.observe(&prepare(u64::MAX - 1));
        assert!(!top.overreaches(&prepare(u64::MAX)));
    }
}
