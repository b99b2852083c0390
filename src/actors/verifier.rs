//! `Verifier`: checks the signatures of incoming packets on a thread of its
//! own, ahead of the shield, so a node's signature checks use the second
//! core while its core and shield run on the first.
//!
//! It only warms the shield's verified-signature cache (through a
//! [`Keyring::sharing`] copy): the shield still makes every decision and
//! checks for itself whatever is not in the cache, so a packet's fate is the
//! same with or without a verifier; only its cost moves. Packets come back
//! to their middleware in the order they were sent (one thread, one FIFO
//! queue), so the order of delivery to the core is unchanged.
//!
//! The thread takes every packet that queued while it was busy (up to
//! [`MOST_AT_ONCE`]) and checks all their signatures in one batch per
//! keyring ([`Keyring::verify_all`]): under load, when checks queue up, a
//! batch costs less than the checks one by one, and a failed batch falls
//! back to single checks, so a bad signature is still found and never
//! cached. A plain thread and channel rather than an actor, because a
//! batch needs to see what is queued.

use crate::auth::Keyring;
use crate::wire::{self, Packet};
use actix::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::mpsc;
use std::sync::Arc;

/// Most packets one batch takes from the queue: enough to share the curve
/// work, few enough that the first packet does not wait long for the last.
pub const MOST_AT_ONCE: usize = 32;

/// A handle on one verifier thread; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Verifier(mpsc::Sender<Precheck>);

/// Check `packet`'s signatures under `keys`, then hand it to `back`.
pub struct Precheck {
    pub packet: Packet,
    pub keys: Arc<Keyring>,
    pub back: Recipient<Checked>,
}

/// A packet whose signatures were checked ahead (good ones are cached).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Checked(pub Packet);

impl Verifier {
    /// Start a verifier thread.
    pub fn start() -> Verifier {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("verifier".into())
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            // Without the thread the packets would never come back.
            log::warn!("no verifier thread ({e}); signatures are checked by the shield");
        }
        Verifier(tx)
    }

    /// Queue `p`; it comes back to `p.back` once checked. If the thread is
    /// gone (it could not start), it comes back at once, unchecked: the
    /// shield checks it then.
    pub fn do_send(&self, p: Precheck) {
        if let Err(mpsc::SendError(p)) = self.0.send(p) {
            p.back.do_send(Checked(p.packet));
        }
    }
}

/// The thread: take what queued, check it in batches, hand it back in order.
fn run(rx: mpsc::Receiver<Precheck>) {
    let mut seed = [0u8; 32];
    // The batch coefficients must be unpredictable to a signer; a clock
    // would not do. Without the OS's randomness, no batches: every
    // signature is then checked alone, which needs none.
    let batches = getrandom::getrandom(&mut seed).is_ok();
    let mut rng = ChaCha20Rng::from_seed(seed);
    while let Ok(first) = rx.recv() {
        let mut taken = vec![first];
        while taken.len() < MOST_AT_ONCE {
            match rx.try_recv() {
                Ok(p) => taken.push(p),
                Err(_) => break,
            }
        }
        if batches {
            check_by_keyring(&taken, &mut rng);
        } else {
            taken
                .iter()
                .for_each(|p| wire::precheck(&p.keys, &p.packet));
        }
        for p in taken {
            p.back.do_send(Checked(p.packet));
        }
    }
}

/// One batch per keyring (nodes that share this thread have their own).
fn check_by_keyring(taken: &[Precheck], rng: &mut ChaCha20Rng) {
    let mut done = vec![false; taken.len()];
    for i in 0..taken.len() {
        if done[i] {
            continue;
        }
        let keys = &taken[i].keys;
        let mine: Vec<&Packet> = (i..taken.len())
            .filter(|&j| Arc::ptr_eq(&taken[j].keys, keys))
            .map(|j| {
                done[j] = true;
                &taken[j].packet
            })
            .collect();
        wire::precheck_all(keys, &mine, rng);
    }
}

/// Verifier threads for this process's nodes, up to one per core, when
/// there is more than one core (on one core they would only add hand-offs). A node
/// keeps one of them ([`Verifiers::for_node`]), so its packets stay in order.
#[derive(Clone)]
pub struct Verifiers(Vec<Verifier>);

impl Verifiers {
    /// Threads for `nodes` nodes: one per core, at most one per node.
    pub fn start(nodes: usize) -> Option<Verifiers> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(nodes.max(1));
        (cores > 1).then(|| Verifiers((0..threads).map(|_| Verifier::start()).collect()))
    }

    /// The verifier node `id` uses, always the same one.
    pub fn for_node(&self, id: crate::core::NodeId) -> Verifier {
        self.0[id as usize % self.0.len()].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Identity};
    use crate::core::{Ballot, Message, NodeId};
    use crate::wire::Body;

    /// Collects what comes back, in order, and stops the system at `want`.
    struct Collect {
        got: Vec<Packet>,
        want: usize,
        out: std::sync::mpsc::Sender<Vec<Packet>>,
    }

    impl Actor for Collect {
        type Context = Context<Self>;
    }

    impl Handler<Checked> for Collect {
        type Result = ();
        fn handle(&mut self, Checked(p): Checked, _: &mut Context<Self>) {
            self.got.push(p);
            if self.got.len() == self.want {
                let _ = self.out.send(std::mem::take(&mut self.got));
                System::current().stop();
            }
        }
    }

    fn packet(id: &Identity, from: NodeId, pos: u64) -> Packet {
        let body = Body::Paxos(Message::Propose {
            pos,
            ballot: Ballot::new(1, from),
            value: format!("v{pos}").as_str().into(),
        });
        let sig = id.sign(from, &body);
        Packet {
            from,
            to: None,
            body,
            sig: Some(sig),
        }
    }

    /// Packets come back in the order they went in, the good signatures
    /// cached for the shield, a forged one (node 1 signing as node 0)
    /// not: the shield still finds it bad and names the claimed sender.
    #[test]
    fn packets_come_back_in_order_with_only_good_signatures_cached() {
        let ids: Vec<Identity> = (0..2).map(|i| Identity::from_seed(5, i)).collect();
        let mut shield_keys = Keyring::default();
        for (i, id) in ids.iter().enumerate() {
            assert!(shield_keys.insert(i as NodeId, id.public()));
        }
        let mut sent: Vec<Packet> = (0..100).map(|i| packet(&ids[0], 0, i)).collect();
        sent[57] = packet(&ids[1], 0, 57);
        let expected = sent.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let keys = Arc::new(shield_keys.sharing());
        let system = System::new();
        system.block_on(async {
            let back = Collect {
                got: vec![],
                want: sent.len(),
                out: tx,
            }
            .start()
            .recipient();
            let verifier = Verifier::start();
            for packet in sent {
                verifier.do_send(Precheck {
                    packet,
                    keys: Arc::clone(&keys),
                    back: back.clone(),
                });
            }
        });
        system.run().expect("the system ran");
        let got = rx.recv().expect("every packet came back");
        assert_eq!(got, expected);
        let checks = shield_keys.checks_made();
        assert!(checks >= 100, "each signature was checked: {checks}");
        for (i, p) in expected.iter().enumerate() {
            let answer = shield_keys.verify(p.from, &p.body, p.sig.as_ref().unwrap());
            match i {
                57 => assert_eq!(answer, Err(AuthError::BadSignature(0))),
                _ => assert_eq!(answer, Ok(())),
            }
        }
        assert_eq!(
            shield_keys.checks_made(),
            checks + 1,
            "the shield checked only the forged one again"
        );
    }
}
