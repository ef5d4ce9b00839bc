//! The `matrix` adapter end to end against a REAL Synapse homeserver: the
//! real `handover-host` binary, the `matrix.wasm` component, Synapse
//! started by the `provider-simulators` matrix driver (installed by
//! `scripts/install-synapse.sh`), and an agent account driven through the
//! client-server API. The bot's access token reaches Synapse only through
//! the endpoint's `[[endpoints.auth]]` header rule.

use crate::e2e::harness::{Host, agent_texts, events_path, types};
use crate::e2e::support::create_routed;
use provider_simulators::driver::ProviderDriver;
use provider_simulators::matrix::MatrixDriver;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

async fn setup() -> (MatrixDriver, Host) {
    let driver = MatrixDriver::start()
        .await
        .unwrap_or_else(|e| panic!("starting Synapse for the matrix tests: {e:#}"));
    let host = Host::start_for_driver("matrix", "matrix", &driver).await;
    (driver, host)
}

async fn create(host: &Host, session: &str) -> String {
    create_routed(host, "matrix", session, "support").await
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["content"]["body"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn handover_to_a_matrix_room_completes_when_the_agent_closes() {
    let (d, host) = setup().await;
    let id = create(&host, "s-happy").await;
    let room = d
        .wait_for_conversation(&id, T)
        .await
        .unwrap_or_else(|| panic!("no Matrix room for {id}\n{}", host.log()));

    // The bot's event stream, read from the start until the end.
    let stream = host.spawn_handover_events(&id);

    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    // The agent sees the intro (routing) and the transcript.
    let seen = bodies(&d.room_messages(&room).await);
    assert!(seen[0].contains(&format!("Handover {id}")), "{seen:?}");
    assert!(
        seen[0].contains("skills orders · language en · priority 3 · queue support · tier=gold")
    );
    assert!(
        seen.contains(&"User: my order is late".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"Bot: Let me get you an agent.".to_string()),
        "{seen:?}"
    );

    // Typing is a moment, not a record: the bot sees it only if a sync
    // comes while it lasts, so the agent types until the bot has seen it.
    d.agent_typing(&room, true).await;
    let seen = host
        .sse(&events_path(&id), None, T, |e| e["type"] == "agent_typing")
        .await;
    assert_eq!(
        seen.last().map(|e| e["typing"].clone()),
        Some(json!(true)),
        "{seen:?}\n{}",
        host.log()
    );
    d.agent_message(&room, "Hi Ann, I am Alice. Let me check.")
        .await;
    host.input_expect(&id, "text", "thank you!", "forwarded")
        .await;
    // Cancel words once an agent is active are text for the agent.
    host.input_expect(&id, "quick_reply", "Cancel", "forwarded")
        .await;
    let got = host
        .eventually("the user's messages", T, async || {
            let got = d.user_messages(&room).await;
            (got.len() >= 2).then_some(got)
        })
        .await;
    assert_eq!(got, ["thank you!", "Cancel"]);
    d.agent_message(&room, "Your order ships today.").await;
    d.end(&room).await;

    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["result"], json!({"handover": {"status": "completed"}}));
    let events = tokio::time::timeout(T, stream).await.unwrap().unwrap();
    let t = types(&events);
    assert_eq!(t.first().map(String::as_str), Some("queued"), "{t:?}");
    assert!(t.contains(&"agent_joined".into()), "{t:?}");
    assert!(t.contains(&"agent_typing".into()), "{t:?}");
    let texts = agent_texts(&events);
    assert_eq!(
        texts,
        [
            "Hi Ann, I am Alice. Let me check.",
            "Your order ships today."
        ]
    );
    let joined = events.iter().find(|e| e["type"] == "agent_joined").unwrap();
    assert_eq!(
        joined["agent"],
        json!({"id": d.agent.user_id, "name": "Alice"})
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ended");
    assert_eq!(last["handover"], json!({"status": "completed"}));
    assert_eq!(last["end_reason"], "agent_closed");

    // The bot said goodbye and left; every adapter request carried the token.
    host.eventually(&format!("the bot to leave {room}"), T, async || {
        (!d.bot.joined_rooms().await.unwrap().contains(&room)).then_some(())
    })
    .await;
    let requests = d.requests();
    assert!(requests.iter().all(|r| r.bearer), "{requests:?}");
    assert!(requests.iter().any(|r| r.path.ends_with("/createRoom")));
    assert!(requests.iter().any(|r| r.path.ends_with("/sync")));
    d.shutdown().await;
}

#[tokio::test]
async fn cancel_close_agents_leaving_and_failures() {
    let (d, host) = setup().await;

    // The user cancels while queued: the bot leaves and rescinds the invite.
    let id = create(&host, "s-cancel").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    assert!(d.pending_invites().await.contains(&room));
    host.input_expect(&id, "quick_reply", "Cancel", "cancelled")
        .await;
    assert_eq!(d.closed_by_bot(&room).await, Some(true));
    assert!(
        !d.pending_invites().await.contains(&room),
        "the agent's invite was not rescinded: {:?}",
        d.requests()
    );

    // The bot side closes after the agent joined.
    let id = create(&host, "s-close").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (code, r["provider_closed"].as_bool()),
        (200, Some(true)),
        "{r}"
    );
    assert_eq!(d.closed_by_bot(&room).await, Some(true));
    let seen = bodies(&d.room_messages(&room).await);
    assert!(seen.last().unwrap().contains("bot side closed"), "{seen:?}");

    // The only agent leaves: agent_left, then ended (agent_left), completed.
    let id = create(&host, "s-leave").await;
    let room = d.wait_for_conversation(&id, T).await.unwrap();
    d.agent_join(&room, "Alice").await;
    host.wait_status(&id, "active", T).await;
    d.agent_leave(&room).await;
    let st = host.wait_status(&id, "completed", T).await;
    assert_eq!(st["end_reason"], "agent_left");
    let t = types(&host.handover_events(&id, None, T).await);
    assert!(
        t.ends_with(&["agent_left".to_string(), "ended".to_string()]),
        "{t:?}"
    );

    // Synapse failing room creation: the handover ends as an error naming the status.
    d.fail_next_start(503);
    let (code, created) = host
        .create("matrix", "s-fail", json!({"transcript": []}))
        .await;
    let id = created["handover_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let st = if id.is_empty() {
        created.clone()
    } else {
        host.wait_status(&id, "error", T).await
    };
    assert!(code == 201 || code >= 400, "{code} {created}");
    assert!(st.to_string().contains("503"), "{st}");

    // An unsupported channel.
    let (_, created) = host
        .create(
            "matrix",
            "s-fax",
            json!({"channel": "fax", "transcript": []}),
        )
        .await;
    let text = created.to_string();
    assert!(text.contains("unsupported"), "{text}");

    // Availability from the agent's presence (the driver set it online).
    let (code, a) = host.get("/v1/endpoints/matrix/availability").await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["agents_available"], true, "{a}");
    d.shutdown().await;
}
