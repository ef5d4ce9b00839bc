//! Webhook signature verification: any request against any declaration
//! never panics, and a request signed with the right secret verifies while
//! the same request with one flipped body byte does not.
#![no_main]

use arbitrary::Arbitrary;
use handover_core::model::{
    HttpRequest, SignatureAlgorithm, SignatureEncoding, SignedContent, WebhookSignature,
};
use handover_core::signature::{sign, verify};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    alg: u8,
    enc: bool,
    signed: u8,
    prefix: Option<String>,
    ts: bool,
    secret: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    url: String,
    now: i64,
    window: u16,
}

fuzz_target!(|i: Input| {
    let decl = WebhookSignature {
        algorithm: [
            SignatureAlgorithm::HmacSha256,
            SignatureAlgorithm::HmacSha1,
            SignatureAlgorithm::HmacSha512,
            SignatureAlgorithm::SharedSecret,
        ][i.alg as usize % 4],
        header: "x-sig".into(),
        encoding: if i.enc {
            SignatureEncoding::Hex
        } else {
            SignatureEncoding::Base64
        },
        prefix: i.prefix.clone(),
        signed: match i.signed % 3 {
            0 => SignedContent::Body,
            1 => SignedContent::TimestampThenBody {
                separator: ".".into(),
            },
            _ => SignedContent::UrlThenBody,
        },
        timestamp_header: (i.ts || i.signed % 3 == 1).then(|| "x-ts".to_string()),
        delivery_id_header: None,
    };
    // Arbitrary requests: must never panic.
    let req = HttpRequest {
        method: "POST".into(),
        path: "/h".into(),
        headers: i.headers.clone(),
        body: i.body.clone(),
    };
    let _ = verify(&decl, Some(&i.secret), &req, &i.url, i.window as u64, i.now);
    // A correctly signed request verifies; a tampered one does not.
    if i.secret.is_empty() || decl.algorithm == SignatureAlgorithm::SharedSecret {
        return;
    }
    let ts = "1000".to_string();
    let base = HttpRequest {
        headers: vec![],
        ..req.clone()
    };
    let sig = sign(&decl, &i.secret, &i.body, Some(&ts), &i.url, &base);
    let good = HttpRequest {
        headers: vec![("x-sig".into(), sig.clone()), ("x-ts".into(), ts.clone())],
        ..base.clone()
    };
    assert_eq!(
        verify(&decl, Some(&i.secret), &good, &i.url, 300, 1000),
        Ok(()),
        "signed request refused"
    );
    if !i.body.is_empty() && !matches!(decl.signed, SignedContent::UrlThenBody) {
        let mut bad = good.clone();
        bad.body[0] ^= 1;
        assert!(
            verify(&decl, Some(&i.secret), &bad, &i.url, 300, 1000).is_err(),
            "tampered body accepted"
        );
    }
});
