//! Builders and asserts for adapters' native unit tests: call contexts,
//! settings, webhook requests and conversations; settings rejections,
//! descriptions, signatures and events. Each adapter's tests hold only what
//! is particular to its provider. No I/O; never used by an export.

use crate::Adapter;
use crate::settings::EndpointSettings;
use crate::types::{
    AdapterInfo, Author, CallContext, Conversation, Event, Failure, FailureReason, HttpRequest,
    KeyValue, Routing, SignatureAlgorithm, SignatureEncoding, Step, TranscriptEntry,
};
use serde_json::Value;

/// A call context for handover `h-1` with `settings`.
pub fn ctx(settings: &str) -> CallContext {
    CallContext {
        handover_id: "h-1".into(),
        settings: settings.into(),
    }
}

/// A `POST` of `body` to `path` without headers (signatures are the
/// host's business).
pub fn request(path: &str, body: impl Into<Vec<u8>>) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        headers: Vec::new(),
        body: body.into(),
    }
}

/// Settings parsed and checked from `json`; panics when they are invalid.
#[track_caller]
pub fn settings<S: EndpointSettings>(json: &Value) -> S {
    match S::parse(&json.to_string()) {
        Ok(settings) => settings,
        Err(failure) => panic!("invalid settings {json}: {}", failure.message),
    }
}

/// A transcript entry.
pub fn entry(author: Author, text: impl Into<String>, timestamp_ms: u64) -> TranscriptEntry {
    TranscriptEntry {
        author,
        text: text.into(),
        timestamp_ms,
    }
}

/// Key-value pairs from string pairs.
pub fn pairs(list: &[(&str, &str)]) -> Vec<KeyValue> {
    list.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect()
}

/// Routing with these skills, language, priority, queue and custom pairs.
pub fn routing(
    skills: &[&str],
    language: Option<&str>,
    priority: Option<u32>,
    queue: Option<&str>,
    custom: &[(&str, &str)],
) -> Routing {
    Routing {
        skills: skills.iter().map(|s| s.to_string()).collect(),
        language: language.map(Into::into),
        priority,
        queue: queue.map(Into::into),
        custom: pairs(custom),
    }
}

/// Handover `h-1` (session `s-1`, user `u-1`) on `webchat` in `en-US`, with
/// no profile, transcript or routing and an empty context; tests fill in
/// what they need.
pub fn conversation() -> Conversation {
    Conversation {
        handover_id: "h-1".into(),
        session_id: "s-1".into(),
        user_id: "u-1".into(),
        channel: "webchat".into(),
        locale: "en-US".into(),
        user_profile: Vec::new(),
        transcript: Vec::new(),
        routing: Routing {
            skills: Vec::new(),
            language: None,
            priority: None,
            queue: None,
            custom: Vec::new(),
        },
        context: "{}".into(),
    }
}

/// `base` (a JSON object) with `patch` applied: each key of `patch` is set,
/// or removed when its value is `null`; as text, e.g. settings to validate.
pub fn patched(base: &Value, patch: &Value) -> String {
    let mut merged = base.clone();
    if let (Some(target), Some(changes)) = (merged.as_object_mut(), patch.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                target.remove(key);
            } else {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    merged.to_string()
}

/// Asserts that `result` failed with a message containing `needle`, and
/// returns the failure.
#[track_caller]
pub fn assert_fails_with<T>(result: Result<T, Failure>, needle: &str) -> Failure {
    match result {
        Ok(_) => panic!("expected a failure containing {needle:?}, got success"),
        Err(failure) => {
            assert!(
                failure.message.contains(needle),
                "{needle}: {}",
                failure.message
            );
            failure
        }
    }
}

/// Asserts that adapter `A` rejects `settings` with an `error` failure
/// whose message contains `needle` (e.g. the field's name), and returns it.
#[track_caller]
pub fn assert_settings_rejected<A: Adapter>(settings: impl Into<String>, needle: &str) -> Failure {
    let failure = assert_fails_with(A::validate_settings(settings.into()), needle);
    assert_eq!(failure.reason, FailureReason::Error, "{}", failure.message);
    failure
}

/// [`assert_settings_rejected`] for each `(settings, needle)` case.
#[track_caller]
pub fn assert_each_rejected<'a, A: Adapter, S: Into<String>>(
    cases: impl IntoIterator<Item = (S, &'a str)>,
) {
    for (settings, needle) in cases {
        assert_settings_rejected::<A>(settings, needle);
    }
}

/// [`assert_settings_rejected`] for `base` [`patched`] with each
/// `(patch, needle)` case.
#[track_caller]
pub fn assert_each_patch_rejected<'a, A: Adapter>(
    base: &Value,
    cases: impl IntoIterator<Item = (Value, &'a str)>,
) {
    assert_each_rejected::<A, _>(
        cases
            .into_iter()
            .map(|(patch, needle)| (patched(base, &patch), needle)),
    );
}

/// Asserts that `got` are the events `want`. Events have no `PartialEq`
/// (generated types): their debug forms are compared.
#[track_caller]
pub fn assert_same_events(got: &[Event], want: &[Event]) {
    assert_eq!(format!("{got:#?}"), format!("{want:#?}"));
}

/// `A::describe()`, after asserting what every description must hold: the
/// name `name`, concrete channels (neither `*` nor `fax`) and a settings
/// schema that is JSON; with the parsed schema.
#[track_caller]
pub fn described<A: Adapter>(name: &str) -> (AdapterInfo, Value) {
    let info = A::describe();
    assert_eq!(info.name, name);
    assert!(
        !info.channels.iter().any(|c| c == "*" || c == "fax"),
        "{:?}",
        info.channels
    );
    let schema = serde_json::from_str(&info.settings_schema).expect("the settings schema is JSON");
    (info, schema)
}

/// Asserts that `info` declares webhooks signed with `algorithm` in
/// `header`, encoded with `encoding` after `prefix`.
#[track_caller]
pub fn assert_signature(
    info: &AdapterInfo,
    header: &str,
    algorithm: SignatureAlgorithm,
    encoding: SignatureEncoding,
    prefix: Option<&str>,
) {
    let signature = info
        .webhook_signature
        .as_ref()
        .expect("a webhook signature");
    assert_eq!(signature.header, header);
    assert_eq!(signature.algorithm, algorithm);
    assert_eq!(signature.encoding, encoding);
    assert_eq!(signature.prefix.as_deref(), prefix);
}

/// A step's state parsed as JSON, and its events.
pub fn state_and_events(step: Step) -> (Value, Vec<Event>) {
    let state = serde_json::from_slice(&step.state).expect("the state is JSON");
    (state, step.events)
}

#[cfg(test)]
mod tests {
    use super::patched;
    use serde_json::json;

    #[test]
    fn patches_set_and_remove_keys() {
        let base = json!({"a": 1, "b": 2});
        let text = patched(&base, &json!({"a": null, "c": "x"}));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({"b": 2, "c": "x"})
        );
    }
}
