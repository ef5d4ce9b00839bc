//! Native unit tests of everything that needs no I/O: describe, settings,
//! `ChasitorInit`, the `Messages` mapping with its ack dedupe, availability.

use crate::provider::{LiveAgent, State};
use crate::settings::Settings;
use crate::wire;
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{Adapter, Author, Conversation, EndReason, KeyValue, PollMode, events};
use serde_json::{Value, json};

fn settings_json() -> Value {
    json!({
        "base_url": "https://d.la1-c2-ia2.salesforceliveagent.com/chat/",
        "organization_id": "00DXX0000001abc",
        "deployment_id": "572XX0000001abc",
        "button_id": "573XX0000001abc",
    })
}

fn settings() -> Settings {
    testing::settings(&settings_json())
}

#[test]
fn describe_declares_a_long_poll_and_availability() {
    let (info, _) = testing::described::<LiveAgent>("salesforce-live-agent");
    assert_eq!(info.channels, ["webchat"]);
    assert!(info.webhook_signature.is_none());
    assert_eq!(info.polling.mode, PollMode::LongPoll);
    assert_eq!(info.polling.max_wait_ms, 40_000);
    let c = info.capabilities;
    assert!(c.availability_check && c.queue_position && c.typing && c.bot_side_close);
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_patch_rejected::<LiveAgent>(
        &settings_json(),
        [
            (json!({"button_id": null}), "missing field `button_id`"),
            (
                json!({"base_url": "la.example"}),
                "`base_url`: must start with http",
            ),
            (
                json!({"organization_id": "005XX0000001abc"}),
                "`organization_id`: must be a org id",
            ),
            (json!({"deployment_id": "572-short"}), "`deployment_id`"),
            (
                json!({"button_id": "572XX0000001abc"}),
                "`button_id`: must be a chat button id",
            ),
            (
                json!({"queue_buttons": {"billing": "nope"}}),
                "`queue_buttons.billing`",
            ),
            (json!({"api_version": "v58"}), "`api_version`"),
            (
                json!({"transcript_chunk": 10}),
                "`transcript_chunk`: must be at least 100",
            ),
            (json!({"session_key": "x"}), "unknown field `session_key`"),
        ],
    );
    assert!(LiveAgent::validate_settings(settings_json().to_string()).is_ok());
}

#[test]
fn urls_strip_a_trailing_chat_segment() {
    let s = settings();
    assert_eq!(
        s.url("System/SessionId"),
        "https://d.la1-c2-ia2.salesforceliveagent.com/chat/rest/System/SessionId"
    );
    assert_eq!(
        s.availability_url(),
        "https://d.la1-c2-ia2.salesforceliveagent.com/chat/rest/Visitor/Availability?org_id=00DXX0000001abc&deployment_id=572XX0000001abc&Availability.ids=573XX0000001abc&Availability.needEstimatedWaitTime=1"
    );
}

fn conversation() -> Conversation {
    Conversation {
        session_id: "s".into(),
        user_id: "u".into(),
        user_profile: vec![KeyValue::new("Name", "Dana")],
        transcript: vec![
            testing::entry(Author::User, "help", 1),
            testing::entry(Author::Bot, "x".repeat(1500), 2),
        ],
        routing: testing::routing(
            &["billing"],
            Some("de"),
            Some(3),
            Some("vip"),
            &[("Plan", "gold")],
        ),
        ..testing::conversation()
    }
}

#[test]
fn chasitor_init_carries_routing_and_the_transcript() {
    let mut s = settings_json();
    s["queue_buttons"] = json!({"vip": "573XX0000009xyz"});
    let s: Settings = testing::settings(&s);
    let c = conversation();
    let body = serde_json::to_value(wire::ChasitorInit::new(&s, "sess-1", &c)).unwrap();
    assert_eq!(body["buttonId"], "573XX0000009xyz");
    assert_eq!(body["sessionId"], "sess-1");
    assert_eq!(body["visitorName"], "Dana");
    assert_eq!(body["language"], "de");
    assert_eq!(body["receiveQueueUpdates"], true);
    let labels: Vec<&str> = body["prechatDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Handover ID",
            "Plan",
            "Skills",
            "Priority",
            "Transcript (1/3)",
            "Transcript (2/3)",
            "Transcript (3/3)"
        ]
    );
    let first = &body["prechatDetails"][4];
    assert_eq!(first["value"], "User: help");
    assert_eq!(first["displayToAgent"], true);
    assert_eq!(first["entityMaps"], json!([]));
    // An unmapped queue goes to the default button and is shown to the agent.
    let default = settings();
    let body = serde_json::to_value(wire::ChasitorInit::new(&default, "sess-1", &c)).unwrap();
    assert_eq!(body["buttonId"], "573XX0000001abc");
    let queue = body["prechatDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == "Queue")
        .unwrap();
    assert_eq!(queue["value"], "vip");
}

fn state() -> State {
    State {
        key: "k!1".into(),
        affinity: "aff".into(),
        session_id: "sess-1".into(),
        sequence: 1,
        ..State::default()
    }
}

fn batch(sequence: i64, messages: Value) -> wire::Messages {
    serde_json::from_value(json!({"messages": messages, "sequence": sequence, "offset": 99}))
        .unwrap()
}

fn alex() -> handover_adapter_sdk::Agent {
    events::agent("005A1", "Alex")
}

#[test]
fn messages_map_to_events_and_batches_apply_once() {
    let mut st = state();
    let first = json!([
        {"type": "ChatRequestSuccess", "message": {"queuePosition": 2, "estimatedWaitTime": 45,
            "geoLocation": {}, "url": "", "customDetails": [], "visitorId": "v"}},
        {"type": "QueueUpdate", "message": {"position": 1, "estimatedWaitTime": 20}},
        {"type": "ChatEstablished", "message": {"name": "Alex", "userId": "005A1", "items": [],
            "sneakPeekEnabled": false, "chasitorIdleTimeout": {"isEnabled": false}}},
        {"type": "AgentTyping", "message": {}},
        {"type": "ChatMessage", "message": {"name": "Alex", "text": "hello", "agentId": "005A1"}},
        {"type": "AgentNotTyping", "message": {}},
        {"type": "ChasitorSessionData", "message": {}},
    ]);
    let (got, notes) = st.apply(batch(1, first.clone()));
    testing::assert_same_events(
        &got,
        &[
            events::queued(Some(2), Some(45)),
            events::queued(Some(1), Some(20)),
            events::agent_joined(alex()),
            events::typing(true),
            events::agent_message(Some(alex()), "hello", vec![]),
            events::typing(false),
        ],
    );
    assert_eq!(notes, ["message type ChasitorSessionData"]);
    assert_eq!(st.ack, Some(1));
    // The same batch again (an unacknowledged re-delivery) is dropped.
    let (again, _) = st.apply(batch(1, first));
    assert!(again.is_empty());
    let (got, _) = st.apply(batch(
        2,
        json!([
            {"type": "ChatTransferred", "message": {"name": "Bo", "userId": "005B2"}},
            {"type": "ChatEnded", "message": {"reason": "agent"}},
            {"type": "ChatMessage", "message": {"name": "Bo", "text": "late"}},
        ]),
    ));
    testing::assert_same_events(
        &got,
        &[
            events::transferred(None, Some(events::agent("005B2", "Bo"))),
            events::ended(EndReason::AgentClosed),
        ],
    );
    assert!(st.ended);
}

#[test]
fn request_fail_is_no_agent_and_disconnect_is_agent_left() {
    let mut st = state();
    let (got, _) = st.apply(batch(
        1,
        json!([{"type": "ChatRequestFail", "message": {"reason": "Unavailable", "postChatUrl": ""}}]),
    ));
    testing::assert_same_events(&got, &[events::ended(EndReason::NoAgentAvailable)]);

    let mut st = state();
    let (got, _) = st.apply(batch(
        1,
        json!([
            {"type": "ChatEstablished", "message": {"name": "Alex", "userId": "005A1"}},
            {"type": "AgentDisconnect", "message": {}},
        ]),
    ));
    testing::assert_same_events(
        &got,
        &[
            events::agent_joined(alex()),
            events::agent_left(alex()),
            events::ended(EndReason::AgentLeft),
        ],
    );
}

#[test]
fn availability_matches_the_button_by_its_15_character_id() {
    let parse = |v: Value| serde_json::from_value::<wire::AvailabilityResponse>(v).unwrap();
    let up = parse(
        json!({"messages": [{"type": "Availability", "message": {"results": [
        {"id": "573XX0000001abc", "isAvailable": true, "estimatedWaitTime": 30}]}}]}),
    );
    assert_eq!(
        wire::button_availability(&up, "573XX0000001abcAAA"),
        Some((true, Some(30)))
    );
    let down = parse(
        json!({"messages": [{"type": "Availability", "message": {"results": [
        {"id": "573XX0000001abc"}]}}]}),
    );
    assert_eq!(
        wire::button_availability(&down, "573XX0000001abc"),
        Some((false, None))
    );
    assert_eq!(wire::button_availability(&down, "573XX0000009xyz"), None);
}

#[test]
fn state_requires_a_session() {
    let ctx = testing::ctx(&settings_json().to_string());
    testing::assert_fails_with(LiveAgent::poll(ctx, Vec::new()), "no Live Agent session");
}
