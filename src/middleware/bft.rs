//! BFT mode's proofs (n >= 3f+1, quorums of 2f+1 at n = 3f+1, in general
//! [`crate::core::bft_quorum`]): what makes a lying
//! acceptor or a leader that ignores Prepared values harmless rather than
//! only detectable.
//!
//! - A BFT `Prepared` travels as a [`Proven`]: the acceptor's signed
//!   Prepared plus, for every value it reports, a [`ValueProof`] — a *prepared
//!   certificate* (the leader's signed Propose and a quorum of signed echoes
//!   of it: 2f+1 nodes vouched for that value in that ballot) or a *commit
//!   certificate* (a quorum of signed Accepts). A report without a valid
//!   proof does not count: a liar can omit what it accepted, but a quorum of
//!   Prepareds still holds an honest one that reports it with its proof, and
//!   it cannot invent a value at a higher ballot, since that would need the
//!   echoes of f+1 honest nodes.
//! - A BFT `Propose` carries its **justification**: a quorum of Proven
//!   Prepareds for its ballot. Every acceptor recomputes the value Paxos
//!   allows there ([`choose`]) and refuses any other; a leader that proposes
//!   against its justification has signed the proof of it, which any node
//!   re-checks ([`BftJustified`] is the evidence).
//!
//! Why it is safe: if `v` was chosen at `(p, b)`, 2f+1 nodes accepted it,
//! f+1 of them honest, each holding a prepared certificate (an honest
//! acceptor only accepts a Propose after its echo quorum). Any later
//! quorum of Prepareds shares f+1 nodes with those, so at least one honest
//! report of `v` with its certificate, and no valid certificate above `b`
//! can name another value (its echo quorum holds an honest node that only
//! echoed a Propose whose own justification chose `v`, by induction). So
//! the highest proven report at `p` is `v`.
//!
//! Pure functions over signed messages and the key ring: the shield calls
//! them, and so does anyone re-checking evidence.

use crate::auth::Keyring;
use crate::core::{Ballot, Message, NodeId, Pos, Value};
pub use crate::wire::proofs::{BftJustified, Proven, ValueProof};
use crate::wire::Body;
use std::collections::BTreeSet;

/// Why a justification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JustifyError {
    #[error("not a Propose signed by the leader of its ballot")]
    NotAPropose,
    #[error("{have} valid Prepareds for its ballot, a quorum is {need}")]
    TooFew { have: usize, need: usize },
    #[error("the Prepareds allow only '{allowed}' at pos {pos}, it proposes '{proposed}'")]
    Ignored {
        pos: Pos,
        allowed: Value,
        proposed: Value,
    },
}

/// Whether `proof` shows `(pos, value)` vouched for by a quorum.
pub fn proves(
    proof: &ValueProof,
    pos: Pos,
    ballot: Ballot,
    value: &Value,
    keys: &Keyring,
    quorum: usize,
) -> bool {
    match proof {
        ValueProof::Prepared { propose, echoes } => {
            let expected = Message::Propose {
                pos,
                ballot,
                value: value.clone(),
            };
            if propose.msg != expected
                || propose.from != ballot.node
                || keys.verify_signed(propose).is_err()
            {
                return false;
            }
            let echo = Body::Echo(propose.clone());
            let mut vouchers: BTreeSet<NodeId> = BTreeSet::from([propose.from]);
            for (id, sig) in echoes {
                if !vouchers.contains(id) && keys.verify(*id, &echo, sig).is_ok() {
                    vouchers.insert(*id);
                }
            }
            vouchers.len() >= quorum
        }
        ValueProof::Committed { accepts } => {
            super::certificate::signers(pos, value, accepts, keys, &BTreeSet::new(), false)
                >= quorum
        }
    }
}

/// The reports of a Proven Prepared that count: `(pos, ballot, value)` with
/// a valid proof. The Prepared's own signature is the caller's to check.
pub fn proven_reports(p: &Proven, keys: &Keyring, quorum: usize) -> Vec<(Pos, Ballot, Value)> {
    let Message::Prepared { accepted, .. } = &p.prepared.msg else {
        return Vec::new();
    };
    accepted
        .iter()
        .zip(&p.proofs)
        .filter(|((pos, b, v), proof)| {
            proof
                .as_ref()
                .is_some_and(|proof| proves(proof, *pos, *b, v, keys, quorum))
        })
        .map(|(r, _)| r.clone())
        .collect()
}

/// The value Paxos allows at `pos` given a justification: the highest-ballot
/// proven report there, or `None` if there is none (any value is allowed).
pub fn choose(justification: &[Proven], pos: Pos, keys: &Keyring, quorum: usize) -> Option<Value> {
    justification
        .iter()
        .flat_map(|p| proven_reports(p, keys, quorum))
        .filter(|(p, _, _)| *p == pos)
        .max_by(|a, b| a.1.cmp(&b.1))
        .map(|(_, _, v)| v)
}

/// Check a BFT Propose against its justification: signed by the leader of
/// its ballot, a quorum of distinct validly signed Prepareds for that ballot
/// covering its position, and the value they allow.
pub fn check(j: &BftJustified, keys: &Keyring, quorum: usize) -> Result<(), JustifyError> {
    let Message::Propose { pos, ballot, value } = &j.propose.msg else {
        return Err(JustifyError::NotAPropose);
    };
    if j.propose.from != ballot.node || keys.verify_signed(&j.propose).is_err() {
        return Err(JustifyError::NotAPropose);
    }
    let valid: Vec<Proven> = j
        .justification
        .iter()
        .filter(|p| {
            matches!(&p.prepared.msg, Message::Prepared { pos: from, ballot: b, .. } if b == ballot && from <= pos)
                && keys.verify_signed(&p.prepared).is_ok()
        })
        .cloned()
        .collect();
    let signers: BTreeSet<NodeId> = valid.iter().map(|p| p.prepared.from).collect();
    if signers.len() < quorum {
        return Err(JustifyError::TooFew {
            have: signers.len(),
            need: quorum,
        });
    }
    match choose(&valid, *pos, keys, quorum) {
        Some(allowed) if allowed != *value => Err(JustifyError::Ignored {
            pos: *pos,
            allowed,
            proposed: value.clone(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Identity, Signed};

    const N: usize = 4;
    const Q: usize = 3;

    fn ids() -> Vec<Identity> {
        (0..N as NodeId)
            .map(|i| Identity::from_seed(3, i))
            .collect()
    }

    fn ring(ids: &[Identity]) -> Keyring {
        let mut k = Keyring::default();
        for (i, id) in ids.iter().enumerate() {
            k.insert(i as NodeId, id.public());
        }
        k
    }

    fn propose(ids: &[Identity], pos: Pos, ballot: Ballot, value: &str) -> Signed {
        ids[ballot.node as usize].sign_message(
            ballot.node,
            Message::Propose {
                pos,
                ballot,
                value: value.into(),
            },
        )
    }

    /// A prepared certificate echoed by `by`.
    fn cert(ids: &[Identity], p: &Signed, by: &[NodeId]) -> ValueProof {
        let echoes = by
            .iter()
            .map(|&i| (i, ids[i as usize].sign(i, &Body::Echo(p.clone()))))
            .collect();
        ValueProof::Prepared {
            propose: p.clone(),
            echoes,
        }
    }

    fn prepared(
        ids: &[Identity],
        from: NodeId,
        ballot: Ballot,
        reports: Vec<((Pos, Ballot, &str), ValueProof)>,
    ) -> Proven {
        let (accepted, proofs): (Vec<_>, Vec<_>) = reports
            .into_iter()
            .map(|((p, b, v), proof)| ((p, b, Value::from(v)), Some(proof)))
            .unzip();
        Proven {
            prepared: ids[from as usize].sign_message(
                from,
                Message::Prepared {
                    pos: 0,
                    ballot,
                    accepted,
                },
            ),
            proofs,
        }
    }

    #[test]
    fn a_prepared_certificate_needs_a_quorum_of_distinct_valid_echoes() {
        let ids = ids();
        let keys = ring(&ids);
        let b = Ballot::new(1, 0);
        let p = propose(&ids, 0, b, "v");
        let v = Value::from("v");
        assert!(proves(&cert(&ids, &p, &[1, 2]), 0, b, &v, &keys, Q));
        assert!(
            !proves(&cert(&ids, &p, &[1]), 0, b, &v, &keys, Q),
            "leader + 1"
        );
        assert!(
            !proves(&cert(&ids, &p, &[1, 1]), 0, b, &v, &keys, Q),
            "one echoer twice"
        );
        assert!(
            !proves(&cert(&ids, &p, &[0, 1]), 0, b, &v, &keys, Q),
            "the leader's own echo adds nothing"
        );
        // Another value, position or ballot than the certificate's.
        assert!(!proves(
            &cert(&ids, &p, &[1, 2]),
            0,
            b,
            &"w".into(),
            &keys,
            Q
        ));
        assert!(!proves(&cert(&ids, &p, &[1, 2]), 1, b, &v, &keys, Q));
        assert!(!proves(
            &cert(&ids, &p, &[1, 2]),
            0,
            Ballot::new(2, 0),
            &v,
            &keys,
            Q
        ));
        // Echo signatures moved to another Propose do not verify.
        let ValueProof::Prepared { echoes, .. } = cert(&ids, &p, &[1, 2]) else {
            unreachable!()
        };
        let other = propose(&ids, 0, b, "w");
        let moved = ValueProof::Prepared {
            propose: other,
            echoes,
        };
        assert!(!proves(&moved, 0, b, &"w".into(), &keys, Q));
    }

    #[test]
    fn the_highest_proven_report_wins_and_unproven_lies_do_not_count() {
        let ids = ids();
        let keys = ring(&ids);
        let (b1, b2, b3) = (Ballot::new(1, 0), Ballot::new(2, 1), Ballot::new(3, 2));
        let v = propose(&ids, 0, b2, "v");
        // Node 1 honestly reports 'v' at b2 with its certificate; node 3
        // lies: 'x' at a higher ballot without a valid proof (echoes it
        // signed itself only), and omits 'v'.
        let honest = prepared(&ids, 1, b3, vec![((0, b2, "v"), cert(&ids, &v, &[0, 2]))]);
        let fake = propose(&ids, 0, Ballot::new(2, 3), "x");
        let liar = prepared(
            &ids,
            3,
            b3,
            vec![((0, Ballot::new(2, 3), "x"), cert(&ids, &fake, &[3]))],
        );
        let old = propose(&ids, 0, b1, "u");
        let stale = prepared(&ids, 2, b3, vec![((0, b1, "u"), cert(&ids, &old, &[1, 2]))]);
        let j = vec![honest, liar, stale];
        assert_eq!(choose(&j, 0, &keys, Q), Some("v".into()));
        assert_eq!(choose(&j, 1, &keys, Q), None, "nothing reported: free");
        // Node 2 leads b3: proposing 'v' is justified, proposing its own is not.
        let ok = BftJustified {
            propose: propose(&ids, 0, b3, "v"),
            justification: j.clone(),
        };
        assert_eq!(check(&ok, &keys, Q), Ok(()));
        let ignored = BftJustified {
            propose: propose(&ids, 0, b3, "mine"),
            justification: j.clone(),
        };
        assert!(matches!(
            check(&ignored, &keys, Q),
            Err(JustifyError::Ignored { .. })
        ));
        // Two Prepareds are not a quorum, nor one signer three times.
        let short = BftJustified {
            propose: propose(&ids, 0, b3, "v"),
            justification: j[..2].to_vec(),
        };
        assert!(matches!(
            check(&short, &keys, Q),
            Err(JustifyError::TooFew { have: 2, .. })
        ));
        let same = BftJustified {
            propose: propose(&ids, 0, b3, "v"),
            justification: vec![j[0].clone(), j[0].clone(), j[0].clone()],
        };
        assert!(matches!(
            check(&same, &keys, Q),
            Err(JustifyError::TooFew { have: 1, .. })
        ));
        // Prepareds of another ballot do not justify this one.
        let other = BftJustified {
            propose: propose(&ids, 0, Ballot::new(4, 3), "v"),
            justification: j,
        };
        assert!(matches!(
            check(&other, &keys, Q),
            Err(JustifyError::TooFew { have: 0, .. })
        ));
    }

    #[test]
    fn a_commit_certificate_proves_a_committed_report() {
        let ids = ids();
        let keys = ring(&ids);
        let b = Ballot::new(1, 0);
        let accept = |i: NodeId| {
            ids[i as usize].sign_message(
                i,
                Message::Accept {
                    pos: 5,
                    ballot: b,
                    value: "c".into(),
                },
            )
        };
        let full = ValueProof::Committed {
            accepts: vec![accept(0), accept(1), accept(2)],
        };
        let short = ValueProof::Committed {
            accepts: vec![accept(0), accept(1), accept(1)],
        };
        // Committed values are reported in the Prepare's own ballot.
        let b9 = Ballot::new(9, 3);
        assert!(proves(&full, 5, b9, &"c".into(), &keys, Q));
        assert!(!proves(&short, 5, b9, &"c".into(), &keys, Q));
        assert!(!proves(&full, 5, b9, &"d".into(), &keys, Q));
    }
}
