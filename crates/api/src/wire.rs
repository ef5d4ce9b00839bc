//! The bot-facing response bodies and the status codes of the engine's
//! typed results (the shapes `openapi.json` documents).
//!
//! Owns every JSON shape and HTTP status the bot and the provider see for
//! a handover view, a create, an input, a close, availability, an engine
//! error and a webhook refusal. Must never decide what happened: that is
//! the engine's typed result; this only writes it down.

use axum::http::StatusCode;
use handover_engine::{
    Availability, BotMessage, CloseOutcome, Created, FinalOutcome, HandoverView, InputOutcome,
    InputResult, TypingResult, WebhookRefusal,
};
use serde::Serialize;
use serde_json::Value;

/// `{"status": …, "error": {…}}`: the `handover` member of a final object.
#[derive(Serialize)]
pub struct FinalHandover<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail<'a>>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    reason: &'a str,
    message: &'a str,
}

impl<'a> From<&'a FinalOutcome> for FinalHandover<'a> {
    fn from(f: &'a FinalOutcome) -> Self {
        match f {
            FinalOutcome::Completed => FinalHandover {
                status: "completed",
                error: None,
            },
            FinalOutcome::Cancelled => FinalHandover {
                status: "cancelled",
                error: None,
            },
            FinalOutcome::Error { reason, message } => FinalHandover {
                status: "error",
                error: Some(ErrorDetail { reason, message }),
            },
        }
    }
}

/// The spec's final object: `{"handover": {"status": …}}`.
#[derive(Serialize)]
pub struct FinalObject<'a> {
    handover: FinalHandover<'a>,
}

impl<'a> From<&'a FinalOutcome> for FinalObject<'a> {
    fn from(f: &'a FinalOutcome) -> Self {
        FinalObject { handover: f.into() }
    }
}

#[derive(Serialize)]
struct Queue {
    position: Option<u32>,
    estimated_wait_seconds: Option<u32>,
}

/// `HandoverView` in `openapi.json`.
#[derive(Serialize)]
pub struct ViewBody<'a> {
    handover_id: &'a str,
    endpoint_id: &'a str,
    tenant: &'a str,
    session_id: &'a str,
    status: &'static str,
    queue: Queue,
    agent: &'a Option<Value>,
    created_at_ms: i64,
    updated_at_ms: i64,
    agent_joined_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    end_reason: Option<&'a str>,
    result: Option<FinalObject<'a>>,
    /// Contract 0.2.0 details, each in its own field and only when reported:
    /// `variables` (hand-back), `wrap_up`, `survey`, `references`.
    #[serde(skip_serializing_if = "Option::is_none")]
    variables: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_up: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    survey: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    references: Option<&'a Value>,
}

impl<'a> From<&'a HandoverView> for ViewBody<'a> {
    fn from(v: &'a HandoverView) -> Self {
        ViewBody {
            handover_id: &v.handover_id,
            endpoint_id: &v.endpoint_id,
            tenant: &v.tenant,
            session_id: &v.session_id,
            status: v.status.as_str(),
            queue: Queue {
                position: v.queue_position,
                estimated_wait_seconds: v.estimated_wait_seconds,
            },
            agent: &v.agent,
            created_at_ms: v.created_at_ms,
            updated_at_ms: v.updated_at_ms,
            agent_joined_at_ms: v.agent_joined_at_ms,
            ended_at_ms: v.ended_at_ms,
            end_reason: v.end_reason.as_deref(),
            result: v.result.as_ref().map(FinalObject::from),
            variables: extra(v, "variables"),
            wrap_up: extra(v, "wrap_up"),
            survey: extra(v, "survey"),
            references: extra(v, "references"),
        }
    }
}

fn extra<'a>(v: &'a HandoverView, key: &str) -> Option<&'a Value> {
    v.extras.as_ref()?.get(key)
}

/// `HandoverList`.
#[derive(Serialize)]
pub struct ListBody<'a> {
    handovers: Vec<ViewBody<'a>>,
}

impl<'a> ListBody<'a> {
    pub fn new(views: impl IntoIterator<Item = &'a HandoverView>) -> Self {
        ListBody {
            handovers: views.into_iter().map(ViewBody::from).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum MessageBody<'a> {
    Text { text: &'a str },
    QuickReply { text: &'a str, payload: &'a str },
}

#[derive(Serialize)]
struct Links {
    status: String,
    input: String,
    events: String,
}

/// `CreateResponse`; `handover` and `end_reason` only once ended.
#[derive(Serialize)]
pub struct CreatedBody<'a> {
    handover_id: &'a str,
    status: &'static str,
    already_in_progress: bool,
    messages: Vec<MessageBody<'a>>,
    links: Links,
    #[serde(skip_serializing_if = "Option::is_none")]
    handover: Option<FinalHandover<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_reason: Option<Option<&'a str>>,
}

impl<'a> From<&'a Created> for CreatedBody<'a> {
    fn from(c: &'a Created) -> Self {
        let v = &c.handover;
        let id = &v.handover_id;
        CreatedBody {
            handover_id: id,
            status: v.status.as_str(),
            already_in_progress: c.already_in_progress,
            messages: c
                .messages
                .iter()
                .map(|m| match m {
                    BotMessage::Text { text } => MessageBody::Text { text },
                    BotMessage::QuickReply { text, payload } => {
                        MessageBody::QuickReply { text, payload }
                    }
                })
                .collect(),
            links: Links {
                status: format!("/v1/handovers/{id}"),
                input: format!("/v1/handovers/{id}/input"),
                events: format!("/v1/handovers/{id}/events"),
            },
            handover: v.result.as_ref().map(FinalHandover::from),
            end_reason: v.result.as_ref().map(|_| v.end_reason.as_deref()),
        }
    }
}

/// 201 for a new handover, 200 when an existing one answered.
pub fn created_status(c: &Created) -> StatusCode {
    if c.already_in_progress {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

/// `InputResult`.
#[derive(Serialize)]
pub struct InputBody<'a> {
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    handover: ViewBody<'a>,
}

impl<'a> From<&'a InputResult> for InputBody<'a> {
    fn from(r: &'a InputResult) -> Self {
        InputBody {
            result: match r.outcome {
                InputOutcome::Forwarded => "forwarded",
                InputOutcome::Cancelled => "cancelled",
                InputOutcome::Error => "error",
            },
            message_id: r.message_id.as_deref(),
            handover: (&r.handover).into(),
        }
    }
}

/// `TypingResult`.
#[derive(Serialize)]
pub struct TypingBody<'a> {
    forwarded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    handover: ViewBody<'a>,
}

impl<'a> From<&'a TypingResult> for TypingBody<'a> {
    fn from(r: &'a TypingResult) -> Self {
        TypingBody {
            forwarded: r.forwarded,
            detail: r.detail.as_deref(),
            handover: (&r.handover).into(),
        }
    }
}

/// `CloseResult`.
#[derive(Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CloseBody<'a> {
    AlreadyEnded {
        handover: ViewBody<'a>,
    },
    Closed {
        provider_closed: bool,
        detail: Option<&'a str>,
        handover: ViewBody<'a>,
    },
}

impl<'a> From<&'a CloseOutcome> for CloseBody<'a> {
    fn from(c: &'a CloseOutcome) -> Self {
        match c {
            CloseOutcome::AlreadyEnded { handover } => CloseBody::AlreadyEnded {
                handover: handover.into(),
            },
            CloseOutcome::Closed {
                provider_closed,
                detail,
                handover,
            } => CloseBody::Closed {
                provider_closed: *provider_closed,
                detail: detail.as_deref(),
                handover: handover.into(),
            },
        }
    }
}

/// `Availability`.
#[derive(Serialize)]
#[serde(untagged)]
pub enum AvailabilityBody<'a> {
    Unsupported {
        supported: bool,
        message: &'a str,
    },
    Supported {
        supported: bool,
        agents_available: bool,
        open: bool,
        estimated_wait_seconds: Option<u32>,
        message: Option<&'a str>,
    },
}

impl<'a> From<&'a Availability> for AvailabilityBody<'a> {
    fn from(a: &'a Availability) -> Self {
        match a {
            Availability::Unsupported { message } => AvailabilityBody::Unsupported {
                supported: false,
                message,
            },
            Availability::Supported(a) => AvailabilityBody::Supported {
                supported: true,
                agents_available: a.agents_available,
                open: a.open,
                estimated_wait_seconds: a.estimated_wait_seconds,
                message: a.message.as_deref(),
            },
        }
    }
}

/// The status answering a refused webhook (the provider may retry 429 and
/// 503; other refusals are final).
pub fn refusal_status(r: &WebhookRefusal) -> StatusCode {
    match r {
        WebhookRefusal::UnknownEndpoint(_) => StatusCode::NOT_FOUND,
        WebhookRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        WebhookRefusal::BadSignature(_) => StatusCode::UNAUTHORIZED,
        WebhookRefusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        WebhookRefusal::AdapterMisbehaved(_) => StatusCode::INTERNAL_SERVER_ERROR,
        WebhookRefusal::Malformed(_) => StatusCode::BAD_REQUEST,
        WebhookRefusal::Unstored(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The JSON value of a serializable body (for callers that read JSON, such
/// as the conformance kit).
pub fn to_json(body: impl Serialize) -> Value {
    serde_json::to_value(body).expect("wire bodies serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use handover_core::store::Status;
    use serde_json::json;

    fn view(status: Status, result: Option<FinalOutcome>) -> HandoverView {
        HandoverView {
            handover_id: "h-1".into(),
            endpoint_id: "ep".into(),
            tenant: "t".into(),
            session_id: "s-1".into(),
            status,
            queue_position: Some(2),
            estimated_wait_seconds: None,
            agent: Some(json!({"id": "a-1", "name": "Ann"})),
            created_at_ms: 1000,
            updated_at_ms: 2000,
            agent_joined_at_ms: None,
            ended_at_ms: result.as_ref().map(|_| 2000),
            end_reason: result.as_ref().map(|_| "bot_closed".into()),
            result,
            extras: None,
        }
    }

    /// The body `engine::handover::view` built with `json!` before the
    /// engine returned typed results.
    fn old_view(v: &HandoverView, result: Value) -> Value {
        json!({
            "handover_id": v.handover_id, "endpoint_id": v.endpoint_id, "tenant": v.tenant,
            "session_id": v.session_id, "status": v.status.as_str(),
            "queue": {"position": v.queue_position, "estimated_wait_seconds": v.estimated_wait_seconds},
            "agent": v.agent, "created_at_ms": v.created_at_ms, "updated_at_ms": v.updated_at_ms,
            "agent_joined_at_ms": v.agent_joined_at_ms, "ended_at_ms": v.ended_at_ms,
            "end_reason": v.end_reason, "result": result,
        })
    }

    #[test]
    fn views_and_results_keep_their_json() {
        let open = view(Status::Queued, None);
        assert_eq!(to_json(ViewBody::from(&open)), old_view(&open, Value::Null));
        let failed = view(
            Status::Error,
            Some(FinalOutcome::Error {
                reason: "unsupported".into(),
                message: "no".into(),
            }),
        );
        let final_error = json!({"handover": {"status": "error", "error": {"reason": "unsupported", "message": "no"}}});
        assert_eq!(
            to_json(ViewBody::from(&failed)),
            old_view(&failed, final_error.clone())
        );
        let done = view(Status::Completed, Some(FinalOutcome::Completed));
        let done_json = old_view(&done, json!({"handover": {"status": "completed"}}));
        assert_eq!(
            to_json(InputBody::from(&InputResult {
                outcome: InputOutcome::Cancelled,
                message_id: None,
                handover: done.clone(),
            })),
            json!({"result": "cancelled", "handover": done_json})
        );
        assert_eq!(
            to_json(CloseBody::from(&CloseOutcome::Closed {
                provider_closed: false,
                detail: None,
                handover: done.clone(),
            })),
            json!({"result": "closed", "provider_closed": false, "detail": null, "handover": done_json})
        );
        assert_eq!(
            to_json(CloseBody::from(&CloseOutcome::AlreadyEnded {
                handover: done.clone()
            })),
            json!({"result": "already_ended", "handover": done_json})
        );
        assert_eq!(
            to_json(ListBody::new([&open])),
            json!({"handovers": [old_view(&open, Value::Null)]})
        );

        let links = json!({"status": "/v1/handovers/h-1", "input": "/v1/handovers/h-1/input",
                           "events": "/v1/handovers/h-1/events"});
        let created = Created {
            handover: open.clone(),
            already_in_progress: false,
            messages: vec![
                BotMessage::Text {
                    text: "hold on".into(),
                },
                BotMessage::QuickReply {
                    text: "Cancel".into(),
                    payload: "Cancel".into(),
                },
            ],
        };
        assert_eq!(created_status(&created), StatusCode::CREATED);
        assert_eq!(
            to_json(CreatedBody::from(&created)),
            json!({"handover_id": "h-1", "status": "queued", "already_in_progress": false,
                   "messages": [{"type": "text", "text": "hold on"},
                                {"type": "quick_reply", "text": "Cancel", "payload": "Cancel"}],
                   "links": links})
        );
        let mut ended = failed.clone();
        ended.end_reason = None;
        let replay = Created {
            handover: ended,
            already_in_progress: true,
            messages: vec![],
        };
        assert_eq!(created_status(&replay), StatusCode::OK);
        assert_eq!(
            to_json(CreatedBody::from(&replay)),
            json!({"handover_id": "h-1", "status": "error", "already_in_progress": true,
                   "messages": [], "links": links, "handover": final_error["handover"],
                   "end_reason": null})
        );

        assert_eq!(
            to_json(AvailabilityBody::from(&Availability::Unsupported {
                message: "no".into()
            })),
            json!({"supported": false, "message": "no"})
        );
        assert_eq!(
            to_json(AvailabilityBody::from(&Availability::Supported(
                handover_core::model::Availability {
                    agents_available: true,
                    open: true,
                    estimated_wait_seconds: None,
                    message: None,
                }
            ))),
            json!({"supported": true, "agents_available": true, "open": true,
                   "estimated_wait_seconds": null, "message": null})
        );
    }
}
