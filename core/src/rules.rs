//! The handover state machine as pure functions: provider events and host
//! decisions applied to a stored row, producing the bot-facing events.
//!
//! No I/O, no clocks (callers pass `now`). The final object always has
//! exactly the product's shape: `{"handover":{"status":…}}` plus `error`
//! `{reason, message}` for status `error`; every extra detail (end reason,
//! timings, agent) lives in separate fields.

use crate::model::{EndReason, ProviderEvent, ReceiptStatus};
use crate::store::{HandoverRow, NewEvent, Status};
use serde_json::{Value, json};

/// How a handover ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Cancelled,
    Error {
        reason: &'static str,
        message: String,
    },
}

impl Outcome {
    pub fn error(message: impl Into<String>) -> Outcome {
        Outcome::Error {
            reason: "error",
            message: message.into(),
        }
    }
    pub fn from_failure(f: &crate::model::Failure) -> Outcome {
        let reason = match f.reason {
            crate::model::FailureReason::Unsupported => "unsupported",
            crate::model::FailureReason::Error => "error",
        };
        Outcome::Error {
            reason,
            message: f.message.clone(),
        }
    }
}

/// The product's final object for a row (None while open).
pub fn final_object(row: &HandoverRow) -> Option<Value> {
    match row.status {
        Status::Completed => Some(json!({"handover": {"status": "completed"}})),
        Status::Cancelled => Some(json!({"handover": {"status": "cancelled"}})),
        Status::Error => Some(json!({"handover": {"status": "error", "error": {
            "reason": row.error_reason.clone().unwrap_or_else(|| "error".into()),
            "message": row.error_message.clone().unwrap_or_default(),
        }}})),
        _ => None,
    }
}

pub fn timings(row: &HandoverRow) -> Value {
    let end = row.ended_at_ms.unwrap_or(row.updated_at_ms);
    json!({
        "created_at_ms": row.created_at_ms,
        "agent_joined_at_ms": row.agent_joined_at_ms,
        "ended_at_ms": row.ended_at_ms,
        "wait_ms": row.agent_joined_at_ms.map(|j| j - row.created_at_ms),
        "handle_ms": row.agent_joined_at_ms.map(|j| end - j),
        "total_ms": end - row.created_at_ms,
    })
}

/// End the handover: final status, timers disarmed, the `ended` event.
/// `detail` is extra human-readable context (never changes the final object).
pub fn finish(
    row: &mut HandoverRow,
    outcome: Outcome,
    end_reason: &str,
    detail: Option<String>,
    now: i64,
) -> NewEvent {
    match outcome {
        Outcome::Completed => row.status = Status::Completed,
        Outcome::Cancelled => row.status = Status::Cancelled,
        Outcome::Error { reason, message } => {
            row.status = Status::Error;
            row.error_reason = Some(reason.to_string());
            row.error_message = Some(message);
        }
    }
    row.end_reason = Some(end_reason.to_string());
    row.ended_at_ms = Some(now);
    row.updated_at_ms = now;
    row.no_agent_deadline_ms = None;
    row.inactivity_warn_at_ms = None;
    row.inactivity_end_at_ms = None;
    row.next_poll_at_ms = None;
    let mut payload = json!({
        "type": "ended",
        "handover": final_object(row).expect("ended")["handover"].clone(),
        "end_reason": end_reason,
        "timings": timings(row),
    });
    if let Some(d) = detail {
        payload["detail"] = Value::String(d);
    }
    // What the provider reported beyond the status (contract 0.2.0), in
    // fields of their own: the final object never changes.
    if let Some(Value::Object(extras)) = &row.extras {
        for (k, v) in extras {
            payload[k.as_str()] = v.clone();
        }
    }
    NewEvent {
        kind: "ended".into(),
        payload,
    }
}

fn event(kind: &str, mut payload: Value) -> NewEvent {
    payload["type"] = Value::String(kind.into());
    NewEvent {
        kind: kind.into(),
        payload,
    }
}

/// Record `value` under `key` in the row's extras (`push`: append to a list).
fn remember(row: &mut HandoverRow, key: &str, value: Value, push: bool) {
    let extras = row.extras.get_or_insert_with(|| json!({}));
    if !extras.is_object() {
        *extras = json!({});
    }
    if push {
        match extras.get_mut(key).and_then(Value::as_array_mut) {
            Some(list) => list.push(value),
            None => extras[key] = json!([value]),
        }
    } else {
        extras[key] = value;
    }
}

fn agent_joined(row: &mut HandoverRow, now: i64) {
    row.status = Status::Active;
    if row.agent_joined_at_ms.is_none() {
        row.agent_joined_at_ms = Some(now);
    }
    row.no_agent_deadline_ms = None;
    row.queue_position = None;
}

/// Apply provider events in order; events after the end are ignored.
pub fn apply_provider_events(
    row: &mut HandoverRow,
    events: &[ProviderEvent],
    now: i64,
) -> Vec<NewEvent> {
    let mut out = vec![];
    for e in events {
        if !row.status.is_open() {
            tracing::debug!(handover = %row.id, "provider event after the end ignored: {e:?}");
            break;
        }
        row.updated_at_ms = now;
        match e {
            ProviderEvent::Queued {
                position,
                estimated_wait_seconds,
            } => {
                if row.status == Status::Requested {
                    row.status = Status::Queued;
                }
                row.queue_position = *position;
                row.estimated_wait_seconds = *estimated_wait_seconds;
                out.push(event(
                    "queued",
                    json!({"position": position, "estimated_wait_seconds": estimated_wait_seconds}),
                ));
            }
            ProviderEvent::AgentJoined { agent } => {
                agent_joined(row, now);
                row.agent = Some(json!(agent));
                out.push(event("agent_joined", json!({"agent": agent})));
            }
            ProviderEvent::AgentMessage {
                agent,
                text,
                attachments,
                actions,
            } => {
                if row.status != Status::Active {
                    // An agent who speaks is active, joined event or not.
                    agent_joined(row, now);
                    if let Some(a) = agent {
                        row.agent = Some(json!(a));
                    }
                }
                let mut payload = json!({"agent": agent.clone().map(|a| json!(a)).or_else(|| row.agent.clone()), "text": text, "attachments": attachments});
                if !actions.is_empty() {
                    payload["actions"] = json!(actions);
                }
                out.push(event("agent_message", payload));
            }
            ProviderEvent::AgentTyping { typing } => {
                out.push(event("agent_typing", json!({"typing": typing})))
            }
            ProviderEvent::AgentLeft { agent } => {
                row.agent = None;
                if row.status == Status::Active {
                    row.status = Status::Queued;
                }
                out.push(event("agent_left", json!({"agent": agent})));
            }
            ProviderEvent::Transferred { to_queue, to_agent } => {
                if let Some(a) = to_agent {
                    row.agent = Some(json!(a));
                }
                out.push(event(
                    "transferred",
                    json!({"to_queue": to_queue, "to_agent": to_agent}),
                ));
            }
            ProviderEvent::Ended { reason } => {
                let code = reason.code();
                let outcome = match reason {
                    EndReason::NoAgentAvailable => {
                        Outcome::error("the provider reports that no agent is available")
                    }
                    _ if row.agent_joined_at_ms.is_some() => Outcome::Completed,
                    _ => Outcome::error(format!(
                        "the provider ended the conversation before an agent joined ({code})"
                    )),
                };
                out.push(finish(row, outcome, &code, None, now));
            }
            ProviderEvent::ReturnedToBot { variables, note } => {
                // Checked by the runtime; a malformed one would be refused.
                let vars = serde_json::from_str::<Value>(variables).unwrap_or_else(|_| json!({}));
                remember(row, "variables", vars, false);
                out.push(finish(
                    row,
                    Outcome::Completed,
                    "returned_to_bot",
                    note.clone(),
                    now,
                ));
            }
            ProviderEvent::WrapUp {
                disposition,
                resolution_code,
                notes,
            } => {
                let w = json!({"disposition": disposition, "resolution_code": resolution_code, "notes": notes});
                remember(row, "wrap_up", w.clone(), false);
                out.push(event("wrap_up", w));
            }
            ProviderEvent::Survey {
                score,
                scale_max,
                comment,
            } => {
                let v = json!({"score": score, "scale_max": scale_max, "comment": comment});
                remember(row, "survey", v.clone(), false);
                out.push(event("survey", v));
            }
            ProviderEvent::Receipt {
                message_ids,
                status,
                timestamp_ms,
            } => {
                let status = match status {
                    ReceiptStatus::Delivered => "delivered",
                    ReceiptStatus::Read => "read",
                };
                out.push(event(
                    "receipt",
                    json!({"message_ids": message_ids, "status": status, "timestamp_ms": timestamp_ms}),
                ));
            }
            ProviderEvent::ProviderReference { kind, id, url } => {
                let r = json!({"kind": kind, "id": id, "url": url});
                remember(row, "references", r.clone(), true);
                // Nested: the event's own `id` is the stream's event id.
                out.push(event("provider_reference", json!({"reference": r})));
            }
        }
    }
    out
}

/// Whether user input is the cancel intent or the cancel button.
pub fn is_cancel(request: &Value, kind: crate::model::InputKind, text: &str) -> bool {
    use crate::model::InputKind;
    let t = text.trim();
    let same = |field: &str| {
        request
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty() && v.trim().eq_ignore_ascii_case(t))
    };
    match kind {
        InputKind::Intent => same("cancel_intent"),
        InputKind::QuickReply | InputKind::Text => same("cancel_button_text"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Agent;

    fn row() -> HandoverRow {
        let request = json!({"cancel_intent": "stop_handover", "cancel_button_text": "Cancel"});
        HandoverRow {
            no_agent_deadline_ms: Some(5000),
            ..HandoverRow::requested("h", "e", "t", "s", request, 1000)
        }
    }

    fn agent() -> Agent {
        Agent {
            id: "a1".into(),
            name: "Ann".into(),
        }
    }

    #[test]
    fn happy_path_ends_completed_with_exact_final_object() {
        let mut r = row();
        let ev = apply_provider_events(
            &mut r,
            &[ProviderEvent::Queued {
                position: Some(2),
                estimated_wait_seconds: Some(30),
            }],
            1100,
        );
        assert_eq!(r.status, Status::Queued);
        assert_eq!(
            ev[0].payload,
            json!({"type":"queued","position":2,"estimated_wait_seconds":30})
        );
        apply_provider_events(
            &mut r,
            &[ProviderEvent::AgentJoined { agent: agent() }],
            2000,
        );
        assert_eq!(r.status, Status::Active);
        assert_eq!(r.no_agent_deadline_ms, None);
        let ev = apply_provider_events(
            &mut r,
            &[ProviderEvent::Ended {
                reason: EndReason::AgentClosed,
            }],
            9000,
        );
        assert_eq!(r.status, Status::Completed);
        assert_eq!(
            final_object(&r).unwrap(),
            json!({"handover":{"status":"completed"}})
        );
        assert_eq!(ev[0].payload["handover"], json!({"status":"completed"}));
        assert_eq!(ev[0].payload["end_reason"], "agent_closed");
        assert_eq!(ev[0].payload["timings"]["wait_ms"], 1000);
        assert_eq!(ev[0].payload["timings"]["handle_ms"], 7000);
    }

    #[test]
    fn end_before_any_agent_is_an_error() {
        let mut r = row();
        apply_provider_events(
            &mut r,
            &[ProviderEvent::Ended {
                reason: EndReason::NoAgentAvailable,
            }],
            2000,
        );
        assert_eq!(
            final_object(&r).unwrap()["handover"]["error"]["reason"],
            "error"
        );
        assert_eq!(r.end_reason.as_deref(), Some("no_agent_available"));
    }

    #[test]
    fn events_after_the_end_are_ignored() {
        let mut r = row();
        let ev = apply_provider_events(
            &mut r,
            &[
                ProviderEvent::AgentJoined { agent: agent() },
                ProviderEvent::Ended {
                    reason: EndReason::AgentClosed,
                },
                ProviderEvent::AgentTyping { typing: true },
            ],
            2000,
        );
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn agent_message_without_join_makes_the_agent_active() {
        let mut r = row();
        apply_provider_events(
            &mut r,
            &[ProviderEvent::AgentMessage {
                agent: Some(agent()),
                text: "hi".into(),
                attachments: vec![],
                actions: vec![],
            }],
            2000,
        );
        assert_eq!(r.status, Status::Active);
        assert_eq!(r.agent_joined_at_ms, Some(2000));
    }

    #[test]
    fn hand_back_ends_completed_with_the_details_in_their_own_fields() {
        let mut r = row();
        let ev = apply_provider_events(
            &mut r,
            &[
                ProviderEvent::AgentJoined { agent: agent() },
                ProviderEvent::ProviderReference {
                    kind: "ticket".into(),
                    id: "T-7".into(),
                    url: None,
                },
                ProviderEvent::WrapUp {
                    disposition: Some("resolved".into()),
                    resolution_code: Some("R1".into()),
                    notes: None,
                },
                ProviderEvent::Survey {
                    score: Some(4),
                    scale_max: 5,
                    comment: None,
                },
                ProviderEvent::ReturnedToBot {
                    variables: r#"{"plan":"gold"}"#.into(),
                    note: Some("back to you".into()),
                },
            ],
            3000,
        );
        let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "agent_joined",
                "provider_reference",
                "wrap_up",
                "survey",
                "ended"
            ]
        );
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.end_reason.as_deref(), Some("returned_to_bot"));
        // The final object is exactly the product's.
        assert_eq!(
            final_object(&r).unwrap(),
            json!({"handover":{"status":"completed"}})
        );
        let ended = &ev[4].payload;
        assert_eq!(ended["handover"], json!({"status":"completed"}));
        assert_eq!(ended["variables"], json!({"plan":"gold"}));
        assert_eq!(ended["wrap_up"]["resolution_code"], "R1");
        assert_eq!(ended["survey"]["score"], 4);
        assert_eq!(ended["references"][0]["id"], "T-7");
        assert_eq!(ev[1].payload["reference"]["kind"], "ticket");
        assert_eq!(ended["detail"], "back to you");
        assert_eq!(r.extras.as_ref().unwrap()["variables"]["plan"], "gold");
    }

    #[test]
    fn receipts_and_rich_messages_become_events() {
        use crate::model::Action;
        let mut r = row();
        let ev = apply_provider_events(
            &mut r,
            &[
                ProviderEvent::AgentMessage {
                    agent: Some(agent()),
                    text: "pick one".into(),
                    attachments: vec![],
                    actions: vec![Action::QuickReply {
                        title: "Yes".into(),
                        payload: "yes".into(),
                    }],
                },
                ProviderEvent::Receipt {
                    message_ids: vec!["m1".into()],
                    status: ReceiptStatus::Read,
                    timestamp_ms: Some(5),
                },
            ],
            2000,
        );
        assert_eq!(
            ev[0].payload["actions"],
            json!([{"type":"quick_reply","title":"Yes","payload":"yes"}])
        );
        assert_eq!(
            ev[1].payload,
            json!({"type":"receipt","message_ids":["m1"],"status":"read","timestamp_ms":5})
        );
        assert!(r.extras.is_none(), "receipts are not kept on the row");
    }

    #[test]
    fn cancel_matching() {
        use crate::model::InputKind;
        let r = row();
        assert!(is_cancel(&r.request, InputKind::Intent, "stop_handover"));
        assert!(is_cancel(&r.request, InputKind::QuickReply, "Cancel"));
        assert!(is_cancel(&r.request, InputKind::Text, " cancel "));
        assert!(!is_cancel(&r.request, InputKind::Text, "stop_handover"));
        assert!(!is_cancel(&r.request, InputKind::Intent, "Cancel"));
    }

    #[test]
    fn unsupported_error_object() {
        let mut r = row();
        finish(
            &mut r,
            Outcome::Error {
                reason: "unsupported",
                message: "channel whatsapp".into(),
            },
            "unsupported",
            None,
            1,
        );
        assert_eq!(
            final_object(&r).unwrap(),
            json!({"handover":{"status":"error","error":{"reason":"unsupported","message":"channel whatsapp"}}})
        );
    }
}
