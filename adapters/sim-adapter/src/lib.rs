//! The sim provider's calls: settings, state and one function per WIT
//! export. Shared by `sim` and `sim-poll`, which differ only in the crate
//! root's `NAME`, `POLLING` and `DEFAULT_MODE`.

use crate::wire;
use handover_adapter_sdk::http::{self, Ignored, path_segment};
use handover_adapter_sdk::{
    Adapter, AdapterInfo, Availability, CallContext, Capabilities, Conversation, Failure,
    HttpRequest, HttpResponse, KeyValue, Level, SignatureAlgorithm, SignatureEncoding,
    SignedContent, Step, UserInput, WebhookRoute, WebhookSignature, adapter_version, error, events,
    log, settings, state, unsupported,
};
use serde::{Deserialize, Serialize};

/// Channels served when the settings do not list their own.
const DEFAULT_CHANNELS: [&str; 3] = ["webchat", "sms", "messenger"];
/// Most characters per transcript entry when the settings do not say.
const DEFAULT_TRANSCRIPT_CHUNK: usize = 1000;

/// The endpoint's settings (see `settings.schema.json`).
#[derive(Deserialize)]
struct Settings {
    base_url: String,
    #[serde(default = "default_mode")]
    mode: Mode,
    channels: Option<Vec<String>>,
    transcript_chunk: Option<usize>,
}

/// Where the endpoint's events come from.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The provider pushes webhooks; `poll` fetches nothing.
    Webhook,
    /// `poll` fetches events (only `sim-poll` is polled by the host).
    Poll,
}

fn default_mode() -> Mode {
    crate::DEFAULT_MODE
}

impl Settings {
    /// Parses and checks settings; failures name the field to fix.
    fn parse(text: &str) -> Result<Self, Failure> {
        let mut parsed: Settings = settings::parse(text)?;
        parsed.base_url = settings::require_http_url("base_url", &parsed.base_url)?;
        settings::require_min("transcript_chunk", parsed.transcript_chunk, 1)?;
        if let Some(channels) = &parsed.channels {
            if channels.is_empty() {
                return Err(settings::invalid(
                    "channels",
                    "must list at least one channel",
                ));
            }
            if let Some(i) = channels.iter().position(|c| c.trim().is_empty()) {
                return Err(settings::invalid(
                    &format!("channels[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(parsed)
    }

    /// Fails with `unsupported` unless this endpoint serves `channel`.
    fn check_channel(&self, channel: &str) -> Result<(), Failure> {
        let allowed: Vec<&str> = match &self.channels {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_CHANNELS.to_vec(),
        };
        if allowed.contains(&channel) {
            return Ok(());
        }
        Err(unsupported(format!(
            "channel {channel:?} is not served by this sim endpoint (allowed: {})",
            allowed.join(", ")
        )))
    }

    /// `{base_url}/conversations/{id}/{action}`.
    fn conversation_url(&self, id: &str, action: &str) -> String {
        format!(
            "{}/conversations/{}/{action}",
            self.base_url,
            path_segment(id)
        )
    }
}

/// Events held while waiting for a gap in `seq` to fill; past this many the
/// gap is taken as lost and the held events are applied in order.
const MAX_HELD: usize = 32;

/// What the host keeps for us between calls.
#[derive(Serialize, Deserialize, Default)]
struct State {
    conversation_id: String,
    /// Highest event `seq` applied; older or repeated events are dropped.
    last_event_seq: u64,
    /// Events that arrived before an earlier one (out of order), by `seq`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    held: Vec<wire::Event>,
}

impl State {
    fn load(bytes: &[u8]) -> Result<Self, Failure> {
        let loaded: State = state::load(bytes)?;
        if loaded.conversation_id.is_empty() {
            return Err(error("no sim conversation in the handover state"));
        }
        Ok(loaded)
    }

    /// Applies provider events in `seq` order: repeated or stale ones are
    /// dropped, early ones are held until the gap before them fills. Returns
    /// the step (state unchanged when nothing changed).
    fn apply(mut self, old: Vec<u8>, incoming: Vec<wire::Event>) -> Result<Step, Failure> {
        let before = (self.last_event_seq, self.held.len());
        for event in incoming {
            let seen =
                event.seq <= self.last_event_seq || self.held.iter().any(|h| h.seq == event.seq);
            if !seen {
                self.held.push(event);
            }
        }
        self.held.sort_by_key(|e| e.seq);
        let mut events = Vec::new();
        while let Some(next) = self.held.first() {
            let in_order = next.seq == self.last_event_seq + 1;
            if !in_order && self.held.len() <= MAX_HELD {
                break;
            }
            let next = self.held.remove(0);
            events.extend(next.to_event()?);
            self.last_event_seq = next.seq;
        }
        if (self.last_event_seq, self.held.len()) == before {
            return Ok(Step::unchanged(old));
        }
        Ok(Step::new(state::save(&self), events))
    }
}

/// The sim adapter.
pub struct Sim;

impl Adapter for Sim {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: crate::NAME.into(),
            version: adapter_version!().into(),
            channels: DEFAULT_CHANNELS.map(String::from).to_vec(),
            capabilities: Capabilities::ALL,
            webhook_signature: Some(WebhookSignature {
                algorithm: SignatureAlgorithm::HmacSha256,
                header: "X-Sim-Signature".into(),
                encoding: SignatureEncoding::Hex,
                prefix: Some("sha256=".into()),
                signed: SignedContent::TimestampThenBody(".".into()),
                timestamp_header: Some("X-Sim-Timestamp".into()),
                delivery_id_header: Some("X-Sim-Delivery".into()),
            }),
            polling: crate::POLLING,
            settings_schema: include_str!("../settings.schema.json").into(),
        }
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        settings.check_channel(&conversation.channel)?;
        let chunk = settings
            .transcript_chunk
            .unwrap_or(DEFAULT_TRANSCRIPT_CHUNK);
        let body = wire::NewConversation::new(&conversation, chunk);
        let url = format!("{}/conversations", settings.base_url);
        let created: wire::Created = http::post_json(&url, &[], &body)?;
        log::with_fields(
            Level::Info,
            "sim conversation created",
            &[("conversation_id", &created.id)],
        );
        // The provider announces the new conversation as event 1 (`queued`),
        // which this step already reports from the create response.
        let state = State {
            conversation_id: created.id.clone(),
            last_event_seq: 1,
            held: Vec::new(),
        };
        let queued = events::queued(created.queue_position, created.estimated_wait_seconds);
        Ok(Step::new(state::save(&state), vec![queued]).with_key(created.id))
    }

    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        let id = State::load(&state)?.conversation_id;
        let url = settings.conversation_url(&id, "messages");
        let _: Ignored = http::post_json(&url, &[], &wire::NewMessage::new(&input))?;
        Ok(Step::unchanged(state))
    }

    fn cancel(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        conversation_action(&ctx, state, "cancel")
    }

    fn close(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        conversation_action(&ctx, state, "close")
    }

    fn check_availability(ctx: CallContext, _state: Vec<u8>) -> Result<Availability, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        let url = format!("{}/availability", settings.base_url);
        let body: wire::Availability = http::get_json(&url, &[])?;
        Ok(Availability {
            agents_available: body.agents_available,
            open: body.open,
            estimated_wait_seconds: body.estimated_wait_seconds,
            message: None,
        })
    }

    fn route_webhook(_settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let event = wire::Event::parse_webhook(&request.body)?;
        Ok(WebhookRoute {
            response: HttpResponse {
                status: 200,
                headers: vec![KeyValue::new("content-type", "application/json")],
                body: br#"{"ok":true}"#.to_vec(),
            },
            delivery_id: Some(event.event_id),
            correlation_keys: vec![event.conversation_id],
        })
    }

    fn handle_webhook(
        _ctx: CallContext,
        state: Vec<u8>,
        request: HttpRequest,
    ) -> Result<Step, Failure> {
        let current = State::load(&state)?;
        let event = wire::Event::parse_webhook(&request.body)?;
        if event.conversation_id != current.conversation_id {
            return Err(error(format!(
                "webhook for sim conversation {} reached the handover of conversation {}",
                event.conversation_id, current.conversation_id
            )));
        }
        current.apply(state, vec![event])
    }

    fn poll(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        let settings = Settings::parse(&ctx.settings)?;
        if settings.mode == Mode::Webhook {
            return Ok(Step::unchanged(state));
        }
        let current = State::load(&state)?;
        let action = format!("events?after={}", current.last_event_seq);
        let url = settings.conversation_url(&current.conversation_id, &action);
        let page: wire::EventPage = http::get_json(&url, &[])?;
        current.apply(state, page.events)
    }
}

/// `POST {base}/conversations/{id}/{action}` with `{}`; the state stays as is.
fn conversation_action(ctx: &CallContext, state: Vec<u8>, action: &str) -> Result<Step, Failure> {
    let settings = Settings::parse(&ctx.settings)?;
    let id = State::load(&state)?.conversation_id;
    let url = settings.conversation_url(&id, action);
    let _: Ignored = http::post_json(&url, &[], &wire::Empty {})?;
    Ok(Step::unchanged(state))
}
