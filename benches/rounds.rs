//! Rounds per second: the core alone in a tight loop (the upper bound, no
//! actors), and the in-process actor cluster driven through the demo.
//! Run with `cargo bench`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paxos::core::{Config, Input, NodeId, Output, Process, Replica};
use paxos::demo::{self, DemoConfig};
use std::collections::VecDeque;
use std::time::Duration;

/// Commit `k` values one position at a time on `n` replicas, delivering every
/// message in order with no network at all.
fn core_rounds(n: usize, k: usize) {
    let cfg = Config {
        window: 1,
        ..Config::new(n)
    };
    let mut nodes: Vec<Replica> = (0..n as NodeId)
        .map(|i| Replica::new(i, cfg.clone()))
        .collect();
    let mut flight: VecDeque<(NodeId, NodeId, paxos::core::Message)> = VecDeque::new();
    for i in 0..k {
        let outs = nodes[0].step(Input::Request {
            value: format!("v{i}").into(),
        });
        route(0, outs, n, &mut flight);
        while let Some((from, to, msg)) = flight.pop_front() {
            let outs = nodes[to as usize].step(Input::Deliver { from, msg });
            route(to, outs, n, &mut flight);
        }
    }
    assert_eq!(nodes[n - 1].log().len(), k);
}

fn route(
    from: NodeId,
    outs: Vec<Output>,
    n: usize,
    flight: &mut VecDeque<(NodeId, NodeId, paxos::core::Message)>,
) {
    for o in outs {
        match o {
            Output::Send { to, msg } => flight.push_back((from, to, msg)),
            Output::Broadcast { msg } => {
                for to in (0..n as NodeId).filter(|&t| t != from) {
                    flight.push_back((from, to, msg.clone()));
                }
            }
            Output::Event(_) | Output::Persist(_) => {}
        }
    }
}

fn bench_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_sequential");
    const K: usize = 1000;
    g.throughput(Throughput::Elements(K as u64));
    for n in [3, 5, 7, 31] {
        g.bench_function(format!("n{n}"), |b| b.iter(|| core_rounds(n, K)));
    }
    g.finish();
}

fn bench_actor_demo(c: &mut Criterion) {
    let mut g = c.benchmark_group("actors_demo");
    g.sample_size(10);
    const K: usize = 200;
    g.throughput(Throughput::Elements(K as u64));
    for n in [3, 5] {
        let cfg = DemoConfig {
            nodes: n,
            values: K,
            deadline: Duration::from_secs(60),
            ..DemoConfig::default()
        };
        // Actix needs its own system; criterion's async executors lack the
        // LocalSet actix relies on, so each iteration runs in a SystemRunner.
        g.bench_function(format!("n{n}"), |b| {
            b.iter(|| {
                let s = actix::System::new()
                    .block_on(demo::run(&cfg))
                    .expect("demo runs")
                    .summary;
                assert!(s.live);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_core, bench_actor_demo);
criterion_main!(benches);
