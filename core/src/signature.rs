//! Webhook signature verification, as the adapter declared it and with the
//! secret from config. Pure functions of (declaration, secret, request, now).
//!
//! Fails closed: a declared scheme without a configured secret refuses
//! everything; comparisons are constant-time. Never logs the secret or the
//! expected signature.

use crate::model::{
    HttpRequest, SignatureAlgorithm, SignatureEncoding, SignedContent, WebhookSignature,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum VerifyError {
    #[error(
        "no webhook secret is configured for this endpoint, so its signed webhooks cannot be verified"
    )]
    NoSecret,
    #[error("missing signature header `{0}`")]
    MissingHeader(String),
    #[error("signature header `{0}` does not start with the expected prefix")]
    BadPrefix(String),
    #[error("signature in header `{0}` is not valid {1}")]
    BadEncoding(String, &'static str),
    #[error("signature mismatch")]
    Mismatch,
    #[error("missing timestamp header `{0}`")]
    MissingTimestamp(String),
    #[error("timestamp header `{0}` is not a number")]
    BadTimestamp(String),
    #[error("timestamp is {0} s away from now, outside the replay window of {1} s")]
    Replayed(i64, u64),
}

impl VerifyError {
    /// A short stable label for metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            VerifyError::NoSecret => "no_secret",
            VerifyError::MissingHeader(_) => "missing_signature",
            VerifyError::BadPrefix(_) | VerifyError::BadEncoding(..) => "malformed_signature",
            VerifyError::Mismatch => "bad_signature",
            VerifyError::MissingTimestamp(_) | VerifyError::BadTimestamp(_) => "bad_timestamp",
            VerifyError::Replayed(..) => "replayed",
        }
    }
}

pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn mac(alg: SignatureAlgorithm, secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    macro_rules! run {
        ($d:ty) => {{
            let mut m = <Hmac<$d>>::new_from_slice(secret).expect("hmac takes any key length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        SignatureAlgorithm::HmacSha256 => run!(sha2::Sha256),
        SignatureAlgorithm::HmacSha1 => run!(sha1::Sha1),
        SignatureAlgorithm::HmacSha512 => run!(sha2::Sha512),
        SignatureAlgorithm::SharedSecret => secret.to_vec(),
    }
}

/// The bytes the provider signs for URL-signed schemes: the public URL, then
/// for form bodies the sorted `name` + `value` pairs, else the raw body.
fn url_content(public_url: &str, req: &HttpRequest) -> Vec<u8> {
    let mut out = public_url.as_bytes().to_vec();
    let form = header(req, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let body = String::from_utf8_lossy(&req.body);
        let mut pairs: Vec<(String, String)> = body
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        pairs.sort();
        for (k, v) in pairs {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    } else {
        out.extend_from_slice(&req.body);
    }
    out
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Verify `req` against the declaration. `public_url` is the full URL the
/// provider posted to (needed by URL-signing schemes); `now_s` is Unix time.
pub fn verify(
    decl: &WebhookSignature,
    secret: Option<&str>,
    req: &HttpRequest,
    public_url: &str,
    replay_window_s: u64,
    now_s: i64,
) -> Result<(), VerifyError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::NoSecret)?;
    let raw = header(req, &decl.header)
        .ok_or_else(|| VerifyError::MissingHeader(decl.header.clone()))?
        .trim();
    let timestamp = match &decl.timestamp_header {
        Some(h) => {
            let v = header(req, h)
                .ok_or_else(|| VerifyError::MissingTimestamp(h.clone()))?
                .trim();
            let ts: i64 = v
                .parse()
                .map_err(|_| VerifyError::BadTimestamp(h.clone()))?;
            // Accept seconds or milliseconds.
            let ts_s = if ts > 100_000_000_000 { ts / 1000 } else { ts };
            // The timestamp is unauthenticated input: any i64 may arrive.
            let skew = now_s.saturating_sub(ts_s);
            if skew.unsigned_abs() > replay_window_s {
                return Err(VerifyError::Replayed(skew, replay_window_s));
            }
            Some(v.to_string())
        }
        None => None,
    };
    if decl.algorithm == SignatureAlgorithm::SharedSecret {
        let ok: bool = raw.as_bytes().ct_eq(secret.as_bytes()).into();
        return if ok {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        };
    }
    let encoded = match &decl.prefix {
        // Header values arrive trimmed, so compare against the trimmed prefix
        // (found by fuzzing: a declared prefix with leading space never matched).
        Some(p) => raw
            .strip_prefix(p.trim())
            .ok_or_else(|| VerifyError::BadPrefix(decl.header.clone()))?
            .trim(),
        None => raw,
    };
    let given = match decl.encoding {
        SignatureEncoding::Hex => hex::decode(encoded.to_ascii_lowercase())
            .map_err(|_| VerifyError::BadEncoding(decl.header.clone(), "hex"))?,
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| VerifyError::BadEncoding(decl.header.clone(), "base64"))?,
    };
    let expected = match &decl.signed {
        SignedContent::Body => mac(decl.algorithm, secret.as_bytes(), &[&req.body]),
        SignedContent::TimestampThenBody { separator } => {
            let ts = timestamp.ok_or_else(|| {
                VerifyError::MissingTimestamp("(no timestamp header declared)".into())
            })?;
            mac(
                decl.algorithm,
                secret.as_bytes(),
                &[ts.as_bytes(), separator.as_bytes(), &req.body],
            )
        }
        SignedContent::UrlThenBody => mac(
            decl.algorithm,
            secret.as_bytes(),
            &[&url_content(public_url, req)],
        ),
    };
    let ok: bool = given.ct_eq(&expected).into();
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// What a verified webhook's signature covers, hashed (`signed:` + hex
/// sha256): the same for a replay of it whatever unsigned headers (a
/// delivery id) the replay carries, so the host drops it as a duplicate.
/// For a shared-secret header (which signs nothing) the body stands in.
pub fn replay_key(decl: &WebhookSignature, req: &HttpRequest, public_url: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    match &decl.signed {
        SignedContent::Body => h.update(&req.body),
        SignedContent::TimestampThenBody { separator } => {
            let ts = decl
                .timestamp_header
                .as_deref()
                .and_then(|name| header(req, name))
                .unwrap_or_default()
                .trim();
            h.update(ts.as_bytes());
            h.update(separator.as_bytes());
            h.update(&req.body);
        }
        SignedContent::UrlThenBody => h.update(url_content(public_url, req)),
    }
    format!("signed:{}", hex::encode(h.finalize()))
}

/// Produce the header value a provider would send (for simulators and tests).
pub fn sign(
    decl: &WebhookSignature,
    secret: &str,
    body: &[u8],
    timestamp: Option<&str>,
    public_url: &str,
    req: &HttpRequest,
) -> String {
    let bytes = match &decl.signed {
        SignedContent::Body => mac(decl.algorithm, secret.as_bytes(), &[body]),
        SignedContent::TimestampThenBody { separator } => mac(
            decl.algorithm,
            secret.as_bytes(),
            &[
                timestamp.unwrap_or("").as_bytes(),
                separator.as_bytes(),
                body,
            ],
        ),
        SignedContent::UrlThenBody => mac(
            decl.algorithm,
            secret.as_bytes(),
            &[&url_content(public_url, req)],
        ),
    };
    let enc = match decl.encoding {
        SignatureEncoding::Hex => hex::encode(bytes),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    format!("{}{enc}", decl.prefix.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(
        alg: SignatureAlgorithm,
        enc: SignatureEncoding,
        prefix: Option<&str>,
        signed: SignedContent,
        ts: bool,
    ) -> WebhookSignature {
        WebhookSignature {
            algorithm: alg,
            header: "X-Sig".into(),
            encoding: enc,
            prefix: prefix.map(Into::into),
            signed,
            timestamp_header: ts.then(|| "X-Ts".to_string()),
            delivery_id_header: None,
        }
    }

    /// HMAC-SHA256 hex with `sha256=` over "{timestamp}.{body}".
    fn chatwoot_like() -> WebhookSignature {
        decl(
            SignatureAlgorithm::HmacSha256,
            SignatureEncoding::Hex,
            Some("sha256="),
            SignedContent::TimestampThenBody {
                separator: ".".into(),
            },
            true,
        )
    }

    fn req(headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: "/h".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn known_vector_hmac_sha256_hex() {
        // RFC 4231-style check against an independently computed value:
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog")
        let d = decl(
            SignatureAlgorithm::HmacSha256,
            SignatureEncoding::Hex,
            None,
            SignedContent::Body,
            false,
        );
        let sig = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let r = req(
            &[("x-sig", sig)],
            "The quick brown fox jumps over the lazy dog",
        );
        assert_eq!(verify(&d, Some("key"), &r, "", 300, 0), Ok(()));
        let r = req(
            &[("x-sig", sig)],
            "The quick brown fox jumps over the lazy cat",
        );
        assert_eq!(
            verify(&d, Some("key"), &r, "", 300, 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn every_algorithm_and_encoding_round_trips() {
        for alg in [
            SignatureAlgorithm::HmacSha256,
            SignatureAlgorithm::HmacSha1,
            SignatureAlgorithm::HmacSha512,
        ] {
            for enc in [SignatureEncoding::Hex, SignatureEncoding::Base64] {
                for signed in [
                    SignedContent::Body,
                    SignedContent::TimestampThenBody {
                        separator: ".".into(),
                    },
                    SignedContent::UrlThenBody,
                ] {
                    let ts = matches!(signed, SignedContent::TimestampThenBody { .. });
                    let d = decl(alg, enc, Some("v1="), signed, ts);
                    let body = r#"{"a":1}"#;
                    let r0 = req(&[], body);
                    let sig = sign(
                        &d,
                        "s3cret",
                        body.as_bytes(),
                        Some("1000"),
                        "https://h/x",
                        &r0,
                    );
                    let r = req(&[("X-Sig", &sig), ("X-Ts", "1000")], body);
                    assert_eq!(
                        verify(&d, Some("s3cret"), &r, "https://h/x", 300, 1100),
                        Ok(()),
                        "{alg:?} {enc:?}"
                    );
                    assert_eq!(
                        verify(&d, Some("other"), &r, "https://h/x", 300, 1100),
                        Err(VerifyError::Mismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn the_replay_key_is_what_the_signature_covers() {
        let d = chatwoot_like();
        let key = |headers: &[(&str, &str)], body: &str| replay_key(&d, &req(headers, body), "");
        let k = key(&[("X-Ts", "1000"), ("X-Delivery", "d-1")], "{}");
        assert!(k.starts_with("signed:") && k.len() == 7 + 64, "{k}");
        // Unsigned headers (a delivery id, the signature's spelling) do not
        // change it; the signed timestamp and body do.
        assert_eq!(k, key(&[("X-Ts", "1000"), ("X-Delivery", "d-2")], "{}"));
        assert_eq!(k, key(&[("X-Ts", " 1000 "), ("X-Sig", "SHA256=AB")], "{}"));
        assert_ne!(k, key(&[("X-Ts", "1001")], "{}"));
        assert_ne!(k, key(&[("X-Ts", "1000")], "{ }"));
        // Body-signed and shared-secret schemes: the body.
        let body = decl(
            SignatureAlgorithm::SharedSecret,
            SignatureEncoding::Hex,
            None,
            SignedContent::Body,
            false,
        );
        let b = |t: &str| replay_key(&body, &req(&[("X-Sig", "s3cret")], t), "");
        assert_eq!(b("{}"), b("{}"));
        assert_ne!(b("{}"), b("{\"a\":1}"));
    }

    #[test]
    fn replay_window_and_missing_parts() {
        let d = chatwoot_like();
        let r0 = req(&[], "{}");
        let sig = sign(&d, "k", b"{}", Some("1000"), "", &r0);
        let r = req(&[("X-Sig", &sig), ("X-Ts", "1000")], "{}");
        assert_eq!(verify(&d, Some("k"), &r, "", 300, 1200), Ok(()));
        assert_eq!(
            verify(&d, Some("k"), &r, "", 300, 1400),
            Err(VerifyError::Replayed(400, 300))
        );
        assert_eq!(
            verify(&d, None, &r, "", 300, 1000),
            Err(VerifyError::NoSecret)
        );
        let r = req(&[("X-Ts", "1000")], "{}");
        assert_eq!(
            verify(&d, Some("k"), &r, "", 300, 1000),
            Err(VerifyError::MissingHeader("X-Sig".into()))
        );
        let r = req(&[("X-Sig", "md5=00"), ("X-Ts", "1000")], "{}");
        assert_eq!(
            verify(&d, Some("k"), &r, "", 300, 1000),
            Err(VerifyError::BadPrefix("X-Sig".into()))
        );
        // Unauthenticated timestamps at the ends of i64 (and any `now`):
        // refused as replays, no arithmetic overflow.
        for (ts, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1),
            (i64::MIN, i64::MAX),
        ] {
            let r = req(&[("X-Sig", &sig), ("X-Ts", &ts.to_string())], "{}");
            assert!(
                matches!(
                    verify(&d, Some("k"), &r, "", 300, now),
                    Err(VerifyError::Replayed(_, 300))
                ),
                "{ts} at {now}"
            );
        }
    }

    #[test]
    fn twilio_style_form_params_are_sorted() {
        let d = decl(
            SignatureAlgorithm::HmacSha1,
            SignatureEncoding::Base64,
            None,
            SignedContent::UrlThenBody,
            false,
        );
        let a = req(
            &[("content-type", "application/x-www-form-urlencoded")],
            "b=2&a=1+x",
        );
        let b = req(
            &[("content-type", "application/x-www-form-urlencoded")],
            "a=1%20x&b=2",
        );
        let sig = sign(&d, "k", &a.body, None, "https://h/w", &a);
        let r = HttpRequest {
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("X-Sig".into(), sig),
            ],
            ..b
        };
        assert_eq!(verify(&d, Some("k"), &r, "https://h/w", 300, 0), Ok(()));
    }

    #[test]
    fn prefix_with_surrounding_space_still_verifies() {
        // Regression from fuzzing (fuzz/README.md): header values arrive trimmed.
        let d = decl(
            SignatureAlgorithm::HmacSha256,
            SignatureEncoding::Hex,
            Some(" v1= "),
            SignedContent::Body,
            false,
        );
        let r0 = req(&[], "{}");
        let sig = sign(&d, "k", b"{}", None, "", &r0);
        assert_eq!(
            verify(&d, Some("k"), &req(&[("X-Sig", &sig)], "{}"), "", 300, 0),
            Ok(())
        );
    }

    #[test]
    fn shared_secret_header() {
        let d = decl(
            SignatureAlgorithm::SharedSecret,
            SignatureEncoding::Hex,
            None,
            SignedContent::Body,
            false,
        );
        assert_eq!(
            verify(&d, Some("abc"), &req(&[("x-sig", "abc")], ""), "", 300, 0),
            Ok(())
        );
        assert_eq!(
            verify(&d, Some("abc"), &req(&[("x-sig", "abd")], ""), "", 300, 0),
            Err(VerifyError::Mismatch)
        );
    }
}
