//! Recording an endpoint's handover calls for replay (`record_handovers`).
//!
//! Each call that concerns a handover is kept as one entry: the export, its
//! input (the conversation, the user's input, the webhook request, …), the
//! outgoing exchanges it made (see `handover_egress::tape`) and what the
//! serving version returned. Entries are written by one task per endpoint,
//! in call order, and only the newest `record_handovers` handovers are
//! kept. Secrets never enter a recording: the host's credentials are added
//! after an exchange is recorded, credential-like headers are redacted, and
//! every resolved secret of the endpoint (its `secrets`, its webhook
//! secret) is replaced by `[redacted]` wherever it appears. Never slows a
//! call down by more than building the entry: the write happens apart.

use crate::registry::Endpoint;
use handover_core::model::{self as m, Failure};
use handover_core::store::Store;
use handover_runtime::egress::Exchange;
use handover_runtime::{Call, CallOutput, CallTap};
use serde_json::{Value, json};
use std::sync::Arc;

/// An endpoint's recorder: builds entries and hands them to its writer.
struct Recorder {
    secrets: Vec<String>,
    tx: tokio::sync::mpsc::UnboundedSender<(String, Value, bool)>,
}

/// Record `ep`'s handover calls into `store` (when `record_handovers` > 0).
pub fn install(ep: &Endpoint, store: Arc<dyn Store>) {
    let keep = ep.config.record_handovers;
    if keep == 0 {
        return;
    }
    let mut secrets: Vec<String> =
        handover_egress::credentials::resolve_secrets(&ep.config.secrets)
            .map(|s| s.into_values().collect())
            .unwrap_or_default();
    secrets.extend(ep.webhook_secret.clone());
    secrets.retain(|s| s.len() >= 4);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Value, bool)>();
    let endpoint = ep.id.clone();
    tokio::spawn(async move {
        while let Some((handover, entry, first)) = rx.recv().await {
            let keep = first.then_some(keep);
            if let Err(e) = store
                .append_recording(&endpoint, &handover, &entry, keep)
                .await
            {
                tracing::warn!(%endpoint, %handover, "cannot record a call for replay: {e}");
            }
        }
    });
    let _ = ep.tap.set(Arc::new(Recorder { secrets, tx }));
}

impl CallTap for Recorder {
    fn tapped(&self, call: &Call, outcome: &Result<CallOutput, Failure>, ex: Vec<Exchange>) {
        let Some((handover, input)) = input_of(call) else {
            return;
        };
        // The states' hashes let a replay follow the steps that were
        // committed (a step may run and be discarded: a concurrent step of
        // the same handover committed first, and it runs again after).
        let state_in = state_of(call)
            .map(handover_runtime::sha256_hex)
            .unwrap_or_default();
        let state_out = match outcome {
            Ok(CallOutput::Step(s)) => handover_runtime::sha256_hex(&s.state),
            _ => state_in.clone(),
        };
        // Bodies that are not text are written as base64, where the
        // JSON-text redaction below cannot see a secret: theirs is done on
        // the bytes first.
        let ex: Vec<Exchange> = ex
            .into_iter()
            .map(|mut e| {
                e.request_body = self.redact_bytes(e.request_body);
                e.response_body = self.redact_bytes(e.response_body);
                e
            })
            .collect();
        let entry = json!({
            "call": call.export_name(),
            "input": input,
            "exchanges": ex,
            "outcome": outcome_json(outcome),
            "state_in": state_in,
            "state_out": state_out,
        });
        let entry = self.redact(entry);
        let first = matches!(call, Call::Start(..));
        let _ = self.tx.send((handover, entry, first));
    }
}

impl Recorder {
    /// `bytes` with every resolved secret in it replaced by `[redacted]`.
    fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        self.secrets
            .iter()
            .fold(bytes, |b, s| replace_bytes(&b, s.as_bytes(), b"[redacted]"))
    }

    fn redact(&self, entry: Value) -> Value {
        if self.secrets.is_empty() {
            return entry;
        }
        let mut text = entry.to_string();
        for s in &self.secrets {
            // As it appears inside a JSON string.
            let quoted = Value::String(s.clone()).to_string();
            let inner = &quoted[1..quoted.len() - 1];
            text = text.replace(inner, "[redacted]");
        }
        serde_json::from_str(&text).unwrap_or(entry)
    }
}

/// `haystack` with each (non-overlapping, leftmost) `needle` replaced.
fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The handover a call concerns and its recorded input (`None`: a call
/// about no handover: routing, availability, describe).
fn input_of(call: &Call) -> Option<(String, Value)> {
    let (ctx, input) = match call {
        Call::Start(c, conv) => (c, json!({"conversation": conv})),
        Call::UserMessage(c, _, i) => (c, json!({"input": i})),
        Call::UserTyping(c, _, t) => (c, json!({"typing": t})),
        Call::HandleWebhook(c, _, r) => (c, json!({"request": request_json(r)})),
        Call::Cancel(c, _) | Call::Close(c, _) | Call::Poll(c, _) => (c, json!({})),
        _ => return None,
    };
    Some((ctx.handover_id.clone(), input))
}

/// The provider state a call starts from (`None` for `start`).
fn state_of(call: &Call) -> Option<&[u8]> {
    match call {
        Call::UserMessage(_, s, _)
        | Call::UserTyping(_, s, _)
        | Call::HandleWebhook(_, s, _)
        | Call::Cancel(_, s)
        | Call::Close(_, s)
        | Call::Poll(_, s) => Some(s),
        _ => None,
    }
}

/// The entries of the steps that were committed, in order. From the
/// start, the next step is the next entry that starts from the state the
/// previous one left; an entry is skipped as discarded (it ran, then a
/// concurrent step of the handover committed first) when it changed the
/// state, no later entry starts from what it left, and a later entry starts
/// from the same state it did. Entries recorded without states are all kept.
pub(crate) fn committed(entries: &[Value]) -> Vec<&Value> {
    if entries.iter().any(|e| e.get("state_out").is_none()) {
        return entries.iter().collect();
    }
    let st = |e: &Value, k: &str| e[k].as_str().unwrap_or("").to_string();
    let mut out = vec![];
    let mut current: Option<String> = None;
    for (j, e) in entries.iter().enumerate() {
        let fits = match &current {
            None => e["call"] == "start",
            Some(c) => &st(e, "state_in") == c,
        };
        if !fits {
            continue;
        }
        let (from, left) = (st(e, "state_in"), st(e, "state_out"));
        let later = &entries[j + 1..];
        let dead_end =
            current.is_some() && left != from && !later.iter().any(|l| st(l, "state_in") == left);
        let retried = later.iter().any(|l| st(l, "state_in") == from);
        if dead_end && retried {
            continue;
        }
        out.push(e);
        current = Some(left);
    }
    out
}

fn request_json(r: &m::HttpRequest) -> Value {
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| handover_egress::tape::recorded_header(k, v.as_bytes()))
        .collect();
    json!({
        "method": r.method,
        "path": r.path,
        "headers": headers,
        "body": String::from_utf8_lossy(&r.body),
    })
}

/// A call's outcome as recorded and compared: the events and keys of a
/// step, or the failure's reason (messages may name times and ids).
pub(crate) fn outcome_json(o: &Result<CallOutput, Failure>) -> Value {
    match o {
        Ok(CallOutput::Step(s)) => {
            json!({"events": s.events, "correlation_keys": s.correlation_keys})
        }
        Ok(_) => json!({"other": true}),
        Err(f) => json!({"failure": {
            "reason": match f.reason { m::FailureReason::Error => "error", m::FailureReason::Unsupported => "unsupported" },
            "stopped_by": f.stopped_by,
        }}),
    }
}

/// The call an entry records, for `ctx` and the candidate's `state`.
pub(crate) fn call_of(entry: &Value, ctx: m::CallContext, state: Vec<u8>) -> Result<Call, String> {
    let input = &entry["input"];
    Ok(match entry["call"].as_str().unwrap_or("") {
        "start" => Call::Start(ctx, get(input, "conversation")?),
        "user-message" => Call::UserMessage(ctx, state, get(input, "input")?),
        "user-typing" => Call::UserTyping(ctx, state, get(input, "typing")?),
        "cancel" => Call::Cancel(ctx, state),
        "close" => Call::Close(ctx, state),
        "poll" => Call::Poll(ctx, state),
        "handle-webhook" => {
            let r = &input["request"];
            let headers: Vec<(String, String)> =
                serde_json::from_value(r["headers"].clone()).map_err(|e| e.to_string())?;
            Call::HandleWebhook(
                ctx,
                state,
                m::HttpRequest {
                    method: r["method"].as_str().unwrap_or("POST").into(),
                    path: r["path"].as_str().unwrap_or("/").into(),
                    headers,
                    body: r["body"].as_str().unwrap_or("").as_bytes().to_vec(),
                },
            )
        }
        other => return Err(format!("unknown recorded call `{other}`")),
    })
}

fn get<T: serde::de::DeserializeOwned>(input: &Value, k: &str) -> Result<T, String> {
    serde_json::from_value(input[k].clone()).map_err(|e| format!("{k}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{Recorder, committed};
    use handover_runtime::egress::Exchange;
    use serde_json::{Value, json};

    fn e(call: &str, from: &str, to: &str) -> Value {
        json!({"call": call, "state_in": from, "state_out": to})
    }

    fn calls(v: &[Value]) -> Vec<String> {
        committed(v)
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    e["call"].as_str().unwrap(),
                    e["state_out"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_discarded_step_is_skipped_and_its_rerun_kept() {
        // X ran on s1 and was discarded (Y committed first); X ran again.
        let v = [
            e("start", "", "s1"),
            e("x", "s1", "dead"),
            e("y", "s1", "s2"),
            e("x", "s2", "s3"),
        ];
        assert_eq!(calls(&v), ["start:s1", "y:s2", "x:s3"]);
    }

    #[test]
    fn steps_that_keep_the_state_are_all_kept() {
        let v = [
            e("start", "", "s1"),
            e("m", "s1", "s1"),
            e("m", "s1", "s1"),
            e("end", "s1", "s2"),
        ];
        assert_eq!(calls(&v), ["start:s1", "m:s1", "m:s1", "end:s2"]);
    }

    #[test]
    fn the_last_step_is_kept_and_unknown_states_keep_everything() {
        let v = [e("start", "", "s1"), e("end", "s1", "s9")];
        assert_eq!(calls(&v), ["start:s1", "end:s9"]);
        let old = [json!({"call": "start"}), json!({"call": "poll"})];
        assert_eq!(committed(&old).len(), 2);
    }

    /// A secret in a body that is not text (recorded as base64) is
    /// redacted on the bytes, so the recording holds it neither in clear
    /// nor encoded; the rest of the body is kept byte for byte.
    #[test]
    fn a_secret_in_a_binary_body_is_redacted_before_encoding() {
        use handover_core::model::CallContext;
        use handover_runtime::{Call, CallOutput, CallTap};
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let r = Recorder {
            secrets: vec!["s3cret-token".into()],
            tx,
        };
        let mut body = vec![0xff, 0x00];
        body.extend_from_slice(b"s3cret-token");
        body.push(0x80);
        let sent = Exchange {
            method: "POST".into(),
            url: "https://p.example/x".into(),
            request_headers: vec![],
            request_body: body,
            status: Some(200),
            response_headers: vec![],
            response_body: b"plain s3cret-token text".to_vec(),
        };
        let ctx = CallContext {
            handover_id: "h1".into(),
            settings: "{}".into(),
        };
        r.tapped(
            &Call::Cancel(ctx, vec![]),
            &Ok(CallOutput::Unit),
            vec![sent],
        );
        let (handover, entry, _) = rx.try_recv().expect("an entry was recorded");
        assert_eq!(handover, "h1");
        let text = entry.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            entry["exchanges"][0]["request_body"]["base64"].is_string(),
            "{text}"
        );
        let kept: Vec<Exchange> = serde_json::from_value(entry["exchanges"].clone()).unwrap();
        let mut want = vec![0xff, 0x00];
        want.extend_from_slice(b"[redacted]");
        want.push(0x80);
        assert_eq!(kept[0].request_body, want);
        assert_eq!(kept[0].response_body, b"plain [redacted] text");
    }
}
