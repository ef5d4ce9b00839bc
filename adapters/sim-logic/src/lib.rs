//! `sim-logic`: the sim provider's logic as plain Rust — its JSON documents
//! ([`wire`]), webhook routing ([`route`]), the handover state with in-order
//! event application ([`State`]) and the mapping of provider events to
//! plain normalized events ([`Normalized`]).
//!
//! It owns no I/O, no WIT types and no logging, and must never depend on
//! `wit-bindgen`, the adapter SDK or anything wasm-only: the `sim` and
//! `sim-poll` components use it through `sim-adapter` (which adds the WIT
//! glue and the HTTP calls), and the host compiles it natively for its
//! benchmark path, so the sandboxed and native paths cannot drift.
//!
//! The native path (`host/src/runtime/native.rs`, `route-webhook` and
//! `handle-webhook` only) needs:
//! - [`route`]: a webhook body → [`Route`] (correlation key, delivery id);
//!   the HTTP response to give is [`WEBHOOK_RESPONSE_BODY`] with
//!   `content-type: application/json`, status 200. The parsed event is kept
//!   (per thread) for the [`State::handle_webhook`] of the same bytes that
//!   follows, so a webhook's body is parsed once on either path;
//! - [`State::load`], [`State::handle_webhook`] (check the conversation,
//!   apply the event in `seq` order, map it) and [`State::save`];
//!   [`Applied::changed`] says whether to return the new state or keep the
//!   old bytes.
//!
//! Failures are [`Error`]s carrying the exact message the adapter reports
//! as a failure of reason `error`.

pub mod wire;

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;

pub use wire::{Action, Agent, Attachment, Event, Ticket};

/// A failure of reason `error`, with the message the adapter reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The body of the HTTP response to every webhook.
pub const WEBHOOK_RESPONSE_BODY: &[u8] = br#"{"ok":true}"#;

/// Events held while waiting for a gap in `seq` to fill; past this many the
/// gap is taken as lost and the held events are applied in order.
pub const MAX_HELD: usize = 32;

/// What a webhook concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The sim conversation id: the handover's correlation key.
    pub correlation_key: String,
    /// The provider's event id, for the host's dedupe.
    pub delivery_id: String,
}

thread_local! {
    /// The body [`route`] last parsed, with its event: the host calls
    /// `route-webhook` and then `handle-webhook` with the same request on
    /// one instance, so the second call takes the event instead of parsing
    /// the body again. Taken (emptied) by the first [`State::handle_webhook`]
    /// that follows; any other body is parsed.
    static ROUTED: RefCell<Option<(Vec<u8>, Event)>> = const { RefCell::new(None) };
}

/// Webhook phase one: which conversation a webhook body concerns.
pub fn route(body: &[u8]) -> Result<Route, Error> {
    let event = Event::parse_webhook(body)?;
    let route = Route {
        correlation_key: event.conversation_id.clone(),
        delivery_id: event.event_id.clone(),
    };
    ROUTED.with(|r| *r.borrow_mut() = Some((body.to_vec(), event)));
    Ok(route)
}

/// The event of a webhook body: [`route`]'s parse if it was of these very
/// bytes, else a parse now. (The same bytes always parse to the same event.)
fn routed_or_parsed(body: &[u8]) -> Result<Event, Error> {
    match ROUTED.with(|r| r.borrow_mut().take()) {
        Some((routed, event)) if routed == body => Ok(event),
        _ => Event::parse_webhook(body),
    }
}

/// Why the provider side ended the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    AgentClosed,
    AgentLeft,
    ProviderClosed,
    NoAgentAvailable,
    Other(String),
}

/// A provider event mapped to the contract's normalized event, as plain
/// data (the adapter turns it into the WIT `event`, the host into its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalized {
    Queued {
        position: Option<u32>,
        estimated_wait_seconds: Option<u32>,
    },
    AgentJoined(Agent),
    AgentMessage {
        agent: Option<Agent>,
        text: String,
        attachments: Vec<Attachment>,
        actions: Vec<Action>,
    },
    AgentTyping(bool),
    AgentLeft(Agent),
    Transferred {
        to_queue: Option<String>,
        to_agent: Option<Agent>,
    },
    Ended(EndReason),
    /// The agent handed the conversation back to the bot (`variables` is a
    /// JSON object).
    ReturnedToBot {
        variables: serde_json::Value,
        note: Option<String>,
    },
    WrapUp {
        disposition: Option<String>,
        resolution_code: Option<String>,
        notes: Option<String>,
    },
    Survey {
        score: Option<u32>,
        scale_max: u32,
        comment: Option<String>,
    },
    /// The user's messages of these ids were delivered (`read`: false) or
    /// read by the agent.
    Receipt {
        message_ids: Vec<String>,
        read: bool,
        ts: Option<u64>,
    },
    Ticket(Ticket),
}

/// What the host keeps for a sim handover between calls.
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct State {
    pub conversation_id: String,
    /// Highest event `seq` applied; older or repeated events are dropped.
    pub last_event_seq: u64,
    /// Events that arrived before an earlier one (out of order), by `seq`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Event>,
}

/// The result of applying provider events to a [`State`].
#[derive(Debug, Default)]
pub struct Applied {
    /// Normalized events, in `seq` order.
    pub events: Vec<Normalized>,
    /// Warnings for provider events of unknown types (dropped).
    pub ignored: Vec<String>,
    /// Whether the state changed (else the old state bytes stay as they are).
    pub changed: bool,
}

impl State {
    /// The state of a conversation just created (the provider announces it
    /// as event 1, `queued`, which `start` reports from the create answer).
    pub fn created(conversation_id: String) -> Self {
        State {
            conversation_id,
            last_event_seq: 1,
            held: Vec::new(),
        }
    }

    /// Parses state bytes (empty = a fresh handover) and checks that they
    /// name a conversation.
    pub fn load(bytes: &[u8]) -> Result<Self, Error> {
        let loaded: State = if bytes.is_empty() {
            State::default()
        } else {
            serde_json::from_slice(bytes)
                .map_err(|e| Error(format!("corrupt adapter state: {e}")))?
        };
        loaded.check()?;
        Ok(loaded)
    }

    /// Fails unless the state names a sim conversation.
    pub fn check(&self) -> Result<(), Error> {
        if self.conversation_id.is_empty() {
            return Err(Error("no sim conversation in the handover state".into()));
        }
        Ok(())
    }

    /// The state as JSON bytes.
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("sim state serialises to JSON")
    }

    /// Webhook phase two: parses `body`, checks that it concerns this
    /// state's conversation and applies it.
    pub fn handle_webhook(&mut self, body: &[u8]) -> Result<Applied, Error> {
        let event = routed_or_parsed(body)?;
        if event.conversation_id != self.conversation_id {
            return Err(Error(format!(
                "webhook for sim conversation {} reached the handover of conversation {}",
                event.conversation_id, self.conversation_id
            )));
        }
        self.apply(vec![event])
    }

    /// Applies provider events in `seq` order: repeated or stale ones are
    /// dropped, early ones are held until the gap before them fills.
    pub fn apply(&mut self, incoming: Vec<Event>) -> Result<Applied, Error> {
        let before = (self.last_event_seq, self.held.len());
        for event in incoming {
            let seen =
                event.seq <= self.last_event_seq || self.held.iter().any(|h| h.seq == event.seq);
            if !seen {
                self.held.push(event);
            }
        }
        self.held.sort_by_key(|e| e.seq);
        let mut applied = Applied::default();
        while let Some(next) = self.held.first() {
            let in_order = next.seq == self.last_event_seq + 1;
            if !in_order && self.held.len() <= MAX_HELD {
                break;
            }
            let next = self.held.remove(0);
            match next.normalize()? {
                Some(event) => applied.events.push(event),
                None => applied.ignored.push(format!(
                    "ignoring sim event {} of unknown type {:?}",
                    next.event_id, next.kind
                )),
            }
            self.last_event_seq = next.seq;
        }
        applied.changed = (self.last_event_seq, self.held.len()) != before;
        Ok(applied)
    }
}

#[cfg(test)]
mod tests;
