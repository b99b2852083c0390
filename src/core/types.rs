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
/// position are paid once per batch.
///
/// The protocol clones a position's value for every message, write and
/// event that carries it (about twenty times a position at n = 3), so a
/// clone must cost next to nothing:
/// - one client value of at most [`INLINE`] bytes (the brief's values, a
///   bench's tags, a key-value command) is kept in place: a clone copies
///   24 bytes, with no allocation and no shared count to change;
/// - anything larger is shared (`Arc`): a clone is one count, and the
///   batch's digest is computed once however many messages carry it.
///
/// In JSON a one-value batch is the plain string (so `demo --json` logs read
/// `["v0", "v1"]`) and a larger batch an array; binary encodings (postcard,
/// what is signed and sent) always use the sequence.
#[derive(Clone, Default)]
pub struct Value(Repr);

/// The most bytes a client value alone is kept in place for (see [`Value`]).
pub const INLINE: usize = 15;

#[derive(Clone, Default)]
enum Repr {
    /// No client value at all.
    #[default]
    Empty,
    /// One client value of at most [`INLINE`] bytes.
    Small(Small),
    /// One larger value, or several.
    Shared(Arc<Batch>),
}

/// One short client value in place: its `len` bytes, then zeros (so two
/// are equal exactly when their bytes are). Aligned so a clone copies two
/// words: a copy made of odd-sized pieces stalled the loads that read it
/// back (store forwarding), and cost more than the shared count it saves.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
struct Small {
    len: u8,
    bytes: [u8; INLINE],
}

impl Small {
    fn new(v: &str) -> Option<Small> {
        let mut bytes = [0; INLINE];
        bytes.get_mut(..v.len())?.copy_from_slice(v.as_bytes());
        Some(Small {
            len: v.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("built from a str")
    }
}

/// A shared batch and, once something signed or checked it, its digest.
struct Batch {
    items: Store,
    digest: OnceLock<[u8; 32]>,
}

/// How a shared batch keeps its client values. Several are packed back to
/// back in one buffer with their end offsets: a value costs its bytes and
/// one offset, not a `String` of its own (24 bytes and an allocation
/// each), so a batch of 256 is three allocations, and packing queued
/// batches into one is two copies, not one allocation per value. One
/// value alone is kept as it is.
enum Store {
    One(String),
    Packed(Box<Packed>),
}

/// Values back to back in `text`; value `i` ends at `ends[i]`.
#[derive(Default)]
struct Packed {
    text: String,
    ends: Vec<usize>,
}

/// Builds a [`Value`] from client values pushed one at a time, packing
/// them as the batch keeps them (see [`Value`]).
#[derive(Default)]
pub struct BatchBuilder {
    packed: Packed,
}

impl BatchBuilder {
    /// Room for `items` values of `bytes` bytes in all.
    pub fn with_capacity(items: usize, bytes: usize) -> Self {
        BatchBuilder {
            packed: Packed {
                text: String::with_capacity(bytes),
                ends: Vec::with_capacity(items),
            },
        }
    }

    /// Add one client value at the end.
    pub fn push(&mut self, item: &str) {
        self.packed.text.push_str(item);
        self.packed.ends.push(self.packed.text.len());
    }

    /// Add every value of `items` at the end, in order: one copy of
    /// their bytes, and their offsets shifted.
    pub fn extend(&mut self, items: Items<'_>) {
        if items.front == items.back {
            return;
        }
        let start = items.start(items.front);
        let base = self.packed.text.len();
        self.packed
            .text
            .push_str(&items.text[start..items.end(items.back - 1)]);
        self.packed
            .ends
            .extend((items.front..items.back).map(|i| items.end(i) - start + base));
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.packed.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.ends.is_empty()
    }

    /// The batch of every value pushed, in order.
    pub fn build(self) -> Value {
        match self.packed.ends.len() {
            0 => Value(Repr::Empty),
            1 => Value::one(self.packed.text),
            _ => Value::shared(Store::Packed(Box::new(self.packed))),
        }
    }
}

/// The client values of a batch, in order (what [`Value::items`] returns).
#[derive(Clone)]
pub struct Items<'a> {
    text: &'a str,
    /// `None`: the whole of `text` is the one value.
    ends: Option<&'a [usize]>,
    front: usize,
    back: usize,
}

impl<'a> Items<'a> {
    fn of(value: &'a Value) -> Self {
        let (text, ends, n) = match &value.0 {
            Repr::Empty => ("", None, 0),
            Repr::Small(v) => (v.as_str(), None, 1),
            Repr::Shared(b) => match &b.items {
                Store::One(v) => (v.as_str(), None, 1),
                Store::Packed(p) => (p.text.as_str(), Some(&p.ends[..]), p.ends.len()),
            },
        };
        Items {
            text,
            ends,
            front: 0,
            back: n,
        }
    }

    fn end(&self, i: usize) -> usize {
        self.ends.map_or(self.text.len(), |e| e[i])
    }

    fn start(&self, i: usize) -> usize {
        match i {
            0 => 0,
            _ => self.end(i - 1),
        }
    }

    fn at(&self, i: usize) -> &'a str {
        &self.text[self.start(i)..self.end(i)]
    }

    /// The next `k` values (or all that are left), taken off the front.
    pub fn split_to(&mut self, k: usize) -> Items<'a> {
        let mid = self.front + k.min(self.back - self.front);
        let head = Items {
            back: mid,
            ..self.clone()
        };
        self.front = mid;
        head
    }

    /// The `i`th value still to come.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let i = self.front.checked_add(i).filter(|&i| i < self.back)?;
        Some(self.at(i))
    }

    /// The first value still to come.
    pub fn first(&self) -> Option<&'a str> {
        self.get(0)
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let v = self.get(0)?;
        self.front += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Items<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        Some(self.at(self.back))
    }
}

impl ExactSizeIterator for Items<'_> {}

impl fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Equal when they share one allocation (the common case: an Accept echoes
/// the very batch its Propose carried), else compared value by value. So a
/// leader matching an Accept of a 1,000-value batch compares one pointer,
/// and of a short value kept in place its 16 bytes.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Small(a), Repr::Small(b)) => a == b,
            (Repr::Shared(a), Repr::Shared(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.items().eq(other.items()),
        }
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
        h.write_usize(self.len());
        for v in self.items() {
            v.hash(h);
        }
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
    pub fn one(v: impl Into<String> + AsRef<str>) -> Self {
        match Small::new(v.as_ref()) {
            Some(small) => Value(Repr::Small(small)),
            None => Value::shared(Store::One(v.into())),
        }
    }

    fn shared(items: Store) -> Self {
        Value(Repr::Shared(Arc::new(Batch {
            items,
            digest: OnceLock::new(),
        })))
    }

    /// A batch of several client values, in order (one alone is kept as
    /// it is, not copied).
    pub fn batch(mut values: Vec<String>) -> Self {
        match (values.pop(), values.is_empty()) {
            (Some(v), true) => Value::one(v),
            (last, _) => Value::of(values.iter().chain(&last).map(String::as_str)),
        }
    }

    /// A batch of `values`, in order.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut b = BatchBuilder::default();
        for v in values {
            b.push(v);
        }
        b.build()
    }

    /// One batch of every client value of `values`, in order.
    pub fn concat<'a>(values: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut b = BatchBuilder::default();
        for v in values {
            b.extend(v.items());
        }
        b.build()
    }

    /// SHA-256 of the batch (its length, then each value's length and
    /// bytes): computed once per shared batch in memory, and each time
    /// for a short value kept in place (one block of the hash).
    pub fn digest(&self) -> [u8; 32] {
        match &self.0 {
            Repr::Shared(b) => *b.digest.get_or_init(|| self.hash_items()),
            _ => self.hash_items(),
        }
    }

    fn hash_items(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"paxos/value/v1");
        h.update((self.len() as u64).to_le_bytes());
        for v in self.items() {
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        h.finalize().into()
    }

    /// Whether cloning `other` made this value, with no copy of a batch:
    /// the very shared batch in memory (not just an equal one). A short
    /// value kept in place is copied by every clone, so it shares with
    /// any equal one.
    pub fn shares(&self, other: &Value) -> bool {
        match (&self.0, &other.0) {
            (Repr::Shared(a), Repr::Shared(b)) => Arc::ptr_eq(a, b),
            (Repr::Small(a), Repr::Small(b)) => a == b,
            (Repr::Empty, Repr::Empty) => true,
            _ => false,
        }
    }

    /// The client values of this batch, in order.
    pub fn items(&self) -> Items<'_> {
        Items::of(self)
    }

    /// How many client values the batch holds.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::Small(_) => 1,
            Repr::Shared(b) => match &b.items {
                Store::One(_) => 1,
                Store::Packed(p) => p.ends.len(),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value itself when the batch holds exactly one.
    pub fn single(&self) -> Option<&str> {
        match &self.0 {
            Repr::Small(v) => Some(v.as_str()),
            Repr::Shared(b) => match &b.items {
                Store::One(v) => Some(v),
                Store::Packed(_) => None,
            },
            Repr::Empty => None,
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
        let mut items = self.items();
        match (items.next(), items.next_back()) {
            (Some(v), None) => f.write_str(v),
            (None, _) => f.write_str("(empty batch)"),
            (Some(first), Some(last)) => write!(f, "{first}…{last} ({} values)", self.len()),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.single() {
            Some(v) => write!(f, "{v:?}"),
            None => self.items().fmt(f),
        }
    }
}

/// In [`digest_form`] a value kept in place is its own bytes (at most
/// [`INLINE`] of them, shorter than any digest, so no two values share a
/// form): it has no digest cached, and hashing it for every signature
/// would cost more than signing those few bytes.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.single(), &self.0) {
            (Some(v), _) if s.is_human_readable() => s.serialize_str(v),
            (Some(v), Repr::Small(_)) if DIGEST_FORM.with(Cell::get) => {
                s.serialize_bytes(v.as_bytes())
            }
            _ if DIGEST_FORM.with(Cell::get) => s.serialize_bytes(&self.digest()),
            _ => s.collect_seq(self.items()),
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
            d.deserialize_seq(Unpack)
        }
    }
}

/// Reads a binary batch (a sequence of strings) straight into one packed
/// buffer: no `String` per value on the way in either.
struct Unpack;

impl<'de> serde::de::Visitor<'de> for Unpack {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of client values")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // The length a peer announces is not trusted for the allocation.
        let mut b = BatchBuilder::with_capacity(seq.size_hint().unwrap_or(0).min(4096), 0);
        while seq.next_element_seed(PushItem(&mut b))?.is_some() {}
        Ok(b.build())
    }
}

/// One client value of a sequence, appended to the batch being read.
struct PushItem<'b>(&'b mut BatchBuilder);

impl<'de> serde::de::DeserializeSeed<'de> for PushItem<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PushItem<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a client value (a string)")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push(v);
        Ok(())
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

    /// A packed batch reads, compares, hashes, encodes and digests as the
    /// list of strings it stands for, however it was put together.
    #[test]
    fn a_packed_batch_is_the_list_of_its_values() {
        use std::hash::{BuildHasher, RandomState};
        let words = ["", "a", "bb", "", "ccc", "dddd"];
        let whole = Value::of(words);
        assert_eq!(whole.len(), 6);
        assert!(whole.items().eq(words));
        assert!(whole.items().rev().eq(words.iter().rev().copied()));
        assert_eq!(whole.items().get(4), Some("ccc"));
        assert_eq!(whole.items().get(6), None);
        // Split and put back together from pieces of other batches.
        let mut rest = whole.items();
        let head = rest.split_to(4);
        assert!(head.clone().eq(words[..4].iter().copied()));
        assert!(rest.clone().eq(words[4..].iter().copied()));
        let mut b = BatchBuilder::default();
        b.extend(rest);
        b.extend(head);
        let swapped = b.build();
        assert!(swapped
            .items()
            .eq(words[4..].iter().chain(&words[..4]).copied()));
        let again = Value::concat([
            &Value::of(words[..1].iter().copied()),
            &Value::of(words[1..].iter().copied()),
        ]);
        assert!(!again.shares(&whole));
        assert_eq!(again, whole);
        let hasher = RandomState::new();
        assert_eq!(hasher.hash_one(&again), hasher.hash_one(&whole));
        assert!(Value::of(["a", "b"]) < Value::of(["a", "c"]));
        assert!(Value::of(["a"]) < Value::of(["a", ""]));
        // One value alone is that value; an empty batch is empty.
        assert_eq!(Value::of(["x"]), Value::one("x"));
        assert_eq!(Value::of(["x"]).single(), Some("x"));
        assert!(Value::of([]).is_empty());
        assert_eq!(Value::of([]), Value::default());
        // The binary encoding is a sequence of strings, byte for byte.
        let owned: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let bytes = postcard::to_stdvec(&whole).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&owned).unwrap());
        let back: Value = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, whole);
        // The digest covers the count, then each length and its bytes.
        let mut h = Sha256::new();
        h.update(b"paxos/value/v1");
        h.update(6u64.to_le_bytes());
        for w in words {
            h.update((w.len() as u64).to_le_bytes());
            h.update(w.as_bytes());
        }
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(whole.digest(), expected);
        assert_ne!(swapped.digest(), expected);
    }

    /// A short value kept in place and a longer shared one read, compare,
    /// hash, encode and digest alike: only where the bytes live differs.
    #[test]
    fn a_short_value_in_place_is_the_value_it_holds() {
        use std::hash::{BuildHasher, RandomState};
        let hasher = RandomState::new();
        for len in [0, 1, 2, INLINE - 1, INLINE, INLINE + 1, 3 * INLINE] {
            // Some of them end in a two-byte character.
            for text in ["a".repeat(len), "a".repeat(len.saturating_sub(2)) + "é"] {
                let v = Value::one(text.as_str());
                assert_eq!(matches!(v.0, Repr::Small(_)), text.len() <= INLINE);
                let bytes = postcard::to_stdvec(&v).unwrap();
                assert_eq!(bytes, postcard::to_stdvec(&vec![text.as_str()]).unwrap());
                let decoded: Value = postcard::from_bytes(&bytes).unwrap();
                let mut h = Sha256::new();
                h.update(b"paxos/value/v1");
                h.update(1u64.to_le_bytes());
                h.update((text.len() as u64).to_le_bytes());
                h.update(text.as_bytes());
                let digest: [u8; 32] = h.finalize().into();
                for same in [Value::of([text.as_str()]), decoded, v.clone()] {
                    assert_eq!(same, v);
                    assert_eq!(same.cmp(&v), std::cmp::Ordering::Equal);
                    assert_eq!(same.single(), Some(text.as_str()));
                    assert_eq!(same.len(), 1);
                    assert!(same.items().eq([text.as_str()]));
                    assert_eq!(hasher.hash_one(&same), hasher.hash_one(&v));
                    assert_eq!(same.digest(), digest);
                }
                let longer = Value::one(format!("{text}!"));
                assert_ne!(v, longer);
                assert!(v < longer);
                assert!(v.shares(&v.clone()));
                assert!(!v.shares(&longer));
            }
        }
        // An empty batch is not a batch of one empty value.
        assert_ne!(Value::default(), Value::one(""));
        assert_ne!(signed(&Value::default()), signed(&Value::one("")));
        assert_eq!(Value::default().len(), 0);
        assert_ne!(Value::default().digest(), Value::one("").digest());
    }

    fn signed(v: &Value) -> Vec<u8> {
        digest_form(|| postcard::to_stdvec(v).unwrap())
    }

    /// What a signature covers names each value: a short one by its
    /// bytes, any other by its digest, and no form is both.
    #[test]
    fn the_signed_form_of_a_value_is_its_bytes_when_short_else_its_digest() {
        let short = "a".repeat(INLINE);
        let long = "a".repeat(INLINE + 1);
        let as_bytes = |b: &[u8]| postcard::to_stdvec(&serde_bytes_like(b)).unwrap();
        assert_eq!(
            signed(&Value::one(short.as_str())),
            as_bytes(short.as_bytes())
        );
        let v = Value::one(long.as_str());
        assert_eq!(signed(&v), as_bytes(&v.digest()));
        let batch = Value::of(["a", "b"]);
        assert_eq!(signed(&batch), as_bytes(&batch.digest()));
        // Equal values sign alike however they were made.
        assert_eq!(
            signed(&Value::of([short.as_str()])),
            signed(&Value::one(short.as_str()))
        );
        assert_ne!(signed(&Value::one("b")), signed(&Value::one("c")));
    }

    /// `bytes` as serde's byte-string form (what `serialize_bytes` writes).
    fn serde_bytes_like(bytes: &[u8]) -> impl Serialize + '_ {
        struct B<'a>(&'a [u8]);
        impl Serialize for B<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        B(bytes)
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
