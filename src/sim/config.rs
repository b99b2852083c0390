//! What to simulate: a [`SimConfig`] (the cluster, through
//! [`SimConfig::spec`], and the faults and client around it), and why one
//! cannot run ([`SimError`]).

use crate::attack::Attack;
use crate::cluster::{changed_flag, ClusterSpec, Defences, Tunables};
use crate::core::NodeId;

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub nodes: usize,
    /// Values the client asks for (`v0`, `v1`, …).
    pub values: usize,
    /// Probability of losing a packet while faults are on.
    pub loss: f64,
    /// Probability of duplicating a packet while faults are on.
    pub dup: f64,
    /// Longest network delay in ticks (the shortest is 1): reordering.
    pub max_delay: u64,
    /// Honest nodes crash and restart during the faulty period.
    pub crashes: bool,
    /// Partitions form and heal during the faulty period.
    pub partitions: bool,
    pub attack: Option<Attack>,
    pub attacker: NodeId,
    /// The middleware's defences on every node (signatures on).
    pub middleware: bool,
    /// Run only these defences (`--defences`); `None`: all of them with
    /// `middleware`, else none.
    pub defences: Option<Defences>,
    /// Length of the faulty period, in ticks.
    pub fault_ticks: u64,
    /// Ticks after the faults heal within which everything must commit.
    pub live_ticks: u64,
    /// Ticks the client waits for a value to commit before asking another
    /// node too (doubling per value, see [`crate::client`]); 0: never.
    pub patience: u64,
    /// BFT mode: quorums of 2f+1 signed votes, n >= 3f+1 (`--bft`).
    pub bft: bool,
    /// The f of BFT mode (`--faults`); by default the largest n allows.
    pub faults: Option<usize>,
    /// How many rounds above the highest round seen a ballot may climb
    /// before the ballot bound drops it (the middleware's tunable).
    pub max_jump: u64,
    /// Add a second copy of this node, with its key (a Twins test).
    pub twins: Option<NodeId>,
    /// Record the trace (for `--replay`; slower).
    pub trace: bool,
    /// Draw a sequence chart of the messages about these positions.
    pub chart: Option<std::ops::Range<crate::core::Pos>>,
    /// Modelled signatures (fast, the default) or real ed25519: the same
    /// seeds give the same outcomes with either (`tests/sim.rs`).
    pub signatures: crate::auth::Scheme,
    /// Clients doing KV operations instead of asking for `values`
    /// (`--workload kv`); their history is checked for linearizability.
    pub kv: Option<super::kv::KvWorkload>,
    /// Positions between two snapshots of a node's store (`--snapshot-every`).
    pub snapshot_every: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 3,
            values: 5,
            loss: 0.0,
            dup: 0.0,
            max_delay: 3,
            crashes: false,
            partitions: false,
            attack: None,
            attacker: 0,
            middleware: false,
            defences: None,
            fault_ticks: 300,
            live_ticks: 3000,
            patience: 200,
            bft: false,
            faults: None,
            max_jump: crate::middleware::ballot_bound::DEFAULT_MAX_JUMP,
            twins: None,
            trace: false,
            chart: None,
            signatures: crate::auth::Scheme::Modelled,
            kv: None,
            snapshot_every: crate::kv::SNAPSHOT_EVERY,
        }
    }
}

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("--{name} must be a probability between 0 and 1 (got {value})")]
    BadProbability { name: &'static str, value: f64 },
    #[error("--loss 1 loses every packet: nothing could ever commit")]
    TotalLoss,
    #[error("--seeds must be at least 1")]
    NoSeeds,
    #[error("seeds {start}..{start}+{count} run past the largest seed")]
    SeedOverflow { start: u64, count: u64 },
    #[error("a KV workload needs at least one client, one key and one operation per client")]
    EmptyWorkload,
    #[error("read-index trusts the leader, which BFT mode does not: with --bft, reads go through the log")]
    IndexReadsInBft,
    #[error("could not write the report: {0}")]
    Io(String),
}

impl SimError {
    /// The request itself was wrong (not the run): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, SimError::Io(_))
    }
}

impl SimConfig {
    /// The `paxos sim` flags that give this configuration (those that
    /// differ from the defaults), so a result names how to reproduce it.
    pub fn flags(&self) -> String {
        let d = SimConfig::default();
        let mut f = Vec::new();
        f.extend(changed_flag("nodes", self.nodes, d.nodes));
        f.extend(changed_flag("values", self.values, d.values));
        f.extend(changed_flag("loss", self.loss, d.loss));
        f.extend(changed_flag("dup", self.dup, d.dup));
        f.extend(changed_flag("patience", self.patience, d.patience));
        f.extend(changed_flag(
            "snapshot-every",
            self.snapshot_every,
            d.snapshot_every,
        ));
        f.extend(changed_flag("signatures", self.signatures, d.signatures));
        for (on, name) in [
            (self.crashes, "--crashes"),
            (self.partitions, "--partitions"),
        ] {
            if on {
                f.push(name.into());
            }
        }
        if let Some(kv) = &self.kv {
            let d = super::kv::KvWorkload::default();
            f.push("--workload kv".into());
            f.extend(changed_flag("clients", kv.clients, d.clients));
            f.extend(changed_flag("keys", kv.keys, d.keys));
            f.extend(changed_flag("ops", kv.ops, d.ops));
            f.extend(changed_flag("reads", kv.reads, d.reads));
        }
        f.extend(self.spec(0).flags());
        f.join(" ")
    }

    /// The cluster this simulates, with `seed` for its keys.
    pub fn spec(&self, seed: u64) -> ClusterSpec {
        let (n, attack, at) = (self.nodes, self.attack, self.attacker);
        ClusterSpec {
            seed,
            scheme: self.signatures,
            tunables: Tunables {
                max_jump: self.max_jump,
                snapshot_every: self.snapshot_every,
                ..Tunables::default()
            },
            defences: self
                .defences
                .clone()
                .unwrap_or_else(|| Defences::all_if(self.middleware)),
            ..ClusterSpec::lab(n, attack, at, self.middleware, self.bft, self.faults)
        }
    }

    /// Ticks after the heal within which everything must commit: at least
    /// `live_ticks`, and more for a workload too big to commit in that
    /// time when nothing goes wrong (3 ticks a value; 20 an operation of
    /// the KV clients, who wait for each answer and think between them).
    pub fn live_window(&self) -> u64 {
        let work = match &self.kv {
            Some(k) => (k.clients as u64)
                .saturating_mul(k.ops as u64)
                .saturating_mul(20),
            None => (self.values as u64).saturating_mul(3),
        };
        self.live_ticks.max(work)
    }

    pub fn validate(&self) -> Result<(), SimError> {
        self.spec(0).validate()?;
        for (name, value) in [("loss", self.loss), ("dup", self.dup)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimError::BadProbability { name, value });
            }
        }
        if self.loss >= 1.0 {
            return Err(SimError::TotalLoss);
        }
        if let Some(kv) = &self.kv {
            if kv.clients == 0 || kv.keys == 0 || kv.ops == 0 {
                return Err(SimError::EmptyWorkload);
            }
            if kv.reads == super::kv::ReadPath::Index && self.bft {
                return Err(SimError::IndexReadsInBft);
            }
        }
        Ok(())
    }
}
