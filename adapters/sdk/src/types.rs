//! Friendly paths for the WIT types of `handover:provider/types` and the
//! log level, so adapters never spell out the generated module tree, and
//! the constructors and accessors adapters share on them.

pub use crate::bindings::handover::provider::log::Level;
pub use crate::bindings::handover::provider::types::{
    AdapterInfo, Agent, AgentMessage, Attachment, Author, Availability, CallContext, Capabilities,
    Conversation, EndReason, Event, Failure, FailureReason, HttpRequest, HttpResponse, InputKind,
    KeyValue, PollMode, Polling, QueueInfo, Routing, SignatureAlgorithm, SignatureEncoding,
    SignedContent, Step, TranscriptEntry, Transfer, UserInput, WebhookRoute, WebhookSignature,
};

impl KeyValue {
    /// Builds a key-value pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Polling {
    /// The provider pushes webhooks; the host never calls `poll`.
    pub const NONE: Polling = Polling {
        mode: PollMode::None,
        interval_ms: 0,
        max_wait_ms: 0,
    };

    /// The host calls `poll` every `interval_ms` milliseconds.
    pub const fn periodic(interval_ms: u32) -> Polling {
        Polling {
            mode: PollMode::Periodic,
            interval_ms,
            max_wait_ms: 0,
        }
    }
}

impl Polling {
    /// Each `poll` holds a request open for up to `max_wait_ms` (long poll or
    /// a server-sent event read); `interval_ms` paces retries after failed
    /// polls (the base of the host's backoff).
    pub const fn long_poll(interval_ms: u32, max_wait_ms: u32) -> Polling {
        Polling {
            mode: PollMode::LongPoll,
            interval_ms,
            max_wait_ms,
        }
    }
}

impl AdapterInfo {
    /// A self-description of adapter `name` serving `channels`, with no
    /// capabilities, no webhooks, no polling and an empty settings schema;
    /// complete it with [`with`](AdapterInfo::with) and
    /// [`signed`](AdapterInfo::signed). `version` is usually
    /// [`adapter_version!()`](crate::adapter_version).
    pub fn new(name: &str, version: &str, channels: &[&str]) -> Self {
        AdapterInfo {
            name: name.into(),
            version: version.into(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            capabilities: Capabilities::NONE,
            webhook_signature: None,
            polling: Polling::NONE,
            settings_schema: "{}".into(),
            #[cfg(feature = "contract-0-2")]
            permissions: crate::v0_2::Permissions {
                egress: vec![],
                secrets: vec![],
            },
            #[cfg(feature = "contract-0-2")]
            webhook_routing: None,
        }
    }

    /// The same with these capabilities, polling and settings schema (JSON
    /// Schema text, usually `include_str!("../settings.schema.json")`).
    pub fn with(mut self, capabilities: Capabilities, polling: Polling, schema: &str) -> Self {
        self.capabilities = capabilities;
        self.polling = polling;
        self.settings_schema = schema.into();
        self
    }

    /// The same, declaring how the provider signs its webhooks.
    pub fn signed(mut self, signature: WebhookSignature) -> Self {
        self.webhook_signature = Some(signature);
        self
    }
}

impl Capabilities {
    /// Every capability switched on.
    pub const ALL: Capabilities = Capabilities {
        attachments: true,
        typing: true,
        queue_position: true,
        availability_check: true,
        bot_side_close: true,
        transcript: true,
        #[cfg(feature = "contract-0-2")]
        hand_back: true,
        #[cfg(feature = "contract-0-2")]
        wrap_up: true,
        #[cfg(feature = "contract-0-2")]
        receipts: true,
        #[cfg(feature = "contract-0-2")]
        user_typing: true,
        #[cfg(feature = "contract-0-2")]
        rich_messages: true,
    };

    /// Every capability switched off.
    pub const NONE: Capabilities = Capabilities {
        attachments: false,
        typing: false,
        queue_position: false,
        availability_check: false,
        bot_side_close: false,
        transcript: false,
        #[cfg(feature = "contract-0-2")]
        hand_back: false,
        #[cfg(feature = "contract-0-2")]
        wrap_up: false,
        #[cfg(feature = "contract-0-2")]
        receipts: false,
        #[cfg(feature = "contract-0-2")]
        user_typing: false,
        #[cfg(feature = "contract-0-2")]
        rich_messages: false,
    };
}

impl HttpResponse {
    /// A response with a JSON `body` (`content-type: application/json`).
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: vec![KeyValue::new("content-type", "application/json")],
            body: body.into(),
        }
    }
}

impl WebhookRoute {
    /// Acknowledges the webhook with `200` and an empty JSON object (`{}`),
    /// for the handovers found under `correlation_keys`.
    pub fn acknowledged(delivery_id: Option<String>, correlation_keys: Vec<String>) -> Self {
        WebhookRoute {
            response: HttpResponse::json(200, "{}"),
            delivery_id,
            correlation_keys,
        }
    }
}

impl WebhookSignature {
    /// The provider signs the body alone and sends the signature (after
    /// `prefix`, if any) in `header`; no timestamp or delivery-id header.
    /// Complete it with [`timestamped`](WebhookSignature::timestamped) and
    /// [`delivery_id`](WebhookSignature::delivery_id).
    pub fn body(
        algorithm: SignatureAlgorithm,
        header: &str,
        encoding: SignatureEncoding,
        prefix: Option<&str>,
    ) -> Self {
        WebhookSignature {
            algorithm,
            header: header.into(),
            encoding,
            prefix: prefix.map(Into::into),
            signed: SignedContent::Body,
            timestamp_header: None,
            delivery_id_header: None,
        }
    }

    /// HMAC-SHA256 over `{timestamp}.{body}`, hex after `sha256=` in
    /// `header`, with the timestamp and the delivery id in their own headers
    /// (the scheme of Chatwoot and the sim provider).
    pub fn timestamped_hmac_sha256(header: &str, timestamp_header: &str, delivery: &str) -> Self {
        let prefix = Some("sha256=");
        Self::body(
            SignatureAlgorithm::HmacSha256,
            header,
            SignatureEncoding::Hex,
            prefix,
        )
        .timestamped(".", timestamp_header)
        .delivery_id(delivery)
    }

    /// The same, signing the timestamp from `timestamp_header`, then
    /// `separator`, then the body.
    pub fn timestamped(mut self, separator: &str, timestamp_header: &str) -> Self {
        self.signed = SignedContent::TimestampThenBody(separator.into());
        self.timestamp_header = Some(timestamp_header.into());
        self
    }

    /// The same, with the provider's delivery id in `header`.
    pub fn delivery_id(mut self, header: &str) -> Self {
        self.delivery_id_header = Some(header.into());
        self
    }
}

impl Routing {
    /// The `custom` pairs as a map (a repeated key keeps its last value).
    pub fn custom_map(&self) -> std::collections::BTreeMap<String, String> {
        self.custom
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect()
    }
}

impl Conversation {
    /// The value of the first `user_profile` entry named `key` (exactly),
    /// unless it is blank.
    pub fn profile(&self, key: &str) -> Option<&str> {
        self.user_profile
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
            .filter(|v| !v.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_webhooks_answer_an_empty_json_object() {
        let route = WebhookRoute::acknowledged(Some("d-1".into()), vec!["k".into()]);
        assert_eq!(route.response.status, 200);
        assert_eq!(route.response.body, b"{}");
        assert_eq!(route.response.headers[0].key, "content-type");
        assert_eq!(route.response.headers[0].value, "application/json");
        assert_eq!(route.delivery_id.as_deref(), Some("d-1"));
        assert_eq!(route.correlation_keys, ["k"]);
    }

    #[test]
    fn signature_builders() {
        let body = WebhookSignature::body(
            SignatureAlgorithm::HmacSha1,
            "X-Sig",
            SignatureEncoding::Base64,
            None,
        );
        assert!(matches!(body.signed, SignedContent::Body));
        assert_eq!((body.prefix, body.timestamp_header), (None, None));
        let stamped = WebhookSignature::timestamped_hmac_sha256("X-S", "X-T", "X-D");
        assert_eq!(stamped.algorithm, SignatureAlgorithm::HmacSha256);
        assert_eq!(stamped.encoding, SignatureEncoding::Hex);
        assert_eq!(stamped.prefix.as_deref(), Some("sha256="));
        assert!(matches!(&stamped.signed, SignedContent::TimestampThenBody(s) if s == "."));
        assert_eq!(stamped.timestamp_header.as_deref(), Some("X-T"));
        assert_eq!(stamped.delivery_id_header.as_deref(), Some("X-D"));
    }

    #[test]
    fn profile_values_and_custom_maps() {
        let mut c = crate::testing::conversation();
        c.user_profile = crate::testing::pairs(&[("name", " "), ("email", "a@b"), ("name", "x")]);
        assert_eq!(
            c.profile("name"),
            None,
            "the first entry counts, blank is none"
        );
        assert_eq!(c.profile("email"), Some("a@b"));
        assert_eq!(c.profile("Email"), None);
        c.routing.custom = crate::testing::pairs(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let map = c.routing.custom_map();
        assert_eq!((map["a"].as_str(), map["b"].as_str()), ("2", "3"));
    }
}
