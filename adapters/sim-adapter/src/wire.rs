//! The sim provider's request bodies built from the contract's types (see
//! `sim/PROTOCOL.md`); the responses and provider events are `sim-logic`'s.

use handover_adapter_sdk::transcript;
use handover_adapter_sdk::{Author, Conversation, InputKind, KeyValue, UserInput};
use serde::Serialize;
use sim_logic::Attachment;
use std::collections::BTreeMap;

/// `POST /conversations` request body.
#[derive(Serialize)]
pub struct NewConversation<'a> {
    handover_id: &'a str,
    session_id: &'a str,
    user_id: &'a str,
    channel: &'a str,
    locale: &'a str,
    profile: BTreeMap<&'a str, &'a str>,
    transcript: Vec<TranscriptLine>,
    routing: Routing<'a>,
}

#[derive(Serialize)]
struct TranscriptLine {
    author: &'static str,
    text: String,
    ts: u64,
}

#[derive(Serialize)]
struct Routing<'a> {
    skills: &'a [String],
    language: Option<&'a str>,
    priority: Option<u32>,
    queue: Option<&'a str>,
    custom: BTreeMap<&'a str, &'a str>,
}

impl<'a> NewConversation<'a> {
    /// The request for `c`, transcript entries split to `chunk` characters.
    pub fn new(c: &'a Conversation, chunk: usize) -> Self {
        let transcript = transcript::chunk(&c.transcript, chunk)
            .into_iter()
            .map(|entry| TranscriptLine {
                author: match entry.author {
                    Author::User => "user",
                    Author::Bot => "bot",
                    Author::Agent => "agent",
                    Author::System => "system",
                },
                text: entry.text,
                ts: entry.timestamp_ms,
            })
            .collect();
        let r = &c.routing;
        NewConversation {
            handover_id: &c.handover_id,
            session_id: &c.session_id,
            user_id: &c.user_id,
            channel: &c.channel,
            locale: &c.locale,
            profile: map(&c.user_profile),
            transcript,
            routing: Routing {
                skills: &r.skills,
                language: r.language.as_deref(),
                priority: r.priority,
                queue: r.queue.as_deref(),
                custom: map(&r.custom),
            },
        }
    }
}

fn map(pairs: &[KeyValue]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect()
}

/// `POST /conversations/{id}/messages` request body.
#[derive(Serialize)]
pub struct NewMessage<'a> {
    /// The host's message id (contract 0.2.0), which receipts name.
    #[cfg(feature = "contract-0-2")]
    id: &'a str,
    text: &'a str,
    kind: &'static str,
    attachments: Vec<Attachment>,
}

impl<'a> NewMessage<'a> {
    pub fn new(input: &'a UserInput) -> Self {
        NewMessage {
            #[cfg(feature = "contract-0-2")]
            id: &input.id,
            text: &input.text,
            kind: match input.kind {
                InputKind::Text => "text",
                InputKind::Intent => "intent",
                InputKind::QuickReply => "quick_reply",
            },
            attachments: input.attachments.iter().map(attachment).collect(),
        }
    }
}

/// A contract attachment as the provider's.
fn attachment(a: &handover_adapter_sdk::Attachment) -> Attachment {
    Attachment {
        url: a.url.clone(),
        content_type: a.content_type.clone(),
        name: a.name.clone(),
    }
}

/// A provider attachment as the contract's.
pub fn attachment_to_wit(a: Attachment) -> handover_adapter_sdk::Attachment {
    handover_adapter_sdk::Attachment {
        url: a.url,
        content_type: a.content_type,
        name: a.name,
    }
}
