//! Command implementations behind the `handover-host` binary, kept in the
//! library so tests can call them. Each returns text or a diagnosis; only
//! `main` prints and chooses exit codes.

pub mod check;
pub mod conformance;
pub mod demo;
pub mod inspect;
