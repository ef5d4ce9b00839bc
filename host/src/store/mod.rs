//! Durable state: the [`Store`] trait and its types live in
//! `handover-core` (re-exported here); this module holds the
//! implementations. SQLite (embedded) is the default; PostgreSQL serves
//! several replicas sharing one database.

pub use handover_core::store::*;

#[cfg(test)]
pub(crate) mod conformance;
pub mod postgres;
pub mod sqlite;
