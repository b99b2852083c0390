//! `paxos demo --workload kv`: the demo's in-process cluster of actors with
//! concurrent key-value clients instead of a list of values, and the
//! clients' history checked for linearizability — the simulator's KV
//! workload, on the actors and real time.
//!
//! Each client does its operations one at a time through the coordinator,
//! as `paxos kv` does across processes: a command of its session, asked of
//! one node (under attack the scenarios' round robin, the SAFETY attacker
//! first), answered once the coordinator holds a node's reply (f+1 alike in
//! BFT mode), asked of the next node when no answer comes in time. A client
//! that runs out of time leaves its operation open, which the checker lets
//! take effect or not.

use super::{DemoConfig, DemoError, Running};
use crate::actors::{CoordinatorExitCommand, CoordinatorPropagateMessage, GetKvReply, GetStatuses};
use crate::core::{NodeId, Value};
use crate::kv::check::{History, Verdict};
use crate::kv::{Command, Reply};
use crate::sim::kv::{draw_op, remember, KvWorkload};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a client waits for an answer before asking the next node.
const ASK_AGAIN: Duration = Duration::from_millis(500);

/// How often a client looks for its answer.
const LOOK: Duration = Duration::from_millis(2);

/// What the KV demo found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvDemoReport {
    pub nodes: usize,
    pub clients: usize,
    pub invoked: usize,
    pub completed: usize,
    /// The clients' history could be ordered.
    pub linearizable: bool,
    /// The honest nodes' logs agree.
    pub agreement: bool,
    /// Nodes an honest node flagged.
    pub detected: Vec<NodeId>,
    pub elapsed_ms: f64,
    /// For a history that cannot be ordered: its fewest calls, drawn.
    pub refused: Option<String>,
}

impl KvDemoReport {
    pub fn render(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let mut out = format!(
            "paxos demo --workload kv: {}, {}, {:.0} ms\n\
             clients:   {} of {} operations completed\n\
             agreement: {}\n\
             linearizable: {}\n\
             detected:  {}\n",
            crate::verdict::count(self.nodes, "node"),
            crate::verdict::count(self.clients, "client"),
            self.elapsed_ms,
            self.completed,
            self.invoked,
            yes(self.agreement),
            yes(self.linearizable),
            match self.detected.is_empty() {
                true => "nobody".to_string(),
                false => {
                    let ids: Vec<String> = self
                        .detected
                        .iter()
                        .map(|id| format!("node {id}"))
                        .collect();
                    ids.join(", ")
                }
            },
        );
        if let Some(calls) = &self.refused {
            out.push_str(
                "history: NOT linearizable; the fewest operations that cannot be ordered:\n",
            );
            out.push_str(calls);
        }
        out
    }
}

/// One client: its operations, one at a time, recorded in `history`.
struct KvClient {
    id: u64,
    running: Rc<Running>,
    history: Rc<RefCell<History>>,
    targets: Rc<Vec<NodeId>>,
    pinned: bool,
    deadline: Instant,
}

impl KvClient {
    async fn run(self, w: KvWorkload, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ self.id.wrapping_mul(0x9e37_79b9));
        let mut seen = BTreeMap::new();
        for seq in 1..=w.ops as u64 {
            let op = draw_op(&mut rng, w.keys, self.id, seq, &seen);
            let _ = self.history.borrow_mut().invoke(self.id, op.clone());
            let cmd = Command {
                client: self.id,
                seq,
                op: op.clone(),
            };
            let Some(reply) = self.ask(Value::one(cmd.encode()), seq).await else {
                return;
            };
            remember(&mut seen, &op, &reply);
            let _ = self.history.borrow_mut().complete(self.id, reply);
        }
    }

    /// Ask for `value` until a node answers or time is up.
    async fn ask(&self, value: Value, seq: u64) -> Option<Reply> {
        let coordinator = &self.running.coordinator;
        for attempt in 0.. {
            let node = self.targets[(self.id as usize + attempt) % self.targets.len()];
            coordinator.do_send(CoordinatorPropagateMessage {
                value: value.clone(),
                node: Some(node),
                pinned: self.pinned,
            });
            let asked = Instant::now();
            while asked.elapsed() < ASK_AGAIN {
                let query = GetKvReply {
                    client: self.id,
                    seq,
                };
                if let Ok(Some(reply)) = coordinator.send(query).await {
                    return Some(reply);
                }
                if Instant::now() >= self.deadline {
                    return None;
                }
                actix_rt::time::sleep(LOOK).await;
            }
        }
        None
    }
}

/// Run the cluster of `cfg` with the clients of `w`. Must be called inside
/// an actix system.
pub async fn run(cfg: &DemoConfig, w: &KvWorkload) -> Result<KvDemoReport, DemoError> {
    let spec = cfg.validate()?;
    if cfg.bft && w.reads == crate::kv::ReadPath::Index {
        return Err(DemoError::IndexReadsInBft);
    }
    let begin = Instant::now();
    let running = Rc::new(super::start(&spec, cfg, begin, Some(w.reads)));
    let history = Rc::new(RefCell::new(History::default()));
    let targets = Rc::new(crate::client::targets(cfg.nodes, cfg.attack, cfg.attacker));
    let clients = (1..=w.clients as u64).map(|id| {
        let client = KvClient {
            id,
            running: running.clone(),
            history: history.clone(),
            targets: targets.clone(),
            pinned: cfg.attack.is_some(),
            deadline: begin + cfg.deadline,
        };
        client.run(w.clone(), cfg.seed)
    });
    futures::future::join_all(clients).await;
    let elapsed_ms = begin.elapsed().as_secs_f64() * 1e3;
    let statuses = running
        .coordinator
        .send(GetStatuses(crate::actors::GetStatus::ALL))
        .await?;
    running.coordinator.do_send(CoordinatorExitCommand);
    let honest = spec.honest();
    let logs: Vec<_> = statuses
        .iter()
        .filter(|s| honest.contains(&s.id))
        .map(|s| &s.log)
        .collect();
    let detected = crate::verdict::detected(
        statuses
            .iter()
            .filter(|s| honest.contains(&s.id))
            .map(|s| (s.id, &s.flagged)),
        &honest,
    );
    let history = history.borrow();
    let verdict = history.check();
    Ok(KvDemoReport {
        nodes: cfg.nodes,
        clients: w.clients,
        invoked: history.calls().len(),
        completed: history.calls().iter().filter(|c| c.reply.is_some()).count(),
        linearizable: verdict == Verdict::Linearizable,
        agreement: crate::verdict::agreement(&logs).0,
        detected: detected.into_iter().collect(),
        elapsed_ms,
        refused: match verdict {
            Verdict::Linearizable => None,
            Verdict::NotLinearizable { calls, .. } => Some(crate::kv::check::draw(&calls)),
        },
    })
}
