//! The cluster spec: what a cluster is, decided once for every runtime.
//!
//! A [`ClusterSpec`] says how many nodes there are, which mode they run
//! (classic majority quorums or BFT), which node attacks and how, which
//! defences the middleware runs, whether packets are signed, the seed, and
//! the tunables. [`ClusterSpec::validate`] checks it once, with one error
//! type; then [`ClusterSpec::member`] gives node `i` its process (an honest
//! replica or an attacker), its shield and its role, and
//! [`ClusterSpec::rebuild`] gives a restarted node the same from exactly
//! what its data directory keeps ([`Saved`]).
//!
//! This is the only place that decides who signs ([`ClusterSpec::signs`]),
//! which quorum applies (through [`crate::core::mode_config`]) and how a
//! shield is configured ([`ClusterSpec::shield_config`]). The demo, the
//! bench, the simulator and a TCP node all build their members here, so a
//! figure measured in one carries over to the others.

use crate::attack::{self, Attack};
use crate::auth::Identity;
use crate::core::{self, BftError, Config, NodeId, Process, Replica};
use crate::middleware::{ballot_bound, Shield, ShieldConfig, ShieldDurable};
use std::collections::BTreeSet;

/// Classic Paxos or BFT mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Majority quorums, n = 2f+1: safe under crashes; against a Byzantine
    /// node the middleware mostly detects.
    #[default]
    Classic,
    /// Quorums of ceil((n+f+1)/2) signed votes, n >= 3f+1; `f` defaults to
    /// the largest the cluster's size allows.
    Bft { f: Option<usize> },
}

impl Mode {
    /// The mode the `--bft [--faults F]` flags ask for.
    pub fn from_flags(bft: bool, faults: Option<usize>) -> Mode {
        if bft {
            Mode::Bft { f: faults }
        } else {
            Mode::Classic
        }
    }

    pub fn is_bft(self) -> bool {
        matches!(self, Mode::Bft { .. })
    }
}

pub use crate::middleware::Defence;

/// The defences in force: a set. `--middleware` is all of them; in classic
/// mode `--defences LIST` picks some, so a learner sees which one stops
/// which attack. BFT mode takes all or none ([`ClusterSpec::validate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defences(BTreeSet<Defence>);

impl Defences {
    /// Exactly these.
    pub fn of(defences: impl IntoIterator<Item = Defence>) -> Self {
        Defences(defences.into_iter().collect())
    }

    /// Every defence but `d`.
    pub fn all_but(d: Defence) -> Self {
        Defences::of(Defence::ALL.into_iter().filter(|x| *x != d))
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == Defence::ALL.len()
    }

    /// How a header says it: `on`, `off`, or `only echo,stale`.
    pub fn label(&self) -> String {
        match (self.is_empty(), self.is_all()) {
            (true, _) => "off".into(),
            (_, true) => "on".into(),
            _ => format!("only {self}"),
        }
    }

    /// No defence: the middleware only signs and verifies (if signing).
    pub fn none() -> Self {
        Defences(BTreeSet::new())
    }

    /// Every defence (`--middleware`).
    pub fn all() -> Self {
        Defences(Defence::ALL.into_iter().collect())
    }

    /// `all()` if `on`, else `none()`: what the `--middleware` flag means.
    pub fn all_if(on: bool) -> Self {
        if on {
            Defences::all()
        } else {
            Defences::none()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, d: Defence) -> bool {
        self.0.contains(&d)
    }

    pub fn iter(&self) -> impl Iterator<Item = Defence> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Display for Defences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.is_empty(), self.is_all()) {
            (true, _) => f.write_str("none"),
            (_, true) => f.write_str("all"),
            _ => {
                let names: Vec<&str> = self.iter().map(Defence::name).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

impl std::str::FromStr for Defences {
    type Err = crate::middleware::UnknownDefence;
    /// `echo,stale`, or `all`, or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "all" => Ok(Defences::all()),
            "none" | "" => Ok(Defences::none()),
            list => list
                .split(',')
                .map(str::parse)
                .collect::<Result<BTreeSet<_>, _>>()
                .map(Defences),
        }
    }
}

/// `--name value` if `value` is not the default's, for a report's flags.
pub fn changed_flag(name: &str, value: impl ToString, default: impl ToString) -> Option<String> {
    let (v, d) = (value.to_string(), default.to_string());
    (v != d).then(|| format!("--{name} {v}"))
}

/// Whether packets carry signatures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signing {
    /// Exactly when the defences need them (they are transferable
    /// evidence): an undefended run shows what an attack does unsigned.
    #[default]
    WithDefences,
    /// Always: every packet signed and verified, defences or not (with
    /// the defences, a justified Propose or certified Commit that holds
    /// needs no packet signature: see [`crate::wire::Body::vouches_for_itself`]).
    Always,
    /// Never (refused with defences, which cannot work without them).
    Never,
}

/// Knobs every runtime shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunables {
    /// Positions a leader keeps in flight.
    pub window: usize,
    /// Client values one position carries.
    pub batch: usize,
    /// Strikes at one position before a node is ignored (the Prepare limit).
    pub max_prepares: u32,
    /// How many rounds above the highest round seen a ballot may climb (the
    /// ballot bound).
    pub max_jump: u64,
    /// Positions between two snapshots of a node's key-value store, each of
    /// which replaces the log below it (0: never). Only a node that applies
    /// its log to a store compacts: a plain log is the state itself.
    pub snapshot_every: u64,
}

impl Default for Tunables {
    fn default() -> Self {
        let core = Config::new(1);
        Tunables {
            window: core.window,
            // The lab commits one client value per position, so every value
            // has a position of its own in verdicts, traces and pictures;
            // `--batch` lets a leader fold queued values (the core's default).
            batch: 1,
            max_prepares: 3,
            max_jump: ballot_bound::DEFAULT_MAX_JUMP,
            snapshot_every: crate::kv::SNAPSHOT_EVERY,
        }
    }
}

/// A cluster, as every runtime builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    pub nodes: usize,
    pub mode: Mode,
    /// The attack and the node that runs it.
    pub attack: Option<(Attack, NodeId)>,
    pub defences: Defences,
    pub signing: Signing,
    /// Real ed25519, or the simulator's modelled signatures.
    pub scheme: crate::auth::Scheme,
    /// Seeds the nodes' keys in one process ([`ClusterSpec::identity`]) and
    /// every random choice a runtime makes.
    pub seed: u64,
    pub tunables: Tunables,
}

impl Default for ClusterSpec {
    /// Three honest classic nodes, no defences, seed 42.
    fn default() -> Self {
        ClusterSpec {
            nodes: 3,
            mode: Mode::Classic,
            attack: None,
            defences: Defences::none(),
            signing: Signing::WithDefences,
            scheme: crate::auth::Scheme::Ed25519,
            seed: 42,
            tunables: Tunables::default(),
        }
    }
}

/// Why a cluster cannot be built as specified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("a cluster needs at least 1 node (got {0})")]
    NoNodes(usize),
    #[error("the attacker, node {attacker}, is not a node of this cluster (its nodes are 0 to {})", .nodes - 1)]
    BadAttacker { attacker: NodeId, nodes: usize },
    #[error("the {0} attacker would be the only node: there is no honest node to ask for values")]
    NoHonestNode(Attack),
    #[error("the Prepare limit must allow at least 1 strike")]
    NoStrikes,
    #[error("a leader needs at least 1 position in flight and 1 value per position")]
    EmptyWindow,
    #[error("the middleware needs signatures for its defences, and signing is off")]
    DefencesNeedSignatures,
    #[error("BFT mode's defences work as one (its quorums need every proof): all of them (--middleware) or none, not {0}")]
    PartialBft(Defences),
    #[error(transparent)]
    Bft(#[from] BftError),
}

/// What a member of the cluster is, for verdicts (only honest logs count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Honest,
    Attacker(Attack),
}

/// One node of the cluster, ready to run: its process behind its shield.
pub struct Member {
    pub role: Role,
    pub process: Box<dyn Process>,
    pub shield: Shield,
}

/// What a node rebuilds itself from after a restart: exactly what its data
/// directory keeps (the core's writes, and the middleware's proofs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    pub core: core::Durable,
    pub proofs: ShieldDurable,
}

impl Saved {
    /// Entries it holds: log positions, acceptor slots and proofs (the
    /// snapshot aside), what compaction keeps bounded.
    pub fn kept(&self) -> usize {
        let p = &self.proofs;
        self.core.log.len()
            + self.core.acceptor.len()
            + p.certificates.len()
            + p.accepted.len()
            + p.prepared.len()
    }
}

impl ClusterSpec {
    /// The cluster the lab's flags describe (`--nodes`, `--attack` with
    /// `--attacker`, `--middleware`, `--bft` with `--faults`), signed
    /// exactly when defended so that an undefended run shows what each
    /// attack does; seed 42 and the default tunables.
    pub fn lab(
        nodes: usize,
        attack: Option<Attack>,
        attacker: NodeId,
        middleware: bool,
        bft: bool,
        faults: Option<usize>,
    ) -> ClusterSpec {
        ClusterSpec {
            nodes,
            mode: Mode::from_flags(bft, faults),
            attack: attack.map(|a| (a, attacker)),
            defences: Defences::all_if(middleware),
            ..ClusterSpec::default()
        }
    }

    /// The command-line flags that ask for this spec's attack, defences and
    /// mode (the ones `demo`, `sim` and `node` share), for a report that
    /// says how to run it again.
    pub fn flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if let Some((a, at)) = self.attack {
            f.push(format!("--attack {a}"));
            if at != 0 {
                f.push(format!("--attacker {at}"));
            }
        }
        if self.defences.is_all() {
            f.push("--middleware".into());
        } else if !self.defences.is_empty() {
            f.push(format!("--defences {}", self.defences));
        }
        if let Mode::Bft { f: faults } = self.mode {
            f.push("--bft".into());
            if let Some(k) = faults {
                f.push(format!("--faults {k}"));
            }
        }
        f
    }

    /// Check the spec once; every other method assumes it passed.
    pub fn validate(&self) -> Result<(), ClusterError> {
        if self.nodes == 0 {
            return Err(ClusterError::NoNodes(self.nodes));
        }
        if let Some((attack, attacker)) = self.attack {
            if attacker as usize >= self.nodes {
                return Err(ClusterError::BadAttacker {
                    attacker,
                    nodes: self.nodes,
                });
            }
            if self.nodes == 1 {
                return Err(ClusterError::NoHonestNode(attack));
            }
        }
        if self.tunables.max_prepares == 0 {
            return Err(ClusterError::NoStrikes);
        }
        if self.tunables.window == 0 || self.tunables.batch == 0 {
            return Err(ClusterError::EmptyWindow);
        }
        if self.signing == Signing::Never && !self.defences.is_empty() {
            return Err(ClusterError::DefencesNeedSignatures);
        }
        if self.mode.is_bft() && !self.defences.is_empty() && !self.defences.is_all() {
            return Err(ClusterError::PartialBft(self.defences.clone()));
        }
        self.mode_config()?;
        Ok(())
    }

    fn mode_config(&self) -> Result<Config, BftError> {
        match self.mode {
            Mode::Classic => core::mode_config(self.nodes, false, None),
            Mode::Bft { f } => core::mode_config(self.nodes, true, f),
        }
    }

    /// The one signing decision: whether this cluster's packets are signed.
    pub fn signs(&self) -> bool {
        match self.signing {
            Signing::Always => true,
            Signing::Never => false,
            Signing::WithDefences => !self.defences.is_empty(),
        }
    }

    /// The core's configuration: the mode's quorum, and the tunables.
    /// (A spec that failed [`ClusterSpec::validate`] gets classic mode.)
    pub fn core_config(&self) -> Config {
        Config {
            window: self.tunables.window,
            batch: self.tunables.batch,
            ..self
                .mode_config()
                .unwrap_or_else(|_| Config::new(self.nodes))
        }
    }

    /// The node that attacks, if any.
    pub fn attacker(&self) -> Option<NodeId> {
        self.attack.map(|(_, id)| id)
    }

    /// Node `id`'s role.
    pub fn role(&self, id: NodeId) -> Role {
        match self.attack {
            Some((attack, at)) if at == id => Role::Attacker(attack),
            _ => Role::Honest,
        }
    }

    /// The nodes that do not attack.
    pub fn honest(&self) -> BTreeSet<NodeId> {
        (0..self.nodes as NodeId)
            .filter(|&id| self.role(id) == Role::Honest)
            .collect()
    }

    /// The honest nodes in two halves (the first one larger), or `None`
    /// with fewer than two honest nodes: the split scenario of the attacks
    /// that need honest nodes that reach the attacker but not each other
    /// ([`Attack::splits_honest_nodes`]).
    pub fn honest_halves(&self) -> Option<(BTreeSet<NodeId>, BTreeSet<NodeId>)> {
        let honest: Vec<NodeId> = self.honest().into_iter().collect();
        if honest.len() < 2 {
            return None;
        }
        let mid = honest.len().div_ceil(2);
        Some((
            honest[..mid].iter().copied().collect(),
            honest[mid..].iter().copied().collect(),
        ))
    }

    /// Node `id`'s key when the whole cluster runs in one process (demo,
    /// bench, simulator): derived from the seed, so a run replays.
    pub fn identity(&self, id: NodeId) -> Identity {
        Identity::for_scheme(self.scheme, self.seed, id)
    }

    /// The one shield configuration: how node `id`'s middleware behaves.
    pub fn shield_config(&self, id: NodeId) -> ShieldConfig {
        let core = self.core_config();
        ShieldConfig {
            max_prepares: self.tunables.max_prepares,
            grace_ticks: core.grace_ticks,
            max_jump: self.tunables.max_jump,
            quorum: core.quorum,
            bft: self.mode.is_bft(),
            record: matches!(self.role(id), Role::Attacker(a) if a.records_packets()),
            implicit_leader: !core.loopback,
            defences: self.defences.0.clone(),
            ..ShieldConfig::new(self.nodes, !self.defences.is_empty())
        }
    }

    /// Node `id`'s shield, signing with `identity()` if the cluster signs
    /// (a key is derived only then: it costs a scalar multiplication).
    pub fn shield(&self, id: NodeId, identity: impl FnOnce() -> Identity) -> Shield {
        Shield::new(id, self.shield_config(id), self.signs().then(identity))
    }

    /// Node `id` as it starts with no state: its process, its shield (with
    /// `identity()` as its key, if it signs) and its role.
    pub fn member(&self, id: NodeId, identity: impl FnOnce() -> Identity) -> Member {
        let role = self.role(id);
        let attack = match role {
            Role::Attacker(a) => Some(a),
            Role::Honest => None,
        };
        Member {
            role,
            process: attack::participant(id, self.core_config(), attack),
            shield: self.shield(id, identity),
        }
    }

    /// Node `id` rebuilt after a restart from what it kept: the one function
    /// a node process (from its data directory) and the simulator (from
    /// what it modelled as persisted) both restart through. An honest
    /// replica restores its promises, accepted values and log; the shield
    /// restores its proofs, and its ballot bound starts from the highest
    /// round the node itself promised (a restarted node must not take the
    /// cluster's rounds for an attack). An attacker starts afresh.
    pub fn rebuild(&self, id: NodeId, identity: impl FnOnce() -> Identity, saved: Saved) -> Member {
        let mut m = self.member(id, identity);
        if m.role == Role::Honest {
            let round = saved.core.max_round();
            m.process = Box::new(Replica::restore(id, self.core_config(), saved.core));
            m.shield.restore(saved.proofs, round);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_spec_is_refused_once_with_words_about_the_cluster() {
        let ok = ClusterSpec::default();
        assert_eq!(ok.validate(), Ok(()));
        for (spec, says) in [
            (
                ClusterSpec {
                    nodes: 0,
                    ..ok.clone()
                },
                "at least 1 node",
            ),
            (
                ClusterSpec {
                    attack: Some((Attack::Safety, 3)),
                    ..ok.clone()
                },
                "nodes are 0 to 2",
            ),
            (
                ClusterSpec {
                    nodes: 1,
                    attack: Some((Attack::Liveness, 0)),
                    ..ok.clone()
                },
                "no honest node",
            ),
            (
                ClusterSpec {
                    mode: Mode::Bft { f: None },
                    ..ok.clone()
                },
                "3f+1 = 4",
            ),
            (
                ClusterSpec {
                    defences: Defences::all(),
                    signing: Signing::Never,
                    ..ok.clone()
                },
                "needs signatures",
            ),
        ] {
            let err = spec.validate().expect_err(says).to_string();
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("--"), "about the cluster, not flags: {err}");
        }
    }

    #[test]
    fn signing_follows_the_defences_unless_said_otherwise() {
        let mut spec = ClusterSpec::default();
        assert!(!spec.signs());
        spec.defences = Defences::all();
        assert!(spec.signs());
        spec.defences = Defences::none();
        spec.signing = Signing::Always;
        assert!(spec.signs());
        spec.signing = Signing::Never;
        assert!(!spec.signs());
    }

    #[test]
    fn each_member_gets_its_role_and_quorum() {
        let spec = ClusterSpec {
            nodes: 4,
            mode: Mode::Bft { f: None },
            attack: Some((Attack::Replay, 2)),
            defences: Defences::all(),
            ..ClusterSpec::default()
        };
        spec.validate().unwrap();
        assert_eq!(spec.role(2), Role::Attacker(Attack::Replay));
        assert_eq!(spec.honest(), [0, 1, 3].into_iter().collect());
        let (attacker, honest) = (spec.shield_config(2), spec.shield_config(0));
        assert!(attacker.record && !honest.record);
        assert_eq!(honest.quorum, 3);
        assert!(honest.bft && honest.defend && !honest.implicit_leader);
        assert_eq!(spec.core_config().quorum, 3);
    }
}
