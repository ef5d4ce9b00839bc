//! The provider API over loopback HTTP: creating conversations, messages,
//! cancel/close, availability, the polling endpoint and the control routes.

mod common;

use common::{WAIT, create, get, new_conversation, post};
use provider_simulators::{SimConfig, SimProvider};
use serde_json::json;

async fn sim() -> SimProvider {
    SimProvider::start(SimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn create_conversation_records_what_was_sent() {
    let sim = sim().await;
    let base = sim.base_url();
    assert_eq!(base, format!("http://127.0.0.1:{}", sim.port()));
    let (status, body) = post(&format!("{base}/conversations"), new_conversation("h-1")).await;
    assert_eq!(status, 201);
    assert_eq!(
        body,
        json!({ "id": "c-1", "queue_position": 1, "estimated_wait_seconds": 30 })
    );

    let rec = sim.conversation("c-1").unwrap();
    assert_eq!(rec.handover_id, "h-1");
    assert_eq!(rec.channel, "webchat");
    assert_eq!(rec.locale.as_deref(), Some("en-GB"));
    assert_eq!(rec.status, "queued");
    assert_eq!(rec.transcript.len(), 2);
    assert_eq!(rec.transcript[1].author, "bot");
    assert_eq!(rec.routing["skills"], json!(["billing"]));
    assert_eq!(rec.profile["tier"], "gold");
    assert_eq!(sim.conversation_for_handover("h-1").unwrap().id, "c-1");
    assert_eq!(
        sim.wait_for_conversation("h-1", WAIT).await.unwrap().id,
        "c-1"
    );
    assert!(sim.conversation_for_handover("h-2").is_none());

    let req = &sim.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.status),
        ("POST", "/conversations", 201)
    );
    assert_eq!(req.json().unwrap()["handover_id"], "h-1");
    assert!(
        req.header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );

    assert_eq!(create(&base, "h-2").await, "c-2");
    assert_eq!(sim.conversations().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn create_rejects_bad_bodies() {
    let sim = sim().await;
    let url = format!("{}/conversations", sim.base_url());
    let (status, body) = post(&url, json!({ "channel": "webchat" })).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("handover_id"));
    let mut bad_author = new_conversation("h-1");
    bad_author["transcript"][0]["author"] = json!("robot");
    assert_eq!(post(&url, bad_author).await.0, 400);
    assert!(sim.conversations().is_empty());
}

#[tokio::test]
async fn messages_cancel_and_close() {
    let sim = sim().await;
    let base = sim.base_url();
    let id = create(&base, "h-1").await;
    let url = format!("{base}/conversations/{id}/messages");
    let (status, body) = post(
        &url,
        json!({ "text": "hello", "kind": "text", "attachments": [] }),
    )
    .await;
    assert_eq!((status, body), (202, json!({})));
    let attachment =
        json!({ "url": "https://x/y.png", "content_type": "image/png", "name": "y.png" });
    let sent = json!({ "text": "pick", "kind": "quick_reply", "attachments": [attachment] });
    assert_eq!(post(&url, sent).await.0, 202);
    assert_eq!(
        post(&url, json!({ "text": "x", "kind": "shout" })).await.0,
        400
    );

    let msgs = sim.wait_for_user_messages(&id, 2, WAIT).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (msgs[1].text.as_str(), msgs[1].kind.as_str()),
        ("pick", "quick_reply")
    );
    assert_eq!(msgs[1].attachments[0].content_type, "image/png");

    let (status, body) = post(
        &format!("{base}/conversations/c-99/messages"),
        json!({ "text": "x" }),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());

    assert_eq!(
        post(&format!("{base}/conversations/{id}/cancel"), json!({})).await,
        (200, json!({}))
    );
    assert_eq!(sim.conversation(&id).unwrap().status, "cancelled");
    let (status, body) = post(&url, json!({ "text": "late" })).await;
    assert_eq!(status, 409);
    assert!(body["error"].is_string());
    // Closing afterwards is accepted but the first terminal status stays.
    assert_eq!(
        post(&format!("{base}/conversations/{id}/close"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(sim.conversation(&id).unwrap().status, "cancelled");

    let other = create(&base, "h-2").await;
    assert_eq!(
        post(&format!("{base}/conversations/{other}/close"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        sim.wait_for_status(&other, "closed", WAIT)
            .await
            .unwrap()
            .id,
        other
    );
    assert_eq!(
        post(
            &format!("{base}/conversations/{other}/messages"),
            json!({ "text": "x" })
        )
        .await
        .0,
        409
    );
    assert_eq!(
        post(&format!("{base}/conversations/c-99/cancel"), json!({}))
            .await
            .0,
        404
    );
    // Cancel and close emit nothing beyond the initial `queued`.
    assert_eq!(sim.events(&id).len(), 1);
}

#[tokio::test]
async fn availability_is_scriptable() {
    let sim = sim().await;
    let url = format!("{}/availability", sim.base_url());
    let open = json!({ "agents_available": true, "open": true, "estimated_wait_seconds": 30 });
    assert_eq!(get(&url).await, (200, open));
    sim.set_availability(false, false, None);
    let closed =
        json!({ "agents_available": false, "open": false, "estimated_wait_seconds": null });
    assert_eq!(get(&url).await, (200, closed));
}

#[tokio::test]
async fn polling_returns_events_after_seq() {
    let sim = sim().await;
    sim.set_queue_position(Some(4), Some(120));
    let base = sim.base_url();
    let id = create(&base, "h-1").await;
    sim.queue_update(&id, 2, 60).await;
    sim.agent_join(&id, "a-7", "Sam").await;
    sim.agent_typing(&id, true).await;
    sim.agent_message(&id, "hi there").await;
    sim.transfer(&id, "tier2").await;
    sim.end(&id, "provider_closed").await;

    let (status, page) = get(&format!("{base}/conversations/{id}/events?after=0")).await;
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    let types: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let expected = [
        "queued",
        "queued",
        "agent_joined",
        "agent_typing",
        "agent_message",
        "transferred",
        "ended",
    ];
    assert_eq!(types, expected);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], json!(i + 1));
        assert_eq!(e["conversation_id"], json!(id));
        assert_eq!(e["event_id"], json!(format!("e-{}", i + 1)));
    }
    assert_eq!(
        (
            events[0]["position"].clone(),
            events[0]["estimated_wait_seconds"].clone()
        ),
        (json!(4), json!(120))
    );
    assert_eq!(events[2]["agent"], json!({ "id": "a-7", "name": "Sam" }));
    assert_eq!(events[3]["typing"], true);
    assert_eq!(events[4]["text"], "hi there");
    assert_eq!(events[4]["agent"]["id"], "a-7");
    assert_eq!(events[4]["attachments"], json!([]));
    assert_eq!(events[5]["to_queue"], "tier2");
    assert_eq!(events[6]["reason"], "provider_closed");
    assert_eq!(sim.conversation(&id).unwrap().status, "ended");

    let (_, page) = get(&format!("{base}/conversations/{id}/events?after=5")).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let (_, page) = get(&format!("{base}/conversations/{id}/events")).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 7);
    assert_eq!(
        get(&format!("{base}/conversations/{id}/events?after=x"))
            .await
            .0,
        400
    );
    assert_eq!(
        get(&format!("{base}/conversations/c-9/events?after=0"))
            .await
            .0,
        404
    );

    // Event ids are global; seq restarts per conversation.
    let second = create(&base, "h-2").await;
    let first = &sim.events(&second)[0];
    assert_eq!(
        (first["seq"].clone(), first["event_id"].clone()),
        (json!(1), json!("e-8"))
    );
}

#[tokio::test]
async fn control_routes_drive_the_agent_side() {
    let sim = sim().await;
    let base = sim.base_url();
    let id = create(&base, "h-1").await;
    let ctl = |action: &str| format!("{base}/_sim/conversations/{id}/{action}");
    let (status, event) = post(
        &ctl("agent_join"),
        json!({ "agent_id": "a-2", "name": "Kim" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (event["type"].clone(), event["seq"].clone()),
        (json!("agent_joined"), json!(2))
    );
    assert_eq!(sim.conversation(&id).unwrap().status, "active");
    assert_eq!(
        post(&ctl("agent_message"), json!({ "text": "hello" }))
            .await
            .1["text"],
        "hello"
    );
    assert_eq!(
        post(&ctl("agent_typing"), json!({ "on": false })).await.1["typing"],
        false
    );
    assert_eq!(
        post(&ctl("agent_leave"), json!({})).await.1["agent"]["name"],
        "Kim"
    );
    assert_eq!(
        post(&ctl("transfer"), json!({ "to_queue": "vip" })).await.1["to_queue"],
        "vip"
    );
    assert_eq!(
        post(&ctl("end"), json!({ "reason": "no_agent" })).await.1["reason"],
        "no_agent"
    );
    assert_eq!(
        post(&format!("{base}/_sim/conversations/c-9/end"), json!({}))
            .await
            .0,
        404
    );

    let (status, list) = get(&format!("{base}/_sim/conversations")).await;
    assert_eq!(status, 200);
    assert_eq!(list["conversations"][0]["status"], "ended");

    post(
        &format!("{base}/_sim/availability"),
        json!({ "agents_available": false, "open": true }),
    )
    .await;
    assert_eq!(
        get(&format!("{base}/availability")).await.1["agents_available"],
        false
    );

    // Control routes are not provider API requests.
    assert!(sim.requests().iter().all(|r| !r.path.starts_with("/_sim")));
}
