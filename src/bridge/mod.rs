//! The TCP bridge: the same actors, talking across processes.
//!
//! Each process has one bridge. A node's [`Bridge`](node::Bridge) actor owns
//! its connections: one it dials to every peer (its outgoing packets), the
//! ones peers dial to it (their packets to it), and one to the coordinator
//! (registration, commands, `DebugInfo`). To the node's `Middleware` it is
//! just the network and the coordinator: no protocol code knows whether a
//! peer is local or remote. In the coordinator process each remote node is
//! a [`RemoteNode`](coordinator) proxy actor, so the `Coordinator` actor is
//! the very one the demo runs.
//!
//! Every connection opens with a challenge. To the coordinator, both sides
//! first prove they hold the cluster key ([`admission`]); a node then signs
//! its registration with its node key, and the coordinator keeps which key
//! holds which id ([`registry`], on disk with `--data-dir`). Between peers
//! the dialer signs the listener's nonce, and a node accepts a peer only
//! under the key the coordinator registered for that peer's id. Frames are
//! length-delimited postcard ([`frame`]), at most 4 KiB before a handshake
//! and 1 MiB after. A lost
//! connection is re-dialled with backoff; what was lost in between is
//! recovered by the protocol's own retries.

pub mod admission;
pub mod client;
pub mod conn;
pub mod coordinator;
mod disk;
pub mod frame;
pub mod node;
pub mod registry;
mod reports;
pub mod status;

use std::time::Duration;

/// What can go wrong on the bridge.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot reach {addr}: {source}")]
    Unreachable {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    #[error("the other side closed the connection")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("refused: {0}")]
    Refused(String),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("the data directory could not be used: {0}")]
    Storage(String),
    /// The cluster key could not be read, made or saved.
    #[error("{0}")]
    Key(String),
    #[error("an actor stopped answering: {0}")]
    Mailbox(#[from] actix::MailboxError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}
