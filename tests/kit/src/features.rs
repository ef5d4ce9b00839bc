//! The conformance scenarios of contract 0.2.0's features, run only for
//! 0.2.0 components (see `conformance::FIRST_V0_2`).
//!
//! Each checks one feature end to end: the simulator's agent acts through
//! the provider's own protocol, and the bot must see the contract's event.
//! A scenario is skipped, never passed, when the adapter does not declare
//! the capability or the provider has no such feature (the driver says so);
//! a declared capability that does not work fails.

use crate::conformance::{Rig, expect, id_of};
use handover_host::engine::{InputRequest, TypingRequest};
use handover_host::model::{Capabilities, InputKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Runs 0.2.0 scenario `i`: `Ok(None)` passed, `Ok(Some(why))` skipped.
pub(crate) async fn run(
    i: usize,
    rig: &Rig,
    caps: &Capabilities,
) -> Result<Option<String>, String> {
    let (declared, name) = match i {
        10 => (caps.hand_back, "hand-back"),
        11 => (caps.rich_messages, "rich-messages"),
        12 => (caps.receipts, "receipts"),
        13 => (caps.user_typing, "user-typing"),
        14 => (caps.wrap_up, "wrap-up"),
        _ => return Err(format!("no 0.2.0 scenario {i}")),
    };
    if !declared {
        return Ok(Some(format!("the adapter does not declare `{name}`")));
    }
    let no_feature = || {
        Ok(Some(format!(
            "the provider has no {name} (its simulator says so)"
        )))
    };
    let id = id_of(&rig.create("webchat").await?)?;
    let conv = rig.joined(&id).await?;
    match i {
        10 => {
            let vars = json!({"plan": "gold", "case": 42});
            if !rig.driver.hand_back(&conv, &vars).await {
                return no_feature();
            }
            let v = rig.wait_status(&id, "completed", rig.timeout).await?;
            expect(
                v.end_reason.as_deref() == Some("returned_to_bot"),
                format!("end_reason {:?} != returned_to_bot", v.end_reason),
            )?;
            let got = v.extras.as_ref().map(|e| e["variables"].clone());
            expect(
                got.as_ref() == Some(&vars),
                format!("the bot got variables {got:?}, the agent set {vars}"),
            )?;
        }
        11 => {
            if !rig
                .driver
                .rich_message(&conv, "Pick one", "Yes please", "yes")
                .await
            {
                return no_feature();
            }
            let want = json!({"type": "quick_reply", "title": "Yes please", "payload": "yes"});
            wait_event(rig, &id, "an agent message with the quick reply", |e| {
                e["type"] == "agent_message"
                    && e["actions"].as_array().is_some_and(|a| a.contains(&want))
            })
            .await?;
        }
        12 => {
            let req = InputRequest {
                message_id: Some("kit-m-1".into()),
                kind: InputKind::Text,
                text: "is anyone there?".into(),
                attachments: vec![],
            };
            rig.engine()
                .input(&id, req)
                .await
                .map_err(|e| format!("input failed: {e}"))?;
            rig.wait_user_message(
                &conv,
                "is anyone there?",
                "the provider never received the message",
            )
            .await?;
            if !rig.driver.read_messages(&conv).await {
                return no_feature();
            }
            wait_event(rig, &id, "a read receipt naming `kit-m-1`", |e| {
                e["type"] == "receipt"
                    && e["status"] == "read"
                    && e["message_ids"]
                        .as_array()
                        .is_some_and(|m| m.contains(&json!("kit-m-1")))
            })
            .await?;
        }
        13 => {
            if rig.driver.user_typing(&conv).await.is_none() {
                return no_feature();
            }
            let r = rig
                .engine()
                .typing(&id, TypingRequest { typing: true })
                .await
                .map_err(|e| format!("typing failed: {e}"))?;
            expect(r.forwarded, format!("typing not forwarded: {:?}", r.detail))?;
            let deadline = Instant::now() + rig.timeout;
            loop {
                let seen = rig.driver.user_typing(&conv).await.unwrap_or_default();
                if seen.contains(&true) {
                    break;
                }
                expect(
                    Instant::now() < deadline,
                    "the provider never saw the user typing",
                )?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        _ => {
            if !rig.driver.wrap_up(&conv, "resolved").await {
                return no_feature();
            }
            wait_event(rig, &id, "a wrap-up with disposition `resolved`", |e| {
                e["type"] == "wrap_up" && e["disposition"] == "resolved"
            })
            .await?;
        }
    }
    Ok(None)
}

/// Waits up to the rig's timeout for an event of the handover matching
/// `want`; fails naming `what` and the events seen.
async fn wait_event(
    rig: &Rig,
    id: &str,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + rig.timeout;
    loop {
        let events = rig.events(id).await;
        if events.iter().any(&want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
            return Err(format!("the bot never got {what}; its events: {types:?}"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
