//! Commit certificates: the brief's own fix for its premature-commit attack.
//! A `Commit` is applied only with the signed `Accept`s of a quorum of
//! distinct nodes for the same (position, ballot, value); a node keeps the
//! certificate of every position it committed, to send along whenever it
//! tells someone else about that commit.
//!
//! A certificate that does not hold *by signatures alone* — fewer than a
//! quorum of distinct signers with valid Accepts for the Commit's position
//! and value in one ballot, whoever the receiver has flagged — inside a
//! Commit its sender signed is proof against that sender: an honest node
//! only attaches a certificate it assembled from a quorum of valid Accepts
//! (or received and checked), and sends a bare Commit otherwise (a
//! restarted node may have lost its certificates; a bare Commit is refused,
//! never evidence). See [`proves_premature`].
//!
//! In classic mode a leader's own vote is its signed Propose: its core
//! accepts what it proposes in the same step (its own promise is internal,
//! and a higher promise would have ended its lead), so `Propose(p, b, v)`
//! signed by the owner of ballot `b` counts as its `Accept(p, b, v)`. That
//! spares the leader a signature per position, and its followers a check:
//! they verified that Propose when it arrived. A faulty leader gains
//! nothing by it, since it could sign an Accept of anything anyway. BFT
//! mode does not count Proposes: there a leader accepts its own Propose
//! only once a quorum echoed it.

use crate::auth::{Identity, Keyring, Signed};
use crate::core::{Ballot, Message, NodeId, Pos, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("not a Commit")]
    NotACommit,
    #[error("{have} distinct valid Accepts, a quorum is {need}")]
    TooFew { have: usize, need: usize },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Certificates {
    quorum: usize,
    /// A leader's signed Propose counts as its Accept (classic mode).
    leader_votes: bool,
    /// Signed Accepts received, by (position, ballot, value) and signer.
    accepts: BTreeMap<(Pos, Ballot, Value), BTreeMap<NodeId, Signed>>,
    /// The certificate of each committed position.
    done: BTreeMap<Pos, (Value, Vec<Signed>)>,
    /// Positions of `done` stored since [`Certificates::take_fresh`], when a
    /// driver persists them (`None`: nobody does, keep nothing).
    fresh: Option<Vec<Pos>>,
}

impl Certificates {
    pub fn new(quorum: usize, leader_votes: bool) -> Self {
        Certificates {
            quorum,
            leader_votes,
            ..Default::default()
        }
    }

    /// Keep a signed Accept sent to us (we are the proposer).
    pub fn collect(&mut self, s: Signed) {
        if let Message::Accept { pos, ballot, value } = &s.msg {
            if self.done.contains_key(pos) {
                return;
            }
            self.accepts
                .entry((*pos, *ballot, value.clone()))
                .or_default()
                .insert(s.from, s);
        }
    }

    /// The certificate for our own `Commit(pos, value)`: a stored one, or the
    /// Accepts we collected plus our own vote: `own(ballot)`, our signed
    /// Propose of that ballot at `pos` if we led it (with `leader_votes`),
    /// or else an Accept signed now.
    pub fn for_commit(
        &mut self,
        me: NodeId,
        identity: &Identity,
        (pos, value): (Pos, &Value),
        own: impl FnOnce(Ballot) -> Option<Signed>,
    ) -> Option<Vec<Signed>> {
        if let Some((v, cert)) = self.done.get(&pos) {
            return (v == value).then(|| cert.clone());
        }
        let (&(_, ballot, _), signers) = self
            .accepts
            .range((pos, Ballot::ZERO, Value::default())..)
            .take_while(|((p, _, _), _)| *p == pos)
            .filter(|((_, _, v), _)| v == value)
            .max_by_key(|(_, s)| s.len())?;
        let mut cert: Vec<Signed> = signers.values().cloned().collect();
        if !signers.contains_key(&me) {
            let proposed = own(ballot).filter(|s| {
                self.leader_votes && s.from == me && vote(s, true) == Some((pos, ballot, value))
            });
            cert.push(proposed.unwrap_or_else(|| {
                identity.sign_message(
                    me,
                    Message::Accept {
                        pos,
                        ballot,
                        value: value.clone(),
                    },
                )
            }));
        }
        if cert.len() < self.quorum {
            return None;
        }
        self.store(pos, value.clone(), cert.clone());
        Some(cert)
    }

    /// The certificate of `value` committed at `pos`, if we hold one.
    pub fn committed(&self, pos: Pos, value: &Value) -> Option<Vec<Signed>> {
        self.done
            .get(&pos)
            .filter(|(v, _)| v == value)
            .map(|(_, cert)| cert.clone())
    }

    /// The Accepts of the certificate we hold for the highest committed
    /// position other than `pos` (what a PREMATURE_COMMIT attacker pads a
    /// short certificate with: valid signatures, wrong position).
    pub fn latest_other(&self, pos: Pos) -> Vec<Signed> {
        self.done
            .iter()
            .rev()
            .find(|(p, _)| **p != pos)
            .map(|(_, (_, cert))| cert.clone())
            .unwrap_or_default()
    }

    /// The certificates of committed positions, to keep across a crash.
    /// Forget every position below `below` (it is in a snapshot).
    pub fn forget_below(&mut self, below: Pos) {
        self.accepts.retain(|(p, _, _), _| *p >= below);
        self.done = self.done.split_off(&below);
        if let Some(fresh) = self.fresh.as_mut() {
            fresh.retain(|p| *p >= below);
        }
    }

    pub fn durable(&self) -> BTreeMap<Pos, (Value, Vec<Signed>)> {
        self.done.clone()
    }

    /// From now on, remember what is stored for [`Certificates::take_fresh`].
    pub fn track(&mut self) {
        self.fresh.get_or_insert_with(Vec::new);
    }

    /// The certificates stored since the last call, for a driver that
    /// persists them.
    /// Whether [`Certificates::take_fresh`] has anything to give.
    pub fn has_fresh(&self) -> bool {
        self.fresh.as_ref().is_some_and(|f| !f.is_empty())
    }

    pub fn take_fresh(&mut self) -> BTreeMap<Pos, (Value, Vec<Signed>)> {
        let fresh = self.fresh.as_mut().map(std::mem::take).unwrap_or_default();
        fresh
            .into_iter()
            .filter_map(|p| self.done.get(&p).map(|c| (p, c.clone())))
            .collect()
    }

    /// Restore [`Certificates::durable`] after a restart.
    pub fn restore(&mut self, done: BTreeMap<Pos, (Value, Vec<Signed>)>) {
        self.done = done;
    }

    fn store(&mut self, pos: Pos, value: Value, cert: Vec<Signed>) {
        self.accepts.retain(|(p, _, _), _| *p != pos);
        self.done.insert(pos, (value, cert));
        if let Some(fresh) = self.fresh.as_mut() {
            fresh.push(pos);
        }
    }

    /// Check a received certificate for `commit`; keep it if it holds.
    /// Signers in `ignored` (nodes caught misbehaving) do not count.
    pub fn check(
        &mut self,
        commit: &Message,
        accepts: &[Signed],
        keys: &Keyring,
        ignored: &BTreeSet<NodeId>,
    ) -> Result<(), CertError> {
        let Message::Commit { pos, value } = commit else {
            return Err(CertError::NotACommit);
        };
        let have = signers(*pos, value, accepts, keys, ignored, self.leader_votes);
        if have < self.quorum {
            return Err(CertError::TooFew {
                have,
                need: self.quorum,
            });
        }
        if !self.done.contains_key(pos) {
            self.store(*pos, value.clone(), accepts.to_vec());
        }
        Ok(())
    }
}

/// The vote `s` casts, as `(position, ballot, value)`: a signed Accept's,
/// or with `leader_votes` a signed Propose's when its signer owns its
/// ballot (classic mode: the leader's own acceptance, see the module doc).
pub fn vote(s: &Signed, leader_votes: bool) -> Option<(Pos, Ballot, &Value)> {
    match &s.msg {
        Message::Accept { pos, ballot, value } => Some((*pos, *ballot, value)),
        Message::Propose { pos, ballot, value } if leader_votes && ballot.node == s.from => {
            Some((*pos, *ballot, value))
        }
        _ => None,
    }
}

/// The most distinct signers that, in one ballot, signed a valid vote for
/// `value` at `pos` among `accepts` ([`vote`]), leaving out those in
/// `ignored`: what a certificate is worth. All must agree on one ballot,
/// hence the count per ballot.
pub fn signers(
    pos: Pos,
    value: &Value,
    accepts: &[Signed],
    keys: &Keyring,
    ignored: &BTreeSet<NodeId>,
    leader_votes: bool,
) -> usize {
    let mut by_ballot: BTreeMap<Ballot, BTreeSet<NodeId>> = BTreeMap::new();
    for a in accepts {
        if let Some((p, ballot, v)) = vote(a, leader_votes) {
            if p == pos && v == value && !ignored.contains(&a.from) && keys.verify_signed(a).is_ok()
            {
                by_ballot.entry(ballot).or_default().insert(a.from);
            }
        }
    }
    by_ballot.values().map(BTreeSet::len).max().unwrap_or(0)
}

/// Whether a signed `commit` with the certificate `accepts` is evidence of
/// a premature commit: no quorum of distinct signers with valid, matching
/// votes (same position and value, one ballot) by signatures alone. Not
/// evidence when a matching vote comes from a signer whose key we do not
/// know: someone who knows it might see a quorum.
pub fn proves_premature(
    commit: &Message,
    accepts: &[Signed],
    keys: &Keyring,
    (quorum, leader_votes): (usize, bool),
) -> bool {
    let Message::Commit { pos, value } = commit else {
        return false;
    };
    let unknown = accepts.iter().any(|a| {
        vote(a, leader_votes).is_some_and(|(p, _, v)| p == *pos && v == value)
            && !keys.contains(a.from)
    });
    !unknown && signers(*pos, value, accepts, keys, &BTreeSet::new(), leader_votes) < quorum
}
