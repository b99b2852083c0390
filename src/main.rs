//! The `paxos` command line: a thin layer that parses flags (clap), sets up
//! logging (env_logger, `RUST_LOG`) and calls into the library.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use paxos::attack::Attack;
use paxos::bridge::{self, admission::ClusterKey, client::Client, node::NodeOptions, status};
use paxos::demo::{self, DemoConfig, DemoError};
use paxos::term::Palette;
use paxos::trace;
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

/// Every node of a cluster allocates a mailbox envelope per message it is
/// sent; mimalloc's per-thread free lists serve them far cheaper than
/// glibc's malloc (`docs/benchmarks.md`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "paxos",
    version,
    about = "A Multi-Paxos cluster of actix actors, built to show attacks on consensus succeed and then be defeated",
    long_about = None,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(verbatim_doc_comment)]
    /// Run a whole cluster in one process, propose values, and report what happened.
    ///
    /// Examples:
    ///   paxos demo --nodes 5 --values 20 --json
    ///   paxos demo --attack SAFETY                 # honest nodes commit different values
    ///   paxos demo --attack SAFETY --middleware    # the echo exposes the leader
    ///   paxos demo --attack LIVENESS --attacker 2  # nothing commits
    ///   paxos demo --attack LIVENESS --middleware  # the climber is ignored, values commit
    ///   paxos demo --attack IGNORE_PREPARED        # the split scenario: two values at one position
    ///   paxos demo --bft --nodes 4 --attack SAFETY --middleware   # BFT mode: prevented
    ///   paxos demo --attack SAFETY --trace safety.svg   # draw it as a sequence chart
    Demo(DemoArgs),
    #[command(verbatim_doc_comment)]
    /// Run the coordinator of a multi-process cluster: the registry nodes join,
    /// the client that asks them to propagate values, and the terminal that
    /// prints every node's DebugInfo lines as they arrive.
    ///
    /// Example (then start nodes, see `paxos node --help`):
    ///   paxos coordinator --listen 127.0.0.1:7000 --nodes 3
    Coordinator(CoordinatorArgs),
    #[command(verbatim_doc_comment)]
    /// Run one node of a multi-process cluster (honest, or an attacker with
    /// --attack). It registers with the coordinator, connects to its peers
    /// over TCP and runs until `paxos shutdown`.
    ///
    /// Examples:
    ///   paxos node --coordinator 127.0.0.1:7000 --data-dir /tmp/paxos/n0
    ///   paxos node --coordinator 127.0.0.1:7000 --middleware
    ///   paxos node --coordinator 127.0.0.1:7000 --bft --middleware   # with --nodes 4 or more
    ///   paxos node --coordinator 127.0.0.1:7000 --attack SAFETY --id 0
    Node(NodeArgs),
    #[command(verbatim_doc_comment)]
    /// Ask the cluster to commit values (the brief's "enter value to
    /// propagate"), and wait until a majority of nodes committed each.
    ///
    /// Examples:
    ///   paxos propose --coordinator 127.0.0.1:7000 apple banana
    ///   paxos propose --coordinator 127.0.0.1:7000 --node 0 cherry
    Propose(ProposeArgs),
    #[command(verbatim_doc_comment)]
    /// Read and write the cluster's key-value store, one request: put, get,
    /// cas or delete a key.
    ///
    /// Every node applies the committed log to its store in order; the
    /// reply is the one a node's store gave (in BFT mode, f+1 alike). A
    /// request asked again with the same --client and --seq applies once
    /// and answers as the first time.
    ///
    /// Examples:
    ///   paxos kv put colour blue
    ///   paxos kv get colour
    ///   paxos kv cas colour blue green
    Kv(KvArgs),
    #[command(verbatim_doc_comment)]
    /// Run one node speaking Maelstrom's protocol (JSON lines on stdin and
    /// stdout) for its lin-kv workload: read, write, cas through the log.
    ///
    /// Example:
    ///   maelstrom test -w lin-kv --bin ./paxos-maelstrom.sh --node-count 3 --time-limit 20
    ///
    /// where paxos-maelstrom.sh runs `exec paxos maelstrom "$@"`.
    Maelstrom(MaelstromArgs),
    #[command(verbatim_doc_comment)]
    /// Print each node's committed log, who flagged whom, and the verdict
    /// (--json uses the demo summary's field names).
    ///
    /// Example:
    ///   paxos status --coordinator 127.0.0.1:7000 --json
    Status(StatusArgs),
    #[command(verbatim_doc_comment)]
    /// Stop every node (CoordinatorExitCommand), then the coordinator.
    ///
    /// Example:
    ///   paxos shutdown --coordinator 127.0.0.1:7000
    Shutdown(CoordinatorAddr),
    #[command(verbatim_doc_comment)]
    /// Cut every link between two groups of nodes, as a pulled cable would
    /// (each still reaches the nodes in neither group): the split scenario
    /// IGNORE_PREPARED and STALE_PREPARED need, across processes.
    ///
    /// Example:
    ///   paxos partition --coordinator 127.0.0.1:7000 1 2   # node 1 | node 2; node 0 reaches both
    ///   paxos partition 1 2,3                              # node 1 | nodes 2 and 3
    Partition(PartitionArgs),
    #[command(verbatim_doc_comment)]
    /// Restore every link `paxos partition` cut.
    ///
    /// Example:
    ///   paxos heal --coordinator 127.0.0.1:7000
    Heal(CoordinatorAddr),
    #[command(verbatim_doc_comment)]
    /// Measure how fast a cluster commits, like redis-benchmark: rounds/s
    /// (positions committed), values/s, p50 and p99 commit latency.
    ///
    /// Examples:
    ///   paxos bench                                  # the fast path: pipelined, batched
    ///   paxos bench --window 1 --batch 1             # one position at a time
    ///   paxos bench --nodes 5 --auth on --middleware --json
    Bench(BenchArgs),
    #[command(verbatim_doc_comment)]
    /// Simulate the cluster deterministically over many seeds, checking
    /// agreement, validity, stability and liveness (see README).
    ///
    /// Examples:
    ///   paxos sim --seeds 1000 --loss 0.2 --dup 0.1 --crashes --partitions
    ///   paxos sim --seeds 100 --attack SAFETY          # finds a violation and its seed
    ///   paxos sim --seed 7 --replay --attack SAFETY    # that run, step by step
    ///   paxos sim --seed 7 --replay --attack SAFETY --trace run.svg   # and as a chart
    Sim(SimArgs),
    #[command(verbatim_doc_comment)]
    /// Run every attack × middleware off/on × classic/BFT mode on the
    /// simulator, several seeds each, and print the table: agreement, live,
    /// attacker detected, honest nodes framed, evidence.
    ///
    /// Examples:
    ///   paxos matrix                       # n = 3 and 4, 10 seeds a row
    ///   paxos matrix --nodes 4,7 --seeds 50 --json
    ///   paxos matrix --by-defence         # which single defence stops which attack
    Matrix(MatrixArgs),
    #[command(verbatim_doc_comment)]
    /// List the middleware's defences: each one's name for --defences, the
    /// attack it answers, and what it does.
    ///
    /// Examples:
    ///   paxos defences
    ///   paxos demo --attack SAFETY --defences echo      # that defence alone
    Defences,
    #[command(verbatim_doc_comment)]
    /// The lab in the terminal: for each attack, what it does, then the same
    /// simulated run with no defence and with its own defence, side by side
    /// (verdicts, honest logs with the disagreeing position marked, what
    /// happened), ending in the table of what stopped what.
    ///
    /// Examples:
    ///   paxos tour                     # press Enter between attacks
    ///   paxos tour --attack LIVENESS   # one stop
    ///   paxos tour --no-pause > tour.txt
    Tour(TourArgs),
    #[command(verbatim_doc_comment)]
    /// Open the explorer: a web page where you drive a simulated cluster
    /// under attack by hand (deliver, drop, duplicate or delay each message,
    /// crash nodes, cut links, switch defences mid-run) and watch agreement
    /// hold or break. The page's URL is the run: paste it and the same
    /// moment of the same run opens. Lessons, one pair per attack:
    /// ?lesson=safety, ?lesson=safety-defended, ?lesson=liveness, ...
    ///
    /// Examples:
    ///   paxos explore                           # serves http://127.0.0.1:8080/
    ///   paxos explore --listen 127.0.0.1:0      # any free port
    ///   paxos explore --replay 'lesson=safety'  # a run's state, in the terminal
    Explore(ExploreArgs),
}

#[derive(Args)]
struct ExploreArgs {
    /// Address to serve the page on (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    listen: String,
    /// Also open the page in the desktop's browser (xdg-open).
    #[arg(long)]
    open: bool,
    /// Print the state of the run a page URL's query names (what follows
    /// its `?`, or the command the page shows) and exit, without serving.
    #[arg(long, value_name = "QUERY")]
    replay: Option<String>,
}

#[derive(Args)]
struct TourArgs {
    /// Only this attack's stop (SAFETY, LIVENESS, …; case-insensitive).
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// The simulator's seed for every run (the same seed replays the same tour).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Do not wait for Enter between attacks (for scripts and printouts).
    #[arg(long)]
    no_pause: bool,
    /// Print {"seed": S, "legs": […]} on stdout instead.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MatrixArgs {
    /// Cluster sizes, comma-separated: classic rows run at each, BFT rows at
    /// each size of at least 4 (n >= 3f+1).
    #[arg(long, value_delimiter = ',', default_value = "3,4", value_name = "N,N,...",
          value_parser = clap::value_parser!(u32).range(2..=paxos::matrix::MAX_NODES as i64))]
    nodes: Vec<u32>,
    /// Seeds per row.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=paxos::matrix::MAX_SEEDS))]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Instead of middleware off/on: classic mode, each attack against its
    /// own defence alone, and against every defence but its own.
    #[arg(long)]
    by_defence: bool,
    /// Print {"rows": […]} on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Number of nodes; node 0 leads.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: u32,
    /// How long to measure.
    #[arg(long, default_value_t = 3.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    seconds: f64,
    /// Positions in flight at once (1: one position at a time).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    window: u32,
    /// Client values per position.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Run the middleware's defences on every node (needs --auth on).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// Sign and verify every packet: on or off (default: on with --middleware).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    auth: Option<bool>,
    /// How nodes talk: inproc (actors in one process) or tcp (the bridge, over
    /// loopback sockets).
    #[arg(long, default_value = "inproc", value_name = "inproc|tcp")]
    transport: paxos::bench::Transport,
    /// Threads to spread the nodes over. In process, node i runs on thread
    /// i mod N and the client and the network stay on the first; over
    /// --transport tcp, node i runs on thread (i + 1) mod N and the
    /// coordinator and the client stay on the first, so the leader does
    /// not share their thread (as separate processes would not).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
    /// BFT mode (needs --nodes 4 or more): 2f+1 quorums, every vote a
    /// message; with --middleware the proofs and justifications too.
    #[arg(long)]
    bft: bool,
    /// Durable nodes: each persists to a fresh directory under DIR (on the
    /// disk to measure; removed afterwards), and the report adds fsyncs per
    /// position beside this disk's fsync rate, measured first.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Stop early, and say so, once the process holds this many MiB: the
    /// nodes keep their whole logs in memory. Default: half of the memory
    /// available when the run starts.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    max_memory: Option<u64>,
    /// Print one JSON object on stdout instead of the report.
    #[arg(long)]
    json: bool,
    /// values: positions of opaque values, as above; kv: key-value
    /// requests of --clients closed-loop clients (reads through the log,
    /// then reads from node 0's own store as the baseline), each phase
    /// --seconds long; --window, --batch and the flags of signatures,
    /// transport and disk are for values only.
    #[arg(long, value_enum, default_value = "values")]
    workload: Workload,
    /// With --workload kv: concurrent clients, one request in flight each.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,
    /// With --workload kv: keys the requests pick from.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    keys: u32,
    /// With --workload kv: reads among the requests, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100))]
    read_percent: u32,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{s}' is neither on nor off")),
    }
}

#[derive(Args)]
struct CoordinatorArgs {
    /// Address to listen on for nodes and clients (port 0 picks a free one;
    /// the address is printed).
    #[arg(long, default_value = "127.0.0.1:7000", value_name = "ADDR", value_parser = parse_addr)]
    listen: String,
    /// Cluster size: quorums are majorities of it, and no more nodes are admitted.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: u32,
    /// Do not print DebugInfo lines (registrations are still printed).
    #[arg(long)]
    quiet: bool,
    /// Keep the registry (which key holds which node id) here, so that a
    /// restarted coordinator never gives a node's id to another key. Without
    /// it the registry lives in memory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// The cluster key: created here on the first start if the file does not
    /// exist; give the same file to every node and client of the cluster.
    #[arg(long, value_name = "FILE", default_value = paxos::bridge::admission::DEFAULT_KEY_FILE)]
    cluster_key: std::path::PathBuf,
    /// Also serve a live web page of the cluster's nodes here (their logs,
    /// whom they flagged, agreement), refreshed every second.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    web: Option<String>,
}

#[derive(Args)]
struct CoordinatorAddr {
    /// The coordinator's address.
    #[arg(long, default_value = "127.0.0.1:7000", value_name = "ADDR", value_parser = parse_addr)]
    coordinator: String,
    /// The cluster key the coordinator created (`paxos coordinator
    /// --cluster-key`): without it the coordinator serves nothing.
    #[arg(long, value_name = "FILE", default_value = paxos::bridge::admission::DEFAULT_KEY_FILE)]
    cluster_key: std::path::PathBuf,
}

impl CoordinatorAddr {
    /// A client connection to the coordinator, both sides proven.
    async fn client(&self) -> anyhow::Result<Client> {
        let key = self.key(CLIENT_CONNECT)?;
        Ok(Client::connect(&self.coordinator, &key, CLIENT_CONNECT).await?)
    }

    /// The cluster key. A process started in the same breath as its
    /// coordinator may look before the coordinator created the key: while
    /// the file is missing and the coordinator does not answer yet, wait
    /// for it, up to `wait`.
    fn key(&self, wait: Duration) -> anyhow::Result<ClusterKey> {
        let now = std::time::Instant::now;
        let give_up = now() + wait;
        // A coordinator listens a moment before it writes a new key; one
        // that answered a second ago and still has none keeps it elsewhere.
        let mut answered: Option<std::time::Instant> = None;
        loop {
            let missing = !self.cluster_key.exists();
            if answered.is_none() && missing && self.answers() {
                answered = Some(now());
            }
            let elsewhere = answered.is_some_and(|t| t.elapsed() > Duration::from_secs(1));
            if !missing || now() >= give_up || elsewhere {
                return Ok(ClusterKey::load(&self.cluster_key)?);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether something listens at the coordinator's address.
    fn answers(&self) -> bool {
        use std::net::ToSocketAddrs as _;
        let Ok(mut addrs) = self.coordinator.to_socket_addrs() else {
            return false;
        };
        addrs.next().is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
        })
    }
}

#[derive(Args)]
struct NodeArgs {
    /// Address to listen on for peers (port 0 picks a free one; the address
    /// is printed).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR", value_parser = parse_addr)]
    listen: String,
    /// The address peers should dial, if not the --listen one (a NAT or a
    /// proxy in front of this node).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    advertise: Option<String>,
    #[command(flatten)]
    coordinator: CoordinatorAddr,
    /// Keep this node's key, id, promises, accepted values and log here, synced
    /// before it answers: restarted on the same directory it keeps every
    /// promise and catches up. Without it the node lives in memory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Ask for this node id (default: the data directory's, else the lowest free).
    #[arg(long, value_name = "ID")]
    id: Option<u32>,
    /// Make this node an attacker: SAFETY, LIVENESS, BALLOT_OVERFLOW,
    /// IGNORE_PREPARED, STALE_PREPARED, PREMATURE_COMMIT, FORGERY or REPLAY.
    /// Case-insensitive.
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// Switch this node's middleware defences on (alias --enable-middleware).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// Run only these defences, by name, comma-separated (see `paxos
    /// defences`); classic mode only. --middleware is all of them.
    #[arg(long, value_name = "LIST", conflicts_with = "middleware")]
    defences: Option<paxos::cluster::Defences>,
    /// With the middleware on: strikes at one position before a node is ignored.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_prepares: u32,
    /// BFT mode (every node of the cluster must use it too); see `paxos demo --help`.
    #[command(flatten)]
    mode: ModeArgs,
    /// Seconds to keep trying to reach the coordinator at start.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    connect_timeout: f64,
    /// Positions between two snapshots of a node's key-value store: each
    /// replaces the log (and the middleware's proofs) below it, and a node
    /// that is behind it catches up by receiving it. 0: never compact.
    #[arg(long, default_value_t = paxos::kv::SNAPSHOT_EVERY, value_name = "N")]
    snapshot_every: u64,
    /// Positions this node keeps in flight when it leads.
    #[arg(long, default_value_t = paxos::core::Config::new(1).window as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    window: u32,
    /// Most client values one position carries when it leads: a ceiling. A
    /// leader proposes a value at once while its window has room and folds
    /// what queued meanwhile into one position (the demo and the simulator
    /// keep one value per position).
    #[arg(long, default_value_t = paxos::core::Config::new(1).batch as u32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    batch: u32,
}

#[derive(Args)]
struct ProposeArgs {
    #[command(flatten)]
    coordinator: CoordinatorAddr,
    /// Ask this node for every value; if it does not lead it names the
    /// leader, and the values go there (default: the leader the
    /// coordinator's client knows).
    #[arg(long, value_name = "ID")]
    node: Option<u32>,
    /// Seconds to wait for the values to commit.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    timeout: f64,
    /// The values to commit.
    #[arg(required = true, value_name = "VALUE")]
    values: Vec<String>,
}

#[derive(Args)]
struct KvArgs {
    #[command(flatten)]
    coordinator: CoordinatorAddr,
    /// Ask this node (default: the leader the coordinator's client knows).
    #[arg(long, value_name = "ID")]
    node: Option<u32>,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    timeout: f64,
    /// This client's id (default: a random one, a session of one request).
    #[arg(long, value_name = "ID")]
    client: Option<u64>,
    /// The request's number in the client's session: numbers only grow,
    /// and a request asked again with its number applies once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seq: u64,
    /// Print the reply as one JSON object (and exit 0 whatever it is).
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    op: KvOp,
}

/// One operation on the store.
#[derive(clap::Subcommand, Clone, Debug)]
enum KvOp {
    /// Set KEY to VALUE.
    Put { key: String, value: String },
    /// Print what KEY holds (exit 1 if it does not exist).
    Get { key: String },
    /// Set KEY to TO if it holds FROM (exit 1 if it does not, or KEY does
    /// not exist).
    Cas {
        key: String,
        from: String,
        to: String,
    },
    /// Remove KEY (exit 1 if it did not exist).
    Delete { key: String },
}

impl From<KvOp> for paxos::kv::Op {
    fn from(op: KvOp) -> Self {
        match op {
            KvOp::Put { key, value } => paxos::kv::Op::Put { key, value },
            KvOp::Get { key } => paxos::kv::Op::Get { key },
            KvOp::Cas { key, from, to } => paxos::kv::Op::Cas { key, from, to },
            KvOp::Delete { key } => paxos::kv::Op::Delete { key },
        }
    }
}

#[derive(Args)]
struct MaelstromArgs {
    /// The middleware's defences on this node (every node must agree; keys
    /// come from --seed, so every node knows every key).
    #[arg(long)]
    middleware: bool,
    /// Positions between two snapshots of a node's key-value store: each
    /// replaces the log (and the middleware's proofs) below it, and a node
    /// that is behind it catches up by receiving it. 0: never compact.
    #[arg(long, default_value_t = paxos::kv::SNAPSHOT_EVERY, value_name = "N")]
    snapshot_every: u64,
    /// Seed of the nodes' keys and retry jitter.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    mode: ModeArgs,
    /// How reads are served. log: through the log (linearizable); index:
    /// read-index, the leader confirms its ballot with a quorum and answers
    /// from its store (linearizable with an honest leader; not with --bft);
    /// local: from this node's own store at once — a planted bug,
    /// Maelstrom's classic mistake, that its linearizability checker catches.
    #[arg(long, default_value = "log", value_name = "log|index|local")]
    reads: paxos::sim::kv::ReadPath,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    coordinator: CoordinatorAddr,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PartitionArgs {
    #[command(flatten)]
    coordinator: CoordinatorAddr,
    /// One side: node ids, comma-separated.
    #[arg(value_delimiter = ',', num_args = 1, required = true)]
    a: Vec<paxos::core::NodeId>,
    /// The other side: node ids, comma-separated.
    #[arg(value_delimiter = ',', num_args = 1, required = true)]
    b: Vec<paxos::core::NodeId>,
}

#[derive(Args)]
struct SimArgs {
    /// How many seeds to run: SEED, SEED+1, … (at most 100 million: more
    /// would run for days).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    seeds: u64,
    /// The first seed (with --replay: the one to replay).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the run of --seed step by step (use the same flags as the
    /// search); a trace for reading, so not with --json.
    #[arg(long, conflicts_with = "json")]
    replay: bool,
    /// Number of nodes (at most 1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: u32,
    /// Number of values the client asks for, per seed (at most 100,000:
    /// each run keeps every node's log; for throughput, `paxos bench`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    values: u32,
    /// Probability of losing a packet during the faulty period, 0 to 1.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    loss: f64,
    /// Probability of duplicating a packet during the faulty period, 0 to 1.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    dup: f64,
    /// Crash and restart honest nodes during the faulty period.
    #[arg(long)]
    crashes: bool,
    /// Form and heal partitions during the faulty period.
    #[arg(long)]
    partitions: bool,
    /// SAFETY, LIVENESS, BALLOT_OVERFLOW, IGNORE_PREPARED, STALE_PREPARED,
    /// PREMATURE_COMMIT, FORGERY or REPLAY (case-insensitive).
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// Which node attacks (with --attack; default 0).
    #[arg(long, value_name = "ID", requires = "attack")]
    attacker: Option<u32>,
    /// The middleware's defences on every node (also --enable-middleware).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// Run only these defences, by name, comma-separated (see `paxos
    /// defences`); classic mode only. --middleware is all of them.
    #[arg(long, value_name = "LIST", conflicts_with = "middleware")]
    defences: Option<paxos::cluster::Defences>,
    /// Ticks the client waits for a value to commit before it asks another
    /// node too (doubling per value, up to 8 times as long); 0 never asks.
    #[arg(long, default_value_t = 200, value_name = "TICKS")]
    patience: u64,
    /// Print one JSON object on stdout (no progress on stderr).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    mode: ModeArgs,
    /// With --replay: also draw the run as a sequence chart, FILE.svg or FILE.mmd.
    #[arg(long, value_name = "FILE", requires = "replay")]
    trace: Option<std::path::PathBuf>,
    /// Which log positions the chart shows, as A..B (B excluded).
    #[arg(long, value_name = "A..B", value_parser = trace::parse_positions, requires = "trace")]
    trace_positions: Option<std::ops::Range<u64>>,
    /// Signatures the simulated nodes use: modelled (a hash only the signer's
    /// code can make, checked like a signature: fast) or ed25519 (real).
    /// The same seeds give the same outcomes with either.
    #[arg(long, default_value = "modelled", value_name = "ed25519|modelled")]
    signatures: paxos::auth::Scheme,
    #[command(flatten)]
    kv: KvWorkloadArgs,
}

/// What the clients do in `paxos sim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    /// Opaque client values: the log alone.
    Values,
    /// Clients read, write, compare-and-set and delete keys of the KV
    /// store; their history is checked for linearizability.
    Kv,
}

#[derive(Args)]
struct KvWorkloadArgs {
    /// values: the client asks for --values values; kv: --clients clients
    /// do --ops operations each on --keys keys, and the history of what
    /// they saw is checked for linearizability.
    #[arg(long, value_enum, default_value = "values")]
    workload: Workload,
    /// With --workload kv: concurrent clients, one operation in flight each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    clients: u32,
    /// With --workload kv: keys the operations pick from (k0, k1, …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    keys: u32,
    /// With --workload kv: operations per client.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    ops: u32,
    /// With --workload kv: how reads are served. log: through the log
    /// (linearizable); index: read-index, the leader confirms its ballot
    /// with a quorum and answers from its store, no log entry (not with
    /// --bft); local: from the asked node's own store at once — a planted
    /// bug the linearizability check catches.
    #[arg(long, default_value = "log", value_name = "log|index|local")]
    reads: paxos::sim::kv::ReadPath,
    /// With --workload kv: positions between two snapshots of a node's
    /// key-value store: each
    /// replaces the log (and the middleware's proofs) below it, and a node
    /// that is behind it catches up by receiving it. 0: never compact.
    #[arg(long, default_value_t = paxos::kv::SNAPSHOT_EVERY, value_name = "N")]
    snapshot_every: u64,
}

impl KvWorkloadArgs {
    fn workload(&self) -> Option<paxos::sim::kv::KvWorkload> {
        (self.workload == Workload::Kv).then_some(paxos::sim::kv::KvWorkload {
            clients: self.clients as usize,
            keys: self.keys as usize,
            ops: self.ops as usize,
            reads: self.reads,
        })
    }
}

#[derive(Args)]
struct DemoArgs {
    /// Number of nodes (numbered 0 to N-1; at most 100 in one process: a
    /// larger cluster runs in `paxos sim`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    nodes: u32,
    /// Number of values the coordinator asks the cluster to commit (v0, v1, …;
    /// at most 100,000: the demo keeps every message for its report; for
    /// more, measure with `paxos bench`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    values: u32,
    /// Seed for every random choice (retry jitter, message loss): a run replays from it.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds to wait for every value to commit before giving the verdict.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    deadline: f64,
    /// Fraction of messages the in-process network loses, 0 to 1 (e.g. 0.2).
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction, allow_negative_numbers = true)]
    drop: f64,
    /// Make one node an attacker: SAFETY (equivocating leader), LIVENESS
    /// (ballot climber), BALLOT_OVERFLOW (ballot exhauster), IGNORE_PREPARED
    /// (leader ignoring Prepared reports), STALE_PREPARED (acceptor hiding
    /// what it accepted), PREMATURE_COMMIT (Commit before anyone accepted),
    /// FORGERY (messages in another node's name) or REPLAY (recorded
    /// messages re-sent, re-bound). Case-insensitive.
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// Which node attacks, with --attack (default 0; nodes are numbered 0 to N-1).
    #[arg(long, value_name = "I", requires = "attack")]
    attacker: Option<u32>,
    /// Switch the middleware's defences on, on every node (the brief spelled it
    /// --enable-middleware, which works too).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// Run only these defences, by name, comma-separated (see `paxos
    /// defences`); classic mode only. --middleware is all of them.
    #[arg(long, value_name = "LIST", conflicts_with = "middleware")]
    defences: Option<paxos::cluster::Defences>,
    /// With the middleware on: a node that cuts off another proposer's fresh
    /// promise this many times at one position is ignored.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_prepares: u32,
    #[command(flatten)]
    mode: ModeArgs,
    /// Print one JSON object on stdout instead of the human-readable report.
    #[arg(long)]
    json: bool,
    /// Draw the run as a message sequence chart: FILE.svg (open in a
    /// browser) or FILE.mmd (a Mermaid sequenceDiagram for Markdown).
    #[arg(long, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
    #[command(flatten)]
    kv: KvWorkloadArgs,
    /// Which log positions the chart shows, as A..B (B excluded).
    #[arg(long, value_name = "A..B", value_parser = trace::parse_positions, requires = "trace")]
    trace_positions: Option<std::ops::Range<u64>>,
}

/// Classic or BFT mode, for the commands that run a whole cluster.
#[derive(Args, Clone, Copy)]
struct ModeArgs {
    /// BFT mode: quorums of signed votes that share an honest node (2f+1
    /// when n = 3f+1, ceil((n+f+1)/2) in general), every Propose justified
    /// and echoed by a quorum before anyone accepts it. Needs n >= 3f+1.
    #[arg(long)]
    bft: bool,
    /// With --bft: how many Byzantine nodes to tolerate (default: as many
    /// as --nodes allows, n >= 3f+1).
    #[arg(long, value_name = "F", requires = "bft")]
    faults: Option<usize>,
}

/// A network address as HOST:PORT (an IP address or a host name, and a
/// port number), checked before anything dials or binds it.
fn parse_addr(s: &str) -> Result<String, String> {
    let bad = || format!("'{s}' is not an address: give HOST:PORT, e.g. 127.0.0.1:7000");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(s.to_string())
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err(format!(
            "'{s}' must be more than 0 and at most 86400 seconds"
        ))
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("'{s}' must be between 0 and 1"))
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // sim and matrix run thousands of simulated attacks: what each node
    // dropped is in their report (and in --replay), not worth a log line
    // each. RUST_LOG still overrides.
    let quiet = matches!(
        cli.command,
        Command::Sim(_) | Command::Matrix(_) | Command::Tour(_) | Command::Explore(_)
    );
    let default = if quiet { "error" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .target(env_logger::Target::Stderr)
        .init();
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A reader that stopped reading (`| head`) is not a failure.
        Err(e) if broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes on one line, without a backtrace: these are
            // messages for the user, not for a debugger.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1).map(|c| c.to_string()) {
                // Library errors often already quote their source.
                if !msg.contains(&cause) {
                    msg = format!("{msg}: {cause}");
                }
            }
            eprintln!("error: {msg}");
            if bad_input(&e) {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// Whether stdout was closed under us.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether the failure is the request's (exit 2, as clap's usage errors),
/// not the run's (exit 1).
fn bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<paxos::cluster::ClusterError>()
            || c.downcast_ref::<DemoError>()
                .is_some_and(DemoError::is_bad_input)
            || c.downcast_ref::<paxos::sim::SimError>()
                .is_some_and(|e| e.is_bad_input())
            || c.downcast_ref::<paxos::matrix::MatrixError>()
                .is_some_and(|e| e.is_bad_input())
            || c.downcast_ref::<paxos::trace::TraceError>()
                .is_some_and(|e| e.is_bad_input())
            || c.is::<paxos::explore::ExploreError>()
            || c.downcast_ref::<paxos::bench::BenchError>()
                .is_some_and(|e| e.is_bad_input())
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(args) => run_demo(args),
        Command::Coordinator(args) => run_coordinator(args),
        Command::Node(args) => run_node(args),
        Command::Propose(args) => run_propose(args),
        Command::Kv(args) => run_kv(args),
        Command::Maelstrom(a) => {
            let spec = |n| paxos::cluster::ClusterSpec {
                seed: a.seed,
                tunables: paxos::cluster::Tunables {
                    snapshot_every: a.snapshot_every,
                    ..Default::default()
                },
                ..paxos::cluster::ClusterSpec::lab(
                    n,
                    None,
                    0,
                    a.middleware,
                    a.mode.bft,
                    a.mode.faults,
                )
            };
            Ok(paxos::maelstrom::run(&spec, a.reads)?)
        }
        Command::Status(args) => run_status(args),
        Command::Shutdown(args) => run_shutdown(args),
        Command::Partition(args) => run_partition(args.coordinator, args.a, args.b),
        Command::Heal(args) => run_partition(args, Vec::new(), Vec::new()),
        Command::Bench(args) => run_bench(args),
        Command::Sim(args) => run_sim(args),
        Command::Matrix(args) => run_matrix(args),
        Command::Defences => run_defences(),
        Command::Tour(args) => run_tour(args),
        Command::Explore(args) => run_explore(args),
    }
}

const CLIENT_CONNECT: Duration = Duration::from_secs(5);

/// Print `value` as one line of JSON (`--json`), or `text()` as it is.
fn print_json_or_text<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut stdout, value)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", text())?;
    }
    Ok(())
}

fn run_coordinator(args: CoordinatorArgs) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let (key, created) = ClusterKey::load_or_create(&args.cluster_key)?;
        if created {
            println!(
                "coordinator: created the cluster key {} (give it to every node and client)",
                args.cluster_key.display()
            );
        }
        let addr = listener.local_addr()?;
        // Everything that can fail first: "listening" means it serves.
        let registry = args
            .data_dir
            .as_deref()
            .map(bridge::registry::RegistryFile::open)
            .transpose()?;
        let web = match &args.web {
            Some(web) => Some(
                paxos::explore::live::bind(web, addr.to_string(), key.clone())
                    .with_context(|| format!("the live view cannot listen on {web}"))?,
            ),
            None => None,
        };
        println!("coordinator listening on {addr}");
        if let Some((server, url)) = web {
            println!("coordinator: live view on {url}");
            actix_rt::spawn(server);
        }
        bridge::coordinator::run(listener, key, args.nodes as usize, !args.quiet, registry).await?;
        println!("coordinator: cluster stopped");
        Ok(())
    })
}

fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let opts = NodeOptions {
        cluster_key: args
            .coordinator
            .key(Duration::from_secs_f64(args.connect_timeout))?,
        listen: args.listen,
        advertise: args.advertise,
        coordinator: args.coordinator.coordinator,
        data_dir: args.data_dir,
        attack: args.attack,
        middleware: args.middleware,
        defences: args.defences,
        max_prepares: args.max_prepares,
        bft: args.mode.bft,
        faults: args.mode.faults,
        id: args.id,
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        window: args.window as usize,
        batch: args.batch as usize,
        snapshot_every: args.snapshot_every,
        auth: true,
        announce: true,
    };
    actix::System::new()
        .block_on(bridge::node::run(opts))
        .context("the node stopped")
}

fn run_propose(args: ProposeArgs) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let mut client = args.coordinator.client().await?;
        let timeout = Duration::from_secs_f64(args.timeout);
        // Proposing to a cluster still forming works (nodes catch up), but
        // its first values would wait on retries: give it a moment (within
        // the timeout: a cluster with no node at all is refused then).
        wait_for_cluster(&mut client, "proposing", timeout.min(CLIENT_CONNECT)).await?;
        let committed = client
            .propose(
                args.values.into_iter().map(Into::into).collect(),
                args.node,
                timeout,
            )
            .await?;
        for (value, nodes) in committed {
            println!("committed '{value}' on nodes {nodes:?}");
        }
        Ok(())
    })
}

fn run_kv_bench(args: BenchArgs) -> anyhow::Result<()> {
    use paxos::bench::{BenchError, Transport};
    let refused = [
        (args.bft, "--bft"),
        (args.middleware, "--middleware"),
        (args.auth.is_some(), "--auth"),
        (args.transport != Transport::Inproc, "--transport"),
        (args.data_dir.is_some(), "--data-dir"),
        (args.threads != 1, "--threads"),
    ];
    if let Some((_, flag)) = refused.into_iter().find(|(given, _)| *given) {
        return Err(BenchError::NotForKv(flag).into());
    }
    let cfg = paxos::bench::kv::KvBenchConfig {
        nodes: args.nodes as usize,
        clients: args.clients as usize,
        keys: args.keys as usize,
        read_percent: args.read_percent,
        seconds: args.seconds,
    };
    if !args.json {
        eprintln!(
            "benchmarking the key-value store on {}: three phases of {} s…",
            paxos::verdict::count(cfg.nodes, "node"),
            args.seconds
        );
    }
    let report = actix::System::new()
        .block_on(paxos::bench::kv::run(&cfg))
        .context("the bench could not run")?;
    print_json_or_text(args.json, &report, || report.render())
}

fn run_kv(args: KvArgs) -> anyhow::Result<()> {
    let client = match args.client {
        Some(id) => id,
        None => {
            let mut bytes = [0u8; 8];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness for a client id: {e}"))?;
            u64::from_le_bytes(bytes)
        }
    };
    let op: paxos::kv::Op = args.op.into();
    let key = op.key().to_string();
    let cmd = paxos::kv::Command {
        client,
        seq: args.seq,
        op,
    };
    let reply = actix::System::new().block_on(async move {
        let mut c = args.coordinator.client().await?;
        let timeout = Duration::from_secs_f64(args.timeout);
        anyhow::Ok(c.kv(&cmd, args.node, timeout).await?)
    })?;
    if args.json {
        let out = serde_json::json!({ "client": client, "seq": args.seq, "reply": reply });
        println!("{out}");
        return Ok(());
    }
    match reply {
        paxos::kv::Reply::Ok { value: Some(v) } => println!("{v}"),
        paxos::kv::Reply::Ok { value: None } => println!("OK"),
        paxos::kv::Reply::KeyMissing => anyhow::bail!("key '{key}' does not exist"),
        paxos::kv::Reply::SessionExpired => anyhow::bail!(
            "client {client}'s session expired (the cluster forgot it for newer ones): \
             not applied; ask again as a new client"
        ),
        paxos::kv::Reply::Superseded { latest } => anyhow::bail!(
            "client {client} already made request {latest}, so its older request {} is not \
             applied now (it was applied before {latest}, or never will be): ask with --seq {}",
            args.seq,
            latest + 1
        ),
        paxos::kv::Reply::CasMismatch { found } => {
            anyhow::bail!("key '{key}' holds '{found}', not the value expected")
        }
    }
    Ok(())
}

fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let mut client = args.coordinator.client().await?;
        let summary = status::summarize(&client.status().await?);
        print_json_or_text(args.json, &summary, || {
            status::render(&summary, &Palette::for_stdout())
        })
    })
}

/// Give a cluster still forming up to `patience` to be complete (every
/// slot taken, every link up), saying what it waits for; then go on with
/// `doing` anyway.
async fn wait_for_cluster(
    client: &mut Client,
    doing: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let ready = client
        .wait_for_members(patience, |k, n| {
            eprintln!("waiting for the cluster: {k} of {n} nodes connected")
        })
        .await?;
    if !ready {
        eprintln!("the cluster is not complete yet; {doing} anyway");
    }
    Ok(())
}

/// `paxos partition` (or, with both sides empty, `paxos heal`).
fn run_partition(
    args: CoordinatorAddr,
    a: Vec<paxos::core::NodeId>,
    b: Vec<paxos::core::NodeId>,
) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let mut client = args.client().await?;
        let heal = a.is_empty() && b.is_empty();
        if !heal {
            // Nodes started a moment ago may not have registered yet.
            wait_for_cluster(&mut client, "cutting", CLIENT_CONNECT).await?;
        }
        client.partition(a.clone(), b.clone()).await?;
        match heal {
            true => println!("every link healed"),
            false => println!("links cut between nodes {a:?} and nodes {b:?}"),
        }
        Ok(())
    })
}

fn run_shutdown(args: CoordinatorAddr) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let mut client = args.client().await?;
        match client.shutdown().await {
            Ok(()) => println!("cluster stopped"),
            // The coordinator itself stopped; some node did not hear it.
            Err(paxos::bridge::BridgeError::Refused(why)) => {
                anyhow::bail!("the coordinator stopped, but {why}")
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    })
}

fn run_defences() -> anyhow::Result<()> {
    use paxos::middleware::Defence;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<14} {:<17} what it does", "defence", "answers")?;
    for d in Defence::ALL {
        writeln!(out, "{:<14} {:<17} {}", d.name(), d.answers(), d.what())?;
    }
    writeln!(
        out,
        "\n--middleware runs them all. In classic mode --defences picks some \
         (e.g. --defences echo,stale); BFT mode takes all or none."
    )?;
    Ok(())
}

fn run_matrix(a: MatrixArgs) -> anyhow::Result<()> {
    let cfg = paxos::matrix::MatrixConfig {
        // Each size once, in the order given.
        nodes: a.nodes.iter().fold(Vec::new(), |mut sizes, &n| {
            if !sizes.contains(&(n as usize)) {
                sizes.push(n as usize);
            }
            sizes
        }),
        seeds: a.seeds,
        seed: a.seed,
        by_defence: a.by_defence,
    };
    let json = a.json;
    let m = paxos::matrix::run(&cfg, |done, total| {
        // Progress goes to stderr, so it is there under --json too.
        {
            eprint!("\rsimulated {done}/{total} rows");
            if done == total {
                eprintln!();
            }
        }
    })
    .context("the matrix could not run")?;
    print_json_or_text(json, &m, || {
        let mut text = Vec::new();
        // Writing into memory cannot fail.
        let _ = paxos::matrix::render(&m, &mut text);
        String::from_utf8_lossy(&text).into_owned()
    })
}

fn run_tour(a: TourArgs) -> anyhow::Result<()> {
    let tour = paxos::tour::run(a.attack, a.seed).context("the tour could not run")?;
    if a.json {
        return print_json_or_text(true, &tour, String::new);
    }
    let paint = paxos::term::Palette::for_stdout();
    // Pause only for a reader at a terminal; a pipe reads straight through.
    let pause = !a.no_pause && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let total = tour.legs.len();
    let mut stdout = std::io::stdout();
    for (i, leg) in tour.legs.iter().enumerate() {
        write!(
            stdout,
            "{}",
            paxos::tour::render_leg(leg, i + 1, total, &paint)
        )?;
        if pause {
            write!(stdout, "\n[Enter: next attack, q then Enter: the table] ")?;
            stdout.flush()?;
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line)? == 0 || line.trim() == "q" {
                break;
            }
        }
        writeln!(stdout)?;
    }
    write!(stdout, "{}", paxos::tour::render_table(&tour))?;
    Ok(())
}

fn run_sim(a: SimArgs) -> anyhow::Result<()> {
    let cmd = paxos::sim::Command {
        cfg: paxos::sim::SimConfig {
            nodes: a.nodes as usize,
            values: a.values as usize,
            loss: a.loss,
            dup: a.dup,
            crashes: a.crashes,
            partitions: a.partitions,
            attack: a.attack,
            attacker: a.attacker.unwrap_or(0),
            middleware: a.middleware,
            defences: a.defences,
            patience: a.patience,
            bft: a.mode.bft,
            faults: a.mode.faults,
            signatures: a.signatures,
            kv: a.kv.workload(),
            snapshot_every: a.kv.snapshot_every,
            ..Default::default()
        },
        seed: a.seed,
        seeds: a.seeds,
        replay: a.replay,
        json: a.json,
    };
    if let Some(path) = &a.trace {
        trace::check_path(path)?;
        let cfg = paxos::sim::SimConfig {
            chart: Some(
                a.trace_positions
                    .clone()
                    .unwrap_or(trace::DEFAULT_POSITIONS),
            ),
            ..cmd.cfg.clone()
        };
        cfg.validate()?;
        let outcome = paxos::sim::run(&cfg, a.seed);
        if let Some(chart) = outcome.chart {
            trace::write(&chart, path)?;
            eprintln!(
                "wrote the sequence chart ({} rows) to {}",
                chart.steps.len(),
                path.display()
            );
        }
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    paxos::sim::command(&cmd, &mut out, &mut err).context("the simulation could not run")
}

fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let cfg = DemoConfig {
        nodes: args.nodes as usize,
        values: args.values as usize,
        seed: args.seed,
        deadline: Duration::from_secs_f64(args.deadline),
        drop: args.drop,
        attack: args.attack,
        attacker: args.attacker.unwrap_or(0),
        middleware: args.middleware,
        defences: args.defences,
        max_prepares: args.max_prepares,
        bft: args.mode.bft,
        faults: args.mode.faults,
        snapshot_every: args.kv.snapshot_every,
        trace: args.trace.as_ref().map(|_| {
            args.trace_positions
                .clone()
                .unwrap_or(trace::DEFAULT_POSITIONS)
        }),
    };
    if let Some(path) = &args.trace {
        trace::check_path(path)?;
    }
    if let Some(w) = args.kv.workload() {
        if args.trace.is_some() {
            return Err(DemoError::KvChart.into());
        }
        let report = actix::System::new()
            .block_on(demo::kv::run(&cfg, &w))
            .context("the demo could not run")?;
        return print_json_or_text(args.json, &report, || report.render());
    }
    let report = actix::System::new()
        .block_on(demo::run(&cfg))
        .context("the demo could not run")?;
    if let (Some(path), Some(chart)) = (&args.trace, &report.trace) {
        trace::write(chart, path)?;
        eprintln!(
            "wrote the sequence chart ({} messages) to {}",
            chart.steps.len(),
            path.display()
        );
    }
    print_json_or_text(args.json, &report.summary, || {
        demo::render(&report, 60, &Palette::for_stdout())
    })
}

fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.workload == Workload::Kv {
        return run_kv_bench(args);
    }
    let cfg = paxos::bench::BenchConfig {
        nodes: args.nodes as usize,
        limit: paxos::bench::Limit::Time(Duration::from_secs_f64(args.seconds)),
        window: args.window as usize,
        batch: args.batch as usize,
        middleware: args.middleware,
        auth: args.auth.unwrap_or(args.middleware),
        transport: args.transport,
        seed: 42,
        threads: args.threads as usize,
        bft: args.bft,
        data_dir: args.data_dir,
        memory_mib: args.max_memory,
    };
    paxos::bench::validate(&cfg)?;
    if !args.json {
        // The run takes --seconds; say so rather than sit silent.
        eprintln!(
            "benchmarking {} for {} s (window {}, batch {})…",
            paxos::verdict::count(cfg.nodes, "node"),
            args.seconds,
            cfg.window,
            cfg.batch
        );
    }
    let system = actix::System::new();
    let report = system.block_on(until_interrupted(paxos::bench::run(&cfg)));
    if report.is_err() {
        // Interrupted: once every actor is gone, nothing writes there any
        // more and what the run made under --data-dir can go.
        drop(system);
        if let Some(dir) = &cfg.data_dir {
            paxos::bench::remove_leftovers(dir);
        }
    }
    let report = report?.context("the bench could not run")?;
    print_json_or_text(args.json, &report, || report.render())
}

/// Run `work` unless Ctrl-C comes first: then it is dropped, and with it
/// what it made (a bench's data directory), before the process exits.
async fn until_interrupted<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    use futures::future::{select, Either};
    let work = std::pin::pin!(work);
    // Polled first, so the handler is in place before any work starts.
    let stop = std::pin::pin!(actix_rt::signal::ctrl_c());
    match select(stop, work).await {
        Either::Right((done, _)) => Ok(done),
        Either::Left(_) => anyhow::bail!("interrupted; what the run wrote is removed"),
    }
}

fn run_explore(args: ExploreArgs) -> anyhow::Result<()> {
    use paxos::explore::{Query, Session};
    if let Some(q) = args.replay {
        let s = Session::from_query(&Query::decode_strict(&q)?)?;
        let view = s.view();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", view.render())?;
        for line in &view.trace {
            writeln!(out, "  {line}")?;
        }
        return Ok(());
    }
    let open = args.open;
    actix::System::new()
        .block_on(paxos::explore::server::serve(&args.listen, |url| {
            println!("paxos explore: open {url} in a browser (Ctrl-C stops the server)");
            if open {
                if let Err(e) = std::process::Command::new("xdg-open").arg(&url).spawn() {
                    eprintln!("could not open a browser ({e}): open {url} by hand");
                }
            }
        }))
        .with_context(|| format!("the explorer could not serve on {}", args.listen))
}
