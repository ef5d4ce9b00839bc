//! handover-host: hands chatbot conversations over to human agents through
//! provider adapters that run as sandboxed WebAssembly components.
//!
//! Data flows one way: provider traffic → adapter (`runtime`) → handover
//! engine (`engine`) → store (state + events + outbox in one transaction) →
//! delivery to the bot (`api`). No layer reaches back up.

pub mod adapter_sync;
pub mod api;
pub mod cli;
pub use handover_core::config;
pub mod engine;
pub mod metrics;
pub use handover_core::model;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tenancy;
