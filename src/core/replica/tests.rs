//! Unit tests of the honest replica, driven by a tiny seeded network that can
//! reorder, duplicate and drop messages. (The full simulator lives elsewhere;
//! this one is just enough to exercise the rules of one replica.)

use super::*;
use std::collections::BTreeMap;

/// xorshift64*: a deterministic stream for choosing delivery order.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Net {
    nodes: Vec<Replica>,
    flight: Vec<(NodeId, NodeId, Message)>,
    rng: Rng,
    dup_percent: u64,
    drop_percent: u64,
    /// Nodes whose messages (in and out) are all lost.
    isolated: Vec<NodeId>,
    events: Vec<(NodeId, Event)>,
}

impl Net {
    /// One client value per position, so tests can count positions.
    fn new(n: usize, seed: u64) -> Self {
        let cfg = Config {
            batch: 1,
            ..Config::new(n)
        };
        Net::with_config(cfg, seed)
    }

    fn with_config(cfg: Config, seed: u64) -> Self {
        let n = cfg.n;
        Net {
            nodes: (0..n as NodeId)
                .map(|i| Replica::new(i, cfg.clone()))
                .collect(),
            flight: Vec::new(),
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            dup_percent: 0,
            drop_percent: 0,
            isolated: Vec::new(),
            events: Vec::new(),
        }
    }

    fn input(&mut self, node: NodeId, input: Input) {
        let outs = self.nodes[node as usize].step(input);
        self.route(node, outs);
    }

    fn route(&mut self, from: NodeId, outs: Vec<Output>) {
        let n = self.nodes.len();
        for o in outs {
            match o {
                Output::Event(e) => self.events.push((from, e)),
                o => {
                    let sent = o.deliveries(from, n);
                    self.flight.extend(sent.map(|(to, msg)| (from, to, msg)));
                }
            }
        }
    }

    /// Deliver one message chosen at random (which reorders), maybe leaving a
    /// copy behind (which duplicates) or losing it.
    fn deliver_one(&mut self) -> bool {
        if self.flight.is_empty() {
            return false;
        }
        let i = self.rng.below(self.flight.len());
        let (from, to, msg) = if self.rng.chance(self.dup_percent) {
            self.flight[i].clone()
        } else {
            self.flight.swap_remove(i)
        };
        let cut = self.isolated.contains(&from) || self.isolated.contains(&to);
        if cut || self.rng.chance(self.drop_percent) {
            return true;
        }
        self.input(to, Input::Deliver { from, msg });
        true
    }

    fn tick_all(&mut self) {
        for i in 0..self.nodes.len() as NodeId {
            let entropy = self.rng.next();
            self.input(i, Input::Tick { entropy });
        }
    }

    /// Run until every message is delivered, ticking now and then, for at
    /// most `rounds` ticks.
    fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            for _ in 0..8 {
                if !self.deliver_one() {
                    break;
                }
            }
            self.tick_all();
        }
    }

    fn log(&self, i: usize) -> &crate::core::PosMap<Value> {
        self.nodes[i].log()
    }

    /// No position holds two different values on two nodes.
    fn assert_agreement(&self) {
        let mut chosen: BTreeMap<Pos, &Value> = BTreeMap::new();
        for node in &self.nodes {
            for (pos, v) in node.log() {
                if let Some(other) = chosen.insert(*pos, v) {
                    assert_eq!(other, v, "two values at pos {pos}");
                }
            }
        }
        assert!(
            !self
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::Conflict { .. })),
            "an honest node saw conflicting Commits"
        );
    }

    /// Every node holds exactly the `values`, each once.
    fn assert_all_committed_once(&self, values: &[&str]) {
        for i in 0..self.nodes.len() {
            let mut got: Vec<&str> = self.log(i).values().flat_map(|s| s.items()).collect();
            got.sort();
            let mut want = values.to_vec();
            want.sort();
            assert_eq!(got, want, "node {i}'s log");
        }
    }
}

#[test]
fn two_proposers_racing_never_commit_different_values() {
    for seed in 0..300 {
        let mut net = Net::new(3, seed);
        net.input(0, Input::Request { value: "a".into() });
        net.input(1, Input::Request { value: "b".into() });
        net.run(400);
        net.assert_agreement();
        net.assert_all_committed_once(&["a", "b"]);
    }
}

#[test]
fn proposer_adopts_value_learned_from_prepared() {
    let mut n0 = Replica::new(0, Config::new(3));
    let mut n1 = Replica::new(1, Config::new(3));
    // Node 1 accepted 'x' at pos 0 in ballot 1.2 (node 2's proposal, whose
    // other messages were lost).
    let out = n1.step(Input::Deliver {
        from: 2,
        msg: Message::Propose {
            pos: 0,
            ballot: Ballot::new(1, 2),
            value: "x".into(),
        },
    });
    assert!(matches!(
        &out[..],
        [
            Output::Persist(Write::Promise { pos: 0, .. }),
            Output::Send {
                to: 2,
                msg: Message::Accept { .. }
            }
        ]
    ));

    // Node 0 wants 'y' at pos 0 and talks only to node 1 (node 2 is down).
    // Node 1 first refuses ballot 1.0 (it promised 1.2), node 0 climbs, and
    // node 1's Prepared then reports 'x'.
    let mut to_n1: Vec<Message> = Vec::new();
    let mut proposed = Vec::new();
    let collect = |out: Vec<Output>, to_n1: &mut Vec<Message>, proposed: &mut Vec<Message>| {
        for o in out {
            if let Output::Broadcast { msg } = o {
                if matches!(msg, Message::Propose { .. }) {
                    proposed.push(msg.clone());
                }
                to_n1.push(msg);
            }
        }
    };
    collect(
        n0.step(Input::Request { value: "y".into() }),
        &mut to_n1,
        &mut proposed,
    );
    for t in 0..200 {
        for msg in std::mem::take(&mut to_n1) {
            for reply in n1.step(Input::Deliver { from: 0, msg }) {
                if let Output::Send { to: 0, msg } = reply {
                    let out = n0.step(Input::Deliver { from: 1, msg });
                    collect(out, &mut to_n1, &mut proposed);
                }
            }
        }
        collect(
            n0.step(Input::Tick { entropy: t }),
            &mut to_n1,
            &mut proposed,
        );
        if !proposed.is_empty() {
            break;
        }
    }
    match &proposed[..] {
        [Message::Propose {
            pos: 0,
            value,
            ballot,
        }, ..] => {
            assert_eq!(
                value, "x",
                "the proposer must propose the value reported in Prepared"
            );
            assert!(*ballot > Ballot::new(1, 2));
        }
        other => panic!("expected a Propose at pos 0, got {other:?}"),
    }
}

#[test]
fn the_value_that_lost_its_position_is_committed_at_the_next() {
    let mut net = Net::new(3, 7);
    // Pos 0 is already decided as 'x' on nodes 1 and 2 (node 0 missed it).
    for i in 1..3 {
        net.input(
            i,
            Input::Deliver {
                from: 2,
                msg: Message::Commit {
                    pos: 0,
                    value: "x".into(),
                },
            },
        );
    }
    net.input(0, Input::Request { value: "y".into() });
    net.run(200);
    net.assert_agreement();
    for i in 0..3 {
        assert_eq!(net.log(i).get(&0), Some(&"x".into()));
        assert_eq!(net.log(i).get(&1), Some(&"y".into()));
    }
}

#[test]
fn duplicated_and_reordered_deliveries_change_no_outcome() {
    for seed in 0..200 {
        let mut net = Net::new(5, seed);
        net.dup_percent = 30;
        for (i, v) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            net.input(
                (i % 5) as NodeId,
                Input::Request {
                    value: v.to_string().into(),
                },
            );
        }
        net.run(2000);
        net.assert_agreement();
        net.assert_all_committed_once(&["a", "b", "c", "d", "e", "f"]);
    }
}

#[test]
fn safe_and_live_under_loss() {
    for seed in 0..200 {
        let mut net = Net::new(3, seed);
        net.drop_percent = 20;
        for (i, v) in ["a", "b", "c", "d"].iter().enumerate() {
            net.input(
                (i % 3) as NodeId,
                Input::Request {
                    value: v.to_string().into(),
                },
            );
        }
        net.run(3000);
        net.drop_percent = 0;
        net.run(500);
        net.assert_agreement();
        net.assert_all_committed_once(&["a", "b", "c", "d"]);
    }
}

#[test]
fn a_quorum_never_counts_one_sender_twice() {
    let mut n0 = Replica::new(0, Config::new(5)); // quorum 3: self + 2 others
    let out = n0.step(Input::Request { value: "v".into() });
    let Some((pos, ballot)) = out.iter().find_map(|o| match o {
        Output::Broadcast {
            msg: Message::Prepare { pos, ballot },
        } => Some((*pos, *ballot)),
        _ => None,
    }) else {
        panic!("expected a Prepare, got {out:?}")
    };
    let prepared = Message::Prepared {
        pos,
        ballot,
        accepted: vec![],
    };
    for _ in 0..3 {
        let out = n0.step(Input::Deliver {
            from: 1,
            msg: prepared.clone(),
        });
        assert!(out.is_empty(), "one sender counted twice: {out:?}");
    }
    let out = n0.step(Input::Deliver {
        from: 2,
        msg: prepared,
    });
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Broadcast {
                msg: Message::Propose { .. }
            }
        )),
        "three distinct senders are a quorum of 5"
    );
}

#[test]
fn a_lagging_node_catches_up() {
    let mut net = Net::new(3, 11);
    net.isolated = vec![2];
    for v in ["a", "b", "c", "d", "e"] {
        net.input(0, Input::Request { value: v.into() });
    }
    net.run(300);
    assert_eq!(net.log(0).len(), 5);
    assert!(net.log(2).is_empty(), "node 2 was cut off");
    net.isolated.clear();
    net.run(300);
    assert_eq!(net.log(2), net.log(0), "node 2 caught up through CatchUp");
}

#[test]
fn honest_retries_after_silence_keep_their_ballot() {
    let mut n0 = Replica::new(0, Config::new(3));
    let out = n0.step(Input::Request { value: "v".into() });
    let first: Vec<Message> = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Broadcast { msg } => Some(msg),
            _ => None,
        })
        .collect();
    let mut resent = Vec::new();
    for t in 0..500 {
        for o in n0.step(Input::Tick { entropy: t }) {
            if let Output::Broadcast { msg } = o {
                resent.push(msg);
            }
        }
    }
    assert!(resent.len() > 3, "the proposer keeps retrying");
    assert!(
        resent.iter().all(|m| *m == first[0]),
        "a retry after silence re-sends the same Prepare, never a higher ballot"
    );
}

/// The `Persist` outputs, replayed in order, rebuild exactly the state the
/// replica reports as durable; and a replica restored from it keeps its
/// promises and its log.
#[test]
fn persisted_writes_rebuild_the_durable_state_and_restore_keeps_promises() {
    let cfg = Config::new(3);
    let mut a = Replica::new(0, cfg.clone());
    let mut store = Durable::default();
    let feed = |r: &mut Replica, input: Input, store: &mut Durable| {
        let outs = r.step(input);
        for o in &outs {
            if let Output::Persist(w) = o {
                store.apply(w.clone());
            }
        }
        outs
    };
    // Promise ballot 5 of node 1 at pos 0, accept its value, promise pos 1.
    let b5 = Ballot::new(5, 1);
    feed(
        &mut a,
        Input::Deliver {
            from: 1,
            msg: Message::Prepare { pos: 0, ballot: b5 },
        },
        &mut store,
    );
    feed(
        &mut a,
        Input::Deliver {
            from: 1,
            msg: Message::Propose {
                pos: 0,
                ballot: b5,
                value: "x".into(),
            },
        },
        &mut store,
    );
    feed(
        &mut a,
        Input::Deliver {
            from: 1,
            msg: Message::Prepare { pos: 1, ballot: b5 },
        },
        &mut store,
    );
    feed(
        &mut a,
        Input::Deliver {
            from: 2,
            msg: Message::Commit {
                pos: 2,
                value: "z".into(),
            },
        },
        &mut store,
    );
    assert_eq!(store, a.durable());
    assert_eq!(store.log.get(&2), Some(&"z".into()));

    // Crash: only `store` survives.
    let mut b = Replica::restore(0, cfg, store.clone());
    assert_eq!(b.log(), a.log());
    // A lower ballot is refused: the promise survived.
    let outs = feed(
        &mut b,
        Input::Deliver {
            from: 2,
            msg: Message::Prepare {
                pos: 0,
                ballot: Ballot::new(4, 2),
            },
        },
        &mut store,
    );
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Send {
            to: 2,
            msg: Message::Nack { .. }
        }
    )));
    // A higher one learns the value accepted before the crash.
    let b6 = Ballot::new(6, 2);
    let outs = feed(
        &mut b,
        Input::Deliver {
            from: 2,
            msg: Message::Prepare { pos: 0, ballot: b6 },
        },
        &mut store,
    );
    let reported = outs.iter().find_map(|o| match o {
        Output::Send {
            msg: Message::Prepared { accepted, .. },
            ..
        } => Some(accepted.clone()),
        _ => None,
    });
    // 'x' as accepted in b5 at pos 0, and the committed 'z' at pos 2 in the
    // asker's own ballot, so it can only re-propose 'z' there.
    assert_eq!(
        reported,
        Some(vec![(0, b5, "x".into()), (2, b6, "z".into())])
    );
    // Its own next ballot goes above everything it promised.
    let outs = feed(&mut b, Input::Request { value: "y".into() }, &mut store);
    let own = outs.iter().find_map(|o| match o {
        Output::Broadcast {
            msg: Message::Prepare { ballot, .. },
        } => Some(*ballot),
        _ => None,
    });
    assert!(own.is_some_and(|ballot| ballot.round > 6), "{own:?}");
}

/// A stable leader pipelining (window 4) and batching (3 values a position)
/// is interrupted by a second proposer, whose Prepare carries a higher
/// ballot, in the middle of its pipeline; then the first one takes over
/// again. Under reordering, duplication and loss no position ever holds two
/// values, and every value is committed exactly once.
#[test]
fn a_higher_ballot_interrupting_a_stable_leader_mid_pipeline_never_splits_a_position() {
    let values: Vec<String> = (0..24).map(|i| format!("v{i}")).collect();
    let mut interrupted = 0;
    for seed in 0..300 {
        let cfg = Config {
            window: 4,
            batch: 3,
            ..Config::new(3)
        };
        let mut net = Net::with_config(cfg, seed);
        net.dup_percent = 10;
        net.drop_percent = if seed % 2 == 0 { 0 } else { 10 };
        for v in &values[..12] {
            net.input(
                0,
                Input::Request {
                    value: v.as_str().into(),
                },
            );
        }
        // Let node 0 win phase 1 and get part of its pipeline out.
        for _ in 0..(seed as usize % 12 + 3) {
            net.deliver_one();
        }
        // Node 1 has seen node 0's ballot, so its own is higher.
        for v in &values[12..] {
            net.input(
                1,
                Input::Request {
                    value: v.as_str().into(),
                },
            );
        }
        net.run(3000);
        net.drop_percent = 0;
        net.run(1000);
        net.assert_agreement();
        let want: Vec<&str> = values.iter().map(String::as_str).collect();
        net.assert_all_committed_once(&want);
        if net
            .events
            .iter()
            .any(|(node, e)| *node == 0 && matches!(e, Event::Preempted { by, .. } if by.node == 1))
        {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 100,
        "the second proposer must actually interrupt the leader ({interrupted} of 300 seeds)"
    );
}

/// Deliver everything in flight in FIFO order (no ticks), returning the
/// messages that crossed the network.
fn drain_fifo(net: &mut Net) -> Vec<Message> {
    let mut sent = Vec::new();
    while !net.flight.is_empty() {
        let (from, to, msg) = net.flight.remove(0);
        sent.push(msg.clone());
        net.input(to, Input::Deliver { from, msg });
    }
    sent
}

/// The cost the module docs state: once a leader is established, a
/// position costs Propose → Accept → Commit to and from each follower,
/// 3(n-1) messages, and no Prepare.
#[test]
fn a_stable_leader_commits_with_one_propose_accept_commit_fan_out() {
    for n in [3usize, 5] {
        let mut net = Net::new(n, 1);
        net.input(0, Input::Request { value: "a".into() });
        drain_fifo(&mut net);
        assert!(net.nodes[0].leading());
        for v in ["b", "c", "d"] {
            net.input(0, Input::Request { value: v.into() });
            let sent = drain_fifo(&mut net);
            let count = |k: &str| sent.iter().filter(|m| m.kind() == k).count();
            assert_eq!(count("Prepare"), 0, "n={n}: {sent:?}");
            assert_eq!(count("Propose"), n - 1, "n={n}: {sent:?}");
            assert_eq!(count("Accept"), n - 1, "n={n}: {sent:?}");
            assert_eq!(count("Commit"), n - 1, "n={n}: {sent:?}");
            assert_eq!(sent.len(), 3 * (n - 1), "n={n}: {sent:?}");
        }
        for i in 0..n {
            assert_eq!(net.log(i).len(), 4);
        }
    }
}

/// A leader with room proposes a request's own value (no copy); values that
/// queue while its window is full go out together, never more than `batch`
/// a position, and a client batch above the ceiling is split.
#[test]
fn a_busy_leader_folds_what_queued_into_positions_up_to_its_ceiling() {
    let cfg = Config {
        window: 1,
        batch: 4,
        ..Config::new(3)
    };
    let mut net = Net::with_config(cfg, 5);
    net.input(
        0,
        Input::Request {
            value: "warm".into(),
        },
    );
    net.run(100);
    assert!(net.nodes[0].leading());
    // Longer than a value kept in place, so "not copied" means one
    // shared batch.
    let x0 = "x0, a value too long to be kept in place";
    let first = Value::from(x0);
    let out = net.nodes[0].step(Input::Request {
        value: first.clone(),
    });
    let proposed = out.iter().find_map(|o| match o {
        Output::Broadcast {
            msg: Message::Propose { value, .. },
        } => Some(value.clone()),
        _ => None,
    });
    let proposed = proposed.expect("a leader with room proposes at once");
    assert!(proposed.shares(&first), "not copied");
    net.route(0, out);
    for i in 1..7 {
        let value = format!("x{i}").into();
        net.input(0, Input::Request { value });
    }
    let big = Value::batch((0..6).map(|i| format!("y{i}")).collect());
    net.input(0, Input::Request { value: big });
    net.run(300);
    let sizes: Vec<usize> = net.log(0).values().map(Value::len).collect();
    assert_eq!(sizes, [1, 1, 4, 4, 4], "x1..x6 and y0..y5 in fours");
    let flat: Vec<&str> = net.log(0).values().flat_map(|v| v.items()).collect();
    let want: Vec<String> = ["warm".to_string()]
        .into_iter()
        .chain([x0.to_string()])
        .chain((1..7).map(|i| format!("x{i}")))
        .chain((0..6).map(|i| format!("y{i}")))
        .collect();
    assert_eq!(flat, want, "client order kept");
}

/// Values queued while the window is full share positions, up to `batch`
/// of them each, and each is still committed exactly once.
#[test]
fn queued_values_travel_in_batches() {
    let cfg = Config {
        window: 2,
        batch: 8,
        ..Config::new(3)
    };
    let mut net = Net::with_config(cfg, 3);
    let values: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    for v in &values {
        net.input(
            0,
            Input::Request {
                value: v.as_str().into(),
            },
        );
    }
    net.run(500);
    net.assert_agreement();
    let want: Vec<&str> = values.iter().map(String::as_str).collect();
    net.assert_all_committed_once(&want);
    let positions = net.log(0).len();
    assert!(
        positions <= 6,
        "40 values in batches of 8: {positions} positions"
    );
    // The log keeps the client's order within and across batches.
    let flat: Vec<&str> = net.log(0).values().flat_map(|b| b.items()).collect();
    assert_eq!(flat, want);
}

#[test]
fn a_prepare_at_the_largest_round_neither_panics_nor_wraps_the_ballot() {
    // BALLOT_OVERFLOW: node 2 (Byzantine) prepares at round u64::MAX. Before
    // the fix, node 0's next ballot was `u64::MAX + 1`: a panic in debug, and
    // round 0 (below every promise, forever) in release.
    let mut r = Replica::new(0, Config::new(3));
    let top = Ballot::new(u64::MAX, 2);
    let out = r.step(Input::Deliver {
        from: 2,
        msg: Message::Prepare {
            pos: 0,
            ballot: top,
        },
    });
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send { to: 2, msg: Message::Prepared { ballot, .. } } if *ballot == top
    )));
    // A client value now: no ballot above u64::MAX exists, so no Prepare at
    // all (in particular none at a wrapped round), and one note saying why.
    let out = r.step(Input::Request { value: "v".into() });
    let prepares: Vec<_> = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Broadcast {
                    msg: Message::Prepare { .. }
                }
            )
        })
        .collect();
    assert!(prepares.is_empty(), "{out:?}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Note(n)) if n.contains("exhausted"))));
    assert!(!r.leading());
    // Ticks and further requests stay quiet (no retry loop, no repeated note).
    for t in 0..200 {
        let out = r.step(Input::Tick { entropy: t });
        assert!(
            !out.iter().any(|o| matches!(
                o,
                Output::Broadcast {
                    msg: Message::Prepare { .. }
                } | Output::Event(_)
            )),
            "{out:?}"
        );
    }
    let out = r.step(Input::Request { value: "w".into() });
    assert!(
        !out.iter().any(|o| matches!(o, Output::Event(_))),
        "{out:?}"
    );
    // It still learns what others commit.
    r.step(Input::Deliver {
        from: 1,
        msg: Message::Commit {
            pos: 0,
            value: "x".into(),
        },
    });
    assert_eq!(r.log().get(&0), Some(&Value::from("x")));
}

#[test]
fn one_round_below_the_top_still_climbs_to_the_top() {
    let mut r = Replica::new(1, Config::new(3));
    r.step(Input::Deliver {
        from: 2,
        msg: Message::Prepare {
            pos: 0,
            ballot: Ballot::new(u64::MAX - 1, 2),
        },
    });
    let out = r.step(Input::Request { value: "v".into() });
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Broadcast { msg: Message::Prepare { ballot, .. } } if *ballot == Ballot::new(u64::MAX, 1)
    )), "{out:?}");
}

#[test]
fn bft_quorums_of_2f_plus_1_with_every_vote_a_message_stay_safe_and_live() {
    let values = ["a", "b", "c", "d", "e", "f"];
    for seed in 0..150 {
        let mut net = Net::with_config(Config::bft(4, 1), seed);
        net.dup_percent = 10;
        net.drop_percent = if seed % 2 == 0 { 0 } else { 10 };
        for (i, v) in values.iter().enumerate() {
            net.input((i % 4) as NodeId, Input::Request { value: (*v).into() });
        }
        net.run(3000);
        net.assert_agreement();
        net.assert_all_committed_once(&values);
    }
}

#[test]
fn in_loopback_mode_a_node_handles_none_of_its_own_votes_inside_the_step() {
    // One node, quorum 1: in classic mode it commits within the request's
    // step; with loopback its Prepare goes out to itself as a message.
    let mut classic = Replica::new(0, Config::new(1));
    classic.step(Input::Request { value: "x".into() });
    assert_eq!(classic.log().len(), 1);
    let mut bft = Replica::new(
        0,
        Config {
            loopback: true,
            ..Config::new(1)
        },
    );
    let out = bft.step(Input::Request { value: "x".into() });
    assert!(
        bft.log().is_empty(),
        "nothing decided without its own votes"
    );
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Send {
                to: 0,
                msg: Message::Prepare { .. }
            }
        )),
        "{out:?}"
    );
    // Feeding its messages back, one at a time, decides the value.
    let mut pending: VecDeque<Message> = VecDeque::new();
    let collect = |out: Vec<Output>, pending: &mut VecDeque<Message>| {
        for o in out {
            if let Output::Send { to: 0, msg } = o {
                pending.push_back(msg);
            }
        }
    };
    collect(out, &mut pending);
    while let Some(msg) = pending.pop_front() {
        let out = bft.step(Input::Deliver { from: 0, msg });
        collect(out, &mut pending);
    }
    assert_eq!(bft.log().get(&0).and_then(|v| v.single()), Some("x"));
}

/// The ballot of the Prepare among `out`.
fn prepared_ballot(out: &[Output]) -> Ballot {
    out.iter()
        .find_map(|o| match o {
            Output::Broadcast {
                msg: Message::Prepare { ballot, .. },
            } => Some(*ballot),
            _ => None,
        })
        .expect("a Prepare")
}

/// A leader preempted in ballot B must not lead in B a second time: late or
/// duplicated Prepareds of B can make up a new quorum reporting other
/// values, and proposing a second value in one (position, ballot) lets two
/// values be accepted in it — the acceptors' rule "the highest ballot wins"
/// then no longer names one value. (Found by `paxos sim` with the
/// middleware, which flagged the honest node for the equivocation.)
#[test]
fn a_leader_preempted_in_a_ballot_never_proposes_in_it_again() {
    let mut n0 = Replica::new(0, Config::new(3));
    let out = n0.step(Input::Request { value: "y".into() });
    let ballot = prepared_ballot(&out);
    let proposes = |out: &[Output]| -> Vec<(Ballot, Value)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Broadcast {
                    msg: Message::Propose { ballot, value, .. },
                } => Some((*ballot, value.clone())),
                _ => None,
            })
            .collect()
    };
    let empty = Message::Prepared {
        pos: 0,
        ballot,
        accepted: vec![],
    };
    let out = n0.step(Input::Deliver {
        from: 1,
        msg: empty.clone(),
    });
    assert_eq!(proposes(&out), vec![(ballot, Value::from("y"))]);
    // Node 2 has promised a higher ballot: node 0 is preempted.
    let higher = Ballot::new(ballot.round + 5, 2);
    n0.step(Input::Deliver {
        from: 2,
        msg: Message::Nack {
            pos: 0,
            ballot,
            promised: higher,
        },
    });
    // Then node 1's Prepared again (a duplicate) and node 2's, late,
    // reporting 'x' accepted in an older ballot: a quorum of B again.
    let mut again = n0.step(Input::Deliver {
        from: 1,
        msg: empty,
    });
    again.extend(n0.step(Input::Deliver {
        from: 2,
        msg: Message::Prepared {
            pos: 0,
            ballot,
            accepted: vec![(0, Ballot::new(1, 1), "x".into())],
        },
    }));
    assert!(
        proposes(&again).is_empty(),
        "proposed again in ballot {ballot}: {:?}",
        proposes(&again)
    );
}

/// A proposer preempted during phase 1 (its own acceptor promised a higher
/// ballot) does not take the lead when late Prepareds complete its quorum:
/// it would propose what its own acceptor refuses, and its shield would
/// vouch for an Accept it never made. (Found by `paxos sim --nodes 7
/// --middleware`, which then flagged the honest node for a stale Prepared.)
#[test]
fn a_proposer_preempted_in_phase_1_ignores_late_prepareds() {
    let mut n0 = Replica::new(0, Config::new(3));
    let out = n0.step(Input::Request { value: "y".into() });
    let ballot = prepared_ballot(&out);
    // Node 2's higher Prepare reaches node 0's acceptor first.
    n0.step(Input::Deliver {
        from: 2,
        msg: Message::Prepare {
            pos: 0,
            ballot: Ballot::new(ballot.round + 1, 2),
        },
    });
    let late = n0.step(Input::Deliver {
        from: 1,
        msg: Message::Prepared {
            pos: 0,
            ballot,
            accepted: vec![],
        },
    });
    assert!(
        !late.iter().any(|o| matches!(
            o,
            Output::Broadcast {
                msg: Message::Propose { .. }
            }
        )),
        "{late:?}"
    );
}

#[test]
fn a_follower_names_the_leader_it_hears_from_until_it_falls_silent() {
    let mut net = Net::new(3, 7);
    assert_eq!(net.nodes[1].leader(), None, "nobody has led yet");
    net.input(0, Input::Request { value: "a".into() });
    net.run(30);
    net.assert_all_committed_once(&["a"]);
    assert_eq!(net.nodes[0].leader(), None, "the leader proposes itself");
    assert_eq!(net.nodes[1].leader(), Some(0));
    assert_eq!(net.nodes[2].leader(), Some(0));

    // The leader falls silent: trusted for leader_ticks, then not.
    let quiet = net.nodes[1].config().leader_ticks();
    let mut follower = net.nodes[1].clone();
    let since = follower.now - follower.heard.0.expect("heard the leader").at;
    for _ in since..quiet {
        follower.step(Input::Tick { entropy: 1 });
    }
    assert_eq!(follower.leader(), Some(0), "still within leader_ticks");
    follower.step(Input::Tick { entropy: 1 });
    assert_eq!(follower.leader(), None, "silent too long: it leads itself");

    // A competing Prepare: nobody is known to lead until someone proposes.
    let mut follower = net.nodes[1].clone();
    let prepare = Message::Prepare {
        pos: 1,
        ballot: Ballot::new(99, 2),
    };
    follower.step(Input::Deliver {
        from: 2,
        msg: prepare,
    });
    assert_eq!(follower.leader(), None);

    // A follower with a value of its own queued is proposing: it names nobody.
    let mut follower = net.nodes[2].clone();
    net.isolated = vec![2];
    follower.step(Input::Request { value: "b".into() });
    assert_eq!(follower.leader(), None);
}

#[test]
fn a_hole_whose_proposer_is_gone_is_filled_with_a_no_op_so_the_log_behind_it_is_whole() {
    let mut net = Net::new(3, 5);
    net.input(0, Input::Request { value: "a".into() });
    net.run(100);
    assert_eq!(net.log(1).len(), 1, "node 0 leads and 'a' is committed");
    // Node 0 proposes 'b' at 1 and 'c' at 2; every Propose of 'b' is lost,
    // so nobody accepts anything at 1, while 'c' commits at 2.
    for v in ["b", "c"] {
        net.input(0, Input::Request { value: v.into() });
    }
    net.flight
        .retain(|(_, _, m)| !matches!(m, Message::Propose { pos: 1, .. }));
    // Then node 0 is gone for good, before it re-sends its Propose.
    while net.log(1).len() < 2 || net.log(2).len() < 2 {
        assert!(net.deliver_one(), "'c' commits on nodes 1 and 2");
    }
    net.isolated = vec![0];
    assert!(!net.log(1).contains_key(&1), "a hole at 1, behind 'c' at 2");
    // Nobody has a client value left to propose. Only the hole can make a
    // node run phase 1: it finds nothing accepted at 1, and fills it.
    let patience = net.nodes[1].cfg.hole_ticks(2) as usize;
    net.run(patience + 200);
    net.assert_agreement();
    for i in [1, 2] {
        let log = net.log(i);
        assert_eq!(log.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(log[&1].is_empty(), "a no-op at 1, not {}", log[&1]);
        assert_eq!(log[&2].single(), Some("c"));
    }
}

#[test]
fn a_nack_teaches_the_round_of_the_promise_that_refused() {
    // Node 0 never saw the Prepare of round 50 that node 1 promised; node
    // 1's Nack is all it hears of it. Its next ballot must climb over it,
    // or every retry stays below the promise and is refused again.
    let mut r = Replica::new(0, Config::new(3));
    let out = r.step(Input::Request { value: "a".into() });
    let mine = prepared_ballot(&out);
    let nack = Message::Nack {
        pos: 0,
        ballot: mine,
        promised: Ballot::new(50, 1),
    };
    r.step(Input::Deliver { from: 1, msg: nack });
    let mut next = None;
    for _ in 0..2000 {
        let out = r.step(Input::Tick { entropy: 7 });
        if let Some(b) = out.iter().find_map(|o| match o {
            Output::Broadcast {
                msg: Message::Prepare { ballot, .. },
            } if *ballot != mine => Some(*ballot),
            _ => None,
        }) {
            next = Some(b);
            break;
        }
    }
    let next = next.expect("node 0 tries again");
    assert!(next.round > 50, "{next} does not climb over 50.1");
}

/// The read answers `node` gave so far: (id, Some(index)) ready, (id, None) refused.
fn read_answers(net: &Net, node: NodeId) -> Vec<(u64, Option<Pos>)> {
    net.events
        .iter()
        .filter(|(n, _)| *n == node)
        .filter_map(|(_, e)| match e {
            Event::ReadReady { id, index } => Some((*id, Some(*index))),
            Event::ReadRefused { id, .. } => Some((*id, None)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_read_by_read_index_is_ready_at_the_leaders_commit_point_once_a_quorum_confirms() {
    let mut net = Net::new(3, 1);
    net.input(0, Input::Request { value: "a".into() });
    net.run(50);
    assert_eq!(net.log(0).len(), 1);
    net.input(0, Input::Read { id: 7 });
    assert!(
        read_answers(&net, 0).is_empty(),
        "not before a quorum confirms"
    );
    net.run(5);
    assert_eq!(read_answers(&net, 0), vec![(7, Some(1))]);
    // A follower that knows the leader refuses and names it.
    net.input(1, Input::Read { id: 8 });
    let named = net.events.iter().any(|(n, e)| {
        *n == 1
            && *e
                == Event::ReadRefused {
                    id: 8,
                    leader: Some(0),
                }
    });
    assert!(named, "{:?}", net.events);
}

#[test]
fn a_cluster_of_one_answers_a_read_by_read_index_in_the_step_that_asks() {
    let mut net = Net::new(1, 1);
    net.input(0, Input::Request { value: "a".into() });
    net.run(50);
    assert_eq!(net.log(0).len(), 1);
    // No peer to confirm with: its own standing is the quorum.
    net.input(0, Input::Read { id: 3 });
    assert_eq!(read_answers(&net, 0), vec![(3, Some(1))]);
    net.input(0, Input::Read { id: 4 });
    assert_eq!(read_answers(&net, 0), vec![(3, Some(1)), (4, Some(1))]);
}

#[test]
fn a_read_waits_for_the_leaders_proposals_in_flight_to_commit() {
    let mut net = Net::new(3, 2);
    net.input(0, Input::Request { value: "a".into() });
    net.run(50);
    // 'b' is proposed; the read arrives before it commits.
    net.input(0, Input::Request { value: "b".into() });
    net.input(0, Input::Read { id: 1 });
    net.run(50);
    assert_eq!(read_answers(&net, 0), vec![(1, Some(2))], "index past 'b'");
    assert_eq!(net.log(0).len(), 2);
}

#[test]
fn a_deposed_leader_cannot_confirm_a_read() {
    let mut net = Net::new(3, 3);
    net.input(0, Input::Request { value: "a".into() });
    net.run(50);
    // Node 0 is cut off; node 1 takes over and commits 'b'.
    net.isolated = vec![0];
    net.input(1, Input::Request { value: "b".into() });
    net.run(200);
    assert_eq!(net.log(1).len(), 2, "the others moved on");
    // Node 0 still thinks it leads; healed, its Confirms meet higher promises.
    net.isolated.clear();
    net.input(0, Input::Read { id: 5 });
    net.run(2 * net.nodes[0].cfg.leader_ticks() as usize);
    assert_eq!(
        read_answers(&net, 0),
        vec![(5, None)],
        "refused, never ready"
    );
}

/// Commit `values` at node 0 with node 2 cut off, then let 0 and 1 compact
/// everything below `upto` with `state`.
fn compacted_without_node_2(cfg: Config, values: usize, upto: Pos, state: &str) -> Net {
    let mut net = Net::with_config(cfg, 5);
    net.isolated = vec![2];
    for i in 0..values {
        net.input(
            0,
            Input::Request {
                value: format!("v{i}").into(),
            },
        );
    }
    net.run(400);
    assert_eq!(net.log(0).len(), values);
    for id in [0, 1] {
        let snap = Snapshot {
            upto,
            state: state.to_string(),
        };
        net.input(id, Input::Compact(snap));
        assert_eq!(net.nodes[id as usize].base(), upto);
    }
    net
}

#[test]
fn a_node_behind_the_snapshots_catches_up_from_one_sent_in_pieces_over_a_lossy_network() {
    let cfg = Config {
        batch: 1,
        snapshot_chunk: 16,
        ..Config::new(3)
    };
    let state = "the store's state, é and all, ".repeat(10);
    let mut net = compacted_without_node_2(cfg, 20, 12, &state);
    assert_eq!(net.log(0).len(), 8, "the log below 12 is gone");
    assert!(net.log(0).keys().all(|&p| p >= 12));
    assert!(net
        .events
        .iter()
        .any(|(id, e)| *id == 0 && *e == Event::Compacted { upto: 12 }));
    net.isolated.clear();
    net.drop_percent = 20;
    net.run(600);
    let behind = &net.nodes[2];
    assert_eq!(
        behind.snapshot().map(|s| (s.upto, s.state.as_str())),
        Some((12, state.as_str()))
    );
    assert_eq!(behind.first_gap(), 20);
    assert_eq!(net.log(2), net.log(0));
    assert!(net
        .events
        .iter()
        .any(|(id, e)| *id == 2 && matches!(e, Event::Installed { upto: 12, .. })));
    // It persisted what it installed: a restart keeps the snapshot.
    let back = Replica::restore(2, net.nodes[2].config().clone(), net.nodes[2].durable());
    assert_eq!((back.base(), back.first_gap()), (12, 20));
}

#[test]
fn a_prepare_from_below_the_snapshot_is_answered_with_the_snapshot_not_a_promise() {
    let cfg = Config {
        batch: 1,
        ..Config::new(3)
    };
    let mut net = compacted_without_node_2(cfg, 6, 4, "state");
    let outs = net.nodes[0].step(Input::Deliver {
        from: 2,
        msg: Message::Prepare {
            pos: 1,
            ballot: Ballot::new(50, 2),
        },
    });
    let sent: Vec<&Message> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: 2, msg } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(
        matches!(sent[0], Message::Snapshot { upto: 4, .. }),
        "{sent:?}"
    );
    assert!(
        !sent.iter().any(|m| matches!(m, Message::Prepared { .. })),
        "a promise from below the snapshot could not report what was chosen there: {sent:?}"
    );
    // Commits and Proposes below the snapshot change nothing.
    net.input(
        0,
        Input::Deliver {
            from: 1,
            msg: Message::Commit {
                pos: 2,
                value: "x".into(),
            },
        },
    );
    let propose = Message::Propose {
        pos: 2,
        ballot: Ballot::new(60, 1),
        value: "x".into(),
    };
    assert!(net.nodes[0]
        .step(Input::Deliver {
            from: 1,
            msg: propose
        })
        .is_empty());
    assert!(net.log(0).keys().all(|&p| p >= 4));
}

#[test]
fn with_vouchers_needed_one_lying_sender_cannot_install_a_snapshot() {
    let cfg = Config {
        vouchers: 2,
        ..Config::bft(4, 1)
    };
    let mut r = Replica::new(2, cfg);
    let piece = |state: &str| Message::Snapshot {
        upto: 5,
        total: state.len() as u64,
        offset: 0,
        chunk: state.into(),
    };
    let deliver = |r: &mut Replica, from, state| {
        r.step(Input::Deliver {
            from,
            msg: piece(state),
        })
    };
    deliver(&mut r, 0, "lie");
    deliver(&mut r, 1, "truth");
    assert_eq!(r.base(), 0, "two different snapshots vouch for neither");
    deliver(&mut r, 0, "lie");
    assert_eq!(r.base(), 0, "one sender twice is one voucher");
    let outs = deliver(&mut r, 3, "truth");
    assert_eq!(r.snapshot().map(|s| s.state.as_str()), Some("truth"));
    assert_eq!((r.base(), r.first_gap()), (5, 5));
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Persist(Write::Snapshot(_)))));
}

#[test]
fn a_compaction_past_the_first_gap_or_not_past_the_last_snapshot_is_refused() {
    let cfg = Config {
        batch: 1,
        ..Config::new(3)
    };
    let mut net = compacted_without_node_2(cfg, 6, 4, "s4");
    let at = |upto| {
        Input::Compact(Snapshot {
            upto,
            state: format!("s{upto}"),
        })
    };
    assert!(
        net.nodes[0].step(at(7)).is_empty(),
        "position 6 is not committed"
    );
    assert!(
        net.nodes[0].step(at(3)).is_empty(),
        "older than the snapshot kept"
    );
    assert_eq!(
        net.nodes[0].snapshot().map(|s| s.state.as_str()),
        Some("s4")
    );
}

#[test]
fn a_snapshot_announced_past_the_limit_or_pieces_past_its_end_are_refused() {
    let mut r = Replica::new(1, Config::new(3));
    let huge = Message::Snapshot {
        upto: 9,
        total: u64::MAX,
        offset: 0,
        chunk: "x".into(),
    };
    r.step(Input::Deliver { from: 0, msg: huge });
    let past_end = Message::Snapshot {
        upto: 9,
        total: 2,
        offset: 1,
        chunk: "xy".into(),
    };
    r.step(Input::Deliver {
        from: 0,
        msg: past_end,
    });
    assert_eq!(r.base(), 0);
    assert_eq!(r.incoming, snapshot::Incoming::default(), "nothing kept");
}

/// Voters count each distinct id once, below the mask's 64 and above it.
#[test]
fn voters_count_distinct_ids_on_both_sides_of_the_mask() {
    let mut v = super::Voters::default();
    for id in [0, 63, 64, 200, 63, 200, 5, 64, 1000] {
        v.insert(id);
    }
    assert_eq!(v.len(), 6, "0, 5, 63, 64, 200, 1000");
    v.clear();
    assert_eq!(v.len(), 0);
    v.insert(64);
    assert_eq!(v.len(), 1);
}
