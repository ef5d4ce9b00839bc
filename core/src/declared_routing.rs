//! Webhook routing without an instance (contract 0.2.0): the correlation
//! key and delivery id read from where the adapter's `describe` declared
//! them (a header, or a JSON pointer into the body).
//!
//! Pure: no I/O. Must never guess: a request where the declared key is not
//! found (absent, empty, not a string or integer, a body that is not JSON)
//! yields `None`, and the host then asks the adapter's `route-webhook`.

use crate::model::{HttpRequest, Locator, WebhookRoute, WebhookRouting};
use crate::signature::header;
use serde_json::Value;

/// The route of `req` by `routing`'s declarations, or `None` when the
/// correlation key is not where it was declared.
pub fn route(routing: &WebhookRouting, req: &HttpRequest) -> Option<WebhookRoute> {
    // The body is parsed once, and only if a locator needs it.
    let mut body: Option<Option<Value>> = None;
    let mut find = |l: &Locator| -> Option<String> {
        match l {
            Locator::Header(name) => header(req, name)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            Locator::JsonPointer(pointer) => {
                let doc = body.get_or_insert_with(|| serde_json::from_slice(&req.body).ok());
                match doc.as_ref()?.pointer(pointer)? {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                    _ => None,
                }
            }
        }
    };
    let key = find(&routing.correlation_key)?;
    let delivery_id = routing.delivery_id.as_ref().and_then(&mut find);
    Some(WebhookRoute {
        response: routing.response.clone(),
        delivery_id,
        correlation_keys: vec![format!("{}{key}", routing.key_prefix)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpResponse;

    fn routing(key: Locator, delivery: Option<Locator>) -> WebhookRouting {
        WebhookRouting {
            correlation_key: key,
            key_prefix: "conv:".into(),
            delivery_id: delivery,
            response: HttpResponse {
                status: 200,
                headers: vec![],
                body: b"{}".to_vec(),
            },
        }
    }

    fn req(headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn finds_keys_in_the_body_and_headers() {
        let r = routing(
            Locator::JsonPointer("/conversation/id".into()),
            Some(Locator::Header("X-Delivery".into())),
        );
        let got = route(
            &r,
            &req(&[("x-delivery", "d-1")], r#"{"conversation":{"id":"c-9"}}"#),
        )
        .unwrap();
        assert_eq!(got.correlation_keys, ["conv:c-9"]);
        assert_eq!(got.delivery_id.as_deref(), Some("d-1"));
        assert_eq!(got.response.status, 200);
        // Integers are keys too; a missing delivery id is just absent.
        let got = route(&r, &req(&[], r#"{"conversation":{"id":42}}"#)).unwrap();
        assert_eq!(got.correlation_keys, ["conv:42"]);
        assert_eq!(got.delivery_id, None);
    }

    #[test]
    fn anything_else_falls_back_to_the_adapter() {
        let r = routing(Locator::JsonPointer("/conversation/id".into()), None);
        for body in [
            "not json",
            "{}",
            r#"{"conversation":{"id":""}}"#,
            r#"{"conversation":{"id":1.5}}"#,
            r#"{"conversation":{"id":{"nested":1}}}"#,
        ] {
            assert_eq!(route(&r, &req(&[], body)), None, "{body}");
        }
        let h = routing(Locator::Header("X-Conv".into()), None);
        assert_eq!(route(&h, &req(&[("x-conv", "")], "")), None);
        assert_eq!(route(&h, &req(&[], "")), None);
    }
}
