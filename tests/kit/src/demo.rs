//! `handover-host demo`: one complete handover on embedded defaults against
//! the built-in simulated provider, printed as a conversation. The last line
//! is the final object.
//!
//! Runs a real host (HTTP listener, SQLite in a temporary directory, the
//! `sim` adapter in the sandbox) and a real simulator over loopback; the
//! agent side is scripted. Leaves nothing behind.

use anyhow::{Context, Result, bail};
use handover_host::config::{self, LoadedConfig};
use handover_host::engine::{BotMessage, CreateRequest, InputRequest};
use handover_host::server;
use handover_host::store::EventScope;
use provider_simulators::{SimConfig, SimProvider};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the `sim` adapter component is, if built.
pub fn find_sim_adapter(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = explicit.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("../adapters/sim.wasm"));
    }
    candidates.push(PathBuf::from("target/adapters/sim.wasm"));
    candidates.into_iter().find(|p| p.exists()).context("the `sim` adapter is not built: run `scripts/build-adapters.sh` (the README's run command does), or pass --adapter")
}

pub async fn run(adapter: Option<&Path>) -> Result<String> {
    let adapter = find_sim_adapter(adapter)?.canonicalize()?;
    let dir = std::env::temp_dir().join(format!("handover-demo-{}", std::process::id()));
    let secret = "demo-webhook-secret";
    let sim = SimProvider::start(SimConfig {
        webhook_url: None,
        webhook_secret: secret.into(),
        auto_agent: None,
    })
    .await?;
    let src = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {dir:?}\nwatch_adapters = false\n\n[[endpoints]]\nid = \"demo\"\nadapter = {adapter:?}\negress = [\"{}\"]\nwebhook_secret = \"{secret}\"\nsettings = {{ base_url = \"{}\" }}\n",
        sim.base_url(),
        sim.base_url(),
        dir = dir.display().to_string(),
        adapter = adapter.display().to_string()
    );
    let cfg = config::parse("demo.toml", &src).map_err(|e| anyhow::anyhow!("{e}"))?;
    let loaded = LoadedConfig {
        config: cfg,
        path: dir.join("demo.toml"),
        source: src,
    };
    let srv = server::start(&loaded).await?;
    sim.set_webhook_url(Some(format!("http://{}/v1/webhooks/demo", srv.addr)));
    let engine = srv.engine.clone();
    let mut out = Vec::new();
    let mut say = |who: &str, text: String| {
        let line = format!("{who:>7}  {text}");
        println!("{line}");
        out.push(line);
    };
    say(
        "bot",
        "the flow asks for a human: session demo-1, channel webchat".into(),
    );
    let req: CreateRequest = serde_json::from_value(serde_json::json!({
        "session_id": "demo-1", "user_id": "user-42", "channel": "webchat", "locale": "en-US",
        "transcript": [{"author": "user", "text": "my parcel never arrived", "timestamp_ms": 0},
                        {"author": "bot", "text": "Let me get you a human.", "timestamp_ms": 0}],
        "accepted_message": "An agent will be with you shortly.",
        "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
        "routing": {"skills": ["orders"], "language": "en"}
    }))?;
    let created = engine.create("demo", req).await?;
    let id = created.handover.handover_id.clone();
    for m in &created.messages {
        let (kind, text) = match m {
            BotMessage::Text { text } => ("text", text),
            BotMessage::QuickReply { text, .. } => ("quick_reply", text),
        };
        say("bot", format!("shows {kind}: {text}"));
    }
    let conv = sim
        .wait_for_conversation(&id, Duration::from_secs(5))
        .await
        .context("the provider never saw the conversation")?;
    let mut last = 0;
    let mut show = async |engine: &handover_host::engine::Engine,
                          until: &str,
                          say: &mut dyn FnMut(&str, String)|
           -> Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            for e in engine
                .events_after(&EventScope::Handover(id.clone()), last, 100)
                .await?
            {
                last = e.id;
                let p = &e.payload;
                match e.kind.as_str() {
                    "queued" => say(
                        "event",
                        format!(
                            "queued (position {}, estimated wait {} s)",
                            p["position"], p["estimated_wait_seconds"]
                        ),
                    ),
                    "agent_joined" => say(
                        "event",
                        format!(
                            "agent joined: {}",
                            p["agent"]["name"].as_str().unwrap_or("?")
                        ),
                    ),
                    "agent_message" => say("agent", p["text"].as_str().unwrap_or("").to_string()),
                    "ended" => say(
                        "event",
                        format!("ended ({})", p["end_reason"].as_str().unwrap_or("")),
                    ),
                    other => say("event", other.to_string()),
                }
                if e.kind == until {
                    return Ok(e.payload);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for `{until}`");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    show(&engine, "queued", &mut say).await?;
    sim.agent_join(&conv.id, "a-1", "Alex").await;
    show(&engine, "agent_joined", &mut say).await?;
    sim.agent_message(&conv.id, "Hi, I'm Alex. Let me look into your order.")
        .await;
    show(&engine, "agent_message", &mut say).await?;
    say("user", "Thanks! Order 1234.".into());
    engine
        .input(
            &id,
            InputRequest {
                message_id: None,
                kind: Default::default(),
                text: "Thanks! Order 1234.".into(),
                attachments: vec![],
            },
        )
        .await?;
    let got = sim
        .wait_for_user_messages(&conv.id, 1, Duration::from_secs(5))
        .await;
    say(
        "desk",
        format!(
            "the agent desk received: {:?}",
            got.first().map(|m| m.text.clone()).unwrap_or_default()
        ),
    );
    sim.agent_message(&conv.id, "Found it: it ships tomorrow. Anything else?")
        .await;
    show(&engine, "agent_message", &mut say).await?;
    sim.end(&conv.id, "agent_closed").await;
    let ended = show(&engine, "ended", &mut say).await?;
    srv.abort();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(serde_json::json!({"handover": ended["handover"]}).to_string())
}
