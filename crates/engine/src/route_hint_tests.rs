//! Route hints: learned from `route-webhook`'s answers, confirmed or
//! replaced by them, never trusted without them, bounded on hostile bodies.

use super::*;

fn keys(k: &str) -> Vec<String> {
    vec![k.to_string()]
}

/// One webhook: what was predicted, then the adapter's answer recorded.
fn route(h: &RouteHints, adapter: u64, body: &str, answer: &str) -> Option<String> {
    let g = h.guess(adapter, body.as_bytes());
    let predicted = g.key.clone();
    h.learn(adapter, g, body.as_bytes(), &keys(answer));
    predicted
}

fn sim(conv: &str, seq: u64) -> String {
    format!(
        r#"{{"event_id":"e-{seq}","conversation_id":"{conv}","seq":{seq},"type":"agent_message"}}"#
    )
}

#[test]
fn a_top_level_key_is_learned_from_one_answer_and_predicted_after() {
    let h = RouteHints::default();
    assert_eq!(
        route(&h, 1, &sim("c-1", 2), "c-1"),
        None,
        "nothing known yet"
    );
    assert_eq!(route(&h, 1, &sim("c-77", 3), "c-77"), Some("c-77".into()));
    assert_eq!(route(&h, 1, &sim("c-9", 4), "c-9"), Some("c-9".into()));
}

#[test]
fn a_nested_number_after_a_prefix_is_learned_but_a_part_of_a_token_is_not() {
    let h = RouteHints::default();
    let body = |id: u64, seq: u64| {
        format!(r#"{{"seq":{seq},"payload":{{"message":{{"conversation":{{"id":{id}}}}}}}}}"#)
    };
    // `seq` 1 ends the key too, but only part of its last token.
    route(&h, 1, &body(2_345_671, 1), "conv:2345671");
    assert_eq!(
        route(&h, 1, &body(9_876_541, 1), "conv:9876541"),
        Some("conv:9876541".into())
    );
    // A short id after a prefix (Chatwoot's keys).
    let h = RouteHints::default();
    route(&h, 1, &body(42, 7), "chatwoot:conversation:42");
    assert_eq!(
        route(&h, 1, &body(43, 8), "chatwoot:conversation:43"),
        Some("chatwoot:conversation:43".into())
    );
}

#[test]
fn each_adapter_version_has_its_own_hint() {
    let h = RouteHints::default();
    route(&h, 1, &sim("c-1", 2), "c-1");
    assert_eq!(route(&h, 2, &sim("c-2", 3), "c-2"), None, "a new version");
    assert_eq!(route(&h, 2, &sim("c-3", 4), "c-3"), Some("c-3".into()));
    // A canary's two versions alternate: each keeps what it learned.
    assert_eq!(route(&h, 1, &sim("c-4", 5), "c-4"), Some("c-4".into()));
    // Beyond the versions kept, the least recently used is forgotten.
    for v in 3..=VERSIONS as u64 + 1 {
        route(&h, v, &sim("c-5", 6), "c-5");
    }
    assert_eq!(route(&h, 1, &sim("c-6", 7), "c-6"), Some("c-6".into()));
    assert_eq!(route(&h, 2, &sim("c-7", 8), "c-7"), None, "forgotten");
}

#[test]
fn a_hint_the_answers_stop_confirming_is_replaced() {
    let h = RouteHints::default();
    route(&h, 1, &sim("c-1", 2), "c-1");
    // The adapter now routes by the event id: one miss, then the new hint.
    assert_eq!(route(&h, 1, &sim("c-1", 3), "e-3"), Some("c-1".into()));
    assert_eq!(route(&h, 1, &sim("c-1", 4), "e-4"), Some("e-4".into()));
}

#[test]
fn wrong_predictions_in_a_row_back_off_then_it_learns_again() {
    let h = RouteHints::default();
    route(&h, 1, &sim("c-1", 2), "c-1");
    // Keys that are nowhere in the body: every prediction is wrong.
    for seq in 0..MAX_MISSES as u64 {
        assert!(route(&h, 1, &sim("c-1", seq), "elsewhere").is_some());
    }
    for _ in 0..BACK_OFF {
        let body = sim("c-1", 9);
        let g = h.guess(1, body.as_bytes());
        assert!(!g.looked && g.key.is_none(), "backing off parses nothing");
        h.learn(1, g, body.as_bytes(), &keys("c-1"));
    }
    assert_eq!(route(&h, 1, &sim("c-5", 9), "c-5"), None, "learns again");
    assert_eq!(route(&h, 1, &sim("c-6", 9), "c-6"), Some("c-6".into()));
}

#[test]
fn a_body_that_is_not_json_backs_off_at_once() {
    let h = RouteHints::default();
    route(&h, 1, "From=%2B1555&Body=hi", "+1555");
    let g = h.guess(1, sim("c-1", 2).as_bytes());
    assert!(!g.looked, "the next webhook's body is not parsed");
}

#[test]
fn several_keys_teach_nothing() {
    let h = RouteHints::default();
    let body = sim("c-1", 2);
    let g = h.guess(1, body.as_bytes());
    h.learn(
        1,
        g,
        body.as_bytes(),
        &["c-1".to_string(), "c-2".to_string()],
    );
    assert_eq!(route(&h, 1, &sim("c-3", 3), "c-3"), None);
}

#[test]
fn the_search_looks_at_a_bounded_number_of_values() {
    let h = RouteHints::default();
    let mut members: Vec<String> = (0..MAX_NODES).map(|i| format!(r#""m{i}":{i}"#)).collect();
    // Members are searched in name order: this one comes last.
    members.push(r#""zz_conversation":"c-far-away""#.to_string());
    let body = format!("{{{}}}", members.join(","));
    route(&h, 1, &body, "c-far-away");
    assert!(
        !h.guess(1, body.as_bytes()).looked,
        "not found within the bound: backing off"
    );
}

/// What a prediction reads, as the whole parsed document says it: the
/// scan must agree with it on every body.
fn at_in_document(body: &str, path: &[&str]) -> Option<String> {
    let mut v = &serde_json::from_str::<Value>(body).ok()?;
    for member in path {
        v = v.as_object()?.get(*member)?;
    }
    text(v)
}

#[test]
fn a_prediction_reads_what_the_parsed_document_holds() {
    let bodies = [
        r#"{"conversation_id":"c-1","seq":2}"#,
        r#"{"seq":2,"conversation_id":"c-1"}"#,
        r#"{"conv\u0065rsation_id":"c-\u00e9"}"#,
        r#"{"conversation_id":"c-1","conversation_id":"c-2"}"#,
        r#"{"conversation_id":"c-1","conversation_id":7}"#,
        r#"{"conversation_id":"c-1","conversation_id":{"id":3}}"#,
        r#"{"conversation_id":""}"#,
        r#"{"conversation_id":-42}"#,
        r#"{"conversation_id":18446744073709551615}"#,
        r#"{"conversation_id":1.5}"#,
        r#"{"conversation_id":1e3}"#,
        r#"{"conversation_id":null,"x":[1,{"conversation_id":"no"}]}"#,
        r#"{"conversation_id":true}"#,
        r#"{"conversation_id":["c-1"]}"#,
        r#"{"payload":{"conversation":{"id":12}},"conversation_id":"c-1"}"#,
        r#"{"payload":{"conversation":{"id":"x"},"conversation":{"id":13}}}"#,
        r#"{"payload":{"conversation":[{"id":12}]}}"#,
        r#"{"payload":"flat"}"#,
        r#"{"conversation_id":"c-1"} trailing"#,
        r#"{"conversation_id":"c-1""#,
        r#"{"conversation_id":"c-1"}   "#,
        r#"[{"conversation_id":"c-1"}]"#,
        r#""conversation_id""#,
        "",
    ];
    let paths: [&[&str]; 4] = [
        &["conversation_id"],
        &["payload", "conversation", "id"],
        &["payload"],
        &["missing"],
    ];
    for body in bodies {
        for path in paths {
            let owned: Vec<String> = path.iter().map(|m| m.to_string()).collect();
            assert_eq!(
                at(body.as_bytes(), &owned),
                at_in_document(body, path),
                "body {body:?}, path {path:?}"
            );
        }
    }
}
