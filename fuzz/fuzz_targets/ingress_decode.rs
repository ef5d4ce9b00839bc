//! Ingress parsing: stored webhook rows (arbitrary JSON) always decode, and
//! encode→decode is the identity.
#![no_main]

use arbitrary::Arbitrary;
use handover_core::inbox::{decode, encode};
use handover_core::model::HttpRequest;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fuzz_target!(|i: Input| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&i.raw) {
        let _ = decode(&v);
    }
    let r = HttpRequest {
        method: i.method,
        path: i.path,
        headers: i.headers,
        body: i.body,
    };
    assert_eq!(decode(&encode(&r)), r);
});
