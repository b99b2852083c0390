//! A node process: registers with the coordinator, then runs the same
//! `NodeActor` and `Middleware` as the demo, with the [`Bridge`] actor as
//! their network and their coordinator.

use super::admission::{self, frame_kind as kind, ClusterKey};
use super::conn::{self, Reader, HANDSHAKE_TIMEOUT};
use super::frame::{Frame, Registration};
use super::reports::Reports;
use super::BridgeError;
use crate::actors::{
    spawn_node, DebugInfo, Fatal, Incoming, KvApplied, Middleware, NodeCommand, PeerRecord, Tick,
    Ticker, Transmit, Wiring, TICK,
};
use crate::attack::Attack;
use crate::auth::{handshake_bytes, verify_handshake, Identity};
use crate::cluster::{ClusterSpec, Defences, Member, Mode, Saved, Signing, Tunables};
use crate::core::NodeId;
use crate::wire::Packet;
use actix::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// How a node process runs (`paxos node …`).
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub listen: String,
    /// The address peers should dial, when it is not `listen`'s (a NAT or
    /// a proxy in front of the node).
    pub advertise: Option<String>,
    pub coordinator: String,
    pub data_dir: Option<PathBuf>,
    pub attack: Option<Attack>,
    pub middleware: bool,
    /// Run only these defences (`--defences`); `None`: all of them with
    /// `middleware`, else none.
    pub defences: Option<Defences>,
    pub max_prepares: u32,
    /// Ask for this id (else the coordinator picks, or the data dir says).
    pub id: Option<NodeId>,
    /// How long to keep trying to reach the coordinator at start.
    pub connect_timeout: Duration,
    /// Positions in flight and values per position (`Config::window`, `batch`).
    pub window: usize,
    pub batch: usize,
    /// Positions between two snapshots of the node's store (0: never).
    pub snapshot_every: u64,
    /// Sign every packet (needed by the middleware's defences, which it
    /// implies). Off, peers are still authenticated per connection.
    pub auth: bool,
    /// Print `node I listening on ADDR` on stdout once registered (scripts
    /// and tests read it); off when a bench runs nodes in its own process.
    pub announce: bool,
    /// BFT mode (`--bft`, with `--faults`); every node of a cluster must
    /// run the same mode.
    pub bft: bool,
    pub faults: Option<usize>,
    /// The cluster's key: the coordinator admits this node only if it holds
    /// it, and this node follows only a coordinator that does.
    pub cluster_key: ClusterKey,
}

impl NodeOptions {
    /// How this node runs the protocol, for the coordinator to compare.
    pub fn profile(&self) -> crate::actors::Profile {
        crate::actors::Profile {
            bft: self.bft,
            faults: self.faults,
            defences: self.spec(1, 0).defences.to_string(),
        }
    }

    /// A node of the coordinator at `coordinator`, listening on a port the
    /// OS picks, in memory, honest, with the lab's window and the core's batch ceiling.
    pub fn new(coordinator: &str, cluster_key: ClusterKey) -> Self {
        let lab = crate::cluster::Tunables::default();
        NodeOptions {
            cluster_key,
            listen: "127.0.0.1:0".into(),
            advertise: None,
            coordinator: coordinator.into(),
            data_dir: None,
            attack: None,
            middleware: false,
            defences: None,
            max_prepares: 3,
            id: None,
            connect_timeout: Duration::from_secs(5),
            window: lab.window,
            // Across processes a busy leader folds queued values into one
            // position: many values from one `propose` share their syncs.
            batch: crate::core::Config::new(1).batch,
            snapshot_every: crate::kv::SNAPSHOT_EVERY,
            auth: true,
            announce: true,
            bft: false,
            faults: None,
        }
    }
}

impl NodeOptions {
    /// The cluster this node joins as node `id`, of `n` nodes (the
    /// coordinator's size); it is the attacker if `--attack` says so.
    /// It signs with `auth` (links are authenticated per connection either
    /// way) and always with the defences, which need signatures.
    pub fn spec(&self, n: usize, id: NodeId) -> ClusterSpec {
        ClusterSpec {
            nodes: n,
            mode: Mode::from_flags(self.bft, self.faults),
            attack: self.attack.map(|a| (a, id)),
            defences: self
                .defences
                .clone()
                .unwrap_or_else(|| Defences::all_if(self.middleware)),
            signing: match self.auth {
                true => Signing::Always,
                false => Signing::WithDefences,
            },
            seed: 0,
            scheme: crate::auth::Scheme::Ed25519,
            tunables: Tunables {
                window: self.window.max(1),
                batch: self.batch.max(1),
                snapshot_every: self.snapshot_every,
                max_prepares: self.max_prepares,
                ..Tunables::default()
            },
        }
    }
}

/// Run a node until the coordinator tells it to exit. Must be called inside
/// an actix system.
pub async fn run(opts: NodeOptions) -> Result<(), BridgeError> {
    let mut durable = super::disk::open(opts.data_dir.as_deref())?;
    let identity = durable.identity();
    let wanted = opts.id.or(durable.id());
    if let (Some(asked), Some(saved)) = (opts.id, durable.id()) {
        if asked != saved {
            return Err(BridgeError::Refused(format!(
                "--id {asked} does not match the data directory, which belongs to node {saved}"
            )));
        }
    }

    let listener = TcpListener::bind(&opts.listen)
        .await
        .map_err(|source| BridgeError::Bind {
            addr: opts.listen.clone(),
            source,
        })?;
    let local = listener.local_addr()?.to_string();
    // Where peers dial: the listener itself, unless something (a NAT, a
    // proxy) stands in front of it.
    let advertised = opts.advertise.clone().unwrap_or_else(|| local.clone());

    let me = Registrant {
        coordinator: opts.coordinator.clone(),
        key: opts.cluster_key.clone(),
        identity: identity.clone(),
        addr: advertised,
        attack: opts.attack.map(|a| a.to_string()),
        middleware: opts.middleware,
        profile: opts.profile(),
    };
    let (id, n, reader, mut writer) = me.register(wanted, opts.connect_timeout).await?;
    let spec = set_up(&opts, &mut durable, id, n, &mut writer).await?;
    let (member, proofs) = rebuild(&spec, id, &identity, &mut durable);
    conn::write_frame(&mut writer, Frame::Ready).await?;
    if opts.announce {
        println!("node {id} listening on {local}");
    }
    log::info!("node {id} of {n} registered with {}", opts.coordinator);

    let (exit_tx, exit_rx) = oneshot::channel();
    let to_coordinator = conn::spawn_writer(writer);
    let bridge = Bridge {
        id,
        identity,
        middleware: None,
        links: BTreeMap::new(),
        keys: BTreeMap::new(),
        inbound: BTreeMap::new(),
        cut: BTreeSet::new(),
        coordinator: to_coordinator,
        reports: Reports::default(),
        exit: Some(exit_tx),
    }
    .start();
    let seed = u64::from_le_bytes(conn::nonce()[..8].try_into().unwrap_or_default());
    let wiring = Wiring {
        store: durable.into_store(),
        proofs,
        fatal: Some(bridge.clone().recipient()),
        verifier: crate::actors::verifiers(spec.signs(), 1).map(|v| v.for_node(id)),
        kv: Some(bridge.clone().recipient()),
        snapshot_every: spec.tunables.snapshot_every,
        ..Wiring::new(bridge.clone().recipient(), bridge.clone().recipient(), seed)
    };
    let middleware = spawn_node(member, wiring);
    bridge.do_send(Attach(middleware));

    actix_rt::spawn(follow_coordinator(me, id, n, reader, bridge.clone()));
    actix_rt::spawn(accept_peers(listener, bridge));
    if let Ok(Some(why)) = exit_rx.await {
        // Leaving is what tells the coordinator to stop asking this node.
        return Err(BridgeError::Storage(why));
    }
    log::info!("node {id}: exiting on the coordinator's command");
    Ok(())
}

/// Keep the id the coordinator gave, and check the cluster's spec. Until
/// `Ready` the coordinator only holds the slot: a node that cannot start
/// says `Leave`, and the next one can have the slot.
async fn set_up(
    opts: &NodeOptions,
    durable: &mut super::disk::NodeDisk,
    id: NodeId,
    n: usize,
    writer: &mut OwnedWriteHalf,
) -> Result<ClusterSpec, BridgeError> {
    let spec = durable.set_id(id).and_then(|()| {
        let spec = opts.spec(n, id);
        spec.validate()?;
        Ok(spec)
    });
    if let Err(e) = &spec {
        let leave = Frame::Leave {
            reason: e.to_string(),
        };
        let _ = conn::write_frame(writer, leave).await;
    }
    spec
}

/// This node as it restarts from its data directory (or starts, in memory):
/// through [`ClusterSpec::rebuild`], as the simulator restarts its nodes.
/// The proofs count only with the defences on (they prove nothing else),
/// and so only then is there a proof log to append to.
fn rebuild(
    spec: &ClusterSpec,
    id: NodeId,
    identity: &Identity,
    durable: &mut super::disk::NodeDisk,
) -> (Member, Option<crate::storage::ProofLog>) {
    let core = durable.take_state().unwrap_or_default();
    let (log, proofs) = match durable.take_proofs() {
        Some((log, kept)) if !spec.defences.is_empty() => (Some(log), kept),
        _ => (None, Default::default()),
    };
    if !core.log.is_empty() || !core.acceptor.is_empty() {
        log::info!(
            "node {id}: restored {} committed positions and {} promises",
            core.log.len(),
            core.acceptor.len()
        );
    }
    if !proofs.certificates.is_empty() {
        log::info!(
            "node {id}: restored the certificates of {} commits",
            proofs.certificates.len()
        );
    }
    (
        spec.rebuild(id, || identity.clone(), Saved { core, proofs }),
        log,
    )
}

/// Who this node is, to (re-)register with the coordinator.
struct Registrant {
    profile: crate::actors::Profile,
    coordinator: String,
    key: ClusterKey,
    identity: Identity,
    addr: String,
    attack: Option<String>,
    middleware: bool,
}

impl Registrant {
    /// Register (the brief's `PeerInfo`), proving we hold the key we announce.
    async fn register(
        &self,
        wanted: Option<NodeId>,
        timeout: Duration,
    ) -> Result<(NodeId, usize, Reader, OwnedWriteHalf), BridgeError> {
        let give_up = tokio::time::Instant::now() + timeout;
        let stream = conn::dial_retrying(&self.coordinator, timeout).await?;
        // Every later step within what is left of the same deadline.
        tokio::time::timeout_at(give_up, self.handshake(stream, wanted))
            .await
            .map_err(|_| BridgeError::Timeout(timeout))?
    }

    /// Admission with the cluster key, then the registration itself.
    async fn handshake(
        &self,
        stream: tokio::net::TcpStream,
        wanted: Option<NodeId>,
    ) -> Result<(NodeId, usize, Reader, OwnedWriteHalf), BridgeError> {
        let (mut reader, mut writer) = conn::split(stream);
        let nonce = admission::dial(&self.key, &self.coordinator, &mut reader, &mut writer).await?;
        let sig = self
            .identity
            .sign_handshake(&handshake_bytes(&nonce, wanted, &self.addr));
        let reg = Registration {
            id: wanted,
            key: self.identity.public(),
            addr: self.addr.clone(),
            attack: self.attack.clone(),
            middleware: self.middleware,
            profile: self.profile.clone(),
            sig,
        };
        conn::write_frame(&mut writer, Frame::Register(reg)).await?;
        match conn::next_frame(&mut reader, HANDSHAKE_TIMEOUT).await? {
            Frame::Welcome { id, n } => {
                conn::trust(&mut reader);
                Ok((id, n, reader, writer))
            }
            Frame::Refused { reason } => Err(BridgeError::Refused(reason)),
            other => Err(BridgeError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// Hand the coordinator's frames to the bridge; when the coordinator goes
/// away (restarted, say), keep serving peers and register again as the
/// same node once it is back.
async fn follow_coordinator(
    me: Registrant,
    id: NodeId,
    n: usize,
    mut reader: Reader,
    bridge: Addr<Bridge>,
) {
    loop {
        while let Ok(frame) = conn::next_frame(&mut reader, Duration::MAX).await {
            // The coordinator stops the cluster: it closes next, and this
            // node is leaving, not losing it.
            let exit = matches!(frame, Frame::Command(NodeCommand::Exit));
            bridge.do_send(FromCoordinator(frame));
            if exit {
                return;
            }
        }
        log::warn!("node {id}: lost the coordinator; still serving peers, registering again");
        // Each distinct refusal is logged once, not every half second.
        let mut said = String::new();
        loop {
            let trouble = match me.register(Some(id), Duration::from_secs(2)).await {
                Ok((again, m, r, mut w)) if again == id && m == n => {
                    if let Err(e) = conn::write_frame(&mut w, Frame::Ready).await {
                        log::debug!("node {id}: the coordinator went away again: {e}");
                        continue;
                    }
                    log::info!("node {id}: registered again with {}", me.coordinator);
                    bridge.do_send(NewCoordinator(conn::spawn_writer(w)));
                    reader = r;
                    break;
                }
                Ok((again, m, ..)) => format!(
                    "the coordinator now says node {again} of {m}; not rejoining a different cluster"
                ),
                // An impostor on the coordinator's address, or one that
                // refuses us: worth saying. Not back yet: quietly retry.
                Err(e @ (BridgeError::Refused(_) | BridgeError::Unexpected(_))) => e.to_string(),
                Err(e) => {
                    log::debug!("node {id}: coordinator not back yet: {e}");
                    String::new()
                }
            };
            if !trouble.is_empty() && trouble != said {
                log::warn!("node {id}: not following {}: {trouble}", me.coordinator);
                said = trouble;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Peer connections a node serves at once, and how many of them may not
/// have proven who they are yet (the oldest is evicted for a newcomer).
const MAX_PEER_LINKS: usize = 256;
const MAX_UNPROVEN_PEERS: usize = 32;

async fn accept_peers(listener: TcpListener, bridge: Addr<Bridge>) {
    let warnings = std::sync::Arc::new(conn::Throttled::default());
    let gate = conn::Gate::new(MAX_PEER_LINKS, MAX_UNPROVEN_PEERS);
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let bridge = bridge.clone();
                let w = warnings.clone();
                let admitted = conn::spawn_admitted(&gate, move |ticket| async move {
                    match serve_peer(stream, bridge, &ticket).await {
                        Err(BridgeError::Closed) => log::debug!("{addr} hung up"),
                        Err(e) => {
                            w.warn(&format!("connection from {addr} dropped: {e}"));
                        }
                        Ok(()) => {}
                    }
                });
                if !admitted {
                    warnings.warn(&format!(
                        "refused a connection from {addr}: {MAX_PEER_LINKS} peer links are up"
                    ));
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The key the coordinator registered for `id`. A peer that dials as soon
/// as it learns of this node can be ahead of the coordinator's update that
/// tells this node of it, so an unknown id gets a moment to arrive before
/// it is refused.
async fn key_of(bridge: &Addr<Bridge>, id: NodeId) -> Result<Option<[u8; 32]>, BridgeError> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let key = bridge.send(KeyOf(id)).await?;
        if key.is_some() || tokio::time::Instant::now() >= give_up {
            return Ok(key);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One inbound peer connection: authenticate, then hand every packet to the
/// bridge. Garbage or an oversized frame ends this connection only.
async fn serve_peer(
    stream: tokio::net::TcpStream,
    bridge: Addr<Bridge>,
    ticket: &conn::Ticket,
) -> Result<(), BridgeError> {
    let (mut reader, mut writer) = conn::split(stream);
    let nonce = conn::nonce();
    conn::write_frame(&mut writer, Frame::Challenge { nonce }).await?;
    let Frame::PeerHello { id, sig } = conn::next_frame(&mut reader, HANDSHAKE_TIMEOUT).await?
    else {
        return Err(BridgeError::Unexpected(
            "the first frame was not a PeerHello".into(),
        ));
    };
    let checked = match key_of(&bridge, id).await? {
        None => Err(format!("node {id} is not in the coordinator's registry")),
        Some(key) => verify_handshake(&key, &handshake_bytes(&nonce, Some(id), ""), &sig)
            .map_err(|e| format!("node {id}: {e}")),
    };
    if let Err(reason) = checked {
        let refusal = Frame::Refused {
            reason: reason.clone(),
        };
        let _ = conn::write_frame(&mut writer, refusal).await;
        return Err(BridgeError::Refused(reason));
    }
    conn::write_frame(&mut writer, Frame::Ok).await?;
    ticket.proven();
    conn::trust(&mut reader);
    log::debug!("peer {id} connected");
    bridge.do_send(PeerLink { id, up: true });
    let served = async {
        loop {
            match conn::next_frame(&mut reader, Duration::MAX).await? {
                Frame::Packet(packet) => bridge.do_send(FromPeer { id, packet }),
                other => log::warn!(
                    "node {id} sent a {} frame on a peer link; ignored",
                    kind(&other)
                ),
            }
        }
    }
    .await;
    bridge.do_send(PeerLink { id, up: false });
    served
}

/// The node process's bridge actor: network and coordinator for the node's
/// middleware.
pub struct Bridge {
    id: NodeId,
    identity: Identity,
    middleware: Option<Addr<Middleware>>,
    links: BTreeMap<NodeId, Link>,
    keys: BTreeMap<NodeId, [u8; 32]>,
    /// Authenticated connections from each peer that are up (a peer that
    /// re-dials may briefly have two).
    inbound: BTreeMap<NodeId, usize>,
    /// Peers whose packets are dropped both ways (`paxos partition`).
    cut: BTreeSet<NodeId>,
    coordinator: mpsc::Sender<Frame>,
    /// The node's `DebugInfo` lines on their way to the coordinator.
    reports: Reports,
    /// Ends the process: `None` on the coordinator's command, `Some(why)`
    /// when the node halted for good.
    exit: Option<oneshot::Sender<Option<String>>>,
}

/// The connection this node dials to one peer.
struct Link {
    addr: String,
    tx: mpsc::Sender<Frame>,
    task: actix_rt::task::JoinHandle<()>,
}

impl Bridge {
    fn update_peers(&mut self, peers: &[PeerRecord]) {
        for p in peers {
            if let Some(key) = p.key {
                self.keys.insert(p.id, key);
            }
            let (Some(addr), true) = (&p.addr, p.id != self.id) else {
                continue;
            };
            if self.links.get(&p.id).is_some_and(|l| &l.addr == addr) {
                continue;
            }
            if let Some(old) = self.links.remove(&p.id) {
                old.task.abort();
            }
            let (tx, rx) = mpsc::channel(conn::QUEUE);
            let task = actix_rt::spawn(dial_peer(
                self.id,
                self.identity.clone(),
                p.id,
                addr.clone(),
                rx,
            ));
            self.links.insert(
                p.id,
                Link {
                    addr: addr.clone(),
                    tx,
                    task,
                },
            );
        }
    }
}

/// Keep a connection to peer `to` open, re-dialling with backoff, and write
/// everything queued for it.
async fn dial_peer(
    me: NodeId,
    identity: Identity,
    to: NodeId,
    addr: String,
    mut rx: mpsc::Receiver<Frame>,
) {
    let mut wait = Duration::from_millis(10);
    loop {
        let attempt = async {
            let stream = conn::dial(&addr, Duration::from_secs(2)).await?;
            let (mut reader, mut writer) = conn::split(stream);
            let Frame::Challenge { nonce } =
                conn::next_frame(&mut reader, HANDSHAKE_TIMEOUT).await?
            else {
                return Err(BridgeError::Unexpected("no challenge".into()));
            };
            let sig = identity.sign_handshake(&handshake_bytes(&nonce, Some(me), ""));
            conn::write_frame(&mut writer, Frame::PeerHello { id: me, sig }).await?;
            // Up only once the peer says it took us: a peer that does not
            // know our key yet (the coordinator's news of us is still on its
            // way) refuses, and we try again shortly.
            match conn::next_frame(&mut reader, HANDSHAKE_TIMEOUT).await? {
                Frame::Ok => {}
                Frame::Refused { reason } => return Err(BridgeError::Refused(reason)),
                other => return Err(BridgeError::Unexpected(kind(&other))),
            }
            log::debug!("node {me}: connected to peer {to} at {addr}");
            Ok::<_, BridgeError>((reader, writer))
        };
        match attempt.await {
            Ok((mut reader, mut writer)) => {
                // Reset the backoff only once a connection is up.
                wait = Duration::from_millis(10);
                // The peer never writes on this link: anything it does (a
                // close) ends the link at once, not at our next write.
                let closed =
                    Box::pin(async move { conn::next_frame(&mut reader, Duration::MAX).await });
                let draining = Box::pin(conn::drain(&mut rx, &mut writer));
                match futures::future::select(draining, closed).await {
                    futures::future::Either::Left((Ok(()), _)) => return, // the bridge dropped this link
                    futures::future::Either::Left((Err(e), _)) => {
                        log::info!("node {me}: link to peer {to} broke: {e}")
                    }
                    futures::future::Either::Right((why, _)) => {
                        log::info!("node {me}: peer {to} closed the link: {why:?}")
                    }
                }
            }
            Err(e) => log::debug!("node {me}: cannot reach peer {to} at {addr}: {e}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

impl Actor for Bridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Weakly: the bridge ran without a timer before, and stops as then.
        Ticker::weak(ctx.address().downgrade().recipient(), TICK).start();
    }
}

impl Bridge {
    fn send_reports(&self, events: Vec<crate::core::Event>) {
        for event in events {
            conn::enqueue(&self.coordinator, Frame::Debug(event), "the coordinator");
        }
    }
}

impl Handler<Tick> for Bridge {
    type Result = ();
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        let held = self.reports.tick();
        self.send_reports(held);
    }
}

/// The node's middleware, once it exists.
#[derive(Message)]
#[rtype(result = "()")]
struct Attach(Addr<Middleware>);

/// A new connection to the coordinator, after registering again.
#[derive(Message)]
#[rtype(result = "()")]
struct NewCoordinator(mpsc::Sender<Frame>);

impl Handler<NewCoordinator> for Bridge {
    type Result = ();
    fn handle(&mut self, NewCoordinator(tx): NewCoordinator, _: &mut Context<Self>) {
        self.coordinator = tx;
    }
}

/// A frame from the coordinator.
#[derive(Message)]
#[rtype(result = "()")]
struct FromCoordinator(Frame);

/// A packet from an authenticated peer connection.
#[derive(Message)]
#[rtype(result = "()")]
struct FromPeer {
    id: NodeId,
    packet: Packet,
}

impl Handler<Fatal> for Bridge {
    type Result = ();
    fn handle(&mut self, Fatal(why): Fatal, ctx: &mut Context<Self>) {
        if let Some(exit) = self.exit.take() {
            let _ = exit.send(Some(why));
        }
        ctx.stop();
    }
}

/// An authenticated connection from peer `id` opened (`up`) or closed.
#[derive(Message)]
#[rtype(result = "()")]
struct PeerLink {
    id: NodeId,
    up: bool,
}

impl Handler<PeerLink> for Bridge {
    type Result = ();
    fn handle(&mut self, PeerLink { id, up }: PeerLink, _: &mut Context<Self>) {
        let count = self.inbound.entry(id).or_default();
        if up {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.inbound.remove(&id);
            }
        }
    }
}

/// The registered key of a node, to authenticate its connection.
#[derive(Message)]
#[rtype(result = "Option<[u8; 32]>")]
struct KeyOf(NodeId);

impl Handler<Attach> for Bridge {
    type Result = ();
    fn handle(&mut self, Attach(m): Attach, _: &mut Context<Self>) {
        self.middleware = Some(m);
    }
}

impl Handler<KeyOf> for Bridge {
    type Result = Option<[u8; 32]>;
    fn handle(&mut self, KeyOf(id): KeyOf, _: &mut Context<Self>) -> Self::Result {
        (id != self.id)
            .then(|| self.keys.get(&id).copied())
            .flatten()
    }
}

impl Handler<Transmit> for Bridge {
    type Result = ();
    fn handle(&mut self, Transmit(packet): Transmit, _: &mut Context<Self>) {
        match packet.to {
            Some(to) if self.cut.contains(&to) => {}
            Some(to) => match self.links.get(&to) {
                Some(link) => conn::enqueue(&link.tx, Frame::Packet(packet), &link.addr),
                None => log::debug!("no link to node {to} yet; packet dropped"),
            },
            None => {
                for (_, link) in self.links.iter().filter(|(p, _)| !self.cut.contains(p)) {
                    conn::enqueue(&link.tx, Frame::Packet(packet.clone()), &link.addr);
                }
            }
        }
    }
}

impl Handler<DebugInfo> for Bridge {
    type Result = ();
    fn handle(&mut self, info: DebugInfo, _: &mut Context<Self>) {
        let now = self.reports.report(info.event);
        self.send_reports(now);
    }
}

impl Handler<KvApplied> for Bridge {
    type Result = ();
    fn handle(&mut self, a: KvApplied, _: &mut Context<Self>) {
        let frame = Frame::Applied {
            client: a.client,
            seq: a.seq,
            reply: a.reply,
        };
        conn::enqueue(&self.coordinator, frame, "the coordinator");
    }
}

impl Handler<FromPeer> for Bridge {
    type Result = ();
    fn handle(&mut self, FromPeer { id, packet }: FromPeer, _: &mut Context<Self>) {
        if self.cut.contains(&id) {
            return;
        }
        if packet.from != id {
            log::warn!(
                "node {id} sent a packet claiming to come from node {}; dropped",
                packet.from
            );
            return;
        }
        if packet.to.is_some_and(|to| to != self.id) {
            log::warn!(
                "node {id} sent a packet meant for node {:?}; dropped",
                packet.to
            );
            return;
        }
        if let Some(m) = &self.middleware {
            m.do_send(Incoming(packet));
        }
    }
}

impl Handler<FromCoordinator> for Bridge {
    type Result = ();
    fn handle(&mut self, FromCoordinator(frame): FromCoordinator, ctx: &mut Context<Self>) {
        let Some(m) = self.middleware.clone() else {
            return;
        };
        match frame {
            Frame::Command(NodeCommand::Peers(peers)) => {
                self.update_peers(&peers);
                m.do_send(NodeCommand::Peers(peers));
            }
            Frame::Command(NodeCommand::Cut(peers)) => {
                log::info!("node {}: links to {peers:?} cut (none: healed)", self.id);
                self.cut = peers.into_iter().filter(|p| *p != self.id).collect();
            }
            Frame::Command(NodeCommand::Exit) => {
                // What was held goes first: the coordinator's last view.
                let held = self.reports.tick();
                self.send_reports(held);
                m.do_send(NodeCommand::Exit);
                if let Some(exit) = self.exit.take() {
                    let _ = exit.send(None);
                }
                ctx.stop();
            }
            Frame::Command(cmd) => {
                if matches!(cmd, NodeCommand::Propagate(_) | NodeCommand::Ask(_)) {
                    self.reports.asked();
                }
                m.do_send(cmd)
            }
            Frame::StatusRequest { req, page } => {
                let tx = self.coordinator.clone();
                let ask = m.send(page);
                let hears: BTreeSet<NodeId> = self.inbound.keys().copied().collect();
                actix_rt::spawn(async move {
                    if let Ok(Some(mut status)) = ask.await {
                        status.hears_from = Some(hears);
                        conn::enqueue(&tx, Frame::Status { req, status }, "the coordinator");
                    }
                });
            }
            other => log::warn!("the coordinator sent an unexpected {} frame", kind(&other)),
        }
    }
}
