//! The in-process bench's physical limit: one actix mailbox delivery.
//!
//! Two actors on the caller's thread pass one message (the size of a
//! [`Packet`](crate::wire::Packet)) back and forth, one in flight, as a
//! position's messages go through the cluster one after another when it
//! commits one position at a time. What it costs per delivery is what an
//! in-process figure reads against: `paxos bench` reports a position's cost
//! in these hop-times, as the signed figures are in verify-times and the
//! TCP ones against a loopback ping-pong.

use actix::prelude::*;
use std::time::Instant;

/// How many deliveries the baseline times: even, so the ball ends where it
/// started, with the player that holds `done`.
const HOPS: u64 = 200_000;
const _: () = assert!(HOPS.is_multiple_of(2));

/// The ball: as large as a packet, so a delivery copies what one would.
#[derive(Message)]
#[rtype(result = "()")]
struct Ball {
    left: u64,
    payload: [u64; 16],
}

/// One of the two players; the one that gets the ball at 0 tells `done`.
struct Player {
    peer: Option<Recipient<Ball>>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Actor for Player {
    type Context = Context<Self>;
}

impl Handler<Ball> for Player {
    type Result = ();
    fn handle(&mut self, ball: Ball, _: &mut Context<Self>) {
        match (ball.left, &self.peer) {
            (0, _) | (_, None) => {
                if let Some(done) = self.done.take() {
                    let _ = done.send(());
                }
            }
            (left, Some(peer)) => peer.do_send(Ball {
                left: left - 1,
                payload: ball.payload,
            }),
        }
    }
}

/// Tell a player whom to pass to.
#[derive(Message)]
#[rtype(result = "()")]
struct PassTo(Recipient<Ball>);

impl Handler<PassTo> for Player {
    type Result = ();
    fn handle(&mut self, PassTo(peer): PassTo, _: &mut Context<Self>) {
        self.peer = Some(peer);
    }
}

/// Nanoseconds per actix mailbox delivery on this thread, one message in
/// flight: the best of five rallies, as a limit is what the machine can do
/// when nothing else takes its time (one rally is ~20 ms). Must be called
/// inside an actix system.
pub async fn actor_hop_ns() -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        best = best.min(rally().await);
    }
    best
}

/// One rally of [`HOPS`] deliveries, in ns per delivery.
async fn rally() -> f64 {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let a = Player {
        peer: None,
        done: Some(tx),
    }
    .start();
    let b = Player {
        peer: Some(a.clone().recipient()),
        done: None,
    }
    .start();
    // Both in place before the ball moves (a mailbox keeps its order).
    let _ = a.send(PassTo(b.clone().recipient())).await;
    let start = Instant::now();
    a.do_send(Ball {
        left: HOPS,
        payload: [0; 16],
    });
    let _ = rx.await;
    start.elapsed().as_nanos() as f64 / HOPS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ball goes all the way: the baseline ends, and a delivery costs
    /// something (no figure is asserted, the machine's speed varies).
    #[test]
    fn the_ball_comes_back_and_a_hop_takes_time() {
        let ns = actix::System::new().block_on(actor_hop_ns());
        assert!(ns.is_finite() && ns > 0.0, "{ns}");
    }
}
