//! The nemesis: a real cluster on real sockets, each node in its own
//! network namespace, under the faults a network and an operator inflict —
//! packet loss and partitions (nftables rules inside a node's namespace),
//! SIGKILL and restart of nodes and of the coordinator (from their data
//! directories), SIGSTOP/SIGCONT — while a client keeps proposing. Then
//! every fault is healed, and the checks: agreement, no acknowledged value
//! lost, identical logs, no honest node flagged, every value committed.
//!
//! Delay comes from a small proxy in front of each node (this kernel has no
//! netem): the node advertises the proxy's address (`--advertise`), so every
//! peer's packets to it pass through a queue that holds each chunk for the
//! current delay, in order.
//!
//! Needs root (CI runs as root) and nftables (`.ci/run` installs it); it
//! fails, never skips, without them. `PAXOS_NEMESIS_SECS` sets how long the
//! faults go on (default 60; a long run: 180).

mod common;
use common::{stderr, Proc, BIN, KEY};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const SUBNET: &str = "10.77.0";

fn secs() -> u64 {
    std::env::var("PAXOS_NEMESIS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Run a command, failing the test loudly if it fails.
fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| {
            panic!("{args:?} cannot run ({e}): the nemesis needs root, iproute2 and nftables")
        });
    assert!(
        out.status.success(),
        "{args:?} failed: {} (the nemesis needs root, iproute2 and nftables)",
        stderr(&out)
    );
    out
}

/// The namespaces of one run: a hub with a bridge and the coordinator, and
/// one per node, wired to the hub by a veth pair. Removed on drop.
struct Net {
    hub: String,
    nodes: Vec<String>,
}

impl Net {
    fn new(tag: &str) -> Net {
        let base = format!("px{}{tag}", std::process::id() % 100_000);
        let net = Net {
            hub: format!("{base}h"),
            nodes: (0..NODES).map(|i| format!("{base}n{i}")).collect(),
        };
        let hub = net.hub.as_str();
        sh(&["ip", "netns", "add", hub]);
        sh(&["ip", "-n", hub, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", hub, "link", "add", "br0", "type", "bridge"]);
        sh(&[
            "ip",
            "-n",
            hub,
            "addr",
            "add",
            &format!("{SUBNET}.1/24"),
            "dev",
            "br0",
        ]);
        sh(&["ip", "-n", hub, "link", "set", "br0", "up"]);
        for (i, ns) in net.nodes.iter().enumerate() {
            let (h, ip) = (format!("h{i}"), format!("{}/24", net.ip(i)));
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip", "-n", hub, "link", "add", &h, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            sh(&["ip", "-n", hub, "link", "set", &h, "master", "br0", "up"]);
            sh(&["ip", "-n", ns, "addr", "add", &ip, "dev", "eth0"]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            net.nft(i, "add table inet nemesis");
            net.nft(i, "add chain inet nemesis input { type filter hook input priority 0 ; policy accept ; }");
        }
        net
    }

    fn ip(&self, node: usize) -> String {
        format!("{SUBNET}.{}", 10 + node)
    }

    fn nft(&self, node: usize, rule: &str) {
        let mut args = vec!["ip", "netns", "exec", &self.nodes[node], "nft"];
        args.extend(rule.split(' '));
        sh(&args);
    }

    /// Drop a share of every packet node `node` receives.
    fn loss(&self, node: usize, percent: u32) {
        self.nft(
            node,
            &format!("add rule inet nemesis input numgen random mod 100 < {percent} drop"),
        );
    }

    /// Node `node` hears nobody (peers or coordinator), and nobody hears it.
    fn isolate(&self, node: usize) {
        self.nft(
            node,
            &format!("add rule inet nemesis input ip saddr {SUBNET}.0/24 drop"),
        );
    }

    fn heal(&self) {
        for i in 0..NODES {
            self.nft(i, "flush chain inet nemesis input");
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.hub]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A TCP proxy inside a network namespace that delays every byte it
/// forwards by the current delay in milliseconds (0: none), keeping order.
struct DelayProxy {
    delay: Arc<AtomicU64>,
}

impl DelayProxy {
    /// Listen on `listen` inside namespace `ns`, forwarding to `target`.
    fn start(ns: &str, listen: &str, target: &str) -> DelayProxy {
        let delay = Arc::new(AtomicU64::new(0));
        let (ns, listen, target) = (ns.to_string(), listen.to_string(), target.to_string());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let d = delay.clone();
        std::thread::spawn(move || {
            enter(&ns);
            let listener = TcpListener::bind(&listen).expect("the proxy binds");
            let _ = ready_tx.send(());
            for client in listener.incoming().flatten() {
                // Threads started here inherit this thread's namespace.
                let (d, target) = (d.clone(), target.clone());
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(&target) {
                        pipe(&client, &server, d.clone());
                        pipe(&server, &client, d);
                    }
                });
            }
        });
        ready.recv().expect("the proxy started");
        DelayProxy { delay }
    }

    fn set(&self, ms: u64) {
        self.delay.store(ms, Ordering::SeqCst);
    }
}

/// Move this thread into network namespace `ns` (made by `ip netns add`).
fn enter(ns: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("the namespace exists");
    // SAFETY: setns on a valid namespace fd changes only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns into {ns}: {}",
        std::io::Error::last_os_error()
    );
}

/// Copy `from` to `to`, each chunk held back by the delay at its arrival.
fn pipe(from: &TcpStream, to: &TcpStream, delay: Arc<AtomicU64>) {
    let (mut from, mut to) = (
        from.try_clone().expect("clones"),
        to.try_clone().expect("clones"),
    );
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The cluster in its namespaces. Field order matters: processes stop
/// before the namespaces go.
struct Lab {
    coordinator: Option<Proc>,
    nodes: Vec<Option<Proc>>,
    net: Net,
    dir: PathBuf,
    flags: Vec<&'static str>,
    /// The delaying proxy in front of each node.
    proxies: Vec<DelayProxy>,
    /// Processes started so far (each restart gets its own log file).
    starts: usize,
}

impl Lab {
    fn start(tag: &str, flags: Vec<&'static str>) -> Lab {
        let dir = std::env::temp_dir().join(format!("paxos-nemesis-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let mut lab = Lab {
            coordinator: None,
            nodes: (0..NODES).map(|_| None).collect(),
            net: Net::new(tag),
            dir,
            flags,
            proxies: Vec::new(),
            starts: 0,
        };
        for i in 0..NODES {
            let (ns, ip) = (lab.net.nodes[i].clone(), lab.net.ip(i));
            let proxy = DelayProxy::start(&ns, &format!("{ip}:7200"), &format!("{ip}:7100"));
            lab.proxies.push(proxy);
        }
        lab.start_coordinator();
        for i in 0..NODES {
            lab.start_node(i);
        }
        lab
    }

    fn addr(&self) -> String {
        format!("{SUBNET}.1:7000")
    }

    fn start_coordinator(&mut self) {
        let data = self.dir.join("coordinator").display().to_string();
        let (addr, n) = (self.addr(), NODES.to_string());
        let args = [
            "coordinator",
            "--listen",
            &addr,
            "--nodes",
            &n,
            "--quiet",
            "--data-dir",
            &data,
        ];
        self.starts += 1;
        let name = format!("coordinator-{}", self.starts);
        let p = Proc::spawn_in(Some(&self.net.hub), &name, &self.dir, &args);
        p.wait_line("coordinator listening on ");
        self.coordinator = Some(p);
    }

    fn start_node(&mut self, i: usize) {
        let data = self.dir.join(format!("node{i}")).display().to_string();
        let (listen, id, addr) = (
            format!("{}:7100", self.net.ip(i)),
            i.to_string(),
            self.addr(),
        );
        let mut args = vec![
            "node",
            "--listen",
            &listen,
            "--coordinator",
            &addr,
            "--id",
            &id,
        ];
        let advertise = format!("{}:7200", self.net.ip(i));
        args.extend(["--data-dir", &data, "--connect-timeout", "30"]);
        args.extend(["--advertise", &advertise]);
        args.extend(self.flags.iter().copied());
        self.starts += 1;
        let name = format!("node{i}-{}", self.starts);
        let p = Proc::spawn_in(Some(&self.net.nodes[i]), &name, &self.dir, &args);
        self.nodes[i] = Some(p);
    }

    /// A client command, run in the hub.
    fn client(&self, args: &[&str]) -> Output {
        let key = self.dir.join(KEY).display().to_string();
        Command::new("ip")
            .args(["netns", "exec", &self.net.hub, BIN])
            .args(args)
            .args(["--coordinator", &self.addr(), "--cluster-key", &key])
            .output()
            .expect("the client runs")
    }

    fn status(&self) -> Option<Json> {
        let out = self.client(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("JSON"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in self
            .nodes
            .iter_mut()
            .flatten()
            .chain(self.coordinator.as_mut())
        {
            p.kill();
        }
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The client: proposes batches of fresh values, retrying a batch until
/// it is acknowledged, until told to stop. Returns every value it proposed
/// and the ones acknowledged.
fn workload(lab: Arc<Mutex<Lab>>, stop: Arc<AtomicBool>) -> (Vec<String>, Vec<String>) {
    let (mut proposed, mut acked) = (Vec::new(), Vec::new());
    let key = lab.lock().expect("lab").dir.join(KEY).display().to_string();
    let (hub, addr) = {
        let l = lab.lock().expect("lab");
        (l.net.hub.clone(), l.addr())
    };
    let mut batch = 0;
    while !stop.load(Ordering::SeqCst) {
        let values: Vec<String> = (0..4).map(|i| format!("w{batch}-{i}")).collect();
        proposed.extend(values.iter().cloned());
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &hub, BIN, "propose", "--timeout", "3"])
                .args(["--coordinator", &addr, "--cluster-key", &key])
                .args(&values)
                .output()
                .expect("propose runs");
            if out.status.success() {
                acked.extend(values.iter().cloned());
                break;
            }
            if stop.load(Ordering::SeqCst) {
                break; // healed and checked below, acknowledged or not
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        batch += 1;
    }
    (proposed, acked)
}

/// A deterministic schedule of faults from a seed.
struct Schedule(u64);

impl Schedule {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Inflict one fault for a few seconds, then heal it.
fn fault(lab: &Arc<Mutex<Lab>>, s: &mut Schedule, log: &mut Vec<String>) {
    let node = s.next(NODES as u64) as usize;
    let kind = s.next(6);
    let hold = Duration::from_millis(1_500 + 500 * s.next(4));
    let what = {
        let mut l = lab.lock().expect("lab");
        match kind {
            0 => {
                for i in 0..NODES {
                    l.net.loss(i, 5);
                }
                "5% loss everywhere".to_string()
            }
            1 => {
                l.net.isolate(node);
                format!("node {node} partitioned away")
            }
            2 => {
                if let Some(p) = l.nodes[node].as_mut() {
                    p.kill();
                }
                format!("node {node} killed")
            }
            3 => {
                if let Some(p) = l.nodes[node].as_ref() {
                    p.signal("-STOP");
                }
                format!("node {node} stopped")
            }
            4 => {
                for p in &l.proxies {
                    p.set(20);
                }
                "20 ms delay on every link".to_string()
            }
            _ => {
                if let Some(p) = l.coordinator.as_mut() {
                    p.kill();
                }
                "coordinator killed".to_string()
            }
        }
    };
    log.push(what);
    std::thread::sleep(hold);
    let mut l = lab.lock().expect("lab");
    l.net.heal();
    match kind {
        2 => l.start_node(node),
        3 => {
            if let Some(p) = l.nodes[node].as_ref() {
                p.signal("-CONT");
            }
        }
        4 => l.proxies.iter().for_each(|p| p.set(0)),
        5 => l.start_coordinator(),
        _ => {}
    }
}

fn logs(s: &Json) -> BTreeMap<String, Vec<String>> {
    s["logs"]
        .as_object()
        .expect("logs")
        .iter()
        .map(|(k, l)| {
            let l = l.as_array().expect("a log").iter();
            (
                k.clone(),
                l.flat_map(|v| match v.as_array() {
                    // A batch a busy leader folded into one position.
                    Some(batch) => batch
                        .iter()
                        .map(|v| v.as_str().expect("a value").to_string())
                        .collect::<Vec<_>>(),
                    None => vec![v.as_str().expect("a value").to_string()],
                })
                .collect(),
            )
        })
        .collect()
}

fn nemesis(tag: &str, flags: Vec<&'static str>, seed: u64) {
    let lab = Arc::new(Mutex::new(Lab::start(tag, flags)));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (lab, stop) = (lab.clone(), stop.clone());
        std::thread::spawn(move || workload(lab, stop))
    };
    let mut schedule = Schedule(seed);
    let mut done = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs());
    while Instant::now() < end {
        fault(&lab, &mut schedule, &mut done);
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::SeqCst);
    let (proposed, acked) = client.join().expect("the client thread");
    eprintln!(
        "{tag}: faults {done:?}; {} values proposed, {} acknowledged",
        proposed.len(),
        acked.len()
    );

    // Healed: everything proposed commits everywhere.
    let l = lab.lock().expect("lab");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(s) = l.status() {
            let logs = logs(&s);
            let first = logs.values().next();
            let all = logs.len() == NODES
                && logs.values().all(|log| Some(log) == first)
                && logs
                    .values()
                    .all(|log| proposed.iter().all(|v| log.contains(v)));
            last = Some(s);
            if all {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let s = last.expect("status answered after healing");
    let logs = logs(&s);
    assert_eq!(s["agreement"], true, "{tag}: agreement broken: {s}");
    assert_eq!(logs.len(), NODES, "{tag}: not every node answered: {s}");
    let first = logs.values().next().expect("a log");
    assert!(logs.values().all(|l| l == first), "{tag}: logs differ: {s}");
    for v in &acked {
        assert!(first.contains(v), "{tag}: acknowledged value {v} lost");
    }
    let missing: Vec<&String> = proposed.iter().filter(|v| !first.contains(v)).collect();
    assert!(
        missing.is_empty(),
        "{tag}: never committed after healing: {missing:?}"
    );
    assert!(
        s["flagged"].as_object().is_some_and(|f| f.is_empty()),
        "{tag}: honest nodes flagged: {s}"
    );
    let mut count = BTreeMap::new();
    for v in first {
        *count.entry(v).or_insert(0) += 1;
    }
    let twice = count.values().filter(|c| **c > 1).count();
    eprintln!(
        "{tag}: {} positions, {} values, {twice} committed more than once",
        first.len(),
        count.len()
    );
    drop(l);
}

#[test]
fn the_cluster_survives_the_nemesis_without_the_middleware() {
    nemesis("off", vec![], 1);
}

#[test]
fn the_cluster_survives_the_nemesis_with_the_middleware() {
    nemesis("on", vec!["--middleware"], 2);
}
