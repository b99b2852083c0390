//! The KV workload of `paxos sim --workload kv`: closed-loop clients doing
//! reads, writes, compare-and-sets and deletes on a few keys through the
//! log, every invocation and completion recorded in a [`History`] that is
//! checked for linearizability when the run ends.
//!
//! Each client has one operation in flight at a time (Maelstrom's and
//! Raft's session rule) and numbers its requests, so a request asked again
//! — after the client's patience ran out, a flag, a crash or a redirect —
//! applies once ([`crate::kv::Store`]). The first reply of any honest
//! node's store completes it; a client that never hears back leaves its
//! operation open, and the checker lets such an operation take effect or
//! not. Everything random comes from the run's seed.
//!
//! [`ReadPath::Index`] answers reads without the log: the client asks the
//! node it follows, whose core confirms its lead with a quorum and waits
//! until its log is whole below the read's index ([`crate::core::Replica`]'s
//! read-index); the node's store then answers. A read refused (the node
//! does not lead, or lost its lead) or unanswered for a while goes through
//! the log instead, as the actors and `paxos maelstrom` do.
//!
//! [`ReadPath::Local`] is a planted bug: a read answered at once from the
//! store of whichever node the client asks, without the log — a follower
//! behind the leader answers with a value already overwritten. It exists
//! so the tests can show the checker catches it.

use super::world::World;
use super::SimConfig;
use crate::client;
use crate::core::{NodeId, Value};
use crate::kv::check::{History, Verdict};
use crate::kv::{Command, Op, Reply};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;

pub use crate::kv::ReadPath;

/// What the clients do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvWorkload {
    /// Concurrent clients, each with one operation in flight.
    pub clients: usize,
    /// Keys `k0`, `k1`, … the operations pick uniformly.
    pub keys: usize,
    /// Operations each client does.
    pub ops: usize,
    pub reads: ReadPath,
}

impl Default for KvWorkload {
    fn default() -> Self {
        KvWorkload {
            clients: 3,
            keys: 3,
            ops: 8,
            reads: ReadPath::Log,
        }
    }
}

/// What the workload saw, once the run is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvOutcome {
    /// Operations the workload asks for: clients × ops.
    pub asked: usize,
    pub invoked: usize,
    pub completed: usize,
    /// Every client did all its operations.
    pub done: bool,
    pub verdict: Verdict,
    /// Commands some honest log holds at two positions or more: asked
    /// again, committed twice, applied once.
    pub committed_twice: usize,
    /// (node, client, seq) a store applied fresh more than once: exactly
    /// once broken (should never be listed).
    pub applied_twice: Vec<(NodeId, u64, u64)>,
    /// (node, client, seq) of completed writes a running honest node's
    /// store never applied, in a run where everything committed.
    pub not_applied: Vec<(NodeId, u64, u64)>,
    /// Snapshots honest nodes took of their stores, and installed from
    /// peers because they were behind them.
    pub snapshots: (u64, u64),
    /// The most entries an honest node's durable state held at once
    /// ([`World::peak_kept`]).
    pub peak_kept: usize,
}

impl KvOutcome {
    /// What `paxos sim --replay` prints of it: the counts, the verdict and,
    /// for a history that cannot be ordered, its fewest calls drawn.
    pub fn report(&self) -> String {
        let mut out = format!(
            "clients: {} of {} operations completed ({} invoked){}; {} commands committed twice, applied once\n",
            self.completed,
            self.asked,
            self.invoked,
            if self.done { ", every client done" } else { "" },
            self.committed_twice
        );
        if self.snapshots != (0, 0) {
            out.push_str(&format!(
                "snapshots: {} taken by honest nodes, {} installed by a node that was behind\n",
                self.snapshots.0, self.snapshots.1
            ));
        }
        match &self.verdict {
            Verdict::Linearizable => out.push_str("history: linearizable\n"),
            Verdict::NotLinearizable { key, calls } => {
                out.push_str(&format!(
                    "history: NOT linearizable; the fewest operations on key {key} that cannot be ordered:\n"
                ));
                out.push_str(&crate::kv::check::draw(calls));
            }
        }
        for (node, client, seq) in &self.applied_twice {
            out.push_str(&format!(
                "node {node} applied client {client}'s request {seq} twice\n"
            ));
        }
        out
    }

    /// The history cannot be ordered, or exactly once was broken.
    pub fn violation(&self) -> Option<String> {
        if let Verdict::NotLinearizable { key, calls } = &self.verdict {
            return Some(format!(
                "the clients' history is not linearizable: {} operations on key {key} cannot be ordered",
                calls.len()
            ));
        }
        if let Some((node, client, seq)) = self.applied_twice.first() {
            return Some(format!(
                "node {node} applied client {client}'s request {seq} twice"
            ));
        }
        None
    }
}

/// One client of the workload.
struct KvClient {
    id: u64,
    /// Sequence number of its latest request.
    seq: u64,
    /// Its operation in flight: the op and the value that carries it
    /// through the log (none for a read the planted bug answers).
    open: Option<(Op, Option<Value>)>,
    /// When it invokes its next operation.
    next_at: u64,
    done: usize,
    /// The value it last saw at each key (what a `cas` expects).
    seen: BTreeMap<String, String>,
    /// Its read by read-index in flight: id, the member asked, since when.
    reading: Option<(u64, usize, u64)>,
}

/// The clients, their history and their randomness.
pub struct Driver {
    cfg: KvWorkload,
    rng: ChaCha8Rng,
    clients: Vec<KvClient>,
    history: History,
    /// Whom requests go to under attack (the scenarios' round robin);
    /// empty: the client's own pick (`World::ask`).
    targets: Vec<NodeId>,
    sent: usize,
    /// The last read id by read-index.
    reads: u64,
}

/// Ticks a read by read-index waits for its answer before it goes through
/// the log instead.
const READ_PATIENCE: u64 = 60;

/// Ticks a client thinks between two operations, at most.
const THINK: u64 = 20;

impl Driver {
    pub fn new(cfg: &SimConfig, kv: &KvWorkload, seed: u64) -> Driver {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4b56_574f_524b_4c44);
        let clients = (0..kv.clients as u64)
            .map(|id| KvClient {
                id: id + 1,
                seq: 0,
                open: None,
                // The SAFETY scenario wants the attacker asked first, at once.
                next_at: match id == 0 && cfg.attack.is_some() {
                    true => 0,
                    false => rng.next_u64() % THINK,
                },
                done: 0,
                seen: BTreeMap::new(),
                reading: None,
            })
            .collect();
        let targets = match cfg.attack {
            Some(a) => client::targets(cfg.nodes, Some(a), cfg.attacker),
            None => Vec::new(),
        };
        Driver {
            cfg: kv.clone(),
            rng,
            clients,
            history: History::default(),
            targets,
            sent: 0,
            reads: 0,
        }
    }

    /// Every client did all its operations.
    pub fn done(&self) -> bool {
        self.clients.iter().all(|c| c.done == self.cfg.ops)
    }

    /// One tick's worth: complete what was answered, invoke what is due.
    pub fn step(&mut self, w: &mut World) {
        for r in w.take_replies() {
            self.complete(w, r.client, r.seq, r.reply);
        }
        self.settle_reads(w);
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            if c.open.is_none() && c.done < self.cfg.ops && c.next_at <= w.now() {
                self.invoke(w, i);
            }
        }
    }

    /// Client `client`'s request `seq` was answered: the first answer of
    /// its operation in flight completes it.
    fn complete(&mut self, w: &mut World, client: u64, seq: u64, reply: Reply) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == client) else {
            return;
        };
        if c.seq != seq || c.open.is_none() {
            return;
        }
        let Some((op, value)) = c.open.take() else {
            return;
        };
        remember(&mut c.seen, &op, &reply);
        c.done += 1;
        c.next_at = w.now() + 1 + self.rng.next_u64() % THINK;
        // A history of one operation per client at a time cannot refuse this.
        let _ = self.history.complete(client, reply);
        if let Some(value) = value {
            w.answered(&value);
        }
    }

    /// Client `i` invokes its next operation.
    fn invoke(&mut self, w: &mut World, i: usize) {
        let op = self.draw(i);
        if self.cfg.reads == ReadPath::Local && matches!(op, Op::Get { .. }) {
            return self.read_local(w, i, op);
        }
        if self.cfg.reads == ReadPath::Index && matches!(op, Op::Get { .. }) {
            let c = &mut self.clients[i];
            c.seq += 1;
            let _ = self.history.invoke(c.id, op.clone());
            c.open = Some((op, None));
            let m = self.target(w).unwrap_or(0);
            return self.ask_read(w, i, m);
        }
        // Without an attack the world's own ask picks (and follows redirects).
        let target = match self.targets.is_empty() {
            true => None,
            false => self.target(w),
        };
        let c = &mut self.clients[i];
        c.seq += 1;
        let cmd = Command {
            client: c.id,
            seq: c.seq,
            op: op.clone(),
        };
        let value = Value::one(cmd.encode());
        let _ = self.history.invoke(c.id, op.clone());
        c.open = Some((op, Some(value.clone())));
        match target {
            Some(m) => w.request(m, value),
            None => w.ask(value),
        }
    }

    /// Whom the next request goes to: the scenario's round robin under
    /// attack, else the node the client follows.
    fn target(&mut self, w: &mut World) -> Option<usize> {
        if self.targets.is_empty() {
            return w.followed();
        }
        let node = self.targets[self.sent % self.targets.len()];
        self.sent += 1;
        Some(node as usize)
    }

    /// Client `i` asks member `m` for its open read by read-index.
    fn ask_read(&mut self, w: &mut World, i: usize, m: usize) {
        self.reads += 1;
        self.clients[i].reading = Some((self.reads, m, w.now()));
        w.read_index(m, self.reads);
    }

    /// Answer the reads by read-index a node confirmed; ask again those
    /// refused (of the leader named, else the next node) or overdue.
    fn settle_reads(&mut self, w: &mut World) {
        for a in w.take_reads() {
            let Some(i) = self
                .clients
                .iter()
                .position(|c| c.reading.is_some_and(|r| r.0 == a.id))
            else {
                continue;
            };
            let key = match &self.clients[i].open {
                Some((op, _)) => op.key().to_string(),
                None => continue,
            };
            let reply = a
                .index
                .and_then(|index| w.read_confirmed(a.member, &key, index));
            match reply {
                Some(reply) => {
                    let c = &mut self.clients[i];
                    c.reading = None;
                    let (id, seq) = (c.id, c.seq);
                    self.complete(w, id, seq, reply);
                }
                None => self.via_log(w, i),
            }
        }
        for i in 0..self.clients.len() {
            if let Some((_, _, since)) = self.clients[i].reading {
                if w.now() >= since + READ_PATIENCE {
                    self.via_log(w, i);
                }
            }
        }
    }

    /// Client `i`'s open read by read-index goes through the log instead
    /// (the same request: its answer completes the read).
    fn via_log(&mut self, w: &mut World, i: usize) {
        let target = match self.targets.is_empty() {
            true => None,
            false => self.target(w),
        };
        let c = &mut self.clients[i];
        c.reading = None;
        let Some((op, None)) = &c.open else {
            return;
        };
        let cmd = Command {
            client: c.id,
            seq: c.seq,
            op: op.clone(),
        };
        let value = Value::one(cmd.encode());
        c.open = Some((op.clone(), Some(value.clone())));
        match target {
            Some(m) => w.request(m, value),
            None => w.ask(value),
        }
    }

    /// The planted bug: client `i`'s read answered at once by a random
    /// node's own store (the next one that keeps a store, if that one is
    /// down or an attacker). Nobody up: the client tries next tick.
    fn read_local(&mut self, w: &mut World, i: usize, op: Op) {
        let n = w.members();
        let first = (self.rng.next_u64() % n as u64) as usize;
        let Some(reply) = (0..n).find_map(|k| w.read_local((first + k) % n, &op)) else {
            return;
        };
        let c = &mut self.clients[i];
        c.seq += 1;
        let _ = self.history.invoke(c.id, op.clone());
        c.open = Some((op, None));
        let (id, seq) = (c.id, c.seq);
        self.complete(w, id, seq, reply);
    }

    /// Client `i`'s next operation: a read, a write, a compare-and-set of
    /// what it last saw, or (rarely) a delete, on a random key. Written
    /// values are unique, so the checker can tell every write apart.
    fn draw(&mut self, i: usize) -> Op {
        let c = &self.clients[i];
        draw_op(&mut self.rng, self.cfg.keys, c.id, c.seq + 1, &c.seen)
    }

    /// The run is over: check the history and exactly once.
    pub fn finish(self, w: &World, everything_committed: bool) -> KvOutcome {
        let mut applied_twice = Vec::new();
        let mut not_applied = Vec::new();
        let seqs = seqs(&self.history);
        for (node, fresh, store) in w.applications() {
            for (&(client, seq), &n) in fresh {
                if n > 1 {
                    applied_twice.push((node, client, seq));
                }
            }
            if everything_committed {
                for (c, &seq) in self.history.calls().iter().zip(&seqs) {
                    let write = !matches!(c.op, Op::Get { .. });
                    if write && c.reply.is_some() {
                        // Applied here, or by the peers whose snapshot this
                        // node installed: its session has moved past it.
                        let in_snapshot =
                            (store.sessions().get(&c.client)).is_some_and(|s| s.seq >= seq);
                        if !fresh.contains_key(&(c.client, seq)) && !in_snapshot {
                            not_applied.push((node, c.client, seq));
                        }
                    }
                }
            }
        }
        KvOutcome {
            asked: self.cfg.clients * self.cfg.ops,
            invoked: self.history.calls().len(),
            completed: self
                .history
                .calls()
                .iter()
                .filter(|c| c.reply.is_some())
                .count(),
            done: self.done(),
            verdict: self.history.check(),
            committed_twice: w.committed_twice(),
            applied_twice,
            not_applied,
            snapshots: w.snapshots(),
            peak_kept: w.peak_kept(),
        }
    }
}

/// Client `client`'s operation number `seq`: a read, a write, a
/// compare-and-set of what it last saw (`seen`), or (rarely) a delete, on
/// one of `keys` keys drawn from `rng`. Written values (`client.seq`) are
/// unique, so the checker can tell every write apart.
pub fn draw_op(
    rng: &mut ChaCha8Rng,
    keys: usize,
    client: u64,
    seq: u64,
    seen: &BTreeMap<String, String>,
) -> Op {
    let key = format!("k{}", rng.next_u64() % keys.max(1) as u64);
    let fresh = format!("{client}.{seq}");
    match rng.next_u64() % 20 {
        0..=6 => Op::get(key),
        7..=13 => Op::put(key, fresh),
        14..=18 => Op::Cas {
            from: seen.get(&key).cloned().unwrap_or_else(|| "none".into()),
            key,
            to: fresh,
        },
        _ => Op::Delete { key },
    }
}

/// A call's sequence number: its client's calls are numbered from 1 in
/// invocation order.
/// Each call's sequence number in its client's session (its count among
/// that client's calls invoked up to it), in the order of `h.calls()`.
fn seqs(h: &History) -> Vec<u64> {
    let mut order: Vec<usize> = (0..h.calls().len()).collect();
    order.sort_by_key(|&i| h.calls()[i].invoked);
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = vec![0; order.len()];
    for i in order {
        let n = next.entry(h.calls()[i].client).or_default();
        *n += 1;
        out[i] = *n;
    }
    out
}

/// What a completed operation tells its client about its key.
pub fn remember(seen: &mut BTreeMap<String, String>, op: &Op, reply: &Reply) {
    match (op, reply) {
        (Op::Put { key, value }, Reply::Ok { .. }) => {
            seen.insert(key.clone(), value.clone());
        }
        (Op::Get { key }, Reply::Ok { value: Some(v) })
        | (Op::Cas { key, to: v, .. }, Reply::Ok { .. }) => {
            seen.insert(key.clone(), v.clone());
        }
        (Op::Cas { key, .. }, Reply::CasMismatch { found }) => {
            seen.insert(key.clone(), found.clone());
        }
        (_, Reply::KeyMissing) | (Op::Delete { .. }, _) => {
            seen.remove(op.key());
        }
        _ => {}
    }
}
