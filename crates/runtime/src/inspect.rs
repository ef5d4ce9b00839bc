//! Static inspection of a candidate adapter: is it a component, is it intact,
//! which world does it target, which imports and exports does it have, and
//! what exactly is missing or mismatched.
//!
//! Reads bytes only; never instantiates or runs the guest. Every error is a
//! one-paragraph diagnosis a third-party author can act on.

use super::LoadError;
use super::bindings::Version;
use wit_component::DecodedWasm;

/// What a component declares.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The contract version it exports, e.g. `handover:provider@0.1.0`.
    pub world: String,
    #[serde(skip)]
    pub version: Version,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

const ALLOWED_IMPORT_PACKAGES: &[&str] = &[
    "wasi:io@0.2.",
    "wasi:clocks@0.2.",
    "wasi:random@0.2.",
    "wasi:cli@0.2.",
    "wasi:filesystem@0.2.",
    "wasi:sockets@0.2.",
    "wasi:http@0.2.",
];

fn package_of(name: &str) -> String {
    // "wasi:http/types@0.2.12" -> "wasi:http@0.2.12"
    match (name.split_once('/'), name.split_once('@')) {
        (Some((pkg, _)), Some((_, ver))) => format!("{pkg}@{ver}"),
        (Some((pkg, _)), None) => pkg.to_string(),
        _ => name.to_string(),
    }
}

/// Whether a component of contract `version` may import `name`: WASI 0.2
/// and its own version's `log` and `types` (not another version's).
fn import_allowed(name: &str, version: Version) -> bool {
    let pkg = package_of(name);
    let ver = version.number();
    ALLOWED_IMPORT_PACKAGES.iter().any(|p| pkg.starts_with(p))
        || name == format!("handover:provider/log@{ver}")
        || name == format!("handover:provider/types@{ver}")
}

/// Served versions as people read them: "`handover:provider/adapter@0.2.0`
/// (0.2.0, current), …".
fn served() -> String {
    let v: Vec<String> = Version::ALL
        .iter()
        .map(|v| {
            format!(
                "`{}` ({}, {})",
                v.export_interface(),
                v.number(),
                v.status_text()
            )
        })
        .collect();
    v.join(", ")
}

/// Why a component exporting no served version is refused.
fn unserved(exports: &[String]) -> String {
    let other = exports
        .iter()
        .find(|e| e.starts_with("handover:provider/adapter@"));
    let why = match other {
        Some(o) => {
            let found = o.rsplit('@').next().unwrap_or_default();
            let newest = Version::CURRENT.number();
            if semver_newer(found, newest) {
                format!(
                    "it exports `{o}`, contract {found}, newer than any this host serves. \
                     Upgrade handover-host to a release that serves {found}, or build the adapter \
                     against {newest}, the newest it serves"
                )
            } else {
                format!(
                    "it exports `{o}`, contract {found}, which this host does not serve (it is not \
                     a released version, or its service ended). Rebuild the adapter against {newest}"
                )
            }
        }
        None if exports.is_empty() => {
            "it exports nothing. Export the `adapter` interface of world `handover-adapter` in `wit/`".to_string()
        }
        None => format!(
            "its exports are [{}]. Export the `adapter` interface of world `handover-adapter` in `wit/` \
             (regenerate your bindings from this host's `wit/` folder)",
            exports.join(", ")
        ),
    };
    format!(
        "this component does not implement a contract version this host serves: {why}. \
         This host serves {} (world `handover-adapter` in `wit/v<version>/`).",
        served()
    )
}

/// Whether dotted version `a` is newer than `b` (numeric parts compared).
fn semver_newer(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a) > parts(b)
}

/// Check the bytes are an intact component exporting a supported contract
/// with only imports the host provides.
pub fn check_component(bytes: &[u8]) -> Result<Report, LoadError> {
    let len = bytes.len();
    if len == 0 {
        return Err(LoadError::NotAComponent("the file is empty; expected a WebAssembly component (.wasm) built for the `handover:provider` world".into()));
    }
    if len < 8 || &bytes[..4] != b"\0asm" {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(LoadError::NotAComponent(format!(
            "not a WebAssembly binary: it starts with bytes [{}] instead of the magic `00 61 73 6d` ({len} bytes in all). \
             Check that you passed the `.wasm` produced by your build (for Rust: `target/wasm32-wasip2/release/<crate>.wasm`), not a text, archive or `.cwasm` file.",
            head.join(" ")
        )));
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(LoadError::NotAComponent(
            "this is a core WebAssembly module, not a component. Adapters must be components of the `handover:provider` world: \
             build Rust with `--target wasm32-wasip2` (not wasm32-unknown-unknown or wasm32-wasip1), or wrap a core module with \
             `wasm-tools component new` and the WIT in `wit/`."
                .into(),
        ));
    }
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    if let Err(e) = validator.validate_all(bytes) {
        return Err(LoadError::NotAComponent(format!(
            "the component is malformed or truncated: {} (at byte offset {} of {len}). \
             If the file was copied or uploaded, check it arrived whole (compare its sha256 with the build output); otherwise rebuild it.",
            e.message(),
            e.offset()
        )));
    }
    let decoded = wit_component::decode(bytes).map_err(|e| {
        LoadError::NotAComponent(format!("the component's type information cannot be decoded: {e:#}. Rebuild it with a current toolchain (wit-bindgen 0.4x or newer)."))
    })?;
    let (resolve, world) = match decoded {
        DecodedWasm::Component(r, w) => (r, w),
        DecodedWasm::WitPackage(..) => {
            return Err(LoadError::NotAComponent(
                "this file is a WIT package (interface definitions only), not a component with code. Build an adapter that implements the world instead.".into(),
            ));
        }
    };
    let w = &resolve.worlds[world];
    let name = |k: &wit_parser::WorldKey| match k {
        wit_parser::WorldKey::Interface(id) => resolve
            .id_of(*id)
            .unwrap_or_else(|| "<anonymous interface>".into()),
        wit_parser::WorldKey::Name(n) => n.clone(),
    };
    let imports: Vec<String> = w.imports.keys().map(name).collect();
    let exports: Vec<String> = w.exports.keys().map(name).collect();
    let Some(version) = exports.iter().find_map(|e| Version::of_export(e)) else {
        return Err(LoadError::WorldMismatch(unserved(&exports)));
    };
    let other_log = imports.iter().find(|i| {
        i.starts_with("handover:provider/") && !i.ends_with(&format!("@{}", version.number()))
    });
    if let Some(other) = other_log {
        return Err(LoadError::WorldMismatch(format!(
            "this component exports contract {} but imports `{other}` from another version: \
             a component targets one version. Generate all of its bindings from `wit/v{}`.",
            version.number(),
            version.number()
        )));
    }
    let unsupported: Vec<&String> = imports
        .iter()
        .filter(|i| !import_allowed(i, version))
        .collect();
    if !unsupported.is_empty() {
        return Err(LoadError::WorldMismatch(format!(
            "this component imports interfaces the host does not provide: [{}]. Adapters may import only WASI 0.2 \
             (io, clocks, random, cli, filesystem and sockets are linked with nothing granted; http goes through the egress policy) \
             and `handover:provider/log`. Remove those imports (check dependencies that pull them in).",
            unsupported
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Report {
        world: version.package().to_string(),
        version,
        imports,
        exports,
    })
}

/// Turn a wasmtime link/type error into a diagnosis naming the mismatch.
pub fn explain_link_error(e: &wasmtime::Error, report: &Report) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    format!(
        "the component's imports or exports do not match `{}`: {}. The contract's types may have changed since it was built; \
         rebuild it against this host's `wit/` folder.",
        report.world,
        chain.join(": ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<Report, LoadError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn random_bytes_are_not_wasm() {
        assert!(
            msg(check_component(b"hello, this is not wasm at all"))
                .contains("not a WebAssembly binary")
        );
        assert!(msg(check_component(b"")).contains("empty"));
    }

    #[test]
    fn core_module_is_named_as_such() {
        // (module) in binary form
        let core = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        assert!(msg(check_component(&core)).contains("core WebAssembly module"));
    }

    #[test]
    fn package_names() {
        assert_eq!(package_of("wasi:http/types@0.2.12"), "wasi:http@0.2.12");
        let v1 = Version::V0_1_0;
        assert!(import_allowed("wasi:http/outgoing-handler@0.2.3", v1));
        assert!(import_allowed("handover:provider/log@0.1.0", v1));
        assert!(!import_allowed("handover:provider/log@0.2.0", v1));
        assert!(import_allowed(
            "handover:provider/log@0.2.0",
            Version::V0_2_0
        ));
        assert!(!import_allowed("wasi:keyvalue/store@0.2.0-draft", v1));
        assert!(!import_allowed("handover:provider/log@0.9.0", v1));
    }

    #[test]
    fn unknown_versions_are_diagnosed() {
        let future = unserved(&["handover:provider/adapter@0.3.0".into()]);
        assert!(
            future.contains("newer than any this host serves"),
            "{future}"
        );
        assert!(future.contains("Upgrade handover-host"), "{future}");
        assert!(
            future.contains(
                "`handover:provider/adapter@0.2.0` (0.2.0, current), \
                 `handover:provider/adapter@0.1.0` (0.1.0, deprecated"
            ),
            "{future}"
        );
        let old = unserved(&["handover:provider/adapter@0.0.9".into()]);
        assert!(old.contains("does not serve"), "{old}");
        assert!(semver_newer("0.10.0", "0.2.0"));
        assert!(!semver_newer("0.1.0", "0.2.0"));
    }
}
