//! Native unit tests of the calls that need no I/O.

use crate::provider::LivePerson;
use crate::provider::tests_support::*;
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, Author, CallContext, Conversation, EndReason, Event, FailureReason, HttpRequest,
    KeyValue, SignatureAlgorithm, SignatureEncoding, events,
};
use serde_json::json;

const SETTINGS: &str =
    r#"{"account_id":"123","idp_url":"http://127.0.0.1:9","messaging_url":"http://127.0.0.1:9"}"#;

fn ctx() -> CallContext {
    testing::ctx(SETTINGS)
}

fn hook(body: &str) -> HttpRequest {
    testing::request("/v1/webhooks/lp", body)
}

pub fn conversation() -> Conversation {
    Conversation {
        user_profile: vec![
            KeyValue::new("first_name", "Ann"),
            KeyValue::new("email", "ann@example.com"),
        ],
        transcript: vec![
            testing::entry(Author::User, "help", 1),
            testing::entry(Author::Bot, "one moment", 2),
        ],
        routing: testing::routing(&["billing"], None, None, None, &[("plan", "gold")]),
        ..testing::conversation()
    }
}

fn messaging(seq: Option<u64>, role: &str, event: serde_json::Value) -> String {
    let mut change = json!({
        "originatorId": "123.a-1",
        "originatorMetadata": {"id": "a-1", "role": role},
        "serverTimestamp": 1,
        "event": event,
        "dialogId": "c-1",
    });
    if let Some(seq) = seq {
        change["sequence"] = seq.into();
    }
    json!({"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": [change]}})
        .to_string()
}

fn text(seq: u64, text: &str) -> String {
    messaging(
        Some(seq),
        "ASSIGNED_AGENT",
        json!({"type": "ContentEvent", "contentType": "text/plain", "message": text}),
    )
}

fn change(state: &str, agent: Option<&str>, ts: i64, extra: serde_json::Value) -> String {
    let mut participants = vec![json!({"id": "consumer-1", "role": "CONSUMER"})];
    if let Some(a) = agent {
        participants.push(json!({"id": a, "role": "ASSIGNED_AGENT"}));
    }
    let mut details = json!({
        "participants": participants, "brandId": "123", "state": state,
        "metaDataLastUpdateTs": ts,
    });
    for (k, v) in extra.as_object().unwrap() {
        details[k] = v.clone();
    }
    json!({"kind": "notification", "type": "cqm.ExConversationChangeNotification",
        "body": {"changes": [{"type": "UPSERT", "result": {"convId": "c-1", "conversationDetails": details}}]}})
    .to_string()
}

/// Applies webhook bodies in order, returning the final state and events.
fn apply(mut state: Vec<u8>, bodies: &[String]) -> (Vec<u8>, Vec<Event>) {
    let mut all = Vec::new();
    for body in bodies {
        let step = LivePerson::handle_webhook(ctx(), state, hook(body)).unwrap();
        state = step.state;
        all.extend(step.events);
    }
    (state, all)
}

fn agent_text(t: &str) -> Event {
    events::agent_message(Some(events::agent("a-1", "Agent")), t, vec![])
}

#[test]
fn describe_declares_the_liveperson_signature() {
    let (info, _) = testing::described::<LivePerson>("liveperson");
    assert!(info.capabilities.bot_side_close);
    testing::assert_signature(
        &info,
        "X-Liveperson-Signature",
        SignatureAlgorithm::HmacSha1,
        SignatureEncoding::Base64,
        Some("sha1="),
    );
}

#[test]
fn settings_errors_name_the_field() {
    let base = r#""idp_url":"http://i","messaging_url":"http://m""#;
    testing::assert_each_rejected::<LivePerson, _>([
        (format!("{{{base}}}").as_str(), "`account_id`"),
        (
            format!(r#"{{"account_id":"12a",{base}}}"#).as_str(),
            "`account_id`: must be",
        ),
        (
            r#"{"account_id":"1","messaging_url":"http://m"}"#,
            "`idp_url`",
        ),
        (
            r#"{"account_id":"1","idp_url":"i","messaging_url":"http://m"}"#,
            "`idp_url`: must start",
        ),
        (
            format!(r#"{{"account_id":"1",{base},"skill_id":"sales"}}"#).as_str(),
            "`skill_id`",
        ),
        (
            format!(r#"{{"account_id":"1",{base},"campaign_id":5}}"#).as_str(),
            "`engagement_id`",
        ),
        (
            format!(r#"{{"account_id":"1",{base},"transcript_chunk":0}}"#).as_str(),
            "`transcript_chunk`",
        ),
        (
            format!(r#"{{"account_id":"1",{base},"client_secret":"x"}}"#).as_str(),
            "unknown field `client_secret`",
        ),
    ]);
    assert!(LivePerson::validate_settings(SETTINGS.into()).is_ok());
    let full = format!(
        r#"{{"account_id":"1",{base},"skill_id":42,"campaign_id":1,"engagement_id":2,"channels":["sms"]}}"#
    );
    assert!(LivePerson::validate_settings(full).is_ok());
}

#[test]
fn routing_maps_to_skill_ttr_and_profile() {
    assert_eq!(settings_for(None).unwrap().as_deref(), Some("7"));
    assert_eq!(settings_for(Some("99")).unwrap().as_deref(), Some("99"));
    assert!(
        settings_for(Some("sales"))
            .unwrap_err()
            .message
            .contains("routing.queue")
    );
    assert_eq!(priority(None), serde_json::Value::Null);
    assert_eq!(priority(Some(0)), "NORMAL");
    assert_eq!(priority(Some(1)), "PRIORITIZED");
    assert_eq!(priority(Some(9)), "URGENT");
    let c = conversation();
    assert_eq!(
        texts(&c),
        ["System: Handover context: skills=billing; plan=gold\nUser: help\nBot: one moment"]
    );
    let profile = profile(&c);
    assert_eq!(profile["type"], "userprofile.SetUserProfile");
    let sdes = &profile["body"]["authenticatedData"]["lp_sdes"];
    assert_eq!(sdes[0]["info"]["customerId"], "u-1");
    assert_eq!(sdes[1]["personal"]["firstname"], "Ann");
    assert_eq!(sdes[1]["personal"]["language"], "en-US");
    assert_eq!(
        sdes[1]["personal"]["contacts"][0]["email"],
        "ann@example.com"
    );
    assert_eq!(
        input("look", "https://x/a.png"),
        "look\n[attachment a.png: https://x/a.png]"
    );
}

#[test]
fn routes_every_conversation_of_a_notification() {
    let body = json!({"kind": "notification", "type": "ms.MessagingEventNotification", "body": {"changes": [
        {"sequence": 1, "dialogId": "c-1", "event": {}},
        {"sequence": 2, "dialogId": "c-2", "event": {}},
        {"sequence": 3, "dialogId": "c-1", "event": {}},
    ]}})
    .to_string();
    let route = LivePerson::route_webhook(SETTINGS.into(), hook(&body)).unwrap();
    assert_eq!(route.response.status, 200);
    assert_eq!(route.correlation_keys, ["c-1", "c-2"]);
    let id = route.delivery_id.unwrap();
    assert!(id.starts_with("lp-"), "{id}");
    let again = LivePerson::route_webhook(SETTINGS.into(), hook(&body)).unwrap();
    assert_eq!(
        again.delivery_id.unwrap(),
        id,
        "a redelivery has the same id"
    );
    let cqm = change("OPEN", None, 1, json!({}));
    let route = LivePerson::route_webhook(SETTINGS.into(), hook(&cqm)).unwrap();
    assert_eq!(route.correlation_keys, ["c-1"]);
    assert!(LivePerson::route_webhook(SETTINGS.into(), hook("[")).is_err());
}

#[test]
fn full_conversation() {
    let (_, out) = apply(
        state_at(1, None),
        &[
            change("OPEN", Some("a-1"), 10, json!({})),
            messaging(
                None,
                "ASSIGNED_AGENT",
                json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}),
            ),
            text(2, "hello"),
            messaging(
                Some(3),
                "CONSUMER",
                json!({"type": "ContentEvent", "message": "me"}),
            ),
            messaging(
                Some(4),
                "ASSIGNED_AGENT",
                json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [3]}),
            ),
            messaging(
                Some(5),
                "ASSIGNED_AGENT",
                json!({"type": "RichContentEvent", "content": {"type": "vertical", "elements": [
                    {"type": "text", "text": "Pick one"},
                    {"type": "image", "url": "https://x/p.png?s=1", "caption": "p"},
                    {"type": "button", "title": "Yes", "click": {}},
                ]}}),
            ),
            change("CLOSE", Some("a-1"), 20, json!({"closeReason": "AGENT"})),
            text(6, "too late"),
        ],
    );
    testing::assert_same_events(
        &out,
        &[
            events::agent_joined(events::agent("a-1", "Agent")),
            events::typing(true),
            agent_text("hello"),
            events::agent_message(
                Some(events::agent("a-1", "Agent")),
                "Pick one\n[Yes]",
                vec![handover_adapter_sdk::Attachment {
                    url: "https://x/p.png?s=1".into(),
                    content_type: "image/png".into(),
                    name: Some("p".into()),
                }],
            ),
            events::ended(EndReason::AgentClosed),
        ],
    );
}

#[test]
fn out_of_order_messages_are_applied_in_sequence_and_duplicates_dropped() {
    let (st, out) = apply(
        state_at(1, Some("a-1")),
        &[text(5, "c"), text(4, "b"), text(4, "b")],
    );
    assert!(out.is_empty(), "{out:?}");
    let (st, out) = apply(st, &[text(2, "a")]);
    testing::assert_same_events(&out, &[agent_text("a")]); // seq 3 is still missing
    // Our own message 3 (known from the publish response) fills the gap.
    let (st, out) = own(st, 3);
    testing::assert_same_events(&out, &[agent_text("b"), agent_text("c")]);
    let (_, out) = apply(st, &[text(5, "c"), text(2, "a")]);
    assert!(out.is_empty(), "stale duplicates: {out:?}");
}

#[test]
fn a_close_flushes_held_messages_first() {
    let (_, out) = apply(
        state_at(1, Some("a-1")),
        &[
            text(4, "late"),
            change("CLOSE", Some("a-1"), 5, json!({"closeReason": "SYSTEM"})),
        ],
    );
    testing::assert_same_events(
        &out,
        &[agent_text("late"), events::ended(EndReason::ProviderClosed)],
    );
}

#[test]
fn a_lost_gap_does_not_block_forever() {
    let bodies: Vec<String> = (0..17).map(|i| text(10 + i, &i.to_string())).collect();
    let (_, out) = apply(state_at(1, Some("a-1")), &bodies);
    assert_eq!(out.len(), 17, "{out:?}");
}

#[test]
fn participant_changes_give_transfer_leave_and_stale_ones_are_dropped() {
    let (_, out) = apply(
        state_at(-1, None),
        &[
            change("OPEN", Some("a-1"), 10, json!({"skillId": "1"})),
            change("OPEN", Some("a-2"), 20, json!({"skillId": "1"})),
            change("OPEN", Some("a-9"), 15, json!({})),
            change("OPEN", None, 30, json!({"skillId": 2})),
            change("CLOSE", None, 40, json!({"closeReason": "CONSUMER"})),
        ],
    );
    testing::assert_same_events(
        &out,
        &[
            events::agent_joined(events::agent("a-1", "Agent")),
            events::transferred(None, Some(events::agent("a-2", "Agent"))),
            events::agent_left(events::agent("a-2", "Agent")),
            events::transferred(Some("2".into()), None),
            events::ended(EndReason::Other("consumer_closed".into())),
        ],
    );
}

#[test]
fn consumer_and_controller_messages_are_not_agent_messages() {
    let (_, out) = apply(
        state_at(-1, None),
        &[
            messaging(
                Some(0),
                "CONSUMER",
                json!({"type": "ContentEvent", "message": "me"}),
            ),
            messaging(
                Some(1),
                "CONTROLLER",
                json!({"type": "ContentEvent", "message": "system"}),
            ),
            messaging(
                None,
                "CONSUMER",
                json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}),
            ),
        ],
    );
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn webhooks_after_the_end_change_nothing() {
    let (st, _) = apply(
        state_at(1, Some("a-1")),
        &[change("CLOSE", Some("a-1"), 5, json!({}))],
    );
    let step = LivePerson::handle_webhook(ctx(), st.clone(), hook(&text(2, "x"))).unwrap();
    assert!(step.events.is_empty());
    assert_eq!(step.state, st);
    assert_eq!(
        LivePerson::handle_webhook(ctx(), Vec::new(), hook(&text(2, "x")))
            .unwrap_err()
            .reason,
        FailureReason::Error
    );
}
