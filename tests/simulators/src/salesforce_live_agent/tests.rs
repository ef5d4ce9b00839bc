//! The Live Agent simulator over real HTTP: sessions, sequence checking,
//! the long-polled `Messages`, availability and faults.

use super::{BUTTON_ID, DEPLOYMENT_ID, LiveAgentSim, ORG_ID};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A simulator holding `Messages` polls for `hold_ms`.
async fn sim(hold_ms: u64) -> LiveAgentSim {
    LiveAgentSim::start(Duration::from_millis(hold_ms))
        .await
        .unwrap()
}

/// A simulator holding polls for `hold_ms` and a visitor whose chat it
/// received (`ChasitorInit`, sequence 1).
async fn requested(hold_ms: u64) -> (LiveAgentSim, Visitor) {
    let sim = sim(hold_ms).await;
    let v = Visitor::new(&sim).await;
    v.init(1).await;
    (sim, v)
}

/// A `GET` of `url` with the API version and the given session headers.
fn session_get(url: &str, affinity: &str, key: &str) -> reqwest::RequestBuilder {
    client()
        .get(url)
        .header("X-LIVEAGENT-API-VERSION", "58")
        .header("X-LIVEAGENT-AFFINITY", affinity)
        .header("X-LIVEAGENT-SESSION-KEY", key)
}

struct Visitor {
    base: String,
    key: String,
    affinity: String,
    id: String,
}

impl Visitor {
    async fn new(sim: &LiveAgentSim) -> Visitor {
        let base = format!("{}/chat/rest", sim.base_url());
        let r = client()
            .get(format!("{base}/System/SessionId"))
            .header("X-LIVEAGENT-API-VERSION", "58")
            .header("X-LIVEAGENT-AFFINITY", "null")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["clientPollTimeout"], 40);
        Visitor {
            base,
            key: v["key"].as_str().unwrap().into(),
            affinity: v["affinityToken"].as_str().unwrap().into(),
            id: v["id"].as_str().unwrap().into(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        client()
            .request(method, format!("{}/{path}", self.base))
            .header("X-LIVEAGENT-API-VERSION", "58")
            .header("X-LIVEAGENT-AFFINITY", &self.affinity)
            .header("X-LIVEAGENT-SESSION-KEY", &self.key)
    }

    async fn post(&self, path: &str, sequence: u64, body: Value) -> (u16, String) {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("X-LIVEAGENT-SEQUENCE", sequence.to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn init(&self, sequence: u64) -> (u16, String) {
        self.post(
            "Chasitor/ChasitorInit",
            sequence,
            json!({"organizationId": ORG_ID, "deploymentId": DEPLOYMENT_ID, "buttonId": BUTTON_ID,
                "sessionId": self.id, "userAgent": "test", "language": "en-US",
                "screenResolution": "", "visitorName": "Dana",
                "prechatDetails": [{"label": "Handover ID", "value": "h-1", "entityMaps": [],
                    "transcriptFields": [], "displayToAgent": true}],
                "prechatEntities": [], "receiveQueueUpdates": true, "isPost": true}),
        )
        .await
    }

    async fn messages(&self, ack: Option<i64>) -> (u16, Value) {
        let path = match ack {
            Some(a) => format!("System/Messages?ack={a}"),
            None => "System/Messages".into(),
        };
        let r = self
            .request(reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn types(batch: &Value) -> Vec<&str> {
    batch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_chat_from_request_to_end() {
    let sim = sim(300).await;
    sim.set_queue(3, 90);
    let v = Visitor::new(&sim).await;
    assert_eq!(v.init(1).await, (200, "OK".into()));
    let chat = sim
        .wait_for_chat_with("Handover ID", "h-1", T)
        .await
        .unwrap();
    assert_eq!(
        (chat.id.as_str(), chat.status.as_str()),
        (v.id.as_str(), "queued")
    );
    let (status, batch) = v.messages(None).await;
    assert_eq!(status, 200);
    assert_eq!(types(&batch), ["ChatRequestSuccess"]);
    assert_eq!(batch["messages"][0]["message"]["queuePosition"], 3);
    assert_eq!(batch["messages"][0]["message"]["estimatedWaitTime"], 90);
    let seq = batch["sequence"].as_i64().unwrap();

    sim.queue_update(&v.id, 1, 10).unwrap();
    let agent = sim.agent_join(&v.id, "Alex").unwrap();
    sim.agent_message(&v.id, "hello").unwrap();
    let (_, batch) = v.messages(Some(seq)).await;
    assert_eq!(
        types(&batch),
        ["QueueUpdate", "ChatEstablished", "ChatMessage"]
    );
    assert_eq!(batch["messages"][1]["message"]["userId"], agent.as_str());
    assert_eq!(batch["messages"][2]["message"]["text"], "hello");
    // Not acknowledged: the same messages come again.
    let (_, again) = v.messages(Some(seq)).await;
    assert_eq!(again, batch);
    let seq = batch["sequence"].as_i64().unwrap();

    assert_eq!(
        v.post("Chasitor/ChatMessage", 2, json!({"text": "hi"}))
            .await
            .0,
        200
    );
    assert_eq!(
        sim.wait_for_user_messages(&v.id, 1, T).await.unwrap(),
        ["hi"]
    );
    sim.end(&v.id).unwrap();
    let (_, batch) = v.messages(Some(seq)).await;
    assert_eq!(types(&batch), ["ChatEnded"]);
    assert_eq!(sim.chat(&v.id).unwrap().status, "ended_by_agent");
    sim.shutdown().await;
}

#[tokio::test]
async fn messages_is_held_then_answers_204() {
    let (sim, v) = requested(400).await;
    let (_, batch) = v.messages(None).await;
    let seq = batch["sequence"].as_i64().unwrap();
    let started = Instant::now();
    let (status, _) = v.messages(Some(seq)).await;
    assert_eq!(status, 204);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    // A message arriving during the hold answers the poll at once.
    let waiting = tokio::spawn(async move { v.messages(Some(seq)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = sim.chats()[0].id.clone();
    sim.agent_typing(&id, true).unwrap();
    let (status, batch) = waiting.await.unwrap();
    assert_eq!((status, types(&batch)), (200, vec!["AgentTyping"]));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_sequence_must_count_up_by_one() {
    let sim = sim(100).await;
    let v = Visitor::new(&sim).await;
    let (status, text) = v.init(2).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("expected 1"), "{text}");
    assert!(
        !sim.chats()[0].requested,
        "a refused request is not acted on"
    );
    assert_eq!(v.init(1).await.0, 200);
    let (status, _) = v
        .post("Chasitor/ChatMessage", 2, json!({"text": "one"}))
        .await;
    assert_eq!(status, 200);
    // A repeated number (e.g. a retry after a lost answer) is refused.
    let (status, _) = v
        .post("Chasitor/ChatMessage", 2, json!({"text": "one"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = v
        .post("Chasitor/ChatEnd", 3, json!({"reason": "client"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sim.chat(&v.id).unwrap().status, "ended_by_client");
    assert_eq!(sim.chat(&v.id).unwrap().user_messages, ["one"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn session_calls_need_the_key_and_affinity() {
    let sim = sim(100).await;
    let base = format!("{}/chat/rest", sim.base_url());
    let c = client();
    let no_version = c
        .get(format!("{base}/System/SessionId"))
        .header("X-LIVEAGENT-AFFINITY", "null");
    assert_eq!(no_version.send().await.unwrap().status(), 400);
    let v = Visitor::new(&sim).await;
    let messages = format!("{base}/System/Messages");
    let no_key = c.get(&messages).header("X-LIVEAGENT-API-VERSION", "58");
    assert_eq!(no_key.send().await.unwrap().status(), 401);
    let wrong_key = session_get(&messages, &v.affinity, "nope");
    assert_eq!(wrong_key.send().await.unwrap().status(), 403);
    let wrong_affinity = session_get(&messages, "other", &v.key);
    assert_eq!(wrong_affinity.send().await.unwrap().status(), 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn no_agent_fails_the_request_and_availability_says_so() {
    let sim = sim(100).await;
    let url = format!(
        "{}/chat/rest/Visitor/Availability?org_id={ORG_ID}&deployment_id={DEPLOYMENT_ID}&Availability.ids={BUTTON_ID}&Availability.needEstimatedWaitTime=1",
        sim.base_url()
    );
    let get = |url: String| async move {
        client()
            .get(url)
            .header("X-LIVEAGENT-API-VERSION", "58")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let up = get(url.clone()).await;
    assert_eq!(
        up["messages"][0]["message"]["results"],
        json!([{"id": BUTTON_ID, "isAvailable": true, "estimatedWaitTime": 30}])
    );
    sim.set_agents_available(false);
    let down = get(url).await;
    assert_eq!(
        down["messages"][0]["message"]["results"],
        json!([{"id": BUTTON_ID}])
    );
    let v = Visitor::new(&sim).await;
    v.init(1).await;
    let (_, batch) = v.messages(None).await;
    assert_eq!(types(&batch), ["ChatRequestFail"]);
    assert_eq!(sim.chat(&v.id).unwrap().status, "failed");
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_answer_without_acting() {
    let (sim, v) = requested(100).await;
    sim.fail_next(Some("GET"), "/chat/rest/System/Messages", 503, 1);
    let (status, _) = v.messages(None).await;
    assert_eq!(status, 503);
    let (status, batch) = v.messages(None).await;
    assert_eq!((status, types(&batch)), (200, vec!["ChatRequestSuccess"]));
    sim.set_disconnect_instead_of_end(true);
    sim.end(&v.id).unwrap();
    let (_, batch) = v.messages(None).await;
    assert_eq!(types(&batch), ["AgentDisconnect"]);
    sim.shutdown().await;
}
