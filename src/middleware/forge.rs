//! The shield's side of FORGERY and REPLAY: carrying out an attacker's
//! [`crate::core::Output::Forge`] (only attackers emit it; the shield holds the keys),
//! and convicting a node whose key signed a packet in another node's name.
//! A packet that fails under its claimed sender is tried against the other
//! known keys — on that failure path only.

use super::{Evidence, Proof, Shield, Verdict};
use crate::core::{Forgery, Message, NodeId};
use crate::wire::{Body, Packet};

impl Shield {
    /// An attacker's [`Output::Forge`] as a packet (see [`Forgery`]).
    pub(super) fn forge(&mut self, to: NodeId, msg: Message, how: Forgery) -> Packet {
        match how {
            Forgery::As(from) => {
                let body = Body::Paxos(msg);
                let sig = self.identity.as_ref().map(|i| i.sign(from, &body));
                Packet {
                    from,
                    to: Some(to),
                    body,
                    sig,
                }
            }
            Forgery::Replay { from, original } => {
                let (body, sig) = match self.recorded.get(&(from, original)) {
                    Some((Body::Certified { accepts, .. }, sig)) => (
                        Body::Certified {
                            commit: msg,
                            accepts: accepts.clone(),
                        },
                        Some(sig.clone()),
                    ),
                    Some((_, sig)) => (Body::Paxos(msg), Some(sig.clone())),
                    None => (Body::Paxos(msg), None),
                };
                Packet {
                    from,
                    to: Some(to),
                    body,
                    sig,
                }
            }
            Forgery::ShortCertificate { ballot } => {
                let body = match (&self.identity, &msg) {
                    (Some(identity), Message::Commit { pos, value })
                        if self.on(super::Defence::Certificates) =>
                    {
                        let own = identity.sign_message(
                            self.id,
                            Message::Accept {
                                pos: *pos,
                                ballot,
                                value: value.clone(),
                            },
                        );
                        let mut accepts = vec![own.clone(), own];
                        accepts.extend(self.certs.latest_other(*pos));
                        Body::Certified {
                            commit: msg,
                            accepts,
                        }
                    }
                    _ => Body::Paxos(msg),
                };
                self.packet(Some(to), body)
            }
        }
    }

    /// `signer` signed a packet claiming to be `claimed`: flag it and tell
    /// everyone, once.
    pub(super) fn forger(
        &mut self,
        v: &mut Verdict,
        signer: NodeId,
        claimed: NodeId,
        body: Vec<u8>,
        sig: Vec<u8>,
    ) {
        if signer == self.id || signer == claimed || self.flagged_nodes.contains(&signer) {
            return;
        }
        let reason =
            format!("forgery: node {signer} signed a packet claiming to come from node {claimed}");
        self.flag(v, signer, Evidence::Forgery, reason);
        v.send.push(self.packet(
            None,
            Body::Accuse(Box::new(Proof::Forgery {
                signer,
                claimed,
                body,
                sig,
            })),
        ));
    }

    /// On the failure path only (the signature does not verify under the
    /// claimed sender): does it verify under another known node's key?
    pub(super) fn find_forger(
        &mut self,
        v: &mut Verdict,
        claimed: NodeId,
        body: &Body,
        sig: &[u8],
    ) {
        let bytes = crate::wire::body_bytes(body);
        let signer = self.keys.ids().find(|&j| {
            j != claimed
                && j != self.id
                && !self.flagged_nodes.contains(&j)
                && self.keys.verify_claim(j, claimed, &bytes, sig).is_ok()
        });
        if let Some(signer) = signer {
            self.forger(v, signer, claimed, bytes, sig.to_vec());
        }
    }
}
