//! Replay: a candidate version against an endpoint's recorded handovers.
//!
//! Each recorded handover is replayed in order through the candidate: the
//! same inputs (conversation, user input, webhook requests, polls), the
//! candidate's own state carried from call to call, and every outgoing
//! request answered from the recording (the tape; nothing reaches the
//! network). What the candidate returns (events, correlation keys, failure
//! reason) is compared with what the serving version returned when it was
//! recorded. Must never: send a request during a replay, or call a
//! handover the same when any compared value differs (an operator may
//! allow differences in named event types, reported as allowed).

use crate::recording::{call_of, committed, outcome_json};
use crate::registry::Endpoint;
use handover_core::model::CallContext;
use handover_runtime::egress::Tape;
use handover_runtime::{CallOutput, LoadedAdapter, Runtime};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// One handover's replay.
#[derive(Debug, Clone, Serialize)]
pub struct HandoverReplay {
    pub handover_id: String,
    /// `same` | `allowed` (differences only in allowed event types) |
    /// `different` | `failed` (the candidate was stopped: trap or limit).
    pub result: &'static str,
    pub calls: usize,
    /// Outgoing requests answered from the recording.
    pub requests: usize,
    /// What differs, each naming the call and the event.
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub handovers: usize,
    pub same: usize,
    pub allowed: usize,
    pub different: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub summary: Summary,
    pub handovers: Vec<HandoverReplay>,
}

impl ReplayReport {
    /// Whether anything differs beyond what was allowed.
    pub fn passed(&self) -> bool {
        self.summary.different == 0 && self.summary.failed == 0
    }
}

/// Replay `recordings` (from `Store::recordings`) through `candidate`
/// under `ep`'s limits and settings.
pub async fn replay(
    runtime: &Runtime,
    ep: &Endpoint,
    candidate: &Arc<LoadedAdapter>,
    recordings: Vec<(String, Vec<Value>)>,
    allow: &[String],
) -> ReplayReport {
    let mut report = ReplayReport {
        summary: Summary::default(),
        handovers: vec![],
    };
    for (handover_id, entries) in recordings {
        let h = one(runtime, ep, candidate, &handover_id, &entries, allow).await;
        let s = &mut report.summary;
        s.handovers += 1;
        match h.result {
            "same" => s.same += 1,
            "allowed" => s.allowed += 1,
            "failed" => s.failed += 1,
            _ => s.different += 1,
        }
        report.handovers.push(h);
    }
    report
}

async fn one(
    runtime: &Runtime,
    ep: &Endpoint,
    candidate: &Arc<LoadedAdapter>,
    handover_id: &str,
    entries: &[Value],
    allow: &[String],
) -> HandoverReplay {
    let mut state = vec![];
    let (mut differences, mut allowed, mut stopped) = (vec![], 0, false);
    let mut requests = 0;
    let steps = committed(entries);
    for (i, entry) in steps.iter().enumerate() {
        let name = entry["call"].as_str().unwrap_or("?");
        let ctx = CallContext {
            handover_id: handover_id.to_string(),
            settings: ep.settings_json.clone(),
        };
        let call = match call_of(entry, ctx, state.clone()) {
            Ok(c) => c,
            Err(e) => {
                differences.push(format!("call {i} ({name}): unreadable recording: {e}"));
                break;
            }
        };
        // An entry without exchanges made no request; one whose exchanges
        // cannot be read is reported, not replayed as if it made none.
        let exchanges: Vec<handover_runtime::egress::Exchange> = match &entry["exchanges"] {
            Value::Null => vec![],
            recorded => match serde_json::from_value(recorded.clone()) {
                Ok(x) => x,
                Err(e) => {
                    differences.push(format!(
                        "call {i} ({name}): unreadable recording of its requests: {e}"
                    ));
                    break;
                }
            },
        };
        requests += exchanges.len();
        let tape = Tape::replaying(exchanges);
        let mut env = ep.env(candidate);
        env.tap = None;
        env.tape = Some(tape.clone());
        let out = runtime.invoke(candidate, &env, call).await;
        if let Err(f) = &out
            && f.stopped_by.is_some()
        {
            stopped = true;
        }
        for m in tape.mismatches() {
            differences.push(format!("call {i} ({name}): egress: {m}"));
        }
        let got = outcome_json(&out);
        for d in compare(&entry["outcome"], &got) {
            if d.allowed_by(allow) {
                allowed += 1;
            } else {
                differences.push(format!("call {i} ({name}): {}", d.text));
            }
        }
        if let Ok(CallOutput::Step(s)) = out {
            state = s.state;
        }
    }
    let result = match (stopped, differences.is_empty(), allowed) {
        (true, _, _) => "failed",
        (false, false, _) => "different",
        (false, true, 0) => "same",
        (false, true, _) => "allowed",
    };
    HandoverReplay {
        handover_id: handover_id.to_string(),
        result,
        calls: steps.len(),
        requests,
        differences,
    }
}

struct Difference {
    text: String,
    /// The event types involved (both sides), if it is about events.
    types: Vec<String>,
}

impl Difference {
    fn allowed_by(&self, allow: &[String]) -> bool {
        !self.types.is_empty() && self.types.iter().all(|t| allow.contains(t))
    }
}

/// What differs between a recorded and a replayed outcome.
fn compare(recorded: &Value, got: &Value) -> Vec<Difference> {
    let plain = |text: String| Difference {
        text,
        types: vec![],
    };
    if recorded.get("events").is_none() || got.get("events").is_none() {
        return if recorded == got {
            vec![]
        } else {
            vec![plain(format!("recorded {recorded}, candidate {got}"))]
        };
    }
    let mut out = vec![];
    let empty = vec![];
    let (a, b) = (
        recorded["events"].as_array().unwrap_or(&empty),
        got["events"].as_array().unwrap_or(&empty),
    );
    for j in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(j), b.get(j));
        if x == y {
            continue;
        }
        let kind = |e: Option<&Value>| e.and_then(|e| e["type"].as_str()).map(str::to_string);
        let show = |e: Option<&Value>| e.map_or("nothing".to_string(), Value::to_string);
        out.push(Difference {
            text: format!("event {j}: recorded {}, candidate {}", show(x), show(y)),
            types: [kind(x), kind(y)].into_iter().flatten().collect(),
        });
    }
    if recorded["correlation_keys"] != got["correlation_keys"] {
        out.push(plain(format!(
            "correlation keys: recorded {}, candidate {}",
            recorded["correlation_keys"], got["correlation_keys"]
        )));
    }
    out
}
