//! The shield's handling of accusations: building one when a defence
//! catches a node (flag it, and forward the self-verifying evidence once),
//! and re-checking one that arrives before it changes anything — an
//! accusation whose evidence does not hold is dropped and flags nobody.

use super::justify::Refusal;
use super::{bft, certificate, echo, stale, Evidence, Shield, Verdict};
use crate::auth::Signed;
use crate::core::{Message, NodeId};
use crate::wire::proofs::Justification;
use crate::wire::proofs::Proof;
use crate::wire::Body;

impl Shield {
    /// An accusation from `from`: re-checked by the defence it concerns,
    /// never taken on the accuser's word. One that does not hold is dropped
    /// and flags nobody.
    pub(super) fn on_accusation(&mut self, v: &mut Verdict, from: NodeId, proof: Proof) {
        let kind = proof.kind();
        let founded = match proof {
            Proof::Equivocation(a, b) => self.on_evidence(v, a, b),
            Proof::Overreach(s) => self.on_overreach(v, s),
            Proof::BadCertificate {
                from: accused,
                commit,
                accepts,
                sig,
            } => self.on_bad_certificate(v, accused, commit, accepts, sig),
            Proof::Forgery {
                signer,
                claimed,
                body,
                sig,
            } => self.on_forgery(v, signer, claimed, body, sig),
            Proof::IgnoredPrepared { justification, sig } => {
                self.on_unjustified(v, justification, sig)
            }
            Proof::BftIgnoredPrepared(j) => self.on_bft_unjustified(v, from, j),
            Proof::StalePrepared(accept, prepared) => self.on_stale(v, accept, prepared),
        };
        if !founded {
            Self::unfounded(v, from, kind);
        }
    }

    /// Evidence of equivocation: flag the leader and tell everyone, once.
    pub(super) fn convict(&mut self, v: &mut Verdict, a: Signed, b: Signed) {
        let leader = a.from;
        if self.flagged_nodes.contains(&leader) {
            return;
        }
        let describe = |s: &Signed| match &s.msg {
            Message::Propose { value, .. } => format!("'{value}'"),
            m => m.to_string(),
        };
        let (pos, ballot) = (a.msg.pos(), a.msg.ballot().unwrap_or_default());
        let reason = format!(
            "echo mismatch: two signed Proposes at pos {pos} ballot {ballot}, {} and {}",
            describe(&a),
            describe(&b)
        );
        self.flag(v, leader, Evidence::Equivocation, reason);
        v.send
            .push(self.packet(None, Body::Accuse(Box::new(Proof::Equivocation(a, b)))));
    }

    /// A signed message whose ballot jumps out of bounds: flag its signer
    /// and tell everyone, once. The message is the evidence.
    pub(super) fn overreach(&mut self, v: &mut Verdict, s: Signed) {
        if s.from == self.id || self.flagged_nodes.contains(&s.from) {
            return;
        }
        let reason = format!(
            "ballot overflow: signed {} jumps more than {} rounds above the highest round seen ({})",
            s.msg,
            self.cfg.max_jump,
            self.bound.max_seen()
        );
        self.flag(v, s.from, Evidence::Overreach, reason);
        v.send
            .push(self.packet(None, Body::Accuse(Box::new(Proof::Overreach(s)))));
    }

    /// A signed Commit with a certificate that fails by signatures alone:
    /// flag its sender and tell everyone, once. The signed Commit is the
    /// evidence.
    pub(super) fn premature(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        sig: Vec<u8>,
    ) {
        if from == self.id || self.flagged_nodes.contains(&from) {
            return;
        }
        let reason = format!(
            "premature commit: signed {commit} whose certificate of {} Accepts has no quorum of {} valid matching ones",
            accepts.len(),
            self.cfg.quorum
        );
        self.flag(v, from, Evidence::BadCertificate, reason);
        v.send.push(self.packet(
            None,
            Body::Accuse(Box::new(Proof::BadCertificate {
                from,
                commit,
                accepts,
                sig,
            })),
        ));
    }

    /// A justified Propose that ignores its own reports: flag its leader
    /// and tell everyone, once. The leader's signature over the whole
    /// justification is the evidence.
    pub(super) fn unjustified(
        &mut self,
        v: &mut Verdict,
        j: Justification,
        sig: Vec<u8>,
        reason: String,
    ) {
        let leader = j.propose.from;
        if leader == self.id || self.flagged_nodes.contains(&leader) {
            return;
        }
        self.flag(v, leader, Evidence::IgnoredPrepared, reason);
        v.send.push(self.packet(
            None,
            Body::Accuse(Box::new(Proof::IgnoredPrepared {
                justification: j,
                sig,
            })),
        ));
    }

    /// A signed Accept and a signed Prepared of one node that hides it:
    /// check both signatures, flag the node and tell everyone, once.
    pub(super) fn stale_pair(&mut self, v: &mut Verdict, pair: Option<(Signed, Signed)>) {
        let Some((accept, prepared)) = pair else {
            return;
        };
        if !self.on(super::Defence::Stale) {
            return;
        }
        let node = accept.from;
        if node == self.id || self.flagged_nodes.contains(&node) {
            return;
        }
        if !stale::hides(&accept, &prepared, self.cfg.leader_votes())
            || !self.justify.valid(&accept, &self.keys)
            || !self.justify.valid(&prepared, &self.keys)
        {
            return;
        }
        let reason = format!(
            "stale Prepared: signed {} then signed {} without it",
            accept.msg, prepared.msg
        );
        self.flag(v, node, Evidence::StalePrepared, reason);
        v.send.push(self.packet(
            None,
            Body::Accuse(Box::new(Proof::StalePrepared(accept, prepared))),
        ));
    }

    /// A BFT Propose its justification does not allow, as an accusation: re-
    /// checked here (the leader's own signature, and a value its own
    /// justification does not allow).
    pub(super) fn on_bft_unjustified(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        j: bft::BftJustified,
    ) -> bool {
        let leader = j.propose.from;
        match bft::check(&j, &self.keys, self.cfg.quorum) {
            Err(e @ bft::JustifyError::Ignored { .. }) => self.bft_unjustified(v, j, e),
            _ => Self::dropped(
                v,
                from,
                &Body::Accuse(Box::new(Proof::BftIgnoredPrepared(j))),
                format!("accusation against node {leader} without valid evidence"),
            ),
        }
        // Dropped above with its own reason when it does not hold.
        true
    }

    /// An accusation of ignoring Prepared values: re-checked here (the leader's
    /// signature over the whole justification, and the contradiction recomputed
    /// by us).
    pub(super) fn on_unjustified(
        &mut self,
        v: &mut Verdict,
        justification: Justification,
        leader_sig: Vec<u8>,
    ) -> bool {
        let leader = justification.propose.from;
        let signed = self
            .keys
            .verify(
                leader,
                &Body::Justified(Box::new(justification.clone())),
                &leader_sig,
            )
            .is_ok();
        let verdict = self.justify.check(&justification, &self.keys);
        match verdict {
            Err(Refusal::Contradicts { reason, .. }) if signed => {
                self.unjustified(v, justification, leader_sig, reason);
                true
            }
            _ => false,
        }
    }

    /// An accusation of a stale Prepared: both signatures and the contradiction
    /// re-checked.
    pub(super) fn on_stale(&mut self, v: &mut Verdict, accept: Signed, prepared: Signed) -> bool {
        let valid = stale::hides(&accept, &prepared, self.cfg.leader_votes())
            && self.justify.valid(&accept, &self.keys)
            && self.justify.valid(&prepared, &self.keys);
        if valid {
            self.stale_pair(v, Some((accept, prepared)));
        }
        valid
    }

    /// An accusation of a premature Commit: re-checked here (the accused's own
    /// signature over the Commit and its certificate, and the certificate
    /// fails).
    pub(super) fn on_bad_certificate(
        &mut self,
        v: &mut Verdict,
        accused: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        signed: Vec<u8>,
    ) -> bool {
        let certified = Body::Certified {
            commit: commit.clone(),
            accepts: accepts.clone(),
        };
        let valid = certificate::proves_premature(&commit, &accepts, &self.keys, self.cert_rule())
            && self.keys.verify(accused, &certified, &signed).is_ok();
        if valid {
            self.premature(v, accused, commit, accepts, signed);
        }
        valid
    }

    /// An accusation of forgery: the signer's signature over a packet in
    /// another node's name, re-checked.
    pub(super) fn on_forgery(
        &mut self,
        v: &mut Verdict,
        signer: NodeId,
        claimed: NodeId,
        body: Vec<u8>,
        signed: Vec<u8>,
    ) -> bool {
        let valid = signer != claimed
            && self
                .keys
                .verify_claim(signer, claimed, &body, &signed)
                .is_ok();
        if valid {
            self.forger(v, signer, claimed, body, signed);
        }
        valid
    }

    /// An accusation of a ballot overflow: re-checked here, never taken on the
    /// forwarder's word (the signer's own signature, and out of bounds for
    /// *us*).
    pub(super) fn on_overreach(&mut self, v: &mut Verdict, s: Signed) -> bool {
        let valid = self.bound.overreaches(&s.msg) && self.keys.verify_signed(&s).is_ok();
        if valid {
            self.overreach(v, s);
        }
        valid
    }

    /// An accusation of equivocation: two conflicting signed Proposes, re-
    /// checked.
    pub(super) fn on_evidence(&mut self, v: &mut Verdict, a: Signed, b: Signed) -> bool {
        let valid = echo::conflicting(&a, &b)
            && self.keys.verify_signed(&a).is_ok()
            && self.keys.verify_signed(&b).is_ok();
        if valid {
            self.convict(v, a, b);
        }
        valid
    }
}
