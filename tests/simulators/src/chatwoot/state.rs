//! The Chatwoot simulator's data (contacts, conversations, messages, agents,
//! teams) and its JSON renderings, shaped like Chatwoot's jbuilder views and
//! `webhook_data` / `push_event_data` methods.

use crate::kit::{self, Job, Outbox};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Contact {
    pub id: u64,
    pub name: String,
    pub identifier: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub additional_attributes: Value,
    pub custom_attributes: Value,
    /// (inbox id, source id)
    pub contact_inboxes: Vec<(u64, String)>,
}

#[derive(Clone)]
pub struct Agent {
    pub id: u64,
    pub name: String,
    pub availability: String,
}

pub struct Team {
    pub id: u64,
    pub name: String,
}

pub struct Conversation {
    /// The display id: what the API and webhooks call `id`.
    pub id: u64,
    pub inbox_id: u64,
    pub contact_id: u64,
    pub source_id: String,
    pub status: String,
    pub priority: Option<String>,
    pub labels: Vec<String>,
    pub team_id: Option<u64>,
    pub assignee: Option<u64>,
    pub custom_attributes: Value,
    pub additional_attributes: Value,
    /// Resolved by an API request (the bot), not by an agent.
    pub resolved_by_api: bool,
    pub created_at: u64,
    /// Float seconds, strictly increasing per change (like Rails' `to_f`).
    pub updated_at: f64,
    /// Unix seconds when an agent last viewed the conversation (0: never).
    pub agent_last_seen_at: u64,
    /// The contact's typing signals (public API `toggle_typing`), in order.
    pub user_typing: Vec<bool>,
}

#[derive(Clone)]
pub enum Sender {
    Contact(u64),
    Agent(u64),
    /// The API token's user (the adapter).
    ApiUser,
}

#[derive(Clone)]
pub struct Message {
    pub id: u64,
    pub conversation_id: u64,
    pub content: String,
    /// 0 incoming, 1 outgoing, 2 activity, 3 template.
    pub message_type: u8,
    pub private: bool,
    pub content_type: String,
    pub sender: Sender,
    pub created_at: u64,
    pub attachments: Vec<Value>,
    /// Per `content_type`, e.g. `{"items": [{"title", "value"}]}` for
    /// `input_select` (Chatwoot's interactive messages).
    pub content_attributes: Value,
    /// `sent`, `delivered`, `read` or `failed` (the API's `message.status`).
    pub status: String,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

/// The Chatwoot simulator's state.
pub struct Data {
    pub account_id: u64,
    pub inbox_id: u64,
    pub contacts: Vec<Contact>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<Message>,
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
    next_id: u64,
    clock: f64,
}

/// The user the API token belongs to (it posts the adapter's messages).
pub(crate) const API_USER: (u64, &str) = (900, "Handover Bot");

static DELIVERY: AtomicU64 = AtomicU64::new(1);

impl Data {
    pub fn new(account_id: u64, inbox_id: u64) -> Data {
        Data {
            account_id,
            inbox_id,
            contacts: Vec::new(),
            conversations: Vec::new(),
            messages: Vec::new(),
            agents: Vec::new(),
            teams: vec![
                Team {
                    id: 1,
                    name: "support".into(),
                },
                Team {
                    id: 2,
                    name: "billing".into(),
                },
            ],
            next_id: 1,
            clock: 0.0,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A strictly increasing `updated_at`.
    pub fn tick(&mut self) -> f64 {
        let now = kit::unix_ms() as f64 / 1000.0;
        self.clock = if now > self.clock {
            now
        } else {
            self.clock + 0.000_001
        };
        self.clock
    }

    /// The conversation opened for `handover_id` (from its
    /// `additional_attributes.handover_id` or `custom_attributes.handover_id`).
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<u64> {
        self.conversations
            .iter()
            .find(|c| {
                c.additional_attributes["handover_id"] == handover_id
                    || c.custom_attributes["handover_id"] == handover_id
            })
            .map(|c| c.id)
    }

    pub fn conversation(&self, id: u64) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.id == id)
    }

    pub fn conversation_mut(&mut self, id: u64) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    pub fn contact(&self, id: u64) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    pub fn agent(&self, id: u64) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The agent called `name`, created (available) on first use.
    pub fn agent_named(&mut self, name: &str) -> u64 {
        if let Some(a) = self.agents.iter().find(|a| a.name == name) {
            return a.id;
        }
        let id = 100 + self.agents.len() as u64 + 1;
        self.agents.push(Agent {
            id,
            name: name.into(),
            availability: "available".into(),
        });
        id
    }

    // ---- renderings ----

    fn inbox_json(&self) -> Value {
        json!({"id": self.inbox_id, "name": "Handover API inbox", "channel_type": "Channel::Api",
               "channel_id": 1, "avatar_url": "", "website_url": null})
    }

    /// `api/v1/models/contact` with contact inboxes.
    pub fn contact_json(&self, c: &Contact) -> Value {
        json!({
            "id": c.id, "name": c.name, "email": c.email, "phone_number": c.phone_number,
            "identifier": c.identifier, "thumbnail": "", "blocked": false,
            "availability_status": "offline",
            "additional_attributes": c.additional_attributes,
            "custom_attributes": c.custom_attributes,
            "created_at": 0, "last_activity_at": null,
            "contact_inboxes": c.contact_inboxes.iter()
                .map(|(_, source)| json!({"source_id": source, "inbox": self.inbox_json()}))
                .collect::<Vec<_>>(),
        })
    }

    /// `Contact#push_event_data`.
    fn contact_push(&self, id: u64) -> Value {
        let c = self.contact(id);
        json!({"id": id, "name": c.map(|c| c.name.clone()), "avatar": "", "thumbnail": "",
               "type": "contact", "identifier": c.and_then(|c| c.identifier.clone()),
               "email": c.and_then(|c| c.email.clone()),
               "phone_number": c.and_then(|c| c.phone_number.clone()),
               "additional_attributes": c.map(|c| c.additional_attributes.clone()),
               "custom_attributes": c.map(|c| c.custom_attributes.clone())})
    }

    /// `User#push_event_data`.
    fn agent_push(&self, id: u64) -> Value {
        let (name, availability) = match self.agent(id) {
            Some(a) => (a.name.clone(), a.availability.clone()),
            None => (API_USER.1.to_string(), "online".to_string()),
        };
        json!({"id": id, "name": name, "available_name": name, "avatar_url": "", "type": "user",
               "availability_status": availability, "thumbnail": ""})
    }

    fn sender_push(&self, sender: &Sender) -> Value {
        match sender {
            Sender::Contact(id) => self.contact_push(*id),
            Sender::Agent(id) => self.agent_push(*id),
            Sender::ApiUser => self.agent_push(API_USER.0),
        }
    }

    /// `Conversations::EventDataPresenter#push_data` (also the API's view).
    pub fn conversation_json(&self, c: &Conversation) -> Value {
        let team = c
            .team_id
            .and_then(|t| self.teams.iter().find(|x| x.id == t));
        json!({
            "id": c.id, "account_id": self.account_id, "inbox_id": c.inbox_id,
            "status": c.status, "priority": c.priority, "labels": c.labels,
            "can_reply": true, "channel": "Channel::Api",
            "contact_inbox": {"source_id": c.source_id, "contact_id": c.contact_id, "inbox_id": c.inbox_id},
            "custom_attributes": c.custom_attributes,
            "additional_attributes": c.additional_attributes,
            "meta": {
                "sender": self.contact_push(c.contact_id),
                "assignee": c.assignee.map(|a| self.agent_push(a)),
                "team": team.map(|t| json!({"id": t.id, "name": t.name})),
                "hmac_verified": false,
            },
            "messages": [], "unread_count": 0, "snoozed_until": null,
            "agent_last_seen_at": c.agent_last_seen_at, "contact_last_seen_at": 0,
            "first_reply_created_at": null, "waiting_since": c.created_at,
            "last_activity_at": c.updated_at as u64, "timestamp": c.updated_at as u64,
            "created_at": c.created_at, "updated_at": c.updated_at,
        })
    }

    /// One element of `GET …/messages` (message_type as its integer).
    pub fn message_api_json(&self, m: &Message) -> Value {
        let mut v = json!({
            "id": m.id, "content": m.content, "inbox_id": self.inbox_id,
            "conversation_id": m.conversation_id, "message_type": m.message_type,
            "content_type": m.content_type, "content_attributes": m.content_attributes,
            "status": m.status, "created_at": m.created_at, "updated_at": m.updated_at,
            "private": m.private, "source_id": null,
            "sender": self.sender_push(&m.sender),
        });
        if !m.attachments.is_empty() {
            v["attachments"] = json!(m.attachments);
        }
        v
    }

    /// `Message#webhook_data` + `event`.
    fn message_webhook(&self, m: &Message, event: &str) -> Value {
        let conv = self.conversation(m.conversation_id);
        let sender = match &m.sender {
            Sender::Contact(id) => self.contact_push(*id),
            Sender::Agent(id) => {
                let a = self.agent(*id);
                json!({"id": id, "name": a.map(|a| a.name.clone()), "email": format!("agent{id}@example.com"), "avatar_url": "", "type": "user"})
            }
            Sender::ApiUser => {
                json!({"id": API_USER.0, "name": API_USER.1, "email": "bot@example.com", "avatar_url": "", "type": "user"})
            }
        };
        let message_type =
            ["incoming", "outgoing", "activity", "template"][m.message_type as usize];
        let mut v = json!({
            "event": event, "id": m.id, "content": m.content,
            "created_at": kit::iso8601(m.created_at * 1000),
            "message_type": message_type, "content_type": m.content_type,
            "content_attributes": m.content_attributes, "additional_attributes": {}, "source_id": null,
            "private": m.private, "sender": sender,
            "account": {"id": self.account_id, "name": "Simulated account"},
            "inbox": {"id": self.inbox_id, "name": "Handover API inbox"},
            "conversation": conv.map(|c| self.conversation_json(c)),
        });
        if !m.attachments.is_empty() {
            v["attachments"] = json!(m.attachments);
        }
        v
    }

    // ---- webhooks ----

    /// Queues `message_created` for message `id`.
    pub fn message_created(&self, outbox: &Outbox, id: u64) {
        if let Some(m) = self.messages.iter().find(|m| m.id == id) {
            let body = self.message_webhook(m, "message_created");
            send(outbox, "message_created", m.conversation_id, &body);
        }
    }

    /// Queues `message_updated` for message `id` (after a change such as
    /// its `status`; like `Message#webhook_data`, the body does not carry
    /// the status: readers fetch the message).
    pub fn message_updated(&self, outbox: &Outbox, id: u64) {
        if let Some(m) = self.messages.iter().find(|m| m.id == id) {
            let body = self.message_webhook(m, "message_updated");
            send(outbox, "message_updated", m.conversation_id, &body);
        }
    }

    /// Sets `status` on the contact's (incoming) messages of conversation
    /// `conv` that are not that far yet (`delivered` < `read`), and queues
    /// `message_updated` for each; returns their ids.
    pub fn advance_incoming(&mut self, outbox: &Outbox, conv: u64, status: &str) -> Vec<u64> {
        let rank = |s: &str| match s {
            "read" => 2,
            "delivered" => 1,
            _ => 0,
        };
        let now = kit::unix_secs();
        let mut changed = Vec::new();
        for m in self.messages.iter_mut() {
            if m.conversation_id == conv && m.message_type == 0 && rank(&m.status) < rank(status) {
                m.status = status.into();
                m.updated_at = now;
                changed.push(m.id);
            }
        }
        for id in &changed {
            self.message_updated(outbox, *id);
        }
        changed
    }

    /// Queues a conversation event (`conversation_created`,
    /// `conversation_updated`, `conversation_status_changed`).
    pub fn conversation_event(&self, outbox: &Outbox, event: &str, id: u64, changed: Value) {
        if let Some(c) = self.conversation(id) {
            let mut body = self.conversation_json(c);
            body["event"] = json!(event);
            if event != "conversation_created" {
                body["changed_attributes"] = changed;
            }
            send(outbox, event, id, &body);
        }
    }

    /// Changes one attribute of conversation `id` with `set`, which returns
    /// its previous and current values, marks the conversation updated and
    /// queues `event` with the change as `changed_attributes`.
    pub fn change_attribute(
        &mut self,
        outbox: &Outbox,
        event: &str,
        id: u64,
        attribute: &str,
        set: impl FnOnce(&mut Conversation) -> (Value, Value),
    ) {
        let updated = self.tick();
        let c = self
            .conversation_mut(id)
            .expect("unknown chatwoot conversation");
        let (previous, current) = set(c);
        c.updated_at = updated;
        let change = json!({"previous_value": previous, "current_value": current});
        self.conversation_event(outbox, event, id, json!([{ attribute: change }]));
    }

    /// Queues `conversation_typing_on` / `_off` by the conversation's
    /// contact (the public API's `toggle_typing`).
    pub fn contact_typing(&self, outbox: &Outbox, id: u64, on: bool) {
        if let Some(c) = self.conversation(id) {
            let event = if on {
                "conversation_typing_on"
            } else {
                "conversation_typing_off"
            };
            let body = json!({"event": event, "conversation": self.conversation_json(c),
                              "user": self.contact_push(c.contact_id), "is_private": false});
            send(outbox, event, id, &body);
        }
    }

    /// Queues `conversation_typing_on` / `_off` by agent `agent`.
    pub fn typing(&self, outbox: &Outbox, id: u64, agent: u64, on: bool) {
        if let Some(c) = self.conversation(id) {
            let event = if on {
                "conversation_typing_on"
            } else {
                "conversation_typing_off"
            };
            let body = json!({"event": event, "conversation": self.conversation_json(c),
                              "user": self.agent_push(agent), "is_private": false});
            send(outbox, event, id, &body);
        }
    }
}

fn send(outbox: &Outbox, event: &str, conversation: u64, body: &Value) {
    let n = DELIVERY.fetch_add(1, Ordering::Relaxed);
    let id = format!("cw-{n:08}-{}", kit::unix_ms());
    outbox.send(Job::new(id, event, &conversation.to_string(), body));
}
