//! A node as one sans-IO composition: its process (honest replica or
//! attacker) behind its shield (the middleware's logic).
//!
//! [`Node::step`] takes a packet from a peer, a tick or a client request and
//! returns a [`Ready`], in the order raft-rs's `Ready` documents: first what
//! to persist, then the packets to send, then the events to report. A node's
//! own votes (BFT mode's loopback) go round inside the step: the shield
//! signs and checks them and hands them back to the process.
//!
//! The glue between the two halves is written once, here: [`split`] says
//! what each of the process's outputs means (persist, report, or hand to the
//! shield), and [`outgoing`] turns one of them into packets and a verdict on
//! the node's own votes. [`Node`] calls both in one step; the actors hold
//! the halves apart — the process in `NodeActor`, the shield in the
//! `Middleware` actor, as the user asked — and call the same two functions,
//! so the simulator checks the very composition the processes run.

use crate::cluster::Member;
use crate::core::{Event, Input, Message, NodeId, Output, PosMap, Process, Value, Write};
use crate::middleware::{Shield, ShieldDurable, Verdict};
use crate::wire::Packet;

/// What a node asks its runtime to do after one step: `persist` before any
/// of `packets` goes out; `events` may be reported once `persist` is done
/// (the simulator reports them last, the actors before the packets).
#[derive(Debug, Default)]
pub struct Ready {
    /// The core's writes: durable (synced) before any packet goes out.
    pub persist: Vec<Write>,
    /// The shield's new proofs (only when it tracks them, see
    /// [`Shield::track_durable`]): kept before any packet goes out too.
    pub proofs: Option<ShieldDurable>,
    /// The shield forgot its proofs below this position (a snapshot covers
    /// them): a driver that keeps them drops them too, before `proofs`.
    pub forgot: Option<crate::core::Pos>,
    /// Packets for the network, in the order they were made.
    pub packets: Vec<Packet>,
    /// What happened, for the coordinator's DebugInfo and the trace.
    pub events: Vec<Event>,
    /// Steps the process took (the input, and the node's own votes).
    pub steps: u64,
}

/// What a node reacts to. (Passed by value and consumed at once, never
/// stored: boxing the packet would only add an allocation per delivery.)
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum NodeInput {
    /// A packet from the network, for the shield to check first.
    Packet(Packet),
    /// One tick of the shield (echo waits, strikes that age).
    ShieldTick,
    /// One tick of the process, with the entropy it uses for jitter. The
    /// actors tick the two halves on timers of their own; the simulator
    /// ticks a node's shield, then its process.
    Tick { entropy: u64 },
    /// The client asks this node to propagate `value`, and this node
    /// proposes it (a retry, or a scenario that needs this proposer).
    Request(Value),
    /// The client asks this node for `value`: it proposes it, or names the
    /// leader it knows for the client to ask instead ([`ask`]).
    Ask(Value),
    /// A client's read `id`, by read-index (the process's
    /// [`Event::ReadReady`] or [`Event::ReadRefused`] answers it).
    Read(u64),
    /// The state machine above applied everything below the snapshot's
    /// `upto`: the process keeps the snapshot instead of that part of the
    /// log ([`Input::Compact`]).
    Compact(crate::core::Snapshot),
}

/// A client's ask of `process`: the input that proposes `value`, or, when
/// the process knows a live leader other than itself, the event that
/// names it for the client (which then asks that node).
pub fn ask(process: &dyn Process, value: Value) -> Result<Input, Event> {
    match process.leader() {
        Some(leader) => Err(Event::Redirected { value, leader }),
        None => Ok(Input::Request { value }),
    }
}

/// The process's outputs of one step, sorted by what the runtime does with
/// them.
#[derive(Debug, Default)]
pub struct Split {
    /// To persist before anything of this step is sent.
    pub persist: Vec<Write>,
    /// To report.
    pub events: Vec<Event>,
    /// For the shield ([`outgoing`]), in order.
    pub send: Vec<Output>,
}

/// What one output of the process asks of its runtime.
pub enum Meaning {
    /// Keep it before anything of this step is sent.
    Persist(Write),
    /// Report it.
    Report(Event),
    /// Hand it to the shield ([`outgoing`]).
    Send(Output),
}

/// What one output of the process asks of its runtime, without taking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Persist,
    Report,
    Send,
}

/// What `out` asks for: the one place that says so.
pub fn kind(out: &Output) -> Kind {
    match out {
        Output::Persist(_) => Kind::Persist,
        Output::Event(_) => Kind::Report,
        _ => Kind::Send,
    }
}

/// What `out` means, as [`kind`] says.
pub fn meaning(out: Output) -> Meaning {
    match (kind(&out), out) {
        (Kind::Persist, Output::Persist(w)) => Meaning::Persist(w),
        (Kind::Report, Output::Event(e)) => Meaning::Report(e),
        (_, send) => Meaning::Send(send),
    }
}

/// Sort one step's outputs: writes to persist, events to report, messages
/// for the shield.
pub fn split(outs: Vec<Output>) -> Split {
    let mut s = Split::default();
    for o in outs {
        match meaning(o) {
            Meaning::Persist(w) => s.persist.push(w),
            Meaning::Report(e) => s.events.push(e),
            Meaning::Send(o) => s.send.push(o),
        }
    }
    s
}

/// Hand one message of the process to its shield: the signed packets for
/// the network, and the verdict on what the node addressed to itself (its
/// own votes in BFT mode), whose `deliver` goes back to the process.
pub fn outgoing(shield: &mut Shield, out: Output) -> (Vec<Packet>, Verdict) {
    let packets = shield.outgoing(out);
    (packets, shield.take_local())
}

/// A whole node: process and shield in one value.
pub struct Node {
    process: Box<dyn Process>,
    shield: Shield,
}

impl Node {
    pub fn new(member: Member) -> Node {
        Node {
            process: member.process,
            shield: member.shield,
        }
    }

    pub fn id(&self) -> NodeId {
        self.process.id()
    }

    /// The committed log.
    pub fn log(&self) -> &PosMap<Value> {
        self.process.log()
    }

    /// The snapshot that replaced its log below its `upto`, if any.
    pub fn snapshot(&self) -> Option<&crate::core::Snapshot> {
        self.process.snapshot()
    }

    /// The process itself (what a state machine above it follows).
    pub fn process(&self) -> &dyn Process {
        &*self.process
    }

    /// The ballot it leads in, from which position on ([`Process::leading`]).
    pub fn leading(&self) -> Option<(crate::core::Pos, crate::core::Ballot)> {
        self.process.leading()
    }

    pub fn shield(&self) -> &Shield {
        &self.shield
    }

    pub fn shield_mut(&mut self) -> &mut Shield {
        &mut self.shield
    }

    /// React to one input.
    pub fn step(&mut self, input: NodeInput) -> Ready {
        let mut ready = Ready::default();
        match input {
            NodeInput::Packet(p) => {
                let v = self.shield.incoming(p);
                self.verdict(v, &mut ready);
            }
            NodeInput::ShieldTick => {
                let v = self.shield.tick();
                self.verdict(v, &mut ready);
            }
            NodeInput::Tick { entropy } => self.feed(Input::Tick { entropy }, &mut ready),
            NodeInput::Request(value) => self.feed(Input::Request { value }, &mut ready),
            NodeInput::Ask(value) => match ask(&*self.process, value) {
                Ok(input) => self.feed(input, &mut ready),
                Err(redirect) => ready.events.push(redirect),
            },
            NodeInput::Read(id) => self.feed(Input::Read { id }, &mut ready),
            NodeInput::Compact(snap) => self.feed(Input::Compact(snap), &mut ready),
        }
        ready.forgot = self.shield.take_forgot();
        ready.proofs = self.shield.take_durable();
        ready
    }

    fn feed(&mut self, input: Input, ready: &mut Ready) {
        ready.steps += 1;
        for out in self.process.step(input) {
            match meaning(out) {
                Meaning::Persist(w) => ready.persist.push(w),
                Meaning::Report(e) => ready.events.push(e),
                Meaning::Send(out) => {
                    let (packets, local) = outgoing(&mut self.shield, out);
                    ready.packets.extend(packets);
                    self.verdict(local, ready);
                }
            }
        }
    }

    fn verdict(&mut self, v: Verdict, ready: &mut Ready) {
        ready.events.extend(v.events);
        ready.packets.extend(v.send);
        for (from, msg) in v.deliver {
            self.deliver(from, msg, ready);
        }
    }

    fn deliver(&mut self, from: NodeId, msg: Message, ready: &mut Ready) {
        self.feed(Input::Deliver { from, msg }, ready);
    }
}
