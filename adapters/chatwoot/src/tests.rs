//! Native unit tests of what needs no I/O: describe, settings, request
//! bodies, transcript notes, webhook routing and the webhook events that
//! do not fetch messages. (`cargo test -p adapter-chatwoot`.)

use crate::{Chatwoot, settings::Settings, wire};
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, Author, CallContext, Conversation, EndpointSettings, Event, FailureReason,
    HttpRequest, KeyValue,
};
use serde_json::{Value, json};

const SETTINGS: &str = r#"{"base_url":"http://127.0.0.1:9/","account_id":1,"inbox_id":7}"#;

fn ctx() -> CallContext {
    testing::ctx(SETTINGS)
}

fn hook(body: Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/webhooks/cw".into(),
        headers: vec![KeyValue::new("X-Chatwoot-Delivery", "d-1")],
        body: body.to_string().into_bytes(),
    }
}

fn conversation() -> Conversation {
    Conversation {
        user_profile: vec![
            KeyValue::new("first_name", "Ann"),
            KeyValue::new("last_name", "Lee"),
            KeyValue::new("email", "ann@example.com"),
            KeyValue::new("phone", "0123"),
            KeyValue::new("plan", "gold"),
        ],
        transcript: vec![
            testing::entry(Author::User, "help", 1),
            testing::entry(Author::Bot, "b".repeat(250), 2),
        ],
        routing: testing::routing(&["billing"], Some("en"), Some(3), None, &[("tier", "gold")]),
        ..testing::conversation()
    }
}

fn state(extra: Value) -> Vec<u8> {
    let base = json!({"conversation_id": 5});
    testing::patched(&base, &extra).into_bytes()
}

fn handle(st: Vec<u8>, body: Value) -> (Value, Vec<Event>) {
    testing::state_and_events(Chatwoot::handle_webhook(ctx(), st, hook(body)).unwrap())
}

fn assignee(id: u64, name: &str) -> Value {
    json!({"id": id, "name": name, "available_name": name, "type": "user"})
}

fn updated(assignee: Value, at: f64) -> Value {
    json!({"event": "conversation_updated", "id": 5, "inbox_id": 7, "status": "open",
           "updated_at": at, "meta": {"assignee": assignee, "team": null}})
}

#[test]
fn describe_is_static_and_complete() {
    let (info, schema) = testing::described::<Chatwoot>("chatwoot");
    let sig = info.webhook_signature.unwrap();
    assert_eq!(sig.header, "X-Chatwoot-Signature");
    assert_eq!(sig.prefix.as_deref(), Some("sha256="));
    assert_eq!(
        sig.timestamp_header.as_deref(),
        Some("X-Chatwoot-Timestamp")
    );
    assert_eq!(
        sig.delivery_id_header.as_deref(),
        Some("X-Chatwoot-Delivery")
    );
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .contains("Cognigy Live Agent")
    );
    assert!(info.capabilities.bot_side_close && info.capabilities.transcript);
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_rejected::<Chatwoot, _>([
        (r#"{"base_url":"http://x","inbox_id":1}"#, "`account_id`"),
        (
            r#"{"base_url":"x","account_id":1,"inbox_id":1}"#,
            "`base_url`",
        ),
        (
            r#"{"base_url":"http://x","account_id":"1","inbox_id":1}"#,
            "`account_id`",
        ),
        (
            r#"{"base_url":"http://x","account_id":1,"inbox_id":0}"#,
            "`inbox_id`",
        ),
        (
            r#"{"base_url":"http://x","account_id":1,"inbox_id":1,"transcript_chunk":5}"#,
            "`transcript_chunk`",
        ),
        (
            r#"{"base_url":"http://x","account_id":1,"inbox_id":1,"channels":[]}"#,
            "`channels`",
        ),
        (
            r#"{"base_url":"http://x","account_id":1,"inbox_id":1,"channels":["sms",""]}"#,
            "`channels[1]`",
        ),
        (
            r#"{"base_url":"http://x","account_id":1,"inbox_id":1,"token":"t"}"#,
            "unknown field `token`",
        ),
    ]);
    Chatwoot::validate_settings(SETTINGS.into()).unwrap();
    let s = Settings::parse(SETTINGS).unwrap();
    assert_eq!(s.url("teams"), "http://127.0.0.1:9/api/v1/accounts/1/teams");
    let unsupported = s.check_channel("fax").unwrap_err();
    assert_eq!(unsupported.reason, FailureReason::Unsupported);
}

#[test]
fn contact_and_conversation_bodies() {
    let c = conversation();
    let contact = serde_json::to_value(wire::NewContact::new(7, &c)).unwrap();
    assert_eq!(
        contact,
        json!({"inbox_id": 7, "name": "Ann Lee", "identifier": "u-1", "email": "ann@example.com",
               "additional_attributes": {"plan": "gold"}}),
        "a phone that is not E.164 is left out"
    );
    let s = Settings::parse(SETTINGS).unwrap();
    let r = wire::ContactRef {
        id: 3,
        source_id: "src".into(),
    };
    let conv = serde_json::to_value(wire::NewConversation::new(&s, &c, &r, Some(2))).unwrap();
    assert_eq!(conv["source_id"], "src");
    assert_eq!(conv["team_id"], 2);
    assert!(conv.get("assignee_id").is_none());
    assert_eq!(conv["custom_attributes"], json!({"tier": "gold"}));
    assert_eq!(conv["additional_attributes"]["handover_id"], "h-1");
    assert_eq!(conv["additional_attributes"]["language"], "en");
    assert_eq!(wire::priority(3), "high");
    assert_eq!(wire::priority(9), "urgent");
}

#[test]
fn created_contact_in_both_shapes() {
    let view: wire::CreatedContact = serde_json::from_value(json!({"payload": {
        "contact": {"id": 4, "identifier": "u-1", "contact_inboxes": []},
        "contact_inbox": {"source_id": "abc", "inbox": {"id": 7}}}}))
    .unwrap();
    let r = view.into_ref(7).unwrap();
    assert_eq!((r.id, r.source_id.as_str()), (4, "abc"));
    let spec: wire::CreatedContact = serde_json::from_value(json!({"payload": [
        {"id": 4, "contact_inboxes": [{"source_id": "x", "inbox": {"id": 8}}, {"source_id": "y", "inbox": {"id": 7}}]}]}))
    .unwrap();
    assert_eq!(spec.into_ref(7).unwrap().source_id, "y");
}

#[test]
fn transcript_notes_respect_the_limit() {
    let notes = wire::transcript_notes(&conversation(), 100);
    assert!(notes.iter().all(|n| n.chars().count() <= 100), "{notes:?}");
    assert!(notes[0].starts_with("Conversation with the bot before the handover:\nUser: help"));
    let bot: String = notes
        .iter()
        .flat_map(|n| n.lines())
        .filter_map(|l| l.strip_prefix("Bot: "))
        .collect();
    assert_eq!(bot, "b".repeat(250), "nothing is lost when splitting");
    let mut empty = conversation();
    empty.transcript.clear();
    assert!(wire::transcript_notes(&empty, 100).is_empty());
}

#[test]
fn routing_finds_the_conversation_and_delivery_id() {
    let route = |body: Value| Chatwoot::route_webhook(SETTINGS.into(), hook(body)).unwrap();
    let r = route(
        json!({"event": "message_created", "id": 9, "message_type": "outgoing",
                         "inbox": {"id": 7}, "conversation": {"id": 5, "inbox_id": 7}}),
    );
    assert_eq!(r.correlation_keys, ["chatwoot:1:5"]);
    assert_eq!(r.delivery_id.as_deref(), Some("d-1"));
    assert_eq!(r.response.status, 200);
    let r = route(
        json!({"event": "conversation_status_changed", "id": 5, "inbox_id": 7, "status": "resolved"}),
    );
    assert_eq!(r.correlation_keys, ["chatwoot:1:5"]);
    let other_inbox = route(json!({"event": "conversation_updated", "id": 5, "inbox_id": 8}));
    assert!(other_inbox.correlation_keys.is_empty());
    let contact = route(json!({"event": "contact_created", "id": 5}));
    assert!(contact.correlation_keys.is_empty());
    // Without the header (older, unsigned Chatwoot) the id is derived.
    let mut unsigned =
        hook(json!({"event": "message_created", "id": 9, "conversation": {"id": 5}}));
    unsigned.headers.clear();
    let r = Chatwoot::route_webhook(SETTINGS.into(), unsigned).unwrap();
    assert_eq!(r.delivery_id.as_deref(), Some("message_created:9"));
    assert!(
        Chatwoot::route_webhook(
            SETTINGS.into(),
            HttpRequest {
                body: b"{".to_vec(),
                ..hook(json!({}))
            }
        )
        .is_err()
    );
}

#[test]
fn assignment_changes_become_agent_events() {
    let (st, ev) = handle(state(json!({})), updated(assignee(11, "Alex"), 10.0));
    assert!(
        matches!(&ev[..], [Event::AgentJoined(a)] if a.id == "11" && a.name == "Alex"),
        "{ev:?}"
    );
    let st = st.to_string().into_bytes();
    // The same assignee again (e.g. a label change): nothing.
    let (_, ev) = handle(st.clone(), updated(assignee(11, "Alex"), 11.0));
    assert!(ev.is_empty());
    // An older snapshot arriving late is ignored.
    let (_, ev) = handle(st.clone(), updated(Value::Null, 9.0));
    assert!(ev.is_empty(), "{ev:?}");
    let (st2, ev) = handle(st.clone(), updated(assignee(12, "Bea"), 12.0));
    assert!(
        matches!(&ev[..], [Event::Transferred(t)] if t.to_agent.as_ref().unwrap().name == "Bea")
    );
    let (_, ev) = handle(st2.to_string().into_bytes(), updated(Value::Null, 13.0));
    assert!(matches!(&ev[..], [Event::AgentLeft(a)] if a.name == "Bea"));
}

#[test]
fn team_change_is_a_transfer() {
    let mut body = updated(Value::Null, 10.0);
    body["meta"]["team"] = json!({"id": 2, "name": "billing"});
    let (_, ev) = handle(state(json!({"team_id": 1})), body);
    assert!(matches!(&ev[..], [Event::Transferred(t)] if t.to_queue.as_deref() == Some("billing")));
}

#[test]
fn typing_and_ignored_messages() {
    let typing = json!({"event": "conversation_typing_on", "conversation": {"id": 5},
                        "user": {"id": 11, "type": "user"}, "is_private": false});
    let (_, ev) = handle(state(json!({})), typing);
    assert!(matches!(&ev[..], [Event::AgentTyping(true)]));
    let private = json!({"event": "conversation_typing_off", "conversation": {"id": 5},
                         "user": {"id": 11, "type": "user"}, "is_private": true});
    assert!(handle(state(json!({})), private).1.is_empty());
    // Incoming messages and private notes never fetch or report anything.
    for (kind, private) in [("incoming", false), ("outgoing", true)] {
        let msg = json!({"event": "message_created", "id": 30, "message_type": kind, "private": private,
                         "content": "x", "conversation": {"id": 5}});
        assert!(handle(state(json!({})), msg).1.is_empty());
    }
    // A reply already seen is not fetched again.
    let seen = json!({"event": "message_created", "id": 30, "message_type": "outgoing", "private": false,
                      "conversation": {"id": 5}});
    assert!(
        handle(state(json!({"last_message_id": 30})), seen)
            .1
            .is_empty()
    );
}

#[test]
fn after_the_bot_closed_webhooks_change_nothing() {
    let closed = state(json!({"closed": true}));
    let step =
        Chatwoot::handle_webhook(ctx(), closed.clone(), hook(updated(assignee(1, "A"), 5.0)))
            .unwrap();
    assert!(step.events.is_empty());
    assert_eq!(step.state, closed);
    let wrong = json!({"event": "conversation_updated", "id": 6, "meta": {}});
    assert!(Chatwoot::handle_webhook(ctx(), state(json!({})), hook(wrong)).is_err());
}

// ---- contract 0.2.0 ----

#[test]
fn describe_declares_permissions_routing_and_capabilities() {
    use handover_adapter_sdk::v0_2::Locator;
    let (info, schema) = testing::described::<Chatwoot>("chatwoot");
    assert_eq!(info.permissions.egress, ["{base_url}"]);
    assert_eq!(info.permissions.secrets, ["chatwoot_token"]);
    let routing = info.webhook_routing.unwrap();
    assert!(matches!(&routing.correlation_key, Locator::JsonPointer(p) if p == "/conversation/id"));
    assert_eq!(routing.key_prefix, "chatwoot:conversation:");
    assert!(matches!(&routing.delivery_id, Some(Locator::Header(h)) if h == "X-Chatwoot-Delivery"));
    let c = info.capabilities;
    assert!(c.receipts && c.user_typing && c.rich_messages);
    assert!(!c.hand_back && !c.wrap_up && !c.queue_position);
    assert!(schema["properties"]["inbox_identifier"].is_object());
}

#[test]
fn inbox_identifier_and_the_public_api_url() {
    let with = r#"{"base_url":"http://cw","account_id":1,"inbox_id":7,"inbox_identifier":"abc/1"}"#;
    let s = Settings::parse(with).unwrap();
    assert_eq!(
        s.public_conversation_url("src 1", 5, "toggle_typing")
            .as_deref(),
        Some(
            "http://cw/public/api/v1/inboxes/abc%2F1/contacts/src%201/conversations/5/toggle_typing"
        )
    );
    assert!(
        Settings::parse(SETTINGS)
            .unwrap()
            .public_conversation_url("s", 5, "x")
            .is_none()
    );
    testing::assert_each_rejected::<Chatwoot, _>([(
        r#"{"base_url":"http://x","account_id":1,"inbox_id":1,"inbox_identifier":" "}"#,
        "`inbox_identifier`",
    )]);
}

#[test]
fn typing_without_what_the_public_api_needs_is_unsupported() {
    // No contact source id (a handover older than 0.2.0).
    let old = Chatwoot::user_typing(ctx(), state(json!({})), true).unwrap_err();
    assert_eq!(old.reason, FailureReason::Unsupported);
    // No `inbox_identifier` in the settings.
    let st = state(json!({"source_id": "src"}));
    let none = Chatwoot::user_typing(ctx(), st, true).unwrap_err();
    assert_eq!(none.reason, FailureReason::Unsupported);
    assert!(
        none.message.contains("inbox_identifier"),
        "{}",
        none.message
    );
}

fn message(content_type: &str, attributes: Value) -> wire::Message {
    serde_json::from_value(json!({"id": 1, "message_type": 1, "content": "Pick",
        "content_type": content_type, "content_attributes": attributes}))
    .unwrap()
}

/// Actions as (kind, title, payload or url).
fn actions(m: &wire::Message) -> Vec<(&'static str, String, String)> {
    use handover_adapter_sdk::v0_2::Action;
    m.actions()
        .into_iter()
        .map(|a| match a {
            Action::QuickReply(q) => ("quick_reply", q.title, q.payload),
            Action::Link(l) => ("link", l.title, l.url),
        })
        .collect()
}

fn act(kind: &'static str, title: &str, to: &str) -> (&'static str, String, String) {
    (kind, title.into(), to.into())
}

#[test]
fn interactive_messages_become_actions() {
    let options = message(
        "input_select",
        json!({"items": [{"title": "Yes please", "value": "yes"}, {"title": "No", "value": "no"}]}),
    );
    assert_eq!(
        actions(&options),
        [
            act("quick_reply", "Yes please", "yes"),
            act("quick_reply", "No", "no")
        ]
    );
    let cards = message(
        "cards",
        json!({"items": [{"title": "Shoes", "description": "Run", "media_url": "https://x/y.png",
        "actions": [{"type": "link", "text": "View more", "uri": "https://shop.example.com/1"},
                    {"type": "postback", "text": "Add to cart", "payload": "ITEM_1"}]}]}),
    );
    assert_eq!(
        actions(&cards),
        [
            act("link", "View more", "https://shop.example.com/1"),
            act("quick_reply", "Add to cart", "ITEM_1")
        ]
    );
    let articles = message(
        "article",
        json!({"items": [{"title": "Guide", "description": "d", "link": "https://docs.example.com"}]}),
    );
    assert_eq!(
        actions(&articles),
        [act("link", "Guide", "https://docs.example.com")]
    );
    assert!(message("text", json!({})).actions().is_empty());
    assert!(
        message("form", json!({"items": [{"name": "email"}]}))
            .actions()
            .is_empty()
    );
}

#[test]
fn updates_of_other_messages_fetch_nothing() {
    // An outgoing message's update, or one of a message not awaited, needs
    // no status read (no I/O here: the settings' base URL is unreachable).
    let st = state(json!({"sent": [{"id": 40, "host": "m-1"}], "routed": true}));
    for (id, kind) in [(40, "outgoing"), (41, "incoming")] {
        let body = json!({"event": "message_updated", "id": id, "message_type": kind,
                          "conversation": {"id": 5}});
        let (after, ev) = handle(st.clone(), body);
        assert!(ev.is_empty());
        assert_eq!(after["sent"][0]["host"], "m-1");
    }
}

#[test]
fn a_handover_older_than_routing_gets_its_routed_key_once() {
    let typing = json!({"event": "conversation_typing_on", "conversation": {"id": 5},
                        "user": {"id": 11, "type": "user"}, "is_private": false});
    let step = Chatwoot::handle_webhook(ctx(), state(json!({})), hook(typing.clone())).unwrap();
    assert_eq!(step.correlation_keys, ["chatwoot:conversation:5"]);
    let again = Chatwoot::handle_webhook(ctx(), step.state, hook(typing)).unwrap();
    assert!(again.correlation_keys.is_empty());
}

#[test]
fn the_agents_last_view_reads_the_messages_before_it() {
    let sent = json!([
        {"id": 40, "host": "m-1", "at": 100},
        {"id": 41, "host": "m-2", "at": 100}, {"id": 42, "host": "m-2", "at": 120},
        {"id": 43, "host": "m-3", "at": 130}
    ]);
    let st = state(json!({"sent": sent, "routed": true}));
    // A typing webhook's conversation: viewed at 121, after m-1 and both
    // parts of m-2; m-3 came later.
    let typing = |seen: u64| {
        json!({"event": "conversation_typing_on", "user": {"id": 11, "type": "user"},
               "is_private": false, "conversation": {"id": 5, "agent_last_seen_at": seen}})
    };
    let (after, ev) = handle(st, typing(121));
    match &ev[..] {
        [Event::Receipt(r), Event::AgentTyping(true)] => {
            assert_eq!(r.message_ids, ["m-1", "m-2"]);
            assert!(matches!(
                r.status,
                handover_adapter_sdk::v0_2::ReceiptStatus::Read
            ));
            assert_eq!(r.timestamp_ms, Some(121_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(after["sent"].as_array().unwrap().len(), 1);
    // The same second as m-3 is not after it; a conversation event's own
    // `agent_last_seen_at` counts as well.
    let after = after.to_string().into_bytes();
    assert!(
        handle(after.clone(), typing(130))
            .1
            .iter()
            .all(|e| !matches!(e, Event::Receipt(_)))
    );
    let conversation = json!({"event": "conversation_updated", "id": 5, "agent_last_seen_at": 131,
                              "meta": {"assignee": null}});
    let (done, ev) = handle(after, conversation);
    assert!(
        matches!(&ev[..], [Event::Receipt(r)] if r.message_ids == ["m-3"]),
        "{ev:?}"
    );
    assert!(done["sent"].as_array().unwrap().is_empty());
}
