//! When a node process sends its `DebugInfo` lines to the coordinator.
//!
//! Each line used to be its own frame, written at once: over loopback a
//! frame costs a `sendto` here and a `recvfrom` there, and a follower's
//! "committed" lines were two of every eight frames a position sent. None
//! of them is on a client's critical path: the coordinator answers a
//! client from the first node to report a value, which is the node it
//! asked (the leader, or one that names the leader), and `paxos propose`,
//! which waits for a majority of nodes to report, asks the coordinator
//! every 20 ms, so a tick's wait (1 ms) is inside its own. So a node that
//! has not been asked for a value lately holds its committed lines and
//! sends them once a tick, all in one write. Every other line, and every line of a node a client asks,
//! goes at once, after what was held, so the coordinator still sees each
//! node's lines in the order they happened.

use crate::core::Event;

/// Ticks after the last ask during which a node reports at once.
pub const ASKED_TICKS: u64 = 1000;

/// Held lines beyond which they go without waiting for the tick.
pub const HELD_MAX: usize = 256;

/// The lines a node holds back, and how long since it was last asked.
#[derive(Debug)]
pub struct Reports {
    held: Vec<Event>,
    /// Ticks since the last ask (starts as long ago: a node nobody asked).
    quiet: u64,
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            held: Vec::new(),
            quiet: ASKED_TICKS,
        }
    }
}

impl Reports {
    /// A client asked this node for a value: it may be waiting on its lines.
    pub fn asked(&mut self) {
        self.quiet = 0;
    }

    /// The node has a new line: what to send now, in order (possibly none).
    pub fn report(&mut self, event: Event) -> Vec<Event> {
        let holds = matches!(event, Event::Committed { .. }) && self.quiet >= ASKED_TICKS;
        self.held.push(event);
        if holds && self.held.len() < HELD_MAX {
            Vec::new()
        } else {
            std::mem::take(&mut self.held)
        }
    }

    /// One tick passed: what was held goes now.
    pub fn tick(&mut self) -> Vec<Event> {
        self.quiet = self.quiet.saturating_add(1);
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Value;

    fn committed(pos: u64) -> Event {
        Event::Committed {
            pos,
            value: Value::one(format!("v{pos}")),
        }
    }

    fn note(s: &str) -> Event {
        Event::Note(s.to_string())
    }

    #[test]
    fn a_node_nobody_asked_holds_committed_lines_until_the_tick() {
        let mut r = Reports::default();
        assert!(r.report(committed(0)).is_empty());
        assert!(r.report(committed(1)).is_empty());
        assert_eq!(r.tick(), [committed(0), committed(1)]);
        assert!(r.tick().is_empty());
    }

    #[test]
    fn other_lines_go_at_once_after_what_was_held() {
        let mut r = Reports::default();
        assert!(r.report(committed(0)).is_empty());
        assert_eq!(r.report(note("flagged")), [committed(0), note("flagged")]);
    }

    #[test]
    fn an_asked_node_reports_at_once_until_it_has_been_quiet_a_while() {
        let mut r = Reports::default();
        r.asked();
        assert_eq!(r.report(committed(0)), [committed(0)]);
        for _ in 0..ASKED_TICKS - 1 {
            r.tick();
        }
        assert_eq!(r.report(committed(1)), [committed(1)]);
        r.tick();
        assert!(r.report(committed(2)).is_empty());
        r.asked();
        assert_eq!(r.report(committed(3)), [committed(2), committed(3)]);
    }

    #[test]
    fn a_full_hold_goes_without_waiting() {
        let mut r = Reports::default();
        for p in 0..HELD_MAX as u64 - 1 {
            assert!(r.report(committed(p)).is_empty());
        }
        let sent = r.report(committed(HELD_MAX as u64));
        assert_eq!(sent.len(), HELD_MAX);
        assert_eq!(sent.last(), Some(&committed(HELD_MAX as u64)));
    }
}
