//! Native unit tests of the matrix adapter's pure parts: settings, sync
//! response parsing and mapping, transcript packing and user input text.
//! (`cargo test --manifest-path adapters/Cargo.toml -p adapter-matrix`.)

use crate::provider::{Matrix, intro_text, transcript_messages, user_text};
use crate::sync::{Room, Rules};
use crate::wire::{SyncResponse, SyncRoom, sync_filter};
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, Attachment, Author, Conversation, EndReason, Event, FailureReason, InputKind,
    KeyValue, PollMode, UserInput, events,
};
use serde_json::{Value, json};

const BOT: &str = "@bot:localhost";
const ALICE: &str = "@alice:localhost";
const BOB: &str = "@bob:localhost";
const ROOM: &str = "!r1:localhost";

fn invited() -> Vec<String> {
    vec![ALICE.into(), BOB.into()]
}

fn rules(invited: &[String]) -> Rules<'_> {
    Rules {
        bot: BOT,
        invited,
        close_command: "!close",
    }
}

fn member(user: &str, membership: &str, name: Option<&str>) -> Value {
    let mut content = json!({"membership": membership});
    if let Some(n) = name {
        content["displayname"] = json!(n);
    }
    json!({"type": "m.room.member", "sender": user, "state_key": user,
           "event_id": "$m", "origin_server_ts": 1, "content": content})
}

fn text(sender: &str, body: &str) -> Value {
    json!({"type": "m.room.message", "sender": sender, "event_id": "$t", "origin_server_ts": 2,
           "content": {"msgtype": "m.text", "body": body}})
}

fn typing(users: &[&str]) -> Value {
    json!({"type": "m.typing", "content": {"user_ids": users}})
}

/// A Synapse-shaped incremental `/sync` response for `ROOM`.
fn sync(timeline: Vec<Value>, ephemeral: Vec<Value>) -> SyncResponse {
    let body = json!({
        "next_batch": "s2_1_0",
        "device_one_time_keys_count": {"signed_curve25519": 0},
        "rooms": {"join": {ROOM: {
            "timeline": {"events": timeline, "prev_batch": "s1_1_0", "limited": false},
            "state": {"events": []},
            "ephemeral": {"events": ephemeral},
            "account_data": {"events": []},
            "unread_notifications": {"notification_count": 0, "highlight_count": 0},
            "summary": {}
        }}}
    });
    serde_json::from_value(body).unwrap()
}

/// The bot's view of `ROOM` with [`invited`] agents, fed one `/sync` at a time.
struct Desk {
    room: Room,
    invited: Vec<String>,
}

impl Desk {
    fn new() -> Self {
        Desk {
            room: Room::default(),
            invited: invited(),
        }
    }

    /// Applies one room's part of a `/sync` response.
    fn apply(&mut self, part: &SyncRoom) -> Vec<Event> {
        self.room.apply(&rules(&self.invited), part)
    }

    /// Applies a [`sync`] response with this timeline and ephemeral events.
    fn sync(&mut self, timeline: Vec<Value>, ephemeral: Vec<Value>) -> Vec<Event> {
        self.apply(&sync(timeline, ephemeral).take_room(ROOM))
    }
}

#[test]
fn describe_declares_long_poll_and_no_webhooks() {
    let (info, schema) = testing::described::<Matrix>("matrix");
    assert_eq!(info.polling.mode, PollMode::LongPoll);
    assert_eq!(info.polling.max_wait_ms, 10_000);
    assert!(info.webhook_signature.is_none());
    assert!(info.capabilities.typing && info.capabilities.bot_side_close);
    assert!(info.capabilities.transcript && !info.capabilities.attachments);
    assert_eq!(schema["required"], json!(["base_url", "agents"]));
}

#[test]
fn settings_errors_name_the_field() {
    let ok = json!({"base_url": "http://127.0.0.1:8008/", "agents": [ALICE]});
    assert!(Matrix::validate_settings(ok.to_string()).is_ok());
    let cases = [
        (json!({"agents": [ALICE]}), "missing field `base_url`"),
        (
            json!({"base_url": "ftp://x", "agents": [ALICE]}),
            "`base_url`",
        ),
        (json!({"base_url": "http://h"}), "missing field `agents`"),
        (
            json!({"base_url": "http://h", "agents": []}),
            "`agents`: must list",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE, "bob"]}),
            "`agents[1]`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "close_command": " "}),
            "`close_command`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "transcript_chunk": 50}),
            "`transcript_chunk`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "transcript_chunk": 70000}),
            "`transcript_chunk`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "sync_timeout_ms": 60000}),
            "`sync_timeout_ms`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "channels": []}),
            "`channels`",
        ),
        (
            json!({"base_url": "http://h", "agents": [ALICE], "access_token": "x"}),
            "unknown field `access_token`",
        ),
    ];
    testing::assert_each_rejected::<Matrix, _>(
        cases.map(|(settings, needle)| (settings.to_string(), needle)),
    );
}

#[test]
fn join_message_typing_and_close() {
    let mut room = Desk::new();
    let got = room.sync(
        vec![
            member(BOT, "join", Some("bot")),
            member(ALICE, "invite", None),
            member(ALICE, "join", Some("Alice")),
            text(BOT, "User: hello"),
            text(ALICE, "Hi, I am Alice"),
        ],
        vec![typing(&[ALICE])],
    );
    let alice = events::agent(ALICE, "Alice");
    testing::assert_same_events(
        &got,
        &[
            events::agent_joined(alice.clone()),
            events::agent_message(Some(alice.clone()), "Hi, I am Alice", vec![]),
            events::typing(true),
        ],
    );
    // A repeated join (display name change) and unchanged typing report nothing.
    let got = room.sync(
        vec![member(ALICE, "join", Some("Alice A."))],
        vec![typing(&[ALICE, BOT])],
    );
    assert!(got.is_empty(), "{got:?}");
    // The bot typing alone is not an agent typing.
    let got = room.sync(vec![], vec![typing(&[BOT])]);
    testing::assert_same_events(&got, &[events::typing(false)]);
    // The close command ends the conversation; later events are dropped.
    let got = room.sync(vec![text(ALICE, "  !CLOSE "), text(ALICE, "after")], vec![]);
    testing::assert_same_events(&got, &[events::ended(EndReason::AgentClosed)]);
}

#[test]
fn last_agent_leaving_ends_the_conversation() {
    let mut room = Desk::new();
    let got = room.sync(
        vec![
            member(ALICE, "join", None),
            member(BOB, "join", Some("Bob")),
        ],
        vec![],
    );
    assert_eq!(got.len(), 2);
    let got = room.sync(vec![member(ALICE, "leave", None)], vec![]);
    testing::assert_same_events(&got, &[events::agent_left(events::agent(ALICE, ALICE))]);
    let got = room.sync(vec![member(BOB, "leave", None)], vec![]);
    testing::assert_same_events(
        &got,
        &[
            events::agent_left(events::agent(BOB, "Bob")),
            events::ended(EndReason::AgentLeft),
        ],
    );
}

#[test]
fn every_invited_agent_declining_means_no_agent() {
    let mut room = Desk::new();
    let got = room.sync(vec![member(ALICE, "leave", None)], vec![]);
    assert!(got.is_empty());
    let got = room.sync(vec![member(BOB, "leave", None)], vec![]);
    testing::assert_same_events(&got, &[events::ended(EndReason::NoAgentAvailable)]);
}

#[test]
fn bot_removed_is_provider_closed() {
    let mut room = Desk::new();
    let mut kicked = member(BOT, "leave", None);
    kicked["sender"] = json!(ALICE);
    let got = room.sync(vec![kicked], vec![]);
    testing::assert_same_events(&got, &[events::ended(EndReason::ProviderClosed)]);
}

#[test]
fn message_kinds() {
    let mut room = Desk::new();
    let edit = json!({"type": "m.room.message", "sender": ALICE, "content": {
        "msgtype": "m.text", "body": "* fixed",
        "m.new_content": {"msgtype": "m.text", "body": "fixed"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$t"}}});
    let image = json!({"type": "m.room.message", "sender": ALICE, "content": {
        "msgtype": "m.image", "body": "cat.png", "url": "mxc://localhost/abc"}});
    let emote = json!({"type": "m.room.message", "sender": ALICE,
        "content": {"msgtype": "m.emote", "body": "waves"}});
    let redacted = json!({"type": "m.room.message", "sender": ALICE, "content": {}});
    let got = room.sync(vec![edit, image, emote, redacted], vec![]);
    let texts: Vec<&str> = got
        .iter()
        .map(|e| match e {
            Event::AgentMessage(m) => m.text.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts[0], "(edited) fixed");
    assert!(
        texts[1].contains("image") && texts[1].contains("cat.png"),
        "{}",
        texts[1]
    );
    assert_eq!(texts[2], format!("* {ALICE} waves"));
    assert_eq!(texts.len(), 3);
}

#[test]
fn initial_sync_state_and_left_rooms() {
    // An initial sync lists current membership in `state`; a room the bot
    // was removed from comes under `leave`.
    let mut room = Desk::new();
    let body = json!({"next_batch": "s9", "rooms": {
        "join": {ROOM: {"state": {"events": [member(BOT, "join", None), member(ALICE, "join", Some("Alice"))]},
                        "timeline": {"events": [member(ALICE, "join", Some("Alice"))], "limited": true, "prev_batch": "p"}}},
        "leave": {"!other:localhost": {"timeline": {"events": []}}}
    }});
    let mut response: SyncResponse = serde_json::from_value(body).unwrap();
    assert_eq!(response.next_batch, "s9");
    let part = response.take_room(ROOM);
    assert!(part.timeline.limited);
    let got = room.apply(&part);
    testing::assert_same_events(&got, &[events::agent_joined(events::agent(ALICE, "Alice"))]);
    // An empty response (long poll timed out) is fine.
    let mut empty: SyncResponse = serde_json::from_value(json!({"next_batch": "s10"})).unwrap();
    assert!(room.apply(&empty.take_room(ROOM)).is_empty());
    // Left rooms are found too.
    let body = json!({"next_batch": "s11", "rooms": {"leave": {ROOM: {
        "timeline": {"events": [member(BOT, "leave", None)]}}}}});
    let mut response: SyncResponse = serde_json::from_value(body).unwrap();
    let got = room.apply(&response.take_room(ROOM));
    testing::assert_same_events(&got, &[events::ended(EndReason::ProviderClosed)]);
}

#[test]
fn room_state_round_trips() {
    let mut room = Desk::new();
    room.sync(
        vec![member(ALICE, "join", Some("Alice"))],
        vec![typing(&[ALICE])],
    );
    let saved = serde_json::to_string(&room.room).unwrap();
    let loaded: Room = serde_json::from_str(&saved).unwrap();
    assert_eq!(loaded, room.room);
}

#[test]
fn sync_filter_is_room_only() {
    let filter: Value = serde_json::from_str(&sync_filter(ROOM, 100)).unwrap();
    assert_eq!(filter["room"]["rooms"], json!([ROOM]));
    assert_eq!(filter["room"]["ephemeral"]["types"], json!(["m.typing"]));
    assert_eq!(filter["presence"]["not_types"], json!(["*"]));
}

fn conversation(transcript: Vec<(Author, &str)>) -> Conversation {
    Conversation {
        user_profile: vec![KeyValue::new("name", "Ann")],
        transcript: transcript
            .into_iter()
            .map(|(author, text)| testing::entry(author, text, 1))
            .collect(),
        routing: testing::routing(
            &["billing"],
            Some("en"),
            Some(5),
            Some("support"),
            &[("tier", "gold")],
        ),
        ..testing::conversation()
    }
}

#[test]
fn transcript_is_packed_and_chunked() {
    let long = "x".repeat(250);
    let c = conversation(vec![
        (Author::User, "hello"),
        (Author::User, "anyone?"),
        (Author::Bot, "Let me get an agent."),
        (Author::User, &long),
    ]);
    let messages = transcript_messages(&c, 100);
    let shown: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m.msgtype, m.body.as_str()))
        .collect();
    assert_eq!(shown[0], ("m.text", "User: hello\nUser: anyone?"));
    assert_eq!(shown[1], ("m.notice", "Bot: Let me get an agent."));
    assert!(
        shown[2..]
            .iter()
            .all(|(t, b)| *t == "m.text" && b.chars().count() <= 100)
    );
    let rebuilt: String = shown[2..]
        .iter()
        .map(|(_, b)| b.trim_start_matches("User: ").replace('\n', ""))
        .collect::<Vec<_>>()
        .join("")
        .replace("User: ", "");
    assert_eq!(rebuilt, long);
    assert!(transcript_messages(&conversation(vec![]), 100).is_empty());
}

#[test]
fn intro_names_user_routing_and_close_command() {
    let text = intro_text(&conversation(vec![(Author::User, "hi")]), "!close");
    assert!(
        text.contains("Handover h-1: Ann (webchat, en-US)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Routing: skills billing · language en · priority 5 · queue support · tier=gold"
        ),
        "{text}"
    );
    assert!(text.contains("Send !close"), "{text}");
}

#[test]
fn user_input_text() {
    let input = UserInput {
        kind: InputKind::Intent,
        text: "cancel_handover".into(),
        attachments: vec![Attachment {
            url: "https://files.example/a.png".into(),
            content_type: "image/png".into(),
            name: Some("a.png".into()),
        }],
    };
    assert_eq!(
        user_text(&input),
        "[intent] cancel_handover\n[a.png (image/png)] https://files.example/a.png"
    );
}

#[test]
fn calls_without_a_room_fail_cleanly() {
    let settings = json!({"base_url": "http://127.0.0.1:9", "agents": [ALICE]}).to_string();
    let ctx = testing::ctx(&settings);
    let failure = Matrix::poll(ctx, Vec::new()).unwrap_err();
    assert_eq!(failure.reason, FailureReason::Error);
    assert!(
        failure.message.contains("no Matrix room"),
        "{}",
        failure.message
    );
}
