//! Fuzzing every decoder that reads bytes from outside the process: bridge
//! frames (which carry packets, registrations and client requests), the
//! store's log records, the proof log, the coordinator's registry and the
//! cluster key file. Inputs are proptest-driven mutations (bit flips, byte
//! changes, cuts, splices, length-field rewrites) of a corpus of *real*
//! bytes: the frames and packets a defended cluster under attack sends, in
//! both modes, and files a real store writes. The property is the same
//! everywhere: decoding returns, an error or a value, and never panics.
//!
//! `cargo test` runs `PAXOS_FUZZ_CASES` inputs per target (default 2,500,
//! ×5 targets). The long run (README): `PAXOS_FUZZ_CASES=250000 cargo test
//! --release --test fuzz -- --nocapture`, which prints each target's count
//! and the process's peak memory.

use paxos::attack::Attack;
use paxos::bridge::admission::ClusterKey;
use paxos::bridge::frame::{Frame, FrameCodec, Registration};
use paxos::bridge::registry::RegistryFile;
use paxos::cluster::ClusterSpec;
use paxos::node::{Node, NodeInput, Ready};
use paxos::storage::{ProofLog, Store};
use paxos::wire::Packet;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

fn cases() -> u32 {
    std::env::var("PAXOS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_500)
}

/// Node `id` of `spec`, knowing every member's key (as the coordinator's
/// registry tells a node process).
fn node_of(spec: &ClusterSpec, id: u32) -> Node {
    let mut node = Node::new(spec.member(id, || spec.identity(id)));
    for j in 0..spec.nodes as u32 {
        node.shield_mut().add_peer_key(j, spec.identity(j).public());
    }
    node
}

/// Run `spec` for `ticks` with one value asked of each node, handing every
/// step's result to `seen` (with the stepping node's id).
fn run_cluster(spec: &ClusterSpec, ticks: u64, mut seen: impl FnMut(u32, &Ready)) {
    let mut nodes: Vec<Node> = (0..spec.nodes as u32).map(|id| node_of(spec, id)).collect();
    for node in nodes.iter_mut() {
        node.shield_mut().track_durable();
    }
    let mut queue = Vec::new();
    let mut step = |node: &mut Node, input, queue: &mut Vec<Packet>| {
        let r = node.step(input);
        seen(node.id(), &r);
        queue.extend(r.packets);
    };
    for (i, node) in nodes.iter_mut().enumerate() {
        step(node, NodeInput::Request(format!("v{i}").into()), &mut queue);
    }
    for tick in 0..ticks {
        for node in nodes.iter_mut() {
            step(node, NodeInput::ShieldTick, &mut queue);
            step(node, NodeInput::Tick { entropy: tick }, &mut queue);
        }
        for p in std::mem::take(&mut queue) {
            for node in nodes.iter_mut() {
                if p.to.is_none_or(|to| to == node.id()) && node.id() != p.from {
                    step(node, NodeInput::Packet(p.clone()), &mut queue);
                }
            }
        }
    }
}

/// Every packet a cluster of `n` sends in a short run under `attack`, with
/// every defence on: echoes, certificates, justifications, accusations.
fn packets_of(n: usize, attack: Attack, bft: bool) -> Vec<Packet> {
    let spec = ClusterSpec::lab(n, Some(attack), 1, true, bft, None);
    let mut packets = Vec::new();
    run_cluster(&spec, 60, |_, r| packets.extend(r.packets.iter().cloned()));
    packets
}

fn encode(frame: Frame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(frame, &mut buf)
        .expect("encodes");
    buf.to_vec()
}

/// Real frames, one of each kind of body and of each control frame.
fn frame_corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut packets = packets_of(3, Attack::Safety, false);
        packets.extend(packets_of(4, Attack::Safety, true));
        packets.extend(packets_of(3, Attack::IgnorePrepared, false));
        // One of each body kind is enough to mutate from, and keeps the
        // corpus small.
        let mut kinds = std::collections::BTreeMap::new();
        for p in packets {
            kinds.entry(p.body.kind().to_string()).or_insert(p);
        }
        assert!(
            kinds.len() >= 6,
            "the corpus lacks kinds: {:?}",
            kinds.keys()
        );
        let mut out: Vec<Vec<u8>> = kinds
            .into_values()
            .map(|p| encode(Frame::Packet(p)))
            .collect();
        let control = [
            Frame::Challenge { nonce: [3; 32] },
            Frame::Hello {
                nonce: [4; 32],
                mac: vec![5; 32],
            },
            Frame::Admitted { mac: vec![6; 32] },
            Frame::Register(Registration {
                id: Some(1),
                key: [7; 32],
                addr: "127.0.0.1:7001".into(),
                attack: Some("SAFETY".into()),
                middleware: true,
                profile: paxos::actors::Profile {
                    bft: true,
                    faults: Some(1),
                    defences: "all".into(),
                },
                sig: vec![8; 64],
            }),
            Frame::Propose {
                values: vec!["a".into(), "b".into()],
                node: Some(2),
            },
            Frame::QueryStatus { from: 17 },
            Frame::QueryCommits {
                values: vec!["a".into()],
            },
            Frame::Shutdown,
        ];
        out.extend(control.into_iter().map(encode));
        out
    })
}

/// A mutation of one corpus entry.
fn mutated(corpus: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..8);
    (0..corpus.len(), edits, any::<u16>()).prop_map(move |(i, edits, cut)| {
        let mut b = corpus[i].clone();
        for (op, at, byte) in edits {
            let at = at as usize % (b.len() + 1);
            match op % 6 {
                0 if at < b.len() => b[at] ^= 1 << (byte % 8),
                1 if at < b.len() => b[at] = byte,
                2 => b.insert(at, byte),
                3 if at < b.len() => {
                    b.remove(at);
                }
                4 if b.len() >= 4 => {
                    // Rewrite the length prefix: short, long, huge.
                    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    let new = len.wrapping_add(u32::from(byte)).wrapping_sub(128);
                    b[..4].copy_from_slice(&new.to_be_bytes());
                }
                _ => {
                    let other = &corpus[(i + at) % corpus.len()];
                    let from = at % (other.len() + 1);
                    b.extend_from_slice(&other[from..]);
                }
            }
        }
        if cut % 5 == 0 {
            b.truncate(cut as usize % (b.len() + 1));
        }
        b
    })
}

fn run(name: &str, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8])) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |bytes| {
            check(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "{name}: {} inputs, no panic; peak memory {}",
        cases(),
        peak_rss()
    );
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn frames_never_panic_the_decoder() {
    let corpus = frame_corpus();
    // Every real frame decodes to itself before any mutation.
    for bytes in corpus {
        let mut buf = BytesMut::from(&bytes[..]);
        assert!(FrameCodec::default()
            .decode(&mut buf)
            .expect("a real frame")
            .is_some());
    }
    run("frames", mutated(corpus), |bytes| {
        let mut buf = BytesMut::from(bytes);
        let mut codec = FrameCodec::default();
        // Decode as a connection would: frame after frame until an error.
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let mut buf = BytesMut::from(bytes);
        let mut handshake = FrameCodec::handshake();
        while let Ok(Some(_)) = handshake.decode(&mut buf) {}
    });
}

/// A scratch directory for file decoders, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("paxos-fuzz-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files a real store writes after a short durable run.
fn store_files(scratch: &Scratch) -> (Vec<u8>, Vec<u8>) {
    let dir = scratch.0.join("seed");
    let (mut store, _) = Store::open(&dir).expect("opens");
    let spec = ClusterSpec::lab(3, None, 0, false, false, None);
    run_cluster(&spec, 60, |id, r| {
        if id == 0 {
            store.append(&r.persist).expect("appends");
        }
    });
    store
        .save_meta(&paxos::storage::NodeMeta {
            id: 0,
            secret: [1; 32],
        })
        .expect("meta");
    drop(store);
    let wal = std::fs::read_dir(&dir)
        .expect("lists")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("wal-"))
        .expect("a log");
    let wal = std::fs::read(wal.path()).expect("reads");
    let meta = std::fs::read(dir.join("node.meta")).expect("reads");
    (wal, meta)
}

#[test]
fn store_files_never_panic_recovery() {
    let scratch = Scratch::new("store");
    let (wal, meta) = store_files(&scratch);
    assert!(wal.len() > 100, "the run wrote a log");
    let corpus: &'static [Vec<u8>] = Box::leak(vec![wal.clone(), meta.clone()].into_boxed_slice());
    let dir = scratch.0.join("case");
    run("store log and meta", mutated(corpus), |bytes| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        // The mutated bytes as the log (with a real identity), then as the
        // identity (with a real log).
        std::fs::write(dir.join("wal-00000000000000000000.log"), bytes).expect("writes");
        std::fs::write(dir.join("node.meta"), &meta).expect("writes");
        let _ = Store::open(&dir);
        std::fs::write(dir.join("wal-00000000000000000000.log"), &wal).expect("writes");
        std::fs::write(dir.join("node.meta"), bytes).expect("writes");
        let _ = Store::open(&dir);
    });
}

#[test]
fn proof_logs_never_panic_recovery() {
    let scratch = Scratch::new("proofs");
    // Real proofs: what a defended BFT cluster's shields keep.
    let spec = ClusterSpec::lab(4, None, 0, true, true, None);
    let seed_dir = scratch.0.join("seed");
    std::fs::create_dir_all(&seed_dir).expect("dir");
    let (mut log, _) = ProofLog::open(&seed_dir).expect("opens");
    run_cluster(&spec, 60, |id, r| {
        if let (0, Some(proofs)) = (id, &r.proofs) {
            log.append(proofs).expect("appends");
        }
    });
    drop(log);
    let real = std::fs::read(seed_dir.join("proofs.log")).expect("reads");
    assert!(
        real.len() > 100,
        "the run kept proofs: {} bytes",
        real.len()
    );
    let corpus: &'static [Vec<u8>] = Box::leak(vec![real].into_boxed_slice());
    let dir = scratch.0.join("case");
    run("proof log", mutated(corpus), |bytes| {
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("proofs.log"), bytes).expect("writes");
        let _ = ProofLog::open(&dir);
    });
}

#[test]
fn registry_and_key_files_never_panic_their_readers() {
    let scratch = Scratch::new("registry");
    let file = RegistryFile::open(&scratch.0).expect("opens");
    file.save(&[(0, [0xab; 32]), (2, [0x01; 32])].into())
        .expect("saves");
    let registry = std::fs::read(scratch.0.join("registry")).expect("reads");
    let key_path = scratch.0.join("cluster.key");
    ClusterKey::load_or_create(&key_path).expect("creates");
    let key = std::fs::read(&key_path).expect("reads");
    let corpus: &'static [Vec<u8>] = Box::leak(vec![registry, key].into_boxed_slice());
    run("registry and key file", mutated(corpus), |bytes| {
        std::fs::write(scratch.0.join("registry"), bytes).expect("writes");
        let _ = file.load();
        std::fs::write(&key_path, bytes).expect("writes");
        let _ = ClusterKey::load(&key_path);
    });
}

#[test]
fn random_bytes_never_panic_the_frame_decoder() {
    run(
        "random bytes as frames",
        prop::collection::vec(any::<u8>(), 0..600),
        |bytes| {
            let mut buf = BytesMut::from(bytes);
            let mut codec = FrameCodec::default();
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        },
    );
}
