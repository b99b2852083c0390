//! A node process's data directory: its key, the id the coordinator gave it,
//! and its durable protocol state. Without a directory the node lives in
//! memory under a fresh key.

use super::BridgeError;
use crate::actors::Persist;
use crate::auth::Identity;
use crate::core::{Durable, NodeId};
use std::path::Path;

/// What a node process keeps across restarts.
pub struct NodeDisk {
    identity: Identity,
    id: Option<NodeId>,
    state: Option<Durable>,
    store: Option<Box<dyn Persist>>,
}

/// Open (or create) `dir`; with `None`, a fresh in-memory node.
pub fn open(dir: Option<&Path>) -> Result<NodeDisk, BridgeError> {
    if let Some(dir) = dir {
        return Err(BridgeError::Storage(format!(
            "{}: durable storage is not built yet",
            dir.display()
        )));
    }
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| BridgeError::Storage(format!("no randomness for a node key: {e}")))?;
    Ok(NodeDisk {
        identity: Identity::from_bytes(secret),
        id: None,
        state: None,
        store: None,
    })
}

impl NodeDisk {
    pub fn identity(&self) -> Identity {
        self.identity.clone()
    }

    /// The id this node had before, if its directory says.
    pub fn id(&self) -> Option<NodeId> {
        self.id
    }

    /// Remember the id the coordinator gave us.
    pub fn set_id(&mut self, id: NodeId) -> Result<(), BridgeError> {
        self.id = Some(id);
        Ok(())
    }

    /// The protocol state recovered from disk, if any.
    pub fn take_state(&mut self) -> Option<Durable> {
        self.state.take()
    }

    /// Where the node persists its writes from now on.
    pub fn into_store(self) -> Option<Box<dyn Persist>> {
        self.store
    }
}
