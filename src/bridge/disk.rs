//! A node process's data directory: its key, the id the coordinator gave it,
//! and its durable protocol state (see [`crate::storage`]). Without a
//! directory the node lives in memory under a fresh key, and a restart is a
//! new node that remembers no promise.

use super::BridgeError;
use crate::actors::Persist;
use crate::auth::Identity;
use crate::core::{Durable, NodeId, Write};
use crate::middleware::ShieldDurable as Proofs;
use crate::storage::{NodeMeta, ProofLog, Store};
use std::path::Path;

/// What a node process keeps across restarts.
pub struct NodeDisk {
    identity: Identity,
    id: Option<NodeId>,
    state: Option<Durable>,
    store: Option<Store>,
    /// The middleware's proofs and where to append new ones.
    proofs: Option<(ProofLog, Proofs)>,
}

/// Open (or create) `dir`; with `None`, a fresh in-memory node.
pub fn open(dir: Option<&Path>) -> Result<NodeDisk, BridgeError> {
    let storage = |e: crate::storage::StoreError| BridgeError::Storage(e.to_string());
    let Some(dir) = dir else {
        return Ok(NodeDisk {
            identity: Identity::from_bytes(fresh_secret()?),
            id: None,
            state: None,
            store: None,
            proofs: None,
        });
    };
    if dir.exists() && !dir.is_dir() {
        return Err(BridgeError::Storage(format!(
            "{} is a file, not a directory",
            dir.display()
        )));
    }
    let (store, recovered) = Store::open(dir).map_err(storage)?;
    let (identity, id) = match recovered.meta {
        Some(meta) => (Identity::from_bytes(meta.secret), Some(meta.id)),
        None => (Identity::from_bytes(fresh_secret()?), None),
    };
    let state = recovered.durable;
    let state = (state != Durable::default()).then_some(state);
    let proofs = ProofLog::open(dir).map_err(storage)?;
    Ok(NodeDisk {
        identity,
        id,
        state,
        store: Some(store),
        proofs: Some(proofs),
    })
}

fn fresh_secret() -> Result<[u8; 32], BridgeError> {
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| BridgeError::Storage(format!("no randomness for a node key: {e}")))?;
    Ok(secret)
}

impl NodeDisk {
    pub fn identity(&self) -> Identity {
        self.identity.clone()
    }

    /// The id this node had before, if its directory says.
    pub fn id(&self) -> Option<NodeId> {
        self.id
    }

    /// Remember the id the coordinator gave us (and our key with it).
    pub fn set_id(&mut self, id: NodeId) -> Result<(), BridgeError> {
        if let (Some(store), false) = (&mut self.store, self.id == Some(id)) {
            let meta = NodeMeta {
                id,
                secret: self.identity.to_bytes(),
            };
            store
                .save_meta(&meta)
                .map_err(|e| BridgeError::Storage(e.to_string()))?;
        }
        self.id = Some(id);
        Ok(())
    }

    /// The protocol state recovered from disk, if there was any.
    pub fn take_state(&mut self) -> Option<Durable> {
        self.state.take()
    }

    /// The middleware's proofs recovered from disk, and the log to append
    /// new ones to (`None` without a data directory).
    pub fn take_proofs(&mut self) -> Option<(ProofLog, Proofs)> {
        self.proofs.take()
    }

    /// Where the node persists its writes from now on.
    pub fn into_store(self) -> Option<Box<dyn Persist>> {
        self.store.map(|s| Box::new(s) as Box<dyn Persist>)
    }
}

impl Persist for Store {
    fn persist(&mut self, writes: &[Write]) -> Result<(), String> {
        self.append(writes).map_err(|e| e.to_string())
    }
}
