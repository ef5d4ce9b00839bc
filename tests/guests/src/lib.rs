//! The guest components (provider adapters and test fixtures of the
//! `adapters/` workspace), built for `wasm32-wasip2` by this crate's build
//! script and named by path.
//!
//! This crate owns building the guests: its `build.rs` discovers every
//! component of `adapters/` (each member package with a `cdylib` lib target),
//! builds them in one nested `cargo build --release` (`echo-v2` is the echo
//! fixture's source packaged as version 2.0.0), installs them as
//! `target/adapters/<name>.wasm` (where `scripts/run`, `examples/*.toml` and
//! the CLI find them) and generates the constants below. A test crate that
//! has it as a dev-dependency gets the guests built (and rebuilt when
//! anything under `adapters/` or `wit/` changes) before its tests compile;
//! `scripts/build-adapters.sh` is `cargo build -p handover-guests`.
//!
//! It is for tests, the conformance kit and scripts. It must never be a
//! dependency of the production binary (`handover-host`'s `[dependencies]`):
//! it would make every host build compile all guests, and the host loads
//! adapters from configured paths, never from paths baked in at build time.
//!
//! # Paths
//!
//! One `pub const` per guest holds the absolute path of its `.wasm`, named
//! after the guest in upper snake case (`sim` → [`SIM`], `sim-poll` →
//! [`SIM_POLL`], `echo-v2` → [`ECHO_V2`]); [`ALL`] lists `(name, path)`.
//! [`CONFORMANCE`] lists `(name, path, simulator)` for the guests whose own
//! `Cargo.toml` declares `[package.metadata.handover] conformance =
//! "<simulator>"` (the host's tests run the kit on each), and
//! [`for_each_guest_without_conformance!`] names the others, which need a
//! test of their own.
//!
//! ```
//! let bytes = std::fs::read(handover_guests::SIM).unwrap();
//! assert_eq!(&bytes[..4], b"\0asm");
//! assert!(handover_guests::ALL.contains(&("sim", handover_guests::SIM)));
//! ```
//!
//! # Every guest has a test
//!
//! [`for_each_guest!`] invokes a macro once per guest with the guest's
//! snake_case name as an identifier (`sim_poll`, `echo_v2`; `r#loop` for the
//! `loop` fixture, a keyword). A test file whose tests are named after the
//! guests can make the compiler check that none is missing, so a new
//! guest in `adapters/` does not compile until it has a test:
//!
//! ```compile_fail,E0432
//! // tests/guests.rs of a test crate: one test per guest, named after it.
//! macro_rules! assert_guest_tested {
//!     ($guest:ident) => {
//!         #[expect(unused_imports, reason = "only checks that the test exists")]
//!         use self::$guest as _;
//!     };
//! }
//! handover_guests::for_each_guest!(assert_guest_tested);
//!
//! #[test]
//! fn sim() { /* … handover_guests::SIM … */ }
//!
//! #[test]
//! fn sim_poll() { /* … handover_guests::SIM_POLL … */ }
//!
//! // No test for `echo`, `chatwoot`, … (this example has only two), so it
//! // does not compile: error[E0432]: unresolved import `self::echo`. With a
//! // test for every guest it does (this crate's own tests check that).
//! # fn main() {}
//! ```
//!
//! The macro can generate code per guest too (e.g. one test each); the
//! identifier is all it gets, the path is in [`ALL`] under the guest's name:
//!
//! ```
//! let mut checked = 0;
//! macro_rules! check_component {
//!     ($guest:ident) => {
//!         let name = stringify!($guest).trim_start_matches("r#").replace('_', "-");
//!         let (_, path) = handover_guests::ALL.iter().find(|(n, _)| *n == name).unwrap();
//!         assert!(std::fs::read(path).unwrap().starts_with(b"\0asm"));
//!         checked += 1;
//!     };
//! }
//! handover_guests::for_each_guest!(check_component);
//! assert_eq!(checked, handover_guests::ALL.len());
//! ```

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// `component` with a custom section `name` holding `data` appended: the same
/// guest under another sha256, i.e. a new version to hot-swap to (custom
/// sections carry no semantics, so it behaves exactly as before).
pub fn with_custom_section(component: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = vec![];
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// Appends `n` as unsigned LEB128 (wasm's integer encoding).
pub fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// `\0asm`, then the component-model layer version (a core module has
    /// `01 00 00 00` here).
    const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn every_guest_is_an_installed_component() {
        assert!(!ALL.is_empty());
        for (name, path) in ALL {
            assert!(
                path.ends_with(&format!("/target/adapters/{name}.wasm")),
                "{name}: {path}"
            );
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
            assert!(
                bytes.starts_with(&COMPONENT_HEADER),
                "{name}: {path} is not a wasm component (header {:02x?})",
                &bytes[..bytes.len().min(8)]
            );
        }
    }

    #[test]
    fn echo_v2_is_the_second_echo() {
        let find = |name: &str| ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
        assert_eq!(find("echo"), Some(super::ECHO));
        assert_eq!(find("echo-v2"), Some(super::ECHO_V2));
        let v1 = std::fs::read(super::ECHO).unwrap();
        let v2 = std::fs::read(super::ECHO_V2).unwrap();
        assert_ne!(v1, v2, "echo-v2 must report another version than echo");
    }

    /// The passing side of the crate docs' pattern: with a test per guest
    /// (here generated, each checking that its identifier names an entry of
    /// `ALL`), `for_each_guest!(assert_guest_tested)` compiles.
    mod for_each_guest {
        use super::ALL;

        macro_rules! names_an_entry_of_all {
            ($guest:ident) => {
                #[test]
                fn $guest() {
                    let name = stringify!($guest)
                        .trim_start_matches("r#")
                        .replace('_', "-");
                    assert!(ALL.iter().any(|(n, _)| *n == name), "{name} not in ALL");
                }
            };
        }
        for_each_guest!(names_an_entry_of_all);

        macro_rules! assert_guest_tested {
            ($guest:ident) => {
                #[expect(unused_imports, reason = "only checks that the test exists")]
                use self::$guest as _;
            };
        }
        for_each_guest!(assert_guest_tested);

        #[test]
        fn one_invocation_per_entry_of_all() {
            let mut count = 0;
            macro_rules! count {
                ($guest:ident) => {
                    count += 1;
                };
            }
            for_each_guest!(count);
            assert_eq!(count, ALL.len());
        }
    }
}
