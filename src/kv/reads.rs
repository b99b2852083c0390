//! A node's reads by read-index in flight ([`super::ReadPath::Index`]), for
//! a runtime that holds a [`Store`]: which client asked for which key, and
//! what to do with the core's answer. Sans-IO, so the actors and any other
//! runtime keep the same books.
//!
//! A read command the client sends becomes `Input::Read { id }` instead of
//! a log entry. [`Event::ReadReady`] means the store may answer it once it
//! has applied up to the read's index; [`Event::ReadRefused`] gives the
//! command back, to be proposed through the log like any other.

use super::{Command, Op, Reply, Store};
use crate::core::{Event, Pos, Value};
use std::collections::BTreeMap;

/// Reads asked of this node's core, by id.
#[derive(Debug, Default)]
pub struct IndexReads {
    next: u64,
    waiting: BTreeMap<u64, (Command, Value)>,
    /// Confirmed, waiting for the store to reach their index.
    ready: Vec<(u64, Pos)>,
}

/// What an event meant for the reads.
#[derive(Debug, PartialEq, Eq)]
pub enum Noted {
    /// Not about a read.
    Other,
    /// A read's answer, kept until the store can give it.
    Kept,
    /// A refused read: propose this value through the log instead.
    Refused(Value),
}

impl IndexReads {
    /// If `value` is one read command: the read id to feed the core
    /// (`Input::Read`).
    pub fn start(&mut self, value: &Value) -> Option<u64> {
        let cmd = value.single().and_then(Command::decode)?;
        if !matches!(cmd.op, Op::Get { .. }) {
            return None;
        }
        self.next += 1;
        self.waiting.insert(self.next, (cmd, value.clone()));
        Some(self.next)
    }

    /// Take the core's answer to a read, if `e` is one.
    pub fn note(&mut self, e: &Event) -> Noted {
        match e {
            Event::ReadReady { id, index } if self.waiting.contains_key(id) => {
                self.ready.push((*id, *index));
                Noted::Kept
            }
            Event::ReadRefused { id, .. } => match self.waiting.remove(id) {
                Some((_, value)) => Noted::Refused(value),
                None => Noted::Kept,
            },
            Event::ReadReady { .. } => Noted::Kept,
            _ => Noted::Other,
        }
    }

    /// The reads `store` can answer now: (client, seq, reply).
    pub fn answer(&mut self, store: &Store) -> Vec<(u64, u64, Reply)> {
        let reached = store.applied_up_to();
        let mut out = Vec::new();
        self.ready.retain(|&(id, index)| {
            if index > reached {
                return true;
            }
            if let Some((cmd, _)) = self.waiting.remove(&id) {
                out.push((cmd.client, cmd.seq, store.read_here(cmd.op.key())));
            }
            false
        });
        out
    }

    /// Reads asked and not yet answered or refused.
    pub fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(client: u64, key: &str) -> Value {
        Value::one(
            Command {
                client,
                seq: 1,
                op: Op::get(key),
            }
            .encode(),
        )
    }

    #[test]
    fn a_confirmed_read_waits_for_its_index_and_a_refused_one_goes_to_the_log() {
        let mut r = IndexReads::default();
        let put = Command {
            client: 9,
            seq: 1,
            op: Op::put("k", "v"),
        };
        assert_eq!(
            r.start(&Value::one(put.encode())),
            None,
            "a write is not a read"
        );
        let a = r.start(&get(1, "k")).expect("a read");
        let b = r.start(&get(2, "k")).expect("a read");
        assert_eq!(r.note(&Event::ReadReady { id: a, index: 1 }), Noted::Kept);
        let mut store = Store::default();
        assert!(
            r.answer(&store).is_empty(),
            "the store is not at index 1 yet"
        );
        let log = BTreeMap::from([(0, Value::one(put.encode()))]);
        store.catch_up(&log);
        assert_eq!(r.answer(&store), vec![(1, 1, Reply::ok(Some("v")))]);
        let refused = Event::ReadRefused {
            id: b,
            leader: None,
        };
        assert_eq!(r.note(&refused), Noted::Refused(get(2, "k")));
        assert_eq!(r.in_flight(), 0);
        assert_eq!(r.note(&Event::Note("x".into())), Noted::Other);
    }
}
