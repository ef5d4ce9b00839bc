//! The driver against a real Synapse, playing the bot by hand (the host
//! and the adapter are tested in host/tests/e2e/providers_matrix.rs).

use super::{MatrixDriver, enc};
use crate::driver::ProviderDriver;
use serde_json::{Value, json};
use std::time::Duration;

async fn proxied(
    d: &MatrixDriver,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let url = format!("{}/_matrix/client/v3{path}", d.proxy.base_url());
    let mut req = reqwest::Client::new().request(method, url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn driver_plays_the_agent_against_real_synapse() {
    let d = MatrixDriver::start().await.expect("start synapse");
    assert!(!d.pushes_webhooks());
    let setup = d.endpoint_setup();
    assert_eq!(setup.settings["agents"], json!([d.agent.user_id]));
    assert!(setup.extra_toml.contains("Bearer {{matrix_token}}"));
    assert!(setup.extra_toml.contains(&d.bot.token));

    // Synapse requires the bot's token; a wrong one is refused too.
    let create = json!({"preset": "private_chat", "invite": [d.agent.user_id],
                        "name": "Handover: Ann", "topic": "Handover h-123 · webchat"});
    let post = reqwest::Method::POST;
    let (status, body) = proxied(&d, post.clone(), "/createRoom", None, create.clone()).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = proxied(
        &d,
        post.clone(),
        "/createRoom",
        Some("wrong"),
        create.clone(),
    )
    .await;
    assert_eq!(status, 401);

    // Injected failure, then the real thing.
    d.fail_next_start(503);
    let token = Some(d.bot.token.as_str());
    let (status, body) = proxied(&d, post.clone(), "/createRoom", token, create.clone()).await;
    assert_eq!((status, body["errcode"].as_str()), (503, Some("M_UNKNOWN")));
    let (status, body) = proxied(&d, post, "/createRoom", token, create).await;
    assert_eq!(status, 200, "{body}");
    let room = body["room_id"].as_str().unwrap().to_string();
    let seen = d.requests();
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen.iter()
            .map(|s| (s.bearer, s.status))
            .collect::<Vec<_>>(),
        [(false, 401), (true, 401), (true, 503), (true, 200)]
    );

    let found = d
        .wait_for_conversation("h-123", Duration::from_secs(10))
        .await;
    assert_eq!(found.as_deref(), Some(room.as_str()));
    assert_eq!(
        d.wait_for_conversation("h-999", Duration::from_millis(200))
            .await,
        None
    );

    d.agent_join(&room, "Alice").await;
    d.agent_message(&room, "Hello from Alice").await;
    for (body, kind) in [("transcript", "transcript"), ("I need help", "user")] {
        let content = json!({"msgtype": "m.text", "body": body, "io.handover.kind": kind});
        d.bot.send(&room, content).await.unwrap();
    }
    assert_eq!(d.user_messages(&room).await, ["I need help"]);
    let texts: Vec<String> = d
        .room_messages(&room)
        .await
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(String::from))
        .collect();
    assert!(texts.contains(&"Hello from Alice".to_string()), "{texts:?}");
    assert_eq!(d.closed_by_bot(&room).await, Some(false));

    // The bot's end notice and leave, as the adapter's `close` does.
    d.bot
        .send(&room, json!({"msgtype": "m.notice", "body": "bye", "io.handover.kind": "end", "io.handover.end": "close"}))
        .await
        .unwrap();
    d.bot
        .ok(
            "POST",
            &format!("/rooms/{}/leave", enc(&room)),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(d.closed_by_bot(&room).await, Some(true));
    d.shutdown().await;
}
