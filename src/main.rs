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
    }
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
