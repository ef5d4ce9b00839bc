//! "A new adapter started from the template compiles and passes the
//! happy-path scenario with only its provider logic filled in": copy
//! `adapters/template`, replace only `src/provider.rs` with logic for the
//! sim provider (its protocol is in adapters/sim/PROTOCOL.md), build it for
//! wasm32-wasip2 like a third party would, and run the conformance kit.

use crate::harness::run_conformance;
use std::path::{Path, PathBuf};
use std::process::Command;

const FILLED_PROVIDER: &str = r##"
//! Provider logic for the sim reference provider, filled into the template.
use handover_adapter_sdk::http::{self, Ignored, path_segment};
use handover_adapter_sdk::{Capabilities, Conversation, EndReason, Event, Failure, Polling, SignatureAlgorithm, SignatureEncoding, SignedContent, UserInput, WebhookSignature, error, events, settings};
use serde::Deserialize;
use serde_json::json;

pub const CHANNELS: &[&str] = &["webchat", "sms"];
pub const CAPABILITIES: Capabilities = Capabilities::NONE;
pub const POLLING: Polling = Polling::NONE;

pub fn webhook_signature() -> Option<WebhookSignature> {
    Some(WebhookSignature {
        algorithm: SignatureAlgorithm::HmacSha256,
        header: "X-Sim-Signature".into(),
        encoding: SignatureEncoding::Hex,
        prefix: Some("sha256=".into()),
        signed: SignedContent::TimestampThenBody(".".into()),
        timestamp_header: Some("X-Sim-Timestamp".into()),
        delivery_id_header: Some("X-Sim-Delivery".into()),
    })
}

#[derive(Deserialize)]
pub struct Settings { pub base_url: String }

impl Settings {
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let mut parsed: Settings = settings::parse(text)?;
        parsed.base_url = settings::require_http_url("base_url", &parsed.base_url)?;
        Ok(parsed)
    }
}

pub struct Opened { pub id: String, pub events: Vec<Event>, pub extra: serde_json::Value }

#[derive(Deserialize)]
struct Created { id: String, queue_position: Option<u32>, estimated_wait_seconds: Option<u32> }

pub fn open_conversation(s: &Settings, c: &Conversation) -> Result<Opened, Failure> {
    let transcript: Vec<_> = c.transcript.iter().map(|t| json!({"author": "user", "text": t.text, "ts": t.timestamp_ms})).collect();
    let body = json!({"handover_id": c.handover_id, "session_id": c.session_id, "user_id": c.user_id,
        "channel": c.channel, "locale": c.locale, "transcript": transcript, "routing": {"skills": c.routing.skills}});
    let created: Created = http::post_json(&format!("{}/conversations", s.base_url), &[], &body)?;
    Ok(Opened { id: created.id, events: vec![events::queued(created.queue_position, created.estimated_wait_seconds)], extra: json!({"last_seq": 1}) })
}

pub fn send_message(s: &Settings, id: &str, input: &UserInput) -> Result<(), Failure> {
    let url = format!("{}/conversations/{}/messages", s.base_url, path_segment(id));
    let _: Ignored = http::post_json(&url, &[], &json!({"text": input.text, "kind": "text", "attachments": []}))?;
    Ok(())
}

pub enum Ending { Cancel, Close }

pub fn end_conversation(s: &Settings, id: &str, ending: Ending) -> Result<(), Failure> {
    let action = match ending { Ending::Cancel => "cancel", Ending::Close => "close" };
    let url = format!("{}/conversations/{}/{action}", s.base_url, path_segment(id));
    let _: Ignored = http::post_json(&url, &[], &json!({}))?;
    Ok(())
}

pub struct Route { pub conversation_id: String, pub delivery_id: Option<String> }

#[derive(Deserialize)]
struct Hook { event_id: String, conversation_id: String, seq: u64, #[serde(rename = "type")] kind: String,
    agent: Option<Agent>, text: Option<String>, reason: Option<String> }
#[derive(Deserialize)]
struct Agent { id: String, name: String }

fn parse(body: &[u8]) -> Result<Hook, Failure> {
    serde_json::from_slice(body).map_err(|e| error(format!("malformed webhook body: {e}")))
}

pub fn route_webhook(body: &[u8]) -> Result<Route, Failure> {
    let h = parse(body)?;
    Ok(Route { conversation_id: h.conversation_id, delivery_id: Some(h.event_id) })
}

pub fn webhook_events(body: &[u8], extra: &mut serde_json::Value) -> Result<Vec<Event>, Failure> {
    let h = parse(body)?;
    if h.seq <= extra["last_seq"].as_u64().unwrap_or(0) {
        return Ok(vec![]);
    }
    extra["last_seq"] = json!(h.seq);
    let agent = h.agent.as_ref().map(|a| events::agent(&a.id, &a.name));
    Ok(match h.kind.as_str() {
        "agent_joined" => vec![events::agent_joined(agent.unwrap_or_else(|| events::agent("", "")))],
        "agent_message" => vec![events::agent_message(agent, h.text.unwrap_or_default(), vec![])],
        "ended" => vec![events::ended(match h.reason.as_deref() { Some("no_agent") => EndReason::NoAgentAvailable, _ => EndReason::AgentClosed })],
        _ => vec![],
    })
}
"##;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
pub(crate) fn template_with_provider_logic_passes_the_happy_path() {
    let root = root();
    let work = std::env::temp_dir().join(format!("template-adapter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&root.join("adapters/template/src"), &work.join("src"));
    // A third party's own crate: the SDK by path, nothing else from this repo
    // but the lock file (the dependency versions the guests are tested with)
    // and the guests' release profile, so the build below reuses the
    // dependencies the guests' build already compiled (`--target-dir`):
    // ~4 s instead of ~65 s on the 2-core machine, the same compiler inputs.
    std::fs::copy(root.join("adapters/Cargo.lock"), work.join("Cargo.lock")).unwrap();
    let guests: toml::Table = std::fs::read_to_string(root.join("adapters/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let profile = toml::to_string(&toml::Table::from_iter([(
        "profile".to_string(),
        guests["profile"].clone(),
    )]))
    .unwrap();
    std::fs::write(
        work.join("Cargo.toml"),
        format!(
            "[package]\nname = \"adapter-my-provider\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nhandover-adapter-sdk = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n\
             [workspace]\n\n{profile}",
            root.join("adapters/sdk").display().to_string()
        ),
    )
    .unwrap();
    // Only the provider logic changes.
    std::fs::write(work.join("src/provider.rs"), FILLED_PROVIDER).unwrap();
    let lib = std::fs::read_to_string(work.join("src/lib.rs")).unwrap();
    std::fs::write(
        work.join("src/lib.rs"),
        lib.replace(
            "const NAME: &str = \"template\";",
            "const NAME: &str = \"my-provider\";",
        ),
    )
    .unwrap();
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(work.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/adapters-build"))
        .status()
        .unwrap();
    assert!(status.success(), "the filled-in template did not compile");
    let wasm = root.join("target/adapters-build/wasm32-wasip2/release/adapter_my_provider.wasm");
    let (_, text) = run_conformance(&wasm, "sim", &[]);
    let happy = text
        .lines()
        .find(|l| l.starts_with("happy path to completed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(happy.contains(" pass "), "happy path failed:\n{text}");
    let inspect = Command::new(env!("CARGO_BIN_EXE_handover-host"))
        .arg("inspect")
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&inspect.stdout).contains("adapter:   my-provider"),
        "{}",
        String::from_utf8_lossy(&inspect.stdout)
    );
    let _ = std::fs::remove_dir_all(&work);
}
