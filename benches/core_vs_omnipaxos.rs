//! `core_vs_omnipaxos`: this crate's sans-IO core and OmniPaxos 0.2 driven by
//! the same loop, so the core's speed reads as a ratio to a well-known
//! Multi-Paxos library measured in the same run.
//!
//! The loop, for both: `n` replicas in memory, a warm leader (elected and one
//! value decided before timing starts), no network at all: each node's
//! outbox is taken in turn and its messages handed to their receivers, until
//! no node has anything to send. Elements are values decided.
//!
//! - `sequential`: one value at a time (append, then deliver until quiet),
//!   1,000 values;
//! - `pipelined`: 1,000 single values handed to the leader at once, then
//!   delivered until quiet. Neither side is told to batch: OmniPaxos merges
//!   queued appends into one message per follower by itself, this core's
//!   leader folds what queued while its window was full into one Propose.
//!
//! After criterion's groups the bench prints the ratios, measured by
//! alternating the two sides so both see the same machine load.
//!
//! Run with `cargo bench --bench core_vs_omnipaxos -- --warm-up-time 1 --measurement-time 3`.

use criterion::{BatchSize, Criterion, Throughput};
use omnipaxos::messages::Message as OpMessage;
use omnipaxos::storage::{Entry, NoSnapshot};
use omnipaxos::{ClusterConfig, OmniPaxos, ServerConfig};
use omnipaxos_storage::memory_storage::MemoryStorage;
use paxos::core::{Config, Input, NodeId, Output, Process, Replica, Value};
use std::time::{Duration, Instant};

/// Values per measured run.
const K: usize = 1000;

/// One side of the comparison: a warm cluster that decides values.
trait Cluster {
    fn warm(n: usize) -> Self;
    fn sequential(&mut self, values: Vec<String>);
    fn pipelined(&mut self, values: Vec<String>);
    fn decided(&self) -> usize;
}

/// This crate's core: `Replica`s with the default configuration.
struct Core {
    nodes: Vec<Replica>,
    /// Each node's outputs not yet delivered, as each OmniPaxos keeps an
    /// outbox its driver takes from.
    outboxes: Vec<Vec<Output>>,
    /// The outputs being delivered (one buffer, reused).
    buf: Vec<Output>,
    n: usize,
}

impl Core {
    fn request(&mut self, value: String) {
        let input = Input::Request {
            value: Value::one(value),
        };
        self.nodes[0].step_into(input, &mut self.outboxes[0]);
    }

    /// The loop `Omni::drain` runs: take each node's outbox in turn and
    /// deliver what it holds, until no node has anything to send.
    fn drain(&mut self) {
        let Core {
            nodes,
            outboxes,
            buf,
            n,
        } = self;
        loop {
            let mut any = false;
            for from in 0..*n {
                std::mem::swap(buf, &mut outboxes[from]);
                for o in buf.drain(..) {
                    for (to, msg) in o.deliveries(from as NodeId, *n) {
                        any = true;
                        let from = from as NodeId;
                        nodes[to as usize]
                            .step_into(Input::Deliver { from, msg }, &mut outboxes[to as usize]);
                    }
                }
            }
            if !any {
                return;
            }
        }
    }
}

impl Cluster for Core {
    fn warm(n: usize) -> Self {
        let cfg = Config::new(n);
        let nodes = (0..n as NodeId)
            .map(|i| Replica::new(i, cfg.clone()))
            .collect();
        let mut c = Core {
            nodes,
            outboxes: vec![Vec::new(); n],
            buf: Vec::new(),
            n,
        };
        c.request("warm".into());
        c.drain();
        assert!(c.nodes[0].leading());
        c
    }

    fn sequential(&mut self, values: Vec<String>) {
        for v in values {
            self.request(v);
            self.drain();
        }
    }

    fn pipelined(&mut self, values: Vec<String>) {
        for v in values {
            self.request(v);
        }
        self.drain();
    }

    fn decided(&self) -> usize {
        self.nodes[0].log().values().map(Value::len).sum::<usize>() - 1
    }
}

#[derive(Clone, Debug)]
struct OpValue(#[allow(dead_code)] String);

impl Entry for OpValue {
    type Snapshot = NoSnapshot;
}

/// OmniPaxos 0.2 with in-memory storage and its default server settings.
struct Omni {
    nodes: Vec<OmniPaxos<OpValue, MemoryStorage<OpValue>>>,
    leader: usize,
    buf: Vec<OpMessage<OpValue>>,
    base: usize,
}

impl Omni {
    /// Deliver every outgoing message until no node has any.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                self.nodes[i].take_outgoing_messages(&mut self.buf);
                for m in self.buf.drain(..) {
                    any = true;
                    let to = m.get_receiver() as usize - 1;
                    self.nodes[to].handle_incoming(m);
                }
            }
            if !any {
                return;
            }
        }
    }
}

impl Cluster for Omni {
    fn warm(n: usize) -> Self {
        let ids: Vec<u64> = (1..=n as u64).collect();
        let cluster = ClusterConfig {
            configuration_id: 1,
            nodes: ids.clone(),
            ..Default::default()
        };
        let nodes = ids
            .iter()
            .map(|&pid| {
                let server = ServerConfig {
                    pid,
                    ..Default::default()
                };
                cluster
                    .clone()
                    .build_for_server(server, MemoryStorage::default())
                    .expect("a valid OmniPaxos configuration")
            })
            .collect();
        let mut c = Omni {
            nodes,
            leader: 0,
            buf: Vec::new(),
            base: 0,
        };
        // Elect a leader: ticks drive its ballot leader election.
        for _ in 0..100 {
            for node in &mut c.nodes {
                node.tick();
            }
            c.drain();
            if let Some((l, true)) = c.nodes[0].get_current_leader() {
                c.leader = l as usize - 1;
                break;
            }
        }
        c.nodes[c.leader]
            .append(OpValue("warm".into()))
            .expect("the leader appends");
        c.drain();
        c.base = c.nodes[c.leader].get_decided_idx();
        assert_eq!(c.base, 1, "OmniPaxos decided its warm-up value");
        c
    }

    fn sequential(&mut self, values: Vec<String>) {
        for v in values {
            self.nodes[self.leader]
                .append(OpValue(v))
                .expect("the leader appends");
            self.drain();
        }
    }

    fn pipelined(&mut self, values: Vec<String>) {
        for v in values {
            self.nodes[self.leader]
                .append(OpValue(v))
                .expect("the leader appends");
        }
        self.drain();
    }

    fn decided(&self) -> usize {
        self.nodes[self.leader].get_decided_idx() - self.base
    }
}

fn values() -> Vec<String> {
    (0..K).map(|i| format!("v{i}")).collect()
}

/// Run one case on a fresh warm cluster and check every value was decided.
fn run<C: Cluster>(mut c: C, pipelined: bool) -> C {
    if pipelined {
        c.pipelined(values());
    } else {
        c.sequential(values());
    }
    assert_eq!(c.decided(), K, "every value decided");
    c
}

const CASES: [(usize, bool); 4] = [(3, false), (3, true), (5, false), (5, true)];

fn name(n: usize, pipelined: bool) -> String {
    format!(
        "n{n}/{}",
        if pipelined { "pipelined" } else { "sequential" }
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_vs_omnipaxos");
    g.throughput(Throughput::Elements(K as u64));
    for (n, pipelined) in CASES {
        let case = name(n, pipelined);
        g.bench_function(format!("paxos/{case}"), |b| {
            b.iter_batched(
                || Core::warm(n),
                |c| run(c, pipelined),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("omnipaxos/{case}"), |b| {
            b.iter_batched(
                || Omni::warm(n),
                |c| run(c, pipelined),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// Time one run (not the warm-up).
fn timed<C: Cluster>(n: usize, pipelined: bool) -> Duration {
    let c = C::warm(n);
    let start = Instant::now();
    let c = run(c, pipelined);
    let took = start.elapsed();
    drop(c);
    took
}

/// Ratios of values/s, this core ÷ OmniPaxos: the median of runs that
/// alternate the two, so both sides see the same load.
fn ratios() {
    println!("\ncore_vs_omnipaxos ratios (values/s of this core ÷ OmniPaxos 0.2, same loop, median of 31 alternating runs):");
    for (n, pipelined) in CASES {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..31 {
            ours.push(timed::<Core>(n, pipelined));
            theirs.push(timed::<Omni>(n, pipelined));
        }
        ours.sort();
        theirs.sort();
        let (o, t) = (ours[15].as_secs_f64(), theirs[15].as_secs_f64());
        println!(
            "  {:<16} paxos {:>6.2}M values/s   omnipaxos {:>6.2}M values/s   ratio {:.2}×",
            name(n, pipelined),
            K as f64 / o / 1e6,
            K as f64 / t / 1e6,
            t / o
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test --benches` runs this binary with no `--bench` flag:
    // criterion then only checks each case once, and so do the ratios.
    if std::env::args().any(|a| a == "--bench") {
        ratios();
    }
}
