//! Native unit tests of everything that needs no I/O: describe, settings,
//! ids, transcript packing, SSE framing and the event → state mapping.

use crate::provider::Sent;
use crate::provider::{Miaw, State};
use crate::settings::Settings;
use crate::sse::{self, Frame};
use crate::transcript::{MAX_MESSAGE_CHARS, messages};
use crate::{ids, wire};
use handover_adapter_sdk::testing;
use handover_adapter_sdk::v0_2::{self, ReceiptStatus};
use handover_adapter_sdk::{
    Adapter, Author, Conversation, EndReason, PollMode, TranscriptEntry, events,
};
use serde_json::{Value, json};

const CONV: &str = "3f1c2a9e-0b7d-4c1e-9a5b-2d8e6f4a1c3b";

fn settings_json() -> Value {
    json!({
        "base_url": "https://acme.my.salesforce-scrt.com/",
        "org_id": "00DXX0000001abc",
        "es_developer_name": "Handover_Web",
    })
}

fn settings() -> Settings {
    testing::settings(&settings_json())
}

#[test]
fn describe_declares_a_long_poll_and_no_webhooks() {
    let (info, schema) = testing::described::<Miaw>("salesforce-miaw");
    assert_eq!(info.channels, ["webchat", "in-app"]);
    assert!(info.webhook_signature.is_none());
    assert_eq!(info.polling.mode, PollMode::LongPoll);
    assert_eq!(info.polling.max_wait_ms, 20_000);
    assert!(info.capabilities.bot_side_close && info.capabilities.transcript);
    assert!(!info.capabilities.availability_check);
    let c = &info.capabilities;
    assert!(c.receipts && c.user_typing && c.rich_messages);
    assert!(!c.hand_back && !c.wrap_up, "MIAW reports neither");
    assert_eq!(info.permissions.egress, ["{base_url}"]);
    assert!(info.permissions.secrets.is_empty());
    assert!(info.webhook_routing.is_none());
    assert_eq!(
        schema["required"],
        json!(["base_url", "org_id", "es_developer_name"])
    );
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_patch_rejected::<Miaw>(
        &settings_json(),
        [
            (json!({"org_id": null}), "missing field `org_id`"),
            (
                json!({"es_developer_name": null}),
                "missing field `es_developer_name`",
            ),
            (
                json!({"base_url": "acme.salesforce-scrt.com"}),
                "`base_url`: must start with http",
            ),
            (
                json!({"org_id": "12345"}),
                "`org_id`: must be a Salesforce org id",
            ),
            (
                json!({"es_developer_name": "My Deployment"}),
                "`es_developer_name`",
            ),
            (json!({"platform": " "}), "`platform`: must not be empty"),
            (
                json!({"poll_wait_ms": 60000}),
                "`poll_wait_ms`: must be between 100 and 20000",
            ),
            (
                json!({"poll_idle_ms": 9000}),
                "`poll_idle_ms`: must not exceed poll_wait_ms",
            ),
            (
                json!({"routing_fields": {"skills": ""}}),
                "`routing_fields.skills`",
            ),
            (
                json!({"routing_fields": {"team": "X"}}),
                "unknown field `team`",
            ),
            (json!({"api_token": "x"}), "unknown field `api_token`"),
        ],
    );
    assert!(Miaw::validate_settings(settings_json().to_string()).is_ok());
}

#[test]
fn urls_are_built_from_the_base() {
    let s = settings();
    assert_eq!(
        s.token_url(),
        "https://acme.my.salesforce-scrt.com/iamessage/api/v2/authorization/unauthenticated/access-token"
    );
    assert_eq!(
        s.close_url(CONV),
        format!(
            "https://acme.my.salesforce-scrt.com/iamessage/api/v2/conversation/{CONV}?esDeveloperName=Handover_Web"
        )
    );
    assert_eq!(
        s.entry_url(CONV),
        format!("https://acme.my.salesforce-scrt.com/iamessage/api/v2/conversation/{CONV}/entry")
    );
    assert_eq!(
        s.sse_url(),
        "https://acme.my.salesforce-scrt.com/eventrouter/v1/sse"
    );
}

#[test]
fn ids_are_deterministic_lowercase_uuids() {
    let a = ids::conversation_id("h-1");
    assert_eq!(a, ids::conversation_id("h-1"));
    assert_ne!(a, ids::conversation_id("h-2"));
    assert_ne!(ids::message_id("h-1", 0), ids::message_id("h-1", 1));
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(
        a.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase())
    );
    assert!(parts[2].starts_with('4'));
    assert!(ids::is_uuid(&a));
    assert!(!ids::is_uuid("m-1"));
    assert!(!ids::is_uuid(&a.to_uppercase()));
    assert_ne!(ids::entry_id("h-1", 0), ids::message_id("h-1", 0));
    assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
}

fn entry(author: Author, text: &str) -> TranscriptEntry {
    TranscriptEntry {
        author,
        text: text.into(),
        timestamp_ms: 1,
    }
}

#[test]
fn transcript_is_packed_into_messages_within_the_limit() {
    let short = [entry(Author::User, "help"), entry(Author::Bot, "sure")];
    assert_eq!(
        messages(&short, "Before:", 3000),
        ["Before:\nUser: help\nBot: sure"]
    );
    assert_eq!(messages(&short, "", 3000), ["User: help\nBot: sure"]);
    assert!(messages(&[], "Before:", 3000).is_empty());

    let long = [
        entry(Author::User, &"é".repeat(7000)),
        entry(Author::Bot, "ok"),
    ];
    let out = messages(&long, "Before:", MAX_MESSAGE_CHARS);
    assert_eq!(
        out.len(),
        3,
        "{:?}",
        out.iter().map(|m| m.chars().count()).collect::<Vec<_>>()
    );
    for (i, m) in out.iter().enumerate() {
        assert!(m.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(
            m.starts_with(&format!("Before: ({}/3)\n", i + 1)),
            "{}",
            &m[..20]
        );
    }
    let joined: String = out
        .iter()
        .map(|m| m.split_once('\n').unwrap().1)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(joined.matches('é').count(), 7000);
    assert!(joined.ends_with("\nBot: ok"));
}

#[test]
fn a_huge_transcript_is_capped_and_says_what_was_left_out() {
    let entries: Vec<_> = (0..30)
        .map(|i| entry(Author::Bot, &format!("{i:02}{}", "y".repeat(2900))))
        .collect();
    let out = messages(&entries, "Before:", MAX_MESSAGE_CHARS);
    assert_eq!(out.len(), crate::transcript::MAX_TRANSCRIPT_MESSAGES);
    assert!(
        out[0].contains("earlier transcript message(s) omitted"),
        "{}",
        out[0]
    );
    assert!(out[9].contains("Bot: 29y"), "the newest lines are kept");
}

#[test]
fn routing_attributes_merge_custom_pairs_and_named_fields() {
    let mut s = settings_json();
    s["routing_fields"] = json!({"skills": "Skills", "language": "Language", "queue": "Team", "handover_id": "HandoverId"});
    let s: Settings = testing::settings(&s);
    let c = Conversation {
        session_id: "s".into(),
        user_id: "u".into(),
        locale: "de-DE".into(),
        routing: testing::routing(
            &["billing", "vip"],
            None,
            Some(5),
            Some("support"),
            &[("Team", "override"), ("Plan", "gold")],
        ),
        ..testing::conversation()
    };
    let attrs = wire::routing_attributes(&s, &c);
    let got: Vec<(&str, &str)> = attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // No priority field is configured; the custom `Team` wins over the queue.
    assert_eq!(
        got,
        [
            ("HandoverId", "h-1"),
            ("Language", "de-DE"),
            ("Plan", "gold"),
            ("Skills", "billing,vip"),
            ("Team", "override"),
        ],
    );
}

#[test]
fn sse_frames_are_complete_events_only() {
    let body = ": keep-alive\n\nid: 1\nevent: ping\ndata: {}\n\r\nid: 2\r\nevent: CONVERSATION_MESSAGE\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 3\nevent: CONVERSATION_MESSAGE\ndata: {";
    let frames = sse::frames(body);
    assert_eq!(
        frames,
        [
            Frame {
                id: Some("1".into()),
                event: "ping".into(),
                data: "{}".into()
            },
            Frame {
                id: Some("2".into()),
                event: "CONVERSATION_MESSAGE".into(),
                data: "{\"a\":\n1}".into()
            },
        ]
    );
    assert!(sse::has_event(body.as_bytes()));
    assert!(!sse::has_event(b"id: 1\nevent: ping\ndata: {}\n\n: x\n\n"));
    assert!(!sse::has_event(
        b"id: 1\nevent: CONVERSATION_MESSAGE\ndata: {}\n"
    ));
}

// ---- events → state ----

fn state() -> State {
    State {
        conversation_id: CONV.into(),
        access_token: "jwt".into(),
        last_event_id: "0".into(),
        ..State::default()
    }
}

fn frame(id: u32, event: &str, role: &str, entry_payload: Value) -> Frame {
    let data = json!({
        "channelPlatformKey": "k",
        "channelType": "embedded_messaging",
        "conversationId": CONV,
        "conversationEntry": {
            "senderDisplayName": "Alex",
            "identifier": format!("e-{id}"),
            "entryPayload": entry_payload.to_string(),
            "sender": {"role": role, "subject": "005A1", "appType": "agent"},
            "clientTimestamp": 1,
        }
    });
    Frame {
        id: Some(id.to_string()),
        event: event.into(),
        data: data.to_string(),
    }
}

fn text(id: u32, role: &str, text: &str) -> Frame {
    frame(
        id,
        "CONVERSATION_MESSAGE",
        role,
        json!({"entryType": "Message", "abstractMessage": {"messageType": "StaticContentMessage",
            "staticContent": {"formatType": "Text", "text": text}}}),
    )
}

fn participant(id: u32, op: &str, role: &str) -> Frame {
    frame(
        id,
        "CONVERSATION_PARTICIPANT_CHANGED",
        "System",
        json!({"entryType": "ParticipantChanged", "entries": [{"operation": op, "displayName": "Alex",
            "participant": {"role": role, "subject": "005A1", "appType": "agent"}}]}),
    )
}

fn routing(id: u32, routing_type: &str, failure: &str) -> Frame {
    frame(
        id,
        "CONVERSATION_ROUTING_RESULT",
        "System",
        json!({"entryType": "RoutingResult", "routingType": routing_type, "failureType": failure,
            "estimatedWaitTime": {"isEWTRequested": true, "estimatedWaitTimeInSeconds": 90}}),
    )
}

fn alex() -> handover_adapter_sdk::Agent {
    events::agent("005A1", "Alex")
}

#[test]
fn agent_leaving_without_a_close_event_ends_the_conversation() {
    let mut st = state();
    let (got, notes) = st.apply(&[
        routing(1, "Initial", "None"),
        participant(2, "add", "Agent"),
        text(3, "EndUser", "echo of the user's own message"),
        text(4, "Agent", "hello"),
        frame(
            5,
            "CONVERSATION_TYPING_STARTED_INDICATOR",
            "Agent",
            json!({}),
        ),
        participant(6, "remove", "Agent"),
        text(7, "Agent", "after the end"),
    ]);
    assert!(notes.is_empty(), "{notes:?}");
    testing::assert_same_events(
        &got,
        &[
            events::queued(None, Some(90)),
            events::agent_joined(alex()),
            events::agent_message(Some(alex()), "hello", vec![]),
            events::typing(true),
            events::agent_left(alex()),
            events::ended(EndReason::AgentLeft),
        ],
    );
    assert!(st.ended && st.agents.is_empty());
    assert_eq!(
        st.last_event_id, "7",
        "the resume point moves past ignored events"
    );
    let (again, _) = st.apply(&[text(8, "Agent", "late")]);
    assert!(again.is_empty());
}

#[test]
fn close_event_ends_as_agent_closed() {
    let mut st = state();
    let (got, _) = st.apply(&[
        participant(1, "add", "Agent"),
        frame(2, "CONVERSATION_CLOSE_CONVERSATION", "System", json!({})),
        participant(3, "remove", "Agent"),
    ]);
    testing::assert_same_events(
        &got,
        &[
            events::agent_joined(alex()),
            events::ended(EndReason::AgentClosed),
        ],
    );
}

#[test]
fn a_transfer_does_not_end_when_the_first_agent_leaves() {
    let mut st = state();
    let (got, _) = st.apply(&[
        participant(1, "add", "Agent"),
        routing(2, "Transfer", "None"),
        participant(3, "remove", "Agent"),
        participant(4, "add", "Agent"),
        participant(5, "add", "Agent"),
    ]);
    testing::assert_same_events(
        &got,
        &[
            events::agent_joined(alex()),
            events::transferred(None, None),
            events::agent_left(alex()),
            events::agent_joined(alex()),
        ],
    );
    assert!(!st.ended && !st.transferring);
}

#[test]
fn routing_failure_before_any_agent_means_no_agent() {
    let mut st = state();
    let (got, notes) = st.apply(&[routing(1, "Initial", "RoutingError")]);
    testing::assert_same_events(&got, &[events::ended(EndReason::NoAgentAvailable)]);
    assert_eq!(notes, ["routing failed: RoutingError"]);
}

#[test]
fn foreign_unknown_and_malformed_events_are_passed_over() {
    let mut st = state();
    let mut other = text(1, "Agent", "not ours");
    other.data = other
        .data
        .replace(CONV, "00000000-0000-4000-8000-000000000000");
    let bad = Frame {
        id: Some("3".into()),
        event: "CONVERSATION_MESSAGE".into(),
        data: "{not json".into(),
    };
    let unknown = Frame {
        id: Some("4".into()),
        event: "CONVERSATION_STREAMING_TOKEN".into(),
        data: "{}".into(),
    };
    let (got, notes) = st.apply(&[other, participant(2, "add", "Supervisor"), bad, unknown]);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(st.last_event_id, "4");
}

#[test]
fn state_round_trips_and_requires_a_conversation() {
    let st = state();
    let bytes = handover_adapter_sdk::state::save(&st);
    let back: State = handover_adapter_sdk::state::load(&bytes).unwrap();
    assert_eq!(back, st);
    let ctx = testing::ctx(&settings_json().to_string());
    testing::assert_fails_with(Miaw::poll(ctx, Vec::new()), "no MIAW conversation");
}

// ---- contract 0.2.0 ----

fn ack(id: u32, event: &str, entry: &str, ts: u64) -> Frame {
    let entry_type = if event.contains("READ") {
        "ReadAcknowledgement"
    } else {
        "DeliveryAcknowledgement"
    };
    frame(
        id,
        event,
        "Agent",
        json!({"entryType": entry_type, "id": format!("ack-{id}"),
            "acknowledgementTimestamp": ts, "acknowledgedConversationEntryIdentifier": entry}),
    )
}

const DELIVERED: &str = "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT";
const READ: &str = "CONVERSATION_READ_ACKNOWLEDGEMENT";

fn sent(miaw: &str, host: &str) -> Sent {
    Sent {
        miaw: miaw.into(),
        host: host.into(),
        delivered: false,
    }
}

#[test]
fn acknowledgements_become_receipts_of_the_hosts_ids() {
    let mut st = state();
    // "m-2" went as two MIAW messages (a long input).
    st.pending = vec![sent("u-1", "m-1"), sent("u-2a", "m-2"), sent("u-2b", "m-2")];
    let (got, notes) = st.apply(&[
        ack(1, DELIVERED, "u-1", 10),
        ack(2, DELIVERED, "u-1", 11), // again: nothing new
        ack(3, DELIVERED, "u-2a", 12),
        ack(4, DELIVERED, "u-2b", 13),
        ack(5, READ, "transcript-entry", 14), // not the user's input
        ack(6, READ, "u-2a", 15),
        ack(7, READ, "u-2b", 16),
        ack(8, READ, "U-1", 17),
    ]);
    assert!(notes.is_empty(), "{notes:?}");
    testing::assert_same_events(
        &got,
        &[
            v0_2::receipt(vec!["m-1".into()], ReceiptStatus::Delivered, Some(10)),
            v0_2::receipt(vec!["m-2".into()], ReceiptStatus::Delivered, Some(13)),
            v0_2::receipt(vec!["m-2".into()], ReceiptStatus::Read, Some(16)),
            v0_2::receipt(vec!["m-1".into()], ReceiptStatus::Read, Some(17)),
        ],
    );
    assert!(st.pending.is_empty(), "read messages are forgotten");
    // The end user's own acknowledgements (of agent messages) are not receipts.
    st.pending = vec![sent("u-3", "m-3")];
    let mut own = ack(9, READ, "u-3", 18);
    own.data = own
        .data
        .replace("\"role\":\"Agent\"", "\"role\":\"EndUser\"");
    let (got, _) = st.apply(&[own]);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn choices_and_links_become_actions() {
    let mut st = state();
    let choices = frame(
        1,
        "CONVERSATION_MESSAGE",
        "Agent",
        json!({"entryType": "Message", "abstractMessage": {"messageType": "ChoicesMessage", "id": "x",
        "choices": {"formatType": "QuickReplies", "text": "Pick one", "optionItems": [
            {"itemType": "TitleOptionItem", "optionIdentifier": "opt-yes", "titleItem": {"itemType": "TitleItem", "title": "Yes"}},
            {"itemType": "TitleOptionItem", "optionIdentifier": "opt-no", "titleItem": {"itemType": "TitleItem", "title": "No"}},
            {"itemType": "TitleOptionItem", "optionIdentifier": "untitled"},
        ]}}}),
    );
    let link = frame(
        2,
        "CONVERSATION_MESSAGE",
        "Agent",
        json!({"entryType": "Message", "abstractMessage": {"messageType": "StaticContentMessage",
            "staticContent": {"formatType": "RichLink", "linkItem": {"url": "https://example.com/track",
                "titleItem": {"title": "Track it"}}}}}),
    );
    let (got, notes) = st.apply(&[choices, link]);
    assert!(notes.is_empty(), "{notes:?}");
    testing::assert_same_events(
        &got,
        &[
            v0_2::rich_message(
                Some(alex()),
                "Pick one",
                vec![],
                vec![
                    v0_2::quick_reply("Yes", "opt-yes"),
                    v0_2::quick_reply("No", "opt-no"),
                ],
            ),
            v0_2::rich_message(
                Some(alex()),
                "",
                vec![],
                vec![v0_2::link("Track it", "https://example.com/track")],
            ),
        ],
    );
    assert_eq!(st.offered.len(), 2);
    assert_eq!(
        (st.offered[0].payload.as_str(), st.offered[0].title.as_str()),
        ("opt-yes", "Yes")
    );
}

#[test]
fn the_messaging_session_is_reported_once_as_the_provider_reference() {
    let mut st = state();
    let with_record = |id: u32, record: Value| {
        let mut f = text(id, "Agent", "hi");
        let mut data: Value = serde_json::from_str(&f.data).unwrap();
        data["conversationEntry"]["relatedRecords"] = record;
        f.data = data.to_string();
        f
    };
    let (got, _) = st.apply(&[
        with_record(1, json!(["0MwSIM000000001AAA"])),
        with_record(2, json!(["0MwSIM000000001AAA"])),
        with_record(3, json!(["001SIM000000001AAA"])), // an account, not the session
    ]);
    let message = || events::agent_message(Some(alex()), "hi", vec![]);
    testing::assert_same_events(
        &got,
        &[
            v0_2::provider_reference("messaging_session", "0MwSIM000000001AAA", None),
            message(),
            message(),
            message(),
        ],
    );
    assert_eq!(st.session_record, "0MwSIM000000001AAA");
}

#[test]
fn typing_is_a_conversation_entry() {
    let id = ids::entry_id("h-1", 0);
    assert_eq!(
        serde_json::to_value(wire::NewEntry::typing(true, &id)).unwrap(),
        json!({"entryType": "TypingStartedIndicator", "id": id})
    );
    assert_eq!(
        serde_json::to_value(wire::NewEntry::typing(false, &id)).unwrap()["entryType"],
        "TypingStoppedIndicator"
    );
}
