//! The actor cluster end to end, in one process: every value committed, logs
//! identical, with and without message loss.

use paxos::demo::{self, DemoConfig, Summary};
use std::time::Duration;

fn run(nodes: usize, values: usize, drop: f64, seed: u64) -> Summary {
    let cfg = DemoConfig {
        nodes,
        values,
        seed,
        drop,
        deadline: Duration::from_secs(30),
        ..DemoConfig::default()
    };
    actix::System::new()
        .block_on(demo::run(&cfg))
        .expect("demo runs")
        .summary
}

fn assert_all_committed_identically(s: &Summary) {
    assert!(s.agreement, "agreement: {s:?}");
    assert!(s.live, "every value committed: {s:?}");
    assert_eq!(s.committed, s.requested);
    let first = s.logs.values().next().expect("some honest node");
    assert!(s.logs.values().all(|l| l == first), "logs identical: {s:?}");
    let mut sorted = first.clone();
    sorted.sort();
    let mut want = demo::requested_values(s.requested);
    want.sort();
    assert_eq!(sorted, want, "each requested value exactly once");
}

#[test]
fn three_nodes_commit_everything() {
    assert_all_committed_identically(&run(3, 10, 0.0, 1));
}

#[test]
fn five_nodes_commit_everything() {
    assert_all_committed_identically(&run(5, 20, 0.0, 2));
}

#[test]
fn three_nodes_with_20_percent_loss() {
    for seed in 0..3 {
        assert_all_committed_identically(&run(3, 10, 0.2, seed));
    }
}

#[test]
fn five_nodes_with_20_percent_loss() {
    for seed in 0..3 {
        assert_all_committed_identically(&run(5, 10, 0.2, seed));
    }
}
