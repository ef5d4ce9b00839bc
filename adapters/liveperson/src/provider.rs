//! The Connector API calls: settings, state and one function per WIT export.

use crate::wire::{self, MessagingChange, Notification};
use handover_adapter_sdk::http::{self, path_segment};
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::state;
use handover_adapter_sdk::transcript::PackLimits;
use handover_adapter_sdk::{
    AdapterInfo, Author, Capabilities, Conversation, Cx, Event, Failure, HandoverState,
    HttpRequest, Level, Output, Polling, Reply, SignatureAlgorithm, SignatureEncoding,
    TranscriptEntry, TypedAdapter, UserInput, WebhookRoute, WebhookSignature, adapter_version,
    channels, error, events, log,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const NAME: &str = "liveperson";
const DEFAULT_CHANNELS: [&str; 4] = ["webchat", "sms", "messenger", "whatsapp"];
/// Transcript messages: one request each (see [`PackLimits::PER_REQUEST`]).
const TRANSCRIPT: PackLimits = PackLimits::PER_REQUEST;
/// Messaging events held while waiting for a gap in `sequence` to fill;
/// past this many the gap is taken as lost (e.g. an event type the webhook
/// subscription leaves out) and they are applied in order.
const MAX_HELD: usize = 16;

/// A skill or campaign id: LivePerson ids are numbers, TOML may quote them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Number(i64),
    Text(String),
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s.trim().to_string(),
        }
    }
}

/// The endpoint's settings (see `settings.schema.json`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    account_id: String,
    idp_url: String,
    messaging_url: String,
    skill_id: Option<Id>,
    campaign_id: Option<u64>,
    engagement_id: Option<u64>,
    channels: Option<Vec<String>>,
    transcript_chunk: Option<usize>,
    transcript_max_messages: Option<usize>,
}

fn is_skill(id: &str) -> bool {
    id == "-1" || (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
}

impl Validate for Settings {
    fn validate(&mut self) -> Result<(), Failure> {
        let s = self;
        s.account_id = s.account_id.trim().to_string();
        if s.account_id.is_empty() || !s.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(settings::invalid(
                "account_id",
                format!(
                    "must be the LivePerson account (site) id, digits only, got {:?}",
                    s.account_id
                ),
            ));
        }
        s.idp_url = settings::require_http_url("idp_url", &s.idp_url)?;
        s.messaging_url = settings::require_http_url("messaging_url", &s.messaging_url)?;
        if let Some(skill) = &s.skill_id
            && !is_skill(&skill.text())
        {
            return Err(settings::invalid(
                "skill_id",
                format!(
                    "must be a skill id (digits, or -1 for any), got {:?}",
                    skill.text()
                ),
            ));
        }
        if s.campaign_id.is_some() != s.engagement_id.is_some() {
            let missing = if s.campaign_id.is_some() {
                "engagement_id"
            } else {
                "campaign_id"
            };
            return Err(settings::invalid(
                missing,
                "campaign_id and engagement_id go together: set both or neither",
            ));
        }
        TRANSCRIPT.validate(s.transcript_chunk, s.transcript_max_messages)?;
        settings::require_channels(s.channels.as_ref())
    }
}

impl Settings {
    fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        channels::check(
            channel,
            self.channels.as_ref(),
            &DEFAULT_CHANNELS,
            "LivePerson",
        )
    }

    fn account(&self) -> String {
        path_segment(&self.account_id)
    }

    /// `POST {messaging}/api/account/{account}/messaging/consumer/conversation{suffix}?v=3`.
    fn conversation_url(&self, suffix: &str) -> String {
        format!(
            "{}/api/account/{}/messaging/consumer/conversation{suffix}?v=3",
            self.messaging_url,
            self.account()
        )
    }
}

/// What the host keeps between calls.
#[derive(Serialize, Deserialize, Default)]
pub struct State {
    conversation_id: String,
    /// The ConsumerJWS LivePerson issued for this handover's consumer.
    consumer_jws: String,
    /// Highest messaging `sequence` applied (-1: none yet).
    last_seq: i64,
    /// Sequenced changes that arrived early, by sequence; `null` marks one
    /// of our own messages (known from the publish response).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    held: BTreeMap<u64, Value>,
    /// The assigned agent's participant id.
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    skill: Option<String>,
    /// `metaDataLastUpdateTs` of the newest conversation change applied.
    #[serde(default)]
    last_change_ts: i64,
    #[serde(default)]
    ended: bool,
}

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        state::require(!self.conversation_id.is_empty(), "LivePerson conversation")
    }
}

impl State {
    /// One Send API request on behalf of the consumer.
    fn send(&self, settings: &Settings, request: &Value, what: &str) -> Result<Value, Failure> {
        let headers = [("X-LP-ON-BEHALF", self.consumer_jws.as_str())];
        let response: wire::Response =
            http::post_json(&settings.conversation_url("/send"), &headers, request)?;
        response.ok(what)
    }

    /// Publishes one text as the consumer and records its sequence.
    fn publish(&mut self, settings: &Settings, text: &str) -> Result<Vec<Event>, Failure> {
        let request = wire::request(
            "1",
            "ms.PublishEvent",
            json!({
                "dialogId": self.conversation_id,
                "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
            }),
        );
        let body = self.send(settings, &request, "ms.PublishEvent")?;
        match body.get("sequence").and_then(Value::as_u64) {
            Some(seq) => Ok(self.add(seq, Value::Null)),
            None => Ok(Vec::new()),
        }
    }

    fn close(&self, settings: &Settings) -> Result<(), Failure> {
        let request = wire::request(
            "1",
            "cm.UpdateConversationField",
            json!({
                "conversationId": self.conversation_id,
                "conversationField": [
                    {"field": "ConversationStateField", "conversationState": "CLOSE"}
                ],
            }),
        );
        self.send(settings, &request, "cm.UpdateConversationField")
            .map(drop)
    }

    /// Adds a sequenced change (unless seen) and applies what is in order.
    fn add(&mut self, seq: u64, change: Value) -> Vec<Event> {
        if (seq as i64) > self.last_seq {
            self.held.entry(seq).or_insert(change);
        }
        self.settle(false)
    }

    /// Applies held changes in sequence order: those that continue the
    /// sequence, or all when `flush` or when too many wait for a gap.
    fn settle(&mut self, flush: bool) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some((&seq, _)) = self.held.first_key_value() {
            let next = seq as i64 == self.last_seq + 1;
            if !(next || flush || self.held.len() > MAX_HELD) {
                break;
            }
            let change = self.held.remove(&seq).unwrap_or(Value::Null);
            self.last_seq = seq as i64;
            out.extend(messaging_event(&change));
        }
        out
    }

    /// Applies one `cqm.ExConversationChangeNotification` change.
    fn conversation_change(&mut self, change: &Value) -> Vec<Event> {
        let Ok(change) = serde_json::from_value::<wire::ConversationChange>(change.clone()) else {
            return Vec::new();
        };
        let Some(result) = change.result.filter(|_| change.kind != "DELETE") else {
            return Vec::new();
        };
        let details = result.conversation_details;
        let ts = details.meta_data_last_update_ts.unwrap_or(0);
        if ts < self.last_change_ts {
            return Vec::new(); // older than what was applied: out of order
        }
        self.last_change_ts = ts;
        let mut out = Vec::new();
        if details.state == "CLOSE" {
            out.extend(self.settle(true));
            out.push(events::ended(details.end_reason(self.agent.is_some())));
            self.ended = true;
            return out;
        }
        let agent = details.assigned_agent().map(str::to_string);
        let skill = details.skill();
        match (self.agent.take(), &agent) {
            (None, Some(new)) => out.push(events::agent_joined(events::agent(new, "Agent"))),
            (Some(old), Some(new)) if &old != new => {
                out.push(events::transferred(None, Some(events::agent(new, "Agent"))));
            }
            (Some(old), None) => {
                out.push(events::agent_left(events::agent(&old, "Agent")));
                if skill.is_some() && skill != self.skill {
                    out.push(events::transferred(skill.clone(), None));
                }
            }
            _ => {}
        }
        self.agent = agent;
        if skill.is_some() {
            self.skill = skill;
        }
        out
    }
}

/// The normalized event of a held messaging change (`null`: our own).
fn messaging_event(change: &Value) -> Option<Event> {
    serde_json::from_value::<MessagingChange>(change.clone())
        .ok()?
        .to_event()
}

/// Where the conversation goes: `routing.queue` or the settings' skill.
fn skill_for(settings: &Settings, c: &Conversation) -> Result<Option<String>, Failure> {
    match c.routing.queue.as_deref().map(str::trim) {
        Some(queue) if is_skill(queue) => Ok(Some(queue.to_string())),
        Some(queue) => Err(error(format!(
            "routing.queue {queue:?} is not a LivePerson skill id (digits)"
        ))),
        None => Ok(settings.skill_id.as_ref().map(Id::text)),
    }
}

/// TTR from the priority (larger is more urgent): 0 NORMAL, 1 PRIORITIZED,
/// 2 and above URGENT; none leaves LivePerson's default.
fn ttr(priority: Option<u32>) -> Value {
    match priority {
        None => Value::Null,
        Some(0) => "NORMAL".into(),
        Some(1) => "PRIORITIZED".into(),
        Some(_) => "URGENT".into(),
    }
}

/// `userprofile.SetUserProfile`: engagement attributes the agent sees.
fn user_profile(c: &Conversation) -> Value {
    let mut personal = serde_json::Map::new();
    if let Some(v) = c.profile("first_name").or(c.profile("name")) {
        personal.insert("firstname".into(), v.into());
    }
    if let Some(v) = c.profile("last_name") {
        personal.insert("lastname".into(), v.into());
    }
    let language = c.routing.language.as_deref().unwrap_or(&c.locale);
    personal.insert("language".into(), language.into());
    if let Some(email) = c.profile("email") {
        personal.insert("contacts".into(), json!([{"email": email}]));
    }
    wire::request(
        "1",
        "userprofile.SetUserProfile",
        json!({"authenticatedData": {"lp_sdes": [
            {"type": "ctmrinfo", "info": {"customerId": c.user_id}},
            {"type": "personal", "personal": personal},
        ]}}),
    )
}

/// The transcript, led by a line with the routing request LivePerson has
/// no field for (skill names and custom attributes), for the agent to see.
fn transcript_entries(c: &Conversation) -> Vec<TranscriptEntry> {
    let r = &c.routing;
    let mut parts: Vec<String> = Vec::new();
    if !r.skills.is_empty() {
        parts.push(format!("skills={}", r.skills.join(",")));
    }
    parts.extend(r.custom.iter().map(|kv| format!("{}={}", kv.key, kv.value)));
    let mut entries = Vec::new();
    if !parts.is_empty() {
        entries.push(TranscriptEntry {
            author: Author::System,
            text: format!("Handover context: {}", parts.join("; ")),
            timestamp_ms: 0,
        });
    }
    entries.extend(c.transcript.iter().cloned());
    entries
}

/// The text published for user input (attachment links appended: the
/// Send API takes no consumer files without LivePerson's upload flow).
fn input_text(input: &UserInput) -> String {
    let mut text = input.text.clone();
    for a in &input.attachments {
        if !text.is_empty() {
            text.push('\n');
        }
        let name = a.name.as_deref().unwrap_or(&a.content_type);
        text.push_str(&format!("[attachment {name}: {}]", a.url));
    }
    text
}

/// What the adapter implements.
const CAPABILITIES: Capabilities = Capabilities {
    queue_position: false,
    availability_check: false,
    ..Capabilities::ALL
};
/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../settings.schema.json");

pub struct LivePerson;

impl TypedAdapter for LivePerson {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        AdapterInfo::new(NAME, adapter_version!(), &DEFAULT_CHANNELS)
            .with(CAPABILITIES, Polling::NONE, SCHEMA)
            .signed(WebhookSignature::body(
                SignatureAlgorithm::HmacSha1,
                "X-Liveperson-Signature",
                SignatureEncoding::Base64,
                Some("sha1="),
            ))
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let settings = &cx.settings;
        settings.check_channel(&conversation.channel)?;
        let skill = skill_for(settings, &conversation)?;
        // 1. A ConsumerJWS for this handover's consumer (AppJWT by the host).
        let url = format!(
            "{}/api/account/{}/consumer?v=1.0",
            settings.idp_url,
            settings.account()
        );
        let body = json!({"ext_consumer_id": conversation.handover_id});
        let consumer: wire::ConsumerToken = http::post_json(&url, &[], &body)?;
        // 2. The conversation: user profile, then the request.
        let mut request = json!({
            "channelType": "MESSAGING",
            "brandId": settings.account_id,
            "ttrDefName": ttr(conversation.routing.priority),
        });
        if let Some(skill) = &skill {
            request["skillId"] = skill.clone().into();
        }
        if let (Some(campaign), Some(engagement)) = (settings.campaign_id, settings.engagement_id) {
            request["campaignInfo"] = json!({"campaignId": campaign, "engagementId": engagement});
        }
        let batch = json!([
            user_profile(&conversation),
            wire::request("2", "cm.ConsumerRequestConversation", request),
        ]);
        let headers = [("X-LP-ON-BEHALF", consumer.token.as_str())];
        let responses: Vec<wire::Response> =
            http::post_json(&settings.conversation_url(""), &headers, &batch)?;
        let created = responses
            .into_iter()
            .find(|r| {
                r.kind == "cm.RequestConversationResponse" || r.req_id.as_deref() == Some("2")
            })
            .ok_or_else(|| error("LivePerson's answer has no cm.RequestConversationResponse"))?
            .ok("cm.ConsumerRequestConversation")?;
        let conversation_id = created
            .get("conversationId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| error("cm.RequestConversationResponse has no conversationId"))?
            .to_string();
        let mut st = State {
            conversation_id: conversation_id.clone(),
            consumer_jws: consumer.token,
            last_seq: -1,
            skill,
            ..State::default()
        };
        // 3. The transcript, as the consumer's first messages.
        let (chunk, max) = (settings.transcript_chunk, settings.transcript_max_messages);
        let mut out = vec![events::queued(None, None)];
        for text in TRANSCRIPT.pack(&transcript_entries(&conversation), chunk, max) {
            out.extend(st.publish(settings, &text)?);
        }
        log::with_fields(
            Level::Info,
            "liveperson conversation requested",
            &[("conversation_id", &conversation_id)],
        );
        *state = st;
        Ok(Output::from(out).with_key(conversation_id))
    }

    fn user_message(cx: &Cx<Settings>, st: &mut State, input: UserInput) -> Reply {
        Ok(st.publish(&cx.settings, &input_text(&input))?.into())
    }

    fn cancel(cx: &Cx<Settings>, st: &mut State) -> Reply {
        Self::close(cx, st)
    }

    fn close(cx: &Cx<Settings>, st: &mut State) -> Reply {
        st.close(&cx.settings)?;
        Ok(Output::none())
    }

    fn route_webhook(_settings: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let notification = Notification::parse(&request.body)?;
        let mut keys: Vec<String> = Vec::new();
        for change in &notification.body.changes {
            if let Some(id) = notification.conversation_of(change)
                && !keys.contains(&id)
            {
                keys.push(id);
            }
        }
        let delivery_id = Some(wire::body_id(&request.body));
        Ok(WebhookRoute::acknowledged(delivery_id, keys))
    }

    fn handle_webhook(_cx: &Cx<Settings>, st: &mut State, request: HttpRequest) -> Reply {
        if st.ended {
            return Ok(Output::none());
        }
        let notification = Notification::parse(&request.body)?;
        let mut out = Vec::new();
        for change in &notification.body.changes {
            if notification.conversation_of(change).as_deref() != Some(&st.conversation_id) {
                continue;
            }
            match notification.kind.as_str() {
                wire::MESSAGING => match change.get("sequence").and_then(Value::as_u64) {
                    Some(seq) => out.extend(st.add(seq, change.clone())),
                    None => out.extend(messaging_event(change)), // chat state
                },
                wire::CONVERSATION => out.extend(st.conversation_change(change)),
                _ => {}
            }
            if st.ended {
                break;
            }
        }
        Ok(out.into())
    }
}

#[cfg(test)]
pub mod tests_support {
    use super::*;
    use handover_adapter_sdk::{EndpointSettings, state};

    /// State bytes for a conversation `c-1` whose last sequence is `seq`.
    pub fn state_at(seq: i64, agent: Option<&str>) -> Vec<u8> {
        state::save(&State {
            conversation_id: "c-1".into(),
            consumer_jws: "jws".into(),
            last_seq: seq,
            agent: agent.map(str::to_string),
            ..State::default()
        })
    }

    /// Marks our own message `seq` as published.
    pub fn own(bytes: Vec<u8>, seq: u64) -> (Vec<u8>, Vec<Event>) {
        let mut st: State = state::load(&bytes).unwrap();
        st.check().unwrap();
        let out = st.add(seq, Value::Null);
        (state::save(&st), out)
    }

    pub fn settings_for(queue: Option<&str>) -> Result<Option<String>, Failure> {
        let settings = Settings::parse(
            r#"{"account_id":"1","idp_url":"http://h","messaging_url":"http://h","skill_id":7}"#,
        )?;
        let mut c = crate::tests::conversation();
        c.routing.queue = queue.map(str::to_string);
        skill_for(&settings, &c)
    }

    pub fn texts(c: &Conversation) -> Vec<String> {
        TRANSCRIPT.pack(&transcript_entries(c), None, None)
    }

    pub fn profile(c: &Conversation) -> Value {
        user_profile(c)
    }

    pub fn input(text: &str, url: &str) -> String {
        input_text(&UserInput {
            kind: handover_adapter_sdk::InputKind::Text,
            text: text.into(),
            attachments: vec![handover_adapter_sdk::Attachment {
                url: url.into(),
                content_type: "image/png".into(),
                name: Some("a.png".into()),
            }],
        })
    }

    pub fn priority(p: Option<u32>) -> Value {
        ttr(p)
    }
}
