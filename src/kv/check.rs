//! Is a recorded client history linearizable? Checked with a checker from
//! outside this project — stateright's `LinearizabilityTester` — against
//! the store's own sequential semantics ([`super::run`]), one key at a time
//! as Porcupine does: every operation touches one key, and linearizability
//! is local (Herlihy and Wing), so a history is linearizable exactly when
//! each key's part of it is, and long histories stay tractable.
//!
//! A history is the invocations and completions of client operations in
//! the order they happened ([`History::invoke`], [`History::complete`]).
//! An operation that never completed (its client gave up, or the run
//! ended) may or may not have taken effect, as the checker allows. When a
//! key's history cannot be ordered, [`History::check`] names the key and
//! the fewest of its operations that still cannot be ordered.

use super::{run, Op, Reply};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::collections::BTreeMap;
use std::fmt;

/// One client operation: what it asked, and what it answered if it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub client: u64,
    pub op: Op,
    /// The reply, if the operation completed.
    pub reply: Option<Reply>,
    /// Where its invocation and completion sit in the history's order.
    pub invoked: usize,
    pub completed: Option<usize>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} {}", self.client, self.op)?;
        match (&self.reply, self.completed) {
            (Some(r), Some(at)) => write!(f, " → {r} (events {}..{at})", self.invoked),
            _ => write!(f, " → no reply (invoked at event {})", self.invoked),
        }
    }
}

/// A history of client operations, in the order they happened.
#[derive(Clone, Debug, Default)]
pub struct History {
    calls: Vec<Call>,
    /// Per client, its operation in progress (an index into `calls`).
    open: BTreeMap<u64, usize>,
    events: usize,
}

/// What the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// The operations on `key` that cannot be put in any order consistent
    /// with their real-time order and the store's semantics; the fewest
    /// such: removing any one of them leaves a linearizable history, or
    /// one that reads a value nobody wrote.
    NotLinearizable {
        key: String,
        calls: Vec<Call>,
    },
}

/// A history that is not a history: a client with two operations at once,
/// or a completion nobody invoked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("client {0} invoked an operation while another was in progress")]
    Overlapping(u64),
    #[error("client {0} completed an operation it had not invoked")]
    NotInvoked(u64),
}

impl History {
    /// Client `client` invokes `op` (one operation at a time per client).
    pub fn invoke(&mut self, client: u64, op: Op) -> Result<(), HistoryError> {
        if self.open.contains_key(&client) {
            return Err(HistoryError::Overlapping(client));
        }
        self.open.insert(client, self.calls.len());
        self.calls.push(Call {
            client,
            op,
            reply: None,
            invoked: self.events,
            completed: None,
        });
        self.events += 1;
        Ok(())
    }

    /// Client `client`'s operation in progress completed with `reply`.
    pub fn complete(&mut self, client: u64, reply: Reply) -> Result<(), HistoryError> {
        let i = self
            .open
            .remove(&client)
            .ok_or(HistoryError::NotInvoked(client))?;
        self.calls[i].reply = Some(reply);
        self.calls[i].completed = Some(self.events);
        self.events += 1;
        Ok(())
    }

    /// Whether `client` has an operation in progress.
    pub fn in_progress(&self, client: u64) -> bool {
        self.open.contains_key(&client)
    }

    /// Every operation, in invocation order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Check each key's part of the history.
    pub fn check(&self) -> Verdict {
        let mut by_key: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
        // A refusal for an expired session is an operation that definitely
        // did not happen: it has no place in any order.
        let happened = |c: &&Call| c.reply != Some(Reply::SessionExpired);
        for c in self.calls.iter().filter(happened) {
            by_key.entry(c.op.key()).or_default().push(c);
        }
        for (key, calls) in by_key {
            if !linearizable(key, &calls) {
                return Verdict::NotLinearizable {
                    key: key.to_string(),
                    calls: minimal(key, calls).into_iter().cloned().collect(),
                };
            }
        }
        Verdict::Linearizable
    }
}

/// Draw calls as a timeline, one row per call, in the history's real-time
/// order: `|----|` from invocation to completion, `|--->` for one that
/// never completed; events none of the calls has are left out, so a few
/// calls of a long history stay readable.
pub fn draw(calls: &[Call]) -> String {
    let mut at: Vec<usize> = calls
        .iter()
        .flat_map(|c| std::iter::once(c.invoked).chain(c.completed))
        .collect();
    at.sort_unstable();
    at.dedup();
    let col = |event: usize| at.partition_point(|&e| e < event) * 4;
    let width = at.len() * 4;
    let mut out = String::new();
    for c in calls {
        let start = col(c.invoked);
        let (end, tip) = match c.completed {
            Some(e) => (col(e), '|'),
            None => (width, '>'),
        };
        let bar = format!("|{}{tip}", "-".repeat(end.saturating_sub(start + 1)));
        let reply = match &c.reply {
            Some(r) => r.to_string(),
            None => "no reply".into(),
        };
        out.push_str(&format!(
            "client {:<3} {:start$}{bar:<w$}  {} → {reply}\n",
            c.client,
            "",
            c.op,
            w = width + 1 - start
        ));
    }
    out
}

/// The store's semantics restricted to one key: the reference object.
#[derive(Clone, Debug)]
struct KeyModel {
    key: String,
    value: Option<String>,
}

impl SequentialSpec for KeyModel {
    type Op = Op;
    type Ret = Reply;
    fn invoke(&mut self, op: &Op) -> Reply {
        let mut data = BTreeMap::new();
        if let Some(v) = self.value.take() {
            data.insert(self.key.clone(), v);
        }
        let reply = run(&mut data, op.clone());
        self.value = data.remove(&self.key);
        reply
    }
}

/// Whether one key's calls are linearizable: their events fed to
/// stateright's tester in the order they happened.
fn linearizable(key: &str, calls: &[&Call]) -> bool {
    let mut events: Vec<(usize, &Call, bool)> = Vec::new();
    for c in calls {
        events.push((c.invoked, c, false));
        if let Some(at) = c.completed {
            events.push((at, c, true));
        }
    }
    events.sort_by_key(|(at, _, _)| *at);
    let mut tester = LinearizabilityTester::new(KeyModel {
        key: key.to_string(),
        value: None,
    });
    for (_, c, done) in events {
        let step = match (done, &c.reply) {
            (false, _) => tester.on_invoke(c.client, c.op.clone()).map(|_| ()),
            (true, Some(r)) => tester.on_return(c.client, r.clone()).map(|_| ()),
            (true, None) => Ok(()),
        };
        if step.is_err() {
            return false;
        }
    }
    tester.is_consistent()
}

/// The fewest calls that still cannot be ordered: drop calls one at a
/// time, latest first, keeping each dropped while the rest stays
/// non-linearizable. Calls that change nothing (reads, failed writes) go
/// first: dropping one only loosens the history, so it cannot make up a
/// violation the history did not have. Writes go after, latest first, so
/// the writes that earlier reads saw stay; a write whose value a kept call
/// saw is never dropped. Repeated until nothing more can go.
fn minimal<'a>(key: &str, mut calls: Vec<&'a Call>) -> Vec<&'a Call> {
    loop {
        let before = calls.len();
        drop_passes(key, &mut calls);
        if calls.len() == before {
            return calls;
        }
    }
}

/// One pass over the calls that change nothing, then one over the rest.
fn drop_passes(key: &str, calls: &mut Vec<&Call>) {
    for pass_reads in [true, false] {
        let mut i = calls.len();
        while i > 0 {
            i -= 1;
            if changes_nothing(calls[i]) != pass_reads || observed(calls[i], calls) {
                continue;
            }
            let mut without = calls.clone();
            without.remove(i);
            if !linearizable(key, &without) {
                *calls = without;
            }
        }
    }
}

/// Whether another of `calls` saw the value `c` wrote: such a write stays,
/// or the reduced history would show a read of a value nobody wrote — a
/// violation of its own, not the one found.
fn observed(c: &Call, calls: &[&Call]) -> bool {
    let wrote = match &c.op {
        Op::Put { value, .. } => value,
        Op::Cas { to, .. } => to,
        _ => return false,
    };
    calls.iter().any(|o| match &o.reply {
        Some(Reply::Ok { value: Some(v) }) | Some(Reply::CasMismatch { found: v }) => v == wrote,
        _ => false,
    })
}

/// A read, or a write that failed: whatever order it took, the key's value
/// stayed as it was.
fn changes_nothing(c: &Call) -> bool {
    matches!(c.op, Op::Get { .. })
        || matches!(
            c.reply,
            Some(Reply::KeyMissing | Reply::CasMismatch { .. } | Reply::SessionExpired)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        let mut h = History::default();
        h.invoke(1, Op::put("x", "a")).unwrap();
        h.invoke(2, Op::get("x")).unwrap();
        // The read saw the write: fine, they overlap.
        h.complete(2, Reply::ok(Some("a"))).unwrap();
        h.complete(1, Reply::ok(None)).unwrap();
        h.invoke(2, Op::get("x")).unwrap();
        h.complete(2, Reply::ok(Some("a"))).unwrap();
        // A write that never completed may or may not have happened.
        h.invoke(3, Op::put("x", "b")).unwrap();
        h.invoke(2, Op::get("x")).unwrap();
        h.complete(2, Reply::ok(Some("b"))).unwrap();
        assert_eq!(h.check(), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_is_found_and_reduced_to_the_calls_that_cannot_be_ordered() {
        let mut h = History::default();
        h.invoke(1, Op::put("y", "other")).unwrap();
        h.complete(1, Reply::ok(None)).unwrap();
        h.invoke(1, Op::put("x", "a")).unwrap();
        h.complete(1, Reply::ok(None)).unwrap();
        h.invoke(3, Op::get("x")).unwrap();
        h.complete(3, Reply::ok(Some("a"))).unwrap();
        // After the write completed, a read that misses it: what a follower
        // answering from its own state (or a split log) gives.
        h.invoke(2, Op::get("x")).unwrap();
        h.complete(2, Reply::KeyMissing).unwrap();
        let Verdict::NotLinearizable { key, calls } = h.check() else {
            panic!("a stale read must be found");
        };
        assert_eq!(key, "x");
        let ops: Vec<(u64, Op)> = calls.iter().map(|c| (c.client, c.op.clone())).collect();
        assert_eq!(ops, vec![(1, Op::put("x", "a")), (2, Op::get("x"))]);
    }

    #[test]
    fn a_drawing_shows_each_call_from_invocation_to_completion() {
        let mut h = History::default();
        h.invoke(1, Op::put("x", "a")).unwrap();
        h.invoke(2, Op::get("x")).unwrap();
        h.complete(1, Reply::ok(None)).unwrap();
        h.complete(2, Reply::KeyMissing).unwrap();
        h.invoke(3, Op::get("x")).unwrap();
        let picture = draw(h.calls());
        let rows: Vec<&str> = picture.lines().collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].starts_with("client 1   |-------|"), "{picture}");
        assert!(rows[1].starts_with("client 2       |-------|"), "{picture}");
        assert!(rows[2].contains("|--->"), "never completed: {picture}");
        assert!(rows[2].ends_with("no reply"), "{picture}");
    }

    #[test]
    fn a_client_with_two_operations_at_once_is_not_a_history() {
        let mut h = History::default();
        h.invoke(1, Op::get("x")).unwrap();
        assert_eq!(h.invoke(1, Op::get("x")), Err(HistoryError::Overlapping(1)));
        assert_eq!(
            h.complete(2, Reply::ok(None)),
            Err(HistoryError::NotInvoked(2))
        );
        assert!(h.in_progress(1));
    }
}
