//! The host's integration tests, in one test binary (one link of wasmtime
//! and of the host instead of one per file). Each module says what it
//! covers; `harness` is what they share: the built guest components, the
//! real `handover-host` binary as a child process (`HostProcess`) with a
//! typed config (`Config`), HTTP, SSE and webhook helpers.

mod cache;
mod cli;
mod conformance;
mod e2e;
mod egress;
mod harness;
mod hot_swap;
mod openapi;
mod replicas;
mod sandbox;
mod session;
mod template;
mod tenancy;
