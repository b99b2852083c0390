//! The client commands (`paxos propose`, `status`, `shutdown`): one
//! connection to the coordinator, one request at a time.

use super::admission::{self, ClusterKey};
use super::conn::{self, Reader};
use super::frame::{ClusterStatus, Frame};
use super::BridgeError;
use crate::core::{majority, NodeId, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::net::tcp::OwnedWriteHalf;

/// A connection to the coordinator.
pub struct Client {
    reader: Reader,
    writer: OwnedWriteHalf,
    addr: String,
}

/// Why `propose` gave up.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error(
        "timed out after {timeout:?}: {} of {asked} values not committed by a majority ({}): {}",
        .missing.len(), .quorum, first_few(.missing)
    )]
    Timeout {
        timeout: Duration,
        asked: usize,
        quorum: usize,
        missing: Vec<Value>,
    },
}

/// Why a KV request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error(
        "no answer to client {client}'s request {seq} within {timeout:?}: it may still take \
         effect (once); ask again with the same --client and --seq to learn its reply"
    )]
    Timeout {
        timeout: Duration,
        client: u64,
        seq: u64,
    },
    #[error("no node has registered with the coordinator yet: start them with `paxos node`")]
    NoNode,
}

/// How often a KV request is asked again while it has no answer: a node
/// that was asked may have died with it. Asking again is safe, as the
/// store applies a request once whatever the log holds ([`crate::kv`]).
pub const KV_ASK_AGAIN: Duration = Duration::from_secs(1);

/// At most this many missing values are named in a timeout.
const NAMED: usize = 10;

/// The first [`NAMED`] values, and how many more there are.
fn first_few(values: &[Value]) -> String {
    crate::verdict::first_few(values.iter(), NAMED)
}

impl Client {
    /// Connect to the coordinator at `addr`, both proving they hold the
    /// cluster's `key`, within `timeout` for each step.
    pub async fn connect(
        addr: &str,
        key: &ClusterKey,
        timeout: Duration,
    ) -> Result<Client, BridgeError> {
        let stream = conn::dial_retrying(addr, timeout).await?;
        let (mut reader, mut writer) = conn::split(stream);
        tokio::time::timeout(
            timeout,
            admission::dial(key, addr, &mut reader, &mut writer),
        )
        .await
        .map_err(|_| BridgeError::Timeout(timeout))??;
        conn::trust(&mut reader);
        Ok(Client {
            reader,
            writer,
            addr: addr.to_string(),
        })
    }

    /// Wait, up to `timeout`, until every slot of the cluster is taken
    /// and every answering node hears every other answering one, calling
    /// `waiting(connected, n)` each time the count changes. Returns
    /// whether the cluster got there. A node that died after registering
    /// counts as taken: nobody waits for a process that is not coming.
    pub async fn wait_for_members(
        &mut self,
        timeout: Duration,
        mut waiting: impl FnMut(usize, usize),
    ) -> Result<bool, BridgeError> {
        let give_up = tokio::time::Instant::now() + timeout;
        let mut last = None;
        loop {
            let st = self.status().await?;
            let answering: BTreeSet<NodeId> = st.nodes.iter().map(|s| s.id).collect();
            let taken = answering.len()
                + st.unreachable
                    .iter()
                    .filter(|u| !answering.contains(u))
                    .count();
            let meshed = st.nodes.iter().all(|s| {
                s.hears_from
                    .as_ref()
                    .is_none_or(|h| answering.iter().all(|a| *a == s.id || h.contains(a)))
            });
            if taken >= st.n && meshed {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= give_up {
                return Ok(false);
            }
            let connected = if meshed {
                taken
            } else {
                taken.saturating_sub(1)
            };
            if last != Some(connected) {
                waiting(connected, st.n);
                last = Some(connected);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Cut every link between the nodes of `a` and those of `b`; both
    /// empty: heal every link.
    pub async fn partition(&mut self, a: Vec<NodeId>, b: Vec<NodeId>) -> Result<(), BridgeError> {
        match self.request(Frame::Partition { a, b }).await? {
            Frame::Ok => Ok(()),
            other => Err(BridgeError::Unexpected(format!("{other:?}"))),
        }
    }

    async fn request(&mut self, frame: Frame) -> Result<Frame, BridgeError> {
        conn::write_frame(&mut self.writer, frame).await?;
        match conn::next_frame(&mut self.reader, Duration::from_secs(10)).await? {
            Frame::Refused { reason } => Err(BridgeError::Refused(reason)),
            answer => Ok(answer),
        }
    }

    /// Ask the cluster to commit `values` (through `node`, or nodes the
    /// coordinator picks), and wait until a majority of nodes reported each
    /// one committed. Returns, for each value, the nodes that did.
    pub async fn propose(
        &mut self,
        values: Vec<Value>,
        node: Option<NodeId>,
        timeout: Duration,
    ) -> Result<BTreeMap<Value, BTreeSet<NodeId>>, ProposeError> {
        let asked = values.len();
        match self
            .request(Frame::Propose {
                values: values.clone(),
                node,
            })
            .await?
        {
            Frame::Ok => {}
            other => return Err(BridgeError::Unexpected(format!("{other:?}")).into()),
        }
        let give_up = tokio::time::Instant::now() + timeout;
        loop {
            let (n, committed) = match self
                .request(Frame::QueryCommits {
                    values: values.clone(),
                })
                .await?
            {
                Frame::Commits { n, committed } => (n, committed),
                other => return Err(BridgeError::Unexpected(format!("{other:?}")).into()),
            };
            let quorum = majority(n);
            let missing: Vec<Value> = values
                .iter()
                .filter(|v| committed.get(*v).map_or(0, |s| s.len()) < quorum)
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(committed);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(ProposeError::Timeout {
                    timeout,
                    asked,
                    quorum,
                    missing,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Have the cluster apply `cmd` to its key-value store (asked of
    /// `node`, or of the leader the coordinator knows) and wait, up to
    /// `timeout`, for the nodes' reply ([`crate::kv::Replies`]); asked
    /// again every [`KV_ASK_AGAIN`] meanwhile.
    pub async fn kv(
        &mut self,
        cmd: &crate::kv::Command,
        node: Option<NodeId>,
        timeout: Duration,
    ) -> Result<crate::kv::Reply, KvError> {
        let value = Value::one(cmd.encode());
        let start = tokio::time::Instant::now();
        let mut ask_at = start;
        // The coordinator has had no node to ask all along.
        let mut no_node = false;
        loop {
            let now = tokio::time::Instant::now();
            if now >= ask_at {
                let values = vec![value.clone()];
                ask_at = now + KV_ASK_AGAIN;
                match self.request(Frame::Propose { values, node }).await {
                    Ok(Frame::Ok) => no_node = false,
                    // A cluster still starting: ask again shortly.
                    Err(BridgeError::Refused(r)) if r == super::coordinator::NO_NODE_YET => {
                        no_node = true;
                        ask_at = now + Duration::from_millis(50);
                    }
                    Ok(other) => return Err(BridgeError::Unexpected(format!("{other:?}")).into()),
                    Err(e) => return Err(e.into()),
                }
            }
            let (client, seq) = (cmd.client, cmd.seq);
            match self.request(Frame::QueryReply { client, seq }).await? {
                Frame::Reply { reply: Some(r) } => return Ok(r),
                Frame::Reply { reply: None } => {}
                other => return Err(BridgeError::Unexpected(format!("{other:?}")).into()),
            }
            if now >= start + timeout && no_node {
                return Err(KvError::NoNode);
            }
            if now >= start + timeout {
                return Err(KvError::Timeout {
                    timeout,
                    client,
                    seq,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every node's status, as the coordinator collected it: page after
    /// page, so a log of any length arrives (each page fits one frame).
    pub async fn status(&mut self) -> Result<ClusterStatus, BridgeError> {
        let mut from = 0;
        let mut whole: Option<ClusterStatus> = None;
        loop {
            let page = match self.request(Frame::QueryStatus { from }).await? {
                Frame::ClusterStatus(s) => s,
                other => return Err(BridgeError::Unexpected(format!("{other:?}"))),
            };
            // The next page starts where the shortest page stopped; every
            // page holds at least one entry, so this always moves on.
            let next = page.nodes.iter().filter_map(|s| s.more).min();
            whole = Some(match whole {
                None => page,
                Some(mut all) => {
                    merge(&mut all, page);
                    all
                }
            });
            match next {
                Some(pos) if pos > from => from = pos,
                _ => break,
            }
        }
        let mut whole = whole.unwrap_or_default();
        for node in &mut whole.nodes {
            node.more = None;
        }
        Ok(whole)
    }

    /// Stop every node, then the coordinator.
    pub async fn shutdown(&mut self) -> Result<(), BridgeError> {
        match self.request(Frame::Shutdown).await? {
            Frame::Ok => Ok(()),
            other => Err(BridgeError::Unexpected(format!(
                "{} answered {other:?} to shutdown",
                self.addr
            ))),
        }
    }
}

/// Add a later page's entries to what earlier pages gave. A node that
/// answered only later pages is added; one that stopped answering keeps
/// what it gave.
fn merge(all: &mut ClusterStatus, page: ClusterStatus) {
    all.unreachable = page.unreachable;
    for status in page.nodes {
        match all.nodes.iter_mut().find(|s| s.id == status.id) {
            Some(known) => {
                known.log.extend(status.log);
                known.flagged = status.flagged;
                known.hears_from = status.hears_from;
            }
            None => all.nodes.push(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_the_first_ten_missing_values_and_counts_the_rest() {
        let missing: Vec<Value> = (0..4136).map(|i| format!("x{i}").into()).collect();
        let e = ProposeError::Timeout {
            timeout: Duration::from_secs(10),
            asked: 10_000,
            quorum: 2,
            missing,
        };
        let text = e.to_string();
        assert!(text.contains("4136 of 10000 values"), "{text}");
        assert!(text.ends_with("x8, x9, and 4126 more"), "{text}");
        let few = first_few(&["a".into(), "b".into()]);
        assert_eq!(few, "a, b");
    }
}
