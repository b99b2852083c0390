//! The shield's unit tests: each defence against a hand-made packet, and
//! the framing cases (accusations that must flag nobody).

use super::*;
use crate::core::{Ballot, Forgery, Pos};

fn shields(n: usize, defend: bool) -> Vec<Shield> {
    let ids: Vec<Identity> = (0..n as NodeId)
        .map(|i| Identity::from_seed(9, i))
        .collect();
    (0..n as NodeId)
        .map(|i| {
            let mut s = Shield::new(
                i,
                ShieldConfig::new(n, defend),
                Some(ids[i as usize].clone()),
            );
            for (j, id) in ids.iter().enumerate() {
                s.add_peer_key(j as NodeId, id.public());
            }
            s
        })
        .collect()
}

fn propose(pos: Pos, value: &str) -> Message {
    Message::Propose {
        pos,
        ballot: Ballot::new(1, 0),
        value: value.into(),
    }
}

fn send(from: &mut Shield, to: NodeId, msg: Message) -> Packet {
    from.outgoing(Output::Send { to, msg }).remove(0)
}

#[test]
fn a_message_signed_by_the_wrong_key_is_dropped() {
    let mut s = shields(3, false);
    // Node 1 signs a packet that claims to come from node 0.
    let mut p = send(&mut s[1], 2, propose(0, "x"));
    p.from = 0;
    let v = s[2].incoming(p);
    assert!(v.deliver.is_empty());
    assert!(matches!(&v.events[..], [Event::Dropped { from: 0, .. }]));
}

#[test]
fn a_re_signed_or_altered_message_is_dropped() {
    let mut s = shields(3, false);
    let mut p = send(&mut s[0], 2, propose(0, "x"));
    p.body = Body::Paxos(propose(0, "y"));
    let v = s[2].incoming(p);
    assert!(v.deliver.is_empty(), "content changed after signing");
    let mut p = send(&mut s[0], 2, propose(0, "x"));
    p.sig = None;
    assert!(s[2].incoming(p).deliver.is_empty(), "unsigned");
    let good = send(&mut s[0], 2, propose(0, "x"));
    assert_eq!(s[2].incoming(good).deliver, vec![(0, propose(0, "x"))]);
}

/// Node 0 prepares ballot 1.0 and nodes 1.. promise, as many as a quorum
/// needs beside node 0: node 0's shield can justify its Proposes in that
/// ballot.
fn lead(s: &mut [Shield]) {
    let ballot = Ballot::new(1, 0);
    s[0].outgoing(Output::Broadcast {
        msg: Message::Prepare { pos: 0, ballot },
    });
    for i in 1..majority(s.len()) {
        let p = send(
            &mut s[i],
            0,
            Message::Prepared {
                pos: 0,
                ballot,
                accepted: vec![],
            },
        );
        assert_eq!(s[0].incoming(p).deliver.len(), 1);
    }
}

#[test]
fn a_classic_echo_goes_to_every_node_but_the_leader_under_one_signature() {
    for n in [3, 5] {
        let mut s = shields(n, true);
        lead(&mut s);
        let p = s[0]
            .outgoing(Output::Broadcast {
                msg: propose(0, "x"),
            })
            .remove(0);
        let echoes = s[1].incoming(p).send;
        let to: Vec<Option<NodeId>> = echoes.iter().map(|e| e.to).collect();
        let others: Vec<Option<NodeId>> = (2..n as NodeId).map(Some).collect();
        assert_eq!(to, others, "n={n}: nobody echoes to itself or the leader");
        assert!(echoes
            .iter()
            .all(|e| e.sig == echoes[0].sig && e.body == echoes[0].body));
        for e in echoes {
            let at = e.to.expect("addressed") as usize;
            assert!(s[at].incoming(e).events.is_empty(), "n={n}: accepted");
        }
    }
}

#[test]
fn a_classic_leaders_signed_propose_is_its_vote_in_the_certificate() {
    let mut s = shields(3, true);
    lead(&mut s);
    let p = s[0]
        .outgoing(Output::Broadcast {
            msg: propose(0, "x"),
        })
        .remove(0);
    let echo = s[1].incoming(p.clone()).send.remove(0);
    s[2].incoming(p);
    s[2].incoming(echo);
    let accept = send(
        &mut s[2],
        0,
        Message::Accept {
            pos: 0,
            ballot: Ballot::new(1, 0),
            value: "x".into(),
        },
    );
    s[0].incoming(accept);
    let c = s[0]
        .outgoing(Output::Broadcast {
            msg: commit(0, "x"),
        })
        .remove(0);
    let Body::Certified { accepts, .. } = &c.body else {
        panic!("certified: {c:?}")
    };
    assert_eq!(c.sig, None, "a certificate that holds needs no signature");
    let votes: Vec<(NodeId, &str)> = accepts.iter().map(|a| (a.from, a.msg.kind())).collect();
    assert_eq!(
        votes,
        vec![(2, "Accept"), (0, "Propose")],
        "no Accept signed for it"
    );
    assert_eq!(s[1].incoming(c.clone()).deliver, vec![(0, commit(0, "x"))]);
    // Only where a Propose is its ballot's leader's, and only in classic
    // mode: BFT's rule counts Accepts alone.
    let keys = s[1].keys().clone();
    let count = |a: &[Signed], leader_votes| {
        certificate::signers(0, &"x".into(), a, &keys, &BTreeSet::new(), leader_votes)
    };
    assert_eq!((count(accepts, true), count(accepts, false)), (2, 1));
    let theirs = Identity::from_seed(9, 1).sign_message(1, propose(0, "x"));
    assert_eq!(
        count(&[accepts[0].clone(), theirs], true),
        1,
        "node 1 does not own 1.0"
    );
}

/// Node 0 prepares ballot 1.0 and node 1's promise reports 'w' accepted at
/// position 0: a Propose of anything else there ignores it.
fn reported_w() -> Vec<Shield> {
    let mut s = shields(3, true);
    let ballot = Ballot::new(1, 0);
    s[0].outgoing(Output::Broadcast {
        msg: Message::Prepare { pos: 0, ballot },
    });
    let report = Message::Prepared {
        pos: 0,
        ballot,
        accepted: vec![(0, Ballot::new(0, 1), "w".into())],
    };
    let p = send(&mut s[1], 0, report);
    s[0].incoming(p);
    s
}

#[test]
fn a_body_that_vouches_for_itself_needs_its_packet_signature_only_when_refused() {
    let mut s = reported_w();
    let spoil = |mut p: Packet| {
        let sig = p.sig.as_mut().expect("signed");
        sig[9] ^= 1;
        p
    };
    // The Propose its reports call for: the leader's shield does not sign
    // the packet, and under a spoilt signature it passes just the same:
    // the leader's signed Propose inside is what counts, and it holds.
    let good = send(&mut s[0], 2, propose(0, "w"));
    assert_eq!(good.sig, None, "nothing to add to what it carries");
    let spoilt = spoil(s[0].packet(Some(2), good.body.clone()));
    for (p, echoes) in [(good, 1), (spoilt, 0)] {
        let v = s[2].incoming(p);
        assert!(v.events.is_empty(), "let through: {:?}", v.events);
        assert_eq!(v.send.len(), echoes, "echoed the first time");
    }
    // One that ignores them is signed, as evidence must be; refused, and
    // without its packet signature it proves nothing against the leader.
    let bad = send(&mut s[0], 1, propose(0, "u"));
    assert!(bad.sig.is_some());
    let v = s[1].incoming(spoil(bad.clone()));
    assert!(v.deliver.is_empty() && v.send.is_empty());
    assert!(s[1].evidence().is_empty(), "nobody flagged");
    s[1].incoming(bad);
    assert_eq!(s[1].evidence().get(&0), Some(&Evidence::IgnoredPrepared));
    // A certificate that holds carries its Commit whoever signed the
    // packet; a short one is refused and, unsigned, is no evidence.
    let mut s = shields(3, true);
    let cert = |accepts| Body::Certified {
        commit: commit(0, "x"),
        accepts,
    };
    let holds = cert(vec![accept_at(1, 0, "x"), accept_at(2, 0, "x")]);
    let p = spoil(s[1].packet(Some(0), holds));
    assert_eq!(s[0].incoming(p).deliver, vec![(1, commit(0, "x"))]);
    let short = s[1].packet(Some(2), cert(vec![accept_at(1, 0, "x")]));
    assert!(s[2].incoming(spoil(short.clone())).deliver.is_empty());
    assert!(s[2].evidence().is_empty(), "nobody flagged");
    s[2].incoming(short);
    assert_eq!(s[2].evidence().get(&1), Some(&Evidence::BadCertificate));
}

#[test]
fn an_equivocating_leader_is_convicted_by_the_echo() {
    let mut s = shields(3, true);
    lead(&mut s);
    let to1 = send(&mut s[0], 1, propose(0, "a"));
    let to2 = send(&mut s[0], 2, propose(0, "b"));
    let v1 = s[1].incoming(to1);
    assert!(v1.deliver.is_empty(), "held until the echoes are in");
    let echo = v1.send.into_iter().next().expect("node 1 echoes");
    let v2 = s[2].incoming(to2);
    assert!(v2.deliver.is_empty());
    let v = s[2].incoming(echo);
    assert!(
        v.deliver.is_empty(),
        "the conflicting Propose never reaches the core"
    );
    assert!(s[2].flagged().contains(&0));
    let evidence = v
        .send
        .into_iter()
        .find(|p| matches!(&p.body, Body::Accuse(q) if matches!(**q, Proof::Equivocation(..))))
        .expect("evidence forwarded");
    // Node 1 checks the evidence itself and flags the leader too.
    s[1].incoming(evidence);
    assert!(s[1].flagged().contains(&0));
}

#[test]
fn a_propose_ignoring_its_reports_is_refused_flagged_and_proven_but_never_forged() {
    let mut s = reported_w();
    // Node 0's core ignores the report and proposes 'u'.
    let bad = send(&mut s[0], 2, propose(0, "u"));
    assert!(matches!(bad.body, Body::Justified(_)));
    let v = s[2].incoming(bad.clone());
    assert!(v.deliver.is_empty(), "refused");
    assert_eq!(s[2].evidence().get(&0), Some(&Evidence::IgnoredPrepared));
    let evidence = v
        .send
        .into_iter()
        .find(
            |p| matches!(&p.body, Body::Accuse(q) if matches!(**q, Proof::IgnoredPrepared { .. })),
        )
        .expect("forwarded");
    s[1].incoming(evidence);
    assert!(s[1].flagged().contains(&0), "node 1 re-checked it");
    // Node 2 forges an accusation against honest node 1: a justification
    // signed by itself in node 1's name does not verify.
    let mut s = shields(3, true);
    let Body::Justified(j) = bad.body else {
        unreachable!()
    };
    let sig = Identity::from_seed(9, 2).sign(0, &Body::Justified(j.clone()));
    let forged = s[2].packet(
        None,
        Body::Accuse(Box::new(Proof::IgnoredPrepared {
            justification: *j,
            sig,
        })),
    );
    let v = s[1].incoming(forged);
    assert!(s[1].flagged().is_empty());
    assert!(v.send.is_empty());
    // And a bare Propose is refused without flagging anyone.
    let p = s[0].packet(Some(1), Body::Paxos(propose(0, "x")));
    assert!(s[1].incoming(p).deliver.is_empty());
    assert!(s[1].flagged().is_empty());
}

#[test]
fn an_accusation_without_valid_evidence_changes_nothing() {
    let mut s = shields(3, true);
    // Node 2 forges "evidence" against honest node 0: the second Propose
    // is signed by node 2, not node 0.
    let a = Identity::from_seed(9, 0).sign_message(0, propose(0, "a"));
    let mut b = Identity::from_seed(9, 2).sign_message(2, propose(0, "b"));
    b.from = 0;
    let p = s[2].packet(None, Body::Accuse(Box::new(Proof::Equivocation(a, b))));
    let v = s[1].incoming(p);
    assert!(s[1].flagged().is_empty());
    assert!(v.send.is_empty());
}

fn prepare(round: u64, node: NodeId) -> Message {
    Message::Prepare {
        pos: 0,
        ballot: Ballot::new(round, node),
    }
}

#[test]
fn an_out_of_bound_ballot_is_dropped_flagged_and_proven_to_the_others() {
    let mut s = shields(3, true);
    let p = s[2].outgoing(Output::Broadcast {
        msg: prepare(u64::MAX, 2),
    });
    let v = s[0].incoming(p[0].clone());
    assert!(v.deliver.is_empty(), "the core never sees it");
    assert!(s[0].flagged().contains(&2));
    let evidence = v
        .send
        .into_iter()
        .find(|p| matches!(&p.body, Body::Accuse(q) if matches!(**q, Proof::Overreach(_))))
        .expect("the signed Prepare is forwarded");
    // Node 1 re-checks it itself (signature, and out of bounds for it).
    let v1 = s[1].incoming(evidence);
    assert!(s[1].flagged().contains(&2));
    assert!(v1.deliver.is_empty());
    // Once flagged, nothing of node 2 gets through, nor its own Prepare.
    assert!(s[1].incoming(p[0].clone()).deliver.is_empty());
}

#[test]
fn honest_climbing_through_the_shields_never_trips_the_bound() {
    let mut s = shields(3, true);
    // Proposers preempting each other in turn, one round at a time, and
    // a SAFETY-style jump of 100 now and then.
    let mut round = 0u64;
    for i in 0..3000u64 {
        round += if i % 500 == 499 { 100 } else { 1 };
        let from = (i % 3) as usize;
        // Honest proposers wait for a competitor's promise to age (the
        // LIVENESS defence's rule), so let the ticks pass.
        for x in s.iter_mut() {
            for _ in 0..2 * x.cfg.grace_ticks {
                x.tick();
            }
        }
        let packets = s[from].outgoing(Output::Broadcast {
            msg: prepare(round, from as NodeId),
        });
        for to in (0..3).filter(|&t| t != from) {
            let v = s[to].incoming(packets[0].clone());
            assert_eq!(v.deliver.len(), 1, "round {round} to {to}: {v:?}");
        }
    }
    assert!(s.iter().all(|x| x.flagged().is_empty()));
}

#[test]
fn an_overreach_accusation_against_an_honest_node_is_ignored() {
    let mut s = shields(3, true);
    // Node 2 claims node 0's in-bound Prepare is an overreach.
    let honest = Identity::from_seed(9, 0).sign_message(0, prepare(5, 0));
    let p = s[2].packet(None, Body::Accuse(Box::new(Proof::Overreach(honest))));
    let v = s[1].incoming(p);
    assert!(s[1].flagged().is_empty());
    assert!(v.send.is_empty());
    // Or forges an out-of-bound one in node 0's name, signed by itself.
    let mut forged = Identity::from_seed(9, 2).sign_message(2, prepare(u64::MAX, 0));
    forged.from = 0;
    let p = s[2].packet(None, Body::Accuse(Box::new(Proof::Overreach(forged))));
    s[1].incoming(p);
    assert!(s[1].flagged().is_empty());
}

#[test]
fn the_bound_is_configurable() {
    let ids: Vec<Identity> = (0..2).map(|i| Identity::from_seed(9, i)).collect();
    let cfg = ShieldConfig {
        max_jump: 10,
        ..ShieldConfig::new(2, true)
    };
    let mut s = Shield::new(0, cfg, Some(ids[0].clone()));
    s.add_peer_key(1, ids[1].public());
    let mut peer = Shield::new(1, ShieldConfig::new(2, true), Some(ids[1].clone()));
    let ok = peer.outgoing(Output::Broadcast {
        msg: prepare(10, 1),
    });
    assert_eq!(s.incoming(ok[0].clone()).deliver.len(), 1);
    let far = peer.outgoing(Output::Broadcast {
        msg: prepare(21, 1),
    });
    assert!(s.incoming(far[0].clone()).deliver.is_empty());
    assert!(s.flagged().contains(&1));
}

fn bft_shields() -> Vec<Shield> {
    let ids: Vec<Identity> = (0..4).map(|i| Identity::from_seed(9, i)).collect();
    let cfg = ShieldConfig {
        quorum: 3,
        bft: true,
        ..ShieldConfig::new(4, true)
    };
    (0..4)
        .map(|i| {
            let mut s = Shield::new(i, cfg.clone(), Some(ids[i as usize].clone()));
            for (j, id) in ids.iter().enumerate() {
                s.add_peer_key(j as NodeId, id.public());
            }
            s
        })
        .collect()
}

#[test]
fn in_bft_mode_a_propose_without_its_justification_never_reaches_a_core() {
    let mut s = bft_shields();
    // A bare Propose (a Byzantine leader skipping its justification).
    let bare = s[0].packet(Some(1), Body::Paxos(propose(0, "x")));
    let v = s[1].incoming(bare);
    assert!(v.deliver.is_empty() && v.send.is_empty(), "{v:?}");
    // A justified one with too few Prepareds: dropped, nobody flagged.
    let j = bft::BftJustified {
        propose: Identity::from_seed(9, 0).sign_message(0, propose(0, "x")),
        justification: Vec::new(),
    };
    let p = s[0].packet(Some(1), Body::BftPropose(Box::new(j)));
    let v = s[1].incoming(p);
    assert!(v.deliver.is_empty() && v.send.is_empty(), "{v:?}");
    assert!(s[1].flagged().is_empty());
}

/// BFT: node 0 prepares ballot 1.0 at pos 0, nodes 0, 1, 2 answer with
/// nothing accepted, and node 0 proposes 'x' to node 1: its packets.
fn bft_propose_x(s: &mut [Shield]) -> Vec<Packet> {
    let b = Ballot::new(1, 0);
    let prepare = s[0].outgoing(Output::Broadcast {
        msg: Message::Prepare { pos: 0, ballot: b },
    });
    assert_eq!(prepare.len(), 1);
    for i in 0..3u32 {
        let answer = Output::Send {
            to: 0,
            msg: Message::Prepared {
                pos: 0,
                ballot: b,
                accepted: vec![],
            },
        };
        let packets = s[i as usize].outgoing(answer);
        if i == 0 {
            assert!(packets.is_empty(), "its own Prepared loops back");
            let v = s[0].take_local();
            assert_eq!(v.deliver.len(), 1);
        } else {
            let v = s[0].incoming(packets[0].clone());
            assert_eq!(v.deliver.len(), 1);
        }
    }
    s[0].outgoing(Output::Send {
        to: 1,
        msg: Message::Propose {
            pos: 0,
            ballot: b,
            value: "x".into(),
        },
    })
}

#[test]
fn in_bft_mode_a_justified_propose_waits_for_a_quorum_of_vouchers() {
    let mut s = bft_shields();
    let out = bft_propose_x(&mut s);
    let Body::BftPropose(j) = &out[0].body else {
        panic!("{out:?}")
    };
    assert_eq!(j.justification.len(), 3);
    // Node 1 checks it, echoes, and holds it: leader + itself = 2 < 3.
    let v = s[1].incoming(out[0].clone());
    assert!(v.deliver.is_empty(), "held for the echo quorum");
    assert!(v.send.iter().any(|p| matches!(p.body, Body::Echo(_))));
    // Node 2's echo makes three vouchers: released, no timeout needed.
    let v2 = s[2].incoming(out[0].clone());
    let echo = v2
        .send
        .into_iter()
        .find(|p| matches!(p.body, Body::Echo(_)))
        .expect("node 2 echoes");
    let v = s[1].incoming(echo);
    assert_eq!(v.deliver.len(), 1, "{v:?}");
    // An accusation that this honest Propose ignored the Prepareds is
    // re-checked and flags nobody.
    let accusation = s[3].packet(
        None,
        Body::Accuse(Box::new(Proof::BftIgnoredPrepared(*j.clone()))),
    );
    let v = s[2].incoming(accusation);
    assert!(s[2].flagged().is_empty() && v.send.is_empty(), "{v:?}");
}

/// BFT: the prepared certificate of a value a node accepted is part of its
/// durable state, so a restarted node still proves it in its Prepareds.
#[test]
fn in_bft_mode_a_restarted_node_still_proves_what_it_accepted() {
    let mut s = bft_shields();
    let out = bft_propose_x(&mut s);
    s[1].incoming(out[0].clone());
    let echo = s[2]
        .incoming(out[0].clone())
        .send
        .into_iter()
        .find(|p| matches!(p.body, Body::Echo(_)))
        .expect("node 2 echoes");
    assert_eq!(s[1].incoming(echo).deliver.len(), 1, "released to the core");
    // Node 1's core accepts: its Accept goes out (to the leader).
    let b = Ballot::new(1, 0);
    s[1].outgoing(Output::Send {
        to: 0,
        msg: Message::Accept {
            pos: 0,
            ballot: b,
            value: "x".into(),
        },
    });
    // Node 1 restarts, then reports 'x' in a Prepared for a higher ballot.
    let report = Output::Send {
        to: 3,
        msg: Message::Prepared {
            pos: 0,
            ballot: Ballot::new(2, 3),
            accepted: vec![(0, b, "x".into())],
        },
    };
    let proofs = |shield: &mut Shield| match &shield.outgoing(report.clone())[0].body {
        Body::BftPrepared(p) => p.proofs.clone(),
        other => panic!("{other:?}"),
    };
    let mut forgetful = bft_shields().remove(1);
    assert_eq!(
        proofs(&mut forgetful),
        vec![None],
        "the echoes were volatile"
    );
    let mut restarted = bft_shields().remove(1);
    restarted.restore(s[1].durable(), 0);
    assert!(
        matches!(
            proofs(&mut restarted)[..],
            [Some(bft::ValueProof::Prepared { .. })]
        ),
        "the kept certificate proves the report"
    );
}

/// Node `i`'s signed Accept of 'x' at pos 0, ballot 1.0.
fn signed_accept(i: NodeId) -> Signed {
    Identity::from_seed(9, i).sign_message(
        i,
        Message::Accept {
            pos: 0,
            ballot: Ballot::new(1, 0),
            value: "x".into(),
        },
    )
}

#[test]
fn a_commit_without_a_quorum_certificate_is_refused() {
    let mut s = shields(3, true);
    let commit = Message::Commit {
        pos: 0,
        value: "x".into(),
    };
    // Bare Commit: refused.
    let p = send(&mut s[0], 1, commit.clone());
    assert!(s[1].incoming(p).deliver.is_empty());
    // Certificate with only the leader's own Accept: refused.
    let own = signed_accept(0);
    let p = s[0].packet(
        Some(1),
        Body::Certified {
            commit: commit.clone(),
            accepts: vec![own.clone(), own.clone()],
        },
    );
    assert!(
        s[1].incoming(p).deliver.is_empty(),
        "one signer counted twice"
    );
    // ... and signed by node 0, that is proof of a premature commit.
    assert_eq!(s[1].evidence().get(&0), Some(&Evidence::BadCertificate));
    // With node 2's signed Accept too: a quorum of 2, applied (by node
    // 2, which has not seen the short one).
    let other = signed_accept(2);
    let p = s[0].packet(
        Some(2),
        Body::Certified {
            commit: commit.clone(),
            accepts: vec![own, other],
        },
    );
    assert_eq!(s[2].incoming(p).deliver, vec![(0, commit)]);
}

/// Node 0 caught equivocating at `s[k]`: its two signed Proposes at pos 1.
fn convict_node_0(s: &mut [Shield], k: usize) {
    let key = Identity::from_seed(9, 0);
    let a = key.sign_message(0, propose(1, "a"));
    let b = key.sign_message(0, propose(1, "b"));
    let evidence = s[1].packet(None, Body::Accuse(Box::new(Proof::Equivocation(a, b))));
    s[k].incoming(evidence);
    assert_eq!(s[k].evidence().get(&0), Some(&Evidence::Equivocation));
}

#[test]
fn an_equivocators_accept_counts_in_a_bft_certificate_but_not_a_classic_one() {
    // Classic, n = 3: the equivocator's Accept plus one honest one is the
    // quorum of 2 it could assemble twice, for two values. Refused.
    let mut s = shields(3, true);
    convict_node_0(&mut s, 2);
    let p = s[1].packet(
        Some(2),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: vec![signed_accept(0), signed_accept(1)],
        },
    );
    assert!(s[2].incoming(p).deliver.is_empty());
    // BFT, n = 4: 2f+1 = 3 signers include f+1 = 2 honest ones, and honest
    // nodes accept only a Propose a quorum echoed, so this certificate is
    // the only one possible at its (pos, ballot). A node that never saw
    // enough honest Accepts (the others decided without it) must be able to
    // learn from it: it is applied.
    let mut s = bft_shields();
    convict_node_0(&mut s, 3);
    let accepts = vec![signed_accept(0), signed_accept(1), signed_accept(2)];
    let p = s[1].packet(
        Some(3),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: accepts.clone(),
        },
    );
    assert_eq!(s[3].incoming(p).deliver, vec![(1, commit(0, "x"))]);
    // Two signers are still too few, whoever they are.
    let mut s = bft_shields();
    let p = s[1].packet(
        Some(3),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: accepts[1..].to_vec(),
        },
    );
    assert!(s[3].incoming(p).deliver.is_empty());
}

fn commit(pos: Pos, value: &str) -> Message {
    Message::Commit {
        pos,
        value: value.into(),
    }
}

fn accept_at(i: NodeId, pos: Pos, value: &str) -> Signed {
    Identity::from_seed(9, i).sign_message(
        i,
        Message::Accept {
            pos,
            ballot: Ballot::new(1, 0),
            value: value.into(),
        },
    )
}

fn evidence_in(v: &Verdict) -> Option<Packet> {
    v.send
        .iter()
        .find(|p| {
            matches!(
                &p.body,
                Body::Accuse(q) if matches!(**q, Proof::BadCertificate { .. } | Proof::Forgery { .. })
            )
        })
        .cloned()
}

#[test]
fn a_premature_commit_with_a_short_certificate_is_proof_against_its_sender() {
    let mut s = shields(3, true);
    // Node 0 learns pos 0 properly, so it holds a real certificate to pad with.
    let real = s[1].packet(
        Some(0),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: vec![accept_at(1, 0, "x"), accept_at(2, 0, "x")],
        },
    );
    assert_eq!(s[0].incoming(real).deliver.len(), 1);
    let p = s[0]
        .outgoing(Output::Forge {
            to: 1,
            msg: commit(1, "y"),
            how: Box::new(Forgery::ShortCertificate {
                ballot: Ballot::new(5, 0),
            }),
        })
        .remove(0);
    let Body::Certified { accepts, .. } = &p.body else {
        panic!("a certificate is attached: {p:?}")
    };
    assert_eq!(
        accepts.len(),
        4,
        "own Accept twice, two of another position"
    );
    let v = s[1].incoming(p);
    assert!(v.deliver.is_empty(), "refused");
    assert_eq!(s[1].evidence().get(&0), Some(&Evidence::BadCertificate));
    let proof = evidence_in(&v).expect("forwarded");
    // Node 2 re-checks the signed Commit itself.
    s[2].incoming(proof);
    assert_eq!(s[2].evidence().get(&0), Some(&Evidence::BadCertificate));
}

#[test]
fn an_honest_or_bare_commit_is_never_evidence() {
    let mut s = shields(3, true);
    // Node 1 has convicted node 2 of equivocating; a certificate with
    // node 2's Accept no longer convinces it, but by signatures it
    // holds: no accusation.
    let two = Identity::from_seed(9, 2);
    let evidence = s[0].packet(
        None,
        Body::Accuse(Box::new(Proof::Equivocation(
            two.sign_message(2, propose(0, "a")),
            two.sign_message(2, propose(0, "b")),
        ))),
    );
    s[1].incoming(evidence);
    assert_eq!(s[1].evidence().get(&2), Some(&Evidence::Equivocation));
    let honest = s[0].packet(
        Some(1),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: vec![accept_at(0, 0, "x"), accept_at(2, 0, "x")],
        },
    );
    let v = s[1].incoming(honest);
    assert!(v.deliver.is_empty());
    assert!(!s[1].flagged().contains(&0) && evidence_in(&v).is_none());
    // A bare Commit (a restarted node lost its certificates): refused only.
    let bare = send(&mut s[0], 1, commit(0, "x"));
    let v = s[1].incoming(bare);
    assert!(v.deliver.is_empty() && !s[1].flagged().contains(&0));
}

#[test]
fn accepts_by_unknown_signers_are_not_evidence() {
    let ids: Vec<Identity> = (0..3).map(|i| Identity::from_seed(9, i)).collect();
    // Node 1 knows node 0's key only.
    let mut s1 = Shield::new(1, ShieldConfig::new(3, true), Some(ids[1].clone()));
    s1.add_peer_key(0, ids[0].public());
    let s0 = Shield::new(0, ShieldConfig::new(3, true), Some(ids[0].clone()));
    let p = s0.packet(
        Some(1),
        Body::Certified {
            commit: commit(0, "x"),
            accepts: vec![accept_at(0, 0, "x"), accept_at(2, 0, "x")],
        },
    );
    let v = s1.incoming(p);
    assert!(v.deliver.is_empty(), "cannot check node 2's Accept");
    assert!(s1.flagged().is_empty(), "but cannot call it a lie either");
}

#[test]
fn a_forged_bad_certificate_accusation_flags_nobody() {
    let mut s = shields(3, true);
    // Node 2 accuses node 0 of an honest, full certificate.
    let accepts = vec![accept_at(0, 0, "x"), accept_at(1, 0, "x")];
    let certified = Body::Certified {
        commit: commit(0, "x"),
        accepts: accepts.clone(),
    };
    let sig = Identity::from_seed(9, 0).sign(0, &certified);
    let p = s[2].packet(
        None,
        Body::Accuse(Box::new(Proof::BadCertificate {
            from: 0,
            commit: commit(0, "x"),
            accepts,
            sig,
        })),
    );
    assert!(s[1].incoming(p).send.is_empty());
    // Or of a short certificate node 2 signed itself.
    let short = vec![accept_at(0, 0, "x")];
    let body = Body::Certified {
        commit: commit(0, "x"),
        accepts: short.clone(),
    };
    let sig = Identity::from_seed(9, 2).sign(0, &body);
    let p = s[2].packet(
        None,
        Body::Accuse(Box::new(Proof::BadCertificate {
            from: 0,
            commit: commit(0, "x"),
            accepts: short,
            sig,
        })),
    );
    s[1].incoming(p);
    assert!(s[1].flagged().is_empty());
}

#[test]
fn a_packet_in_another_nodes_name_convicts_its_real_signer() {
    let mut s = shields(3, true);
    let forged = s[2]
        .outgoing(Output::Forge {
            to: 1,
            msg: commit(0, "mine"),
            how: Box::new(Forgery::As(0)),
        })
        .remove(0);
    assert_eq!(forged.from, 0, "claims node 0");
    let v = s[1].incoming(forged);
    assert!(v.deliver.is_empty(), "does not verify under node 0's key");
    assert_eq!(s[1].evidence().get(&2), Some(&Evidence::Forgery));
    assert!(!s[1].flagged().contains(&0), "the claimed node is innocent");
    let proof = evidence_in(&v).expect("forwarded");
    s[0].incoming(proof);
    assert_eq!(s[0].evidence().get(&2), Some(&Evidence::Forgery));
    // A message signed by the key of the node it claims is accepted.
    let prepare = Message::Prepare {
        pos: 0,
        ballot: Ballot::new(1, 0),
    };
    let honest = send(&mut s[0], 1, prepare);
    let v = s[1].incoming(honest);
    assert!(v.events.is_empty() && v.deliver.len() == 1, "{v:?}");
}

#[test]
fn a_forged_forgery_accusation_flags_nobody() {
    let mut s = shields(3, true);
    // Node 2 claims node 0 signed as node 1, with a signature of its own.
    let body = crate::wire::body_bytes(&Body::Paxos(propose(0, "x")));
    let sig = Identity::from_seed(9, 2).sign(1, &Body::Paxos(propose(0, "x")));
    let p = s[2].packet(
        None,
        Body::Accuse(Box::new(Proof::Forgery {
            signer: 0,
            claimed: 1,
            body: body.clone(),
            sig,
        })),
    );
    assert!(s[1].incoming(p).send.is_empty());
    // Or that node 0 "forged" its own name with its own signature.
    let sig = Identity::from_seed(9, 0).sign(0, &Body::Paxos(propose(0, "x")));
    let p = s[2].packet(
        None,
        Body::Accuse(Box::new(Proof::Forgery {
            signer: 0,
            claimed: 0,
            body,
            sig,
        })),
    );
    s[1].incoming(p);
    assert!(s[1].flagged().is_empty());
}

#[test]
fn a_re_bound_replay_is_dropped_and_a_plain_one_is_inert() {
    let ids: Vec<Identity> = (0..3).map(|i| Identity::from_seed(9, i)).collect();
    let mut s = shields(3, true);
    let cfg = ShieldConfig {
        record: true,
        ..ShieldConfig::new(3, true)
    };
    let mut replayer = Shield::new(2, cfg, Some(ids[2].clone()));
    for (j, id) in ids.iter().enumerate() {
        replayer.add_peer_key(j as NodeId, id.public());
    }
    let original = commit(0, "x");
    let certified = s[0].packet(
        Some(2),
        Body::Certified {
            commit: original.clone(),
            accepts: vec![accept_at(0, 0, "x"), accept_at(1, 0, "x")],
        },
    );
    assert_eq!(replayer.incoming(certified).deliver.len(), 1);
    let replay = |r: &mut Shield, msg: Message| {
        r.outgoing(Output::Forge {
            to: 1,
            msg,
            how: Box::new(Forgery::Replay {
                from: 0,
                original: original.clone(),
            }),
        })
        .remove(0)
    };
    let plain = replay(&mut replayer, original.clone());
    assert_eq!(s[1].incoming(plain).deliver, vec![(0, original.clone())]);
    let rebound = replay(&mut replayer, commit(1, "x"));
    let v = s[1].incoming(rebound);
    assert!(v.deliver.is_empty(), "node 0 never signed pos 1");
    assert!(s[1].flagged().is_empty(), "and nobody can be blamed");
    assert!(v.send.is_empty());
}

#[test]
fn a_node_pushed_ahead_by_a_byzantine_peer_justifies_its_climb_and_is_not_framed() {
    let mut s = shields(3, true);
    // Node 2 feeds node 0 alone in-bound jumps: node 0's view climbs to 2700.
    for round in [900, 1800, 2700] {
        let p = s[2].outgoing(Output::Send {
            to: 0,
            msg: prepare(round, 2),
        });
        assert_eq!(s[0].incoming(p[0].clone()).deliver.len(), 1, "{round}");
    }
    // Node 0's next Prepare is 2701, far out of node 1's view (0)...
    let climb = s[0].outgoing(Output::Broadcast {
        msg: prepare(2701, 0),
    });
    let Body::Climb { witness, .. } = &climb[0].body else {
        panic!("{climb:?}");
    };
    assert_eq!(witness.from, 2, "it climbed over node 2's signed round");
    // ...but justified: node 1 lets it through and flags nobody.
    let v = s[1].incoming(climb[0].clone());
    assert_eq!(v.deliver, vec![(0, prepare(2701, 0))]);
    assert!(s[1].flagged().is_empty());
    // A climb justified by the climber's own message is not justified.
    let own = Identity::from_seed(9, 2).sign_message(2, prepare(5000, 2));
    let p = s[2].packet(
        None,
        Body::Climb {
            prepare: prepare(5900, 2),
            witness: Box::new(own),
        },
    );
    assert!(s[1].incoming(p).deliver.is_empty());
    // And node 2's own out-of-bound Prepare still convicts it.
    let far = s[2].outgoing(Output::Broadcast {
        msg: prepare(9000, 2),
    });
    s[1].incoming(far[0].clone());
    assert_eq!(s[1].evidence().get(&2), Some(&Evidence::Overreach));
}
