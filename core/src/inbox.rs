//! How a verified webhook request is stored in the inbox and read back:
//! method, path, headers and the body (base64) as JSON.
//!
//! Decoding never fails and never panics on a damaged row: missing or
//! malformed fields fall back to empty values, so one bad row cannot stop a
//! handover's inbox.

use crate::model::HttpRequest;
use base64::Engine as _;
use serde_json::{Value, json};

pub fn encode(r: &HttpRequest) -> Value {
    json!({
        "method": r.method,
        "path": r.path,
        "headers": r.headers,
        "body": base64::engine::general_purpose::STANDARD.encode(&r.body),
    })
}

pub fn decode(v: &Value) -> HttpRequest {
    HttpRequest {
        method: v["method"].as_str().unwrap_or("POST").to_string(),
        path: v["path"].as_str().unwrap_or("/").to_string(),
        headers: serde_json::from_value(v["headers"].clone()).unwrap_or_default(),
        body: base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap_or(""))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let r = HttpRequest {
            method: "POST".into(),
            path: "/h?x=1".into(),
            headers: vec![("a".into(), "b".into())],
            body: vec![0, 255, 10],
        };
        assert_eq!(decode(&encode(&r)), r);
        let d = decode(&json!({"headers": 5, "body": "%%%"}));
        assert_eq!(
            (
                d.method.as_str(),
                d.path.as_str(),
                d.headers.len(),
                d.body.len()
            ),
            ("POST", "/", 0, 0)
        );
    }
}
