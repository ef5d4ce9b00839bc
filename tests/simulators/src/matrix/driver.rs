//! [`ProviderDriver`] for the `matrix` adapter over a real Synapse: the
//! driver registers the bot (whose token the host's endpoint holds as a
//! secret) and plays one agent through the client-server API.

use super::client::{Account, enc};
use super::proxy::{Proxy, Seen};
use super::synapse::Synapse;
use crate::driver::{EndpointSetup, ProviderDriver, header_auth_toml};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The `/sync` wait the endpoint is configured with: short, because the
/// host holds the handover's lock during a poll and user input waits for it.
const SYNC_TIMEOUT_MS: u32 = 2_000;

pub struct MatrixDriver {
    pub synapse: Synapse,
    /// The adapter's way to Synapse (pass-through with fault injection).
    pub proxy: Proxy,
    /// The bot account; its token goes to the host as `matrix_token`.
    pub bot: Account,
    /// The agent the driver plays.
    pub agent: Account,
}

impl MatrixDriver {
    /// Starts Synapse and the proxy, registers the bot and the agent.
    pub async fn start() -> anyhow::Result<MatrixDriver> {
        let synapse = Synapse::start().await?;
        let proxy = Proxy::start(&synapse.base_url).await?;
        let bot = Account::register(&synapse.base_url, "handover-bot").await?;
        let agent = Account::register(&synapse.base_url, "agent-1").await?;
        // `check-availability` reads the agents' presence, which Synapse
        // shows only to users sharing a room: the team's lobby room, with
        // the agent online.
        let lobby = json!({"preset": "private_chat", "name": "Agents", "invite": [agent.user_id]});
        let lobby = bot.ok("POST", "/createRoom", Some(lobby)).await?;
        let lobby = lobby["room_id"].as_str().unwrap_or_default();
        agent
            .ok("POST", &format!("/join/{}", enc(lobby)), Some(json!({})))
            .await?;
        let presence = format!("/presence/{}/status", enc(&agent.user_id));
        agent
            .ok("PUT", &presence, Some(json!({"presence": "online"})))
            .await?;
        Ok(MatrixDriver {
            synapse,
            proxy,
            bot,
            agent,
        })
    }

    /// The adapter's requests so far (method, path, bearer present, status).
    pub fn requests(&self) -> Vec<Seen> {
        self.proxy.seen()
    }

    /// The agent starts or stops typing in `room`.
    pub async fn agent_typing(&self, room: &str, typing: bool) {
        let path = format!("/rooms/{}/typing/{}", enc(room), enc(&self.agent.user_id));
        let body = json!({"typing": typing, "timeout": 30_000});
        self.agent
            .ok("PUT", &path, Some(body))
            .await
            .expect("agent typing");
    }

    /// The agent leaves `room` (the "all agents left" end).
    pub async fn agent_leave(&self, room: &str) {
        let path = format!("/rooms/{}/leave", enc(room));
        self.agent
            .ok("POST", &path, Some(json!({})))
            .await
            .expect("agent leave");
    }

    /// Every `m.room.message` of `room` as the agent sees it, falling back
    /// to the bot's view when the agent is not in the room.
    pub async fn room_messages(&self, room: &str) -> Vec<Value> {
        match self.agent.messages(room).await {
            Ok(m) => m,
            Err(_) => self.bot.messages(room).await.unwrap_or_default(),
        }
    }

    /// Rooms the agent is invited to and has not joined or declined.
    pub async fn pending_invites(&self) -> Vec<String> {
        let filter = json!({"room": {"timeline": {"limit": 0}, "state": {"types": []}}});
        let path = format!("/sync?timeout=0&filter={}", enc(&filter.to_string()));
        let (_, sync) = self.agent.call("GET", &path, None).await;
        sync["rooms"]["invite"]
            .as_object()
            .map(|rooms| rooms.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The room whose topic names `handover_id`, among the agent's invites,
    /// joined and left rooms.
    async fn find_room(&self, handover_id: &str) -> Option<String> {
        let filter = json!({
            "presence": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
            "room": {
                "include_leave": true,
                "timeline": {"limit": 0},
                "state": {"types": ["m.room.topic"]},
                "ephemeral": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
            },
        });
        let path = format!("/sync?timeout=0&filter={}", enc(&filter.to_string()));
        let (status, sync) = self.agent.call("GET", &path, None).await;
        if status != 200 {
            return None;
        }
        let sections = [
            ("invite", "invite_state"),
            ("join", "state"),
            ("leave", "state"),
        ];
        for (section, list) in sections {
            let Some(rooms) = sync["rooms"][section].as_object() else {
                continue;
            };
            for (room_id, room) in rooms {
                let events = room[list]["events"].as_array().into_iter().flatten();
                let names_it = events
                    .filter(|e| e["type"] == "m.room.topic")
                    .filter_map(|e| e["content"]["topic"].as_str())
                    .any(|topic| topic.split_whitespace().any(|w| w == handover_id));
                if names_it {
                    return Some(room_id.clone());
                }
            }
        }
        None
    }
}

#[async_trait]
impl ProviderDriver for MatrixDriver {
    fn name(&self) -> &str {
        "matrix"
    }

    fn endpoint_setup(&self) -> EndpointSetup {
        let base = self.proxy.base_url();
        let extra_toml = header_auth_toml(
            &base,
            "matrix_token",
            &self.bot.token,
            "Authorization",
            "Bearer ",
        );
        EndpointSetup {
            settings: json!({
                "base_url": base,
                "agents": [self.agent.user_id],
                "sync_timeout_ms": SYNC_TIMEOUT_MS,
            }),
            egress: vec![base],
            webhook_secret: None,
            extra_toml,
        }
    }

    async fn wait_for_conversation(&self, handover_id: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(room) = self.find_room(handover_id).await {
                return Some(room);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn agent_join(&self, conv: &str, name: &str) {
        let profile = format!("/profile/{}/displayname", enc(&self.agent.user_id));
        self.agent
            .ok("PUT", &profile, Some(json!({"displayname": name})))
            .await
            .expect("agent display name");
        let join = format!("/join/{}", enc(conv));
        self.agent
            .ok("POST", &join, Some(json!({})))
            .await
            .expect("agent join");
    }

    async fn agent_message(&self, conv: &str, text: &str) {
        let content = json!({"msgtype": "m.text", "body": text});
        self.agent.send(conv, content).await.expect("agent message");
    }

    async fn end(&self, conv: &str) {
        self.agent_message(conv, "!close").await;
    }

    /// The bot's messages marked as user input (`io.handover.kind: user`).
    async fn user_messages(&self, conv: &str) -> Vec<String> {
        self.room_messages(conv)
            .await
            .into_iter()
            .filter(|e| e["sender"] == self.bot.user_id.as_str())
            .filter(|e| e["content"]["io.handover.kind"] == "user")
            .filter_map(|e| e["content"]["body"].as_str().map(String::from))
            .collect()
    }

    /// The bot left the room after a `cancel` or `close` end notice.
    async fn closed_by_bot(&self, conv: &str) -> Option<bool> {
        let joined = self.bot.joined_rooms().await.ok()?;
        if joined.iter().any(|r| r == conv) {
            return Some(false);
        }
        let messages = self.bot.messages(conv).await.ok()?;
        let end = messages
            .iter()
            .rev()
            .filter(|e| e["sender"] == self.bot.user_id.as_str())
            .find_map(|e| e["content"]["io.handover.end"].as_str());
        Some(matches!(end, Some("cancel" | "close")))
    }

    fn fail_next_start(&self, status: u16) {
        self.proxy.fail_next("/createRoom", status);
    }

    async fn shutdown(&self) {
        self.proxy.stop().await;
        self.synapse.stop();
    }
}
