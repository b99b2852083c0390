//! The shield's steps in BFT mode ([`super::bft`] holds the pure checks):
//! our core's Prepared goes out with a proof per report, our Propose with
//! the quorum of Prepareds it was led on (frozen at its first Propose); a
//! peer's Prepared reaches our core with only its proven reports, and a
//! peer's Propose only if its justification allows its value — else its
//! leader is convicted by what it signed.

use super::bft;
use super::{Evidence, Proof, Shield, Verdict, KEEP_BALLOTS};

/// Prepared certificates of accepted values a shield keeps in memory.
const KEEP_PROOFS: usize = 4096;
use crate::core::{Ballot, Message, NodeId, Pos, Value};
use crate::wire::Body;

impl Shield {
    pub(super) fn bft(&self) -> bool {
        self.cfg.defend && self.cfg.bft
    }

    /// BFT: our core's Prepared, with a proof for each report we can prove.
    /// A report without one is sent as it is (it will not count): a shield
    /// does not edit what its core says, and the receivers' check, not the
    /// sender's honesty, is what makes a lie harmless.
    pub(super) fn prove(&self, msg: Message) -> Body {
        let identity = self.identity.as_ref().expect("defend implies identity");
        let Message::Prepared {
            pos,
            ballot,
            accepted,
        } = msg
        else {
            return Body::Paxos(msg);
        };
        let proofs = accepted
            .iter()
            .map(|(p, b, value)| match self.certs.committed(*p, value) {
                Some(accepts) => Some(bft::ValueProof::Committed { accepts }),
                None => self.echo.certificate(*p, *b, value).or_else(|| {
                    // Kept from before a restart (the echo maps are not).
                    self.accepted_proofs.get(&(*p, *b, value.clone())).cloned()
                }),
            })
            .collect();
        let prepared = identity.sign_message(
            self.id,
            Message::Prepared {
                pos,
                ballot,
                accepted,
            },
        );
        Body::BftPrepared(Box::new(bft::Proven { prepared, proofs }))
    }

    /// BFT: our core's Propose with the Prepareds of its ballot.
    pub(super) fn bft_justify(&mut self, msg: Message) -> Body {
        let ballot = msg.ballot().unwrap_or_default();
        let justification = match self.frozen.get(&ballot) {
            Some(j) => j.clone(),
            None => {
                let j: Vec<bft::Proven> = self
                    .proven
                    .get(&ballot)
                    .map(|by| by.values().cloned().collect())
                    .unwrap_or_default();
                self.frozen.insert(ballot, j.clone());
                while self.frozen.len() > KEEP_BALLOTS {
                    self.frozen.pop_first();
                }
                j
            }
        };
        let identity = self.identity.as_ref().expect("defend implies identity");
        Body::BftPropose(Box::new(bft::BftJustified {
            propose: identity.sign_message(self.id, msg),
            justification,
        }))
    }

    /// Our core accepted `value` at `pos` in `ballot`: keep the prepared
    /// certificate it accepted on (a quorum vouched for the Propose, or it
    /// would not have reached the core), to report it with after a restart.
    pub(super) fn keep_accepted_proof(&mut self, pos: Pos, ballot: Ballot, value: &Value) {
        let key = (pos, ballot, value.clone());
        if self.accepted_proofs.contains_key(&key) {
            return;
        }
        if let Some(proof) = self.echo.certificate(pos, ballot, value) {
            self.accepted_proofs.insert(key.clone(), proof);
            if let Some(fresh) = self.fresh_proofs.as_mut() {
                fresh.push(key);
            }
            // Bounded as the accepted Proposes are: older positions are
            // decided, and a commit certificate proves those.
            while self.accepted_proofs.len() > KEEP_PROOFS {
                self.accepted_proofs.pop_first();
            }
        }
    }

    pub(super) fn keep_proven(&mut self, from: NodeId, p: bft::Proven) {
        let Some(ballot) = p.prepared.msg.ballot() else {
            return;
        };
        // Only answers the core counts: to our Prepare, at its position.
        if self.preparing.get(&ballot) != Some(&p.prepared.msg.pos()) {
            return;
        }
        self.proven.entry(ballot).or_default().insert(from, p);
        while self.proven.len() > KEEP_BALLOTS {
            self.proven.pop_first();
        }
    }

    /// BFT: a Prepared with proofs. Only its proven reports reach the core,
    /// and it is kept to justify our Proposes in its ballot.
    pub(super) fn on_proven(&mut self, v: &mut Verdict, from: NodeId, p: bft::Proven) {
        let valid = p.prepared.from == from
            && matches!(p.prepared.msg, Message::Prepared { .. })
            && self.keys.verify_signed(&p.prepared).is_ok();
        let Message::Prepared { pos, ballot, .. } = p.prepared.msg.clone() else {
            return;
        };
        if !valid {
            let reason = "Prepared not signed by its sender".into();
            Self::dropped(v, from, &Body::BftPrepared(Box::new(p)), reason);
            return;
        }
        let accepted = bft::proven_reports(&p, &self.keys, self.cfg.quorum);
        self.keep_proven(from, p);
        v.deliver.push((
            from,
            Message::Prepared {
                pos,
                ballot,
                accepted,
            },
        ));
    }

    /// BFT: a Propose with its justification. One the justification does
    /// not allow convicts its leader; a valid one goes on to the echo.
    pub(super) fn on_justified(&mut self, v: &mut Verdict, from: NodeId, j: bft::BftJustified) {
        if j.propose.from != from {
            let reason = "a Propose relayed by another node than its leader".into();
            Self::dropped(v, from, &Body::BftPropose(Box::new(j)), reason);
            return;
        }
        match bft::check(&j, &self.keys, self.cfg.quorum) {
            Ok(()) => {
                let bft::BftJustified { propose, .. } = j;
                if self.bound.overreaches(&propose.msg) {
                    self.overreach(v, propose);
                    return;
                }
                self.bound.observe(&propose.msg);
                self.on_paxos(v, from, propose.msg, propose.sig);
            }
            Err(e @ bft::JustifyError::Ignored { .. }) => self.bft_unjustified(v, j, e),
            Err(e) => {
                let reason = format!("unjustified Propose: {e}");
                Self::dropped(v, from, &Body::BftPropose(Box::new(j)), reason);
            }
        }
    }

    /// A leader proposed against its own justification: flag it and tell
    /// everyone, once. The signed Propose and justification are the evidence.
    pub(super) fn bft_unjustified(
        &mut self,
        v: &mut Verdict,
        j: bft::BftJustified,
        e: bft::JustifyError,
    ) {
        let leader = j.propose.from;
        if leader == self.id || self.flagged_nodes.contains(&leader) {
            return;
        }
        let reason = format!("ignored Prepared values: {e}");
        self.flag(v, leader, Evidence::IgnoredPrepared, reason);
        v.send
            .push(self.packet(None, Body::Accuse(Box::new(Proof::BftIgnoredPrepared(j)))));
    }
}
