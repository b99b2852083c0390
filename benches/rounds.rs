//! Rounds and values per second (`Throughput::Elements`), from the upper
//! bound down:
//!
//! - `core_sequential/nN`: the sans-IO core alone, no actors, no network,
//!   one position at a time (elements: rounds = values);
//! - `core_pipelined/nN`: the core alone, window 16, batch 64 (elements:
//!   values);
//! - `actors_sequential/nN/{plain,middleware}`: the in-process actor
//!   cluster of `paxos bench`, window 1, batch 1 (elements: rounds);
//! - `actors_pipelined/nN/{plain,auth,middleware}`: the same, window 16,
//!   batch 64 — `auth` signs and verifies every packet, `middleware` adds
//!   the defences (echo, certificates, Prepare limit) on top, with batch 256
//!   since its cost is per position (elements: values).
//!
//! Actor runs time only the measured loop (from the client's first request
//! to the commit of the last value), not starting the actors: each iteration
//! builds a fresh `actix::System` and runs it with its `SystemRunner`
//! (criterion's async executors have no `LocalSet`, which actix needs).
//!
//! Run with `cargo bench --bench rounds -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paxos::bench::{self, BenchConfig, Limit, Transport};
use paxos::core::{Config, Input, Message, NodeId, Output, Process, Replica, Value};
use std::collections::VecDeque;
use std::time::Duration;

/// Commit `k` values on `n` replicas, delivering every message in FIFO
/// order with no network at all. Node 0 gets them all: with `window` 1 and
/// `batch` 1 one at a time, otherwise all queued at once.
fn core_run(n: usize, k: usize, window: usize, batch: usize) {
    let cfg = Config {
        window,
        batch,
        ..Config::new(n)
    };
    let mut nodes: Vec<Replica> = (0..n as NodeId)
        .map(|i| Replica::new(i, cfg.clone()))
        .collect();
    let mut flight: VecDeque<(NodeId, NodeId, Message)> = VecDeque::new();
    let sequential = window == 1 && batch == 1;
    let requests: Vec<Value> = if sequential {
        (0..k).map(|i| Value::one(format!("v{i}"))).collect()
    } else {
        vec![Value::batch((0..k).map(|i| format!("v{i}")).collect())]
    };
    for value in requests {
        let outs = nodes[0].step(Input::Request { value });
        route(0, outs, n, &mut flight);
        while let Some((from, to, msg)) = flight.pop_front() {
            let outs = nodes[to as usize].step(Input::Deliver { from, msg });
            route(to, outs, n, &mut flight);
        }
    }
    let committed: usize = nodes[n - 1].log().values().map(Value::len).sum();
    assert_eq!(committed, k);
}

fn route(
    from: NodeId,
    outs: Vec<Output>,
    n: usize,
    flight: &mut VecDeque<(NodeId, NodeId, Message)>,
) {
    for o in outs {
        flight.extend(o.deliveries(from, n).map(|(to, msg)| (from, to, msg)));
    }
}

fn bench_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_sequential");
    const K: usize = 1000;
    g.throughput(Throughput::Elements(K as u64));
    for n in [3, 5, 7, 31] {
        g.bench_function(format!("n{n}"), |b| b.iter(|| core_run(n, K, 1, 1)));
    }
    g.finish();
    let mut g = c.benchmark_group("core_pipelined");
    const V: usize = 64_000;
    g.throughput(Throughput::Elements(V as u64));
    for n in [3, 5, 7, 31] {
        g.bench_function(format!("n{n}"), |b| b.iter(|| core_run(n, V, 16, 64)));
    }
    g.finish();
}

/// Criterion's timer for an actor run: the sum of the measured loops.
fn actor_bench(c: &mut Criterion, group: &str, cases: &[(String, BenchConfig, u64)]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    for (name, cfg, k) in cases {
        let cfg = BenchConfig {
            limit: Limit::Values(*k),
            ..cfg.clone()
        };
        g.throughput(Throughput::Elements(*k));
        g.bench_function(name.as_str(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let r = actix::System::new()
                        .block_on(bench::run(&cfg))
                        .expect("bench runs");
                    assert!(r.values >= *k);
                    // Scale to exactly k values (the last batch may overshoot).
                    total += Duration::from_secs_f64(r.elapsed_s * *k as f64 / r.values as f64);
                }
                total
            })
        });
    }
    g.finish();
}

fn cfg(nodes: usize, window: usize, batch: usize, auth: bool, middleware: bool) -> BenchConfig {
    BenchConfig {
        nodes,
        window,
        batch,
        auth,
        middleware,
        ..BenchConfig::default()
    }
}

fn bench_actors(c: &mut Criterion) {
    let mut seq = Vec::new();
    let mut pipe = Vec::new();
    for n in [3usize, 5, 7, 31] {
        // Sized so one iteration takes roughly 20–300 ms.
        let big = n >= 31;
        seq.push((
            format!("n{n}/plain"),
            cfg(n, 1, 1, false, false),
            if big { 500 } else { 4000 },
        ));
        seq.push((
            format!("n{n}/middleware"),
            cfg(n, 1, 1, true, true),
            if big { 4 } else { 100 },
        ));
        pipe.push((
            format!("n{n}/plain"),
            cfg(n, 16, 64, false, false),
            if big { 20_000 } else { 200_000 },
        ));
        pipe.push((
            format!("n{n}/auth"),
            cfg(n, 16, 64, true, false),
            if big { 4_000 } else { 20_000 },
        ));
        pipe.push((
            format!("n{n}/middleware"),
            cfg(n, 16, 256, true, true),
            if big { 1_024 } else { 20_000 },
        ));
    }
    actor_bench(c, "actors_sequential", &seq);
    actor_bench(c, "actors_pipelined", &pipe);
    // BFT mode at n = 4 (f = 1): the plain fast path with every vote a
    // message, and the middleware with proofs and justifications.
    let bft = |window, batch, auth, middleware| BenchConfig {
        bft: true,
        ..cfg(4, window, batch, auth, middleware)
    };
    actor_bench(
        c,
        "actors_bft",
        &[
            ("n4/sequential".into(), bft(1, 1, false, false), 4000),
            ("n4/pipelined".into(), bft(16, 64, false, false), 200_000),
            (
                "n4/pipelined_middleware".into(),
                bft(16, 256, true, true),
                10_000,
            ),
        ],
    );
}

/// The same client over the TCP bridge on loopback (coordinator and nodes
/// as tasks of this process, talking only through sockets).
fn bench_tcp(c: &mut Criterion) {
    let tcp = |window, batch, auth, middleware| BenchConfig {
        transport: Transport::Tcp,
        ..cfg(3, window, batch, auth, middleware)
    };
    actor_bench(
        c,
        "bridge_tcp",
        &[
            ("n3/sequential".into(), tcp(1, 1, false, false), 2_000),
            ("n3/pipelined".into(), tcp(16, 64, false, false), 100_000),
            (
                "n3/pipelined_auth".into(),
                tcp(16, 256, true, false),
                20_000,
            ),
            (
                "n3/pipelined_middleware".into(),
                tcp(16, 256, true, true),
                20_000,
            ),
        ],
    );
}

criterion_group!(benches, bench_core, bench_actors, bench_tcp);
criterion_main!(benches);
