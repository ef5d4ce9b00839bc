//! Native unit tests of the calls that need no I/O.

use crate::provider::Genesys;
use crate::provider::tests_support::release;
use crate::wire;
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, CallContext, EndReason, Event, FailureReason, HttpRequest, SignatureAlgorithm,
    SignatureEncoding, events,
};

const SETTINGS: &str =
    r#"{"api_url":"http://127.0.0.1:9","integration_id":"int-1","poll_conversation":true}"#;

fn ctx() -> CallContext {
    testing::ctx(SETTINGS)
}

fn hook(body: &str) -> HttpRequest {
    testing::request("/v1/webhooks/genesys", body)
}

fn state(agent: bool) -> Vec<u8> {
    let agent = if agent {
        r#","agent":{"id":"u-9","name":"Ann"},"polled_agent":"u-9""#
    } else {
        ""
    };
    format!(
        r#"{{"from":{{"id":"h-1","idType":"Opaque"}},"conversation_id":"c-1","sent":2{agent}}}"#
    )
    .into_bytes()
}

fn outbound(kind_and_fields: &str) -> String {
    format!(
        r#"{{"id":"m-1","channel":{{"id":"int-1","platform":"Open","type":"Private","to":{{"id":"h-1"}},"from":{{"id":"int-1","idType":"Opaque","nickname":"Support","firstName":"Ann"}},"time":"2024-01-01T00:00:00.000Z","messageId":"m-1"}},"direction":"Outbound",{kind_and_fields}}}"#
    )
}

fn handle(agent: bool, body: &str) -> Vec<Event> {
    Genesys::handle_webhook(ctx(), state(agent), hook(body))
        .unwrap()
        .events
}

#[test]
fn describe_declares_the_hub_signature() {
    let (info, _) = testing::described::<Genesys>("genesys-open-messaging");
    assert!(!info.capabilities.bot_side_close);
    testing::assert_signature(
        &info,
        "X-Hub-Signature-256",
        SignatureAlgorithm::HmacSha256,
        SignatureEncoding::Base64,
        Some("sha256="),
    );
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_rejected::<Genesys, _>([
        (r#"{"integration_id":"i"}"#, "`api_url`"),
        (r#"{"api_url":"http://h"}"#, "`integration_id`"),
        (
            r#"{"api_url":"h","integration_id":"i"}"#,
            "`api_url`: must start",
        ),
        (
            r#"{"api_url":"http://h","integration_id":"a/b"}"#,
            "`integration_id`",
        ),
        (
            r#"{"api_url":"http://h","integration_id":"i","transcript_chunk":0}"#,
            "`transcript_chunk`",
        ),
        (
            r#"{"api_url":"http://h","integration_id":"i","transcript_max_messages":99}"#,
            "`transcript_max_messages`",
        ),
        (
            r#"{"api_url":"http://h","integration_id":"i","channels":["sms",""]}"#,
            "`channels[1]`",
        ),
        (
            r#"{"api_url":"http://h","integration_id":"i","client_secret":"x"}"#,
            "unknown field `client_secret`",
        ),
    ]);
    assert!(Genesys::validate_settings(SETTINGS.into()).is_ok());
}

#[test]
fn routes_by_the_external_user_and_message_id() {
    let body = outbound(r#""type":"Text","text":"hi""#);
    let route = Genesys::route_webhook(SETTINGS.into(), hook(&body)).unwrap();
    assert_eq!(route.response.status, 200);
    assert_eq!(route.delivery_id.as_deref(), Some("m-1"));
    assert_eq!(route.correlation_keys, ["h-1"]);
    let inbound = body.replace("\"Outbound\"", "\"Inbound\"");
    let route = Genesys::route_webhook(SETTINGS.into(), hook(&inbound)).unwrap();
    assert!(route.correlation_keys.is_empty());
    let bad = Genesys::route_webhook(SETTINGS.into(), hook("{")).unwrap_err();
    assert_eq!(bad.reason, FailureReason::Error);
}

#[test]
fn first_human_message_is_the_agent_joining() {
    let body = outbound(
        r#""type":"Text","text":"hello","originatingEntity":"Human","content":[{"contentType":"Attachment","attachment":{"mediaType":"Image","url":"https://x/a.png","mime":"image/png","filename":"a.png"}}]"#,
    );
    let ann = || events::agent("int-1", "Ann");
    let image = handover_adapter_sdk::Attachment {
        url: "https://x/a.png".into(),
        content_type: "image/png".into(),
        name: Some("a.png".into()),
    };
    let step = Genesys::handle_webhook(ctx(), state(false), hook(&body)).unwrap();
    testing::assert_same_events(&step.events, &[events::agent_joined(ann())]);
    // The message waits out the reorder window, then comes out.
    let (held, out) = release(step.state, 0);
    assert!(out.is_empty());
    let (_, out) = release(held, u64::MAX / 2);
    testing::assert_same_events(
        &out,
        &[events::agent_message(
            Some(ann()),
            "hello",
            vec![image.clone()],
        )],
    );
    // Already joined (through `poll`): the polled name stays.
    let step = Genesys::handle_webhook(ctx(), state(true), hook(&body)).unwrap();
    assert!(step.events.is_empty());
    let (_, out) = release(step.state, u64::MAX / 2);
    testing::assert_same_events(
        &out,
        &[events::agent_message(
            Some(events::agent("u-9", "Ann")),
            "hello",
            vec![image],
        )],
    );
}

#[test]
fn held_messages_come_out_in_provider_time_order() {
    let at = |time: &str, text: &str| {
        outbound(&format!(r#""type":"Text","text":"{text}""#))
            .replace("2024-01-01T00:00:00.000Z", time)
    };
    let mut st = state(true);
    for (time, text) in [
        ("2024-01-01T00:00:03.000Z", "third"),
        ("2024-01-01T00:00:01.000Z", "first"),
        ("2024-01-01T00:00:02.000Z", "second"),
    ] {
        st = Genesys::handle_webhook(ctx(), st, hook(&at(time, text)))
            .unwrap()
            .state;
    }
    let (_, out) = release(st, u64::MAX / 2);
    let u9 = || Some(events::agent("u-9", "Ann"));
    testing::assert_same_events(
        &out,
        &[
            events::agent_message(u9(), "first", vec![]),
            events::agent_message(u9(), "second", vec![]),
            events::agent_message(u9(), "third", vec![]),
        ],
    );
}

#[test]
fn bot_messages_and_unknown_types_are_ignored() {
    let bot = outbound(r#""type":"Text","text":"queued","originatingEntity":"Bot""#);
    let step = Genesys::handle_webhook(ctx(), state(false), hook(&bot)).unwrap();
    assert!(step.events.is_empty());
    assert!(release(step.state, u64::MAX / 2).1.is_empty());
    let receipt = outbound(r#""type":"Receipt","status":"Delivered""#);
    assert!(handle(false, &receipt).is_empty());
}

#[test]
fn typing_events() {
    let on = outbound(
        r#""type":"Event","events":[{"eventType":"Typing","typing":{"type":"On","duration":5000}}]"#,
    );
    testing::assert_same_events(
        &handle(false, &on),
        &[
            events::agent_joined(events::agent("int-1", "Ann")),
            events::typing(true),
        ],
    );
    testing::assert_same_events(&handle(true, &on), &[events::typing(true)]);
}

#[test]
fn a_webhook_for_another_user_is_refused() {
    let body = outbound(r#""type":"Text","text":"x""#)
        .replace(r#""to":{"id":"h-1"}"#, r#""to":{"id":"h-2"}"#);
    assert!(Genesys::handle_webhook(ctx(), state(false), hook(&body)).is_err());
}

#[test]
fn close_is_unsupported() {
    let f = Genesys::close(ctx(), state(true)).unwrap_err();
    assert_eq!(f.reason, FailureReason::Unsupported);
}

fn participants(json: &str) -> Vec<wire::Participant> {
    serde_json::from_str::<wire::Conversation>(&format!(r#"{{"participants":{json}}}"#))
        .unwrap()
        .participants
}

#[test]
fn participants_give_join_transfer_and_end() {
    use crate::provider::tests_support::apply;
    let queued =
        r#"[{"purpose":"customer","state":"connected"},{"purpose":"acd","state":"connected"}]"#;
    let (st, ev) = apply(state(false), &participants(queued));
    assert!(ev.is_empty());
    let joined = r#"[{"purpose":"customer","state":"connected"},{"purpose":"agent","state":"connected","name":"Bo","user":{"id":"u-1"}}]"#;
    let (st, ev) = apply(st, &participants(joined));
    testing::assert_same_events(&ev, &[events::agent_joined(events::agent("u-1", "Bo"))]);
    let moved = r#"[{"purpose":"customer","state":"connected"},{"purpose":"agent","state":"disconnected","user":{"id":"u-1"}},{"purpose":"agent","state":"connected","name":"Cy","user":{"id":"u-2"}}]"#;
    let (st, ev) = apply(st, &participants(moved));
    testing::assert_same_events(
        &ev,
        &[events::transferred(None, Some(events::agent("u-2", "Cy")))],
    );
    let back = r#"[{"purpose":"customer","state":"connected"},{"purpose":"agent","state":"disconnected","user":{"id":"u-2"}},{"purpose":"acd","state":"connected"}]"#;
    let (st, ev) = apply(st, &participants(back));
    testing::assert_same_events(&ev, &[events::agent_left(events::agent("u-2", "Cy"))]);
    let (st, _) = apply(st, &participants(joined));
    let done = r#"[{"purpose":"customer","state":"disconnected"},{"purpose":"agent","state":"disconnected","user":{"id":"u-1"}}]"#;
    let (_, ev) = apply(st, &participants(done));
    testing::assert_same_events(&ev, &[events::ended(EndReason::AgentClosed)]);
    let (_, ev) = apply(
        state(false),
        &participants(r#"[{"purpose":"customer","state":"terminated"}]"#),
    );
    testing::assert_same_events(&ev, &[events::ended(EndReason::ProviderClosed)]);
}

#[test]
fn formats_iso8601() {
    assert_eq!(wire::iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(wire::iso8601(1_714_568_474_462), "2024-05-01T13:01:14.462Z");
    assert_eq!(wire::iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
}
