//! `paxos bench`: how fast the cluster commits, like redis-benchmark.
//!
//! [`run`] starts an in-process cluster (the demo's actors: a `NodeActor` and
//! a `Middleware` per node, on a perfect network: a [`Switchboard`], where
//! each middleware hands a packet straight to its receivers' mailboxes, as
//! the demo's lossy `Network` actor would with one hop more) and a
//! closed-loop client in place of the coordinator. The client asks node 0 to
//! propagate values and keeps `window × batch + batch` of them outstanding,
//! so the leader's window is always full and a full batch is always queued;
//! it learns each commit from the leader's `DebugInfo` stream, as the
//! coordinator does. Node 0 is the only proposer, so after one phase 1 it is
//! a stable leader and every position costs one Propose → Accept → Commit
//! fan-out.
//!
//! It measures positions committed at the leader (rounds), client values in
//! them, and each value's commit latency from the client's request to the
//! leader's commit. `--window 1 --batch 1` is one position at a time.
//!
//! With `--transport tcp` the same client drives a coordinator and nodes on
//! the TCP bridge over loopback ([`run_tcp`]).

use crate::actors::{spawn_node, DebugInfo, NodeCommand, PeerRecord, Switchboard, Wiring};
use crate::cluster::{ClusterSpec, Defences, Mode, Signing, Tunables};
use crate::core::{BatchBuilder, Event, NodeId, Value};

pub mod hop;
pub mod kv;
mod latency;
pub mod memory;
use actix::prelude::*;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How the nodes talk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Actors in one process, on a perfect network (a `Switchboard`).
    Inproc,
    /// The TCP bridge on loopback, every node in this process.
    Tcp,
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "inproc" => Ok(Transport::Inproc),
            "tcp" => Ok(Transport::Tcp),
            _ => Err(format!("unknown transport '{s}' (expected inproc or tcp)")),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Inproc => "inproc",
            Transport::Tcp => "tcp",
        })
    }
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// After this long.
    Time(Duration),
    /// Once this many client values are committed (what criterion uses).
    Values(u64),
}

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    pub nodes: usize,
    pub limit: Limit,
    /// Positions in flight at once.
    pub window: usize,
    /// Client values per position.
    pub batch: usize,
    /// Run the middleware's defences (needs `auth`).
    pub middleware: bool,
    /// Sign and verify every packet.
    pub auth: bool,
    pub transport: Transport,
    pub seed: u64,
    /// Threads (actix arbiters) the nodes are spread over; 1 runs the
    /// whole cluster on the caller's thread.
    pub threads: usize,
    /// BFT mode (`--bft`): 2f+1 quorums, every vote a message, and with the
    /// middleware the proofs and justifications.
    pub bft: bool,
    /// Durable nodes: each persists to a fresh directory under this one
    /// (removed afterwards), every write fsync'd before what depends on it
    /// is sent.
    pub data_dir: Option<std::path::PathBuf>,
    /// Stop a timed run early once the process holds this many MiB
    /// (`None`: half of what the machine had available; see [`memory`]).
    pub memory_mib: Option<u64>,
}

impl Default for BenchConfig {
    /// The fast path: pipelined and batched, signatures off.
    fn default() -> Self {
        BenchConfig {
            nodes: 3,
            limit: Limit::Time(Duration::from_secs(3)),
            window: 16,
            batch: 64,
            middleware: false,
            auth: false,
            transport: Transport::Inproc,
            seed: 42,
            threads: 1,
            bft: false,
            data_dir: None,
            memory_mib: None,
        }
    }
}

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("--window, --batch and --threads must be at least 1")]
    Zero,
    #[error("--seconds must be a positive number of seconds")]
    BadDuration,
    #[error("the nodes did not all register over TCP: {0}")]
    Tcp(String),
    #[error("the bench client stopped before the end of the run")]
    ClientGone,
    #[error("cannot use the data directory: {0}")]
    Disk(String),
    #[error("{0} is for the values workload: the key-value bench runs honest, unsigned nodes in one process")]
    NotForKv(&'static str),
}

impl BenchError {
    /// The request itself was wrong (not the run): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            BenchError::Cluster(_)
                | BenchError::Zero
                | BenchError::BadDuration
                | BenchError::Disk(_)
                | BenchError::NotForKv(_)
        )
    }
}

/// What a run measured (`paxos bench --json` prints exactly this).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// Positions committed at the leader per second.
    pub rounds_per_sec: f64,
    /// Client values committed at the leader per second.
    pub values_per_sec: f64,
    /// Median and 99th percentile of a value's commit latency, in µs.
    pub p50_us: f64,
    pub p99_us: f64,
    pub rounds: u64,
    pub values: u64,
    pub elapsed_s: f64,
    pub nodes: usize,
    pub window: usize,
    pub batch: usize,
    pub middleware: bool,
    pub auth: bool,
    pub transport: Transport,
    pub threads: usize,
    pub bft: bool,
    /// Ed25519 checks made per committed position, per node (signatures
    /// answered from a keyring's cache are not checks).
    pub verifies_per_position: f64,
    /// Checks per position per node a keyring's cache answered instead.
    pub spared_per_position: f64,
    /// Signatures made per committed position, all nodes together: each is
    /// a distinct signature, so this is how many distinct signatures a
    /// position's messages carry (what a node could at best check once each).
    pub signatures_per_position: f64,
    /// The share of those checks made in batches (on a verifier thread,
    /// from packets that queued together), and their mean batch size.
    pub batched_share: f64,
    pub mean_batch: f64,
    /// This machine's ed25519 sign and verify time, measured in the same
    /// run, in µs: the limit the signed figures read against.
    pub sign_us: f64,
    pub verify_us: f64,
    /// 1 / (positions/s × verify time): how many verify-times of one core
    /// each committed position cost. The machine's speed cancels out.
    pub verify_times_per_position: f64,
    /// With `--data-dir`: fsyncs per committed position per node, and this
    /// disk's rate of one-at-a-time fdatasyncs of a small append, measured
    /// in the same run (0 otherwise).
    pub syncs_per_position: f64,
    /// Steps per committed position per node that wrote something: each
    /// would cost an fsync without group commit.
    pub writing_steps_per_position: f64,
    pub fsyncs_per_sec: f64,
    /// With `--transport tcp`: loopback TCP round trips per second, one at
    /// a time, measured in the same run (0 otherwise): a position over the
    /// bridge needs at least one.
    pub loopback_round_trips_per_sec: f64,
    /// Positions per second as a fraction of that limit.
    pub of_loopback: f64,
    /// In process: one actix mailbox delivery on this machine, in ns,
    /// measured in the same run ([`hop`]), and 1 / (positions/s × that):
    /// how many deliveries' time each committed position cost (0 over TCP).
    pub hop_ns: f64,
    pub hop_times_per_position: f64,
    /// The run stopped before its time because the process passed its
    /// memory budget ([`memory`]); the rates are over the time it ran.
    pub stopped_for_memory: bool,
    /// The budget, in MiB (0 where none applied).
    pub memory_budget_mib: u64,
}

/// This machine's loopback TCP round trips per second, one 64-byte ping
/// and its echo at a time: the limit a position over the bridge reads
/// against. The best of five rallies of 2,000 after one to warm up, as a
/// limit is what the machine can do when nothing else takes its time: a
/// single rally read anywhere from 150k to 250k a second on one quiet host.
pub async fn loopback_round_trips() -> Result<f64, BenchError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const ROUNDS: u32 = 2000;
    const RALLIES: usize = 5;
    let io = |e: std::io::Error| BenchError::Tcp(format!("loopback baseline: {e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let echo = actix_rt::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let _ = s.set_nodelay(true);
        let mut b = [0u8; 64];
        while let Ok(n) = s.read(&mut b).await {
            if n == 0 || s.write_all(&b[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut c = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    c.set_nodelay(true).map_err(io)?;
    let (ping, mut pong) = ([1u8; 64], [0u8; 64]);
    let mut best: f64 = 0.0;
    for rally in 0..=RALLIES {
        let start = Instant::now();
        for _ in 0..ROUNDS {
            c.write_all(&ping).await.map_err(io)?;
            c.read_exact(&mut pong).await.map_err(io)?;
        }
        let rate = f64::from(ROUNDS) / start.elapsed().as_secs_f64().max(1e-9);
        if rally > 0 {
            best = best.max(rate);
        }
    }
    echo.abort();
    Ok(best)
}

/// This machine's ed25519 sign and verify time in µs, over a message the
/// size of a small batch: the baseline the signed figures are read against.
pub fn ed25519_baseline() -> (f64, f64) {
    use ed25519_dalek::{Signer, SigningKey};
    const ROUNDS: u32 = 2000;
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = ed25519_zebra::VerificationKey::try_from(key.verifying_key().to_bytes())
        .expect("a key made by ed25519-dalek is a valid point");
    let msg = vec![0x5a_u8; 512];
    let start = Instant::now();
    let mut sig = key.sign(&msg);
    for _ in 1..ROUNDS {
        sig = key.sign(std::hint::black_box(&msg));
    }
    let sign = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let ok = public.verify(&sig, std::hint::black_box(&msg)).is_ok();
        std::hint::black_box(ok);
    }
    let verify = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    (sign, verify)
}

/// Remove what this process's durable benches made under `under`: for a run
/// that was stopped before its [`Disk`] could clean up after itself.
pub fn remove_leftovers(under: &std::path::Path) {
    let mine = format!("paxos-bench-{}-", std::process::id());
    for entry in std::fs::read_dir(under).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&mine) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh directory for one durable bench, under the user's `--data-dir`
/// (on the disk they want measured), removed when the run ends.
struct Disk {
    root: std::path::PathBuf,
}

impl Disk {
    fn create(under: &std::path::Path) -> Result<Disk, BenchError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        if !under.is_dir() {
            return Err(not_a_directory(under));
        }
        let root = under.join(format!("paxos-bench-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&root)
            .map_err(|e| BenchError::Disk(format!("{}: {e}", root.display())))?;
        Ok(Disk { root })
    }

    fn node(&self, id: NodeId) -> std::path::PathBuf {
        self.root.join(format!("node-{id}"))
    }

    /// A fresh store for each of `n` in-process nodes.
    fn stores(&self, n: usize) -> Result<Vec<Option<Box<dyn crate::actors::Persist>>>, BenchError> {
        (0..n as NodeId)
            .map(|id| {
                let (store, _) = crate::storage::Store::open(&self.node(id))
                    .map_err(|e| BenchError::Disk(e.to_string()))?;
                Ok(Some(Box::new(store) as Box<dyn crate::actors::Persist>))
            })
            .collect()
    }

    /// One-at-a-time fdatasyncs of a 64-byte append for about half a
    /// second: the most sequential syncs per second this disk gives.
    fn fsyncs_per_sec(&self) -> Result<f64, BenchError> {
        use std::io::Write;
        let path = self.root.join("fsync-baseline");
        let disk = |e: std::io::Error| BenchError::Disk(format!("{}: {e}", path.display()));
        let mut f = std::fs::File::create(&path).map_err(disk)?;
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(500) || n < 10 {
            f.write_all(&[7u8; 64]).map_err(disk)?;
            f.sync_data().map_err(disk)?;
            n += 1;
        }
        let rate = f64::from(n) / start.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&path);
        Ok(rate)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl BenchReport {
    /// Fill in the durable figures: `syncs` log fsyncs while it measured.
    fn with_syncs(mut self, (syncs, steps): (u64, u64), fsyncs_per_sec: f64) -> Self {
        let per = self.rounds.max(1) as f64 * self.nodes.max(1) as f64;
        self.syncs_per_position = syncs as f64 / per;
        self.writing_steps_per_position = steps as f64 / per;
        self.fsyncs_per_sec = fsyncs_per_sec;
        self
    }

    /// Why the run ended before its time, if it did.
    fn stop_line(&self) -> String {
        match self.stopped_for_memory {
            true => format!(
                "stopped early: the process passed its memory budget of {} MiB \
                 (the nodes keep their logs in memory; --max-memory sets it)\n",
                self.memory_budget_mib
            ),
            false => String::new(),
        }
    }

    /// The signature figures beside their limit, when signatures ran.
    fn signature_lines(&self) -> String {
        let mut out = String::new();
        if self.fsyncs_per_sec > 0.0 {
            out += &format!(
                "{:>14.2} fsyncs per position per node, for {:.2} steps that wrote (group commit); \
                 this disk: {:.0} fsyncs/s one at a time\n",
                self.syncs_per_position, self.writing_steps_per_position, self.fsyncs_per_sec
            );
        }
        if self.loopback_round_trips_per_sec > 0.0 {
            out += &format!(
                "{:>14.0} loopback TCP round trips/s here, one at a time: positions/s is {:.2} of it\n",
                self.loopback_round_trips_per_sec, self.of_loopback
            );
        }
        if self.hop_ns > 0.0 {
            out += &format!(
                "{:>14.1} hop-times per position  (an actix mailbox delivery here: {:.0} ns)\n",
                self.hop_times_per_position, self.hop_ns
            );
        }
        if self.verify_us == 0.0 {
            return out;
        }
        out + &format!(
            "{:>14.1} ed25519 checks per position per node (and {:.1} answered by the cache), \
             of {:.1} distinct signatures a position's messages carry; \
             {:.0}% of the checks in batches of {:.1} on average\n\
             {:>14.1} verify-times per position  (ed25519 here: sign {:.1} µs, verify {:.1} µs)\n",
            self.verifies_per_position,
            self.spared_per_position,
            self.signatures_per_position,
            self.batched_share * 100.0,
            self.mean_batch,
            self.verify_times_per_position,
            self.sign_us,
            self.verify_us
        )
    }

    /// Fill in the signature figures: `checks` curve checks were made
    /// while it measured.
    fn with_signatures(mut self, c: crate::auth::Counts) -> Self {
        let (sign, verify) = ed25519_baseline();
        let per = self.rounds.max(1) as f64 * self.nodes.max(1) as f64;
        self.verifies_per_position = c.verifies as f64 / per;
        self.spared_per_position = c.spared as f64 / per;
        self.signatures_per_position = c.signs as f64 / self.rounds.max(1) as f64;
        self.batched_share = c.batched as f64 / c.verifies.max(1) as f64;
        self.mean_batch = c.batched as f64 / c.batches.max(1) as f64;
        self.sign_us = sign;
        self.verify_us = verify;
        self.verify_times_per_position = 1.0 / (self.rounds_per_sec.max(1e-9) * verify * 1e-6);
        self
    }

    /// The human-readable account.
    pub fn render(&self) -> String {
        format!(
            "paxos bench: {}, window {}, batch {}, middleware {}, auth {}, transport {}, \
             threads {}\n\
             {:>14.0} rounds/s   (positions committed)\n\
             {:>14.0} values/s   (client values committed)\n\
             {:>14.1} µs p50 commit latency\n\
             {:>14.1} µs p99 commit latency\n\
             {} rounds, {} values in {:.3} s\n{}{}",
            crate::verdict::count(self.nodes, "node"),
            self.window,
            self.batch,
            on_off(self.middleware),
            on_off(self.auth),
            self.transport,
            self.threads,
            self.rounds_per_sec,
            self.values_per_sec,
            self.p50_us,
            self.p99_us,
            self.rounds,
            self.values,
            self.elapsed_s,
            self.stop_line(),
            self.signature_lines(),
        )
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// When each value still waiting was sent. Values are numbered in the order
/// they are sent, so this is a ring from the oldest still waiting on: no
/// hashing per value, which at a few hundred thousand values a second is
/// the client's cost, not the cluster's.
#[derive(Default)]
struct Pending {
    /// The number of `at[0]`.
    first: u64,
    at: std::collections::VecDeque<Option<Instant>>,
}

impl Pending {
    /// Value `seq` (the next number) is sent at `now`.
    fn push(&mut self, seq: u64, now: Instant) {
        if self.at.is_empty() {
            self.first = seq;
        }
        debug_assert_eq!(seq, self.first + self.at.len() as u64, "sent in order");
        self.at.push_back(Some(now));
    }

    /// Value `seq` committed: when it was sent, if it was waiting.
    fn take(&mut self, seq: u64) -> Option<Instant> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let at = self.at.get_mut(i)?.take();
        while self.at.front().is_some_and(Option::is_none) {
            self.at.pop_front();
            self.first += 1;
        }
        at
    }
}

/// Value `seq`'s text, `b` and its number, written without `format!` into
/// `out` (cleared first): the client makes one per value on the leader's
/// thread, where a `format!` apiece cost the cluster a few percent of its
/// throughput at batch 256.
fn tag_into(seq: u64, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    out.clear();
    out.push('b');
    out.push_str(digits.format(seq));
}

/// Value `seq`'s text as its own string, of just its length.
fn tag(seq: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seq);
    let mut s = String::with_capacity(1 + digits.len());
    s.push('b');
    s.push_str(digits);
    s
}

/// The closed-loop client: keeps the leader busy and times every value.
struct Client {
    leader: NodeId,
    /// Asks the leader to propagate a batch (directly, or via the coordinator).
    to_leader: Box<dyn Fn(Value)>,
    /// Sending starts once armed (over TCP: once every node registered).
    armed: bool,
    batch: usize,
    /// Values kept outstanding.
    target: usize,
    outstanding: usize,
    next: u64,
    sent_at: Pending,
    latencies_us: latency::Latencies,
    rounds: u64,
    values: u64,
    limit_values: Option<u64>,
    start: Instant,
    end: Option<Instant>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Client {
    /// A client for `cfg` that asks the leader (node 0) through `to_leader`,
    /// unarmed, and fires `done` when a value limit is reached.
    fn new(
        cfg: &BenchConfig,
        to_leader: Box<dyn Fn(Value)>,
        done: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        Client {
            leader: 0,
            to_leader,
            armed: false,
            batch: cfg.batch,
            // The leader's window always full, and a full batch queued.
            target: cfg.window * cfg.batch + cfg.batch,
            outstanding: 0,
            next: 0,
            sent_at: Pending::default(),
            latencies_us: Default::default(),
            rounds: 0,
            values: 0,
            limit_values: match cfg.limit {
                Limit::Values(k) => Some(k),
                Limit::Time(_) => None,
            },
            start: Instant::now(),
            end: None,
            done: Some(done),
        }
    }

    fn top_up(&mut self) {
        if self.end.is_some() || !self.armed {
            return;
        }
        let now = Instant::now();
        while self.outstanding < self.target {
            let k = self.batch.min(self.target - self.outstanding);
            let value = match k {
                1 => Value::one(tag(self.next)),
                _ => {
                    // Packed as the batch keeps them: no string per value.
                    let mut vs = BatchBuilder::with_capacity(k, k * 8);
                    let mut text = String::with_capacity(21);
                    for seq in self.next..self.next + k as u64 {
                        tag_into(seq, &mut text);
                        vs.push(&text);
                    }
                    vs.build()
                }
            };
            for _ in 0..k {
                self.sent_at.push(self.next, now);
                self.next += 1;
            }
            self.outstanding += k;
            // One request may carry several values; the leader re-batches
            // its queue by `Config::batch` anyway.
            (self.to_leader)(value);
        }
    }

    fn finish(&mut self) {
        if self.end.is_none() {
            self.end = Some(Instant::now());
        }
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

impl Actor for Client {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.start = Instant::now();
        self.top_up();
    }
}

impl Handler<DebugInfo> for Client {
    type Result = ();
    fn handle(&mut self, info: DebugInfo, _: &mut Context<Self>) {
        if info.node != self.leader || self.end.is_some() {
            return;
        }
        let Event::Committed { value, .. } = info.event else {
            return;
        };
        let now = Instant::now();
        self.rounds += 1;
        for v in value.items() {
            let seq = v.strip_prefix('b').and_then(|s| s.parse::<u64>().ok());
            if let Some(at) = seq.and_then(|s| self.sent_at.take(s)) {
                let us = now.duration_since(at).as_micros();
                self.latencies_us.record(us.min(u32::MAX as u128) as u32);
                self.values += 1;
                self.outstanding -= 1;
            }
        }
        if self.limit_values.is_some_and(|k| self.values >= k) {
            self.finish();
        } else {
            self.top_up();
        }
    }
}

/// Start sending (and the clock).
#[derive(Message)]
#[rtype(result = "()")]
struct Arm;

impl Handler<Arm> for Client {
    type Result = ();
    fn handle(&mut self, _: Arm, _: &mut Context<Self>) {
        self.armed = true;
        self.start = Instant::now();
        self.top_up();
    }
}

/// Stop now and report.
#[derive(Message)]
#[rtype(result = "BenchReport")]
struct Finish(BenchConfig);

impl Handler<Finish> for Client {
    type Result = MessageResult<Finish>;
    fn handle(&mut self, Finish(cfg): Finish, _: &mut Context<Self>) -> Self::Result {
        self.finish();
        let elapsed = self
            .end
            .unwrap_or_else(Instant::now)
            .duration_since(self.start)
            .as_secs_f64()
            .max(1e-9);
        let l = &self.latencies_us;
        MessageResult(BenchReport {
            rounds_per_sec: self.rounds as f64 / elapsed,
            values_per_sec: self.values as f64 / elapsed,
            p50_us: l.quantile(0.50),
            p99_us: l.quantile(0.99),
            rounds: self.rounds,
            values: self.values,
            elapsed_s: elapsed,
            nodes: cfg.nodes,
            window: cfg.window,
            batch: cfg.batch,
            middleware: cfg.middleware,
            auth: cfg.auth,
            transport: cfg.transport,
            threads: cfg.threads,
            bft: cfg.bft,
            verifies_per_position: 0.0,
            spared_per_position: 0.0,
            signatures_per_position: 0.0,
            sign_us: 0.0,
            verify_us: 0.0,
            batched_share: 0.0,
            mean_batch: 0.0,
            verify_times_per_position: 0.0,
            syncs_per_position: 0.0,
            writing_steps_per_position: 0.0,
            fsyncs_per_sec: 0.0,
            loopback_round_trips_per_sec: 0.0,
            of_loopback: 0.0,
            hop_ns: 0.0,
            hop_times_per_position: 0.0,
            stopped_for_memory: false,
            memory_budget_mib: 0,
        })
    }
}

impl BenchConfig {
    /// The cluster this measures: honest nodes, signing exactly as `auth`
    /// says.
    pub fn spec(&self) -> ClusterSpec {
        ClusterSpec {
            nodes: self.nodes,
            mode: Mode::from_flags(self.bft, None),
            attack: None,
            defences: Defences::all_if(self.middleware),
            signing: match self.auth {
                true => Signing::Always,
                false => Signing::Never,
            },
            seed: self.seed,
            scheme: crate::auth::Scheme::Ed25519,
            tunables: Tunables {
                window: self.window,
                batch: self.batch,
                ..Tunables::default()
            },
        }
    }
}

/// Check a configuration without running it.
pub fn validate(cfg: &BenchConfig) -> Result<(), BenchError> {
    if cfg.window == 0 || cfg.batch == 0 || cfg.threads == 0 {
        return Err(BenchError::Zero);
    }
    match cfg.limit {
        Limit::Time(d) if d.is_zero() => return Err(BenchError::BadDuration),
        Limit::Values(0) => return Err(BenchError::Zero),
        _ => {}
    }
    cfg.spec().validate()?;
    if let Some(dir) = cfg.data_dir.as_deref().filter(|d| !d.is_dir()) {
        return Err(not_a_directory(dir));
    }
    Ok(())
}

fn not_a_directory(dir: &std::path::Path) -> BenchError {
    BenchError::Disk(format!(
        "{} is not a directory: the bench writes under an existing one, on the disk to measure",
        dir.display()
    ))
}

/// Let the armed client run until the limit, then take its report.
async fn measure(
    client: &Addr<Client>,
    done: tokio::sync::oneshot::Receiver<()>,
    cfg: &BenchConfig,
    fsyncs_per_sec: Option<f64>,
) -> Result<BenchReport, BenchError> {
    let counts = || {
        (
            crate::auth::Counts::now(),
            crate::storage::syncs_done(),
            crate::actors::writing_steps(),
        )
    };
    let before = counts();
    let budget = memory::Budget::new(cfg.memory_mib);
    let stopped_for_memory = match cfg.limit {
        Limit::Time(d) => wait_within(d, budget).await,
        Limit::Values(_) => {
            done.await.map_err(|_| BenchError::ClientGone)?;
            false
        }
    };
    let mut report = client
        .send(Finish(cfg.clone()))
        .await
        .map_err(|_| BenchError::ClientGone)?;
    report.stopped_for_memory = stopped_for_memory;
    report.memory_budget_mib = budget.map_or(0, |b| b.bytes >> 20);
    let after = counts();
    let report = match fsyncs_per_sec {
        Some(rate) => report.with_syncs((after.1 - before.1, after.2 - before.2), rate),
        None => report,
    };
    Ok(match cfg.auth {
        true => report.with_signatures(after.0.since(before.0)),
        false => report,
    })
}

/// Wait `d`, or less if the process passes `budget` first (then `true`).
async fn wait_within(d: Duration, budget: Option<memory::Budget>) -> bool {
    const CHECK: Duration = Duration::from_millis(50);
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        actix_rt::time::sleep(left.min(CHECK)).await;
        if budget.is_some_and(|b| b.exceeded().is_some()) {
            return true;
        }
    }
}

/// Run one measurement. Must be called inside an actix system.
pub async fn run(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
    validate(cfg)?;
    if cfg.transport == Transport::Tcp {
        return run_tcp(cfg).await;
    }
    // The baseline first, on a quiet thread, not among a cluster's remains.
    let hop_ns = hop::actor_hop_ns().await;
    let spec = cfg.spec();
    let n = spec.nodes;
    let board = Switchboard::default();
    let records: Vec<PeerRecord> = (0..n as NodeId)
        .map(|id| PeerRecord {
            id,
            key: spec.signs().then(|| spec.identity(id).public()),
            addr: None,
        })
        .collect();

    // The client exists before the nodes (they report to it), and learns
    // where the leader is once it started.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut middlewares = Vec::with_capacity(n);
    // Node i runs on arbiter i mod threads; the client stays on the
    // caller's thread (arbiter 0).
    let arbiters: Vec<Arbiter> = (1..cfg.threads).map(|_| Arbiter::new()).collect();
    let verifiers = crate::actors::verifiers(spec.signs(), n);
    let disk = cfg.data_dir.as_deref().map(Disk::create).transpose()?;
    let fsyncs = disk.as_ref().map(Disk::fsyncs_per_sec).transpose()?;
    let mut stores = match &disk {
        Some(d) => d.stores(n)?,
        None => (0..n).map(|_| None).collect(),
    };
    let client = Client::create(|ctx| {
        let me = ctx.address();
        for id in 0..n as NodeId {
            let member = spec.member(id, || spec.identity(id));
            let wiring = Wiring {
                store: stores[id as usize].take(),
                arbiter: match id as usize % cfg.threads {
                    0 => None,
                    t => Some(arbiters[t - 1].handle()),
                },
                verifier: verifiers.as_ref().map(|v| v.for_node(id)),
                ..Wiring::routed(board.clone().into(), me.clone().recipient(), cfg.seed)
            };
            let middleware = spawn_node(member, wiring);
            middleware.do_send(NodeCommand::Peers(records.clone()));
            board.join(id, middleware.clone().recipient());
            middlewares.push(middleware);
        }
        let leader = middlewares[0].clone();
        let mut client = Client::new(
            cfg,
            Box::new(move |v| leader.do_send(NodeCommand::Propagate(v))),
            tx,
        );
        client.armed = true;
        client
    });
    let mut report = measure(&client, rx, cfg, fsyncs).await?;
    report.hop_ns = hop_ns;
    report.hop_times_per_position = 1.0 / (report.rounds_per_sec.max(1e-9) * hop_ns * 1e-9);
    for m in &middlewares {
        m.do_send(NodeCommand::Exit);
    }
    for a in arbiters {
        a.stop();
    }
    Ok(report)
}

/// Wait (up to 10 s) until all `n` nodes registered with `coord`.
async fn all_registered(
    coord: &Addr<crate::actors::Coordinator>,
    n: usize,
) -> Result<(), BenchError> {
    use crate::actors::GetRegistry;
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let registry = coord
            .send(GetRegistry)
            .await
            .map_err(|_| BenchError::ClientGone)?;
        if registry.registered.len() == n {
            break;
        }
        if Instant::now() >= give_up {
            return Err(BenchError::Tcp(format!(
                "{} of {n} within 10 s",
                registry.registered.len()
            )));
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The same client against nodes on the TCP bridge, on loopback: a
/// coordinator and `n` nodes run as tasks of this process but talk only
/// through sockets, framing and signatures, exactly as separate processes
/// do (links authenticated at the handshake; packets signed with `auth`).
/// The client asks node 0 through the coordinator and learns commits
/// from the `DebugInfo` lines the nodes send it, so every value crosses the
/// bridge at least twice more than in process.
async fn run_tcp(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
    // The baselines first, on a quiet machine, not among a cluster's remains.
    let loopback = loopback_round_trips().await?;
    let disk = cfg.data_dir.as_deref().map(Disk::create).transpose()?;
    let fsyncs = disk.as_ref().map(Disk::fsyncs_per_sec).transpose()?;
    use crate::actors::{Coordinator, CoordinatorExitCommand, CoordinatorPropagateMessage};
    use crate::bridge::{admission::ClusterKey, coordinator};
    let n = cfg.nodes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Tcp(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::Tcp(e.to_string()))?
        .to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut coord = None;
    let client = Client::create(|ctx| {
        let c = Coordinator::with_size(n, false)
            .with_tap(ctx.address().recipient())
            .start();
        coord = Some(c.clone());
        Client::new(
            cfg,
            Box::new(move |value| c.do_send(CoordinatorPropagateMessage::ask(value, Some(0)))),
            tx,
        )
    });
    let coord = coord.ok_or(BenchError::ClientGone)?;
    // A key of this run only: the bench's nodes are its own.
    let key = ClusterKey::random().map_err(|e| BenchError::Tcp(e.to_string()))?;
    let serving = actix_rt::spawn(coordinator::serve(
        listener,
        key.clone(),
        coord.clone(),
        n,
        false,
        Default::default(),
    ));
    let arbiters: Vec<Arbiter> = (1..cfg.threads).map(|_| Arbiter::new()).collect();
    let nodes = spawn_tcp_nodes(cfg, &addr, &key, disk.as_ref(), &arbiters);
    // Start the clock once every node registered (and so knows its peers).
    all_registered(&coord, n).await?;
    client.do_send(Arm);
    let report = measure(&client, rx, cfg, fsyncs).await?;
    coord.do_send(CoordinatorExitCommand);
    // Each node returns once it read its Exit; one that does not within a
    // second is dropped with the system.
    for node in nodes {
        let _ = tokio::time::timeout(Duration::from_secs(1), node).await;
    }
    serving.abort();
    for a in arbiters {
        a.stop();
    }
    Ok(BenchReport {
        loopback_round_trips_per_sec: loopback,
        of_loopback: report.rounds_per_sec / loopback.max(1e-9),
        ..report
    })
}

/// Start the bench's `cfg.nodes` TCP nodes registering with the coordinator
/// at `addr`; each hands back how its run ended.
fn spawn_tcp_nodes(
    cfg: &BenchConfig,
    addr: &str,
    key: &crate::bridge::admission::ClusterKey,
    disk: Option<&Disk>,
    arbiters: &[Arbiter],
) -> Vec<tokio::sync::oneshot::Receiver<Result<(), crate::bridge::BridgeError>>> {
    use crate::bridge::node;
    (0..cfg.nodes as NodeId)
        .map(|id| {
            let opts = node::NodeOptions {
                id: Some(id),
                middleware: cfg.middleware,
                auth: cfg.auth,
                window: cfg.window,
                batch: cfg.batch,
                announce: false,
                bft: cfg.bft,
                data_dir: disk.map(|d| d.node(id)),
                ..node::NodeOptions::new(addr, key.clone())
            };
            // Node i on thread (i + 1) mod T: the coordinator and the client
            // keep the caller's thread (0), and the leader (node 0) is never
            // on it, as it is not in a deployment of separate processes.
            let (done, ended) = tokio::sync::oneshot::channel();
            let run = async move {
                let _ = done.send(node::run(opts).await);
            };
            match (id as usize + 1) % cfg.threads {
                0 => drop(actix_rt::spawn(run)),
                t => drop(arbiters[t - 1].spawn(run)),
            }
            ended
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_b_and_the_number() {
        for n in [0, 7, 10, 99, 12_345, u64::MAX] {
            assert_eq!(tag(n), format!("b{n}"));
        }
    }

    #[test]
    fn pending_values_are_timed_once_in_any_order_of_commit() {
        let mut p = Pending::default();
        let t = Instant::now();
        for seq in 10..14 {
            p.push(seq, t);
        }
        assert_eq!(p.take(12), Some(t));
        assert_eq!(p.take(12), None, "a value is timed once");
        assert_eq!(p.take(10), Some(t));
        assert_eq!(p.first, 11, "the oldest still waiting");
        assert_eq!((p.take(9), p.take(99)), (None, None), "never sent");
        assert_eq!((p.take(11), p.take(13)), (Some(t), Some(t)));
        assert!(p.at.is_empty());
        p.push(14, t);
        assert_eq!(p.take(14), Some(t));
    }
}
