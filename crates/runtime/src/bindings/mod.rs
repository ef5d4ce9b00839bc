//! Bindings per supported WIT version of `handover:provider`.
//!
//! One module per released contract version (the Zed extension-host
//! pattern); each converts between its generated types and
//! `handover_core::model`, and `convert` holds the conversions of the types
//! the versions share. Adding a version means adding a module pair here, a
//! variant of [`Version`] and its arm in the runtime's dispatch; older
//! versions stay served (see the README's "Contract versions" for how long).
//! Nothing outside `runtime` sees generated types.

mod convert;
mod exports;
pub mod v0_1_0;
pub mod v0_1_0_exports;
pub mod v0_2_0;
pub mod v0_2_0_exports;

use serde::Serialize;

/// A contract version this host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Version {
    #[serde(rename = "handover:provider@0.1.0")]
    V0_1_0,
    #[serde(rename = "handover:provider@0.2.0")]
    V0_2_0,
}

/// Where a served version stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The newest: what `handover-host new` and the SDKs build by default.
    Current,
    /// Still served, unchanged; superseded, and served at least until the
    /// date given (see the README's version policy).
    Deprecated { served_until: &'static str },
}

impl Version {
    /// Every version this host serves, newest first.
    pub const ALL: &'static [Version] = &[Version::V0_2_0, Version::V0_1_0];

    /// The newest version.
    pub const CURRENT: Version = Version::V0_2_0;

    /// `handover:provider@0.1.0`.
    pub fn package(self) -> &'static str {
        match self {
            Version::V0_1_0 => "handover:provider@0.1.0",
            Version::V0_2_0 => "handover:provider@0.2.0",
        }
    }

    /// `0.1.0`.
    pub fn number(self) -> &'static str {
        self.package().split('@').nth(1).unwrap_or_default()
    }

    /// The interface every adapter of this version exports.
    pub fn export_interface(self) -> String {
        format!("handover:provider/adapter@{}", self.number())
    }

    /// The version whose adapter interface `export` names, if served.
    pub fn of_export(export: &str) -> Option<Version> {
        Version::ALL
            .iter()
            .copied()
            .find(|v| v.export_interface() == export)
    }

    /// The version named by its package (`handover:provider@0.1.0`).
    pub fn of_package(package: &str) -> Option<Version> {
        Version::ALL
            .iter()
            .copied()
            .find(|v| v.package() == package)
    }

    pub fn status(self) -> Status {
        match self {
            Version::V0_2_0 => Status::Current,
            // 0.2.0 shipped on 2026-12-04; a superseded version is served
            // for at least twelve months after its successor ships.
            Version::V0_1_0 => Status::Deprecated {
                served_until: "2027-12-04",
            },
        }
    }

    /// "current" or "deprecated (served until …)", for people.
    pub fn status_text(self) -> String {
        match self.status() {
            Status::Current => "current".into(),
            Status::Deprecated { served_until } => {
                format!("deprecated, served until at least {served_until}")
            }
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_lists_every_version_newest_first() {
        let names: Vec<&str> = Version::ALL.iter().map(|v| v.package()).collect();
        assert_eq!(
            names,
            ["handover:provider@0.2.0", "handover:provider@0.1.0"]
        );
        assert_eq!(Version::ALL[0], Version::CURRENT);
        assert_eq!(
            Version::of_export("handover:provider/adapter@0.1.0"),
            Some(Version::V0_1_0)
        );
        assert_eq!(Version::of_export("handover:provider/adapter@0.3.0"), None);
        assert!(Version::V0_1_0.status_text().starts_with("deprecated"));
        assert_eq!(Version::V0_2_0.status_text(), "current");
    }
}
