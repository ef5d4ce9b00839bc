//! The host side of adapter results: any sequence of provider events the
//! host decodes is applied without panicking, and the state machine keeps
//! its invariants — the final object has exactly the product's shape (the
//! 0.2.0 details never enter it), an ended handover stays ended, nothing is
//! emitted after `ended`, and a hand-back always completes.
#![no_main]

use arbitrary::Unstructured;
use handover_core::model::{Action, Agent, EndReason, ProviderEvent, ReceiptStatus};
use handover_core::rules::{apply_provider_events, final_object};
use handover_core::store::{HandoverRow, Status};
use libfuzzer_sys::fuzz_target;

fn event(u: &mut Unstructured) -> arbitrary::Result<ProviderEvent> {
    let agent = |u: &mut Unstructured| -> arbitrary::Result<Agent> {
        Ok(Agent {
            id: u.arbitrary()?,
            name: u.arbitrary()?,
        })
    };
    Ok(match u.int_in_range(0..=11)? {
        0 => ProviderEvent::Queued {
            position: u.arbitrary()?,
            estimated_wait_seconds: u.arbitrary()?,
        },
        1 => ProviderEvent::AgentJoined { agent: agent(u)? },
        2 => ProviderEvent::AgentMessage {
            agent: if u.arbitrary()? {
                Some(agent(u)?)
            } else {
                None
            },
            text: u.arbitrary()?,
            attachments: vec![],
            actions: if u.arbitrary()? {
                vec![Action::QuickReply {
                    title: u.arbitrary()?,
                    payload: u.arbitrary()?,
                }]
            } else {
                vec![]
            },
        },
        // Contract 0.2.0's events (the variables may be any text: the
        // runtime refuses a non-object, and the rules must not panic on one).
        7 => ProviderEvent::ReturnedToBot {
            variables: if u.arbitrary()? {
                "{}".into()
            } else {
                u.arbitrary()?
            },
            note: u.arbitrary()?,
        },
        8 => ProviderEvent::WrapUp {
            disposition: u.arbitrary()?,
            resolution_code: u.arbitrary()?,
            notes: u.arbitrary()?,
        },
        9 => ProviderEvent::Survey {
            score: u.arbitrary()?,
            scale_max: u.arbitrary()?,
            comment: u.arbitrary()?,
        },
        10 => ProviderEvent::Receipt {
            message_ids: u.arbitrary()?,
            status: if u.arbitrary()? {
                ReceiptStatus::Read
            } else {
                ReceiptStatus::Delivered
            },
            timestamp_ms: u.arbitrary()?,
        },
        11 => ProviderEvent::ProviderReference {
            kind: u.arbitrary()?,
            id: u.arbitrary()?,
            url: u.arbitrary()?,
        },
        3 => ProviderEvent::AgentTyping {
            typing: u.arbitrary()?,
        },
        4 => ProviderEvent::AgentLeft { agent: agent(u)? },
        5 => ProviderEvent::Transferred {
            to_queue: u.arbitrary()?,
            to_agent: None,
        },
        6 => ProviderEvent::Ended {
            reason: match u.int_in_range(0..=4)? {
                0 => EndReason::AgentClosed,
                1 => EndReason::AgentLeft,
                2 => EndReason::ProviderClosed,
                3 => EndReason::NoAgentAvailable,
                _ => EndReason::Other {
                    detail: u.arbitrary()?,
                },
            },
        },
        _ => unreachable!("int_in_range(0..=11)"),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut row = HandoverRow {
        no_agent_deadline_ms: Some(1),
        ..HandoverRow::requested("h", "e", "t", "s", serde_json::json!({}), 0)
    };
    let mut now = 1;
    while let Ok(n) = u.int_in_range(0..=5u8) {
        let mut batch = vec![];
        for _ in 0..n {
            match event(&mut u) {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let was_open = row.status.is_open();
        now += 1;
        let out = apply_provider_events(&mut row, &batch, now);
        if !was_open {
            assert!(out.is_empty(), "events emitted after the end");
        }
        if let Some(i) = out.iter().position(|e| e.kind == "ended") {
            assert_eq!(i, out.len() - 1, "events after `ended` in one batch");
            assert!(!row.status.is_open());
        }
        // A hand-back always completes (0.2.0), whatever came before it.
        if row.end_reason.as_deref() == Some("returned_to_bot") {
            assert_eq!(row.status, Status::Completed);
        }
        if let Some(f) = final_object(&row) {
            let h = f["handover"].as_object().unwrap();
            let status = h["status"].as_str().unwrap();
            assert!(["completed", "cancelled", "error"].contains(&status));
            if status == "error" {
                assert_eq!(h.len(), 2);
                let reason = h["error"]["reason"].as_str().unwrap();
                assert!(reason == "error" || reason == "unsupported");
            } else {
                assert_eq!(h.len(), 1, "extra fields in the final object: {f}");
            }
        }
        if batch.is_empty() && u.is_empty() {
            break;
        }
    }
});
