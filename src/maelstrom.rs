//! `paxos maelstrom`: one node speaking Maelstrom's protocol — JSON
//! messages, one per line, on stdin and stdout — for its `lin-kv` workload,
//! so `maelstrom test -w lin-kv --bin …` runs against this cluster.
//!
//! A runtime like the simulator and the actors: it only carries packets
//! and ticks. The node is the [`Node`] the [`ClusterSpec`] builds (the same
//! composition every runtime runs), its committed log applied to a
//! [`Store`]. Maelstrom's network carries the node's packets (a `paxos`
//! body holding the packet) and client requests a follower forwards to the
//! leader it knows (`forward`). A client's `read`, `write` and `cas` become
//! a [`Command`] of its session — Maelstrom's client name and message id,
//! which only grows per client — through the log, so reads are
//! linearizable and a request applies once; the node the client asked
//! answers once its store applied the request. Keys and values may be any
//! JSON; the store keeps their JSON text. Errors carry Maelstrom's codes:
//! 20 (key does not exist), 22 (`cas` precondition failed, with the value
//! found in `found`), 12 (malformed request), 10 (not supported).
//!
//! The protocol: <https://github.com/jepsen-io/maelstrom/blob/main/doc/protocol.md>.

use crate::cluster::ClusterSpec;
use crate::core::{Event, NodeId, Value};
use crate::kv::{Command, Op, ReadPath, Reply, Store};
use crate::node::{Node, NodeInput, Ready};
use crate::wire::Packet;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One Maelstrom message.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub src: String,
    pub dest: String,
    pub body: Json,
}

/// Why the node stopped.
#[derive(Debug, thiserror::Error)]
pub enum MaelstromError {
    #[error("the first message must be init, got {0}")]
    NotInit(String),
    #[error("init names this node {me}, which is not among node_ids {all:?}")]
    NotAMember { me: String, all: Vec<String> },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("read-index trusts the leader, which BFT mode does not: with --bft, reads go through the log")]
    IndexReadsInBft,
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
}

/// Requests a node remembers whom to answer for, at most.
pub const MAX_WAITING: usize = 1 << 16;

/// How often the node ticks (the actors' tick).
pub const TICK: Duration = Duration::from_millis(1);

/// A node between Maelstrom's network and its own [`Node`].
pub struct Runtime {
    me: NodeId,
    names: Vec<String>,
    node: Node,
    store: Store,
    /// Requests this node was asked, by (client, seq): who to answer.
    waiting: BTreeMap<(u64, u64), (String, Json)>,
    /// The keys of `waiting` in the order they came (some already answered).
    order: std::collections::VecDeque<(u64, u64)>,
    next_id: u64,
    rng: ChaCha8Rng,
    /// [`ReadPath::Local`]: the planted bug of reads from this node's own
    /// store, which the checker must refuse.
    reads: ReadPath,
    /// Reads by read-index in flight ([`ReadPath::Index`]).
    index_reads: crate::kv::IndexReads,
    /// Positions between two snapshots of the store.
    snapshot_every: u64,
}

impl Runtime {
    /// The node `me` of the cluster `names` (Maelstrom's `init`), built as
    /// `spec(n)` says for a cluster of that size.
    pub fn new(
        spec: &dyn Fn(usize) -> ClusterSpec,
        me: &str,
        names: Vec<String>,
    ) -> Result<Runtime, MaelstromError> {
        let Some(id) = names.iter().position(|n| n == me) else {
            return Err(MaelstromError::NotAMember {
                me: me.into(),
                all: names,
            });
        };
        let spec = spec(names.len());
        spec.validate()?;
        let id = id as NodeId;
        let mut node = Node::new(spec.member(id, || spec.identity(id)));
        if spec.signs() {
            for j in 0..names.len() as NodeId {
                node.shield_mut().add_peer_key(j, spec.identity(j).public());
            }
        }
        Ok(Runtime {
            me: id,
            names,
            node,
            store: Store::default(),
            waiting: BTreeMap::new(),
            order: Default::default(),
            next_id: 0,
            rng: ChaCha8Rng::seed_from_u64(spec.seed ^ u64::from(id)),
            reads: ReadPath::Log,
            index_reads: Default::default(),
            snapshot_every: spec.tunables.snapshot_every,
        })
    }

    /// Serve reads as `reads` says ([`ReadPath::Local`] is a planted bug).
    pub fn with_reads(mut self, reads: ReadPath) -> Self {
        self.reads = reads;
        self
    }

    fn name(&self, id: NodeId) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    /// One message from Maelstrom's network: what to send back.
    pub fn receive(&mut self, m: Message) -> Vec<Message> {
        let kind = m.body["type"].as_str().unwrap_or("").to_string();
        match kind.as_str() {
            "paxos" => match serde_json::from_value::<Packet>(m.body["packet"].clone()) {
                Ok(p) => self.step(NodeInput::Packet(p)),
                Err(_) => Vec::new(),
            },
            "forward" => match m.body["value"].as_str() {
                Some(v) => self.step(NodeInput::Request(Value::one(v))),
                None => Vec::new(),
            },
            "read" | "write" | "cas" => self.request(m),
            "init" => vec![self.reply(&m, json!({"type": "init_ok"}))],
            _ => {
                let text = format!("unsupported message type '{kind}'");
                vec![self.reply(&m, error(10, &text))]
            }
        }
    }

    /// One tick of the shield and the process.
    pub fn tick(&mut self) -> Vec<Message> {
        let mut out = self.step(NodeInput::ShieldTick);
        let entropy = self.rng.next_u64();
        out.extend(self.step(NodeInput::Tick { entropy }));
        out
    }

    /// A client's request: into the log as a command of its session, asked
    /// of this node (which may name the leader: then forwarded there).
    fn request(&mut self, m: Message) -> Vec<Message> {
        let (Some(op), Some(seq)) = (op_of(&m.body), m.body["msg_id"].as_u64()) else {
            return vec![self.reply(&m, error(12, "malformed request"))];
        };
        if let (ReadPath::Local, Op::Get { key }) = (self.reads, &op) {
            let body = answer(&m.body, &self.store.read_here(key));
            return vec![self.reply(&m, body)];
        }
        let cmd = Command {
            client: client_id(&m.src),
            seq,
            op,
        };
        self.wait_for(cmd.client, seq, &m);
        let value = Value::one(cmd.encode());
        if self.reads == ReadPath::Index {
            if let Some(id) = self.index_reads.start(&value) {
                return self.step(NodeInput::Read(id));
            }
        }
        self.step(NodeInput::Ask(value))
    }

    /// Remember whom to answer for (client, seq). A client's older requests
    /// still waiting are dropped (it moved on, as Maelstrom's clients do
    /// after a timeout), and past [`MAX_WAITING`] the oldest goes, so
    /// requests nobody answers cannot pile up.
    fn wait_for(&mut self, client: u64, seq: u64, m: &Message) {
        let older: Vec<(u64, u64)> = self
            .waiting
            .range((client, 0)..(client, seq))
            .map(|(k, _)| *k)
            .collect();
        for k in older {
            self.waiting.remove(&k);
        }
        self.waiting
            .insert((client, seq), (m.src.clone(), m.body.clone()));
        self.order.push_back((client, seq));
        while self.waiting.len() > MAX_WAITING {
            match self.order.pop_front() {
                Some(k) => {
                    self.waiting.remove(&k);
                }
                None => break,
            }
        }
        if self.order.len() > 2 * MAX_WAITING {
            let waiting = &self.waiting;
            self.order.retain(|k| waiting.contains_key(k));
        }
    }

    /// Step the node and carry out its `Ready`: packets onto Maelstrom's
    /// network, redirects forwarded to the leader, replies to the clients
    /// whose requests the store applied. Nothing is persisted: Maelstrom's
    /// nodes live in memory.
    fn step(&mut self, input: NodeInput) -> Vec<Message> {
        let Ready {
            packets, events, ..
        } = self.node.step(input);
        let mut out = Vec::new();
        for p in packets {
            let to: Vec<NodeId> = match p.to {
                Some(to) => vec![to],
                None => (0..self.names.len() as NodeId)
                    .filter(|&j| j != self.me)
                    .collect(),
            };
            for j in to {
                let body = json!({"type": "paxos", "packet": p});
                out.push(self.send(j, body));
            }
        }
        for e in events {
            if matches!(e, Event::Compacted { .. } | Event::Installed { .. }) {
                log::info!("node {}: {e}", self.name(self.me));
            }
            if let crate::kv::Noted::Refused(value) = self.index_reads.note(&e) {
                // Read-index refused here: through the log instead.
                out.extend(self.step(NodeInput::Ask(value)));
            } else if let Event::Redirected { value, leader } = e {
                let body = json!({"type": "forward", "value": value.to_string()});
                out.push(self.send(leader, body));
            }
        }
        let followed = match self.store.follow(self.node.process(), self.snapshot_every) {
            Ok(followed) => followed,
            Err(e) => {
                log::error!("node {}: {e}", self.me);
                Default::default()
            }
        };
        let mut replies: Vec<(u64, u64, Reply)> = (followed.applied.into_iter())
            .filter_map(|a| Some((a.client, a.seq, a.reply?)))
            .collect();
        if let Some(snap) = followed.compact {
            out.extend(self.step(NodeInput::Compact(snap)));
        }
        replies.extend(self.index_reads.answer(&self.store));
        for (client, seq, reply) in replies {
            if let Some((client, request)) = self.waiting.remove(&(client, seq)) {
                let asked = Message {
                    src: client,
                    dest: String::new(),
                    body: request,
                };
                let body = answer(&asked.body, &reply);
                out.push(self.reply(&asked, body));
            }
        }
        out
    }

    fn send(&mut self, to: NodeId, body: Json) -> Message {
        Message {
            src: self.name(self.me).to_string(),
            dest: self.name(to).to_string(),
            body,
        }
    }

    /// Answer `m` with `body`, numbered and in reply to it.
    fn reply(&mut self, m: &Message, mut body: Json) -> Message {
        self.next_id += 1;
        body["msg_id"] = json!(self.next_id);
        body["in_reply_to"] = m.body["msg_id"].clone();
        Message {
            src: self.name(self.me).to_string(),
            dest: m.src.clone(),
            body,
        }
    }
}

/// Maelstrom's error body.
fn error(code: u64, text: &str) -> Json {
    json!({"type": "error", "code": code, "text": text})
}

/// The store operation a `read`, `write` or `cas` asks for; keys and values
/// as their JSON text.
fn op_of(body: &Json) -> Option<Op> {
    let key = body.get("key")?.to_string();
    let text = |field: &str| body.get(field).map(Json::to_string);
    Some(match body["type"].as_str()? {
        "read" => Op::Get { key },
        "write" => Op::Put {
            key,
            value: text("value")?,
        },
        "cas" => Op::Cas {
            key,
            from: text("from")?,
            to: text("to")?,
        },
        _ => return None,
    })
}

/// The body answering `request` with the store's `reply`.
fn answer(request: &Json, reply: &Reply) -> Json {
    let kind = request["type"].as_str().unwrap_or("");
    match reply {
        Reply::Ok { value: Some(v) } => {
            let value: Json = serde_json::from_str(v).unwrap_or(Json::String(v.clone()));
            json!({"type": "read_ok", "value": value})
        }
        Reply::Ok { value: None } => json!({ "type": format!("{kind}_ok") }),
        Reply::KeyMissing => error(20, "key does not exist"),
        Reply::SessionExpired => error(14, "session expired: not applied; start a new session"),
        // Not given by a store (only by the coordinator), but if it were:
        // whether the request took effect is unknown (Maelstrom's crash).
        Reply::Superseded { latest } => error(13, &format!("superseded by request {latest}")),
        Reply::CasMismatch { found } => {
            let mut e = error(22, &format!("the key holds {found}"));
            e["found"] = serde_json::from_str(found).unwrap_or(Json::String(found.clone()));
            e
        }
    }
}

/// A client's session id from its Maelstrom name (`c12` → 12; any other
/// name hashed).
pub fn client_id(name: &str) -> u64 {
    match name.strip_prefix('c').and_then(|d| d.parse().ok()) {
        Some(n) => n,
        None => name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }),
    }
}

/// Run one node on stdin and stdout until stdin closes: `init` first, then
/// messages and ticks. `spec(n)` is the cluster of the `n` nodes `init`
/// names (its mode and defences).
pub fn run(spec: &dyn Fn(usize) -> ClusterSpec, reads: ReadPath) -> Result<(), MaelstromError> {
    let (tx, rx) = mpsc::channel::<Message>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Message>(&line) {
                Ok(m) => {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
                Err(e) => log::warn!("not a Maelstrom message ({e}): {line}"),
            }
        }
    });
    let Ok(init) = rx.recv() else {
        return Ok(());
    };
    let (Some(me), Some(names)) = (
        init.body["node_id"].as_str(),
        init.body["node_ids"].as_array(),
    ) else {
        return Err(MaelstromError::NotInit(init.body.to_string()));
    };
    let names: Vec<String> = names
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    if reads == ReadPath::Index && spec(names.len()).mode.is_bft() {
        return Err(MaelstromError::IndexReadsInBft);
    }
    let mut rt = Runtime::new(spec, me, names)?.with_reads(reads);
    let mut out = std::io::stdout().lock();
    emit(&mut out, rt.receive(init))?;
    let mut next_tick = Instant::now() + TICK;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(m) => emit(&mut out, rt.receive(m))?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                emit(&mut out, rt.tick())?;
                next_tick = Instant::now() + TICK;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Write messages, one JSON line each, and flush.
fn emit(out: &mut impl Write, msgs: Vec<Message>) -> Result<(), MaelstromError> {
    for m in msgs {
        serde_json::to_writer(&mut *out, &m).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(src: &str, dest: &str, body: Json) -> Message {
        Message {
            src: src.into(),
            dest: dest.into(),
            body,
        }
    }

    /// Three runtimes, their messages to each other delivered at once,
    /// ticked until `client` has an answer.
    fn until_answered(rts: &mut [Runtime], mut flight: Vec<Message>) -> Vec<Message> {
        let mut answers = Vec::new();
        for _ in 0..5000 {
            while let Some(m) = flight.pop() {
                match m
                    .dest
                    .strip_prefix('n')
                    .and_then(|d| d.parse::<usize>().ok())
                {
                    Some(j) => flight.extend(rts[j].receive(m)),
                    None => answers.push(m),
                }
            }
            if !answers.is_empty() {
                return answers;
            }
            for rt in rts.iter_mut() {
                flight.extend(rt.tick());
            }
        }
        answers
    }

    #[test]
    fn requests_nobody_answers_do_not_pile_up() {
        // A node alone in a cluster of three never commits: nothing it is
        // asked is ever answered.
        let names: Vec<String> = ["n0", "n1", "n2"].map(String::from).to_vec();
        let spec = |n| ClusterSpec::lab(n, None, 0, false, false, None);
        let mut rt = Runtime::new(&spec, "n0", names).expect("a member");
        for seq in 1..=50 {
            let w = json!({"type": "write", "msg_id": seq, "key": 1, "value": seq});
            rt.receive(msg("c1", "n0", w));
        }
        assert_eq!(rt.waiting.len(), 1, "only client 1's latest request waits");
        for client in 0..200 {
            let w = json!({"type": "write", "msg_id": 1, "key": 1, "value": client});
            rt.receive(msg(&format!("c{}", 100 + client), "n0", w));
        }
        assert_eq!(rt.waiting.len(), 201);
        assert!(rt.order.len() <= 2 * MAX_WAITING);
    }

    #[test]
    fn a_client_writes_reads_and_compares_and_sets_through_any_node() {
        let names: Vec<String> = ["n0", "n1", "n2"].map(String::from).to_vec();
        let spec = |n| ClusterSpec::lab(n, None, 0, false, false, None);
        let mut rts: Vec<Runtime> = names
            .iter()
            .map(|n| Runtime::new(&spec, n, names.clone()).expect("a member"))
            .collect();
        let init = msg(
            "c0",
            "n1",
            json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": names}),
        );
        let ok = rts[1].receive(init);
        assert_eq!(ok[0].body["type"], "init_ok");
        assert_eq!(ok[0].body["in_reply_to"], 1);
        let write = msg(
            "c1",
            "n1",
            json!({"type": "write", "msg_id": 2, "key": 7, "value": 40}),
        );
        let a = until_answered(&mut rts, vec![write]);
        assert_eq!(
            (a[0].dest.as_str(), &a[0].body["type"]),
            ("c1", &json!("write_ok"))
        );
        // Asked of another node: it names the leader and forwards.
        let read = msg("c2", "n2", json!({"type": "read", "msg_id": 1, "key": 7}));
        let a = until_answered(&mut rts, vec![read]);
        assert_eq!(a[0].body["value"], 40);
        assert_eq!(a[0].src, "n2", "the node asked answers");
        let cas = msg(
            "c1",
            "n0",
            json!({"type": "cas", "msg_id": 3, "key": 7, "from": 1, "to": 2}),
        );
        let a = until_answered(&mut rts, vec![cas]);
        assert_eq!(
            (&a[0].body["type"], &a[0].body["code"]),
            (&json!("error"), &json!(22))
        );
        let missing = msg("c2", "n0", json!({"type": "read", "msg_id": 2, "key": 8}));
        let a = until_answered(&mut rts, vec![missing]);
        assert_eq!(a[0].body["code"], 20);
        let odd = msg("c2", "n0", json!({"type": "txn", "msg_id": 3}));
        assert_eq!(rts[0].receive(odd)[0].body["code"], 10);
    }

    #[test]
    fn an_init_that_leaves_this_node_out_is_refused() {
        let spec = |n| ClusterSpec::lab(n, None, 0, false, false, None);
        let names = vec!["n0".to_string(), "n1".to_string()];
        assert!(matches!(
            Runtime::new(&spec, "n5", names),
            Err(MaelstromError::NotAMember { .. })
        ));
        assert_eq!(client_id("c12"), 12);
        assert_ne!(client_id("worker"), client_id("worker2"));
    }
}
