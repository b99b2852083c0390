//! The middleware's defences by name: each one answers one attack, and in
//! classic mode each can be switched on alone (`--defences echo,stale`), so
//! a learner sees which defence stops which attack. BFT mode's defences
//! work as one (its quorums need every proof), so it takes all or none.

use std::fmt;
use std::str::FromStr;

/// One of the middleware's defences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defence {
    /// Echo every Propose; two signed Proposes for one slot convict (SAFETY).
    Echo,
    /// A Commit is applied only with a quorum of signed Accepts
    /// (PREMATURE_COMMIT).
    Certificates,
    /// Ignore a node that keeps cutting off fresh promises (LIVENESS).
    PrepareLimit,
    /// A ballot may climb only a bounded step (BALLOT_OVERFLOW).
    BallotBound,
    /// A Propose carries the Prepared quorum its value comes from
    /// (IGNORE_PREPARED).
    Justify,
    /// A signed Accept beside a Prepared that hides it (STALE_PREPARED).
    Stale,
    /// A packet signed by one node claiming another sender (FORGERY).
    Forgery,
}

impl Defence {
    pub const ALL: [Defence; 7] = [
        Defence::Echo,
        Defence::Certificates,
        Defence::PrepareLimit,
        Defence::BallotBound,
        Defence::Justify,
        Defence::Stale,
        Defence::Forgery,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Defence::Echo => "echo",
            Defence::Certificates => "certificates",
            Defence::PrepareLimit => "prepare-limit",
            Defence::BallotBound => "ballot-bound",
            Defence::Justify => "justify",
            Defence::Stale => "stale",
            Defence::Forgery => "forgery",
        }
    }

    /// The attack it answers, by the name `--attack` takes.
    pub fn answers(self) -> &'static str {
        match self {
            Defence::Echo => "SAFETY",
            Defence::Certificates => "PREMATURE_COMMIT",
            Defence::PrepareLimit => "LIVENESS",
            Defence::BallotBound => "BALLOT_OVERFLOW",
            Defence::Justify => "IGNORE_PREPARED",
            Defence::Stale => "STALE_PREPARED",
            Defence::Forgery => "FORGERY",
        }
    }

    /// What it does, in a line.
    pub fn what(self) -> &'static str {
        match self {
            Defence::Echo => "every node echoes each Propose it gets; two signed Proposes for one position and ballot convict the leader",
            Defence::Certificates => "a Commit counts only with a quorum of signed Accepts for its value",
            Defence::PrepareLimit => "a node whose Prepares keep cutting off fresh promises is ignored",
            Defence::BallotBound => "a ballot may climb only a bounded step above what was seen",
            Defence::Justify => "a Propose carries the signed Prepared quorum its value must come from",
            Defence::Stale => "a signed Accept beside a signed Prepared that hides it convicts the acceptor",
            Defence::Forgery => "a packet that verifies under another node's key convicts that key's owner",
        }
    }
}

impl fmt::Display for Defence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name `--defences` does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a defence (the defences: {names})", names = Defence::ALL.map(Defence::name).join(", "))]
pub struct UnknownDefence(pub String);

impl FromStr for Defence {
    type Err = UnknownDefence;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Defence::ALL
            .into_iter()
            .find(|d| d.name() == wanted)
            .ok_or_else(|| UnknownDefence(s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_say_what_exists() {
        for d in Defence::ALL {
            assert_eq!(d.name().parse(), Ok(d));
        }
        assert_eq!("Prepare_Limit".parse(), Ok(Defence::PrepareLimit));
        let e = "moat".parse::<Defence>().unwrap_err().to_string();
        assert!(
            e.contains("'moat' is not a defence") && e.contains("ballot-bound"),
            "{e}"
        );
    }
}
