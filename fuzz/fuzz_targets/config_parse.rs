//! Config parsing: any text either parses or yields located errors; never
//! panics, and every error names a line within the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errs) = handover_core::config::parse("fuzz.toml", src) {
        let lines = src.lines().count().max(1) + 1;
        for e in errs.0 {
            assert!(e.line <= lines, "error points past the end: {e}");
        }
    }
});
