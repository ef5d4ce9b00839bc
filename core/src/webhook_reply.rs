//! What an adapter's answer to a webhook may carry back to the provider.
//!
//! Threat: the answer is served on the host's own origin, so an adapter
//! that chose its headers freely could serve HTML and script there, set
//! cookies for the host's domain, redirect, or open it to other origins
//! (CORS, framing). A provider needs only a status, a JSON or plain-text
//! body and, for back-off, `retry-after`; that is all that passes.
//!
//! Rule (fail closed): a status outside 2xx/4xx/5xx becomes 500; a content
//! type other than `application/json` or `text/plain` (or none) becomes
//! `text/plain; charset=utf-8`; `retry-after` passes only as a number of
//! seconds; every other header is dropped. The host adds `nosniff`, a
//! content security policy that allows nothing, and `no-store`, whatever
//! the adapter sent. Pure: the API layer applies it and logs what was
//! dropped. Must never pass a header it does not know to be harmless.

use crate::model::HttpResponse;

/// Media types an answer may declare (compared without parameters,
/// case-insensitively).
pub const ALLOWED_MEDIA_TYPES: &[&str] = &["application/json", "text/plain"];

/// The content type given when the adapter's is missing or not allowed.
pub const FALLBACK_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Headers the host adds to every webhook answer.
pub const HOST_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; sandbox",
    ),
    ("cache-control", "no-store"),
];

/// The answer as sent, and what of the adapter's was changed or dropped
/// (for the log; empty when the answer passed unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub response: HttpResponse,
    pub changed: Vec<String>,
}

/// Applies the rule above to an adapter's answer.
pub fn sanitize(answer: HttpResponse) -> Reply {
    let mut changed = Vec::new();
    let status = match answer.status {
        200..=299 | 400..=599 => answer.status,
        other => {
            changed.push(format!("status {other} (not 2xx/4xx/5xx) answered as 500"));
            500
        }
    };
    let mut content_type = None;
    let mut retry_after = None;
    let mut dropped = Vec::new();
    for (name, value) in &answer.headers {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "content-type" if content_type.is_none() => {
                if allowed_content_type(value) {
                    content_type = Some(value.clone());
                } else {
                    changed.push(format!(
                        "content-type \"{}\" (only {}) sent as \"{FALLBACK_CONTENT_TYPE}\"",
                        clip(value),
                        ALLOWED_MEDIA_TYPES.join(", ")
                    ));
                }
            }
            "retry-after" if retry_after.is_none() && is_seconds(value) => {
                retry_after = Some(value.clone());
            }
            _ => dropped.push(clip(name)),
        }
    }
    if !dropped.is_empty() {
        dropped.sort();
        dropped.dedup();
        changed.push(format!("headers dropped: {}", dropped.join(", ")));
    }
    let mut headers = vec![(
        "content-type".to_string(),
        content_type.unwrap_or_else(|| FALLBACK_CONTENT_TYPE.to_string()),
    )];
    if let Some(seconds) = retry_after {
        headers.push(("retry-after".into(), seconds));
    }
    headers.extend(
        HOST_HEADERS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Reply {
        response: HttpResponse {
            status,
            headers,
            body: answer.body,
        },
        changed,
    }
}

/// `application/json` or `text/plain`, optionally with parameters made of
/// visible ASCII (e.g. `; charset=utf-8`).
fn allowed_content_type(value: &str) -> bool {
    let (media, params) = value.split_once(';').unwrap_or((value, ""));
    let media = media.trim().to_ascii_lowercase();
    ALLOWED_MEDIA_TYPES.contains(&media.as_str())
        && value.len() <= 100
        && params.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// A delay in seconds: 1 to 10 digits (HTTP dates are not passed on).
fn is_seconds(value: &str) -> bool {
    (1..=10).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// A header name or value as logged: at most 64 characters, escaped (an
/// adapter's text must not forge log lines).
fn clip(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: b"body".to_vec(),
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        let mut found = r.response.headers.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "{name} twice: {:?}", r.response);
        first
    }

    #[test]
    fn statuses_outside_2xx_4xx_5xx_become_500() {
        for (given, sent) in [
            (200, 200),
            (204, 204),
            (299, 299),
            (400, 400),
            (429, 429),
            (503, 503),
            (599, 599),
            (100, 500),
            (101, 500),
            (199, 500),
            (301, 500),
            (302, 500),
            (307, 500),
            (0, 500),
            (600, 500),
            (999, 500),
        ] {
            let r = sanitize(answer(given, &[("content-type", "application/json")]));
            assert_eq!(r.response.status, sent, "status {given}");
            assert_eq!(r.changed.is_empty(), given == sent, "status {given}: {r:?}");
        }
    }

    #[test]
    fn only_json_and_plain_text_pass_as_content_types() {
        for (given, sent) in [
            ("application/json", "application/json"),
            (
                "Application/JSON; charset=utf-8",
                "Application/JSON; charset=utf-8",
            ),
            ("text/plain", "text/plain"),
            ("text/plain;charset=us-ascii", "text/plain;charset=us-ascii"),
            ("text/html", FALLBACK_CONTENT_TYPE),
            ("text/html; charset=utf-8", FALLBACK_CONTENT_TYPE),
            ("application/xhtml+xml", FALLBACK_CONTENT_TYPE),
            ("image/svg+xml", FALLBACK_CONTENT_TYPE),
            ("application/xml", FALLBACK_CONTENT_TYPE),
            ("application/javascript", FALLBACK_CONTENT_TYPE),
            ("application/jsonx", FALLBACK_CONTENT_TYPE),
            ("text/plain\u{7f}", FALLBACK_CONTENT_TYPE),
            ("", FALLBACK_CONTENT_TYPE),
        ] {
            let r = sanitize(answer(200, &[("Content-Type", given)]));
            assert_eq!(header(&r, "content-type"), Some(sent), "{given:?}");
        }
        let none = sanitize(answer(200, &[]));
        assert_eq!(header(&none, "content-type"), Some(FALLBACK_CONTENT_TYPE));
        let long = format!("text/plain; x={}", "a".repeat(100));
        let r = sanitize(answer(200, &[("content-type", &long)]));
        assert_eq!(header(&r, "content-type"), Some(FALLBACK_CONTENT_TYPE));
    }

    #[test]
    fn every_other_header_is_dropped_and_the_host_adds_its_own() {
        let r = sanitize(answer(
            200,
            &[
                ("content-type", "application/json"),
                ("Set-Cookie", "session=x"),
                ("location", "https://attacker.example/"),
                ("access-control-allow-origin", "*"),
                ("x-frame-options", "ALLOWALL"),
                ("content-security-policy", "default-src *"),
                ("x-content-type-options", "none"),
                ("cache-control", "public, max-age=9999"),
                ("content-length", "1"),
                ("transfer-encoding", "chunked"),
                ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
        ));
        let names: Vec<&str> = r.response.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-content-type-options",
                "content-security-policy",
                "cache-control"
            ]
        );
        for (k, v) in HOST_HEADERS {
            assert_eq!(header(&r, k), Some(*v));
        }
        assert_eq!(r.changed.len(), 1, "{:?}", r.changed);
        assert!(r.changed[0].contains("set-cookie") || r.changed[0].contains("Set-Cookie"));
        assert!(r.changed[0].contains("location"), "{:?}", r.changed);
        assert_eq!(r.response.body, b"body");
    }

    #[test]
    fn retry_after_passes_as_seconds_only() {
        for (given, sent) in [
            ("7", Some("7")),
            ("0", Some("0")),
            ("3600", Some("3600")),
            ("12345678901", None),
            ("-1", None),
            ("1.5", None),
            (" 7", None),
            ("", None),
        ] {
            let r = sanitize(answer(429, &[("Retry-After", given)]));
            assert_eq!(header(&r, "retry-after"), sent, "{given:?}");
        }
    }

    #[test]
    fn a_plain_json_ack_passes_unchanged() {
        let r = sanitize(answer(200, &[("content-type", "application/json")]));
        assert!(r.changed.is_empty(), "{:?}", r.changed);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
    }
}
