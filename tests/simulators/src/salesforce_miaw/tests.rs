//! The MIAW simulator over real HTTP: tokens, conversations, messages,
//! close, and the event stream with `Last-Event-Id` resumption.

use super::{ES_DEVELOPER_NAME, MiawSim, ORG_ID};
use serde_json::{Value, json};
use std::time::Duration;

const CONV: &str = "0b6f2c1e-4d3a-4b5c-8d7e-9f0a1b2c3d4e";
const T: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Asks for an unauthenticated access token for the org `org_id`.
async fn access_token(sim: &MiawSim, org_id: &str) -> reqwest::Response {
    client()
        .post(format!(
            "{}/iamessage/api/v2/authorization/unauthenticated/access-token",
            sim.base_url()
        ))
        .json(
            &json!({"orgId": org_id, "esDeveloperName": ES_DEVELOPER_NAME,
            "capabilitiesVersion": "1", "platform": "Web"}),
        )
        .send()
        .await
        .unwrap()
}

/// An access token and the `lastEventId` that comes with it.
async fn token(sim: &MiawSim) -> (String, String) {
    let r = access_token(sim, ORG_ID).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (
        v["accessToken"].as_str().unwrap().to_string(),
        v["lastEventId"].as_str().unwrap().to_string(),
    )
}

async fn create(sim: &MiawSim, token: &str, id: &str) -> u16 {
    client()
        .post(format!("{}/iamessage/api/v2/conversation", sim.base_url()))
        .bearer_auth(token)
        .json(
            &json!({"conversationId": id, "esDeveloperName": ES_DEVELOPER_NAME,
            "routingAttributes": {"HandoverId": "h-1"}}),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn send(sim: &MiawSim, token: &str, id: &str, msg_id: &str, text: &str) -> u16 {
    client()
        .post(format!(
            "{}/iamessage/api/v2/conversation/{id}/message",
            sim.base_url()
        ))
        .bearer_auth(token)
        .json(
            &json!({"message": {"id": msg_id, "messageType": "StaticContentMessage",
            "staticContent": {"formatType": "Text", "text": text}},
            "esDeveloperName": ES_DEVELOPER_NAME}),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Reads the stream until `n` events, the stream ends, or `T`.
async fn events(
    sim: &MiawSim,
    token: &str,
    last: Option<&str>,
    n: usize,
) -> (Vec<(String, String, Value)>, bool) {
    let mut req = client()
        .get(format!("{}/eventrouter/v1/sse", sim.base_url()))
        .bearer_auth(token)
        .header("X-Org-Id", ORG_ID)
        .header("Accept", "text/event-stream");
    if let Some(last) = last {
        req = req.header("Last-Event-Id", last);
    }
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let (mut id, mut name, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.into();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    name = v.into();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.into();
                }
            }
            if !name.is_empty() {
                out.push((id, name, serde_json::from_str(&data).unwrap()));
            }
        }
        if out.len() >= n {
            return (out, false);
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => return (out, true),
            _ => return (out, false),
        }
    }
}

/// A token (and its `lastEventId`) that created the conversation [`CONV`].
async fn with_conversation(sim: &MiawSim) -> (String, String) {
    let (token, last) = token(sim).await;
    create(sim, &token, CONV).await;
    (token, last)
}

/// The names of `events`.
fn names(events: &[(String, String, Value)]) -> Vec<&str> {
    events.iter().map(|(_, n, _)| n.as_str()).collect()
}

fn payload(event: &Value) -> Value {
    let raw = event["conversationEntry"]["entryPayload"].as_str().unwrap();
    serde_json::from_str(raw).unwrap()
}

#[tokio::test]
async fn token_checks_the_org_and_deployment() {
    let sim = MiawSim::start().await.unwrap();
    let r = access_token(&sim, "00DOTHER0000001").await;
    assert_eq!(r.status(), 400);
    let (token, last) = token(&sim).await;
    assert!(token.starts_with("eyJ"));
    assert_eq!(last, "0");
    sim.shutdown().await;
}

#[tokio::test]
async fn conversations_need_the_bearer_token_and_a_lowercase_uuid() {
    let sim = MiawSim::start().await.unwrap();
    let (token, _) = token(&sim).await;
    assert_eq!(create(&sim, "wrong", CONV).await, 401);
    assert_eq!(create(&sim, &token, &CONV.to_uppercase()).await, 400);
    assert_eq!(create(&sim, &token, CONV).await, 201);
    assert_eq!(create(&sim, &token, CONV).await, 409);
    let c = sim
        .wait_for_conversation_with("HandoverId", "h-1", T)
        .await
        .unwrap();
    assert_eq!(c.id, CONV);
    sim.shutdown().await;
}

#[tokio::test]
async fn messages_are_limited_deduplicated_and_echoed() {
    let sim = MiawSim::start().await.unwrap();
    let (token, last) = with_conversation(&sim).await;
    assert_eq!(
        send(&sim, &token, CONV, "m-1", &"x".repeat(3001)).await,
        400
    );
    assert_eq!(
        send(&sim, &token, CONV, "m-1", &"é".repeat(3000)).await,
        202
    );
    assert_eq!(send(&sim, &token, CONV, "m-1", "again").await, 202);
    assert_eq!(send(&sim, &token, CONV, "m-2", "hi").await, 202);
    let (other, _) = self::token(&sim).await;
    assert_eq!(send(&sim, &other, CONV, "m-3", "intruder").await, 403);
    let messages = sim.conversation(CONV).unwrap().messages;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].text, "hi");
    let (got, _) = events(&sim, &token, Some(&last), 3).await;
    assert_eq!(
        names(&got),
        [
            "CONVERSATION_ROUTING_RESULT",
            "CONVERSATION_MESSAGE",
            "CONVERSATION_MESSAGE"
        ]
    );
    assert_eq!(got[1].2["conversationEntry"]["sender"]["role"], "EndUser");
    assert_eq!(
        payload(&got[2].2)["abstractMessage"]["staticContent"]["text"],
        "hi"
    );
    // The other identity's stream has none of this conversation's events.
    let (theirs, _) = events(&sim, &other, Some("0"), 1).await;
    assert!(theirs.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_stream_resumes_after_last_event_id() {
    let sim = MiawSim::start().await.unwrap();
    let (token, last) = with_conversation(&sim).await;
    let agent = sim.agent_join(CONV, "Alex").unwrap();
    sim.agent_typing(CONV, true).unwrap();
    sim.agent_message(CONV, "hello").unwrap();
    sim.set_events_per_connection(Some(2));
    let (first, ended) = events(&sim, &token, Some(&last), 10).await;
    assert!(ended, "the connection ends after 2 events");
    assert_eq!(first.len(), 2);
    let resume = first[1].0.clone();
    let (rest, _) = events(&sim, &token, Some(&resume), 10).await;
    assert_eq!(
        names(&rest),
        [
            "CONVERSATION_TYPING_STARTED_INDICATOR",
            "CONVERSATION_MESSAGE"
        ]
    );
    let entry = &rest[1].2["conversationEntry"];
    assert_eq!(entry["sender"]["role"], "Agent");
    assert_eq!(entry["sender"]["subject"], agent.as_str());
    assert_eq!(entry["senderDisplayName"], "Alex");
    assert_eq!(sim.sse_connections(), [Some(last), Some(resume)]);
    // Without Last-Event-Id only new events arrive.
    sim.set_events_per_connection(None);
    let (none, _) = events(&sim, &token, None, 1).await;
    assert!(none.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_stream_needs_the_org_header_and_the_token() {
    let sim = MiawSim::start().await.unwrap();
    let (token, _) = token(&sim).await;
    let url = format!("{}/eventrouter/v1/sse", sim.base_url());
    let status = |r: reqwest::Response| r.status().as_u16();
    let c = client();
    assert_eq!(
        status(c.get(&url).header("X-Org-Id", ORG_ID).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(c.get(&url).bearer_auth(&token).send().await.unwrap()),
        400
    );
    let wrong = c
        .get(&url)
        .bearer_auth(&token)
        .header("X-Org-Id", "00DOTHER0000001");
    assert_eq!(status(wrong.send().await.unwrap()), 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn end_without_the_close_event_only_removes_the_agent() {
    let sim = MiawSim::start().await.unwrap();
    let (token, last) = with_conversation(&sim).await;
    sim.agent_join(CONV, "Alex").unwrap();
    sim.set_send_close_event(false);
    sim.end(CONV).unwrap();
    let (got, _) = events(&sim, &token, Some(&last), 3).await;
    assert_eq!(
        names(&got),
        [
            "CONVERSATION_ROUTING_RESULT",
            "CONVERSATION_PARTICIPANT_CHANGED",
            "CONVERSATION_PARTICIPANT_CHANGED"
        ]
    );
    assert_eq!(payload(&got[2].2)["entries"][0]["operation"], "remove");
    assert_eq!(
        payload(&got[2].2)["entries"][0]["participant"]["role"],
        "Agent"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_closes_and_routing_can_fail() {
    let sim = MiawSim::start().await.unwrap();
    sim.set_routing_failure(Some("RoutingError"));
    let (token, last) = with_conversation(&sim).await;
    let base = format!("{}/iamessage/api/v2/conversation/{CONV}", sim.base_url());
    let c = client();
    let wrong = c
        .delete(format!("{base}?esDeveloperName=Other"))
        .bearer_auth(&token);
    assert_eq!(wrong.send().await.unwrap().status(), 400);
    let ok = c
        .delete(format!("{base}?esDeveloperName={ES_DEVELOPER_NAME}"))
        .bearer_auth(&token);
    assert_eq!(ok.send().await.unwrap().status(), 204);
    assert!(sim.wait_for_closed(CONV, T).await);
    assert_eq!(send(&sim, &token, CONV, "m-9", "late").await, 409);
    let (got, _) = events(&sim, &token, Some(&last), 2).await;
    assert_eq!(payload(&got[0].2)["failureType"], "RoutingError");
    assert_eq!(got[1].1, "CONVERSATION_CLOSE_CONVERSATION");
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_answer_without_acting() {
    let sim = MiawSim::start().await.unwrap();
    let (token, _) = token(&sim).await;
    sim.fail_next(Some("POST"), "/iamessage/api/v2/conversation", 503, 1);
    assert_eq!(create(&sim, &token, CONV).await, 503);
    assert!(sim.conversations().is_empty());
    assert_eq!(create(&sim, &token, CONV).await, 201);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 503, 201]);
    sim.shutdown().await;
}

// ---- what contract 0.2.0 adapters use ----

async fn post_entry(sim: &MiawSim, token: &str, id: &str, body: Value) -> u16 {
    client()
        .post(format!(
            "{}/iamessage/api/v2/conversation/{id}/entry",
            sim.base_url()
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn typing_indicators_of_the_end_user_are_recorded() {
    let sim = MiawSim::start().await.unwrap();
    let (token, _) = with_conversation(&sim).await;
    let typing = |on: &str| json!({"entryType": on, "id": "3d5e0a8c-1b2f-4c6d-9e7f-8a9b0c1d2e3f"});
    assert_eq!(
        post_entry(&sim, "wrong", CONV, typing("TypingStartedIndicator")).await,
        401
    );
    assert_eq!(
        post_entry(&sim, &token, CONV, json!({"entryType": "Message"})).await,
        400
    );
    let (other, _) = self::token(&sim).await;
    assert_eq!(
        post_entry(&sim, &other, CONV, typing("TypingStartedIndicator")).await,
        403
    );
    assert_eq!(
        post_entry(&sim, &token, CONV, typing("TypingStartedIndicator")).await,
        202
    );
    assert_eq!(
        post_entry(&sim, &token, CONV, typing("TypingStoppedIndicator")).await,
        202
    );
    assert_eq!(
        sim.wait_for_user_typing(CONV, 2, T).await.unwrap(),
        [true, false]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn choices_links_and_acknowledgements_have_the_documented_shape() {
    let sim = MiawSim::start().await.unwrap();
    let (token, last) = with_conversation(&sim).await;
    assert_eq!(send(&sim, &token, CONV, "m-1", "hi").await, 202);
    sim.agent_join(CONV, "Alex").unwrap();
    sim.agent_choices(
        CONV,
        super::ChoicesFormat::Buttons,
        "Pick one",
        &[("opt-1", "Yes"), ("opt-2", "No")],
    )
    .unwrap();
    sim.agent_link(CONV, "Track it", "https://example.com/t")
        .unwrap();
    assert_eq!(sim.acknowledge(CONV, false).unwrap(), ["m-1"]);
    assert_eq!(sim.acknowledge(CONV, true).unwrap(), ["m-1"]);
    assert!(sim.acknowledge(CONV, true).unwrap().is_empty(), "once");
    let (got, _) = events(&sim, &token, Some(&last), 7).await;
    assert_eq!(
        names(&got),
        [
            "CONVERSATION_ROUTING_RESULT",
            "CONVERSATION_MESSAGE",
            "CONVERSATION_PARTICIPANT_CHANGED",
            "CONVERSATION_MESSAGE",
            "CONVERSATION_MESSAGE",
            "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
            "CONVERSATION_READ_ACKNOWLEDGEMENT",
        ]
    );
    let record = sim.conversation(CONV).unwrap().session_record;
    assert!(record.starts_with("0Mw") && record.len() == 18, "{record}");
    for (_, _, data) in &got {
        assert_eq!(data["conversationEntry"]["relatedRecords"], json!([record]));
    }
    // The end user's message entry is identified by the message id.
    assert_eq!(got[1].2["conversationEntry"]["identifier"], "m-1");
    let choices = payload(&got[3].2)["abstractMessage"].clone();
    assert_eq!(choices["messageType"], "ChoicesMessage");
    assert_eq!(choices["choices"]["formatType"], "Buttons");
    assert_eq!(
        choices["choices"]["optionItems"][1]["optionIdentifier"],
        "opt-2"
    );
    assert_eq!(
        choices["choices"]["optionItems"][1]["titleItem"]["title"],
        "No"
    );
    let link = payload(&got[4].2)["abstractMessage"]["staticContent"].clone();
    assert_eq!(link["formatType"], "RichLink");
    assert_eq!(link["linkItem"]["url"], "https://example.com/t");
    for (i, entry_type) in [(5, "DeliveryAcknowledgement"), (6, "ReadAcknowledgement")] {
        let data = &got[i].2;
        assert_eq!(data["conversationEntry"]["sender"]["role"], "Agent");
        let p = payload(data);
        assert_eq!(p["entryType"], entry_type);
        assert_eq!(p["acknowledgedConversationEntryIdentifier"], "m-1");
        assert!(p["acknowledgementTimestamp"].as_u64().is_some());
    }
    let m = &sim.conversation(CONV).unwrap().messages[0];
    assert!(m.delivered && m.read);
    sim.shutdown().await;
}
