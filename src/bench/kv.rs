//! `paxos bench --workload kv`: operations per second and latency of the
//! key-value store, reads and writes apart.
//!
//! An in-process cluster (the demo's node and middleware actors, on a
//! perfect network: [`Switchboard`]) and closed-loop
//! clients, each with one request in flight: a read or a write of a random
//! key, asked of node 0 (the one proposer, so a stable leader); a request
//! completes when node 0's store applied it and replied. Reads go through
//! the log like writes. The same run then measures reads by read-index
//! ([`ReadPath::Index`]: node 0 confirms its lead with a quorum, no log
//! entry), and reads answered from node 0's own store at once
//! ([`ReadPath::Local`], the planted bug): what a read costs without
//! consensus, the limit any faster linearizable path could approach but not
//! pass.

use crate::actors::{
    spawn_node, DebugInfo, KvApplied, NodeCommand, PeerRecord, Switchboard, Wiring,
};
use crate::cluster::ClusterSpec;
use crate::core::{NodeId, Value};
use crate::kv::{Command, Op, ReadPath};
use actix::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct KvBenchConfig {
    pub nodes: usize,
    /// Concurrent clients, one request in flight each.
    pub clients: usize,
    pub keys: usize,
    /// Share of reads among the requests, in percent.
    pub read_percent: u32,
    /// How long each of the three phases runs.
    pub seconds: f64,
}

/// Latencies of one kind of request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latencies {
    pub count: usize,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
            samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        Latencies {
            count: samples.len(),
            p50_us: at(0.50),
            p99_us: at(0.99),
        }
    }
}

/// One phase: requests per second, and their latencies.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Phase {
    pub reads: String,
    pub ops_per_sec: f64,
    pub read: Latencies,
    pub write: Latencies,
}

/// What `paxos bench --workload kv` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvBenchReport {
    pub nodes: usize,
    pub clients: usize,
    pub keys: usize,
    pub read_percent: u32,
    pub seconds: f64,
    /// Reads through the log (linearizable).
    pub log: Phase,
    /// Reads by read-index (linearizable, no log entry).
    pub index: Phase,
    /// Reads from node 0's own store (not linearizable: the baseline).
    pub local: Phase,
}

impl KvBenchReport {
    pub fn render(&self) -> String {
        // A kind of operation that did not happen has no latency to show.
        let kind = |name: &str, l: &Latencies| match l.count {
            0 => format!("no {name}s"),
            n => format!("{name} p50 {:.0} µs p99 {:.0} µs ({n})", l.p50_us, l.p99_us),
        };
        let line = |p: &Phase| {
            format!(
                "reads {:<5}: {:>8.0} ops/s; {}; {}",
                p.reads,
                p.ops_per_sec,
                kind("read", &p.read),
                kind("write", &p.write)
            )
        };
        format!(
            "paxos bench --workload kv: {}, {}, {}, {}% reads, {} s a phase\n{}\n{}\n{}\n\
             (local reads skip consensus and are not linearizable: the limit a faster read path could approach)\n",
            crate::verdict::count(self.nodes, "node"),
            crate::verdict::count(self.clients, "client"),
            crate::verdict::count(self.keys, "key"),
            self.read_percent,
            self.seconds,
            line(&self.log),
            line(&self.index),
            line(&self.local)
        )
    }
}

/// Measure both phases. Must be called inside an actix system.
pub async fn run(cfg: &KvBenchConfig) -> Result<KvBenchReport, super::BenchError> {
    let log = phase(cfg, ReadPath::Log).await?;
    let index = phase(cfg, ReadPath::Index).await?;
    let local = phase(cfg, ReadPath::Local).await?;
    Ok(KvBenchReport {
        nodes: cfg.nodes,
        clients: cfg.clients,
        keys: cfg.keys,
        read_percent: cfg.read_percent,
        seconds: cfg.seconds,
        log,
        index,
        local,
    })
}

/// One phase on a fresh cluster whose node 0 serves reads as `reads` says.
async fn phase(cfg: &KvBenchConfig, reads: ReadPath) -> Result<Phase, super::BenchError> {
    let spec = ClusterSpec::lab(cfg.nodes, None, 0, false, false, None);
    let n = spec.nodes;
    let board = Switchboard::default();
    let records: Vec<PeerRecord> = (0..n as NodeId)
        .map(|id| PeerRecord {
            id,
            key: None,
            addr: None,
        })
        .collect();
    let mut middlewares = Vec::with_capacity(n);
    let driver = Driver::create(|ctx| {
        let me = ctx.address();
        for id in 0..n as NodeId {
            let wiring = Wiring {
                kv: (id == 0).then(|| me.clone().recipient()),
                kv_reads: reads,
                snapshot_every: spec.tunables.snapshot_every,
                ..Wiring::routed(board.clone().into(), me.clone().recipient(), 42)
            };
            let m = spawn_node(spec.member(id, || spec.identity(id)), wiring);
            m.do_send(NodeCommand::Peers(records.clone()));
            board.join(id, m.clone().recipient());
            middlewares.push(m);
        }
        let leader = middlewares[0].clone().recipient();
        Driver::new(cfg, leader)
    });
    driver.do_send(Start);
    actix_rt::time::sleep(Duration::from_secs_f64(cfg.seconds)).await;
    let result = driver
        .send(Stop)
        .await
        .map_err(|_| super::BenchError::ClientGone)?;
    for m in &middlewares {
        m.do_send(NodeCommand::Exit);
    }
    Ok(Phase {
        reads: reads.to_string(),
        ..result
    })
}

/// The clients: what each has in flight, and the latencies so far.
struct Driver {
    leader: Recipient<NodeCommand>,
    keys: usize,
    read_percent: u32,
    rng: ChaCha8Rng,
    /// Per client: its sequence number, and its request in flight.
    clients: Vec<(u64, Option<(Instant, bool)>)>,
    reads: Vec<Duration>,
    writes: Vec<Duration>,
    started: Option<Instant>,
}

impl Driver {
    fn new(cfg: &KvBenchConfig, leader: Recipient<NodeCommand>) -> Driver {
        Driver {
            leader,
            keys: cfg.keys.max(1),
            read_percent: cfg.read_percent,
            rng: ChaCha8Rng::seed_from_u64(42),
            clients: vec![(0, None); cfg.clients.max(1)],
            reads: Vec::new(),
            writes: Vec::new(),
            started: None,
        }
    }

    /// Client `i` asks its next request.
    fn ask(&mut self, i: usize) {
        let key = format!("k{}", self.rng.next_u64() % self.keys as u64);
        let read = (self.rng.next_u64() % 100) < u64::from(self.read_percent);
        let (seq, _) = self.clients[i];
        let op = match read {
            true => Op::get(key),
            false => Op::put(key, format!("{i}.{}", seq + 1)),
        };
        let cmd = Command {
            client: i as u64 + 1,
            seq: seq + 1,
            op,
        };
        self.clients[i] = (seq + 1, Some((Instant::now(), read)));
        self.leader
            .do_send(NodeCommand::Propagate(Value::one(cmd.encode())));
    }
}

impl Actor for Driver {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Start;

#[derive(Message)]
#[rtype(result = "Phase")]
struct Stop;

impl Handler<Start> for Driver {
    type Result = ();
    fn handle(&mut self, _: Start, _: &mut Context<Self>) {
        self.started = Some(Instant::now());
        for i in 0..self.clients.len() {
            self.ask(i);
        }
    }
}

impl Handler<KvApplied> for Driver {
    type Result = ();
    fn handle(&mut self, a: KvApplied, _: &mut Context<Self>) {
        let i = (a.client as usize).wrapping_sub(1);
        let Some((seq, Some((at, read)))) = self.clients.get(i).copied() else {
            return;
        };
        if seq != a.seq {
            return;
        }
        match read {
            true => self.reads.push(at.elapsed()),
            false => self.writes.push(at.elapsed()),
        }
        self.clients[i].1 = None;
        self.ask(i);
    }
}

impl Handler<DebugInfo> for Driver {
    type Result = ();
    fn handle(&mut self, _: DebugInfo, _: &mut Context<Self>) {}
}

impl Handler<Stop> for Driver {
    type Result = MessageResult<Stop>;
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        let secs = self.started.map_or(1.0, |s| s.elapsed().as_secs_f64());
        let ops = self.reads.len() + self.writes.len();
        MessageResult(Phase {
            reads: String::new(),
            ops_per_sec: ops as f64 / secs.max(1e-9),
            read: Latencies::of(std::mem::take(&mut self.reads)),
            write: Latencies::of(std::mem::take(&mut self.writes)),
        })
    }
}
