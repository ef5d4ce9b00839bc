//! End-to-end tests: the real binary over real HTTP, one test per path of
//! the handover lifecycle. See `harness` for how the host is run.

mod delivery;
mod harness;
mod lifecycle;
mod postgres;
mod recovery;
mod support;
mod timers;
mod webhooks;
