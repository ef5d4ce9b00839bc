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
    let contents = wire::user_contents("", &attachments);
    assert_eq!(
        contents,
        [
            json!({"type": "image", "mediaUrl": "https://e/a.png"}),
            json!({"type": "file", "mediaUrl": "https://e/a.pdf", "altText": "a.pdf"}),
        ]
    );
    assert_eq!(wire::user_contents(&"y".repeat(5000), &[]).len(), 2);
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
