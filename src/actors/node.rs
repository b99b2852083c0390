//! `NodeActor`: drives one participant (honest replica or attacker) with the
//! messages its middleware lets through, logical ticks its middleware passes
//! on from their [`super::Ticker`] (each carrying seeded randomness for
//! jitter), and client requests.

use super::messages::{
    DebugInfo, Deliver, Fatal, GetStatus, KvApplied, NodeCommand, NodeStatus, Outgoing, Tick,
};
use crate::core::{Event, Input, NodeId, Output, PosMap, Process, Value, Write};
use crate::node::{self, Split};
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a durable node writes its `Persist` outputs (the node's data
/// directory); `Err` means the write is not known to be on disk.
pub trait Persist: Send {
    fn persist(&mut self, writes: &[Write]) -> Result<(), String>;
}

pub struct NodeActor {
    /// `None` runs in memory: a restart forgets promises (see README).
    store: Option<Box<dyn Persist>>,
    id: NodeId,
    process: Box<dyn Process>,
    middleware: Recipient<Outgoing>,
    coordinator: Recipient<DebugInfo>,
    rng: ChaCha8Rng,
    /// Told when the node halts for good; without it, the actor system stops.
    fatal: Option<Recipient<Fatal>>,
    /// Group commit (durable nodes only): the outputs of steps taken since
    /// the last sync, waiting for one `Flush` to sync all their writes at
    /// once; `Some` while that `Flush` is queued.
    held: Option<Split>,
    me: Option<Addr<NodeActor>>,
    /// The key-value store applied to the committed log, and where its
    /// replies go; `None`: nobody asks this node for KV replies.
    kv: Option<(crate::kv::Store, Recipient<KvApplied>)>,
    /// How it serves a client's read: through the log, by read-index, or
    /// ([`crate::kv::ReadPath::Local`]) from the store at once — the
    /// planted bug, kept for `paxos bench --workload kv` to measure what a
    /// read costs without consensus.
    reads: crate::kv::ReadPath,
    /// Reads by read-index in flight.
    index_reads: crate::kv::IndexReads,
    /// Positions between two snapshots of the store (0: never).
    snapshot_every: u64,
}

/// Room for the outputs of a typical step (a write, a reply, an event, a
/// few Proposes), so the buffer is allocated once, not grown.
const OUTPUTS: usize = 8;

/// A read that read-index refused, proposed through the log instead.
#[derive(Message)]
#[rtype(result = "()")]
struct ViaLog(Value);

/// Steps of durable nodes in this process that wrote something: without
/// group commit each would cost a sync of its own.
static WRITING_STEPS: AtomicU64 = AtomicU64::new(0);

/// How many steps of this process's durable nodes wrote something so far
/// (compare with `storage::syncs_done`).
pub fn writing_steps() -> u64 {
    WRITING_STEPS.load(Ordering::Relaxed)
}

/// Sync what the held steps wrote, then release their reports and sends.
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl NodeActor {
    /// `seed` makes the retry jitter reproducible.
    pub fn new(
        process: Box<dyn Process>,
        middleware: Recipient<Outgoing>,
        coordinator: Recipient<DebugInfo>,
        seed: u64,
    ) -> Self {
        let id = process.id();
        NodeActor {
            store: None,
            id,
            process,
            middleware,
            coordinator,
            rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(id) << 32)),
            fatal: None,
            held: None,
            me: None,
            kv: None,
            reads: crate::kv::ReadPath::Log,
            index_reads: Default::default(),
            snapshot_every: 0,
        }
    }

    /// Persist every write before sending anything (see [`Output::Persist`]).
    pub fn with_store(mut self, store: Option<Box<dyn Persist>>) -> Self {
        self.store = store;
        self
    }

    /// Apply the committed log to a key-value store, in order, telling
    /// `to` each command's reply ([`crate::kv::Store`]), and snapshot it
    /// every `every` positions (0: never), the core keeping the snapshot
    /// instead of the log below it. A restarted node starts from its
    /// snapshot, if it has one, and applies the log after it again.
    pub fn with_kv(
        mut self,
        to: Option<Recipient<KvApplied>>,
        reads: crate::kv::ReadPath,
        every: u64,
    ) -> Self {
        self.kv = to.map(|to| (crate::kv::Store::default(), to));
        self.reads = reads;
        self.snapshot_every = every;
        self
    }

    /// With local reads on, answer `value` at once if it is one read
    /// command; whether it was.
    fn read_locally(&mut self, value: &Value) -> bool {
        let (crate::kv::ReadPath::Local, Some((store, to))) = (self.reads, &self.kv) else {
            return false;
        };
        let Some(cmd) = value.single().and_then(crate::kv::Command::decode) else {
            return false;
        };
        let crate::kv::Op::Get { key } = &cmd.op else {
            return false;
        };
        let reply = store.read_here(key);
        to.do_send(KvApplied {
            node: self.id,
            client: cmd.client,
            seq: cmd.seq,
            reply,
        });
        true
    }

    /// With read-index on, ask the core to confirm a read command instead
    /// of proposing it; whether `value` was one.
    fn read_by_index(&mut self, value: &Value) -> bool {
        if self.reads != crate::kv::ReadPath::Index || self.kv.is_none() {
            return false;
        }
        match self.index_reads.start(value) {
            Some(id) => {
                self.feed(Input::Read { id });
                true
            }
            None => false,
        }
    }

    /// Tell `to` when the node halts for good, instead of stopping the system.
    pub fn with_fatal(mut self, to: Option<Recipient<Fatal>>) -> Self {
        self.fatal = to;
        self
    }

    fn feed(&mut self, input: crate::core::Input) {
        let mut outs = Vec::with_capacity(OUTPUTS);
        self.process.step_into(input, &mut outs);
        self.dispatch(outs);
    }

    /// Carry out one step's outputs as [`node::split`] sorts them: persist
    /// (synced) first; then report (a report needs only the writes to be
    /// durable, and a client waiting for a commit hears of it sooner), then
    /// hand the messages to the middleware.
    ///
    /// A durable node commits in groups: a step's outputs are held, and a
    /// `Flush` queued behind whatever is already in the mailbox syncs the
    /// writes of every step taken meanwhile in one append, then releases
    /// their reports and messages in order. So under load many steps share
    /// one fsync, and still nothing a step sends leaves before its writes
    /// are on disk.
    fn dispatch(&mut self, outs: Vec<Output>) {
        if self.store.is_none() {
            self.release_in_memory(outs);
            return;
        }
        let step = node::split(outs);
        if !step.persist.is_empty() {
            WRITING_STEPS.fetch_add(1, Ordering::Relaxed);
        }
        match self.held.as_mut() {
            Some(held) => {
                held.persist.extend(step.persist);
                held.events.extend(step.events);
                held.send.extend(step.send);
            }
            None => {
                self.held = Some(step);
                match &self.me {
                    Some(me) => me.do_send(Flush),
                    None => self.flush(),
                }
            }
        }
    }

    /// Sync the held writes (one append), then release what they held back.
    fn flush(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        if let (Some(store), false) = (&mut self.store, held.persist.is_empty()) {
            if let Err(e) = store.persist(&held.persist) {
                // A promise that is not on disk must not be sent: stop here
                // rather than answer and forget it after a crash.
                let why = format!("node {}: cannot persist ({e}); stopping", self.id);
                log::error!("{why}");
                match &self.fatal {
                    Some(to) => to.do_send(Fatal(why)),
                    None => System::current().stop_with_code(1),
                }
                self.store = None;
                self.process = Box::new(Halted(self.id, Default::default()));
                return;
            }
        }
        self.release(held);
    }

    /// Report a step's events and hand its messages to the middleware
    /// (its writes, if any, are on disk).
    fn release(&mut self, step: Split) {
        for event in step.events {
            self.report(event);
        }
        if !step.send.is_empty() {
            self.middleware.do_send(Outgoing(step.send));
        }
        self.apply_kv();
    }

    /// [`release`](Self::release) for a node that keeps nothing: its
    /// writes are dropped, its events reported, and the messages left in
    /// `outs` (in order) go to the middleware, with no sorting into
    /// vectors of their own.
    fn release_in_memory(&mut self, mut outs: Vec<Output>) {
        outs.retain_mut(|o| match node::kind(o) {
            node::Kind::Persist => false,
            node::Kind::Report => {
                if let Output::Event(e) = o {
                    self.report(std::mem::replace(e, Event::Note(String::new())));
                }
                false
            }
            node::Kind::Send => true,
        });
        if !outs.is_empty() {
            self.middleware.do_send(Outgoing(outs));
        }
        self.apply_kv();
    }

    /// Tell the coordinator of `event`, unless it answers a read by index.
    fn report(&mut self, event: Event) {
        match self.index_reads.note(&event) {
            crate::kv::Noted::Other => self.coordinator.do_send(DebugInfo {
                node: self.id,
                event,
            }),
            crate::kv::Noted::Kept => {}
            crate::kv::Noted::Refused(value) => {
                if let Some(me) = &self.me {
                    me.do_send(ViaLog(value));
                }
            }
        }
    }

    /// Apply what committed since to the store, if there is one, and send
    /// the replies. A value is decided once it is in the log, so its reply
    /// may go before this node's own copy of the Commit is on disk.
    fn apply_kv(&mut self) {
        let Some((store, to)) = &mut self.kv else {
            return;
        };
        let followed = match store.follow(&*self.process, self.snapshot_every) {
            Ok(followed) => followed,
            Err(e) => {
                log::error!("node {}: {e}", self.id);
                Default::default()
            }
        };
        for a in followed.applied {
            if let Some(reply) = a.reply {
                to.do_send(KvApplied {
                    node: self.id,
                    client: a.client,
                    seq: a.seq,
                    reply,
                });
            }
        }
        for (client, seq, reply) in self.index_reads.answer(store) {
            to.do_send(KvApplied {
                node: self.id,
                client,
                seq,
                reply,
            });
        }
        if let Some(snap) = followed.compact {
            self.feed(Input::Compact(snap));
        }
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address());
    }
}

impl Handler<Tick> for NodeActor {
    type Result = ();
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        let entropy = self.rng.next_u64();
        self.feed(Input::Tick { entropy });
    }
}

impl Handler<Deliver> for NodeActor {
    type Result = ();
    fn handle(&mut self, Deliver(msgs): Deliver, _: &mut Context<Self>) {
        let mut outs = Vec::with_capacity(OUTPUTS);
        for (from, msg) in msgs {
            self.process
                .step_into(Input::Deliver { from, msg }, &mut outs);
        }
        self.dispatch(outs);
    }
}

impl Handler<Flush> for NodeActor {
    type Result = ();
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) {
        self.flush();
    }
}

impl Handler<NodeCommand> for NodeActor {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, ctx: &mut Context<Self>) {
        match cmd {
            NodeCommand::Propagate(value) | NodeCommand::Ask(value)
                if self.read_locally(&value) || self.read_by_index(&value) => {}
            NodeCommand::Propagate(value) => self.feed(Input::Request { value }),
            NodeCommand::Ask(value) => match node::ask(&*self.process, value) {
                Ok(input) => self.feed(input),
                Err(redirect) => self.dispatch(vec![Output::Event(redirect)]),
            },
            // Keys are the middleware's business; it keeps Peers for itself.
            NodeCommand::Peers(_) | NodeCommand::Cut(_) => {}
            NodeCommand::Exit => ctx.stop(),
        }
    }
}

impl Handler<ViaLog> for NodeActor {
    type Result = ();
    fn handle(&mut self, ViaLog(value): ViaLog, _: &mut Context<Self>) {
        // As a client's ask: proposed here, or the leader named.
        match node::ask(&*self.process, value) {
            Ok(input) => self.feed(input),
            Err(redirect) => self.dispatch(vec![Output::Event(redirect)]),
        }
    }
}

impl Handler<GetStatus> for NodeActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, ask: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let (log, more) = NodeStatus::page(self.process.log(), ask);
        MessageResult(Some(NodeStatus {
            id: self.id,
            log,
            flagged: Default::default(),
            hears_from: None,
            more,
        }))
    }
}

/// What a node becomes after a failed write: it answers nothing.
struct Halted(NodeId, PosMap<Value>);

impl Process for Halted {
    fn id(&self) -> NodeId {
        self.0
    }
    fn step(&mut self, _: Input) -> Vec<Output> {
        Vec::new()
    }
    fn log(&self) -> &PosMap<Value> {
        &self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Ballot, Config, Message, Replica};
    use std::sync::{Arc, Mutex};

    /// A disk that records each append (its writes) and what was sent
    /// before it: the order the test checks.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Persist for Log {
        fn persist(&mut self, writes: &[Write]) -> Result<(), String> {
            let mut log = self.0.lock().unwrap();
            log.push(format!("sync {}", writes.len()));
            Ok(())
        }
    }

    struct Sink(Log);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Outgoing> for Sink {
        type Result = ();
        fn handle(&mut self, Outgoing(outs): Outgoing, _: &mut Context<Self>) {
            self.0
                 .0
                .lock()
                .unwrap()
                .push(format!("send {}", outs.len()));
        }
    }

    impl Handler<DebugInfo> for Sink {
        type Result = ();
        fn handle(&mut self, _: DebugInfo, _: &mut Context<Self>) {}
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Ping;

    impl Handler<Ping> for Sink {
        type Result = ();
        fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
    }

    /// Ten Proposes already queued when the node first runs: their ten
    /// acceptances are written in one append and synced once, and the
    /// Accepts leave only after it.
    #[test]
    fn steps_queued_together_share_one_sync_and_send_after_it() {
        let log = Log::default();
        let seen = log.clone();
        actix::System::new().block_on(async move {
            let sink = Sink(log.clone()).start();
            let node = NodeActor::new(
                Box::new(Replica::new(1, Config::new(3))),
                sink.clone().recipient(),
                sink.clone().recipient(),
                7,
            )
            .with_store(Some(Box::new(log)))
            .start();
            for pos in 0..10 {
                let msg = Message::Propose {
                    pos,
                    ballot: Ballot::new(1, 0),
                    value: format!("v{pos}").into(),
                };
                node.do_send(Deliver(vec![(0, msg)]));
            }
            // The first status request is queued behind the ten Proposes,
            // the group's Flush behind it; a second one behind the Flush,
            // and a ping to the sink behind the Accepts the Flush sent it.
            for _ in 0..2 {
                assert!(node.send(GetStatus::ALL).await.unwrap().is_some());
            }
            sink.send(Ping).await.unwrap();
        });
        let seen = seen.0.lock().unwrap().clone();
        let sends: usize = seen
            .iter()
            .filter_map(|l| l.strip_prefix("send "))
            .map(|n| n.parse::<usize>().unwrap())
            .sum();
        assert_eq!(
            seen.first().map(String::as_str),
            Some("sync 10"),
            "{seen:?}"
        );
        assert_eq!(seen.iter().filter(|l| l.starts_with("sync")).count(), 1);
        assert_eq!(sends, 10, "ten Accepts, after the sync: {seen:?}");
    }
}
