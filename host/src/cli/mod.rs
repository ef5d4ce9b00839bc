//! Command implementations behind the `handover-host` binary, kept in the
//! library so tests can call them. Each returns text or a diagnosis; only
//! `main` prints and chooses exit codes. (`conformance` and `demo` live in
//! the `handover-kit` crate, which links the provider simulators.)

pub mod check;
pub mod inspect;
