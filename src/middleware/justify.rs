//! The IGNORE_PREPARED defence: a Propose carries the signed Prepared quorum
//! that justifies its value, and every acceptor recomputes the value from it.
//!
//! Paxos's rule for a leader of ballot `b` at position `p`: propose the
//! highest-ballot value its Prepared quorum reported at `p`, and any value
//! only where none was. A leader's shield keeps the signed `Prepared`s its
//! core counted for `b` and sends each `Propose(p, b, v)` as a
//! [`Justification`]: the signed Propose, those Prepareds, and — since in
//! classic mode the leader's own promise is internal to its core and never
//! a message — `own`, the signed Propose the leader itself accepted last at
//! `p` (the shield saw it arrive and saw its core's `Accept` go out, or
//! signed it itself as that Propose's leader). An acceptor recomputes the
//! value from the reports at `p` (plus `own`, counted only with a valid
//! signature of the leader of its ballot, and only below `b`) and refuses
//! a Propose whose value is not the highest-ballot report.
//!
//! A refused justification is self-verifying evidence: a leader's shield
//! checks its own justification as acceptors will ([`Justify::check_own`])
//! and signs the whole packet, Prepareds included, when it does not hold,
//! so anyone holding the keys can recompute the value and see it differs.
//! One that holds goes unsigned: the signatures inside are all an acceptor
//! acts on ([`crate::wire::Body::vouches_for_itself`]). It is forwarded as
//! [`crate::wire::proofs::Proof::IgnoredPrepared`]; every receiver re-checks it, and an
//! accusation that does not verify flags nobody. Choosing which Prepareds
//! to attach cannot frame an honest leader either: the shield attaches the
//! very ones its core took its value from (the first `needed` distinct
//! answers to its current Prepare, in the order the core got them).
//!
//! How strong this is, honestly: it is a **guarantee against a leader whose
//! shield is honest** (the attackers here are cores: they can ignore what
//! the middleware hands them, not forge what it signs) and **detection**
//! against a fully Byzantine leader in classic mode. Such a leader can
//! (a) pass off an older Propose it accepted as `own`, or fabricate its own
//! signed Propose at a ballot between the reports and `b` (it leads that
//! ballot too), and so justify any value; (b) omit `own` when it accepted a
//! value nobody in its quorum reports. With `n = 2f+1` the leader is part
//! of every quorum it counts, so its own word is one of the reports and
//! nothing checks it. BFT quorums (`needed = 2f+1` signed Prepareds, the
//! leader's own among them as a message, `implicit_leader = false`) remove
//! the leader's unchecked vote; the quorum size is a parameter for that.

use crate::auth::{Keyring, Signed};
use crate::core::{Ballot, Message, Pos, Value};
pub use crate::wire::proofs::Justification;
use std::collections::BTreeMap;

/// Why a justification was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a justification at all (bad signatures, too few Prepareds):
    /// dropped, nobody flagged — it proves nothing about anyone.
    Malformed(String),
    /// A well-formed justification whose reports call for another value:
    /// the leader ignored them. Evidence.
    Contradicts { required: Value, reason: String },
}

/// Signed Proposes remembered, at most.
const MEMORY: usize = 4096;

/// The shield's state for justifying (as a leader) and checking (as an
/// acceptor) Proposes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Justify {
    /// Distinct signed Prepareds a justification needs.
    needed: usize,
    /// The leader's own promise counts without a message (classic mode):
    /// then the Prepareds must come from others.
    implicit_leader: bool,
    /// Our core's current Prepare.
    current: Option<(Pos, Ballot)>,
    /// The Prepareds our core counted, per ballot of ours: the Prepare's
    /// position and the first `needed` distinct answers.
    groups: BTreeMap<Ballot, (Pos, Vec<Signed>)>,
    /// Signed Proposes that reached us, by (position, ballot, value).
    seen: BTreeMap<(Pos, Ballot, Value), Signed>,
    /// The signed Proposes our core accepted, per position and ballot (the
    /// few highest): a Propose in ballot `b` shows the highest below `b`,
    /// since our own Propose in `b` is accepted too.
    accepted: BTreeMap<Pos, BTreeMap<Ballot, Signed>>,
    /// Entries of `accepted` added since [`Justify::take_fresh`], when a
    /// driver persists them (`None`: nobody does, keep nothing).
    fresh: Option<Vec<(Pos, Ballot)>>,
}

impl Justify {
    /// `needed` signed Prepareds per justification; with `implicit_leader`
    /// (classic mode, `needed = quorum - 1`) they come from nodes other
    /// than the leader.
    pub fn new(needed: usize, implicit_leader: bool) -> Self {
        Justify {
            needed,
            implicit_leader,
            ..Default::default()
        }
    }

    // ---- the leader's side ----

    /// Our core sent `Prepare(pos, ballot)`: its answers are counted anew
    /// (a re-sent Prepare of the same ballot and position keeps them).
    pub fn sent_prepare(&mut self, pos: Pos, ballot: Ballot) {
        self.current = Some((pos, ballot));
        let fresh = self.groups.get(&ballot).is_none_or(|(p, _)| *p != pos);
        if fresh {
            self.groups.insert(ballot, (pos, Vec::new()));
            while self.groups.len() > 8 {
                self.groups.pop_first();
            }
        }
    }

    /// A verified signed Prepared for our core (a peer's, or ours in
    /// loopback mode): kept if it answers the current Prepare and the core
    /// still counts answers.
    pub fn got_prepared(&mut self, s: &Signed) {
        let Message::Prepared { pos, ballot, .. } = &s.msg else {
            return;
        };
        if self.current != Some((*pos, *ballot)) {
            return;
        }
        let needed = self.needed;
        if let Some((_, group)) = self.groups.get_mut(ballot) {
            if group.len() < needed && group.iter().all(|g| g.from != s.from) {
                group.push(s.clone());
            }
        }
    }

    /// A verified signed Propose that reached us.
    pub fn saw_propose(&mut self, s: &Signed) {
        if let Message::Propose { pos, ballot, value } = &s.msg {
            if self.seen.len() >= MEMORY {
                self.seen.pop_first();
            }
            self.seen.insert((*pos, *ballot, value.clone()), s.clone());
        }
    }

    /// Our core accepted `value` at `pos` in `ballot` (its Accept goes out).
    pub fn sent_accept(&mut self, pos: Pos, ballot: Ballot, value: &Value) {
        if let Some(s) = self.seen.get(&(pos, ballot, value.clone())).cloned() {
            self.keep_accepted(pos, s);
        }
    }

    /// Our own signed Propose: our core accepts it too.
    pub fn sent_propose(&mut self, s: &Signed) {
        if let Message::Propose { pos, .. } = &s.msg {
            self.keep_accepted(*pos, s.clone());
        }
    }

    /// The signed Propose our core accepted at `pos` in `ballot`, if kept.
    pub fn accepted_at(&self, pos: Pos, ballot: Ballot) -> Option<&Signed> {
        self.accepted.get(&pos)?.get(&ballot)
    }

    fn keep_accepted(&mut self, pos: Pos, s: Signed) {
        let Some(ballot) = s.msg.ballot() else {
            return;
        };
        let mine = self.accepted.entry(pos).or_default();
        mine.insert(ballot, s);
        if let Some(fresh) = self.fresh.as_mut() {
            fresh.push((pos, ballot));
        }
        while mine.len() > 4 {
            mine.pop_first();
        }
        while self.accepted.len() > MEMORY {
            self.accepted.pop_first();
        }
    }

    /// `pos` is decided: the Proposes others sent there need no keeping.
    /// What our core accepted there is kept (up to `MEMORY` positions):
    /// a core that cuts in at a decided position must still show it, or
    /// its shield would let it propose there as if nothing was accepted.
    pub fn decided(&mut self, pos: Pos) {
        let stale: Vec<_> = self
            .seen
            .range((pos, Ballot::ZERO, Value::default())..)
            .take_while(|((p, _, _), _)| *p == pos)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.seen.remove(&k);
        }
    }

    /// Our signed Propose with what justifies it.
    pub fn justify(&self, propose: Signed) -> Justification {
        let (pos, ballot) = match &propose.msg {
            Message::Propose { pos, ballot, .. } => (*pos, *ballot),
            _ => (0, Ballot::ZERO),
        };
        let prepareds = match self.groups.get(&ballot) {
            Some((from, group)) if *from <= pos => group.clone(),
            _ => Vec::new(),
        };
        let own = self
            .accepted
            .get(&pos)
            .and_then(|a| a.range(..ballot).next_back())
            .map(|(_, s)| s.clone());
        Justification {
            propose,
            prepareds,
            own,
        }
    }

    /// What our shield keeps across a crash: the signed Proposes our core
    /// accepted (it persisted the values; these are their signatures).
    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: Pos) {
        self.seen.retain(|(p, _, _), _| *p >= below);
        self.accepted = self.accepted.split_off(&below);
        if let Some(fresh) = self.fresh.as_mut() {
            fresh.retain(|(p, _)| *p >= below);
        }
    }

    pub fn durable(&self) -> BTreeMap<Pos, BTreeMap<Ballot, Signed>> {
        self.accepted.clone()
    }

    /// From now on, remember what is added for [`Justify::take_fresh`].
    pub fn track(&mut self) {
        self.fresh.get_or_insert_with(Vec::new);
    }

    /// What was accepted since the last call (still kept), for a driver
    /// that persists it.
    /// Whether [`Justify::take_fresh`] has anything to give.
    pub fn has_fresh(&self) -> bool {
        self.fresh.as_ref().is_some_and(|f| !f.is_empty())
    }

    pub fn take_fresh(&mut self) -> BTreeMap<Pos, BTreeMap<Ballot, Signed>> {
        let mut out: BTreeMap<Pos, BTreeMap<Ballot, Signed>> = BTreeMap::new();
        for (pos, ballot) in self.fresh.as_mut().map(std::mem::take).unwrap_or_default() {
            if let Some(s) = self.accepted.get(&pos).and_then(|m| m.get(&ballot)) {
                out.entry(pos).or_default().insert(ballot, s.clone());
            }
        }
        out
    }

    /// Restore [`Justify::durable`] after a restart.
    pub fn restore(&mut self, accepted: BTreeMap<Pos, BTreeMap<Ballot, Signed>>) {
        self.accepted = accepted;
    }

    // ---- the acceptor's side ----

    /// Whether `s` carries a valid signature of its signer (cached).
    pub fn valid(&self, s: &Signed, keys: &Keyring) -> bool {
        // The keyring's cache answers a signature checked before, keyed by
        // signer, message and signature: never by the signature alone,
        // which anyone can copy onto another message.
        keys.verify_signed(s).is_ok()
    }

    /// The valid signed Prepareds of `j` that count for its Propose.
    pub fn counted(&self, j: &Justification, keys: &Keyring) -> Vec<Signed> {
        let Message::Propose { pos, ballot, .. } = &j.propose.msg else {
            return Vec::new();
        };
        let leader = j.propose.from;
        let mut out: Vec<Signed> = Vec::new();
        for s in &j.prepareds {
            let fits = matches!(&s.msg, Message::Prepared { pos: p0, ballot: b, .. } if p0 <= pos && b == ballot);
            if !fits
                || (self.implicit_leader && s.from == leader)
                || out.iter().any(|o| o.from == s.from)
                || !self.valid(s, keys)
            {
                continue;
            }
            out.push(s.clone());
        }
        out
    }

    /// Recompute the value `j`'s Propose may carry and compare.
    pub fn check(&self, j: &Justification, keys: &Keyring) -> Result<(), Refusal> {
        self.check_with(j, keys, self.valid(&j.propose, keys))
    }

    /// [`Justify::check`] of our own justification, as every acceptor will
    /// make it: the same verdict, but our Propose's signature is taken as
    /// valid (we just made it) rather than checked.
    pub fn check_own(&self, j: &Justification, keys: &Keyring) -> Result<(), Refusal> {
        self.check_with(j, keys, true)
    }

    fn check_with(&self, j: &Justification, keys: &Keyring, signed: bool) -> Result<(), Refusal> {
        let Message::Propose { pos, ballot, value } = &j.propose.msg else {
            return Err(Refusal::Malformed("not a Propose".into()));
        };
        let leader = j.propose.from;
        if ballot.node != leader || !signed {
            return Err(Refusal::Malformed(
                "Propose not signed by its ballot's leader".into(),
            ));
        }
        let counted = self.counted(j, keys);
        if counted.len() < self.needed {
            return Err(Refusal::Malformed(format!(
                "{} valid Prepareds for ballot {ballot}, {} needed",
                counted.len(),
                self.needed
            )));
        }
        let mut reports: Vec<(Ballot, Value, String)> = Vec::new();
        for s in &counted {
            if let Message::Prepared { accepted, .. } = &s.msg {
                for (p, b, v) in accepted {
                    if p == pos {
                        reports.push((*b, v.clone(), format!("node {}'s Prepared", s.from)));
                    }
                }
            }
        }
        if let Some(own) = &j.own {
            if let Message::Propose {
                pos: p,
                ballot: b,
                value: v,
            } = &own.msg
            {
                if p == pos && b < ballot && b.node == own.from && self.valid(own, keys) {
                    reports.push((*b, v.clone(), format!("the Propose of node {}", own.from)));
                }
            }
        }
        let Some(top) = reports.iter().map(|(b, _, _)| *b).max() else {
            return Ok(()); // nothing reported: any value may go
        };
        let highest: Vec<&(Ballot, Value, String)> =
            reports.iter().filter(|(b, _, _)| *b == top).collect();
        if highest.iter().any(|(_, v, _)| v == value) {
            return Ok(());
        }
        let (_, required, by) = highest[0];
        Err(Refusal::Contradicts {
            required: required.clone(),
            reason: format!(
                "ignored Prepared: signed Propose of '{value}' at pos {pos} ballot {ballot}, but its own justification reports '{required}' at ballot {top} ({by})"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;
    use crate::core::NodeId;

    fn keys(n: NodeId) -> (Vec<Identity>, Keyring) {
        let ids: Vec<Identity> = (0..n).map(|i| Identity::from_seed(5, i)).collect();
        let mut k = Keyring::default();
        for (i, id) in ids.iter().enumerate() {
            k.insert(i as NodeId, id.public());
        }
        (ids, k)
    }

    fn propose(pos: Pos, ballot: Ballot, v: &str) -> Message {
        Message::Propose {
            pos,
            ballot,
            value: v.into(),
        }
    }

    fn prepared(ballot: Ballot, accepted: Vec<(Pos, Ballot, Value)>) -> Message {
        Message::Prepared {
            pos: 0,
            ballot,
            accepted,
        }
    }

    /// Leader 0 of ballot 5.0 with node 1's Prepared reporting `report`.
    fn leader_with(report: Vec<(Pos, Ballot, Value)>) -> (Vec<Identity>, Keyring, Justify) {
        let (ids, k) = keys(3);
        let b = Ballot::new(5, 0);
        let mut j = Justify::new(1, true);
        j.sent_prepare(0, b);
        j.got_prepared(&ids[1].sign_message(1, prepared(b, report)));
        // A later answer is not what the core counted.
        j.got_prepared(
            &ids[2].sign_message(2, prepared(b, vec![(3, Ballot::new(4, 2), "z".into())])),
        );
        (ids, k, j)
    }

    #[test]
    fn the_reported_value_passes_and_another_is_evidence() {
        let w: Value = "w".into();
        let (ids, k, leader) = leader_with(vec![(3, Ballot::new(2, 1), w.clone())]);
        let b = Ballot::new(5, 0);
        let acceptor = Justify::new(1, true);
        let good = leader.justify(ids[0].sign_message(0, propose(3, b, "w")));
        assert_eq!(good.prepareds.len(), 1, "only what the core counted");
        assert_eq!(acceptor.check(&good, &k), Ok(()));
        let bad = leader.justify(ids[0].sign_message(0, propose(3, b, "u")));
        assert!(
            matches!(acceptor.check(&bad, &k), Err(Refusal::Contradicts { required, .. }) if required == w)
        );
        // Elsewhere nothing was reported: any value.
        let free = leader.justify(ids[0].sign_message(0, propose(4, b, "u")));
        assert_eq!(acceptor.check(&free, &k), Ok(()));
    }

    #[test]
    fn a_signature_checked_once_does_not_vouch_for_another_message() {
        // Node 1 reported 'w' at 3; a leader that copies that signature onto
        // a Prepared reporting nothing there must not justify another value,
        // however recently the acceptor verified the original.
        let w: Value = "w".into();
        let (ids, k, leader) = leader_with(vec![(3, Ballot::new(2, 1), w.clone())]);
        let b = Ballot::new(5, 0);
        let acceptor = Justify::new(1, true);
        let good = leader.justify(ids[0].sign_message(0, propose(3, b, "w")));
        assert_eq!(acceptor.check(&good, &k), Ok(()));
        let mut hiding = good.prepareds[0].clone();
        hiding.msg = prepared(b, vec![]);
        let forged = Justification {
            propose: ids[0].sign_message(0, propose(3, b, "u")),
            prepareds: vec![hiding],
            own: None,
        };
        assert!(matches!(
            acceptor.check(&forged, &k),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn an_honest_leader_re_proposing_its_own_accepted_value_is_not_flagged() {
        // Node 1 reports 'x' at ballot 2.1; the leader itself accepted 'w'
        // at 3.2 (node 2's Propose), above every report: Paxos says 'w'.
        let (ids, k, mut leader) = leader_with(vec![(3, Ballot::new(2, 1), "x".into())]);
        let theirs = ids[2].sign_message(2, propose(3, Ballot::new(3, 2), "w"));
        leader.saw_propose(&theirs);
        leader.sent_accept(3, Ballot::new(3, 2), &"w".into());
        let b = Ballot::new(5, 0);
        let j = leader.justify(ids[0].sign_message(0, propose(3, b, "w")));
        assert_eq!(j.own.as_ref(), Some(&theirs));
        let acceptor = Justify::new(1, true);
        assert_eq!(acceptor.check(&j, &k), Ok(()));
        // The same with the leader's own earlier Propose (it led ballot 4.0).
        let (ids, k, mut leader) = leader_with(vec![(3, Ballot::new(2, 1), "x".into())]);
        leader.sent_propose(&ids[0].sign_message(0, propose(3, Ballot::new(4, 0), "v")));
        // Our Propose in ballot b is accepted by our own core too: a re-send
        // still shows the one below b.
        let now = ids[0].sign_message(0, propose(3, b, "v"));
        leader.sent_propose(&now);
        let j = leader.justify(now);
        assert_eq!(acceptor.check(&j, &k), Ok(()));
        // A Propose seen but not accepted (no Accept went out) is not `own`.
        let (ids, _, mut leader) = leader_with(vec![]);
        leader.saw_propose(&ids[2].sign_message(2, propose(3, Ballot::new(3, 2), "q")));
        assert!(leader
            .justify(ids[0].sign_message(0, propose(3, b, "u")))
            .own
            .is_none());
    }

    #[test]
    fn own_counts_only_when_signed_by_its_ballots_leader_and_too_few_prepareds_prove_nothing() {
        let (ids, k, _) = leader_with(vec![]);
        let b = Ballot::new(5, 0);
        let report = ids[1].sign_message(1, prepared(b, vec![(3, Ballot::new(2, 1), "x".into())]));
        // 'own' claims ballot 3.2 but is signed by node 0: not counted.
        let mut fake = ids[0].sign_message(0, propose(3, Ballot::new(3, 2), "u"));
        fake.from = 2;
        let j = Justification {
            propose: ids[0].sign_message(0, propose(3, b, "u")),
            prepareds: vec![report],
            own: Some(fake),
        };
        let acceptor = Justify::new(1, true);
        assert!(matches!(
            acceptor.check(&j, &k),
            Err(Refusal::Contradicts { .. })
        ));
        // The leader's own Prepared does not count in classic mode.
        let j = Justification {
            propose: ids[0].sign_message(0, propose(3, b, "u")),
            prepareds: vec![ids[0].sign_message(0, prepared(b, vec![]))],
            own: None,
        };
        assert!(matches!(acceptor.check(&j, &k), Err(Refusal::Malformed(_))));
    }
}
