//! Native tests of the plain sim logic (what the host's native path runs).

use crate::{Agent, EndReason, Normalized, State, route};

fn hook(seq: u64, fields: &str) -> Vec<u8> {
    format!(r#"{{"event_id":"e-{seq}","conversation_id":"c-1","seq":{seq},{fields}}}"#).into_bytes()
}

#[test]
fn routes_by_conversation_and_event_id() {
    let r = route(&hook(2, r#""type":"agent_typing","typing":true"#)).unwrap();
    assert_eq!(
        (r.correlation_key.as_str(), r.delivery_id.as_str()),
        ("c-1", "e-2")
    );
    let bad = route(b"{oops").unwrap_err();
    assert!(bad.0.starts_with("malformed webhook body: "), "{bad}");
}

#[test]
fn applies_in_seq_order_and_reports_changes() {
    let mut st = State::created("c-1".into());
    let joined = hook(
        3,
        r#""type":"agent_joined","agent":{"id":"a","name":"Ann"}"#,
    );
    let early = st.handle_webhook(&joined).unwrap();
    assert!(early.changed && early.events.is_empty());
    let ended = hook(2, r#""type":"ended","reason":"agent_closed""#);
    let both = st.handle_webhook(&ended).unwrap();
    let ann = Agent {
        id: "a".into(),
        name: "Ann".into(),
    };
    assert_eq!(
        both.events,
        [
            Normalized::Ended(EndReason::AgentClosed),
            Normalized::AgentJoined(ann)
        ]
    );
    assert_eq!(
        st.save(),
        br#"{"conversation_id":"c-1","last_event_seq":3}"#
    );
    let again = st.handle_webhook(&joined).unwrap();
    assert!(!again.changed && again.events.is_empty());
}

#[test]
fn unknown_types_are_ignored_with_a_warning() {
    let mut st = State::created("c-1".into());
    let applied = st.handle_webhook(&hook(2, r#""type":"mystery""#)).unwrap();
    assert!(applied.changed && applied.events.is_empty());
    assert_eq!(
        applied.ignored,
        ["ignoring sim event e-2 of unknown type \"mystery\""]
    );
}

#[test]
fn checks_the_state_and_the_conversation() {
    let empty = State::load(b"").unwrap_err();
    assert_eq!(empty.0, "no sim conversation in the handover state");
    let mut st = State::load(br#"{"conversation_id":"c-9","last_event_seq":1}"#).unwrap();
    let other = st.handle_webhook(&hook(2, r#""type":"agent_typing","typing":true"#));
    assert!(other.unwrap_err().0.contains("c-9"));
}

#[test]
fn handle_takes_the_routed_parse_only_for_the_same_bytes() {
    let typing = hook(2, r#""type":"agent_typing","typing":true"#);
    let ended = hook(2, r#""type":"ended","reason":"agent_left""#);
    // Routed one body, handled another: the handled body is what applies.
    route(&typing).unwrap();
    let mut st = State::created("c-1".into());
    let applied = st.handle_webhook(&ended).unwrap();
    assert_eq!(applied.events, [Normalized::Ended(EndReason::AgentLeft)]);
    // Routed and handled the same body: the same event as a parse gives.
    route(&typing).unwrap();
    let mut st = State::created("c-1".into());
    assert_eq!(
        st.handle_webhook(&typing).unwrap().events,
        [Normalized::AgentTyping(true)]
    );
    // Taken once: the next handle of those bytes parses them again.
    let mut st = State::created("c-1".into());
    assert_eq!(
        st.handle_webhook(&typing).unwrap().events,
        [Normalized::AgentTyping(true)]
    );
}
