//! handover-host: hands chatbot conversations over to human agents through
//! provider adapters that run as sandboxed WebAssembly components.
//!
//! This crate is the composition root: it wires the layers (each its own
//! crate, see `docs/architecture.md`) into a running host and holds the
//! command-line tools. Data flows one way: provider traffic → adapter
//! (`handover-runtime`) → handover engine (`handover-engine`) → store
//! (`handover-store-*`: state + events + outbox in one transaction) →
//! delivery to the bot (`handover-api`). No layer reaches back up; the
//! crate graph makes that a compile error.
//!
//! The re-exports keep one path per layer for the binary, tests and
//! examples (`handover_host::engine::Engine`, …).

pub use handover_api as api;
pub mod cli;
pub mod config;
pub use handover_core::model;
pub use handover_engine as engine;
pub use handover_engine::{adapter_sync, registry, tenancy};
pub use handover_metrics as metrics;
pub use handover_runtime as runtime;
pub mod server;
pub mod store;
