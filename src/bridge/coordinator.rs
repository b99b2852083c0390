//! The coordinator process: the same `Coordinator` actor as the demo, with
//! every remote node stood in for by a [`RemoteNode`] proxy actor, and a
//! listener that serves nodes (registration, `DebugInfo`) and clients
//! (`propose`, `status`, `shutdown`) on one port.

use super::admission::{self, ClusterKey};
use super::conn::{self, Reader, HANDSHAKE_TIMEOUT};
use super::frame::{ClusterStatus, Frame, Registration, MAX_FRAME};
use super::registry::RegistryFile;
use super::BridgeError;
use crate::actors::{
    Admit, Coordinator, CoordinatorExitCommand, CoordinatorPropagateMessage, DebugInfo, GetKvReply,
    GetProgress, GetRegistry, GetStatus, GetStatuses, KvApplied, NodeCommand, NodeLost, NodeStatus,
    Partition, PeerInfo, PeerRecord, Release,
};
use crate::auth::{handshake_bytes, verify_handshake};
use crate::core::{NodeId, Value};
use actix::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Connections served at once, nodes and clients together ([`conn::Gate`]):
/// beyond it the oldest unproven one is evicted, and when all are members a
/// newcomer is closed (with a warning at most once a second).
pub const MAX_CONNECTIONS: usize = 512;

/// Connections at once that have not proven they hold the cluster key; a
/// new one beyond this evicts the oldest of them.
pub const MAX_UNPROVEN: usize = 128;

/// How long a client connection may sit idle between requests.
pub const CLIENT_IDLE: Duration = Duration::from_secs(60);

/// How long the coordinator waits for a node to answer a status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// What a client's propose is refused with before any node registered (a
/// cluster still starting: a client may wait and ask again).
pub const NO_NODE_YET: &str = "no node has registered yet";

/// Serve a cluster of `n` nodes on `listener`, admitting only holders of
/// `key`, until a client asks for shutdown; with a `registry`, start from
/// the ids and keys it keeps and keep every new one there. Must be called
/// inside an actix system.
pub async fn run(
    listener: TcpListener,
    key: ClusterKey,
    n: usize,
    print: bool,
    registry: Option<RegistryFile>,
) -> Result<(), BridgeError> {
    let mut coordinator = Coordinator::with_size(n, print);
    let mut members = BTreeSet::new();
    if let Some(file) = registry {
        let known = file.load()?;
        if let Some((&id, _)) = known.iter().find(|(id, _)| (**id as usize) >= n) {
            return Err(BridgeError::Storage(format!(
                "the registry knows node {id}, but this cluster has {n} nodes (0 to {})",
                n.saturating_sub(1)
            )));
        }
        if !known.is_empty() {
            log::info!(
                "restored the registry: nodes {:?}",
                known.keys().collect::<Vec<_>>()
            );
        }
        members = known.keys().copied().collect();
        let save = move |keys: &_| file.save(keys).map_err(|e| e.to_string());
        coordinator = coordinator.with_registry(known, Box::new(save));
    }
    serve(listener, key, coordinator.start(), n, true, members).await
}

/// Serve `coordinator` (already started, admitting `n` nodes) on `listener`
/// until a client asks for shutdown; every connection must first prove it
/// holds `key` ([`admission`]). `announce` prints each registration on
/// stdout (the coordinator terminal; tests read it).
pub async fn serve(
    listener: TcpListener,
    key: ClusterKey,
    coordinator: Addr<Coordinator>,
    n: usize,
    announce: bool,
    known: BTreeSet<NodeId>,
) -> Result<(), BridgeError> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let members = Arc::new(Members::new(known));
    let counter = members.clone();
    let gate = conn::Gate::new(MAX_CONNECTIONS, MAX_UNPROVEN);
    let warnings = Arc::new(conn::Throttled::default());
    let accepting = actix_rt::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let w = warnings.clone();
                    let ctx = Session {
                        key: key.clone(),
                        announce,
                        coordinator: coordinator.clone(),
                        n,
                        stop: stop_tx.clone(),
                        members: counter.clone(),
                    };
                    let admitted = conn::spawn_admitted(&gate, move |ticket| async move {
                        if let Err(e) = ctx.serve(stream, &ticket).await {
                            w.warn(&format!("connection from {addr} dropped: {e}"));
                        }
                    });
                    if !admitted {
                        warnings.warn(&format!(
                            "refused a connection from {addr}: {MAX_CONNECTIONS} members are connected"
                        ));
                    }
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    let _ = stop_rx.changed().await;
    // The Exit commands are queued on each connected node's connection; a
    // member whose connection was down registers again within a second or
    // two and is told then. Keep serving until every member heard it.
    let give_up = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while !members.all_told() && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    accepting.abort();
    let missed = members.not_told();
    if !missed.is_empty() {
        log::warn!("{}", missed_shutdown(&missed));
    }
    members.missed.send_replace(Some(missed));
    if members.asked.load(Ordering::SeqCst) {
        // Let the client that asked hear how it went before the process ends.
        let _ = tokio::time::timeout(Duration::from_secs(1), members.answered.notified()).await;
    }
    Ok(())
}

fn missed_shutdown(missed: &BTreeSet<NodeId>) -> String {
    format!(
        "{} did not hear the shutdown within {SHUTDOWN_GRACE:?} (unreachable): stop them by hand",
        crate::verdict::nodes(missed)
    )
}

/// How long a shutting-down coordinator waits for members that are not
/// connected to come back and be told.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// The nodes a coordinator knows, for a shutdown that reaches them all.
struct Members {
    connected: AtomicUsize,
    /// Every node that is or was a member (the registry on disk included).
    ever: std::sync::Mutex<BTreeSet<NodeId>>,
    /// Members that hung up or were told to exit since the shutdown.
    told: std::sync::Mutex<BTreeSet<NodeId>>,
    /// Once the shutdown is over: the members that did not hear it.
    missed: watch::Sender<Option<BTreeSet<NodeId>>>,
    /// A client that asked for the shutdown was answered.
    answered: tokio::sync::Notify,
    /// A client asked for the shutdown (and waits to be answered).
    asked: std::sync::atomic::AtomicBool,
}

impl Members {
    fn new(known: BTreeSet<NodeId>) -> Members {
        Members {
            connected: AtomicUsize::new(0),
            ever: std::sync::Mutex::new(known),
            told: Default::default(),
            missed: watch::channel(None).0,
            answered: tokio::sync::Notify::new(),
            asked: Default::default(),
        }
    }

    fn joined(&self, id: NodeId) {
        self.ever
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    fn told(&self, id: NodeId) {
        self.told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    fn not_told(&self) -> BTreeSet<NodeId> {
        let ever = self.ever.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let told = self.told.lock().unwrap_or_else(|p| p.into_inner());
        ever.difference(&told).copied().collect()
    }

    fn all_told(&self) -> bool {
        self.connected.load(Ordering::SeqCst) == 0 && self.not_told().is_empty()
    }
}

/// One accepted connection, whoever it turns out to be.
struct Session {
    key: ClusterKey,
    announce: bool,
    coordinator: Addr<Coordinator>,
    n: usize,
    stop: watch::Sender<bool>,
    members: Arc<Members>,
}

impl Session {
    async fn serve(
        self,
        stream: tokio::net::TcpStream,
        ticket: &conn::Ticket,
    ) -> Result<(), BridgeError> {
        let (mut reader, mut writer) = conn::split(stream);
        let nonce = admission::admit(&self.key, &mut reader, &mut writer).await?;
        ticket.proven();
        conn::trust(&mut reader);
        let first = conn::next_frame(&mut reader, HANDSHAKE_TIMEOUT).await?;
        match first {
            Frame::Register(reg) => self.serve_node(reg, nonce, reader, writer).await,
            request => self.serve_client(request, reader, writer).await,
        }
    }

    async fn serve_node(
        self,
        reg: Registration,
        nonce: [u8; 32],
        mut reader: Reader,
        mut writer: OwnedWriteHalf,
    ) -> Result<(), BridgeError> {
        let transcript = handshake_bytes(&nonce, reg.id, &reg.addr);
        if let Err(e) = verify_handshake(&reg.key, &transcript, &reg.sig) {
            let reason = format!("registration not signed by the key it announces: {e}");
            return refuse(&mut writer, reason).await;
        }
        if *self.stop.borrow() {
            return self.tell_to_stop(reg, writer).await;
        }
        let admitted = self
            .coordinator
            .send(Admit {
                wanted: reg.id,
                key: reg.key,
                attack: reg.attack.clone(),
                profile: reg.profile.clone(),
            })
            .await?;
        let id = match admitted {
            Ok(id) => id,
            Err(reason) => return refuse(&mut writer, reason).await,
        };
        conn::write_frame(&mut writer, Frame::Welcome { id, n: self.n }).await?;
        // The slot is held until the node says it is set up; one that
        // cannot start gives it back.
        let ready = match conn::next_frame(&mut reader, Duration::MAX).await {
            Ok(Frame::Ready) => Ok(()),
            Ok(Frame::Leave { reason }) => Err(reason),
            Ok(other) => Err(format!(
                "it sent {} before it was ready",
                admission::frame_kind(&other)
            )),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = ready {
            self.coordinator.do_send(Release { id, key: reg.key });
            let line = format!("node {id} left before it started ({why}): its slot is free");
            if self.announce {
                println!("{line}");
            } else {
                log::info!("{line}");
            }
            return Ok(());
        }
        let what = match &reg.attack {
            Some(a) => format!("attacker ({a})"),
            None => "honest".to_string(),
        };
        let line = format!(
            "node {id} registered from {} ({what}, middleware {})",
            reg.addr,
            if reg.middleware { "on" } else { "off" }
        );
        if self.announce {
            println!("{line}");
        } else {
            log::info!("{line}");
        }
        let tx = conn::spawn_writer(writer);
        let proxy = RemoteNode {
            id,
            tx,
            next_req: 0,
            pending: HashMap::new(),
        }
        .start();
        self.coordinator.do_send(PeerInfo {
            record: PeerRecord {
                id,
                key: Some(reg.key),
                addr: Some(reg.addr),
            },
            commands: proxy.clone().recipient(),
            status: proxy.clone().recipient(),
        });
        self.members.joined(id);
        self.members.connected.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            match conn::next_frame(&mut reader, Duration::MAX).await {
                Ok(Frame::Debug(event)) => self.coordinator.do_send(DebugInfo { node: id, event }),
                Ok(Frame::Applied { client, seq, reply }) => self.coordinator.do_send(KvApplied {
                    node: id,
                    client,
                    seq,
                    reply,
                }),
                Ok(Frame::Status { req, status }) => proxy.do_send(StatusReply { req, status }),
                Ok(other) => log::warn!("node {id} sent an unexpected frame: {other:?}"),
                Err(BridgeError::Closed) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if *self.stop.borrow() {
            self.members.told(id); // it heard the Exit, or is gone anyway
        }
        self.members.connected.fetch_sub(1, Ordering::SeqCst);
        self.coordinator.do_send(NodeLost {
            id,
            commands: proxy.clone().recipient(),
        });
        proxy.do_send(Hangup);
        result
    }

    /// A member registering again while the cluster shuts down: welcome it
    /// under its own id only to tell it to exit.
    async fn tell_to_stop(
        &self,
        reg: Registration,
        mut writer: OwnedWriteHalf,
    ) -> Result<(), BridgeError> {
        let Some(id) = reg.id else {
            return refuse(&mut writer, "the cluster is shutting down".into()).await;
        };
        conn::write_frame(&mut writer, Frame::Welcome { id, n: self.n }).await?;
        conn::write_frame(&mut writer, Frame::Command(NodeCommand::Exit)).await?;
        log::info!("told node {id}, back during the shutdown, to exit");
        self.members.told(id);
        Ok(())
    }

    async fn serve_client(
        self,
        mut request: Frame,
        mut reader: Reader,
        mut writer: OwnedWriteHalf,
    ) -> Result<(), BridgeError> {
        loop {
            let Some(answer) = self.answer(request).await? else {
                // Shutdown: answer once every member heard it, or say who did not.
                log::info!("shutdown asked: telling every member to exit");
                self.members.asked.store(true, Ordering::SeqCst);
                let mut missed = self.members.missed.subscribe();
                let _ = self.stop.send(true);
                let answer = match missed
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|m| m.clone())
                {
                    Some(m) if !m.is_empty() => Frame::Refused {
                        reason: missed_shutdown(&m),
                    },
                    _ => Frame::Ok,
                };
                let written = conn::write_frame(&mut writer, answer).await;
                self.members.answered.notify_one();
                return written;
            };
            conn::write_frame(&mut writer, answer).await?;
            request = match conn::next_frame(&mut reader, CLIENT_IDLE).await {
                Ok(f) => f,
                Err(BridgeError::Closed | BridgeError::Timeout(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
        }
    }

    /// A client's `propose`: refused before any node registered or for an
    /// unknown node; else one ask for all its values.
    async fn propose(
        &self,
        values: Vec<Value>,
        node: Option<NodeId>,
    ) -> Result<Frame, BridgeError> {
        let c = &self.coordinator;
        let registry = c.send(GetRegistry).await?;
        Ok(if registry.registered.is_empty() {
            Frame::Refused {
                reason: NO_NODE_YET.into(),
            }
        } else if let Some(id) = node.filter(|id| !registry.registered.contains(id)) {
            Frame::Refused {
                reason: format!(
                    "node {id} is not registered (registered: {:?})",
                    registry.registered
                ),
            }
        } else {
            // One ask for the lot: one command to one node, not a
            // frame per value (the node's queue holds 4,096 frames).
            if !values.is_empty() {
                let all = Value::concat(&values);
                c.do_send(CoordinatorPropagateMessage::ask(all, node));
            }
            Frame::Ok
        })
    }

    /// The answer to one client request; `None` for a shutdown.
    async fn answer(&self, request: Frame) -> Result<Option<Frame>, BridgeError> {
        let c = &self.coordinator;
        Ok(Some(match request {
            Frame::Propose { values, node } => self.propose(values, node).await?,
            Frame::QueryCommits { values } => {
                let progress = c.send(GetProgress).await?;
                let committed = values
                    .into_iter()
                    .map(|v| {
                        let nodes = progress.committed.get(&v).cloned().unwrap_or_default();
                        (v, nodes)
                    })
                    .collect();
                Frame::Commits {
                    n: self.n,
                    committed,
                }
            }
            Frame::QueryReply { client, seq } => Frame::Reply {
                reply: c.send(GetKvReply { client, seq }).await?,
            },
            Frame::QueryStatus { from } => {
                let registry = c.send(GetRegistry).await?;
                // Every node's page shares one frame, with room to spare.
                let budget = MAX_FRAME / 2 / self.n.max(1);
                let nodes = c.send(GetStatuses(GetStatus { from, budget })).await?;
                Frame::ClusterStatus(ClusterStatus {
                    n: self.n,
                    attackers: registry.attackers.into_iter().collect(),
                    unreachable: registry.unreachable.into_iter().collect(),
                    registered: registry.registered.into_iter().collect(),
                    nodes,
                })
            }
            Frame::Partition { a, b } => {
                let registry = c.send(GetRegistry).await?;
                let unknown: Vec<NodeId> = a
                    .iter()
                    .chain(&b)
                    .filter(|id| !registry.registered.contains(id))
                    .copied()
                    .collect();
                if !unknown.is_empty() {
                    Frame::Refused {
                        reason: format!("nodes {unknown:?} are not registered"),
                    }
                } else if a.iter().any(|x| b.contains(x)) {
                    Frame::Refused {
                        reason: "a node cannot be on both sides of a partition".into(),
                    }
                } else {
                    c.send(Partition { a, b }).await?;
                    Frame::Ok
                }
            }
            Frame::Shutdown => {
                c.send(CoordinatorExitCommand).await.ok();
                return Ok(None);
            }
            other => return Err(BridgeError::Unexpected(format!("a client sent {other:?}"))),
        }))
    }
}

/// Tell the other side why, then fail with the same reason.
async fn refuse(writer: &mut OwnedWriteHalf, reason: String) -> Result<(), BridgeError> {
    let _ = conn::write_frame(
        writer,
        Frame::Refused {
            reason: reason.clone(),
        },
    )
    .await;
    Err(BridgeError::Refused(reason))
}

/// Stands in for a remote node in the coordinator process: commands and
/// status requests go down its connection.
struct RemoteNode {
    id: NodeId,
    tx: mpsc::Sender<Frame>,
    next_req: u64,
    pending: HashMap<u64, oneshot::Sender<NodeStatus>>,
}

impl Actor for RemoteNode {
    type Context = Context<Self>;
}

/// A node's answer to a status request.
#[derive(Message)]
#[rtype(result = "()")]
struct StatusReply {
    req: u64,
    status: NodeStatus,
}

/// The node's connection closed.
#[derive(Message)]
#[rtype(result = "()")]
struct Hangup;

impl Handler<NodeCommand> for RemoteNode {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, _: &mut Context<Self>) {
        conn::enqueue(&self.tx, Frame::Command(cmd), &format!("node {}", self.id));
    }
}

impl Handler<GetStatus> for RemoteNode {
    type Result = ResponseFuture<Option<NodeStatus>>;
    fn handle(&mut self, page: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let req = self.next_req;
        self.next_req += 1;
        let (tx, rx) = oneshot::channel();
        self.pending.insert(req, tx);
        conn::enqueue(
            &self.tx,
            Frame::StatusRequest { req, page },
            &format!("node {}", self.id),
        );
        Box::pin(async move { tokio::time::timeout(STATUS_TIMEOUT, rx).await.ok()?.ok() })
    }
}

impl Handler<StatusReply> for RemoteNode {
    type Result = ();
    fn handle(&mut self, StatusReply { req, mut status }: StatusReply, _: &mut Context<Self>) {
        // The connection says who the node is; its own claim does not count.
        status.id = self.id;
        if let Some(tx) = self.pending.remove(&req) {
            let _ = tx.send(status);
        }
    }
}

impl Handler<Hangup> for RemoteNode {
    type Result = ();
    fn handle(&mut self, _: Hangup, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
