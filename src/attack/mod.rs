//! The attackers: sans-IO state machines of the same shape as the honest
//! replica (they implement [`Process`]), so the same actor wraps either and
//! the simulator can drive them too.
//!
//! - [`Attack::Safety`] — the equivocating leader ([`safety::Equivocator`]).
//! - [`Attack::Liveness`] — the ballot climber ([`liveness::BallotClimber`]).
//! - [`Attack::BallotOverflow`] — the ballot exhauster
//!   ([`overflow::BallotOverflow`]).
//! - [`Attack::PrematureCommit`] — Commit before anyone accepted
//!   ([`premature_commit::PrematureCommit`]).
//! - [`Attack::Forgery`] — messages in another node's name
//!   ([`forgery::Forger`]).
//! - [`Attack::Replay`] — old messages again, re-bound
//!   ([`replay::Replayer`]).
//! - [`Attack::IgnorePrepared`] — the leader that ignores Prepared reports
//!   ([`ignore_prepared::IgnorePrepared`]).
//! - [`Attack::StalePrepared`] — the acceptor whose Prepared hides what it
//!   accepted ([`stale_prepared::StalePrepared`]).

pub mod forgery;
pub mod ignore_prepared;
pub mod liveness;
pub mod overflow;
pub mod premature_commit;
pub mod replay;
pub mod safety;
pub mod stale_prepared;

use crate::core::{Config, NodeId, Process, Replica, Value};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The attacks `--attack` accepts (case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attack {
    /// Propose one value to half the nodes and another to the other half.
    Safety,
    /// Answer every Prepare with a higher Prepare, and never propose.
    Liveness,
    /// Prepare with the largest round (and huge jumps), ignore the answers.
    BallotOverflow,
    /// Commit before a quorum accepted, two values to two halves.
    PrematureCommit,
    /// Commit a value of its own in an honest leader's name.
    Forgery,
    /// Re-send recorded Commits, as they were and re-bound to new positions.
    Replay,
    /// Lead a position already decided and propose its own value there,
    /// ignoring the values the Prepared quorum reported.
    IgnorePrepared,
    /// Accept honestly, but report nothing accepted in Prepared.
    StalePrepared,
}

/// `--attack` got a name it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown attack '{0}' (expected SAFETY, LIVENESS, BALLOT_OVERFLOW, IGNORE_PREPARED, STALE_PREPARED, PREMATURE_COMMIT, FORGERY or REPLAY)")]
pub struct UnknownAttack(pub String);

impl FromStr for Attack {
    type Err = UnknownAttack;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "SAFETY" => Ok(Attack::Safety),
            "LIVENESS" => Ok(Attack::Liveness),
            "BALLOT_OVERFLOW" => Ok(Attack::BallotOverflow),
            "PREMATURE_COMMIT" => Ok(Attack::PrematureCommit),
            "FORGERY" => Ok(Attack::Forgery),
            "REPLAY" => Ok(Attack::Replay),
            "IGNORE_PREPARED" => Ok(Attack::IgnorePrepared),
            "STALE_PREPARED" => Ok(Attack::StalePrepared),
            _ => Err(UnknownAttack(s.to_string())),
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attack::Safety => "SAFETY",
            Attack::Liveness => "LIVENESS",
            Attack::BallotOverflow => "BALLOT_OVERFLOW",
            Attack::PrematureCommit => "PREMATURE_COMMIT",
            Attack::Forgery => "FORGERY",
            Attack::Replay => "REPLAY",
            Attack::IgnorePrepared => "IGNORE_PREPARED",
            Attack::StalePrepared => "STALE_PREPARED",
        })
    }
}

impl Attack {
    /// Every attack, in the order `paxos matrix` lists them.
    pub const ALL: [Attack; 8] = [
        Attack::Safety,
        Attack::Liveness,
        Attack::BallotOverflow,
        Attack::IgnorePrepared,
        Attack::StalePrepared,
        Attack::PrematureCommit,
        Attack::Forgery,
        Attack::Replay,
    ];

    /// What the attacker does, in a line a learner reads first.
    pub fn what(self) -> &'static str {
        match self {
            Attack::Safety => "as leader it proposes one value to half the nodes and another to the other half",
            Attack::Liveness => "it answers every Prepare at once with a higher Prepare and never proposes, so no round finishes",
            Attack::BallotOverflow => "it prepares with the largest possible round, so honest ballots run out",
            Attack::PrematureCommit => "it sends Commit before anyone accepted, one value to one half and another to the other",
            Attack::Forgery => "it sends Commits of its own value in an honest leader's name",
            Attack::Replay => "it re-sends Commits it recorded, as they were and re-bound to new positions",
            Attack::IgnorePrepared => "as leader of a position already decided it proposes its own value, ignoring what the Prepared quorum reported",
            Attack::StalePrepared => "it accepts honestly but reports nothing accepted in its Prepared, hiding a decided value",
        }
    }

    /// The attack's name in prose: `safety`, `premature commit`.
    pub fn label(self) -> String {
        self.to_string().to_ascii_lowercase().replace('_', " ")
    }

    /// Whether the client should ask the attacker to propagate values (the
    /// brief's demo asks the SAFETY attacker, and avoids the LIVENESS one;
    /// the BALLOT_OVERFLOW attacker never proposes either). The
    /// IGNORE_PREPARED attacker needs values to propose over the reports;
    /// the STALE_PREPARED one is an acceptor only.
    pub fn takes_requests(self) -> bool {
        matches!(
            self,
            Attack::Safety | Attack::PrematureCommit | Attack::IgnorePrepared
        )
    }

    /// Whether packet signatures alone are this attack's defence (FORGERY,
    /// REPLAY): the demo, which otherwise signs with the middleware off
    /// too, runs these unsigned when undefended, as the simulator does.
    pub fn defeated_by_signatures(self) -> bool {
        matches!(self, Attack::Forgery | Attack::Replay)
    }

    /// Whether the attacker's shield must record the signed packets it
    /// receives (the REPLAY attacker re-sends them).
    pub fn records_packets(self) -> bool {
        matches!(self, Attack::Replay)
    }

    /// Whether the attack needs the honest nodes split in two halves that
    /// reach the attacker but not each other (a broken link) to bite
    /// reliably: a value chosen on one side with the attacker's help is
    /// then unknown on the other. See [`ignore_prepared`] and
    /// [`stale_prepared`].
    pub fn splits_honest_nodes(self) -> bool {
        matches!(self, Attack::IgnorePrepared | Attack::StalePrepared)
    }
}

/// An attacker's own value made from the client's `value`, marked with the
/// attack's name (`v3 (safety attack)`, `v0 (forgery attack)`) so the
/// damage is visible in every log and picture.
pub fn mark(value: &Value, attack: Attack) -> Value {
    Value::one(format!("{value} ({} attack)", attack.label()))
}

/// The client's value an attacker's value was made from (`None` if `value`
/// carries no attack's mark).
pub fn original(value: &Value) -> Option<Value> {
    let v = value.single()?;
    Attack::ALL.iter().find_map(|a| {
        v.strip_suffix(&format!(" ({} attack)", a.label()))
            .map(Value::from)
    })
}

/// The participant for node `id`: an attacker if `attack` says so, else an
/// honest replica.
pub fn participant(id: NodeId, cfg: Config, attack: Option<Attack>) -> Box<dyn Process> {
    match attack {
        None => Box::new(Replica::new(id, cfg)),
        Some(Attack::Safety) => Box::new(safety::Equivocator::new(id, &cfg)),
        Some(Attack::Liveness) => Box::new(liveness::BallotClimber::new(id)),
        Some(Attack::BallotOverflow) => Box::new(overflow::BallotOverflow::new(id)),
        Some(Attack::PrematureCommit) => {
            Box::new(premature_commit::PrematureCommit::new(id, cfg.n))
        }
        Some(Attack::Forgery) => Box::new(forgery::Forger::new(id, cfg)),
        Some(Attack::Replay) => Box::new(replay::Replayer::new(id, cfg)),
        Some(Attack::IgnorePrepared) => Box::new(ignore_prepared::IgnorePrepared::new(id, cfg)),
        Some(Attack::StalePrepared) => Box::new(stale_prepared::StalePrepared::new(id, cfg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attack_marks_its_values_with_its_own_name() {
        let v = Value::one("v3");
        assert_eq!(mark(&v, Attack::Safety), Value::one("v3 (safety attack)"));
        assert_eq!(
            mark(&v, Attack::PrematureCommit),
            Value::one("v3 (premature commit attack)")
        );
        for a in Attack::ALL {
            assert_eq!(original(&mark(&v, a)), Some(v.clone()), "{a}");
        }
        assert_eq!(original(&v), None);
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("safety".parse(), Ok(Attack::Safety));
        assert_eq!("LIVENESS".parse(), Ok(Attack::Liveness));
        assert_eq!("Liveness".parse(), Ok(Attack::Liveness));
        assert_eq!("ballot_overflow".parse(), Ok(Attack::BallotOverflow));
        assert_eq!(Attack::BallotOverflow.to_string(), "BALLOT_OVERFLOW");
        assert!(!Attack::BallotOverflow.takes_requests());
        assert_eq!("ignore_prepared".parse(), Ok(Attack::IgnorePrepared));
        assert_eq!("Stale_Prepared".parse(), Ok(Attack::StalePrepared));
        assert_eq!(Attack::IgnorePrepared.to_string(), "IGNORE_PREPARED");
        assert_eq!(Attack::StalePrepared.to_string(), "STALE_PREPARED");
        assert!(Attack::IgnorePrepared.takes_requests());
        assert!(!Attack::StalePrepared.takes_requests());
        assert!("chaos".parse::<Attack>().is_err());
        for (name, a) in [
            ("premature_commit", Attack::PrematureCommit),
            ("Forgery", Attack::Forgery),
            ("REPLAY", Attack::Replay),
        ] {
            assert_eq!(name.parse(), Ok(a));
            assert_eq!(a.to_string(), name.to_ascii_uppercase());
        }
        assert!(Attack::PrematureCommit.takes_requests());
        assert!(!Attack::Forgery.takes_requests() && !Attack::Replay.takes_requests());
    }
}
