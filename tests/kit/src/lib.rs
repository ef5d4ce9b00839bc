//! `handover-kit`: the adapter conformance kit and the demo.
//!
//! Both run a real host (in process, real HTTP, SQLite in a temporary
//! directory) against a bundled provider simulator (`provider-simulators`).
//! They live in their own crate so that the production binary,
//! `handover-host`, never links the simulators: `handover-host conformance`
//! and `handover-host demo` run the `handover-kit` binary installed next to
//! it. Must never be a dependency of `handover-host` or any layer crate.

pub mod conformance;
pub mod demo;
pub mod dev;
mod features;
pub mod host;
