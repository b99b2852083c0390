//! Evidence against STALE_PREPARED: a node's signed `Accept(p, b1, v)` next
//! to its signed `Prepared(p0 ≤ p, b2 > b1, reports)` with no report at `p`
//! of a ballot `≥ b1`.
//!
//! An honest acceptor never signs such a pair. Once it promised `b2` from
//! `p0` on it accepts nothing below `b2` at `p` (the promise is persisted),
//! so its Accept in `b1 < b2` came first; and from then on its Prepared
//! reports at `p` what it last accepted (a ballot `≥ b1`, since ballots only
//! climb) or, once decided, the decided value in the Prepare's own ballot
//! `b2`. So the pair is self-verifying: anyone with the signer's key checks
//! both signatures and the relation. (Same ballot, other value is *not*
//! evidence: an honest acceptor that an equivocating leader fed two values
//! in one ballot reports the second.)
//!
//! Where the two halves come from: nodes hold others' signed Accepts in
//! commit certificates (and as leaders), and see others' signed Prepareds
//! as leaders and inside justified Proposes ([`super::justify`]). The shield
//! checks whenever both are at hand, flags the signer and forwards the pair
//! ([`crate::wire::proofs::Proof::StalePrepared`]); every receiver re-checks it.
//!
//! This is **detection only**, with `n = 2f+1`: the lie works at the moment
//! it is told (a quorum that contains the liar is a quorum), and the pair
//! usually comes together only later, after the lie may already have
//! decided a position differently on two honest nodes. BFT quorums prevent
//! it: every two quorums of `2f+1` out of `3f+1` share an honest node.

use crate::auth::Signed;
use crate::core::{Ballot, Message, NodeId, Pos};
use std::collections::BTreeMap;

/// Signed Accepts and Prepareds kept per node, at most.
const KEEP: usize = 2048;

/// Whether `accept` and `prepared` (same signer, signatures checked by the
/// caller) prove that the signer hid an accepted value. `accept` is a vote
/// as certificates count it ([`super::certificate::vote`]): with
/// `leader_votes` (classic mode) a leader's signed Propose is its
/// acceptance, since its core accepts what it proposes.
pub fn hides(accept: &Signed, prepared: &Signed, leader_votes: bool) -> bool {
    let (
        Some((p, b1, _)),
        Message::Prepared {
            pos: p0,
            ballot: b2,
            accepted,
        },
    ) = (
        super::certificate::vote(accept, leader_votes),
        &prepared.msg,
    )
    else {
        return false;
    };
    accept.from == prepared.from
        && *p0 <= p
        && *b2 > b1
        && !accepted.iter().any(|(q, b, _)| *q == p && *b >= b1)
}

/// The signed Accepts and Prepareds this shield has seen, by signer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaleCheck {
    /// A leader's signed Propose is its acceptance (classic mode).
    leader_votes: bool,
    accepts: BTreeMap<NodeId, BTreeMap<(Pos, Ballot), Signed>>,
    prepareds: BTreeMap<NodeId, Vec<Signed>>,
}

impl StaleCheck {
    /// A check counting votes as certificates do ([`hides`]).
    pub fn new(leader_votes: bool) -> Self {
        StaleCheck {
            leader_votes,
            ..Default::default()
        }
    }

    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: Pos) {
        for accepts in self.accepts.values_mut() {
            accepts.retain(|(p, _), _| *p >= below);
        }
    }

    /// Remember a signed vote (an Accept, or a leader's Propose with
    /// `leader_votes`); a pair it completes, if any.
    pub fn accept(&mut self, s: &Signed) -> Option<(Signed, Signed)> {
        let (pos, ballot, _) = super::certificate::vote(s, self.leader_votes)?;
        let leader_votes = self.leader_votes;
        let mine = self.accepts.entry(s.from).or_default();
        if mine.insert((pos, ballot), s.clone()).is_some() {
            return None; // seen before, checked before
        }
        if mine.len() > KEEP {
            mine.pop_first();
        }
        let p = self
            .prepareds
            .get(&s.from)?
            .iter()
            .find(|p| hides(s, p, leader_votes))?;
        Some((s.clone(), p.clone()))
    }

    /// Remember a signed Prepared; a pair it completes, if any.
    pub fn prepared(&mut self, s: &Signed) -> Option<(Signed, Signed)> {
        let Message::Prepared {
            pos: p0, ballot, ..
        } = &s.msg
        else {
            return None;
        };
        let mine = self.prepareds.entry(s.from).or_default();
        if mine.iter().any(|m| m.sig == s.sig) {
            return None;
        }
        mine.push(s.clone());
        if mine.len() > 16 {
            mine.remove(0);
        }
        let accepts = self.accepts.get(&s.from)?;
        accepts
            .range((*p0, Ballot::ZERO)..)
            .map(|(_, a)| a)
            .filter(|a| a.msg.ballot().is_some_and(|b1| b1 < *ballot))
            .find(|a| hides(a, s, self.leader_votes))
            .map(|a| (a.clone(), s.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;

    fn accept(pos: Pos, b: Ballot) -> Signed {
        Identity::from_seed(1, 2).sign_message(
            2,
            Message::Accept {
                pos,
                ballot: b,
                value: "w".into(),
            },
        )
    }

    fn prepared(p0: Pos, b: Ballot, accepted: Vec<(Pos, Ballot, crate::core::Value)>) -> Signed {
        Identity::from_seed(1, 2).sign_message(
            2,
            Message::Prepared {
                pos: p0,
                ballot: b,
                accepted,
            },
        )
    }

    #[test]
    fn a_prepared_hiding_an_earlier_accept_is_caught_either_way_round() {
        let (b1, b2) = (Ballot::new(1, 1), Ballot::new(2, 0));
        let mut c = StaleCheck::default();
        assert!(c.accept(&accept(3, b1)).is_none());
        assert!(c.prepared(&prepared(0, b2, vec![])).is_some());
        let mut c = StaleCheck::default();
        c.prepared(&prepared(0, b2, vec![(3, Ballot::new(0, 1), "old".into())]));
        assert!(
            c.accept(&accept(3, b1)).is_some(),
            "a lower ballot hides too"
        );
    }

    #[test]
    fn a_classic_leaders_propose_is_its_acceptance_and_nobody_elses() {
        // Node 2 led ballot 1.2 and proposed 'w' at 3, then hid it.
        let (b1, b2) = (Ballot::new(1, 2), Ballot::new(2, 0));
        let id = Identity::from_seed(1, 2);
        let led = id.sign_message(
            2,
            Message::Propose {
                pos: 3,
                ballot: b1,
                value: "w".into(),
            },
        );
        let hiding = prepared(0, b2, vec![]);
        assert!(hides(&led, &hiding, true), "classic mode");
        assert!(
            !hides(&led, &hiding, false),
            "BFT: proposing is not accepting"
        );
        let mut c = StaleCheck::new(true);
        assert!(c.accept(&led).is_none());
        assert!(c.prepared(&hiding).is_some());
        // A Propose in a ballot its signer does not own is no vote of it.
        let theirs = id.sign_message(
            2,
            Message::Propose {
                pos: 3,
                ballot: Ballot::new(1, 1),
                value: "w".into(),
            },
        );
        assert!(!hides(&theirs, &hiding, true));
    }

    #[test]
    fn honest_reports_are_no_evidence() {
        let (b1, b2) = (Ballot::new(1, 1), Ballot::new(2, 0));
        let a = accept(3, b1);
        // Reported at the same or a higher ballot (a later value, or the
        // decided one in the Prepare's own ballot), even another value.
        for r in [
            (3, b1, "w".into()),
            (3, b2, "d".into()),
            (3, b1, "x".into()),
        ] {
            assert!(!hides(&a, &prepared(0, b2, vec![r]), true));
        }
        // A Prepared of a lower or equal ballot, or that starts after p.
        assert!(!hides(&a, &prepared(0, b1, vec![]), true));
        assert!(!hides(&a, &prepared(4, b2, vec![]), true));
        // Another signer's Prepared proves nothing about this one.
        let mut other = prepared(0, b2, vec![]);
        other.from = 1;
        assert!(!hides(&a, &other, true));
    }
}
