//! Native unit tests of what needs no I/O: describe, settings, identity,
//! request bodies, webhook routing and the webhook events that do not
//! fetch messages. (`cargo test -p adapter-sunshine-conversations`.)

use crate::{Sunshine, settings::Settings, wire};
use handover_adapter_sdk::testing;
use handover_adapter_sdk::{
    Adapter, Attachment, Author, CallContext, Conversation, EndReason, EndpointSettings, Event,
    FailureReason, HttpRequest, KeyValue, SignatureAlgorithm,
};
use serde_json::{Value, json};

const SETTINGS: &str = r#"{"base_url":"http://127.0.0.1:9","app_id":"app1",
    "switchboard_integration":"zd-agentWorkspace","bot_switchboard_integration":"bot"}"#;

fn ctx() -> CallContext {
    testing::ctx(SETTINGS)
}

fn conversation(context: &str) -> Conversation {
    Conversation {
        session_id: "sess-1".into(),
        transcript: vec![
            testing::entry(Author::User, "help", 1),
            testing::entry(Author::Bot, "x".repeat(10), 2),
        ],
        routing: testing::routing(
            &["billing", "vip"],
            Some("en"),
            Some(2),
            Some("tier2"),
            &[("dataCapture.ticket.field.42", "gold")],
        ),
        context: context.into(),
        ..testing::conversation()
    }
}

fn body(events: Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/webhooks/sc".into(),
        headers: vec![],
        body: json!({"app": {"id": "app1"}, "webhook": {"id": "w", "version": "v2"}, "events": events})
            .to_string()
            .into_bytes(),
    }
}

fn event(id: &str, kind: &str, payload: Value) -> Value {
    json!({"id": id, "type": kind, "createdAt": "2020-09-30T15:14:29.834Z", "payload": payload})
}

fn conv(active: Option<(&str, &str)>) -> Value {
    match active {
        Some((name, kind)) => json!({"id": "c1", "type": "personal",
            "activeSwitchboardIntegration": {"id": format!("si-{name}"), "name": name, "integrationType": kind}}),
        None => json!({"id": "c1", "type": "personal"}),
    }
}

fn state(extra: Value) -> Vec<u8> {
    let base =
        json!({"conversation_id": "c1", "author": {"userExternalId": "u-1"}, "cursor": "m9"});
    testing::patched(&base, &extra).into_bytes()
}

fn handle(st: Vec<u8>, events: Value) -> (Value, Vec<Event>) {
    testing::state_and_events(Sunshine::handle_webhook(ctx(), st, body(events)).unwrap())
}

#[test]
fn describe_declares_the_shared_secret() {
    let (info, _) = testing::described::<Sunshine>("sunshine-conversations");
    let sig = info.webhook_signature.unwrap();
    assert_eq!(sig.algorithm, SignatureAlgorithm::SharedSecret);
    assert_eq!(sig.header, "X-API-Key");
    assert!(!info.capabilities.availability_check && info.capabilities.bot_side_close);
}

#[test]
fn settings_errors_name_the_field() {
    testing::assert_each_rejected::<Sunshine, _>([
        (
            r#"{"base_url":"http://x","app_id":"a"}"#,
            "`switchboard_integration`",
        ),
        (
            r#"{"base_url":"ftp://x","app_id":"a","switchboard_integration":"z"}"#,
            "`base_url`",
        ),
        (
            r#"{"base_url":"http://x","app_id":" ","switchboard_integration":"z"}"#,
            "`app_id`",
        ),
        (
            r#"{"base_url":"http://x","app_id":"a","switchboard_integration":"z","transcript_chunk":5000}"#,
            "`transcript_chunk`",
        ),
        (
            r#"{"base_url":"http://x","app_id":"a","switchboard_integration":"z","key_secret":"s"}"#,
            "unknown field `key_secret`",
        ),
    ]);
    Sunshine::validate_settings(SETTINGS.into()).unwrap();
    let s = Settings::parse(SETTINGS).unwrap();
    assert_eq!(
        s.url("c 1", "messages"),
        "http://127.0.0.1:9/v2/apps/app1/conversations/c%201/messages"
    );
    assert_eq!(
        s.check_channel("fax").unwrap_err().reason,
        FailureReason::Unsupported
    );
}

#[test]
fn conversation_and_user_come_from_context_or_session() {
    let (id, author) = wire::identify(&conversation(
        r#"{"sunshine_conversation_id":"c9","sunshine_user_id":"su"}"#,
    ))
    .unwrap();
    assert_eq!(id, "c9");
    assert_eq!(author.user_id.as_deref(), Some("su"));
    let (id, author) = wire::identify(&conversation("{}")).unwrap();
    assert_eq!(id, "sess-1");
    assert_eq!(author.user_external_id.as_deref(), Some("u-1"));
    let mut none = conversation("not json");
    none.session_id.clear();
    assert!(
        wire::identify(&none)
            .unwrap_err()
            .message
            .contains("sunshine_conversation_id")
    );
}

#[test]
fn request_bodies() {
    let c = conversation("{}");
    let meta = wire::routing_metadata(&c).unwrap();
    assert_eq!(meta["skills"], "billing,vip");
    assert_eq!(meta["priority"], 2);
    assert_eq!(meta["queue"], "tier2");
    assert_eq!(meta["dataCapture.ticket.field.42"], "gold");
    assert!(
        meta.values().all(|v| !v.is_object() && !v.is_array()),
        "metadata is flat"
    );
    let mut big = conversation("{}");
    big.routing.custom = vec![KeyValue::new("k", "v".repeat(5000))];
    assert!(
        wire::routing_metadata(&big)
            .unwrap_err()
            .message
            .contains("4096")
    );

    let s = Settings::parse(r#"{"base_url":"http://x","app_id":"a","switchboard_integration":"z","transcript_chunk":4,"bot_name":"Max"}"#).unwrap();
    let author = wire::UserAuthor {
        user_id: None,
        user_external_id: Some("u-1".into()),
    };
    let posts = wire::transcript_posts(&s, &c, &author);
    assert_eq!(posts.len(), 1 + 3, "the bot line splits into 4+4+2");
    assert_eq!(
        posts[0]["author"],
        json!({"type": "user", "userExternalId": "u-1"})
    );
    assert_eq!(
        posts[1]["author"],
        json!({"type": "business", "displayName": "Max"})
    );
    assert_eq!(posts[1]["metadata"]["handover_transcript"], true);

    let attachments = [
        Attachment {
            url: "https://e/a.png".into(),
            content_type: "image/png".into(),
            name: None,
        },
        Attachment {
            url: "https://e/a.pdf".into(),
            content_type: "application/pdf".into(),
            name: Some("a.pdf".into()),
        },
    ];
    let contents = wire::user_contents("", &attachments, false);
    assert_eq!(
        contents,
        [
            json!({"type": "image", "mediaUrl": "https://e/a.png"}),
            json!({"type": "file", "mediaUrl": "https://e/a.pdf", "altText": "a.pdf"}),
        ]
    );
    assert_eq!(wire::user_contents(&"y".repeat(5000), &[], false).len(), 2);
}

#[test]
fn routing_collects_conversations_and_event_ids() {
    let route = |req| Sunshine::route_webhook(SETTINGS.into(), req).unwrap();
    let r = route(body(json!([
        event(
            "e1",
            "conversation:message",
            json!({"conversation": {"id": "c1"}})
        ),
        event(
            "e2",
            "conversation:typing",
            json!({"conversation": {"id": "c2"}})
        ),
        event(
            "e3",
            "conversation:message",
            json!({"conversation": {"id": "c1"}})
        ),
    ])));
    assert_eq!(r.correlation_keys, ["sunshine:app1:c1", "sunshine:app1:c2"]);
    assert_eq!(r.delivery_id.as_deref(), Some("e1,e2,e3"));
    let mut other = body(json!([event(
        "e1",
        "conversation:message",
        json!({"conversation": {"id": "c1"}})
    )]));
    other.body = String::from_utf8(other.body)
        .unwrap()
        .replace("app1", "app2")
        .into_bytes();
    assert!(route(other).correlation_keys.is_empty());
}

#[test]
fn switchboard_events() {
    // Our own passControl to the agent workspace: nothing.
    let own = event(
        "e1",
        "switchboard:passControl",
        json!({"conversation": conv(Some(("zd-agentWorkspace", "zd:agentWorkspace")))}),
    );
    assert!(handle(state(json!({})), json!([own])).1.is_empty());
    // The agent accepts: joined, once.
    let accept = event(
        "e2",
        "switchboard:acceptControl",
        json!({"conversation": conv(Some(("zd-agentWorkspace", "zd:agentWorkspace"))), "metadata": {"agentName": "Alex"}}),
    );
    let (st, ev) = handle(state(json!({})), json!([accept.clone()]));
    assert!(
        matches!(&ev[..], [Event::AgentJoined(a)] if a.name == "Alex"),
        "{ev:?}"
    );
    // The same event again (another payload) is dropped.
    let (_, ev) = handle(st.to_string().into_bytes(), json!([accept]));
    assert!(ev.is_empty());
    // Control to a third integration: a transfer.
    let third = event(
        "e3",
        "switchboard:passControl",
        json!({"conversation": conv(Some(("tier2", "custom")))}),
    );
    let (_, ev) = handle(st.to_string().into_bytes(), json!([third]));
    assert!(matches!(&ev[..], [Event::Transferred(t)] if t.to_queue.as_deref() == Some("tier2")));
    // Typing from the business side only.
    let typing = |who: &str, kind: &str| {
        event(
            &format!("t-{who}-{kind}"),
            "conversation:typing",
            json!({"conversation": conv(None), "activity": {"type": kind, "author": {"type": who}}}),
        )
    };
    let (_, ev) = handle(
        state(json!({})),
        json!([
            typing("business", "typing:start"),
            typing("user", "typing:start"),
            typing("business", "typing:stop")
        ]),
    );
    assert!(
        matches!(
            &ev[..],
            [Event::AgentTyping(true), Event::AgentTyping(false)]
        ),
        "{ev:?}"
    );
    // User messages and the adapter's own transcript lines never fetch.
    let user = event(
        "e4",
        "conversation:message",
        json!({"conversation": conv(None),
        "message": {"id": "m10", "author": {"type": "user", "userId": "x"}, "content": {"type": "text", "text": "hi"}}}),
    );
    let ours = event(
        "e5",
        "conversation:message",
        json!({"conversation": conv(None),
        "message": {"id": "m11", "author": {"type": "business"}, "content": {"type": "text", "text": "t"},
                    "metadata": {"handover_transcript": true}}}),
    );
    let activity = event(
        "e6",
        "conversation:message",
        json!({"conversation": conv(None),
        "message": {"id": "m12", "author": {"type": "business", "subtypes": ["activity"]}, "content": {"type": "text", "text": "closed"}}}),
    );
    assert!(
        handle(state(json!({})), json!([user, ours, activity]))
            .1
            .is_empty()
    );
    // Other conversations' events are skipped.
    let elsewhere = event(
        "e7",
        "conversation:typing",
        json!({"conversation": {"id": "c2"}, "activity": {"type": "typing:start", "author": {"type": "business"}}}),
    );
    assert!(handle(state(json!({})), json!([elsewhere])).1.is_empty());
    // After the bot gave the conversation back, nothing applies.
    let back = event(
        "e8",
        "switchboard:passControl",
        json!({"conversation": conv(Some(("bot", "custom")))}),
    );
    let (st, ev) = handle(state(json!({"closed": true})), json!([back]));
    assert!(ev.is_empty());
    assert_eq!(st["closed"], true);
}

#[test]
fn end_reasons() {
    let ev = |reason: Option<&str>| {
        let mut p = json!({"conversation": conv(None)});
        if let Some(r) = reason {
            p["reason"] = json!(r);
        }
        event("r", "switchboard:releaseControl", p)
    };
    for (reason, expected) in [
        (Some("ticketClosed"), EndReason::AgentClosed),
        (
            Some("transferToEmail"),
            EndReason::Other("transferred to email".into()),
        ),
        (None, EndReason::ProviderClosed),
    ] {
        let e: wire::Event = serde_json::from_value(ev(reason)).unwrap();
        let got = crate::webhook::reason_of(&e, EndReason::ProviderClosed);
        assert_eq!(format!("{got:?}"), format!("{expected:?}"));
    }
}

#[test]
fn describe_declares_the_0_2_features_and_permissions() {
    let (info, _) = testing::described::<Sunshine>("sunshine-conversations");
    let c = &info.capabilities;
    assert!(c.hand_back && c.receipts && c.rich_messages);
    assert!(
        !c.user_typing && !c.wrap_up,
        "Sunshine takes no typing from a user author and has no wrap-up"
    );
    assert_eq!(info.permissions.egress, ["{base_url}"]);
    assert_eq!(
        info.permissions.secrets,
        ["sunshine_key_id", "sunshine_key_secret"]
    );
    assert!(
        info.webhook_routing.is_none(),
        "a payload may carry several conversations"
    );
    let user = wire::user_contents("yes", &[], true);
    assert_eq!(
        user,
        [json!({"type": "text", "text": "yes", "payload": "yes"})]
    );
}

#[test]
fn hand_back_and_ends() {
    let given_back = |kind: &str, payload: Value| {
        let e: wire::Event = serde_json::from_value(event("b", kind, payload)).unwrap();
        crate::webhook::given_back(&e)
    };
    // Control passed back to the bot integration by the agent side, with
    // metadata: the conversation returned to the bot with those variables.
    let ev = given_back(
        "switchboard:passControl",
        json!({"conversation": conv(Some(("bot", "custom"))), "metadata": {"plan": "gold", "case": 42}}),
    );
    let Event::ReturnedToBot(h) = &ev else {
        panic!("{ev:?}")
    };
    let vars: Value = serde_json::from_str(&h.variables).unwrap();
    assert_eq!(vars, json!({"plan": "gold", "case": 42}));
    // Released without metadata nor reason: returned with no variables.
    let ev = given_back(
        "switchboard:releaseControl",
        json!({"conversation": conv(None)}),
    );
    assert!(
        matches!(&ev, Event::ReturnedToBot(h) if h.variables == "{}"),
        "{ev:?}"
    );
    // With a reason, the ticket was closed: ended.
    let ev = given_back(
        "switchboard:releaseControl",
        json!({"conversation": conv(None), "reason": "ticketClosed", "metadata": {"x": 1}}),
    );
    assert!(
        matches!(&ev, Event::Ended(EndReason::AgentClosed)),
        "{ev:?}"
    );
}

#[test]
fn read_receipts_name_the_messages_received_before_the_read() {
    let unread = json!({"unread": [
        {"id": "m-1", "received_ms": 1_601_478_869_000u64},
        {"id": "m-2", "received_ms": 1_601_478_869_834u64},
        {"id": "m-3", "received_ms": 1_601_478_870_000u64},
    ]});
    let read = |id: &str, who: &str| {
        event(
            id,
            "conversation:read",
            json!({"conversation": conv(None),
                   "activity": {"type": "conversation:read", "author": {"type": who}}}),
        )
    };
    // The user reading the business's messages is no receipt of theirs.
    let (_, ev) = handle(state(unread.clone()), json!([read("r1", "user")]));
    assert!(ev.is_empty(), "{ev:?}");
    // createdAt 2020-09-30T15:14:29.834Z: m-1 and m-2, not the later m-3.
    let (st, ev) = handle(state(unread), json!([read("r2", "business")]));
    let [Event::Receipt(r)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(r.message_ids, ["m-1", "m-2"]);
    assert_eq!(r.status, handover_adapter_sdk::v0_2::ReceiptStatus::Read);
    assert_eq!(r.timestamp_ms, Some(1_601_478_869_834));
    assert_eq!(
        st["unread"],
        json!([{"id": "m-3", "received_ms": 1_601_478_870_000u64}])
    );
    // A read at the same time again (another event id): m-3 is still
    // later, so no receipt.
    let (_, ev) = handle(st.to_string().into_bytes(), json!([read("r3", "business")]));
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn agent_actions_become_quick_replies_and_links() {
    let m: wire::Message = serde_json::from_value(json!({
        "id": "m1", "author": {"type": "business", "displayName": "Alex"},
        "content": {"type": "text", "text": "Pick one", "actions": [
            {"type": "reply", "text": "Yes please", "payload": "yes"},
            {"type": "link", "text": "Terms", "uri": "https://example.com/terms"},
            {"type": "webview", "text": "Form", "uri": "https://example.com/w", "fallback": "https://example.com/f"},
            {"type": "postback", "text": "Call me", "payload": "CALL"},
            {"type": "locationRequest", "text": "Where?"}
        ]}
    }))
    .unwrap();
    use handover_adapter_sdk::v0_2::{self, Action};
    let (actions, dropped) = m.actions();
    assert_eq!(dropped, ["postback", "locationRequest"]);
    assert_eq!(actions.len(), 3, "{actions:?}");
    let want = [
        v0_2::quick_reply("Yes please", "yes"),
        v0_2::link("Terms", "https://example.com/terms"),
        v0_2::link("Form", "https://example.com/f"),
    ];
    for (got, want) in actions.iter().zip(want.iter()) {
        match (got, want) {
            (Action::QuickReply(a), Action::QuickReply(b)) => {
                assert_eq!((&a.title, &a.payload), (&b.title, &b.payload))
            }
            (Action::Link(a), Action::Link(b)) => {
                assert_eq!((&a.title, &a.url), (&b.title, &b.url))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn sunshine_datetimes() {
    assert_eq!(
        wire::iso_ms("2020-09-30T15:14:29.834Z"),
        Some(1_601_478_869_834)
    );
    assert_eq!(wire::iso_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        wire::iso_ms("2024-02-29T23:59:59.5Z"),
        Some(1_709_251_199_500)
    );
    for bad in [
        "",
        "2020-09-30",
        "2020-09-30T15:14:29.834",
        "2020-13-01T00:00:00Z",
        "x020-09-30T15:14:29Z",
    ] {
        assert_eq!(wire::iso_ms(bad), None, "{bad}");
    }
}
