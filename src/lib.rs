//! paxos — a Multi-Paxos cluster of actix actors, built to show attacks on
//! consensus succeed and then be defeated.
//!
//! # Layout
//!
//! Data flows down this list and back up, never sideways; each layer
//! imports only the ones above it.
//!
//! 1. [`core`] — the protocol as plain deterministic state machines
//!    (`Replica`: acceptor, proposer, learner; `Config` and the quorum of
//!    each mode). No actix, sockets, clock or RNG: `step(input) -> outputs`.
//!    [`attack`] holds the attackers, state machines of the same shape;
//!    [`kv`] a key-value state machine with exactly-once client sessions,
//!    applied to the committed log, and the linearizability check of
//!    client histories (the actors' nodes and the simulator drive it).
//! 2. [`auth`] (keys, signatures over bytes) and [`wire`] (what travels: a
//!    `Packet` carrying a `Body`, the proofs inside bodies, and which bytes
//!    a body signs).
//! 3. [`middleware`] — the `Shield`: signs what its node sends, verifies
//!    and checks what it receives, one file per defence; sans-IO.
//! 4. [`node`] — one node as one composition: process behind shield,
//!    `step -> Ready` (persist, then packets, then events).
//! 5. [`cluster`] — the `ClusterSpec`: nodes, mode, attack, defences,
//!    signing, seed, tunables; validated once; it gives each member its
//!    process, shield and role, and rebuilds a restarted one. The only place
//!    that decides who signs and how a shield is configured.
//!    [`verdict`] judges honest nodes' logs (agreement, liveness, detection)
//!    for every runtime alike; [`client`] is the client's retry policy.
//! 6. Runtimes, which only carry packets and ticks: [`actors`] (NodeActor,
//!    Middleware, Network, Coordinator), [`sim`] (the seeded simulator and
//!    test harness), [`bridge`] (TCP between processes, every control
//!    connection admitted by the cluster key) with [`storage`] (the data
//!    directory), and [`maelstrom`] (one node on Maelstrom's stdin and
//!    stdout).
//! 7. Front ends: [`demo`], [`bench`], [`matrix`], [`tour`], [`explore`] (the
//!    web page that steps the simulator by hand), and the pictures of
//!    [`trace`] and colours of [`term`]; `main.rs` holds the command line.

pub mod actors;
pub mod attack;
pub mod auth;
pub mod bench;
pub mod bridge;
pub mod client;
pub mod cluster;
pub mod core;
pub mod demo;
pub mod explore;
pub mod kv;
pub mod maelstrom;
pub mod matrix;
pub mod middleware;
pub mod node;
pub mod sim;
pub mod storage;
pub mod term;
pub mod tour;
pub mod trace;
pub mod verdict;
pub mod wire;
