//! `sim-adapter`: the sim provider's calls as a [`TypedAdapter`], shared by
//! the `sim` and `sim-poll` components, which differ only in their
//! [`Flavor`] (name, polling, default `mode`). This crate owns the contract
//! glue and the HTTP calls; the provider's documents, event ordering and
//! mapping are the pure `sim-logic` crate (which the host also compiles
//! natively), so the sandboxed and native paths cannot drift. The provider
//! protocol is in `adapters/sim/PROTOCOL.md`. Read this file (one function
//! per WIT call), then `wire.rs` (the request bodies).

mod contract;
mod wire;

#[cfg(test)]
mod tests;

use handover_adapter_sdk::http::{self, Ignored, path_segment};
use handover_adapter_sdk::settings::{self, Validate};
use handover_adapter_sdk::{
    AdapterInfo, Availability, Capabilities, Conversation, Cx, EndReason, Event, Failure,
    HandoverState, HttpRequest, HttpResponse, Level, Output, Polling, Reply, TypedAdapter,
    UserInput, WebhookRoute, WebhookSignature, adapter_version, channels, error, events, log,
};
use serde::Deserialize;
use sim_logic::{Normalized, wire as sim_wire};
use std::marker::PhantomData;

/// Channels served when the settings do not list their own.
const DEFAULT_CHANNELS: [&str; 3] = ["webchat", "sms", "messenger"];
/// Most characters per transcript entry when the settings do not say.
const DEFAULT_TRANSCRIPT_CHUNK: usize = 1000;

/// What differs between the `sim` and `sim-poll` builds.
pub trait Flavor {
    /// The adapter name reported by `describe`.
    const NAME: &'static str;
    /// How the host fetches provider events.
    const POLLING: Polling;
    /// The settings' `mode` when they omit it.
    const DEFAULT_MODE: Mode;
}

/// The endpoint's settings (see `sim/settings.schema.json`).
#[derive(Deserialize)]
pub struct Settings {
    base_url: String,
    /// `None` = the flavor's default mode.
    mode: Option<Mode>,
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

impl Validate for Settings {
    fn validate(&mut self) -> Result<(), Failure> {
        self.base_url = settings::require_http_url("base_url", &self.base_url)?;
        settings::require_min("transcript_chunk", self.transcript_chunk, 1)?;
        settings::require_channels(self.channels.as_ref())
    }
}

impl Settings {
    /// `{base_url}/conversations/{id}/{action}`.
    fn conversation_url(&self, id: &str, action: &str) -> String {
        format!(
            "{}/conversations/{}/{action}",
            self.base_url,
            path_segment(id)
        )
    }
}

/// What the host keeps for us between calls (`sim_logic::State`).
#[derive(serde::Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct State(sim_logic::State);

impl HandoverState for State {
    fn check(&self) -> Result<(), Failure> {
        self.0.check().map_err(fail)
    }
}

/// A `sim-logic` error as the contract's `error` failure.
fn fail(e: sim_logic::Error) -> Failure {
    error(e.0)
}

/// Logs what was ignored and reports the applied events.
fn report(applied: sim_logic::Applied) -> Output {
    for warning in &applied.ignored {
        log::warn(warning);
    }
    applied
        .events
        .into_iter()
        .filter_map(to_wit)
        .collect::<Vec<_>>()
        .into()
}

fn agent(a: sim_logic::Agent) -> handover_adapter_sdk::Agent {
    events::agent(a.id, a.name)
}

/// A plain normalized event as the contract's event; `None` for what this
/// build's contract cannot carry (logged).
fn to_wit(event: Normalized) -> Option<Event> {
    Some(match event {
        Normalized::Queued {
            position,
            estimated_wait_seconds,
        } => events::queued(position, estimated_wait_seconds),
        Normalized::AgentJoined(a) => events::agent_joined(agent(a)),
        Normalized::AgentMessage {
            agent: by,
            text,
            attachments,
            actions,
        } => contract::agent_message(
            by.map(agent),
            text,
            attachments
                .into_iter()
                .map(wire::attachment_to_wit)
                .collect(),
            actions,
        ),
        Normalized::AgentTyping(typing) => events::typing(typing),
        Normalized::AgentLeft(a) => events::agent_left(agent(a)),
        Normalized::Transferred { to_queue, to_agent } => {
            events::transferred(to_queue, to_agent.map(agent))
        }
        Normalized::Ended(reason) => events::ended(match reason {
            sim_logic::EndReason::AgentClosed => EndReason::AgentClosed,
            sim_logic::EndReason::AgentLeft => EndReason::AgentLeft,
            sim_logic::EndReason::ProviderClosed => EndReason::ProviderClosed,
            sim_logic::EndReason::NoAgentAvailable => EndReason::NoAgentAvailable,
            sim_logic::EndReason::Other(other) => EndReason::Other(other),
        }),
        other => return contract::newer(other),
    })
}

/// The settings' JSON Schema, reported by `describe`.
const SCHEMA: &str = include_str!("../../sim/settings.schema.json");

/// The sim adapter of flavor `F`.
pub struct Sim<F>(PhantomData<F>);

impl<F: Flavor> TypedAdapter for Sim<F> {
    type Settings = Settings;
    type State = State;

    fn describe() -> AdapterInfo {
        let info = AdapterInfo::new(F::NAME, adapter_version!(), &DEFAULT_CHANNELS)
            .with(Capabilities::ALL, F::POLLING, SCHEMA)
            .signed(WebhookSignature::timestamped_hmac_sha256(
                "X-Sim-Signature",
                "X-Sim-Timestamp",
                "X-Sim-Delivery",
            ));
        contract::describe(info)
    }

    fn start(cx: &Cx<Settings>, state: &mut State, conversation: Conversation) -> Reply {
        let s = &cx.settings;
        channels::check(
            &conversation.channel,
            s.channels.as_ref(),
            &DEFAULT_CHANNELS,
            "sim",
        )?;
        let chunk = s.transcript_chunk.unwrap_or(DEFAULT_TRANSCRIPT_CHUNK);
        let body = wire::NewConversation::new(&conversation, chunk);
        let url = format!("{}/conversations", s.base_url);
        let created: sim_wire::Created = http::post_json(&url, &[], &body)?;
        log::with_fields(
            Level::Info,
            "sim conversation created",
            &[("conversation_id", &created.id)],
        );
        // The provider announces the new conversation as event 1 (`queued`),
        // which this step already reports from the create response.
        *state = State(sim_logic::State::created(created.id.clone()));
        let queued = events::queued(created.queue_position, created.estimated_wait_seconds);
        Ok(Output::from(vec![queued]).with_key(created.id))
    }

    fn user_message(cx: &Cx<Settings>, state: &mut State, input: UserInput) -> Reply {
        let url = cx
            .settings
            .conversation_url(&state.0.conversation_id, "messages");
        let _: Ignored = http::post_json(&url, &[], &wire::NewMessage::new(&input))?;
        Ok(Output::none())
    }

    #[cfg(feature = "contract-0-2")]
    fn user_typing(cx: &Cx<Settings>, state: &mut State, typing: bool) -> Reply {
        let url = cx
            .settings
            .conversation_url(&state.0.conversation_id, "typing");
        let _: Ignored = http::post_json(&url, &[], &serde_json::json!({ "typing": typing }))?;
        Ok(Output::none())
    }

    fn cancel(cx: &Cx<Settings>, state: &mut State) -> Reply {
        conversation_action(&cx.settings, state, "cancel")
    }

    fn close(cx: &Cx<Settings>, state: &mut State) -> Reply {
        conversation_action(&cx.settings, state, "close")
    }

    fn check_availability(settings: &Settings) -> Result<Availability, Failure> {
        let url = format!("{}/availability", settings.base_url);
        let body: sim_wire::Availability = http::get_json(&url, &[])?;
        Ok(Availability {
            agents_available: body.agents_available,
            open: body.open,
            estimated_wait_seconds: body.estimated_wait_seconds,
            message: None,
        })
    }

    fn route_webhook(_settings: &Settings, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let route = sim_logic::route(&request.body).map_err(fail)?;
        Ok(WebhookRoute {
            response: HttpResponse::json(200, sim_logic::WEBHOOK_RESPONSE_BODY),
            delivery_id: Some(route.delivery_id),
            correlation_keys: vec![route.correlation_key],
        })
    }

    fn handle_webhook(_cx: &Cx<Settings>, state: &mut State, request: HttpRequest) -> Reply {
        let applied = state.0.handle_webhook(&request.body).map_err(fail)?;
        Ok(report(applied))
    }

    fn poll(cx: &Cx<Settings>, state: &mut State) -> Reply {
        let s = &cx.settings;
        if s.mode.unwrap_or(F::DEFAULT_MODE) == Mode::Webhook {
            return Ok(Output::none());
        }
        let action = format!("events?after={}", state.0.last_event_seq);
        let url = s.conversation_url(&state.0.conversation_id, &action);
        let page: sim_wire::EventPage = http::get_json(&url, &[])?;
        Ok(report(state.0.apply(page.events).map_err(fail)?))
    }
}

/// `POST {base}/conversations/{id}/{action}` with `{}`; the state stays as is.
fn conversation_action(s: &Settings, state: &State, action: &str) -> Reply {
    let url = s.conversation_url(&state.0.conversation_id, action);
    let _: Ignored = http::post_json(&url, &[], &sim_wire::Empty {})?;
    Ok(Output::none())
}
