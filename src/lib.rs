//! paxos — a Multi-Paxos cluster of actix actors, built to show attacks on
//! consensus succeed and then be defeated.
//!
//! Layers, from the bottom: [`core`] (the protocol as sans-IO state machines),
//! [`actors`] (thin actix wrappers: nodes, middleware, network, coordinator),
//! and [`demo`] (a whole cluster in one process, with its summary).

pub mod actors;
pub mod attack;
pub mod auth;
pub mod bench;
pub mod bridge;
pub mod client;
pub mod core;
pub mod demo;
pub mod matrix;
pub mod middleware;
pub mod sim;
pub mod storage;
pub mod term;
pub mod trace;
pub mod wire;
