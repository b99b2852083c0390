//! What travels on a bridge connection: one [`Frame`] per length-delimited
//! frame, encoded with postcard.
//!
//! Framing is tokio-util's `LengthDelimitedCodec`, whose length check runs
//! before it allocates: a peer announcing a 4 GiB frame is refused after four
//! bytes, not after 4 GiB. A frame that fails to decode is an error for that
//! frame only; the caller decides whether to drop the connection.

use crate::actors::{GetStatus, NodeCommand, NodeStatus, Profile};
use crate::core::{Event, NodeId, Value};
use crate::wire::Packet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Largest frame accepted or sent, in bytes.
pub const MAX_FRAME: usize = 1 << 20;

/// Largest frame accepted before the other side has proven who it is: every
/// handshake frame is far smaller. The framing reserves room for a frame as
/// soon as its length arrives, so this is what an unproven connection can
/// make us hold (a slow one, or many).
pub const HANDSHAKE_FRAME: usize = 4 << 10;

/// Every message a bridge connection carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    /// Listener → dialer, the first frame on every connection: the dialer
    /// proves who it is by signing this nonce.
    Challenge { nonce: [u8; 32] },
    /// Dialer → coordinator, the answer to its `Challenge`: proof of the
    /// cluster key over both nonces ([`super::admission`]).
    Hello { nonce: [u8; 32], mac: Vec<u8> },
    /// Coordinator → dialer: the coordinator's own proof of the cluster key;
    /// only then is anything served.
    Admitted { mac: Vec<u8> },
    /// Node → node: "I am `id`", with a signature over the challenge made by
    /// the key the coordinator registered for `id`.
    PeerHello { id: NodeId, sig: Vec<u8> },
    /// Node → coordinator: the brief's `PeerInfo`. `sig` over the challenge
    /// proves the node holds the secret of `key`.
    Register(Registration),
    /// Coordinator → node: you are `id` in a cluster of `n`.
    Welcome { id: NodeId, n: usize },
    /// Coordinator → node or client: your request was refused, and why.
    Refused { reason: String },
    /// Coordinator → node: a command (propagate, peers, exit).
    Command(NodeCommand),
    /// Node → coordinator: one `DebugInfo` line (the sender is the node the
    /// connection registered as).
    Debug(Event),
    /// Coordinator → node: report your status, answering with `req`.
    StatusRequest { req: u64, page: GetStatus },
    /// Node → coordinator: the answer to `StatusRequest { req }`.
    Status { req: u64, status: NodeStatus },
    /// Node → node: a protocol packet.
    Packet(Packet),
    /// Client → coordinator: ask the cluster to propagate `values`.
    Propose {
        values: Vec<Value>,
        node: Option<NodeId>,
    },
    /// Client → coordinator: which nodes committed each of these values?
    QueryCommits { values: Vec<Value> },
    /// Coordinator → client: for each value asked about, the nodes that
    /// reported committing it, and the cluster size.
    Commits {
        n: usize,
        committed: BTreeMap<Value, BTreeSet<NodeId>>,
    },
    /// Client → coordinator: every node's status, logs from position
    /// `from` on (one page: ask again from each node's `more`).
    QueryStatus { from: u64 },
    /// Coordinator → client: the answer to `QueryStatus`.
    ClusterStatus(ClusterStatus),
    /// Node → coordinator: its key-value store applied client `client`'s
    /// request `seq`, answering `reply`.
    Applied {
        client: u64,
        seq: u64,
        reply: crate::kv::Reply,
    },
    /// Client → coordinator: has any node answered client `client`'s
    /// request `seq`?
    QueryReply { client: u64, seq: u64 },
    /// Coordinator → client: the first answer a node gave, if any yet.
    Reply { reply: Option<crate::kv::Reply> },
    /// Client → coordinator: stop the cluster.
    Shutdown,
    /// Client → coordinator: cut every link between `a` and `b` (both
    /// empty: heal every link).
    Partition { a: Vec<NodeId>, b: Vec<NodeId> },
    /// Coordinator → client: done.
    Ok,
    /// Node → coordinator, after its `Welcome`: set up, about to take part.
    /// Until then its slot is held, not taken.
    Ready,
    /// Node → coordinator, after its `Welcome`: it cannot start, and why;
    /// it never voted, so its slot is free again.
    Leave { reason: String },
}

/// A node's registration with the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The id this node had before (from its data directory), if any.
    pub id: Option<NodeId>,
    pub key: [u8; 32],
    /// Where the node listens for its peers.
    pub addr: String,
    /// The attack this node runs, declared so the lab can report honestly
    /// which nodes are the attackers (a real adversary would not say).
    pub attack: Option<String>,
    pub middleware: bool,
    /// How it runs the protocol: the coordinator refuses a node that does
    /// not run it like the cluster's other members.
    pub profile: Profile,
    pub sig: Vec<u8>,
}

/// What the coordinator knows about the cluster, for `paxos status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// Cluster size.
    pub n: usize,
    /// Registered nodes, with the attack each declared.
    pub attackers: Vec<NodeId>,
    /// Registered nodes whose connection is currently down.
    pub unreachable: Vec<NodeId>,
    /// Every registered node (the others' slots are free).
    pub registered: Vec<NodeId>,
    /// Each answering node's status.
    pub nodes: Vec<NodeStatus>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("undecodable frame of {len} bytes: {source}")]
    Decode { len: usize, source: postcard::Error },
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("frame of {len} bytes carries {extra} bytes after its message")]
    Trailing { len: usize, extra: usize },
}

/// Length-delimited postcard frames, at most [`MAX_FRAME`] bytes.
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec {
            inner: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_FRAME)
                .new_codec(),
        }
    }
}

impl FrameCodec {
    /// A codec for a connection still in its handshake: frames of at most
    /// [`HANDSHAKE_FRAME`] bytes until [`FrameCodec::trust`].
    pub fn handshake() -> Self {
        let mut c = FrameCodec::default();
        c.inner.set_max_frame_length(HANDSHAKE_FRAME);
        c
    }

    /// The other side proved who it is: frames up to [`MAX_FRAME`].
    pub fn trust(&mut self) {
        self.inner.set_max_frame_length(MAX_FRAME);
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(bytes) = self.inner.decode(src)? else {
            return Ok(None);
        };
        let len = bytes.len();
        // A frame is one message and nothing else: bytes after a valid
        // message mean the frame is not what its sender meant (or was made
        // to look like something it is not), so it is refused whole.
        match postcard::take_from_bytes::<Frame>(&bytes) {
            Ok((frame, [])) => Ok(Some(frame)),
            Ok((_, rest)) => Err(FrameError::Trailing {
                len,
                extra: rest.len(),
            }),
            Err(source) => Err(FrameError::Decode { len, source }),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let bytes =
            postcard::to_stdvec(&frame).map_err(|source| FrameError::Decode { len: 0, source })?;
        if bytes.len() > MAX_FRAME {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        self.inner.encode(Bytes::from(bytes), dst)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Ballot, Message};
    use crate::wire::Body;

    fn encode(frame: Frame) -> BytesMut {
        let mut buf = BytesMut::new();
        FrameCodec::default().encode(frame, &mut buf).unwrap();
        buf
    }

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame::Challenge { nonce: [7; 32] },
            Frame::Packet(Packet {
                from: 1,
                to: None,
                body: Body::Paxos(Message::Propose {
                    pos: 3,
                    ballot: Ballot::new(2, 1),
                    value: "v".into(),
                }),
                sig: Some(vec![1; 64]),
            }),
            Frame::Command(NodeCommand::Propagate("x".into())),
            Frame::Status {
                req: 9,
                status: NodeStatus::default(),
            },
        ];
        let mut buf = BytesMut::new();
        let mut codec = FrameCodec::default();
        for f in &frames {
            codec.encode(f.clone(), &mut buf).unwrap();
        }
        for f in frames {
            assert_eq!(codec.decode(&mut buf).unwrap(), Some(f));
        }
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn a_truncated_frame_waits_for_the_rest() {
        let full = encode(Frame::Shutdown);
        let mut codec = FrameCodec::default();
        let mut part = BytesMut::from(&full[..full.len() - 1]);
        assert_eq!(codec.decode(&mut part).unwrap(), None);
        part.extend_from_slice(&full[full.len() - 1..]);
        assert_eq!(codec.decode(&mut part).unwrap(), Some(Frame::Shutdown));
    }

    #[test]
    fn an_oversized_length_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err}");
    }

    #[test]
    fn a_frame_with_bytes_after_its_message_is_refused() {
        let full = encode(Frame::Shutdown);
        let payload = &full[4..];
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&((payload.len() + 3) as u32).to_be_bytes());
        buf.extend_from_slice(payload);
        buf.extend_from_slice(&[1, 2, 3]);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::Trailing { extra: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&5u32.to_be_bytes());
        buf.extend_from_slice(&[0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::Decode { len: 5, .. }), "{err}");
    }
}
