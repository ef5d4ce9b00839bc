//! The LivePerson simulator speaks the Connector API: AppJWT, ConsumerJWS,
//! the conversation batch, the Send API and signed notifications.

use super::{LivePersonConfig, LivePersonSim, LpConversation, sign};
use crate::kit::lock;
use crate::kit::testing::{Receiver, status_and_json};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

struct Client {
    sim: LivePersonSim,
    http: reqwest::Client,
}

impl Client {
    fn new(sim: &LivePersonSim) -> Client {
        Client {
            sim: sim.clone(),
            http: reqwest::Client::new(),
        }
    }

    async fn app_jwt(&self) -> String {
        let cfg = self.sim.config();
        // LivePerson's own style: everything in the query string.
        let url = format!(
            "{}&grant_type=client_credentials&client_id={}&client_secret={}",
            self.sim.token_url(),
            cfg.client_id,
            cfg.client_secret
        );
        let r = self.http.post(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/api/account/{}{path}",
            self.sim.base_url(),
            self.sim.config().account_id
        )
    }

    async fn post(
        &self,
        path: &str,
        app: Option<&str>,
        jws: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(app) = app {
            req = req.header("authorization", app);
        }
        if let Some(jws) = jws {
            req = req.header("x-lp-on-behalf", jws);
        }
        status_and_json(req.send().await.unwrap()).await
    }

    /// Asks for a ConsumerJWS for `ext` with the AppJWT `app`, if any.
    async fn request_consumer(&self, app: Option<&str>, ext: &str) -> (u16, Value) {
        let body = json!({"ext_consumer_id": ext});
        self.post("/consumer?v=1.0", app, None, body).await
    }

    async fn consumer(&self, app: &str, ext: &str) -> String {
        let (s, v) = self.request_consumer(Some(app), ext).await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// The AppJWT, the ConsumerJWS of `ext` and the conversation it opened.
    async fn opened(&self, ext: &str) -> (String, String, LpConversation) {
        let app = self.app_jwt().await;
        let jws = self.consumer(&app, ext).await;
        self.open(&app, &jws).await;
        let conv = self.sim.wait_for_conversation(ext, T).await.unwrap();
        (app, jws, conv)
    }

    async fn open(&self, app: &str, jws: &str) -> (u16, Value) {
        let account = self.sim.config().account_id.clone();
        self.post(
            "/messaging/consumer/conversation?v=3",
            Some(app),
            Some(jws),
            json!([
                {"kind": "req", "id": "1", "type": "userprofile.SetUserProfile",
                 "body": {"authenticatedData": {"lp_sdes": [{"type": "ctmrinfo", "info": {"customerId": "u-1"}}]}}},
                {"kind": "req", "id": "2", "type": "cm.ConsumerRequestConversation",
                 "body": {"channelType": "MESSAGING", "brandId": account, "skillId": "42", "ttrDefName": "URGENT"}},
            ]),
        )
        .await
    }

    async fn send(&self, app: &str, jws: &str, request: Value) -> (u16, Value) {
        self.post(
            "/messaging/consumer/conversation/send?v=3",
            Some(app),
            Some(jws),
            request,
        )
        .await
    }
}

fn publish(conv: &str, text: &str) -> Value {
    json!({"kind": "req", "id": "3", "type": "ms.PublishEvent", "body": {"dialogId": conv,
        "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}})
}

async fn sim() -> LivePersonSim {
    LivePersonSim::start(LivePersonConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_connector_flow_needs_app_and_consumer_tokens() {
    let sim = sim().await;
    let c = Client::new(&sim);
    assert_eq!(c.request_consumer(None, "h-1").await.0, 401);
    let forged = c.request_consumer(Some("Bearer forged"), "h-1").await;
    assert_eq!(forged.0, 401);
    let app = c.app_jwt().await;
    // The AppJWT works bare (LivePerson's examples) and as a bearer token.
    let jws = c.consumer(&app, "h-1").await;
    c.consumer(&format!("Bearer {app}"), "h-2").await;
    let (s, _) = c.open(&app, "jws-forged").await;
    assert_eq!(s, 401);
    let (s, answers) = c.open(&app, &jws).await;
    assert_eq!(s, 200, "{answers}");
    assert_eq!(answers[0]["code"], 200);
    assert_eq!(answers[1]["type"], "cm.RequestConversationResponse");
    let conv_id = answers[1]["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_string();
    let conv = sim.wait_for_conversation("h-1", T).await.unwrap();
    assert_eq!(conv.id, conv_id);
    assert_eq!(conv.skill_id.as_deref(), Some("42"));
    assert_eq!(conv.ttr.as_deref(), Some("URGENT"));
    assert_eq!(conv.sdes[0]["info"]["customerId"], "u-1");
    // One open conversation per consumer.
    let (s, again) = c.open(&app, &jws).await;
    assert_eq!(s, 400);
    assert_eq!(again[1]["code"], 400);
    // Publishing answers the sequence.
    let (s, r) = c.send(&app, &jws, publish(&conv_id, "hi")).await;
    assert_eq!((s, r["body"]["sequence"].clone()), (200, json!(0)));
    let (_, r) = c.send(&app, &jws, publish(&conv_id, "there")).await;
    assert_eq!(r["body"]["sequence"], 1);
    // Another consumer cannot write to it.
    let other = c.consumer(&app, "h-3").await;
    let (s, _) = c.send(&app, &other, publish(&conv_id, "x")).await;
    assert_eq!(s, 404);
    // The consumer closes it.
    let close = json!({"kind": "req", "id": "4", "type": "cm.UpdateConversationField", "body": {
        "conversationId": conv_id,
        "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}]}});
    assert_eq!(c.send(&app, &jws, close).await.0, 200);
    let conv = sim.conversation(&conv_id).unwrap();
    assert_eq!(
        (conv.state.as_str(), conv.close_reason.as_deref()),
        ("CLOSE", Some("CONSUMER"))
    );
    assert_eq!(conv.consumer_messages, ["hi", "there"]);
    assert_eq!(c.send(&app, &jws, publish(&conv_id, "late")).await.0, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_and_faults_are_scripted() {
    let sim = sim().await;
    let c = Client::new(&sim);
    sim.set_token_ttl(Duration::from_secs(1));
    let app = c.app_jwt().await;
    let jws = c.consumer(&app, "h-1").await;
    sim.fail_next(
        None,
        "/api/account/64467156/messaging/consumer/conversation*",
        500,
        1,
    );
    assert_eq!(c.open(&app, &jws).await.0, 500);
    assert_eq!(c.open(&app, &jws).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _) = c.request_consumer(Some(&app), "h-2").await;
    assert_eq!(s, 401, "expired AppJWT");
    assert_eq!(sim.tokens_issued(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn notifications_are_signed_and_sequenced() {
    let sim = sim().await;
    let receiver = Receiver::hooked_to(&sim).await;
    let c = Client::new(&sim);
    let (app, jws, conv) = c.opened("h-1").await;
    c.send(&app, &jws, publish(&conv.id, "help")).await;
    sim.agent_join(&conv.id, "Ann");
    sim.agent_typing(&conv.id, true);
    sim.agent_message(&conv.id, "hello");
    sim.agent_rich_content(
        &conv.id,
        json!({"type": "vertical", "elements": [{"type": "text", "text": "x"}]}),
    );
    sim.end(&conv.id);
    assert!(sim.wait_for_deliveries(7, T).await);
    let got = lock(&receiver.got).clone();
    for (headers, body) in &got {
        assert_eq!(
            headers["x-liveperson-signature"].to_str().unwrap(),
            sign("lp-connector-secret", body)
        );
        assert_eq!(headers["x-liveperson-account-id"], "64467156");
        assert_eq!(headers["x-liveperson-client-id"], "lp-connector-app");
    }
    let bodies = receiver.bodies();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "cqm.ExConversationChangeNotification",
            "ms.MessagingEventNotification",
            "cqm.ExConversationChangeNotification",
            "ms.MessagingEventNotification",
            "ms.MessagingEventNotification",
            "ms.MessagingEventNotification",
            "cqm.ExConversationChangeNotification",
        ]
    );
    let change = |i: usize| bodies[i]["body"]["changes"][0].clone();
    assert_eq!(change(1)["originatorMetadata"]["role"], "CONSUMER");
    assert_eq!(change(1)["sequence"], 0);
    let joined = &change(2)["result"]["conversationDetails"];
    assert_eq!(joined["participants"][1]["role"], "ASSIGNED_AGENT");
    assert!(
        change(3).get("sequence").is_none(),
        "chat states are not sequenced"
    );
    assert_eq!(change(4)["sequence"], 1);
    assert_eq!(change(4)["event"]["message"], "hello");
    assert_eq!(change(5)["sequence"], 2);
    let closed = &change(6)["result"]["conversationDetails"];
    assert_eq!(
        (closed["state"].clone(), closed["closeReason"].clone()),
        (json!("CLOSE"), json!("AGENT"))
    );
    let ts = |i: usize| {
        change(i)["result"]["conversationDetails"]["metaDataLastUpdateTs"]
            .as_u64()
            .unwrap()
    };
    assert!(ts(0) < ts(2) && ts(2) < ts(6));
    receiver.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn scripted_agents_can_refuse() {
    let sim = sim().await;
    let (_, _, conv) = Client::new(&sim).opened("h-1").await;
    sim.set_never_assign(true);
    sim.set_never_end(true);
    sim.agent_join(&conv.id, "Ann");
    sim.end(&conv.id);
    let conv = sim.conversation(&conv.id).unwrap();
    assert!(conv.agent.is_none());
    assert_eq!(conv.state, "OPEN");
    sim.shutdown().await;
}
