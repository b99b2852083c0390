//! The shield's handling of votes: the protocol messages a defended node
//! lets through to its core, each after the checks of the defences that
//! concern it (the ballot bound, the echo, justifications, certificates,
//! the Prepare limit, the stale pair), and what it keeps of them.

use super::justify::Refusal;
use super::prepare_limit::Judgement;
use super::{ballot_bound, certificate, Defence, Evidence, Seen, Shield, Verdict};
use crate::auth::Signed;
use crate::core::{Message, NodeId};
use crate::wire::proofs::Justification;
use crate::wire::{Body, Packet};
use std::collections::BTreeSet;

impl Shield {
    /// A signed message whose ballot jumps out of bounds: dropped, and it
    /// convicts its sender.
    pub(super) fn on_overreach_drop(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        msg: Message,
        sig: Vec<u8>,
    ) {
        Self::dropped(
            v,
            from,
            &Body::Paxos(msg.clone()),
            "ballot jumps out of bounds".into(),
        );
        self.overreach(v, Signed { from, msg, sig });
    }

    /// A signed protocol message in bounds: it may become the witness of our
    /// next climb.
    pub(super) fn on_plain(&mut self, v: &mut Verdict, from: NodeId, msg: Message, sig: Vec<u8>) {
        self.bound.observe(&msg);
        // Cloned only when it becomes the witness (a new highest
        // round): this is the message path.
        if self.outranks_witness(from, &msg) {
            self.witness = Some(Signed {
                from,
                msg: msg.clone(),
                sig: sig.clone(),
            });
        }
        self.on_paxos(v, from, msg, sig)
    }

    /// A Prepare in bounds, or justified by a third node's signed message: the
    /// witness is checked, never taken on the climber's word.
    pub(super) fn on_climb(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        prepare: Message,
        witness: Signed,
        sig: Vec<u8>,
    ) {
        let justified = witness.from != from
            && ballot_bound::justifies(&witness.msg, &prepare, self.cfg.max_jump)
            && self.keys.verify_signed(&witness).is_ok();
        if self.out_of_bounds(&prepare) && !justified {
            let body = Body::Climb {
                prepare,
                witness: Box::new(witness),
            };
            let reason = "ballot jumps out of bounds, not justified by its witness";
            Self::dropped(v, from, &body, reason.into());
            return;
        }
        if justified {
            self.bound.observe(&witness.msg);
            self.witnessed(witness);
        }
        self.bound.observe(&prepare);
        self.on_paxos(v, from, prepare, sig)
    }

    /// A classic justified Propose: its value recomputed from its Prepared
    /// quorum.
    pub(super) fn on_classic_justified(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        j: Justification,
        sig: Vec<u8>,
    ) {
        if j.propose.from != from {
            let body = Body::Justified(Box::new(j));
            Self::dropped(v, from, &body, "Propose of another node".into());
            return;
        }
        if !self.on(Defence::Justify) {
            // Nobody here asks for justifications: the Propose alone counts.
            let Signed { msg, sig, .. } = j.propose;
            return self.on_paxos(v, from, msg, sig);
        }
        if self.out_of_bounds(&j.propose.msg) {
            let s = j.propose.clone();
            let body = Body::Justified(Box::new(j));
            Self::dropped(v, from, &body, "ballot jumps out of bounds".into());
            self.overreach(v, s);
            return;
        }
        match self.justify.check(&j, &self.keys) {
            Ok(()) => {
                for s in self.justify.counted(&j, &self.keys) {
                    let pair = self.stale.prepared(&s);
                    self.stale_pair(v, pair);
                }
                self.bound.observe(&j.propose.msg);
                let Signed { msg, sig, .. } = j.propose;
                self.on_paxos(v, from, msg, sig);
            }
            Err(Refusal::Malformed(why)) => {
                let body = Body::Justified(Box::new(j));
                Self::dropped(v, from, &body, format!("bad justification: {why}"));
            }
            Err(Refusal::Contradicts { reason, .. }) => {
                let body = Body::Justified(Box::new(j.clone()));
                Self::dropped(v, from, &body, reason.clone());
                self.unjustified(v, j, sig, reason);
            }
        }
    }

    /// A Commit with its certificate.
    pub(super) fn on_certified(
        &mut self,
        v: &mut Verdict,
        from: NodeId,
        commit: Message,
        accepts: Vec<Signed>,
        sig: Vec<u8>,
    ) {
        if !self.on(Defence::Certificates) {
            // Nobody here asks for certificates: the Commit alone counts.
            return v.deliver.push((from, commit));
        }
        // Classic mode: only an equivocator's Accepts stop counting:
        // with quorums of f+1 they are what could back two
        // certificates for one position. A node caught lying in a
        // Prepared or ignoring one still accepted by the rules as an
        // acceptor (that is how it looks honest), and positions it
        // helped choose before it was caught must stay learnable, or
        // the nodes that caught it stall there.
        //
        // BFT mode: every valid signer counts. 2f+1 signers hold
        // f+1 honest ones, and honest nodes accept only a Propose
        // 2f+1 nodes echoed, so no second certificate can exist at
        // a (position, ballot); leaving the equivocator out would
        // only leave a node that never saw enough honest Accepts
        // unable to learn a position the others decided.
        let ignored = self.cert_ignored();
        match self.certs.check(&commit, &accepts, &self.keys, &ignored) {
            Ok(()) => {
                self.justify.decided(commit.pos());
                for a in &accepts {
                    let pair = self.stale.accept(a);
                    self.stale_pair(v, pair);
                }
                v.deliver.push((from, commit))
            }
            Err(e) => {
                let proof =
                    certificate::proves_premature(&commit, &accepts, &self.keys, self.cert_rule());
                let body = Body::Certified { commit, accepts };
                Self::dropped(v, from, &body, format!("bad certificate: {e}"));
                if proof {
                    let Body::Certified { commit, accepts } = body else {
                        unreachable!("built just above")
                    };
                    self.premature(v, from, commit, accepts, sig);
                }
            }
        }
    }

    /// The signers whose votes no certificate counts here: in classic mode
    /// the nodes caught equivocating, in BFT mode nobody (see
    /// [`Shield::on_certified`]).
    pub(super) fn cert_ignored(&self) -> BTreeSet<NodeId> {
        if self.bft() {
            return BTreeSet::new();
        }
        self.flagged_nodes
            .iter()
            .copied()
            .filter(|n| self.evidence.get(n) == Some(&Evidence::Equivocation))
            .collect()
    }

    /// Another node's echo of a Propose.
    pub(super) fn on_echo(&mut self, v: &mut Verdict, from: NodeId, s: Signed, sig: Vec<u8>) {
        if self.flagged_nodes.contains(&s.from) || (s.from == self.id && !self.bft()) {
            return;
        }
        if !self.on(Defence::Echo) {
            return; // nobody here echoes: nothing to compare it with
        }
        // One verification per signed Propose: the echoes of every
        // peer carry the very same bytes (n-2 of them per position).
        if !self.echo.known(&s) && self.keys.verify_signed(&s).is_err() {
            let body = Body::Echo(s);
            Self::dropped(
                v,
                from,
                &body,
                "echoed Propose not signed by its leader".into(),
            );
            return;
        }
        if self.out_of_bounds(&s.msg) {
            // Verified above: the leader's own out-of-bound Propose.
            self.overreach(v, s);
            return;
        }
        if let Seen::Conflict(pair) = self.echo.record(&s) {
            let (a, b) = *pair;
            self.convict(v, a, b);
        }
        self.echo.echoed(from, &s, sig);
        self.release(v);
    }

    /// A Propose in bounds: echoed and held for the echoes (SAFETY's
    /// defence), or straight to the core when the echo is off.
    fn on_propose(&mut self, v: &mut Verdict, signed: Signed) {
        let from = signed.from;
        self.limit.proposed(from, signed.msg.pos());
        self.justify.saw_propose(&signed);
        if !self.on(Defence::Echo) {
            if !self.flagged_nodes.contains(&from) {
                v.deliver.push((from, signed.msg));
            }
            return;
        }
        if let Seen::Conflict(pair) = self.echo.record(&signed) {
            let (a, b) = *pair;
            self.convict(v, a, b)
        }
        if self.flagged_nodes.contains(&from) {
            return;
        }
        // BFT: echo again whenever the leader re-sends. Nothing is
        // released on a timeout there, so an echo lost on the way
        // must be made up for, or a node could wait for good.
        if self.bft() {
            let echo = self.packet(None, Body::Echo(signed.clone()));
            // Our own echo vouches too, and goes in certificates.
            let sig = echo.sig.clone().unwrap_or_default();
            self.echo.echoed(self.id, &signed, sig);
            v.send.push(echo);
        } else if self.echo.first_echo(&signed) {
            v.send.extend(self.echo_to_others(signed.clone()));
        }
        if self.echo.hold(signed.clone(), self.now) {
            v.deliver.push((from, signed.msg));
        } else {
            self.release(v);
        }
    }

    /// Classic mode's echo of `signed`: to every node but us and its
    /// leader, who ignores echoes of its own Proposes (it knows what it
    /// signed) and would only spend a check on each. One signature: a
    /// packet's signature binds its sender and body, not its receiver.
    fn echo_to_others(&self, signed: Signed) -> Vec<Packet> {
        let leader = signed.from;
        let echo = self.packet(None, Body::Echo(signed));
        (0..self.cfg.n as NodeId)
            .filter(|&j| j != self.id && j != leader)
            .map(|j| Packet {
                to: Some(j),
                ..echo.clone()
            })
            .collect()
    }

    pub(super) fn on_paxos(&mut self, v: &mut Verdict, from: NodeId, msg: Message, sig: Vec<u8>) {
        match &msg {
            Message::Prepare { .. } if !self.on(Defence::PrepareLimit) => {
                v.deliver.push((from, msg))
            }
            Message::Prepare { pos, ballot } => {
                match self.limit.observe(from, *pos, *ballot, self.now) {
                    Judgement::Ban { strikes } => {
                        let reason = format!(
                            "{strikes} Prepares at pos {pos} each cut off another proposer's fresh promise (limit {})",
                            self.cfg.max_prepares
                        );
                        self.flag(v, from, Evidence::PrepareLimit, reason);
                    }
                    Judgement::Strike { .. } | Judgement::Fine => v.deliver.push((from, msg)),
                }
            }
            Message::Propose { .. } => self.on_propose(v, Signed { from, msg, sig }),
            Message::Accept { .. } => {
                let signed = Signed {
                    from,
                    msg: msg.clone(),
                    sig,
                };
                let pair = self.stale.accept(&signed);
                self.stale_pair(v, pair);
                self.certs.collect(signed);
                v.deliver.push((from, msg));
            }
            Message::Prepared { .. } => {
                let signed = Signed {
                    from,
                    msg: msg.clone(),
                    sig,
                };
                self.justify.got_prepared(&signed);
                let pair = self.stale.prepared(&signed);
                self.stale_pair(v, pair);
                v.deliver.push((from, msg));
            }
            Message::Commit { .. } if !self.on(Defence::Certificates) => {
                v.deliver.push((from, msg))
            }
            Message::Commit { .. } => {
                let body = Body::Paxos(msg);
                Self::dropped(
                    v,
                    from,
                    &body,
                    "Commit without a certificate of Accepts".into(),
                );
            }
            _ => v.deliver.push((from, msg)),
        }
    }

    /// A ballot out of the bound, when the bound is in force.
    pub(super) fn out_of_bounds(&self, msg: &Message) -> bool {
        self.on(Defence::BallotBound) && self.bound.overreaches(msg)
    }

    /// Our own vote, signed by us: keep what a peer's would have left.
    pub(super) fn keep_own(&mut self, packet: &Packet) {
        match &packet.body {
            Body::Paxos(msg @ Message::Accept { .. }) => self.certs.collect(Signed {
                from: self.id,
                msg: msg.clone(),
                sig: packet.sig.clone().unwrap_or_default(),
            }),
            Body::BftPrepared(p) => self.keep_proven(self.id, (**p).clone()),
            _ => {}
        }
    }

    /// Our Prepare, carrying the signed message it climbed over when that
    /// justifies its round ([`ballot_bound::justifies`]): a node whose view
    /// was pushed ahead (by a partition, or by a Byzantine node feeding it
    /// alone) is not out of bounds for the others, it shows why it climbed.
    /// Never signed bare then, so nobody holds an accusation against it.
    pub(super) fn climb(&self, prepare: Message) -> Body {
        match &self.witness {
            Some(w) if ballot_bound::justifies(&w.msg, &prepare, self.cfg.max_jump) => {
                Body::Climb {
                    prepare,
                    witness: Box::new(w.clone()),
                }
            }
            _ => Body::Paxos(prepare),
        }
    }

    /// Whether `msg` from `from` would be a better witness than ours: another
    /// node's, with a round above the witness's.
    pub(super) fn outranks_witness(&self, from: NodeId, msg: &Message) -> bool {
        let Some(b) = msg.ballot() else {
            return false;
        };
        let round = |w: &Signed| w.msg.ballot().map_or(0, |b| b.round);
        from != self.id && self.witness.as_ref().is_none_or(|w| b.round > round(w))
    }

    /// Remember `s` as our witness if its round is the highest seen yet.
    pub(super) fn witnessed(&mut self, s: Signed) {
        if self.outranks_witness(s.from, &s.msg) {
            self.witness = Some(s);
        }
    }

    pub(super) fn release(&mut self, v: &mut Verdict) {
        for s in self.echo.release(self.now) {
            v.deliver.push((s.from, s.msg));
        }
    }
}
