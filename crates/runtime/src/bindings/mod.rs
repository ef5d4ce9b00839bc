//! Bindings per supported WIT version of `handover:provider`.
//!
//! One module per released contract version (the Zed extension-host
//! pattern); each converts between its generated types and `handover_core::model`.
//! Adding a version means adding a module and a variant of [`Bindings`];
//! older versions stay served. Nothing outside `runtime` sees generated types.

pub mod v0_1_0;
pub mod v0_1_0_exports;

/// Contract versions this host serves, newest first.
pub const SUPPORTED: &[&str] = &["handover:provider@0.1.0"];

/// The export interface every adapter of a version must provide.
pub fn export_interface(version: &str) -> String {
    format!(
        "{}/adapter@{}",
        version.split('@').next().unwrap_or(version),
        version.split('@').nth(1).unwrap_or("")
    )
}
