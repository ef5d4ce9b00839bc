//! Native unit tests of the sim adapter's calls that need no I/O, through
//! the raw contract the components export: settings validation, webhook
//! routing and event mapping with dedupe.
//! (`cargo test -p sim-adapter` on the build machine's own target.)

use crate::{Flavor, Mode};
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, CallContext, EndReason, Event, FailureReason, HttpRequest, Polling,
    SignatureAlgorithm, SignatureEncoding, events,
};

/// The `sim` flavor.
struct Webhook;

impl Flavor for Webhook {
    const NAME: &'static str = "sim";
    const POLLING: Polling = Polling::NONE;
    const DEFAULT_MODE: Mode = Mode::Webhook;
}

type Sim = crate::Sim<Webhook>;

const SETTINGS: &str = r#"{"base_url":"http://127.0.0.1:9"}"#;

fn ctx() -> CallContext {
    testing::ctx(SETTINGS)
}

fn hook(body: &str) -> HttpRequest {
    testing::request("/hooks/sim", body)
}

fn state(seq: u64) -> Vec<u8> {
    format!(r#"{{"conversation_id":"c-1","last_event_seq":{seq}}}"#).into_bytes()
}

/// Applies one webhook body to a handover whose last seq is `seq`.
fn handle(seq: u64, body: &str) -> (Vec<u8>, Vec<Event>) {
    let step = Sim::handle_webhook(ctx(), state(seq), hook(body)).unwrap();
    (step.state, step.events)
}

#[test]
fn describe_is_static_and_complete() {
    let (info, _) = testing::described::<Sim>("sim");
    assert_eq!(info.channels, ["webchat", "sms", "messenger"]);
    testing::assert_signature(
        &info,
        "X-Sim-Signature",
        SignatureAlgorithm::HmacSha256,
        SignatureEncoding::Hex,
        Some("sha256="),
    );
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_rejected::<Sim, _>([
        ("{}", "`base_url`"),
        (
            r#"{"base_url":"127.0.0.1"}"#,
            "`base_url`: must start with http://",
        ),
        (
            r#"{"base_url":"http://h","mode":"push"}"#,
            "`mode`: unknown variant",
        ),
        (r#"{"base_url":"http://h","channels":[]}"#, "`channels`"),
        (
            r#"{"base_url":"http://h","channels":["sms",""]}"#,
            "`channels[1]`",
        ),
        (
            r#"{"base_url":"http://h","transcript_chunk":0}"#,
            "`transcript_chunk`",
        ),
    ]);
    assert!(Sim::validate_settings(SETTINGS.into()).is_ok());
    let full = r#"{"base_url":"https://h/","mode":"poll","channels":["sms"],"transcript_chunk":5}"#;
    assert!(Sim::validate_settings(full.into()).is_ok());
}

#[test]
fn routes_by_conversation_and_event_id() {
    let body =
        r#"{"event_id":"e-9","conversation_id":"c-1","seq":2,"type":"agent_typing","typing":true}"#;
    let route = Sim::route_webhook(SETTINGS.into(), hook(body)).unwrap();
    assert_eq!(route.response.status, 200);
    assert_eq!(route.response.body, br#"{"ok":true}"#);
    assert_eq!(route.delivery_id.as_deref(), Some("e-9"));
    assert_eq!(route.correlation_keys, ["c-1"]);
    let bad = Sim::route_webhook(SETTINGS.into(), hook("{oops")).unwrap_err();
    assert_eq!(bad.reason, FailureReason::Error);
    assert!(bad.message.starts_with("malformed webhook body: "));
}

#[test]
fn maps_every_event_type() {
    let ann = || events::agent("a-1", "Ann");
    let cases = [
        (
            r#""type":"queued","position":2,"estimated_wait_seconds":30"#,
            events::queued(Some(2), Some(30)),
        ),
        (
            r#""type":"agent_joined","agent":{"id":"a-1","name":"Ann"}"#,
            events::agent_joined(ann()),
        ),
        (
            r#""type":"agent_message","agent":{"id":"a-1","name":"Ann"},"text":"hi","attachments":[{"url":"u","content_type":"image/png"}]"#,
            events::agent_message(
                Some(ann()),
                "hi",
                vec![handover_adapter_sdk::Attachment {
                    url: "u".into(),
                    content_type: "image/png".into(),
                    name: None,
                }],
            ),
        ),
        (
            r#""type":"agent_typing","typing":false"#,
            events::typing(false),
        ),
        (
            r#""type":"agent_left""#,
            events::agent_left(events::agent("", "")),
        ),
        (
            r#""type":"transferred","to_queue":"vip","agent":{"id":"a-1","name":"Ann"}"#,
            events::transferred(Some("vip".into()), None),
        ),
        (
            r#""type":"ended","reason":"no_agent""#,
            events::ended(EndReason::NoAgentAvailable),
        ),
        (
            r#""type":"ended","reason":"timeout""#,
            events::ended(EndReason::Other("timeout".into())),
        ),
    ];
    for (fields, expected) in cases {
        let body = format!(r#"{{"event_id":"e-1","conversation_id":"c-1","seq":1,{fields}}}"#);
        let (_, events) = handle(0, &body);
        assert_eq!(
            format!("{events:?}"),
            format!("{:?}", [expected]),
            "{fields}"
        );
    }
}

#[test]
fn drops_stale_and_duplicate_events() {
    let body =
        r#"{"event_id":"e-5","conversation_id":"c-1","seq":5,"type":"agent_typing","typing":true}"#;
    let (new_state, events) = handle(4, body);
    assert_eq!(events.len(), 1);
    assert_eq!(new_state, state(5));
    let (same_state, none) = handle(5, body);
    assert!(none.is_empty());
    assert_eq!(same_state, state(5));
    let (_, stale) = handle(9, body);
    assert!(stale.is_empty());
}

#[test]
fn rejects_webhooks_for_another_conversation() {
    let body =
        r#"{"event_id":"e-1","conversation_id":"c-2","seq":1,"type":"agent_typing","typing":true}"#;
    let failure = Sim::handle_webhook(ctx(), state(0), hook(body)).unwrap_err();
    assert!(failure.message.contains("c-2"), "{}", failure.message);
}

#[test]
fn holds_early_events_until_the_gap_fills() {
    let ev = |seq: u64, text: &str| {
        format!(
            r#"{{"event_id":"e-{seq}","conversation_id":"c-1","seq":{seq},"type":"agent_message","text":"{text}"}}"#
        )
    };
    // seq 3 arrives before seq 2: held, nothing reported yet.
    let step = Sim::handle_webhook(ctx(), state(1), hook(&ev(3, "second"))).unwrap();
    assert!(step.events.is_empty());
    assert_ne!(
        step.state,
        state(1),
        "the early event must be kept in the state"
    );
    // seq 2 fills the gap: both are reported, in provider order.
    let step = Sim::handle_webhook(ctx(), step.state, hook(&ev(2, "first"))).unwrap();
    let texts: Vec<String> = step
        .events
        .iter()
        .map(|e| match e {
            Event::AgentMessage(m) => m.text.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(step.state, state(3));
    // A repeat of seq 3 is a duplicate now.
    let again = Sim::handle_webhook(ctx(), step.state, hook(&ev(3, "second"))).unwrap();
    assert!(again.events.is_empty());
}
