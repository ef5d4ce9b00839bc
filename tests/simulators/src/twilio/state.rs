//! The Twilio simulator's data (Flex interactions and their routing tasks,
//! Conversations with participants and messages) and its JSON renderings,
//! shaped like the responses in `twilio_flex_v1.json` and
//! `twilio_conversations_v1.json`; and the Conversations webhooks
//! (form-encoded, like Twilio's) the agent side sends.

use crate::kit::{self, Job, Outbox};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// A Twilio sid: the two-letter type prefix and 32 hex digits (unique within
/// the process).
pub fn sid(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:016x}{n:016x}", kit::unix_ms())
}

/// Twilio's date-time format (`2015-12-16T22:18:37Z`).
pub fn date(ms: u64) -> String {
    let iso = kit::iso8601(ms);
    format!("{}Z", &iso[..19])
}

pub struct Participant {
    pub sid: String,
    pub identity: String,
    pub attributes: String,
    /// Added by the agent side (Flex), not by the adapter's interaction.
    pub agent: bool,
    pub date_created: u64,
}

pub struct Message {
    pub sid: String,
    pub index: u64,
    pub author: String,
    pub body: Option<String>,
    pub attributes: String,
    pub participant_sid: Option<String>,
    pub date_created: u64,
}

/// The routing task of an interaction (TaskRouter).
pub struct Task {
    pub sid: String,
    pub workspace_sid: String,
    pub workflow_sid: String,
    pub task_channel_unique_name: String,
    /// The Routing `attributes` plus what Flex adds (`conversationSid`, …).
    pub attributes: Value,
    pub assignment_status: String,
}

pub struct Interaction {
    pub sid: String,
    pub channel_sid: String,
    pub channel: Value,
    pub task: Task,
}

pub struct Conversation {
    pub sid: String,
    pub friendly_name: Option<String>,
    pub attributes: String,
    /// `active`, `inactive` or `closed`.
    pub state: String,
    /// Closed by an API request (the bot side), not by the agent.
    pub closed_by_api: bool,
    pub date_created: u64,
    pub date_updated: u64,
    pub participants: Vec<Participant>,
    pub messages: Vec<Message>,
    pub interaction: Option<Interaction>,
}

/// The Twilio simulator's state.
pub struct Data {
    pub account_sid: String,
    pub chat_service_sid: String,
    pub base_url: String,
    pub conversations: Vec<Conversation>,
    /// The clock of `date_created` / `date_updated`: strictly increasing.
    clock: u64,
}

impl Data {
    pub fn new(account_sid: &str) -> Data {
        Data {
            account_sid: account_sid.into(),
            chat_service_sid: sid("IS"),
            base_url: String::new(),
            conversations: Vec::new(),
            clock: 0,
        }
    }

    /// Now, in ms, strictly after the last time given out.
    pub fn now(&mut self) -> u64 {
        self.clock = kit::unix_ms().max(self.clock + 1);
        self.clock
    }

    pub fn conversation(&self, sid: &str) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.sid == sid)
    }

    pub fn conversation_mut(&mut self, sid: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.sid == sid)
    }

    /// A new active conversation (no participants yet).
    pub fn open(&mut self, friendly_name: Option<String>) -> String {
        let now = self.now();
        let sid = sid("CH");
        self.conversations.push(Conversation {
            sid: sid.clone(),
            friendly_name,
            attributes: "{}".into(),
            state: "active".into(),
            closed_by_api: false,
            date_created: now,
            date_updated: now,
            participants: Vec::new(),
            messages: Vec::new(),
            interaction: None,
        });
        sid
    }

    /// Adds a participant; returns its sid.
    pub fn add_participant(
        &mut self,
        conv: &str,
        identity: &str,
        attributes: &str,
        agent: bool,
    ) -> String {
        let now = self.now();
        let sid = sid("MB");
        if let Some(c) = self.conversation_mut(conv) {
            c.participants.push(Participant {
                sid: sid.clone(),
                identity: identity.into(),
                attributes: attributes.into(),
                agent,
                date_created: now,
            });
            c.date_updated = now;
        }
        sid
    }

    /// Adds a message (the next index of the conversation); returns its
    /// position in `messages`.
    pub fn add_message(
        &mut self,
        conv: &str,
        author: &str,
        body: Option<String>,
        attributes: String,
    ) -> usize {
        let now = self.now();
        let c = self.conversation_mut(conv).expect("known conversation");
        let participant_sid = c
            .participants
            .iter()
            .find(|p| p.identity == author)
            .map(|p| p.sid.clone());
        let index = c.messages.last().map_or(0, |m| m.index + 1);
        c.messages.push(Message {
            sid: sid("IM"),
            index,
            author: author.into(),
            body,
            attributes,
            participant_sid,
            date_created: now,
        });
        c.date_updated = now;
        c.messages.len() - 1
    }

    /// The conversation opened for `handover_id`: its task attributes hold
    /// it as a value (any key, top level or one level down), or a customer
    /// participant's identity is it.
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<String> {
        let holds = |v: &Value| match v {
            Value::String(s) => s == handover_id,
            Value::Object(m) => m.values().any(|v| v.as_str() == Some(handover_id)),
            _ => false,
        };
        self.conversations
            .iter()
            .rev()
            .find(|c| {
                c.interaction.as_ref().is_some_and(|i| {
                    i.task
                        .attributes
                        .as_object()
                        .is_some_and(|m| m.values().any(holds))
                }) || c
                    .participants
                    .iter()
                    .any(|p| !p.agent && p.identity == handover_id)
            })
            .map(|c| c.sid.clone())
    }

    // ---- JSON renderings ----

    pub fn conversation_json(&self, c: &Conversation) -> Value {
        let url = format!("{}/v1/Conversations/{}", self.base_url, c.sid);
        json!({
            "account_sid": self.account_sid,
            "chat_service_sid": self.chat_service_sid,
            "messaging_service_sid": null,
            "sid": c.sid,
            "friendly_name": c.friendly_name,
            "unique_name": null,
            "attributes": c.attributes,
            "state": c.state,
            "date_created": date(c.date_created),
            "date_updated": date(c.date_updated),
            "timers": {},
            "url": url,
            "links": {
                "participants": format!("{url}/Participants"),
                "messages": format!("{url}/Messages"),
                "webhooks": format!("{url}/Webhooks"),
            },
            "bindings": null,
        })
    }

    pub fn message_json(&self, c: &Conversation, m: &Message) -> Value {
        let url = format!(
            "{}/v1/Conversations/{}/Messages/{}",
            self.base_url, c.sid, m.sid
        );
        json!({
            "account_sid": self.account_sid,
            "conversation_sid": c.sid,
            "sid": m.sid,
            "index": m.index,
            "author": m.author,
            "body": m.body,
            "media": null,
            "attributes": m.attributes,
            "participant_sid": m.participant_sid,
            "date_created": date(m.date_created),
            "date_updated": date(m.date_created),
            "url": url,
            "delivery": null,
            "links": {
                "delivery_receipts": format!("{url}/Receipts"),
                "channel_metadata": format!("{url}/ChannelMetadata"),
            },
            "content_sid": null,
        })
    }

    pub fn participant_json(&self, c: &Conversation, p: &Participant) -> Value {
        let url = format!(
            "{}/v1/Conversations/{}/Participants/{}",
            self.base_url, c.sid, p.sid
        );
        json!({
            "account_sid": self.account_sid,
            "conversation_sid": c.sid,
            "sid": p.sid,
            "identity": p.identity,
            "attributes": p.attributes,
            "messaging_binding": null,
            "role_sid": null,
            "date_created": date(p.date_created),
            "date_updated": date(p.date_created),
            "url": url,
            "last_read_message_index": null,
            "last_read_timestamp": null,
        })
    }

    /// The interaction as `POST /v1/Interactions` answers it: `routing`
    /// holds the task, its `attributes` a JSON string (as TaskRouter gives
    /// them) naming the conversation (`conversationSid`).
    pub fn interaction_json(&self, c: &Conversation) -> Value {
        let Some(i) = &c.interaction else {
            return Value::Null;
        };
        let t = &i.task;
        let now = c.date_created / 1000;
        let mut channel = i.channel.clone();
        if let Value::Object(m) = &mut channel {
            m.insert("sid".into(), json!(i.channel_sid));
        }
        let url = format!("{}/v1/Interactions/{}", self.base_url, i.sid);
        json!({
            "sid": i.sid,
            "channel": channel,
            "routing": {
                "reservation": null,
                "properties": {
                    "date_updated": now,
                    "task_queue_entered_date": now,
                    "workflow_name": "Default Fifo Workflow",
                    "age_in_queue": 0,
                    "task_channel_unique_name": t.task_channel_unique_name,
                    "assignment_status": t.assignment_status,
                    "queue_name": "Sample Queue",
                    "assignmentCounter": 0,
                    "priority": 0,
                    "sid": t.sid,
                    "workflow_sid": t.workflow_sid,
                    "routing_target": null,
                    "reason": "",
                    "attributes": t.attributes.to_string(),
                    "task_channel_sid": "TC00000000000000000000000000000001",
                    "age": 0,
                    "workspace_sid": t.workspace_sid,
                    "timeout": 86400,
                    "date_created": now,
                    "task_queue_sid": "WQ00000000000000000000000000000001",
                },
            },
            "url": url,
            "links": { "channels": format!("{url}/Channels") },
            "interaction_context_sid": null,
            "webhook_ttid": null,
        })
    }

    // ---- webhooks (the agent side) ----

    /// The fields every Conversations webhook carries, then `fields`.
    fn hook(&self, event: &str, conv: &str, fields: Vec<(&str, String)>) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("AccountSid".to_string(), self.account_sid.clone()),
            ("ChatServiceSid".to_string(), self.chat_service_sid.clone()),
            ("ConversationSid".to_string(), conv.to_string()),
            ("EventType".to_string(), event.to_string()),
            ("Source".to_string(), "SDK".to_string()),
        ];
        pairs.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
        pairs
    }

    /// `onParticipantAdded` for participant `p` of `conv`.
    pub fn participant_added(&self, outbox: &Outbox, conv: &str, p: &Participant) {
        let pairs = self.hook(
            "onParticipantAdded",
            conv,
            vec![
                ("ClientIdentity", p.identity.clone()),
                ("ParticipantSid", p.sid.clone()),
                ("Identity", p.identity.clone()),
                ("Attributes", p.attributes.clone()),
                ("DateCreated", date(p.date_created)),
            ],
        );
        outbox.send(Job::form(kit::new_id(), "onParticipantAdded", conv, &pairs));
    }

    /// `onMessageAdded` for message `m` of `conv`.
    pub fn message_added(&self, outbox: &Outbox, conv: &str, m: &Message) {
        let mut fields = vec![
            ("ClientIdentity", m.author.clone()),
            ("MessageSid", m.sid.clone()),
            ("Index", m.index.to_string()),
            ("Author", m.author.clone()),
            ("Body", m.body.clone().unwrap_or_default()),
            ("Attributes", m.attributes.clone()),
            ("DateCreated", date(m.date_created)),
        ];
        if let Some(p) = &m.participant_sid {
            fields.push(("ParticipantSid", p.clone()));
        }
        let pairs = self.hook("onMessageAdded", conv, fields);
        outbox.send(Job::form(kit::new_id(), "onMessageAdded", conv, &pairs));
    }

    /// `onConversationStateUpdated` from `from` to `to`.
    pub fn state_updated(&self, outbox: &Outbox, c: &Conversation, from: &str, identity: &str) {
        let pairs = self.hook(
            "onConversationStateUpdated",
            &c.sid,
            vec![
                ("ClientIdentity", identity.to_string()),
                ("StateFrom", from.to_string()),
                ("StateTo", c.state.clone()),
                ("FriendlyName", c.friendly_name.clone().unwrap_or_default()),
                ("Attributes", c.attributes.clone()),
                ("DateCreated", date(c.date_created)),
                ("DateUpdated", date(c.date_updated)),
            ],
        );
        outbox.send(Job::form(
            kit::new_id(),
            "onConversationStateUpdated",
            &c.sid,
            &pairs,
        ));
    }
}
