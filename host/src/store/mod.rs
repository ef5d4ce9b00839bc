//! Durable state: the [`Store`] trait and its types live in
//! `handover-core` (re-exported here); this module holds the
//! implementations. SQLite (embedded) is the default.

pub use handover_core::store::*;

pub mod sqlite;
