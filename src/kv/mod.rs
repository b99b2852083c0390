//! A key-value state machine on the log, with exactly-once client sessions:
//! the first layer above the core's log of opaque values. Every node's
//! runtime applies its committed log to a [`Store`] (`NodeActor`, and the
//! simulator's `World`); whoever answers the clients collects the stores'
//! replies in [`Replies`].
//!
//! A client value that parses as a [`Command`] is an operation of a client
//! session: `put`, `get`, `cas` and `delete` on string keys, with
//! Maelstrom's `lin-kv` error meanings ([`Reply::KeyMissing`] is its error
//! 20, [`Reply::CasMismatch`] its error 22). Every node applies the
//! committed log in position order, each position's batch in order, so
//! every node computes the same replies.
//!
//! **Exactly once.** A client numbers its requests `1, 2, …` and sends one
//! at a time (Maelstrom's and Raft's session rule). Applying keeps, per
//! client, the last sequence number applied and its reply: a command whose
//! number is not above it was applied already — it was asked again after a
//! timeout, a redirect or a flag, and committed twice — and is skipped; its
//! reply is the first one's. So a value committed at two positions takes
//! effect once.
//!
//! **Snapshots.** Every [`Store::follow`] that reaches a multiple of the
//! cluster's snapshot interval hands back the store's state there (data,
//! sessions and all, as JSON) for the core to keep instead of the log below
//! it ([`crate::core::Input::Compact`]). Every replica applies the same log,
//! so every honest replica's snapshot at a position is the same bytes —
//! what lets a node behind install one only when enough peers vouch for it.
//! A store whose process holds a snapshot past what it applied (installed
//! from peers, or restored from disk) starts from that snapshot.
//!
//! Sans-IO like the core: no clock, no RNG, no I/O; the same bytes in give
//! the same state out.

use crate::core::{NodeId, Pos, Process, Snapshot, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub mod check;
mod reads;

pub use reads::{IndexReads, Noted};

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ReadPath {
    /// A read is a command in the log, answered where it is applied:
    /// linearizable because the log is one order everyone applies.
    Log,
    /// Read-index: the leader confirms its ballot with a quorum and waits
    /// until its log is whole below the read's index, then answers from its
    /// store, with no log entry. Linearizable if the leader is honest (so
    /// not offered in BFT mode); a refused read is asked again elsewhere.
    Index,
    /// **A planted bug**: the node asked answers from its own store at
    /// once, without the log (Maelstrom's classic mistake: a follower
    /// behind the leader answers with a value already overwritten). Not
    /// linearizable; the checker must say so.
    Local,
}

impl std::str::FromStr for ReadPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "log" => Ok(ReadPath::Log),
            "index" => Ok(ReadPath::Index),
            "local" => Ok(ReadPath::Local),
            _ => Err(format!("unknown read path '{s}' (log, index, local)")),
        }
    }
}

impl std::fmt::Display for ReadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadPath::Log => "log",
            ReadPath::Index => "index",
            ReadPath::Local => "local",
        })
    }
}

/// An operation on the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Set `key` to `value`.
    Put { key: String, value: String },
    /// Read `key`.
    Get { key: String },
    /// Set `key` to `to` if it holds `from`.
    Cas {
        key: String,
        from: String,
        to: String,
    },
    /// Remove `key`.
    Delete { key: String },
}

impl Op {
    /// `put key value`.
    pub fn put(key: impl Into<String>, value: impl Into<String>) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `get key`.
    pub fn get(key: impl Into<String>) -> Op {
        Op::Get { key: key.into() }
    }

    /// The key the operation is about.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Get { key } | Op::Cas { key, .. } | Op::Delete { key } => key,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Put { key, value } => write!(f, "put {key} = {value:?}"),
            Op::Get { key } => write!(f, "get {key}"),
            Op::Cas { key, from, to } => write!(f, "cas {key} {from:?} → {to:?}"),
            Op::Delete { key } => write!(f, "delete {key}"),
        }
    }
}

/// One request of a client session: the `seq`-th of client `client`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    pub client: u64,
    pub seq: u64,
    #[serde(flatten)]
    pub op: Op,
}

impl Command {
    /// The client value that carries this command through the log.
    pub fn encode(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The command a client value carries, if it is one.
    pub fn decode(value: &str) -> Option<Command> {
        serde_json::from_str(value).ok()
    }
}

/// What applying a command answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reply {
    /// Done; a `get` carries the value read.
    Ok { value: Option<String> },
    /// The key does not exist (Maelstrom's error 20).
    KeyMissing,
    /// A `cas` found another value than `from` (Maelstrom's error 22).
    CasMismatch { found: String },
    /// The client's session was forgotten (more than [`MAX_SESSIONS`]
    /// newer clients since): the request was not applied, and the client
    /// must start a new session (Maelstrom's error 14, definitely not done).
    SessionExpired,
    /// The client's session already holds its later request `latest`: this
    /// older one is not answered (it was applied before `latest`, or never
    /// will be). Only the coordinator answers this, from [`Replies`].
    Superseded { latest: u64 },
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Ok { value: Some(v) } => write!(f, "{v:?}"),
            Reply::Ok { value: None } => f.write_str("ok"),
            Reply::KeyMissing => f.write_str("key missing"),
            Reply::CasMismatch { found } => write!(f, "mismatch, found {found:?}"),
            Reply::SessionExpired => f.write_str("session expired"),
            Reply::Superseded { latest } => write!(f, "superseded by request {latest}"),
        }
    }
}

impl Reply {
    /// Done, with the value read (`None` for a write).
    pub fn ok(value: Option<&str>) -> Reply {
        Reply::Ok {
            value: value.map(String::from),
        }
    }
}

/// A command applied, and whether it took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub client: u64,
    pub seq: u64,
    /// The reply: for a repeat, the first one's. `None` only for a repeat
    /// older than its client's latest request (the client had its answer
    /// and moved on).
    pub reply: Option<Reply>,
    /// `false`: a repeat of a command already applied, skipped.
    pub fresh: bool,
}

/// What one [`Store::follow`] did.
#[derive(Debug, Default)]
pub struct Followed {
    /// The commands applied, in order.
    pub applied: Vec<Applied>,
    /// The state to compact at, when it passed a multiple of the interval.
    pub compact: Option<Snapshot>,
}

/// A snapshot the store cannot start from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("the snapshot below position {upto} is not a key-value store: {why}")]
    Unreadable { upto: Pos, why: String },
}

/// Positions between two snapshots of a key-value store, by default: the
/// log a node keeps stays under twice this many positions.
pub const SNAPSHOT_EVERY: u64 = 1000;

/// Per client: the last sequence number applied and its reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub seq: u64,
    pub reply: Option<Reply>,
    /// When it last applied a command (the store's count of fresh ones).
    pub touched: u64,
}

/// Sessions a store keeps. Past this the least recently used is forgotten
/// — by every replica alike, since all apply one log — so the table stays
/// bounded however many clients come and go (each `paxos kv` call without
/// `--client` is one).
pub const MAX_SESSIONS: usize = 1 << 16;

/// The state machine: the data and the session table, and how far into
/// the log it has applied.
///
/// Exactly once holds for every session the table keeps. Once it has
/// forgotten one, a request of a client it does not know whose sequence
/// number is past 1 is refused ([`Reply::SessionExpired`]) rather than
/// applied, since it may be a forgotten session's retry; a client's first
/// request (number 1) is always taken as a new session's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    data: BTreeMap<String, String>,
    sessions: BTreeMap<u64, Session>,
    /// Clients by when they last applied a command, oldest first.
    by_touch: BTreeMap<u64, u64>,
    /// Fresh commands applied so far (the sessions' clock).
    clock: u64,
    /// Sessions forgotten so far.
    forgotten: u64,
    limit: usize,
    /// The next position to apply.
    next: Pos,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_session_limit(MAX_SESSIONS)
    }
}

impl Store {
    /// An empty store that keeps at most `limit` sessions (at least one).
    pub fn with_session_limit(limit: usize) -> Store {
        Store {
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            by_touch: BTreeMap::new(),
            clock: 0,
            forgotten: 0,
            limit: limit.max(1),
            next: 0,
        }
    }

    /// What `key` holds.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key)
    }

    /// What a read of `key` answers from this store as it stands, without
    /// the log: the planted bug of [`ReadPath::Local`], nothing else.
    pub fn read_here(&self, key: &str) -> Reply {
        match self.get(key) {
            Some(v) => Reply::ok(Some(v)),
            None => Reply::KeyMissing,
        }
    }

    /// The next log position this store will apply.
    pub fn applied_up_to(&self) -> Pos {
        self.next
    }

    /// The session table (what a snapshot must keep beside the data).
    pub fn sessions(&self) -> &BTreeMap<u64, Session> {
        &self.sessions
    }

    /// Apply one command, once per (client, seq).
    pub fn apply(&mut self, cmd: Command) -> Applied {
        if !self.sessions.contains_key(&cmd.client) && self.forgotten > 0 && cmd.seq > 1 {
            return Applied {
                client: cmd.client,
                seq: cmd.seq,
                reply: Some(Reply::SessionExpired),
                fresh: false,
            };
        }
        let last = self.sessions.get(&cmd.client).map_or(0, |s| s.seq);
        if let Some(session) = self.sessions.get(&cmd.client).filter(|_| cmd.seq <= last) {
            let reply = match cmd.seq == session.seq {
                true => session.reply.clone(),
                false => None,
            };
            return Applied {
                client: cmd.client,
                seq: cmd.seq,
                reply,
                fresh: false,
            };
        }
        let reply = run(&mut self.data, cmd.op);
        self.clock += 1;
        let session = self.sessions.entry(cmd.client).or_default();
        session.seq = cmd.seq;
        session.reply = Some(reply.clone());
        let before = std::mem::replace(&mut session.touched, self.clock);
        self.by_touch.remove(&before);
        self.by_touch.insert(self.clock, cmd.client);
        while self.sessions.len() > self.limit {
            let Some((_, oldest)) = self.by_touch.pop_first() else {
                break;
            };
            self.sessions.remove(&oldest);
            self.forgotten += 1;
        }
        Applied {
            client: cmd.client,
            seq: cmd.seq,
            reply: Some(reply),
            fresh: true,
        }
    }

    /// This store as a snapshot's state: JSON, the same bytes on every
    /// replica that applied the same log.
    pub fn to_state(&self) -> String {
        serde_json::to_string(self).expect("a store is plain data")
    }

    /// The store a snapshot holds.
    pub fn from_snapshot(snap: &Snapshot) -> Result<Store, SnapshotError> {
        let store: Store =
            serde_json::from_str(&snap.state).map_err(|e| SnapshotError::Unreadable {
                upto: snap.upto,
                why: e.to_string(),
            })?;
        if store.next != snap.upto {
            return Err(SnapshotError::Unreadable {
                upto: snap.upto,
                why: format!("it holds a store that applied up to {}", store.next),
            });
        }
        Ok(store)
    }

    /// Apply what `process` committed since this store stopped: from the
    /// process's snapshot first if that is past this store, then the log,
    /// up to its first gap. With `every > 0`, also the snapshot to compact
    /// at ([`crate::core::Input::Compact`]): the state at the last multiple
    /// of `every` it passed beyond the process's snapshot, once it applied
    /// a command at all (a log of plain values is never compacted).
    pub fn follow(&mut self, process: &dyn Process, every: u64) -> Result<Followed, SnapshotError> {
        let base = match process.snapshot() {
            Some(snap) if snap.upto > self.next => {
                *self = Store::from_snapshot(snap)?;
                snap.upto
            }
            Some(snap) => snap.upto,
            None => 0,
        };
        let log = process.log();
        let mut out = Followed::default();
        while let Some(value) = log.get(&self.next) {
            out.applied.extend(self.apply_value(value));
            self.next += 1;
            // A store that applied no command holds none of a plain log's
            // values: such a log is the state itself and is kept whole.
            if every > 0 && self.next.is_multiple_of(every) && self.next > base && self.clock > 0 {
                out.compact = Some(Snapshot {
                    upto: self.next,
                    state: self.to_state(),
                });
            }
        }
        Ok(out)
    }

    fn apply_value(&mut self, value: &Value) -> Vec<Applied> {
        let cmds = value.items().filter_map(Command::decode);
        cmds.map(|cmd| self.apply(cmd)).collect()
    }

    /// Apply the committed log from where this store stopped, up to its
    /// first gap: every command of every position, in order. Values that
    /// are not commands (a plain log's values) are passed over.
    pub fn catch_up(&mut self, log: &BTreeMap<Pos, Value>) -> Vec<Applied> {
        let mut out = Vec::new();
        while let Some(value) = log.get(&self.next) {
            out.extend(self.apply_value(value));
            self.next += 1;
        }
        out
    }
}

/// The replies nodes gave to clients' requests, as whoever answers the
/// clients collects them (the coordinator): per client, its latest request
/// and which nodes answered what. A client's answer is a reply that
/// `needed` nodes gave alike — one in classic mode, f+1 in BFT mode (as
/// PBFT's client waits for), so no f liars can make one up.
#[derive(Clone, Debug, Default)]
pub struct Replies {
    latest: BTreeMap<u64, (u64, BTreeMap<Reply, BTreeSet<NodeId>>)>,
    /// Clients in the order they first appeared, to forget the oldest.
    order: VecDeque<u64>,
}

/// Clients whose latest reply is kept; past this the oldest is forgotten
/// (a client that comes back after that long asks again and is answered
/// from the store's session table, through the log).
pub const KEPT_CLIENTS: usize = 1 << 16;

impl Replies {
    /// Node `node` answered client `client`'s request `seq` with `reply`.
    pub fn record(&mut self, node: NodeId, client: u64, seq: u64, reply: Reply) {
        if !self.latest.contains_key(&client) {
            self.order.push_back(client);
            if self.order.len() > KEPT_CLIENTS {
                if let Some(old) = self.order.pop_front() {
                    self.latest.remove(&old);
                }
            }
        }
        let entry = self.latest.entry(client).or_insert((seq, BTreeMap::new()));
        if seq > entry.0 {
            *entry = (seq, BTreeMap::new());
        }
        if seq == entry.0 {
            entry.1.entry(reply).or_default().insert(node);
        }
    }

    /// The answer to client `client`'s request `seq`, once `needed` nodes
    /// gave the same reply.
    pub fn answer(&self, client: u64, seq: u64, needed: usize) -> Option<Reply> {
        let (latest, replies) = self.latest.get(&client)?;
        let vouched = replies
            .iter()
            .find(|(_, nodes)| nodes.len() >= needed.max(1))
            .map(|(r, _)| r.clone());
        match (*latest).cmp(&seq) {
            std::cmp::Ordering::Equal => vouched,
            // As many nodes as an answer needs applied a later request.
            std::cmp::Ordering::Greater => vouched.map(|_| Reply::Superseded { latest: *latest }),
            std::cmp::Ordering::Less => None,
        }
    }
}

/// What `op` does to `data`: the store's sequential semantics, which the
/// linearizability check ([`check`]) takes as its reference too.
pub fn run(data: &mut BTreeMap<String, String>, op: Op) -> Reply {
    match op {
        Op::Put { key, value } => {
            data.insert(key, value);
            Reply::Ok { value: None }
        }
        Op::Get { key } => match data.get(&key) {
            Some(v) => Reply::Ok {
                value: Some(v.clone()),
            },
            None => Reply::KeyMissing,
        },
        Op::Cas { key, from, to } => match data.get_mut(&key) {
            None => Reply::KeyMissing,
            Some(v) if *v == from => {
                *v = to;
                Reply::Ok { value: None }
            }
            Some(v) => Reply::CasMismatch { found: v.clone() },
        },
        Op::Delete { key } => match data.remove(&key) {
            Some(_) => Reply::Ok { value: None },
            None => Reply::KeyMissing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u64, seq: u64, op: Op) -> Command {
        Command { client, seq, op }
    }

    #[test]
    fn operations_have_maelstroms_meanings() {
        let mut s = Store::default();
        assert_eq!(
            s.apply(cmd(1, 1, Op::get("x"))).reply,
            Some(Reply::KeyMissing)
        );
        assert_eq!(
            s.apply(cmd(1, 2, Op::put("x", "a"))).reply,
            Some(Reply::ok(None))
        );
        assert_eq!(
            s.apply(cmd(1, 3, Op::get("x"))).reply,
            Some(Reply::ok(Some("a")))
        );
        let cas = |from: &str, to: &str| Op::Cas {
            key: "x".into(),
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(
            s.apply(cmd(1, 4, cas("b", "c"))).reply,
            Some(Reply::CasMismatch { found: "a".into() })
        );
        assert_eq!(
            s.apply(cmd(1, 5, cas("a", "c"))).reply,
            Some(Reply::ok(None))
        );
        assert_eq!(s.get("x"), Some(&"c".to_string()));
        let del = Op::Delete { key: "x".into() };
        assert_eq!(s.apply(cmd(1, 6, del.clone())).reply, Some(Reply::ok(None)));
        assert_eq!(s.apply(cmd(1, 7, del)).reply, Some(Reply::KeyMissing));
        let missing = Op::Cas {
            key: "y".into(),
            from: "a".into(),
            to: "b".into(),
        };
        assert_eq!(s.apply(cmd(1, 8, missing)).reply, Some(Reply::KeyMissing));
    }

    #[test]
    fn a_command_committed_twice_takes_effect_once_and_answers_as_the_first() {
        let mut s = Store::default();
        let first = s.apply(cmd(7, 1, Op::put("x", "a")));
        assert!(first.fresh);
        s.apply(cmd(8, 1, Op::put("x", "b")));
        // Client 7's put, asked again and committed at a later position:
        // skipped, so client 8's later write stands.
        let again = s.apply(cmd(7, 1, Op::put("x", "a")));
        assert!(!again.fresh);
        assert_eq!(again.reply, first.reply);
        assert_eq!(s.get("x"), Some(&"b".to_string()));
        // A repeated read answers what the first read saw.
        let read = s.apply(cmd(7, 2, Op::get("x")));
        s.apply(cmd(8, 2, Op::put("x", "c")));
        assert_eq!(s.apply(cmd(7, 2, Op::get("x"))).reply, read.reply);
        assert_eq!(read.reply, Some(Reply::ok(Some("b"))));
        // Older than the client's latest: skipped, and nobody waits for it.
        let stale = s.apply(cmd(7, 1, Op::put("x", "z")));
        assert_eq!((stale.fresh, stale.reply), (false, None));
        assert_eq!(s.get("x"), Some(&"c".to_string()));
    }

    #[test]
    fn the_log_is_applied_in_order_up_to_its_first_gap_skipping_plain_values() {
        let mut log = BTreeMap::new();
        log.insert(0, Value::one(cmd(1, 1, Op::put("k", "v")).encode()));
        log.insert(
            1,
            Value::batch(vec!["plain".into(), cmd(2, 1, Op::get("k")).encode()]),
        );
        log.insert(3, Value::one(cmd(1, 2, Op::put("k", "w")).encode()));
        let mut s = Store::default();
        let applied = s.catch_up(&log);
        assert_eq!(applied.len(), 2);
        assert_eq!(applied[1].reply, Some(Reply::ok(Some("v"))));
        assert_eq!(s.applied_up_to(), 2, "stops at the gap at 2");
        log.insert(2, Value::one(cmd(2, 2, Op::get("k")).encode()));
        let applied = s.catch_up(&log);
        assert_eq!(applied.len(), 2);
        assert_eq!(s.get("k"), Some(&"w".to_string()));
        assert_eq!(s.applied_up_to(), 4);
    }

    #[test]
    fn a_client_is_answered_once_enough_nodes_agree_on_its_latest_request() {
        let mut r = Replies::default();
        r.record(0, 7, 1, Reply::ok(None));
        assert_eq!(r.answer(7, 1, 1), Some(Reply::ok(None)));
        // BFT with f = 1: a liar alone answers nothing.
        r.record(3, 7, 2, Reply::ok(Some("lie")));
        assert_eq!(r.answer(7, 2, 2), None);
        r.record(1, 7, 2, Reply::ok(Some("a")));
        r.record(2, 7, 2, Reply::ok(Some("a")));
        assert_eq!(r.answer(7, 2, 2), Some(Reply::ok(Some("a"))));
        // A later request replaces the earlier: only the latest is kept,
        // and an earlier one is answered as superseded once enough nodes
        // answered the later.
        r.record(1, 7, 3, Reply::KeyMissing);
        assert_eq!(r.answer(7, 2, 1), Some(Reply::Superseded { latest: 3 }));
        assert_eq!(
            r.answer(7, 2, 2),
            None,
            "one node alone vouches for nothing"
        );
        r.record(2, 7, 2, Reply::ok(None));
        assert_eq!(r.answer(7, 3, 1), Some(Reply::KeyMissing));
        assert_eq!(r.answer(8, 1, 1), None, "a client nobody answered");
    }

    #[test]
    fn a_command_round_trips_through_its_client_value() {
        let c = cmd(
            3,
            9,
            Op::Cas {
                key: "a b".into(),
                from: "\"x\"".into(),
                to: "y".into(),
            },
        );
        assert_eq!(Command::decode(&c.encode()), Some(c));
        assert_eq!(Command::decode("v0"), None);
    }
}

#[cfg(test)]
mod session_limit_tests {
    use super::*;

    fn put(client: u64, seq: u64, value: &str) -> Command {
        Command {
            client,
            seq,
            op: Op::put("k", value),
        }
    }

    #[test]
    fn the_session_table_stays_bounded_and_forgets_the_least_recently_used() {
        let mut s = Store::with_session_limit(3);
        for client in 1..=3 {
            assert!(s.apply(put(client, 1, "a")).fresh);
        }
        // Client 1 comes back: now client 2 is the least recently used.
        assert!(s.apply(put(1, 2, "b")).fresh);
        assert!(s.apply(put(4, 1, "c")).fresh);
        assert_eq!(s.sessions().len(), 3);
        assert!(!s.sessions().contains_key(&2), "{:?}", s.sessions().keys());
        // Thousands of one-off clients later, still three sessions.
        for client in 10..5_000 {
            s.apply(put(client, 1, "x"));
        }
        assert_eq!(s.sessions().len(), 3);
    }

    #[test]
    fn a_forgotten_sessions_retry_is_refused_not_applied_twice() {
        let mut s = Store::with_session_limit(2);
        assert!(s.apply(put(1, 1, "a")).fresh);
        assert!(s.apply(put(1, 2, "b")).fresh);
        s.apply(put(2, 1, "c"));
        s.apply(put(3, 1, "d"));
        assert!(!s.sessions().contains_key(&1), "client 1 was forgotten");
        // Its retry of request 2 (already applied) must not apply again.
        let retry = s.apply(put(1, 2, "b"));
        assert_eq!(retry.reply, Some(Reply::SessionExpired));
        assert!(!retry.fresh);
        assert_eq!(s.get("k").map(String::as_str), Some("d"));
        // A new client's first request is taken.
        assert!(s.apply(put(9, 1, "e")).fresh);
        // Before anything was forgotten, a client may start past 1.
        let mut fresh = Store::with_session_limit(2);
        assert!(fresh.apply(put(7, 5, "z")).fresh);
    }

    #[test]
    fn the_checker_counts_a_refused_request_as_one_that_never_happened() {
        let mut h = check::History::default();
        h.invoke(1, Op::put("k", "a")).unwrap();
        h.complete(1, Reply::ok(None)).unwrap();
        h.invoke(2, Op::put("k", "b")).unwrap();
        h.complete(2, Reply::SessionExpired).unwrap();
        h.invoke(3, Op::get("k")).unwrap();
        h.complete(3, Reply::ok(Some("a"))).unwrap();
        assert_eq!(h.check(), check::Verdict::Linearizable);
        // Had it been applied, that read would be stale.
        let mut applied = check::History::default();
        applied.invoke(1, Op::put("k", "a")).unwrap();
        applied.complete(1, Reply::ok(None)).unwrap();
        applied.invoke(2, Op::put("k", "b")).unwrap();
        applied.complete(2, Reply::ok(None)).unwrap();
        applied.invoke(3, Op::get("k")).unwrap();
        applied.complete(3, Reply::ok(Some("a"))).unwrap();
        assert!(matches!(
            applied.check(),
            check::Verdict::NotLinearizable { .. }
        ));
    }
}
