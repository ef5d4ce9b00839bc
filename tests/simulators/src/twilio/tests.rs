//! The Twilio Flex simulator over real HTTP: Basic auth, form-body
//! validation against the specs, the interaction → conversation flow, and
//! signed form-encoded webhooks.

use super::*;
use crate::kit::lock;
use crate::kit::testing::{Receiver, status_and_json};
use std::collections::HashMap;

async fn sim() -> TwilioSim {
    TwilioSim::start(TwilioConfig::default()).await.unwrap()
}

/// `method path` with a form body (none when `form` is `None`), with the
/// account's Basic credentials.
async fn call(
    sim: &TwilioSim,
    method: &str,
    path: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, Value) {
    let cfg = sim.config();
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", sim.base_url()))
        .basic_auth(&cfg.account_sid, Some(&cfg.auth_token));
    if let Some(pairs) = form {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(kit::form_encode(&pairs));
    }
    status_and_json(req.send().await.unwrap()).await
}

fn channel(identity: &str) -> String {
    json!({"type": "web", "initiated_by": "api", "participants": [{"identity": identity}]})
        .to_string()
}

fn routing(cfg: &TwilioConfig, handover: &str) -> String {
    json!({"properties": {
        "workspace_sid": cfg.workspace_sid, "workflow_sid": cfg.workflow_sid,
        "task_channel_unique_name": "chat",
        "attributes": {"handover_id": handover, "customerName": "Ann"}
    }})
    .to_string()
}

/// Opens an interaction for `handover`; returns the conversation sid.
async fn open(sim: &TwilioSim, handover: &str) -> String {
    let routing = routing(sim.config(), handover);
    let (status, body) = call(
        sim,
        "POST",
        "/v1/Interactions",
        Some(&[
            ("Channel", &channel(&format!("user-{handover}"))),
            ("Routing", &routing),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["sid"].as_str().unwrap().starts_with("KD"), "{body}");
    assert!(body["channel"]["sid"].as_str().unwrap().starts_with("UO"));
    let props = &body["routing"]["properties"];
    assert_eq!(props["assignment_status"], "pending");
    let attributes: Value = serde_json::from_str(props["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["handover_id"], handover);
    attributes["conversationSid"].as_str().unwrap().to_string()
}

/// The form bodies the receiver got, with their headers.
fn hooks(r: &Receiver) -> Vec<(axum::http::HeaderMap, HashMap<String, String>, Vec<u8>)> {
    lock(&r.got)
        .iter()
        .map(|(h, b)| {
            (
                h.clone(),
                kit::form(&String::from_utf8_lossy(b)),
                b.to_vec(),
            )
        })
        .collect()
}

#[tokio::test]
async fn requests_without_basic_credentials_get_401() {
    let sim = sim().await;
    let url = format!("{}/v1/Conversations/CH0", sim.base_url());
    let http = reqwest::Client::new();
    let (status, body) = status_and_json(http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 20003, "{body}");
    assert_eq!(body["status"], 401);
    let wrong = http
        .get(&url)
        .basic_auth(&sim.config().account_sid, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (status, body) = call(&sim, "GET", "/v1/Conversations/CH0", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], 20404);
    assert!(body["more_info"].as_str().unwrap().ends_with("/20404"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_form_body_that_breaks_the_spec_is_recorded_and_rejected() {
    let sim = sim().await;
    // `Channel` is required by CreateInteractionRequest.
    let routing = routing(sim.config(), "h-1");
    let (status, body) = call(
        &sim,
        "POST",
        "/v1/Interactions",
        Some(&[("Routing", &routing)]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 20001);
    assert!(
        body["message"].as_str().unwrap().contains("Channel"),
        "{body}"
    );
    let conv = open(&sim, "h-1").await;
    // `State` is an enum (active, inactive, closed).
    let path = format!("/v1/Conversations/{conv}");
    let (status, _) = call(&sim, "POST", &path, Some(&[("State", "finished")])).await;
    assert_eq!(status, 400);
    // `MediaSid` has a pattern.
    let messages = format!("{path}/Messages");
    let (status, _) = call(
        &sim,
        "POST",
        &messages,
        Some(&[("Body", "x"), ("MediaSid", "nope")]),
    )
    .await;
    assert_eq!(status, 400);
    // JSON to a form operation.
    let cfg = sim.config();
    let json_post = reqwest::Client::new()
        .post(format!("{}{messages}", sim.base_url()))
        .basic_auth(&cfg.account_sid, Some(&cfg.auth_token))
        .json(&json!({"Body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_post.status(), 400);
    let violations = sim.take_violations();
    assert_eq!(violations.len(), 4, "{violations:?}");
    assert!(
        violations[0].what.ends_with("/v1/Interactions"),
        "{}",
        violations[0]
    );
    assert!(
        violations[0].schema.contains("x-www-form-urlencoded"),
        "{}",
        violations[0]
    );
    assert!(
        violations[1].errors.join(" ").contains("finished"),
        "{}",
        violations[1]
    );
    assert!(
        violations[2].errors.join(" ").contains("/MediaSid"),
        "{}",
        violations[2]
    );
    assert!(
        violations[3].errors.join(" ").contains("application/json"),
        "{}",
        violations[3]
    );
    // Nothing was acted on.
    assert_eq!(sim.conversation(&conv).unwrap()["state"], "active");
    assert!(sim.user_messages(&conv).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn routing_must_name_the_workspace_and_workflow() {
    let sim = sim().await;
    let bad =
        json!({"properties": {"workspace_sid": "WS1", "workflow_sid": sim.config().workflow_sid}})
            .to_string();
    let (status, body) = call(
        &sim,
        "POST",
        "/v1/Interactions",
        Some(&[("Channel", &channel("u")), ("Routing", &bad)]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("workspace_sid"),
        "{body}"
    );
    let (status, body) = call(
        &sim,
        "POST",
        "/v1/Interactions",
        Some(&[
            ("Channel", "{\"type\":\"fax\",\"initiated_by\":\"api\"}"),
            ("Routing", "{}"),
        ]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("Channel.type"),
        "{body}"
    );
    assert!(
        sim.violations().is_empty(),
        "route checks are not spec violations"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn conversation_flow_and_signed_form_webhooks() {
    let sim = sim().await;
    let receiver = Receiver::hooked_to(&sim).await;
    let conv = open(&sim, "h-2").await;
    assert_eq!(sim.conversation_for_handover("h-2"), Some(conv.clone()));
    assert_eq!(
        sim.conversation_for_handover("user-h-2"),
        Some(conv.clone())
    );
    let messages = format!("/v1/Conversations/{conv}/Messages");
    let (status, m) = call(
        &sim,
        "POST",
        &messages,
        Some(&[("Author", "user-h-2"), ("Body", "hello")]),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["index"], 0);
    assert!(m["sid"].as_str().unwrap().starts_with("IM"));
    sim.agent_join(&conv, "Alex").unwrap();
    assert_eq!(sim.task_status(&conv).as_deref(), Some("assigned"));
    assert_eq!(sim.agent_message(&conv, "hi, Alex here"), Ok(1));
    sim.close(&conv).unwrap();
    assert!(sim.wait_for_deliveries(3, Duration::from_secs(5)).await);
    let got = hooks(&receiver);
    let events: Vec<&str> = got
        .iter()
        .map(|(_, f, _)| f["EventType"].as_str())
        .collect();
    assert_eq!(
        events,
        [
            "onParticipantAdded",
            "onMessageAdded",
            "onConversationStateUpdated"
        ]
    );
    assert_eq!(got[0].1["Identity"], "Alex");
    assert!(got[0].1["ParticipantSid"].starts_with("MB"));
    assert_eq!(got[1].1["Body"], "hi, Alex here");
    assert_eq!(got[1].1["Author"], "Alex");
    assert_eq!(got[1].1["Index"], "1");
    assert_eq!(got[1].1["ConversationSid"], conv);
    assert_eq!(got[2].1["StateFrom"], "active");
    assert_eq!(got[2].1["StateTo"], "closed");
    for (headers, form, body) in &got {
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        // Recomputed here from the definition: URL, then name+value sorted by name.
        let mut names: Vec<&String> = form.keys().collect();
        names.sort();
        let mut signed = receiver.url.clone();
        for n in names {
            signed.push_str(n);
            signed.push_str(&form[n]);
        }
        let expected = kit::base64(&kit::hmac_sha1(
            "twilio-sim-auth-token",
            &[signed.as_bytes()],
        ));
        assert_eq!(headers["x-twilio-signature"].to_str().unwrap(), expected);
        assert_eq!(sign("twilio-sim-auth-token", &receiver.url, body), expected);
        assert!(!headers["i-twilio-idempotency-token"].is_empty());
    }
    assert_eq!(sim.user_messages(&conv), ["hello"]);
    assert_eq!(sim.closed_by_api(&conv), Some(false));
    assert_eq!(sim.task_status(&conv).as_deref(), Some("completed"));
    // Closed: no more messages.
    let (status, body) = call(
        &sim,
        "POST",
        &messages,
        Some(&[("Author", "user-h-2"), ("Body", "late")]),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(sim.agent_message(&conv, "late").is_err());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_bot_side_closes_and_lists_messages() {
    let sim = sim().await;
    let conv = open(&sim, "h-3").await;
    let messages = format!("/v1/Conversations/{conv}/Messages");
    for text in ["one", "two", "three"] {
        let (status, _) = call(
            &sim,
            "POST",
            &messages,
            Some(&[("Author", "user-h-3"), ("Body", text)]),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, page) = call(
        &sim,
        "GET",
        &format!("{messages}?Order=desc&PageSize=2"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["three", "two"]);
    assert_eq!(page["meta"]["key"], "messages");
    assert!(
        page["meta"]["next_page_url"]
            .as_str()
            .unwrap()
            .ends_with("Page=1")
    );
    let (_, page) = call(&sim, "GET", &format!("{messages}?PageSize=2&Page=1"), None).await;
    assert_eq!(page["messages"][0]["body"], "three");
    assert!(page["meta"]["next_page_url"].is_null());
    let (_, participants) = call(
        &sim,
        "GET",
        &format!("/v1/Conversations/{conv}/Participants"),
        None,
    )
    .await;
    assert_eq!(participants["participants"][0]["identity"], "user-h-3");
    let (status, c) = call(
        &sim,
        "POST",
        &format!("/v1/Conversations/{conv}"),
        Some(&[("State", "closed")]),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "closed");
    assert_eq!(sim.closed_by_api(&conv), Some(true));
    assert_eq!(sim.task_status(&conv).as_deref(), Some("canceled"));
    let (status, _) = call(
        &sim,
        "POST",
        &format!("/v1/Conversations/{conv}"),
        Some(&[("State", "active")]),
    )
    .await;
    assert_eq!(status, 400, "closed stays closed");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_duplicates_and_held_webhooks() {
    let sim = sim().await;
    let receiver = Receiver::hooked_to(&sim).await;
    sim.fail_next(Some("POST"), "/v1/Interactions", 503, 1);
    let routing = routing(sim.config(), "h-4");
    let (status, body) = call(
        &sim,
        "POST",
        "/v1/Interactions",
        Some(&[("Channel", &channel("u")), ("Routing", &routing)]),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], 503);
    assert!(
        sim.conversation_for_handover("h-4").is_none(),
        "a fault acts on nothing"
    );
    let conv = open(&sim, "h-4").await;
    sim.set_duplicate_webhooks(true);
    sim.agent_join(&conv, "Alex").unwrap();
    assert!(sim.wait_for_deliveries(2, Duration::from_secs(5)).await);
    let d = sim.deliveries();
    assert_eq!(d[0].id, d[1].id, "a duplicate keeps the idempotency token");
    assert_eq!(d[0].body["EventType"], "onParticipantAdded");
    sim.set_duplicate_webhooks(false);
    sim.set_hold_webhooks(true);
    sim.agent_message(&conv, "first").unwrap();
    sim.agent_message(&conv, "second").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.deliveries().len(), 2);
    assert_eq!(sim.release_held(true).await, 2);
    let got = hooks(&receiver);
    let texts: Vec<(&str, &str)> = got[2..]
        .iter()
        .map(|(_, f, _)| (f["Body"].as_str(), f["Index"].as_str()))
        .collect();
    assert_eq!(texts, [("second", "1"), ("first", "0")]);
    sim.shutdown().await;
}
