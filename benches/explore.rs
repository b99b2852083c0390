//! What one click on the explorer's page costs the server: the run its URL
//! names replayed from the start, one more action applied, and the view
//! serialised as the API sends it — for a 7-node run under attack with 200
//! actions before the click (the aim: well under 50 ms, so stepping
//! feels instant).
//!
//! - `explore/click/n7_a200`: replay + action + view as JSON (what a click costs);
//! - `explore/replay/n7_a200`: the replay alone;
//! - `explore/apply_only/n7_a200`: the same action applied to a session kept
//!   in memory — the baseline a stateful server would pay instead, measured
//!   in the same run.
//!
//! Run with `cargo bench --bench explore -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use paxos::attack::Attack;
use paxos::explore::session::wander;
use paxos::explore::{Action, Session, Setup};

/// A 7-node SAFETY run with `n` actions a learner could have taken.
fn run(n: usize) -> (Setup, Vec<Action>) {
    let setup = Setup {
        nodes: 7,
        attack: Some(Attack::Safety),
        defences: "echo".parse().expect("a defence"),
        seed: 7,
        ..Setup::default()
    };
    let mut s = Session::start(&setup).expect("a valid setup");
    s.apply(Action::Request(0, "v0".into())).expect("a request");
    let mut roll = 0x9e37_79b9_7f4a_7c15u64;
    while s.actions().len() < n {
        roll = roll
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let _ = s.apply(wander(&s, roll >> 11));
    }
    (setup, s.actions().to_vec())
}

fn bench(c: &mut Criterion) {
    let (setup, actions) = run(200);
    let click = Action::Next(1);
    let mut g = c.benchmark_group("explore");
    g.bench_function("click/n7_a200", |b| {
        b.iter(|| {
            let mut s = Session::replay(&setup, &actions).expect("replays");
            s.apply(click.clone()).expect("a step");
            serde_json::to_string(&s.view()).expect("serialises")
        })
    });
    g.bench_function("replay/n7_a200", |b| {
        b.iter(|| Session::replay(&setup, &actions).expect("replays"))
    });
    g.bench_function("apply_only/n7_a200", |b| {
        b.iter_batched(
            || Session::replay(&setup, &actions).expect("replays"),
            |mut s| {
                s.apply(click.clone()).expect("a step");
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
