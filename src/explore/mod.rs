//! `paxos explore`: a web page where a learner drives a simulated cluster
//! under attack by hand — delivers, drops, duplicates or delays one message
//! at a time, crashes nodes, cuts links, switches defences — and watches the
//! invariants hold or break.
//!
//! A run is a [`Setup`] (nodes, mode, attack, attacker, defences, seed) plus
//! the list of [`Action`]s taken. Nothing else is kept: the server replays
//! the actions on a fresh [`World`](crate::sim::World) — the simulator's own
//! world, with the very nodes and shields `paxos sim` and the processes run —
//! for every request, so a URL *is* the state, and "back" is the same list
//! one action shorter.
//!
//! - [`session`]: a setup and its actions replayed, and what the page shows
//!   of it ([`session::View`]);
//! - [`lessons`]: ready runs, one per attack with its defence off and on,
//!   opened at the moment worth watching;
//! - [`server`]: the actix-web server and the page it embeds;
//! - [`live`]: live mode, the node panels of a real multi-process cluster
//!   watched through its coordinator (`paxos coordinator --web ADDR`).

pub mod lessons;
pub mod live;
pub mod server;
pub mod session;

use crate::attack::{Attack, UnknownAttack};
use crate::cluster::Defences;
use crate::core::{NodeId, Value};
use std::fmt;
use std::str::FromStr;

pub use session::{Session, View};

/// The largest cluster the page draws.
pub const MAX_NODES: usize = 9;

/// The most actions one run may hold.
pub const MAX_ACTIONS: usize = 5_000;

/// The most single steps one replay may take (so a request costs bounded
/// work): [`Action::Next`] counts its steps, [`Action::Auto`] its ticks.
pub const MAX_STEPS: u64 = 200_000;

/// How many ticks [`Action::Delay`] holds a packet back.
pub const DELAY_TICKS: u64 = 5;

/// Longest client value the page sends.
pub const MAX_VALUE: usize = 24;

/// Everything that fixes a run before its first action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub nodes: usize,
    /// BFT mode (n >= 3f+1, quorums of 2f+1 signed votes).
    pub bft: bool,
    pub attack: Option<Attack>,
    pub attacker: NodeId,
    /// The defences in force at the start (actions may switch them).
    pub defences: Defences,
    pub seed: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            nodes: 3,
            bft: false,
            attack: None,
            attacker: 0,
            defences: Defences::none(),
            seed: 1,
        }
    }
}

/// One thing a learner does to the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `n`, `nK`: the next K things the simulator would do — deliver the
    /// first packet due, else tick the members, else let time pass.
    Next(u64),
    /// `aK`: K whole ticks, exactly as `paxos sim` runs them.
    Auto(u64),
    /// `t`: one tick passes and nothing arrives; the members' timers run.
    Tick,
    /// `dID`: deliver packet ID now, due or not.
    Deliver(u64),
    /// `xID`: the network loses packet ID.
    Lose(u64),
    /// `uID`: the network delivers packet ID twice.
    Duplicate(u64),
    /// `wID`: packet ID arrives [`DELAY_TICKS`] later.
    Delay(u64),
    /// `kM`: member M crashes (what it persisted survives).
    Crash(usize),
    /// `rM`: member M restarts from what it persisted.
    Restart(usize),
    /// `cA-B`: cut the link between members A and B.
    Cut(usize, usize),
    /// `h`: restore every link.
    Heal,
    /// `pM:VALUE`: the client asks member M to propose VALUE.
    Request(usize, Value),
    /// `q:VALUE`: the client asks the node it follows for VALUE.
    Ask(Value),
    /// `D` + names joined by `_` (`Decho_stale`, `Dnone`, `Dall`): run
    /// exactly these defences from now on.
    Defences(Defences),
}

/// Why a run cannot be set up or replayed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExploreError {
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error(transparent)]
    Attack(#[from] UnknownAttack),
    #[error("{0}")]
    Defence(String),
    #[error("the page draws at most {MAX_NODES} nodes (asked for {0})")]
    TooManyNodes(usize),
    #[error("the query does not read as a run ({0}); its fields: nodes, bft, attack, attacker, defences, seed, a, lesson")]
    BadQuery(String),
    #[error("action {index} ('{text}'): {why}")]
    BadAction {
        index: usize,
        text: String,
        why: String,
    },
    #[error("a run holds at most {MAX_ACTIONS} actions")]
    TooManyActions,
    #[error("a run takes at most {MAX_STEPS} steps")]
    TooManySteps,
    #[error("action {index}: no packet {id} is in flight")]
    NoSuchPacket { index: usize, id: u64 },
    #[error("action {index}: there is no member {member} (members 0..{members})")]
    NoSuchMember {
        index: usize,
        member: usize,
        members: usize,
    },
    #[error(
        "BFT mode's defences work as a whole from the start: pick them when setting up the run"
    )]
    BftSwitch,
    #[error("'until' is commit, flag or violation (got '{0}')")]
    BadUntil(String),
    #[error("no lesson is called '{0}' (the lessons: {known})", known = lessons::names().join(", "))]
    NoLesson(String),
}

fn number<T: FromStr>(s: &str, what: &'static str) -> Result<T, String> {
    s.parse().map_err(|_| format!("'{s}' is not {what}"))
}

/// A client value the page may send: 1 to [`MAX_VALUE`] letters, digits,
/// `-` or `_` (so it needs no escaping in a URL).
pub fn check_value(v: &str) -> Result<Value, String> {
    let ok = !v.is_empty()
        && v.len() <= MAX_VALUE
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match ok {
        true => Ok(v.into()),
        false => Err(format!(
            "a value is 1 to {MAX_VALUE} letters, digits, '-' or '_' (got '{v}')"
        )),
    }
}

fn defences_from(s: &str) -> Result<Defences, String> {
    s.replace('_', ",").parse().map_err(|e| format!("{e}"))
}

fn defences_code(d: &Defences) -> String {
    d.to_string().replace(',', "_")
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (head, rest) = s.split_at(s.chars().next().map_or(0, char::len_utf8));
        let id = || number::<u64>(rest, "a packet id");
        let member = || number::<usize>(rest, "a member");
        let count = || match rest {
            "" => Ok(1),
            _ => number::<u64>(rest, "a count").and_then(|k| match k {
                0 => Err("a count of 0 does nothing".into()),
                k => Ok(k),
            }),
        };
        Ok(match head {
            "n" => Action::Next(count()?),
            "a" => Action::Auto(count()?),
            "t" if rest.is_empty() => Action::Tick,
            "h" if rest.is_empty() => Action::Heal,
            "d" => Action::Deliver(id()?),
            "x" => Action::Lose(id()?),
            "u" => Action::Duplicate(id()?),
            "w" => Action::Delay(id()?),
            "k" => Action::Crash(member()?),
            "r" => Action::Restart(member()?),
            "c" => {
                let (a, b) = rest.split_once('-').ok_or("a cut is cA-B")?;
                Action::Cut(number(a, "a member")?, number(b, "a member")?)
            }
            "p" => {
                let (m, v) = rest.split_once(':').ok_or("a request is pM:VALUE")?;
                Action::Request(number(m, "a member")?, check_value(v)?)
            }
            "q" => Action::Ask(check_value(
                rest.strip_prefix(':').ok_or("an ask is q:VALUE")?,
            )?),
            "D" => Action::Defences(defences_from(rest)?),
            _ => return Err("not an action (n, a, t, d, x, u, w, k, r, c, h, p, q or D)".into()),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Next(1) => write!(f, "n"),
            Action::Next(k) => write!(f, "n{k}"),
            Action::Auto(1) => write!(f, "a"),
            Action::Auto(k) => write!(f, "a{k}"),
            Action::Tick => write!(f, "t"),
            Action::Deliver(id) => write!(f, "d{id}"),
            Action::Lose(id) => write!(f, "x{id}"),
            Action::Duplicate(id) => write!(f, "u{id}"),
            Action::Delay(id) => write!(f, "w{id}"),
            Action::Crash(m) => write!(f, "k{m}"),
            Action::Restart(m) => write!(f, "r{m}"),
            Action::Cut(a, b) => write!(f, "c{a}-{b}"),
            Action::Heal => write!(f, "h"),
            Action::Request(m, v) => write!(f, "p{m}:{v}"),
            Action::Ask(v) => write!(f, "q:{v}"),
            Action::Defences(d) => write!(f, "D{}", defences_code(d)),
        }
    }
}

/// A list of actions as the URL carries it: codes joined by `.`.
pub fn parse_actions(s: &str) -> Result<Vec<Action>, ExploreError> {
    let parts: Vec<&str> = s.split('.').filter(|p| !p.is_empty()).collect();
    if parts.len() > MAX_ACTIONS {
        return Err(ExploreError::TooManyActions);
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            text.parse().map_err(|why| ExploreError::BadAction {
                index,
                text: text.to_string(),
                why,
            })
        })
        .collect()
}

/// Actions as the URL carries them; consecutive `Next`s are merged.
pub fn encode_actions(actions: &[Action]) -> String {
    let mut merged: Vec<Action> = Vec::with_capacity(actions.len());
    for a in actions {
        match (merged.last_mut(), a) {
            (Some(Action::Next(k)), Action::Next(j)) => *k += j,
            (Some(Action::Auto(k)), Action::Auto(j)) => *k += j,
            _ => merged.push(a.clone()),
        }
    }
    let codes: Vec<String> = merged.iter().map(ToString::to_string).collect();
    codes.join(".")
}

/// The URL's query, as the page sends it: every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Query {
    pub nodes: Option<usize>,
    pub bft: Option<bool>,
    pub attack: Option<String>,
    pub attacker: Option<NodeId>,
    pub defences: Option<String>,
    pub seed: Option<u64>,
    /// The actions, encoded ([`parse_actions`]).
    pub a: Option<String>,
    /// Open this lesson ([`lessons`]) instead.
    pub lesson: Option<String>,
}

impl Query {
    /// The setup this query asks for (defaults where it is silent).
    pub fn setup(&self) -> Result<Setup, ExploreError> {
        let d = Setup::default();
        let attack = match self.attack.as_deref().map(str::trim) {
            None | Some("") | Some("none") | Some("NONE") => None,
            Some(a) => Some(a.parse::<Attack>()?),
        };
        let defences = match &self.defences {
            None => Defences::none(),
            Some(s) => defences_from(s).map_err(ExploreError::Defence)?,
        };
        let setup = Setup {
            nodes: self.nodes.unwrap_or(d.nodes),
            bft: self.bft.unwrap_or(false),
            attack,
            attacker: self.attacker.unwrap_or(0),
            defences,
            seed: self.seed.unwrap_or(d.seed),
        };
        if setup.nodes > MAX_NODES {
            return Err(ExploreError::TooManyNodes(setup.nodes));
        }
        session::sim_config(&setup).validate()?;
        Ok(setup)
    }

    /// The actions this query carries.
    pub fn actions(&self) -> Result<Vec<Action>, ExploreError> {
        parse_actions(self.a.as_deref().unwrap_or(""))
    }

    /// The query of a setup and its actions: what the page puts in its URL.
    pub fn of(setup: &Setup, actions: &[Action]) -> Query {
        Query {
            nodes: Some(setup.nodes),
            bft: setup.bft.then_some(true),
            attack: setup.attack.map(|a| a.to_string()),
            attacker: setup.attack.map(|_| setup.attacker),
            defences: Some(defences_code(&setup.defences)),
            seed: Some(setup.seed),
            a: Some(encode_actions(actions)),
            lesson: None,
        }
    }

    /// This query as a URL's query string.
    pub fn encode(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    /// Parse a URL's query string (with or without its `?`).
    pub fn decode(s: &str) -> Result<Query, ExploreError> {
        serde_urlencoded::from_str(s.trim_start_matches('?'))
            .map_err(|e| ExploreError::BadQuery(e.to_string()))
    }

    /// What `paxos explore --replay` reads: a query, `?` and a query, or a
    /// whole page URL. A field no run has is an error, not ignored: a
    /// typo must not quietly show the default run instead.
    pub fn decode_strict(s: &str) -> Result<Query, ExploreError> {
        const FIELDS: [&str; 8] = [
            "nodes", "bft", "attack", "attacker", "defences", "seed", "a", "lesson",
        ];
        let q = s.split_once('?').map_or(s, |(_, q)| q);
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(q).map_err(|e| ExploreError::BadQuery(e.to_string()))?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !FIELDS.contains(&k.as_str())) {
            return Err(ExploreError::BadQuery(format!(
                "'{k}' is not one of its fields"
            )));
        }
        Query::decode(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_code() {
        let all = [
            Action::Next(1),
            Action::Tick,
            Action::Next(7),
            Action::Auto(3),
            Action::Tick,
            Action::Deliver(12),
            Action::Lose(3),
            Action::Duplicate(4),
            Action::Delay(5),
            Action::Crash(1),
            Action::Restart(1),
            Action::Cut(0, 2),
            Action::Heal,
            Action::Request(0, "v0".into()),
            Action::Ask("x-1".into()),
            Action::Defences(Defences::none()),
            Action::Defences(Defences::all()),
            Action::Defences("echo,prepare-limit".parse().unwrap()),
        ];
        let text = encode_actions(&all);
        assert_eq!(parse_actions(&text), Ok(all.to_vec()), "{text}");
        // Steps in a row travel as one.
        let steps = [Action::Next(2), Action::Next(3), Action::Auto(1)];
        assert_eq!(encode_actions(&steps), "n5.a");
    }

    #[test]
    fn the_terminal_reads_a_whole_url_and_refuses_a_field_no_run_has() {
        let lesson = Query::decode_strict("http://127.0.0.1:8080/?lesson=safety").unwrap();
        assert_eq!(lesson.lesson.as_deref(), Some("safety"));
        assert_eq!(Query::decode_strict("?seed=3").unwrap().seed, Some(3));
        let e = Query::decode_strict("foo=bar").unwrap_err().to_string();
        assert!(e.contains("'foo' is not one of its fields"), "{e}");
    }

    #[test]
    fn bad_actions_say_which_and_why() {
        for (text, says) in [
            ("n.d", "action 1 ('d')"),
            ("z", "not an action"),
            ("p0:has space", "a value is"),
            ("n0", "a count of 0"),
            ("c1", "a cut is"),
            ("Dnonsense", "not a defence"),
        ] {
            let e = parse_actions(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_query_round_trips_through_its_url_form() {
        let setup = Setup {
            nodes: 5,
            attack: Some(Attack::Safety),
            attacker: 2,
            defences: "echo".parse().unwrap(),
            seed: 9,
            ..Setup::default()
        };
        let actions = vec![Action::Request(2, "v0".into()), Action::Next(4)];
        let q = Query::of(&setup, &actions);
        let back = Query::decode(&q.encode()).unwrap();
        assert_eq!(back, q);
        assert_eq!(back.setup().unwrap(), setup);
        assert_eq!(back.actions().unwrap(), actions);
        let bad = Query::decode("nodes=40").unwrap().setup().unwrap_err();
        assert_eq!(bad, ExploreError::TooManyNodes(40));
        let bad = Query::decode("attack=NOPE").unwrap().setup().unwrap_err();
        assert!(bad.to_string().contains("unknown attack"), "{bad}");
    }
}
