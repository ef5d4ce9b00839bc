//! handover-core: everything about handovers that is pure computation —
//! the contract's data model, the handover state machine (`rules`), webhook
//! signature verification, the egress allow-list policy, per-call limits,
//! config parsing and the store trait.
//!
//! This crate must never depend on wasmtime or perform I/O (no files, no
//! environment variables, no sockets, no processes), so it builds in
//! seconds and its parsers and state machine can be fuzzed directly. What
//! needs the outside world takes it as a parameter (e.g.
//! `config::resolve_secret` takes the environment lookup) or lives in the
//! host (`handover_host::config::load` reads the config file). The rule is
//! enforced by `tests/no_io.rs`, which fails if any code under `src/`
//! names the standard library's or tokio's file, environment (other than
//! its `consts`), socket or process APIs.

pub mod config;
pub mod declared_routing;
pub mod egress_policy;
pub mod inbox;
pub mod limits;
pub mod model;
pub mod permissions;
pub mod recorded_body;
pub mod report;
pub mod rules;
pub mod signature;
pub mod store;
pub mod webhook_reply;
