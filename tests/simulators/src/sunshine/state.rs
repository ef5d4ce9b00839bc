//! The Sunshine Conversations simulator's data (switchboard integrations,
//! conversations, messages) and the v2 webhook payloads it sends.

use crate::kit;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub integration_id: String,
    pub integration_type: String,
}

impl Integration {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "integrationId": self.integration_id,
               "integrationType": self.integration_type})
    }

    /// Whether `reference` names it (by id, name or integration type).
    pub fn is(&self, reference: &str) -> bool {
        [&self.id, &self.name, &self.integration_type]
            .iter()
            .any(|v| v.as_str() == reference)
    }
}

pub struct Conversation {
    pub id: String,
    /// Index into `Data::integrations` of the one in control.
    pub active: Option<usize>,
    /// `metadata` of the last passControl to the agent integration.
    pub handover_metadata: Option<Value>,
    /// Messages before this index predate the handover to the agent.
    pub handed_over_at: Option<usize>,
    /// Control was released or passed back by an API call (the bot).
    pub returned_by_api: bool,
    /// The agent's display name once it accepted control.
    pub agent_name: Option<String>,
    /// Activities posted through `POST .../activity` (the `activityPost`
    /// bodies accepted), in order.
    pub activities: Vec<Value>,
    /// When the business side last marked the conversation read
    /// (`businessLastRead`).
    pub business_last_read_ms: Option<u64>,
}

impl Conversation {
    /// A conversation with the bot in control.
    pub fn new(id: &str) -> Conversation {
        Conversation {
            id: id.into(),
            active: Some(BOT),
            handover_metadata: None,
            handed_over_at: None,
            returned_by_api: false,
            agent_name: None,
            activities: Vec::new(),
            business_last_read_ms: None,
        }
    }
}

#[derive(Clone)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub received_ms: u64,
    pub author: Value,
    pub content: Value,
    pub metadata: Option<Value>,
    pub activity: Option<Value>,
    pub source_type: String,
}

impl Message {
    /// The `message` schema (API responses).
    pub fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "received": kit::iso8601(self.received_ms),
            "author": self.author, "content": self.content,
            "source": {"type": self.source_type},
        });
        if let Some(m) = &self.metadata {
            v["metadata"] = m.clone();
        }
        if let Some(a) = &self.activity {
            v["activity"] = a.clone();
        }
        v
    }

    pub fn is_user(&self) -> bool {
        self.author["type"] == "user"
    }
}

/// The Sunshine simulator's state.
pub struct Data {
    pub app_id: String,
    /// Unknown conversation ids get 404 instead of being created.
    pub known_only: bool,
    pub integrations: Vec<Integration>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<Message>,
    counter: u64,
}

/// The bot's switchboard integration (index 0) and the agent workspace's (1).
pub(crate) const BOT: usize = 0;
pub(crate) const AGENT: usize = 1;

impl Data {
    pub fn new(app_id: &str) -> Data {
        Data {
            app_id: app_id.into(),
            known_only: false,
            integrations: vec![
                Integration {
                    id: "5ef21b86e933b7355c11c604".into(),
                    name: "bot".into(),
                    integration_id: "5f11a650e4e987667c2051d1".into(),
                    integration_type: "custom".into(),
                },
                Integration {
                    id: "5ef21b86e933b7355c11c605".into(),
                    name: "zd-agentWorkspace".into(),
                    integration_id: "5ec69c6e12dda33be985cb1a".into(),
                    integration_type: "zd:agentWorkspace".into(),
                },
            ],
            conversations: Vec::new(),
            messages: Vec::new(),
            counter: 0,
        }
    }

    /// A 24-hex-digit id, increasing (like Sunshine's object ids).
    pub fn new_id(&mut self) -> String {
        self.counter += 1;
        format!("{:08x}{:016x}", kit::unix_secs(), self.counter)
    }

    /// The conversation handed over for `handover_id` (its passControl
    /// `metadata.handover_id`).
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<String> {
        self.conversations
            .iter()
            .find(|c| {
                c.handover_metadata
                    .as_ref()
                    .is_some_and(|m| m["handover_id"] == handover_id)
            })
            .map(|c| c.id.clone())
    }

    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.id == id)
    }

    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    /// The switchboard integration `reference` names, or `next` after the
    /// active one.
    pub fn resolve(&self, conv: &str, reference: &str) -> Option<usize> {
        if reference == "next" {
            let active = self
                .conversation(conv)
                .and_then(|c| c.active)
                .unwrap_or(BOT);
            return Some(if active == BOT { AGENT } else { BOT });
        }
        self.integrations.iter().position(|i| i.is(reference))
    }

    /// The conversation for webhooks (`conversationTruncated`).
    pub fn conversation_json(&self, id: &str) -> Value {
        let mut v = json!({"id": id, "type": "personal"});
        if let Some(active) = self.conversation(id).and_then(|c| c.active) {
            v["activeSwitchboardIntegration"] = self.integrations[active].json();
        }
        v
    }

    pub fn push_message(
        &mut self,
        conv: &str,
        author: Value,
        content: Value,
        metadata: Option<Value>,
        source_type: &str,
    ) -> Message {
        let message = Message {
            id: self.new_id(),
            conversation_id: conv.into(),
            received_ms: kit::unix_ms(),
            author,
            content,
            metadata,
            activity: None,
            source_type: source_type.into(),
        };
        self.messages.push(message.clone());
        message
    }

    /// The v2 webhook body carrying one event of `kind` with `payload`.
    pub fn webhook(&mut self, kind: &str, payload: Value) -> (String, Value) {
        let event_id = self.new_id();
        let body = json!({
            "app": {"id": self.app_id},
            "webhook": {"id": "5f4eaef81e3dcc117c7ba48a", "version": "v2"},
            "events": [{
                "id": event_id, "type": kind,
                "createdAt": kit::iso8601(kit::unix_ms()),
                "payload": payload,
            }],
        });
        (event_id, body)
    }
}
