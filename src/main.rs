//! The `paxos` command line: a thin layer that parses flags (clap), sets up
//! logging (env_logger, `RUST_LOG`) and calls into the library.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use paxos::attack::Attack;
use paxos::demo::{self, DemoConfig};
use std::io::Write as _;
use std::time::Duration;

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
    /// Run a whole cluster in one process, propose values, and report what happened.
    ///
    /// Examples:
    ///   paxos demo --nodes 5 --values 20 --json
    ///   paxos demo --attack SAFETY                 # honest nodes commit different values
    ///   paxos demo --attack SAFETY --middleware    # the echo exposes the leader
    ///   paxos demo --attack LIVENESS --attacker 2  # nothing commits
    ///   paxos demo --attack LIVENESS --middleware  # the climber is ignored, values commit
    Demo(DemoArgs),
    /// Simulate the cluster deterministically over many seeds, checking
    /// agreement, validity, stability and liveness (see README).
    ///
    /// Examples:
    ///   paxos sim --seeds 1000 --loss 0.2 --dup 0.1 --crashes --partitions
    ///   paxos sim --seeds 100 --attack SAFETY          # finds a violation and its seed
    ///   paxos sim --seed 7 --replay --attack SAFETY    # that run, step by step
    Sim(SimArgs),
}

#[derive(Args)]
struct SimArgs {
    /// How many seeds to run: SEED, SEED+1, …
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed (with --replay: the one to replay).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the run of --seed step by step (use the same flags as the search).
    #[arg(long)]
    replay: bool,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Number of values the client asks for.
    #[arg(long, default_value_t = 5)]
    values: usize,
    /// Probability of losing a packet during the faulty period, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability of duplicating a packet during the faulty period, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Crash and restart honest nodes during the faulty period.
    #[arg(long)]
    crashes: bool,
    /// Form and heal partitions during the faulty period.
    #[arg(long)]
    partitions: bool,
    /// SAFETY or LIVENESS (case-insensitive).
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// Which node attacks.
    #[arg(long, default_value_t = 0, value_name = "ID")]
    attacker: u32,
    /// The middleware's defences on every node (also --enable-middleware).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// Print one JSON object on stdout (no progress on stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Number of nodes (numbered 0..N-1).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: u32,
    /// Number of values the coordinator asks the cluster to commit (v0, v1, …).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    values: u32,
    /// Seed for every random choice (retry jitter, message loss): a run replays from it.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds to wait for every value to commit before giving the verdict.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    deadline: f64,
    /// Fraction of messages the in-process network loses, 0 to 1 (e.g. 0.2).
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    drop: f64,
    /// Make one node an attacker: SAFETY (equivocating leader) or LIVENESS
    /// (ballot climber). Case-insensitive.
    #[arg(long, value_name = "NAME")]
    attack: Option<Attack>,
    /// Which node attacks (nodes are numbered 0..N-1).
    #[arg(long, default_value_t = 0, value_name = "I")]
    attacker: u32,
    /// Switch the middleware's defences on, on every node (the seed spelled it
    /// --enable-middleware, which works too).
    #[arg(long, alias = "enable-middleware")]
    middleware: bool,
    /// With the middleware on: a node that cuts off another proposer's fresh
    /// promise this many times at one position is ignored.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_prepares: u32,
    /// Print one JSON object on stdout instead of the human-readable report.
    #[arg(long)]
    json: bool,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    match cli.command {
        Command::Demo(args) => run_demo(args),
        Command::Sim(args) => run_sim(args),
    }
}

fn run_sim(a: SimArgs) -> anyhow::Result<()> {
    let cmd = paxos::sim::Command {
        cfg: paxos::sim::SimConfig {
            nodes: a.nodes,
            values: a.values,
            loss: a.loss,
            dup: a.dup,
            crashes: a.crashes,
            partitions: a.partitions,
            attack: a.attack,
            attacker: a.attacker,
            middleware: a.middleware,
            ..Default::default()
        },
        seed: a.seed,
        seeds: a.seeds,
        replay: a.replay,
        json: a.json,
    };
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
        attacker: args.attacker,
        middleware: args.middleware,
        max_prepares: args.max_prepares,
    };
    let report = actix::System::new()
        .block_on(demo::run(&cfg))
        .context("the demo could not run")?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &report.summary)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", demo::render(&report, 60))?;
    }
    Ok(())
}
