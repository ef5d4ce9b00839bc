//! handover-core: everything about handovers that is pure computation —
//! the contract's data model, the handover state machine (`rules`), webhook
//! signature verification, the egress allow-list policy, per-call limits,
//! config parsing and the store trait.
//!
//! This crate must never depend on wasmtime or perform I/O, so it builds in
//! seconds and its parsers and state machine can be fuzzed directly.

pub mod config;
pub mod egress_policy;
pub mod inbox;
pub mod limits;
pub mod model;
pub mod report;
pub mod rules;
pub mod signature;
pub mod store;
