//! The protocol's vocabulary: node ids, log positions, ballots and values.
//!
//! Everything here is plain data that derives `Clone, Debug, Eq, Hash, Ord`
//! and serde, so the same values travel through actors, the TCP bridge, the
//! simulator and a model checker unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A node of the cluster, numbered `0..n` everywhere (output, flags, JSON).
pub type NodeId = u32;

/// A position (slot) of the replicated log.
pub type Pos = u64;

/// What one log position holds: a batch of the client values the cluster
/// was asked to propagate, in order.
///
/// Most positions hold one value (what the brief's client asked for). A
/// leader under load packs up to `Config::batch` queued values into one
/// position, so the messages, signatures, echoes and certificates of a
/// position are paid once per batch. The values are shared (`Arc`): the
/// protocol clones a position's value for every message that carries it.
///
/// In JSON a one-value batch is the plain string (so `demo --json` logs read
/// `["v0", "v1"]`) and a larger batch an array; binary encodings (postcard,
/// what is signed and sent) always use the sequence.
#[derive(Clone, Default)]
pub struct Value(Arc<Batch>);

/// A batch and, once something signed or checked it, its digest.
#[derive(Default)]
struct Batch {
    items: Items,
    digest: OnceLock<[u8; 32]>,
}

/// A batch's client values: one is kept without a `Vec` around it, so a
/// single client value costs one allocation for the batch, not two.
enum Items {
    One(String),
    Many(Vec<String>),
}

impl Default for Items {
    fn default() -> Self {
        Items::Many(Vec::new())
    }
}

impl Items {
    fn as_slice(&self) -> &[String] {
        match self {
            Items::One(v) => std::slice::from_ref(v),
            Items::Many(vs) => vs,
        }
    }
}

/// Equal when they share one allocation (the common case: an Accept echoes
/// the very batch its Propose carried), else compared value by value. So a
/// leader matching an Accept of a 1,000-value batch compares one pointer.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.items() == other.items()
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.items().cmp(other.items())
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.items().hash(h)
    }
}

thread_local! {
    /// Set while [`digest_form`] serializes: values then encode as digests.
    static DIGEST_FORM: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with every [`Value`] it serializes encoded as its 32-byte
/// [`Value::digest`] instead of its items: what a signature covers, so a
/// batch is hashed once (per process) however many messages, echoes and
/// certificates carry it and sign or check it, while the value itself
/// travels beside the signature. Deterministic: the digest depends on the
/// items alone.
pub fn digest_form<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DIGEST_FORM.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DIGEST_FORM.with(|d| d.replace(true)));
    f()
}

impl Value {
    /// A batch of one client value.
    pub fn one(v: impl Into<String>) -> Self {
        Value::from_items(Items::One(v.into()))
    }

    /// A batch of several client values, in order.
    pub fn batch(mut values: Vec<String>) -> Self {
        match values.pop() {
            Some(v) if values.is_empty() => Value::one(v),
            last => {
                values.extend(last);
                Value::from_items(Items::Many(values))
            }
        }
    }

    fn from_items(items: Items) -> Self {
        Value(Arc::new(Batch {
            items,
            digest: OnceLock::new(),
        }))
    }

    /// One batch of every client value of `values`, in order.
    pub fn concat<'a>(values: impl IntoIterator<Item = &'a Value>) -> Self {
        Value::batch(
            values
                .into_iter()
                .flat_map(|v| v.items().iter().cloned())
                .collect(),
        )
    }

    /// SHA-256 of the batch (its length, then each value's length and
    /// bytes), computed once per batch in memory.
    pub fn digest(&self) -> [u8; 32] {
        *self.0.digest.get_or_init(|| {
            let mut h = Sha256::new();
            h.update(b"paxos/value/v1");
            h.update((self.len() as u64).to_le_bytes());
            for v in self.items() {
                h.update((v.len() as u64).to_le_bytes());
                h.update(v.as_bytes());
            }
            h.finalize().into()
        })
    }

    /// Whether `other` is this very batch in memory (not just equal).
    pub fn shares(&self, other: &Value) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The client values of this batch, in order.
    pub fn items(&self) -> &[String] {
        self.0.items.as_slice()
    }

    /// How many client values the batch holds.
    pub fn len(&self) -> usize {
        self.items().len()
    }

    pub fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    /// The value itself when the batch holds exactly one.
    pub fn single(&self) -> Option<&str> {
        match self.items() {
            [v] => Some(v),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::one(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::one(v)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.single() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.single() == Some(*other)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.items() {
            [v] => f.write_str(v),
            [] => f.write_str("(empty batch)"),
            [first, .., last] => write!(f, "{first}…{last} ({} values)", self.len()),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.single() {
            Some(v) => write!(f, "{v:?}"),
            None => f.debug_list().entries(self.items()).finish(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.single() {
            Some(v) if s.is_human_readable() => s.serialize_str(v),
            _ if DIGEST_FORM.with(Cell::get) => s.serialize_bytes(&self.digest()),
            _ => self.items().serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Repr {
                One(String),
                Many(Vec<String>),
            }
            Ok(match Repr::deserialize(d)? {
                Repr::One(v) => Value::one(v),
                Repr::Many(vs) => Value::batch(vs),
            })
        } else {
            Vec::<String>::deserialize(d).map(Value::batch)
        }
    }
}

/// A ballot number: `(round, node)`, totally ordered by round first, then by
/// the node that owns it, so two proposers never use the same ballot.
///
/// `Ballot::ZERO` is below every ballot a proposer uses (proposers start at
/// round 1), and stands for "no promise yet".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Ballot {
    /// Compared first: a higher round wins.
    pub round: u64,
    /// Breaks ties between proposers that picked the same round.
    pub node: NodeId,
}

impl Ballot {
    /// Below every ballot a proposer will ever use.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    pub fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

/// The size of a majority quorum of `n` nodes: `n/2 + 1`.
///
/// Any two majorities of the same `n` intersect in at least one node, which is
/// the whole of Paxos's safety argument against crashes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        assert!(Ballot::new(2, 0) > Ballot::new(1, 9));
        assert!(Ballot::new(1, 2) > Ballot::new(1, 1));
        assert!(Ballot::ZERO < Ballot::new(1, 0));
    }

    #[test]
    fn a_batch_of_one_reads_as_its_value_in_json_and_round_trips_in_postcard() {
        let one = Value::from("v0");
        let many = Value::batch(vec!["a".into(), "b".into()]);
        assert_eq!(serde_json::to_string(&one).unwrap(), "\"v0\"");
        assert_eq!(serde_json::to_string(&many).unwrap(), "[\"a\",\"b\"]");
        for v in [one, many] {
            let json: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(json, v);
            let bin: Value = postcard::from_bytes(&postcard::to_stdvec(&v).unwrap()).unwrap();
            assert_eq!(bin, v);
        }
    }

    #[test]
    fn majority_intersects() {
        for n in 1..20 {
            let q = majority(n);
            assert!(2 * q > n, "two quorums of {q} out of {n} must intersect");
            assert!(q <= n);
        }
    }
}
