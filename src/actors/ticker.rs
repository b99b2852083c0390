//! `Ticker`: the clock of one node. It sends its middleware a [`Tick`]
//! every period, and the middleware passes each one on to its node.
//!
//! Why a separate actor and not a timer in the node's own context: actix
//! polls every timer an actor has each time it polls that actor, and
//! tokio's `Sleep` registers a fresh waker on each poll. A node or a
//! middleware is polled once per batch of messages, hundreds of thousands
//! of times a second, so their two timers cost a sequential bench about a
//! tenth of its time doing nothing. The ticker is polled only when its own
//! timer fires; the ticks reach the pair as ordinary messages, in order
//! with the packets.
//!
//! A middleware's ticker holds it as the middleware's own timer did: it
//! keeps it running ([`Ticker::new`]). An actor that had no timer of its
//! own is held weakly ([`Ticker::weak`]), so it stops when it did before.
//! Either way the ticker stops once its actor has.

use super::messages::Tick;
use actix::prelude::*;
use actix::WeakRecipient;
use std::time::Duration;

pub struct Ticker {
    to: WeakRecipient<Tick>,
    /// Keeps `to` running, as a timer in its own context would.
    _hold: Option<Recipient<Tick>>,
    period: Duration,
}

impl Ticker {
    /// Ticks for `to` every `period`, counted from the last one sent,
    /// keeping `to` running.
    pub fn new(to: Recipient<Tick>, period: Duration) -> Self {
        Ticker {
            to: to.downgrade(),
            _hold: Some(to),
            period,
        }
    }

    /// Ticks for `to` while something else keeps it running.
    pub fn weak(to: WeakRecipient<Tick>, period: Duration) -> Self {
        Ticker {
            to,
            _hold: None,
            period,
        }
    }
}

impl Actor for Ticker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        super::every(ctx, self.period, |t, ctx| match t.to.upgrade() {
            Some(to) if to.connected() => to.do_send(Tick),
            _ => ctx.stop(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts ticks; at the third it says so, and stops if its flag is set.
    struct Count(
        Arc<AtomicUsize>,
        Option<tokio::sync::oneshot::Sender<()>>,
        bool,
    );

    impl Actor for Count {
        type Context = Context<Self>;
    }

    impl Handler<Tick> for Count {
        type Result = ();
        fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
            if self.0.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                if let Some(tx) = self.1.take() {
                    let _ = tx.send(());
                }
                if self.2 {
                    ctx.stop();
                }
            }
        }
    }

    /// Ticks a `Count` (stopping at three if `stops`) sees from the ticker
    /// `start` makes for it, once that ticker has stopped; the test's own
    /// address of the counter is dropped after the third tick.
    fn ticks_until_the_ticker_stops(stops: bool, start: fn(&Addr<Count>) -> Addr<Ticker>) -> usize {
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        actix::System::new().block_on(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let to = Count(count, Some(tx), stops).start();
            let ticker = start(&to);
            rx.await.unwrap();
            drop(to);
            // The ticker checks its receiver at each of its ticks.
            while ticker.connected() {
                actix_rt::time::sleep(Duration::from_millis(1)).await;
            }
        });
        seen.load(Ordering::SeqCst)
    }

    /// Ticks arrive as messages, and a ticker whose receiver stopped stops.
    #[test]
    fn ticks_arrive_and_the_ticker_stops_with_its_receiver() {
        let seen = ticks_until_the_ticker_stops(true, |to| {
            Ticker::new(to.clone().recipient(), Duration::from_millis(1)).start()
        });
        assert_eq!(seen, 3);
    }

    /// A weak ticker does not keep its receiver running: once the last
    /// address is dropped the receiver stops, and then the ticker.
    #[test]
    fn a_weak_ticker_stops_once_nothing_holds_its_receiver() {
        let seen = ticks_until_the_ticker_stops(false, |to| {
            Ticker::weak(to.downgrade().recipient(), Duration::from_millis(1)).start()
        });
        assert!(seen >= 3);
    }

    /// A ticker made with `new` keeps its receiver running, as the
    /// receiver's own timer did: ticks go on after its last address is
    /// dropped.
    #[test]
    fn a_holding_ticker_keeps_its_receiver_running() {
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        let went_on = actix::System::new().block_on(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let to = Count(count.clone(), Some(tx), false).start();
            let _ticker = Ticker::new(to.clone().recipient(), Duration::from_millis(1)).start();
            rx.await.unwrap();
            drop(to);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while count.load(Ordering::SeqCst) < 6 && std::time::Instant::now() < deadline {
                actix_rt::time::sleep(Duration::from_millis(1)).await;
            }
            count.load(Ordering::SeqCst) >= 6
        });
        assert!(went_on, "ticks stopped at {}", seen.load(Ordering::SeqCst));
    }
}
