//! The cluster as separate processes over the TCP bridge: the built binary
//! runs a coordinator and three nodes on ports the OS picks, and the tests
//! drive it with `paxos propose` and `paxos status --json`, as a user would.
//! Every process is killed when its guard drops, also when a test fails.

use serde_json::Value as Json;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{stderr, Proc, BIN, KEY};

/// The coordinator's address and the cluster key's path.
struct ClusterView {
    addr: String,
    key: String,
}

/// A coordinator and its nodes, in a scratch directory removed at the end.
struct Cluster {
    dir: PathBuf,
    addr: String,
    coordinator: Proc,
    nodes: Vec<Option<Proc>>,
}

impl Cluster {
    fn start(name: &str, n: usize) -> Cluster {
        Cluster::start_with(name, n, &[])
    }

    /// A cluster whose coordinator has `extra` flags too.
    fn start_with(name: &str, n: usize, extra: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("paxos-mp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let nodes = n.to_string();
        let mut args = vec!["coordinator", "--listen", "127.0.0.1:0", "--nodes", &nodes];
        args.extend_from_slice(extra);
        let coordinator = Proc::spawn("coordinator", &dir, &args);
        let line = coordinator.wait_line("coordinator listening on ");
        let addr = line.rsplit(' ').next().expect("an address").to_string();
        Cluster {
            dir,
            addr,
            coordinator,
            nodes: (0..n).map(|_| None).collect(),
        }
    }

    /// A cluster whose coordinator keeps its registry in a data directory.
    fn start_durable(name: &str, n: usize) -> Cluster {
        let mut c = Cluster::start(name, n);
        c.coordinator.kill();
        c.restart_coordinator();
        c
    }

    /// (Re)start the coordinator on the same address, key and data directory.
    fn restart_coordinator(&mut self) {
        let registry = self.dir.join("coordinator").display().to_string();
        let nodes = self.nodes.len().to_string();
        self.coordinator = Proc::spawn(
            "coordinator",
            &self.dir,
            &[
                "coordinator",
                "--listen",
                &self.addr,
                "--nodes",
                &nodes,
                "--data-dir",
                &registry,
            ],
        );
        self.coordinator.wait_line("coordinator listening on ");
    }

    fn data_dir(&self, id: usize) -> String {
        self.dir.join(format!("node{id}")).display().to_string()
    }

    /// Start node `id` (asking for that id) with extra flags, and wait until
    /// it registered.
    fn node(&mut self, id: usize, extra: &[&str]) -> String {
        let ids = id.to_string();
        let mut args = vec![
            "node",
            "--listen",
            "127.0.0.1:0",
            "--coordinator",
            &self.addr,
            "--id",
            &ids,
        ];
        args.extend_from_slice(extra);
        let p = Proc::spawn(&format!("node{id}"), &self.dir, &args);
        let line = p.wait_line("listening on ");
        assert!(line.starts_with(&format!("node {id} ")), "{line}");
        self.nodes[id] = Some(p);
        line.rsplit(' ').next().expect("an address").to_string()
    }

    /// Start node `id` on its own data directory ([`Cluster::data_dir`]),
    /// with extra flags: the same call starts it again after a kill.
    fn durable_node(&mut self, id: usize, extra: &[&str]) {
        let dir = self.data_dir(id);
        let mut args = extra.to_vec();
        args.extend(["--data-dir", &dir]);
        self.node(id, &args);
    }

    fn key(&self) -> String {
        self.dir.join(KEY).display().to_string()
    }

    /// What a client needs of the cluster (its address and key), without
    /// its processes: for client threads.
    fn view(&self) -> ClusterView {
        ClusterView {
            addr: self.addr.clone(),
            key: self.key(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .args(["--coordinator", &self.addr, "--cluster-key", &self.key()])
            .output()
            .expect("the paxos binary runs");
        out
    }

    fn propose(&self, node: Option<usize>, values: &[&str]) -> Output {
        let mut args = vec!["propose", "--timeout", "15"];
        let id;
        if let Some(n) = node {
            id = n.to_string();
            args.extend(["--node", &id]);
        }
        args.extend_from_slice(values);
        self.run(&args)
    }

    fn status(&self) -> Json {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success(), "status failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// Wait until every node is registered and hears every other over an
    /// authenticated connection. An attacker whose packets cannot reach a
    /// peer yet attacks nobody, so attack runs start from here.
    fn connected(&self) {
        let s = self.status_until(15, |s| {
            ids(s, "unreachable").is_empty()
                && s["unlinked"].as_object().is_some_and(|m| m.is_empty())
        });
        assert!(
            ids(&s, "unreachable").is_empty() && s["unlinked"] == serde_json::json!({}),
            "the cluster never connected fully: {s}"
        );
    }

    /// Poll status until `done` holds or `secs` pass; the last status.
    fn status_until(&self, secs: u64, done: impl Fn(&Json) -> bool) -> Json {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status();
            if done(&s) || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            n.kill();
        }
        self.coordinator.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

fn logs(s: &Json) -> Vec<Vec<String>> {
    s["logs"]
        .as_object()
        .expect("logs")
        .values()
        .map(|l| {
            l.as_array()
                .expect("a log")
                .iter()
                .flat_map(values_at)
                .collect()
        })
        .collect()
}

/// The client values one position holds: a string, or (a batch a busy
/// leader folded) an array of them.
fn values_at(v: &Json) -> Vec<String> {
    match v.as_array() {
        Some(batch) => batch.iter().flat_map(values_at).collect(),
        None => vec![v.as_str().expect("a value").to_string()],
    }
}

/// Every honest node answered and has every value in `values`.
fn all_have(s: &Json, nodes: usize, values: &[&str]) -> bool {
    let logs = logs(s);
    logs.len() == nodes
        && logs
            .iter()
            .all(|l| values.iter().all(|v| l.iter().any(|x| x == v)))
}

fn ids(s: &Json, field: &str) -> Vec<u64> {
    s[field]
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("an id"))
        .collect()
}

/// Send raw bytes to `addr` on a fresh connection, then hang up.
fn send_raw(addr: &str, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connects");
    let _ = s.write_all(bytes);
    // Give the far side the chance to read before we hang up; it must cope
    // with either order, so this only widens what the test exercises.
    let _ = s.flush();
}

fn frame_bytes(frame: paxos::bridge::frame::Frame) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut buf = tokio_util::bytes::BytesMut::new();
    paxos::bridge::frame::FrameCodec::default()
        .encode(frame, &mut buf)
        .expect("encodes");
    buf.to_vec()
}

#[test]
fn bad_bytes_and_bad_handshakes_leave_nodes_and_coordinator_serving() {
    use paxos::bridge::frame::Frame;
    let mut c = Cluster::start("bad-input", 3);
    let addrs: Vec<String> = (0..3).map(|i| c.node(i, &[])).collect();
    let out = c.propose(None, &["before"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mut truncated = 100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(b"only ten b");
    let hello = |id, sig: Vec<u8>| frame_bytes(Frame::PeerHello { id, sig });
    // A valid Shutdown with bytes after it in the same frame: refused whole
    // (it used to stop the cluster, the trailing bytes ignored).
    let shutdown = frame_bytes(Frame::Shutdown);
    let mut shutdown_and_more = ((shutdown.len() - 4 + 40) as u32).to_be_bytes().to_vec();
    shutdown_and_more.extend_from_slice(&shutdown[4..]);
    shutdown_and_more.extend_from_slice(&[0xa5; 40]);
    let attempts: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n garbage \xff\xfe".to_vec(),
        u32::MAX.to_be_bytes().to_vec(), // a 4 GiB frame announced
        (2u32 << 20).to_be_bytes().to_vec(), // just over the limit
        truncated,
        hello(2, vec![0; 64]),   // a registered id, a signature that fails
        hello(9, vec![0; 64]),   // an id the coordinator never registered
        hello(1, vec![1, 2, 3]), // a malformed signature
        shutdown_and_more,
    ];
    for bytes in &attempts {
        for a in addrs.iter().chain([&c.addr]) {
            send_raw(a, bytes);
        }
    }
    // Everyone still serves: new values commit everywhere.
    let out = c.propose(None, &["after1", "after2", "after3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| {
        all_have(s, 3, &["before", "after1", "after2", "after3"])
    });
    assert!(
        all_have(&s, 3, &["before", "after1", "after2", "after3"]),
        "{s}"
    );
    assert_eq!(s["agreement"], true);
    // And said so in their logs.
    let log = std::fs::read_to_string(c.dir.join("node1.err")).unwrap_or_default();
    assert!(
        log.contains("dropped"),
        "node 1 logged nothing about bad input:\n{log}"
    );
}

#[test]
fn a_port_in_use_and_an_unreachable_coordinator_are_clear_errors() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("an address").to_string();
    let dir = std::env::temp_dir().join(format!("paxos-mp-{}-unreachable", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let key = dir.join(KEY).display().to_string();
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).expect("a key file");
    let out = Command::new(BIN)
        .args(["coordinator", "--listen", &addr, "--cluster-key", &key])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot listen on"),
        "{}",
        stderr(&out)
    );

    // Nobody listens on a port we just closed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        l.local_addr().expect("an address").to_string()
    };
    let at = ["--coordinator", &closed, "--cluster-key", &key];
    let out = Command::new(BIN)
        .args(["node", "--connect-timeout", "0.3"])
        .args(at)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    for cmd in [&["status"][..], &["shutdown"], &["propose", "x"]] {
        let out = Command::new(BIN).args(cmd).args(at).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            stderr(&out).contains("cannot reach"),
            "{cmd:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        // Without the cluster's key there is nothing to try.
        let missing = dir.join("no-such.key").display().to_string();
        let out = Command::new(BIN)
            .args(cmd)
            .args(["--coordinator", &closed, "--cluster-key", &missing])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            stderr(&out).contains("cannot read the cluster key"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_cluster_refuses_another_node_and_propose_names_unknown_nodes() {
    let mut c = Cluster::start("refusals", 1);
    c.node(0, &[]);
    let out = c.run(&["node"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("full"), "{}", stderr(&out));
    let out = c.propose(Some(5), &["x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("node 5 is not registered"),
        "{}",
        stderr(&out)
    );
    let out = c.run(&["shutdown"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Shutdown stops the node and the coordinator by themselves.
    for p in c.nodes.iter_mut().flatten().chain([&mut c.coordinator]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match p.child.try_wait().expect("waits") {
                Some(status) => {
                    assert!(status.success(), "{} exited with {status}", p.name);
                    break;
                }
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                None => panic!("{} did not stop after shutdown", p.name),
            }
        }
    }
}

const ALL: [&str; 8] = ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"];

/// One attacked cluster across processes, run like the demo: the SAFETY
/// attacker is asked first (it leads position 0), the LIVENESS attacker is
/// never asked. Returns the final status (and the cluster, still running).
fn attacked(name: &str, attack: &str, middleware: bool) -> (Json, Cluster) {
    let mut c = Cluster::start(name, 3);
    let attacker = 1usize;
    for id in 0..3 {
        let mut extra = Vec::new();
        if middleware {
            extra.push("--middleware");
        }
        if id == attacker {
            extra.extend(["--attack", attack]);
        }
        c.node(id, &extra);
    }
    c.connected();
    let values = ALL;
    let targets: Vec<usize> = if attack == "SAFETY" {
        vec![1, 2, 0]
    } else {
        vec![0, 2]
    };
    for (i, v) in values.iter().enumerate() {
        // Commits may never come under attack; the status tells the verdict.
        let _ = c.run(&[
            "propose",
            "--timeout",
            "0.05",
            "--node",
            &targets[i % targets.len()].to_string(),
            v,
        ]);
    }
    let honest = 2;
    let s = c.status_until(4, |s| all_have(s, honest, &values));
    (s, c)
}

#[test]
fn the_briefs_attacks_across_processes_give_the_demos_verdicts() {
    let (s, _) = attacked("safety-off", "SAFETY", false);
    assert_eq!(s["agreement"], false, "SAFETY without the middleware: {s}");
    assert_eq!(ids(&s, "attackers"), vec![1]);

    let (s, _) = attacked("safety-on", "SAFETY", true);
    assert_eq!(s["agreement"], true, "SAFETY with the middleware: {s}");
    assert!(all_have(&s, 2, &ALL), "not live: {s}");
    assert_eq!(ids(&s, "detected"), vec![1], "{s}");

    // Across processes the climber's one-hop head start is a real race on
    // real sockets: under load an honest round sometimes completes first,
    // and a leader that won its round needs no Prepare for the next
    // positions. So what is certain is the attack at work, not a full
    // stall (that is what one process and the simulator show, where the
    // race is decided by hop count: tests/attacks.rs, tests/matrix.rs):
    // the climber's Prepares preempt the honest nodes' rounds, as the
    // coordinator's terminal shows, and nothing unsafe happens.
    let (s, c) = attacked("liveness-off", "LIVENESS", false);
    assert_eq!(s["agreement"], true, "{s}");
    assert!(
        ids(&s, "detected").is_empty(),
        "nobody to catch without it: {s}"
    );
    let line = c
        .coordinator
        .wait_for("an honest round preempted by node 1", |l| {
            (l.starts_with("node 0: ") || l.starts_with("node 2: "))
                && l.contains(" preempted by ")
                && l.ends_with(".1")
        });
    assert!(line.contains("preempted"), "{line}");

    let (s, _) = attacked("liveness-on", "LIVENESS", true);
    assert_eq!(s["agreement"], true, "{s}");
    assert!(all_have(&s, 2, &ALL), "not live: {s}");
    assert_eq!(ids(&s, "detected"), vec![1], "{s}");
}

#[test]
fn three_processes_commit_and_a_killed_node_restarts_from_its_data_dir() {
    let mut c = Cluster::start("durable", 3);
    for i in 0..3 {
        c.durable_node(i, &[]);
    }
    let out = c.propose(None, &["a", "b", "c"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["a", "b", "c"]));
    assert!(all_have(&s, 3, &["a", "b", "c"]), "{s}");
    let l = logs(&s);
    assert!(l.iter().all(|x| *x == l[0]), "logs differ: {s}");

    // SIGKILL one node; the other two are a majority and go on.
    c.nodes[2].as_mut().expect("node 2 runs").kill();
    let out = c.propose(None, &["d", "e"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // It restarts on its directory: same id, catches up, nothing lost.
    c.durable_node(2, &[]);
    let every = ["a", "b", "c", "d", "e"];
    let s = c.status_until(15, |s| all_have(s, 3, &every));
    assert!(all_have(&s, 3, &every), "node 2 did not catch up: {s}");
    let l = logs(&s);
    assert!(l.iter().all(|x| *x == l[0]), "logs differ: {s}");
    assert_eq!(s["agreement"], true);

    // Kill every node at once: only the disks remember. Restarted, they
    // still hold every committed value, and the cluster goes on.
    for n in c.nodes.iter_mut().flatten() {
        n.kill();
    }
    for i in 0..3 {
        c.durable_node(i, &[]);
    }
    let s = c.status_until(10, |s| all_have(s, 3, &every));
    assert!(all_have(&s, 3, &every), "a full restart lost data: {s}");
    let out = c.propose(None, &["f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["f"]));
    assert!(all_have(&s, 3, &["f"]), "{s}");
    let l = logs(&s);
    assert!(l.iter().all(|x| *x == l[0]), "logs differ: {s}");
    // A node's directory belongs to its id.
    let out = c.run(&["node", "--id", "0", "--data-dir", &c.data_dir(1)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("belongs to node 1") || stderr(&out).contains("lock"),
        "{}",
        stderr(&out)
    );
}

/// With the middleware a Commit is applied only with its certificate, so a
/// node that missed some commits can learn them only from a peer that
/// still holds their certificates. Node 2 is down while d and e commit;
/// then nodes 0 and 1 are killed too, and all three restart: 0 and 1 must
/// have kept the certificates in their data dirs (`proofs.log`), or node 2
/// never learns d and e (every Commit it gets is bare and refused).
#[test]
fn restarted_nodes_still_prove_their_commits_with_the_middleware() {
    let mut c = Cluster::start("proofs", 3);
    for i in 0..3 {
        c.durable_node(i, &["--middleware"]);
    }
    let out = c.propose(None, &["a", "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["a", "b"]));
    assert!(all_have(&s, 3, &["a", "b"]), "{s}");

    c.nodes[2].as_mut().expect("node 2 runs").kill();
    let out = c.propose(Some(0), &["d", "e"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 2, &["d", "e"]));
    assert!(all_have(&s, 2, &["d", "e"]), "{s}");

    for n in c.nodes.iter_mut().flatten() {
        n.kill();
    }
    for i in 0..3 {
        c.durable_node(i, &["--middleware"]);
    }
    let every = ["a", "b", "d", "e"];
    let s = c.status_until(15, |s| all_have(s, 3, &every));
    assert!(all_have(&s, 3, &every), "node 2 never learnt d and e: {s}");
    assert_eq!(s["agreement"], true);
    assert!(ids(&s, "detected").is_empty(), "nobody flagged: {s}");
}

#[test]
fn nodes_register_again_with_a_restarted_coordinator() {
    let mut c = Cluster::start("coordinator-restart", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    let out = c.propose(None, &["before"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Kill the coordinator and start a new one on the same address.
    c.coordinator.kill();
    let listen = c.addr.clone();
    c.coordinator = Proc::spawn(
        "coordinator2",
        &c.dir,
        &["coordinator", "--listen", &listen, "--nodes", "3"],
    );
    c.coordinator.wait_line("coordinator listening on ");
    // They come back in any order.
    let mut back = std::collections::BTreeSet::new();
    while back.len() < 3 {
        let line = c.coordinator.wait_line(" registered from ");
        back.insert(line.split(' ').nth(1).unwrap_or_default().to_string());
    }
    let out = c.propose(None, &["after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["before", "after"]));
    assert!(all_have(&s, 3, &["before", "after"]), "{s}");
    assert_eq!(s["agreement"], true);
}

/// BFT mode across processes: four nodes (n = 3f+1, f = 1) with `--bft
/// --middleware`, node 1 the SAFETY attacker asked first: agreement, every
/// value on the three honest nodes, only the attacker flagged.
#[test]
fn bft_mode_across_processes_defeats_the_safety_attack() {
    let mut c = Cluster::start("bft-safety", 4);
    for id in 0..4 {
        let mut extra = vec!["--bft", "--middleware"];
        if id == 1 {
            extra.extend(["--attack", "SAFETY"]);
        }
        c.node(id, &extra);
    }
    c.connected();
    let targets = [1usize, 2, 3, 0];
    for (i, v) in ALL.iter().enumerate() {
        let _ = c.run(&[
            "propose",
            "--timeout",
            "0.05",
            "--node",
            &targets[i % targets.len()].to_string(),
            v,
        ]);
    }
    let s = c.status_until(10, |s| {
        all_have(s, 3, &ALL) && !ids(s, "detected").is_empty()
    });
    assert_eq!(s["agreement"], true, "{s}");
    assert!(all_have(&s, 3, &ALL), "not live: {s}");
    assert_eq!(ids(&s, "detected"), vec![1], "{s}");
}

/// BFT mode with data dirs: a killed node restarts with its proofs
/// (`proofs.log`), catches up and takes part again; nobody is flagged.
#[test]
fn a_bft_node_restarts_from_its_data_dir_with_its_proofs() {
    let mut c = Cluster::start("bft-restart", 4);
    for i in 0..4 {
        c.durable_node(i, &["--bft", "--middleware"]);
    }
    let out = c.propose(None, &["a", "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 4, &["a", "b"]));
    assert!(all_have(&s, 4, &["a", "b"]), "{s}");

    c.nodes[3].as_mut().expect("node 3 runs").kill();
    let out = c.propose(Some(0), &["c"]);
    assert!(out.status.success(), "{}", stderr(&out));
    c.durable_node(3, &["--bft", "--middleware"]);
    let out = c.propose(Some(3), &["d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let every = ["a", "b", "c", "d"];
    let s = c.status_until(15, |s| all_have(s, 4, &every));
    assert!(all_have(&s, 4, &every), "{s}");
    assert_eq!(s["agreement"], true);
    assert!(ids(&s, "detected").is_empty(), "nobody flagged: {s}");
}

#[test]
fn bft_with_too_few_nodes_is_a_clear_error() {
    let mut c = Cluster::start("bft-small", 3);
    let out = c.run(&["node", "--listen", "127.0.0.1:0", "--id", "0", "--bft"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("3f+1 = 4"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Refused before it took a slot: node 0 is still free.
    c.node(0, &[]);
}

#[test]
fn a_node_that_runs_the_protocol_differently_is_refused_before_taking_a_slot() {
    let mut c = Cluster::start("mixed", 3);
    c.node(0, &["--middleware"]);
    for (flags, runs) in [
        (&[][..], "classic mode, defences none"),
        (&["--defences", "echo"][..], "classic mode, defences echo"),
    ] {
        let mut args = vec!["node", "--id", "1", "--connect-timeout", "5"];
        args.extend_from_slice(flags);
        let out = c.run(&args);
        assert!(!out.status.success(), "{flags:?} was admitted");
        let err = stderr(&out);
        assert!(
            err.contains("this cluster runs classic mode, defences all")
                && err.contains(&format!("this node runs {runs}")),
            "{err}"
        );
    }
    // Its slot is still free for a node that runs like the others.
    c.node(1, &["--middleware"]);
    c.node(2, &["--middleware"]);
    let out = c.propose(None, &["same"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_node_that_fails_after_registering_gives_its_slot_back() {
    // BFT mode takes every defence or none: this node is admitted (its
    // mode fits 4 nodes), then cannot start. Its slot must not stay taken.
    let mut c = Cluster::start("leave", 4);
    let out = c.run(&[
        "node",
        "--listen",
        "127.0.0.1:0",
        "--bft",
        "--defences",
        "echo",
    ]);
    assert!(!out.status.success(), "a partial BFT node started");
    let err = stderr(&out);
    assert!(err.contains("BFT mode"), "{err}");
    let s = c.status();
    assert_eq!(ids(&s, "free"), vec![0, 1, 2, 3], "{s}");
    // Node 0's slot, and the cluster's mode, are free for nodes that run.
    for id in 0..4 {
        c.node(id, &["--bft", "--middleware"]);
    }
    let out = c.propose(None, &["after"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A fresh scratch directory with a cluster key of its own: a stranger's.
fn stranger_key(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("paxos-mp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let key = dir.join(KEY).display().to_string();
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).expect("a key file");
    (dir, key)
}

/// Poll `file` until it contains `needle` (a process's log line) or 15 s pass.
fn wait_in_file(file: &Path, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::fs::read_to_string(file).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_stranger_without_the_cluster_key_is_served_nothing() {
    use paxos::bridge::frame::Frame;
    let mut c = Cluster::start("stranger", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    let (dir, theirs) = stranger_key("stranger-key");
    let at = ["--coordinator", &c.addr, "--cluster-key", &theirs];
    for cmd in [
        &["status"][..],
        &["propose", "--timeout", "2", "junk"],
        &["shutdown"],
        &["node", "--connect-timeout", "2"],
    ] {
        let out = Command::new(BIN).args(cmd).args(at).output().expect("runs");
        assert!(!out.status.success(), "{cmd:?} was served");
        assert!(
            stderr(&out).contains("not a member of this cluster"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    // Raw frames without the handshake: a Shutdown, a registration, a
    // status query. Each is refused before it is read as a request.
    for frame in [Frame::Shutdown, Frame::QueryStatus { from: 0 }] {
        let mut s = TcpStream::connect(&c.addr).expect("connects");
        s.write_all(&frame_bytes(frame)).expect("writes");
        let _ = s.flush();
    }
    // The cluster still runs, with nothing of the stranger's in it.
    let out = c.propose(None, &["mine"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["mine"]));
    assert!(all_have(&s, 3, &["mine"]), "{s}");
    assert!(
        logs(&s).iter().all(|l| !l.iter().any(|v| v == "junk")),
        "{s}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nodes_refuse_a_coordinator_that_lacks_the_cluster_key() {
    let mut c = Cluster::start("impostor", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    let out = c.propose(None, &["before"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The coordinator dies; an impostor with another key takes its address.
    c.coordinator.kill();
    let (dir, theirs) = stranger_key("impostor-key");
    let listen = c.addr.clone();
    let mut impostor = Proc::spawn(
        "impostor",
        &dir,
        &[
            "coordinator",
            "--listen",
            &listen,
            "--nodes",
            "3",
            "--cluster-key",
            &theirs,
        ],
    );
    impostor.wait_line("coordinator listening on ");
    for i in 0..3 {
        let log = c.dir.join(format!("node{i}.err"));
        assert!(
            wait_in_file(&log, "refused this cluster key"),
            "node {i} did not refuse the impostor:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // Its shutdown reaches nobody: every node still runs.
    let out = Command::new(BIN)
        .args([
            "shutdown",
            "--coordinator",
            &listen,
            "--cluster-key",
            &theirs,
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    impostor.kill();
    for (i, n) in c.nodes.iter_mut().enumerate() {
        let n = n.as_mut().expect("started");
        assert!(
            n.child.try_wait().expect("waits").is_none(),
            "node {i} exited on the impostor's word"
        );
    }
    // The real coordinator comes back: they follow it, and go on.
    c.coordinator = Proc::spawn(
        "coordinator2",
        &c.dir,
        &["coordinator", "--listen", &listen, "--nodes", "3"],
    );
    c.coordinator.wait_line("coordinator listening on ");
    for _ in 0..3 {
        c.coordinator.wait_line(" registered from ");
    }
    let out = c.propose(None, &["after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["before", "after"]));
    assert!(all_have(&s, 3, &["before", "after"]), "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restarted_coordinator_never_hands_an_id_to_another_key() {
    let mut c = Cluster::start_durable("takeover", 3);
    for i in 0..3 {
        c.durable_node(i, &[]);
    }
    let out = c.propose(None, &["before"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Node 1 and the coordinator die; the coordinator restarts on its data
    // directory. A newcomer with its own key asks for id 1 in the gap.
    c.nodes[1].as_mut().expect("started").kill();
    c.coordinator.kill();
    c.restart_coordinator();
    let out = c.run(&["node", "--id", "1", "--connect-timeout", "5"]);
    assert!(!out.status.success(), "the impostor was admitted as node 1");
    assert!(
        stderr(&out).contains("node 1 is already registered with another key"),
        "{}",
        stderr(&out)
    );
    // Nor does it get in under a free id: there is none.
    let out = c.run(&["node", "--connect-timeout", "5"]);
    assert!(stderr(&out).contains("full"), "{}", stderr(&out));
    // The real node 1, from its data directory, is welcome back.
    c.durable_node(1, &[]);
    let out = c.propose(None, &["after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status_until(10, |s| all_have(s, 3, &["before", "after"]));
    assert!(all_have(&s, 3, &["before", "after"]), "{s}");
    assert_eq!(s["agreement"], true);
}

/// A small tmpfs mounted for one test, unmounted on drop (also on failure).
/// Needs root, as CI runs: a test that needs it fails loudly without it.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(dir: PathBuf, size: &str) -> TinyDisk {
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a tiny tmpfs and needs root (CI runs as root): {}",
            stderr(&out)
        );
        TinyDisk(dir)
    }

    /// Take every free byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

#[test]
fn a_node_whose_disk_fills_stops_and_leaves_the_cluster() {
    let mut c = Cluster::start("disk-full", 3);
    let disk = TinyDisk::mount(c.dir.join("tiny"), "256k");
    for i in [0, 2] {
        c.durable_node(i, &[]);
    }
    let dir = disk.0.join("node1").display().to_string();
    c.node(1, &["--data-dir", &dir]);
    let out = c.propose(None, &["before"]);
    assert!(out.status.success(), "{}", stderr(&out));
    disk.fill();
    // Values keep coming; node 1 cannot keep its promises and must go. (A
    // few records still fit in the log's last page, so ask until it does.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batch = 0;
    let status = loop {
        if let Some(s) = c.nodes[1]
            .as_mut()
            .expect("started")
            .child
            .try_wait()
            .expect("waits")
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 still runs with a full disk"
        );
        let values: Vec<String> = (0..50).map(|i| format!("b{batch}-{i:040}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut args = vec!["propose", "--timeout", "0.5", "--node", "1"];
        args.extend(refs);
        let _ = c.run(&args); // it may or may not commit before node 1 stops
        batch += 1;
    };
    assert_eq!(status.code(), Some(1), "node 1 must fail, not exit cleanly");
    let log = std::fs::read_to_string(c.dir.join("node1.err")).unwrap_or_default();
    assert!(log.contains("cannot persist"), "{log}");
    // The others go on, and the coordinator no longer counts node 1 in.
    let out = c.propose(None, &["after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status();
    assert_eq!(ids(&s, "unreachable"), vec![1], "{s}");
}

/// A process's resident memory in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a VmRSS line")
}

#[test]
fn strangers_that_connect_and_stall_cost_little_and_lock_nobody_out() {
    let mut c = Cluster::start("slowloris", 3);
    let peer0 = c.node(0, &[]);
    for i in 1..3 {
        c.node(i, &[]);
    }
    let before = rss_kib(c.coordinator.child.id());
    let node0 = c.nodes[0].as_ref().expect("started").child.id();
    let node_before = rss_kib(node0);
    // 400 connections, more than the coordinator keeps unproven: half say
    // nothing, half announce a 1 MiB frame and stall after its first bytes.
    // As many again at node 0's peer port.
    let mut held = Vec::new();
    for i in 0..800 {
        let at = if i < 400 { &c.addr } else { &peer0 };
        let mut s = TcpStream::connect(at).expect("connects");
        if i % 2 == 0 {
            let _ = s.write_all(&(1u32 << 20).to_be_bytes());
            let _ = s.write_all(&[0u8; 100]);
        }
        held.push(s);
    }
    // Members still get in, past every stalled stranger.
    let out = c.propose(None, &["through"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = c.status(); // asserts that status was served
    assert_eq!(s["agreement"], true, "{s}");
    let grown = rss_kib(c.coordinator.child.id()).saturating_sub(before);
    // 200 announced frames of 1 MiB each would be 200 MiB reserved.
    assert!(grown < 32 * 1024, "the coordinator grew by {grown} KiB");
    let node_grown = rss_kib(node0).saturating_sub(node_before);
    assert!(node_grown < 32 * 1024, "node 0 grew by {node_grown} KiB");
    eprintln!("RSS grew by {grown} KiB (coordinator), {node_grown} KiB (node 0) under 400 stalled connections each");
    drop(held);
}

#[test]
fn the_connect_timeout_bounds_a_coordinator_that_accepts_and_says_nothing() {
    let (dir, key) = stranger_key("mute");
    let mute = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = mute.local_addr().expect("an address").to_string();
    let out = Command::new(BIN)
        .args(["node", "--coordinator", &addr, "--cluster-key", &key])
        .args(["--connect-timeout", "0.5"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no answer within 500ms"),
        "{}",
        stderr(&out)
    );
    drop(mute);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_brings_logs_of_any_size_page_by_page() {
    let mut c = Cluster::start("big-status", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    // Over 1 MiB of log on every node: more than one frame can carry.
    let mut all = Vec::new();
    for part in 0..3 {
        let values: Vec<String> = (0..1_300)
            .map(|i| format!("{part}-{i:05}-{}", "x".repeat(300)))
            .collect();
        let mut args = vec!["propose", "--timeout", "60"];
        args.extend(values.iter().map(String::as_str));
        let out = c.run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        all.extend(values);
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let s = c.status_until(30, |s| all_have(s, 3, &refs));
    assert!(
        all_have(&s, 3, &refs),
        "not every value arrived in the status"
    );
    let l = logs(&s);
    assert!(l.iter().all(|x| *x == l[0]), "logs differ");
    assert!(l[0].iter().map(String::len).sum::<usize>() > 1 << 20);
}

#[test]
fn shutdown_reaches_members_that_were_reconnecting() {
    let mut c = Cluster::start_durable("shutdown-all", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    // The members freeze (SIGSTOP); the coordinator restarts and is told to
    // shut down while none of them is registered. Then they wake, find
    // their connection broken, and register again: they must hear it.
    let signal = |c: &Cluster, sig: &str| {
        for n in c.nodes.iter().flatten() {
            n.signal(sig);
        }
    };
    signal(&c, "-STOP");
    c.coordinator.kill();
    c.restart_coordinator();
    // The shutdown answers once every member heard it (or says who did
    // not): it is asked while they are frozen, and they wake meanwhile.
    let told = c.dir.join("coordinator.err");
    let (addr, key) = (c.addr.clone(), c.key());
    let asking = std::thread::spawn(move || {
        Command::new(BIN)
            .args(["shutdown", "--coordinator", &addr, "--cluster-key", &key])
            .output()
            .expect("the paxos binary runs")
    });
    assert!(
        wait_in_file(&told, "shutdown asked"),
        "the shutdown never started"
    );
    signal(&c, "-CONT");
    let out = asking.join().expect("the shutdown client");
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, n) in c.nodes.iter_mut().enumerate() {
        let n = n.as_mut().expect("started");
        loop {
            if let Some(status) = n.child.try_wait().expect("waits") {
                assert!(status.success(), "node {i} exited with {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} still runs after the shutdown"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let log = std::fs::read_to_string(told).unwrap_or_default();
    assert!(log.contains("back during the shutdown"), "{log}");
}

/// Clients keep proposing while the leader is SIGKILLed: the coordinator's
/// client fails over to the survivors, every propose is acknowledged, and
/// every acknowledged value is on both survivors and, once it restarts from
/// its directory, on the killed node too.
#[test]
fn proposes_fail_over_when_the_leader_is_killed_and_no_acknowledged_value_is_lost() {
    let mut c = Cluster::start("failover", 3);
    for i in 0..3 {
        c.durable_node(i, &[]);
    }
    c.connected();
    // Node 0 leads: the first value was asked of it.
    let out = c.propose(Some(0), &["warm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    const N: usize = 60;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let failed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (addr, key) = (c.addr.clone(), c.key());
    let client = {
        let (acked, failed) = (acked.clone(), failed.clone());
        std::thread::spawn(move || {
            for i in 0..N {
                let v = format!("f{i:03}");
                let out = Command::new(BIN)
                    .args(["propose", "--timeout", "30", &v])
                    .args(["--coordinator", &addr, "--cluster-key", &key])
                    .output()
                    .expect("the paxos binary runs");
                let to = if out.status.success() {
                    &acked
                } else {
                    &failed
                };
                to.lock().unwrap().push(format!("{v}: {}", stderr(&out)));
            }
        })
    };
    // Kill the leader a third of the way in.
    let start = Instant::now();
    while acked.lock().unwrap().len() < N / 3 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    c.nodes[0].as_mut().expect("node 0 runs").kill();
    client.join().expect("the client thread");
    assert!(
        failed.lock().unwrap().is_empty(),
        "{:?}",
        failed.lock().unwrap()
    );
    let acked: Vec<String> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(acked.len(), N);
    let refs: Vec<&str> = acked.iter().map(String::as_str).collect();
    let s = c.status_until(20, |s| all_have(s, 2, &refs));
    assert!(
        all_have(&s, 2, &refs),
        "an acknowledged value is missing: {s}"
    );
    assert_eq!(s["agreement"], true, "{s}");
    c.durable_node(0, &[]);
    let s = c.status_until(20, |s| all_have(s, 3, &refs));
    assert!(
        all_have(&s, 3, &refs),
        "the restarted leader did not catch up: {s}"
    );
}

#[test]
fn a_long_propose_on_a_healthy_cluster_commits_each_value_once() {
    let mut c = Cluster::start("patience", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    // Thousands of values in one call queue up behind each other: the
    // client's patience must not mistake waiting in line for being lost.
    let values: Vec<String> = (0..3_000).map(|i| format!("q{i:05}")).collect();
    let mut args = vec!["propose", "--timeout", "120"];
    args.extend(values.iter().map(String::as_str));
    let out = c.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let s = c.status_until(30, |s| all_have(s, 3, &refs));
    for log in logs(&s) {
        let distinct: std::collections::BTreeSet<&String> = log.iter().collect();
        assert_eq!(
            log.len(),
            distinct.len(),
            "{} of {} positions hold a value committed before",
            log.len() - distinct.len(),
            log.len()
        );
    }
}

/// One round of a split scenario across processes: cut `left` from `right`
/// through the coordinator (`paxos partition`), ask each `(node, value)`
/// at the same moment, as the demo does, let the proposes run out, heal
/// (`paxos heal`). Returns the status after.
fn split_round(c: &Cluster, left: &str, right: &str, asks: &[(usize, String)]) -> Json {
    let cut = c.run(&["partition", left, right]);
    assert!(cut.status.success(), "{}", stderr(&cut));
    let proposes: Vec<_> = asks
        .iter()
        .map(|(node, value)| {
            Command::new(BIN)
                .args([
                    "propose",
                    "--timeout",
                    "2",
                    "--node",
                    &node.to_string(),
                    value,
                ])
                .args(["--coordinator", &c.addr, "--cluster-key", &c.key()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("propose runs")
        })
        .collect();
    for mut p in proposes {
        let _ = p.wait();
    }
    let heal = c.run(&["heal"]);
    assert!(heal.status.success(), "{}", stderr(&heal));
    c.status()
}

/// The attack, its cluster, and whom each round asks: IGNORE_PREPARED's
/// leader cuts in while node 1 decides; STALE_PREPARED's acceptor hides
/// from node 2 what it accepted from node 1.
const SPLITS: [(&str, [usize; 2]); 2] = [("IGNORE_PREPARED", [0, 1]), ("STALE_PREPARED", [1, 2])];

/// Rounds a race across processes gets to show the attack.
const ROUNDS: usize = 6;

#[test]
fn the_split_attacks_break_agreement_across_processes_with_links_cut_by_the_coordinator() {
    for (attack, [x, y]) in SPLITS {
        let mut c = Cluster::start(&format!("split-{attack}"), 3);
        c.node(0, &["--attack", attack]);
        c.node(1, &[]);
        c.node(2, &[]);
        c.connected();
        let mut last = Json::Null;
        let broke = (0..ROUNDS).any(|r| {
            last = split_round(&c, "1", "2", &[(x, format!("a{r}")), (y, format!("b{r}"))]);
            last["agreement"] == false
        });
        assert!(
            broke,
            "{attack} never split the honest nodes in {ROUNDS} rounds: {last}"
        );
    }
}

#[test]
fn the_split_attacks_fail_across_processes_with_their_defence() {
    // IGNORE_PREPARED: the justify defence, classic mode.
    let mut c = Cluster::start("split-defended-ip", 3);
    c.node(0, &["--attack", "IGNORE_PREPARED", "--middleware"]);
    c.node(1, &["--middleware"]);
    c.node(2, &["--middleware"]);
    c.connected();
    for r in 0..ROUNDS {
        let s = split_round(&c, "1", "2", &[(0, format!("a{r}")), (1, format!("b{r}"))]);
        assert_eq!(s["agreement"], true, "round {r}: {s}");
        if ids(&s, "detected") == vec![0] {
            break;
        }
    }
    drop(c);
    // STALE_PREPARED: classic mode only detects it too late; BFT mode
    // prevents it (4 nodes, halves {1} and {2, 3}).
    let mut c = Cluster::start("split-defended-sp", 4);
    c.node(0, &["--attack", "STALE_PREPARED", "--bft", "--middleware"]);
    for id in 1..4 {
        c.node(id, &["--bft", "--middleware"]);
    }
    c.connected();
    for r in 0..ROUNDS {
        let s = split_round(
            &c,
            "1",
            "2,3",
            &[(1, format!("a{r}")), (2, format!("b{r}"))],
        );
        assert_eq!(s["agreement"], true, "round {r}: {s}");
    }
}

/// One `paxos kv` request as client `client`'s `seq`-th, asked again with
/// the same numbers until some node answers (the store applies it once).
fn kv_request(c: &ClusterView, client: u64, seq: u64, op: &paxos::kv::Op) -> paxos::kv::Reply {
    use paxos::kv::Op;
    let (cl, sq, key) = (client.to_string(), seq.to_string(), c.key.clone());
    let mut args = vec!["kv", "--coordinator", &c.addr, "--cluster-key", &key];
    args.extend(["--json", "--timeout", "5", "--client", &cl, "--seq", &sq]);
    let words: Vec<String> = match op {
        Op::Put { key, value } => vec!["put".into(), key.clone(), value.clone()],
        Op::Get { key } => vec!["get".into(), key.clone()],
        Op::Cas { key, from, to } => vec!["cas".into(), key.clone(), from.clone(), to.clone()],
        Op::Delete { key } => vec!["delete".into(), key.clone()],
    };
    args.extend(words.iter().map(String::as_str));
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(BIN)
            .args(&args)
            .output()
            .expect("paxos kv runs");
        if out.status.success() {
            let v: Json = serde_json::from_slice(&out.stdout).expect("kv --json is JSON");
            return serde_json::from_value(v["reply"].clone()).expect("a reply");
        }
        assert!(Instant::now() < give_up, "never answered: {}", stderr(&out));
    }
}

/// Client `client`'s 15 requests, recorded in `history`: reads, writes
/// and compare-and-sets on three keys.
fn kv_client(
    view: &ClusterView,
    client: u64,
    history: &std::sync::Mutex<paxos::kv::check::History>,
) {
    use paxos::kv::Op;
    for seq in 1..=15u64 {
        let key = format!("k{}", (client + seq) % 3);
        let op = match (client * 7 + seq * 3) % 4 {
            0 => Op::get(key),
            1 | 2 => Op::put(key, format!("{client}.{seq}")),
            _ => Op::Cas {
                key,
                from: format!("{}.{}", client % 4 + 1, seq - 1),
                to: format!("{client}.{seq}"),
            },
        };
        history.lock().unwrap().invoke(client, op.clone()).unwrap();
        let reply = kv_request(view, client, seq, &op);
        history.lock().unwrap().complete(client, reply).unwrap();
    }
}

/// Several `paxos kv` clients at once against three durable node
/// processes, the leader SIGKILLed and restarted from its data directory
/// mid-run: the history they recorded is linearizable (stateright's
/// checker), and reads after it all see every acknowledged write. The nodes
/// snapshot their stores every 5 positions, so while the leader is down the
/// others compact past it, and it catches up by installing their snapshot.
#[test]
fn kv_clients_across_processes_stay_linearizable_while_the_leader_is_killed_and_restarted() {
    use paxos::kv::check::{History, Verdict};
    use paxos::kv::Op;
    use std::sync::{Arc, Mutex};
    const SNAPSHOTS: [&str; 2] = ["--snapshot-every", "5"];
    let mut c = Cluster::start("kv", 3);
    for i in 0..3 {
        c.durable_node(i, &SNAPSHOTS);
    }
    c.connected();
    let c = Arc::new(Mutex::new(c));
    let history = Arc::new(Mutex::new(History::default()));
    let clients: Vec<_> = (1..=4u64)
        .map(|client| {
            let view = c.lock().unwrap().view();
            let history = history.clone();
            std::thread::spawn(move || kv_client(&view, client, &history))
        })
        .collect();
    // The leader dies after a few answers and comes back after more, while
    // the clients go on.
    let completed = |h: &Mutex<History>| {
        let h = h.lock().unwrap();
        h.calls().iter().filter(|call| call.reply.is_some()).count()
    };
    let wait_for = |n: usize| {
        let give_up = Instant::now() + Duration::from_secs(60);
        while completed(&history) < n && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(10);
    c.lock().unwrap().nodes[0]
        .as_mut()
        .expect("node 0 runs")
        .kill();
    wait_for(30);
    c.lock().unwrap().durable_node(0, &SNAPSHOTS);
    assert!(completed(&history) < 60, "the restart came after the run");
    for t in clients {
        t.join().expect("a client thread");
    }
    let view = c.lock().unwrap().view();
    for (i, key) in ["k0", "k1", "k2"].iter().enumerate() {
        let reader = 100 + i as u64;
        history
            .lock()
            .unwrap()
            .invoke(reader, Op::get(*key))
            .unwrap();
        let reply = kv_request(&view, reader, 1, &Op::get(*key));
        history.lock().unwrap().complete(reader, reply).unwrap();
    }
    let c = c.lock().unwrap();
    c.coordinator
        .wait_line("node 0: installed the snapshot below");
    let h = history.lock().unwrap();
    assert_eq!(h.calls().len(), 63);
    assert!(h.calls().iter().all(|call| call.reply.is_some()));
    match h.check() {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable { calls, .. } => {
            panic!("not linearizable:\n{}", paxos::kv::check::draw(&calls))
        }
    }
}

/// A store larger than a bridge frame (1 MiB): a node that was down while
/// its peers compacted it receives their snapshot in pieces and installs it.
#[test]
fn a_node_behind_a_snapshot_larger_than_a_frame_installs_it_in_pieces_across_processes() {
    use paxos::kv::Op;
    const SNAPSHOTS: [&str; 2] = ["--snapshot-every", "4"];
    let mut c = Cluster::start("kv-big", 3);
    for i in 0..3 {
        c.durable_node(i, &SNAPSHOTS);
    }
    c.connected();
    c.nodes[2].as_mut().expect("node 2 runs").kill();
    let view = c.view();
    let big = "x".repeat(60_000);
    for i in 0..24u64 {
        let op = Op::put(format!("k{i}"), format!("{i}{big}"));
        assert_eq!(kv_request(&view, 1, i + 1, &op), paxos::kv::Reply::ok(None));
    }
    c.durable_node(2, &SNAPSHOTS);
    let line = c
        .coordinator
        .wait_line("node 2: installed the snapshot below");
    let upto: u64 = (line.split("below ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a position: {line}"));
    assert!(upto >= 24, "{line}");
    // It goes on from there with the others.
    let op = Op::put("after", "1");
    assert_eq!(kv_request(&view, 1, 25, &op), paxos::kv::Reply::ok(None));
    let s = c.status_until(20, |s| {
        logs(s)
            .iter()
            .all(|l| l.iter().any(|v| v.contains("after")))
    });
    assert!(
        logs(&s)
            .iter()
            .all(|l| l.iter().any(|v| v.contains("after"))),
        "{s}"
    );
}

/// `GET path` from the web server at `addr`: the body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("the page's server at {addr} listens: {e}"));
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("an answer");
    reply
        .split_once("\r\n\r\n")
        .map_or(reply.clone(), |(_, b)| b.to_string())
}

#[test]
fn the_coordinators_live_page_shows_each_nodes_log_and_who_is_unreachable() {
    let mut c = Cluster::start_with("live", 3, &["--web", "127.0.0.1:0"]);
    let line = c.coordinator.wait_line("live view on ");
    let url = line.rsplit(' ').next().expect("a URL");
    let web = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(http_get(&web, "/").contains("<title>paxos live</title>"));
    for id in 0..3 {
        c.node(id, &[]);
    }
    c.connected();
    let out = c.propose(None, &["apple", "pear"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let live = |want: &dyn Fn(&Json) -> bool| -> Json {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v: Json = serde_json::from_str(&http_get(&web, "/api/live")).expect("JSON");
            if want(&v) || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let v = live(&|v| all_have(v, 3, &["apple", "pear"]));
    assert!(all_have(&v, 3, &["apple", "pear"]), "{v}");
    assert_eq!(v["agreement"], true);
    assert_eq!(v["coordinator"], c.addr.as_str());
    // A node killed shows as unreachable.
    c.nodes[2].as_mut().expect("node 2").kill();
    let v = live(&|v| ids(v, "unreachable") == vec![2]);
    assert_eq!(ids(&v, "unreachable"), vec![2], "{v}");
}

/// `paxos kv` says what is wrong instead of timing out with advice that
/// cannot help: with no node registered, and for a request older than its
/// client's latest (which the store never answers).
#[test]
fn kv_with_no_nodes_or_a_superseded_request_is_a_clear_error() {
    let mut c = Cluster::start("kv-errors", 3);
    let kv = |c: &Cluster, args: &[&str]| {
        let key = c.key();
        let mut all = vec!["kv", "--coordinator", &c.addr, "--cluster-key", &key];
        all.extend_from_slice(args);
        Command::new(BIN)
            .args(&all)
            .output()
            .expect("the paxos binary runs")
    };
    let out = kv(&c, &["--timeout", "2", "get", "a"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no node has registered"), "{err}");
    for i in 0..3 {
        c.node(i, &[]);
    }
    c.connected();
    let put = |seq: &str, value: &str| kv(&c, &["--client", "5", "--seq", seq, "put", "a", value]);
    let first = put("3", "1");
    assert!(first.status.success(), "{first:?}");
    let stale = put("2", "9");
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(!stale.status.success());
    assert!(
        err.contains("already made request 3") && err.contains("--seq 4"),
        "{err}"
    );
    let got = kv(&c, &["get", "a"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "1", "{got:?}");
}

/// A shutdown that cannot reach a member says so, naming it, instead of
/// reporting the cluster stopped.
#[test]
fn a_shutdown_names_the_member_that_did_not_hear_it() {
    let mut c = Cluster::start("shutdown-missed", 3);
    for i in 0..3 {
        c.node(i, &[]);
    }
    c.connected();
    c.nodes[2].as_mut().expect("node 2 runs").kill();
    let out = c.run(&["shutdown"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the coordinator stopped, but node 2 did not hear the shutdown"),
        "{err}"
    );
}
