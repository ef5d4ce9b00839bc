//! The OpenAPI document served at `/openapi.json` (host/src/api/openapi.json)
//! against the code: every route is documented with its methods, every
//! `$ref` resolves, and real bodies — literal ones shaped like the handlers'
//! answers and ones produced by the engine's own code (`rules`, `event_json`,
//! `CreateRequest`) — satisfy the schemas. The schema check is a small
//! hand-written subset of OpenAPI 3.0 (type, nullable, required, properties,
//! additionalProperties, enum, items, allOf, oneOf, $ref); serde_json only.

use crate::harness::strings_of;
use handover_host::api::{OPENAPI, event_json};
use handover_host::engine::{CreateRequest, InputRequest, rules};
use handover_host::model::{Action, Agent, Attachment, EndReason, ProviderEvent, ReceiptStatus};
use handover_host::registry::Source;
use handover_host::store::{HandoverRow, StoredEvent};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ANY: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every route registered in crates/api/src/{lib,bot,sse,webhook,admin,canary,console/mod}.rs,
/// written as in the code (axum syntax), with its methods.
///
/// UPDATE BOTH: when a route or a method is added, changed or removed there,
/// change this list AND crates/api/src/openapi.json.
const ROUTES: &[(&str, &[&str])] = &[
    // bot.rs
    ("/v1/endpoints/{endpoint}/handovers", &["post", "get"]),
    ("/v1/endpoints/{endpoint}/availability", &["get"]),
    ("/v1/handovers/{id}", &["get"]),
    ("/v1/handovers/{id}/input", &["post"]),
    ("/v1/handovers/{id}/typing", &["post"]),
    ("/v1/handovers/{id}/close", &["post"]),
    // sse.rs
    ("/v1/handovers/{id}/events", &["get"]),
    ("/v1/endpoints/{endpoint}/events", &["get"]),
    // webhook.rs (`any`)
    ("/v1/webhooks/{endpoint}", ANY),
    ("/v1/webhooks/{endpoint}/{*rest}", ANY),
    // admin.rs
    ("/admin/endpoints", &["get"]),
    ("/admin/endpoints/{id}", &["get"]),
    ("/admin/endpoints/{id}/adapter", &["put"]),
    ("/admin/endpoints/{id}/rollback", &["post"]),
    // canary.rs
    ("/admin/endpoints/{id}/canary", &["get", "post"]),
    ("/admin/endpoints/{id}/canary/promote", &["post"]),
    ("/admin/endpoints/{id}/canary/abort", &["post"]),
    ("/admin/endpoints/{id}/replay", &["post"]),
    ("/admin/handovers", &["get"]),
    // console/mod.rs
    ("/console", &["get"]),
    ("/console/{asset}", &["get"]),
    ("/admin/metrics/history", &["get"]),
    // mod.rs
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
];

const OPERATION_KEYS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
}

/// axum `{*rest}` → OpenAPI `{rest}`.
fn openapi_path(axum: &str) -> String {
    axum.replace("{*", "{")
}

// ------------------------------------------------------------ the document

#[test]
fn document_is_openapi_3_0_3_with_server_and_admin_security() {
    let d = doc();
    assert_eq!(d["openapi"], "3.0.3");
    assert_eq!(d["servers"][0]["url"], "http://127.0.0.1:8080");
    let scheme = &d["components"]["securitySchemes"]["adminKey"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert!(d["info"]["title"].is_string() && d["info"]["version"].is_string());
}

#[test]
fn every_route_is_documented_with_its_methods_and_nothing_else() {
    let d = doc();
    let paths = d["paths"].as_object().expect("paths");
    let mut expected = BTreeSet::new();
    for (route, methods) in ROUTES {
        let p = openapi_path(route);
        expected.insert(p.clone());
        let item = paths
            .get(&p)
            .unwrap_or_else(|| panic!("route `{route}` is not documented as `{p}`"));
        let documented: BTreeSet<&str> = OPERATION_KEYS
            .iter()
            .copied()
            .filter(|m| item.get(*m).is_some())
            .collect();
        let want: BTreeSet<&str> = methods.iter().copied().collect();
        assert_eq!(documented, want, "methods of `{p}`");
    }
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(
        documented, expected,
        "documented paths differ from the routes in ROUTES"
    );
}

#[test]
fn path_parameters_are_declared_and_operation_ids_unique() {
    let d = doc();
    let mut ids = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        let wanted: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        for m in OPERATION_KEYS {
            let Some(op) = item.get(*m) else { continue };
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["responses"].is_object(), "{m} {path}: responses");
            let mut declared = BTreeSet::new();
            for list in [&item["parameters"], &op["parameters"]] {
                for p in list.as_array().into_iter().flatten() {
                    let p = resolve(&d, p);
                    if p["in"] == "path" {
                        assert_eq!(p["required"], true, "{path}: path parameters are required");
                        declared.insert(p["name"].as_str().unwrap().to_string());
                    }
                }
            }
            assert_eq!(declared, wanted, "{m} {path}: path parameters");
        }
    }
}

#[test]
fn admin_routes_and_only_they_need_the_admin_key() {
    let d = doc();
    for (path, item) in d["paths"].as_object().unwrap() {
        for m in OPERATION_KEYS {
            let Some(op) = item.get(*m) else { continue };
            let secured = op["security"] == json!([{"adminKey": []}]);
            assert_eq!(secured, path.starts_with("/admin/"), "{m} {path}: security");
            if secured {
                assert!(op["responses"]["401"].is_object(), "{m} {path}: 401");
            }
        }
    }
    assert!(
        d.get("security").is_none(),
        "no global security: the bot API is open"
    );
}

#[test]
fn every_ref_resolves() {
    fn walk(d: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    assert!(!pointer(d, r).is_null(), "dangling $ref {r}");
                }
                m.values().for_each(|x| walk(d, x));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(d, x)),
            _ => {}
        }
    }
    let d = doc();
    walk(&d, &d);
}

#[test]
fn status_codes_match_the_handlers() {
    let d = doc();
    let codes = |path: &str, m: &str| -> BTreeSet<String> {
        d["paths"][path][m]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{m} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let create = codes("/v1/endpoints/{endpoint}/handovers", "post");
    assert_eq!(create, set(&["200", "201", "400", "404", "413", "503"]));
    assert!(codes("/v1/handovers/{id}/input", "post").contains("409"));
    assert_eq!(
        codes("/admin/endpoints/{id}/adapter", "put"),
        set(&["200", "401", "404", "413", "422", "429"])
    );
    assert_eq!(
        codes("/admin/endpoints/{id}/rollback", "post"),
        set(&["200", "401", "403", "404", "409"])
    );
    for p in ["/v1/webhooks/{endpoint}", "/v1/webhooks/{endpoint}/{rest}"] {
        for m in ANY {
            let c = codes(p, m);
            for code in ["default", "400", "401", "404", "413"] {
                assert!(c.contains(code), "{m} {p}: {code}");
            }
        }
    }
    let put = &d["paths"]["/admin/endpoints/{id}/adapter"]["put"];
    assert!(put["requestBody"]["content"]["application/wasm"].is_object());
    for p in [
        "/v1/handovers/{id}/events",
        "/v1/endpoints/{endpoint}/events",
    ] {
        let ok = resolve(&d, &d["paths"][p]["get"]["responses"]["200"]);
        assert!(ok["content"]["text/event-stream"].is_object(), "{p}");
    }
    assert!(d["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"].is_object());
    let cb = &d["paths"]["/v1/endpoints/{endpoint}/handovers"]["post"]["callbacks"]["events"]["{$request.body#/callback_url}"]
        ["post"];
    let headers: BTreeSet<&str> = strings_of(&cb["parameters"], "name").into_iter().collect();
    assert_eq!(
        headers,
        BTreeSet::from(["X-Handover-Event-Id", "X-Handover-Id"])
    );
}

// ------------------------------------------------------------ mini validator

fn pointer<'a>(d: &'a Value, r: &str) -> &'a Value {
    let p = r.strip_prefix('#').expect("local $ref");
    d.pointer(p).unwrap_or(&Value::Null)
}

fn resolve<'a>(d: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(d, pointer(d, r)),
        None => v,
    }
}

/// Problems of `v` against `schema` (empty = valid).
fn check(d: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
    let s = resolve(d, schema);
    let mut out = vec![];
    if v.is_null() {
        if s["nullable"] == true
            || s.get("type").is_none()
                && s.get("allOf").is_none()
                && s.get("oneOf").is_none()
                && s.get("properties").is_none()
        {
            return out;
        }
        out.push(format!("{at}: null where not nullable"));
        return out;
    }
    if let Some(all) = s["allOf"].as_array() {
        for sub in all {
            out.extend(check(d, sub, v, at));
        }
    }
    if let Some(one) = s["oneOf"].as_array() {
        let fits = one
            .iter()
            .filter(|sub| check(d, sub, v, at).is_empty())
            .count();
        if fits != 1 {
            out.push(format!(
                "{at}: matches {fits} of the oneOf alternatives, not exactly 1"
            ));
        }
    }
    if let Some(t) = s["type"].as_str() {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            _ => false,
        };
        if !ok {
            out.push(format!("{at}: {v} is not of type {t}"));
            return out;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        out.push(format!("{at}: {v} not in {e:?}"));
    }
    if let Some(obj) = v.as_object() {
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                out.push(format!("{at}: missing required `{r}`"));
            }
        }
        let props = s["properties"].as_object();
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => out.extend(check(d, ps, x, &format!("{at}.{k}"))),
                None => match &s["additionalProperties"] {
                    Value::Bool(false) => out.push(format!("{at}: unknown field `{k}`")),
                    extra @ Value::Object(_) => {
                        out.extend(check(d, extra, x, &format!("{at}.{k}")))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), s.get("items")) {
        for (i, x) in a.iter().enumerate() {
            out.extend(check(d, items, x, &format!("{at}[{i}]")));
        }
    }
    out
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

#[track_caller]
pub(crate) fn valid(d: &Value, name: &str, v: &Value) {
    let p = check(d, &schema(name), v, name);
    assert!(p.is_empty(), "{v}\ndoes not fit {name}:\n{}", p.join("\n"));
}

#[track_caller]
fn invalid(d: &Value, name: &str, v: &Value) {
    assert!(
        !check(d, &schema(name), v, name).is_empty(),
        "{v}\nshould not fit {name}"
    );
}

#[test]
fn the_validator_itself_catches_missing_fields_and_wrong_shapes() {
    let d = doc();
    invalid(&d, "Agent", &json!({"id": "a"}));
    invalid(&d, "Agent", &json!(null));
    invalid(
        &d,
        "FinalHandover",
        &json!({"status": "completed", "error": {"reason": "error", "message": "x"}}),
    );
    invalid(&d, "FinalHandover", &json!({"status": "error"}));
    invalid(
        &d,
        "Event",
        &json!({"id": 1, "type": "agent_typing", "handover_id": "h", "endpoint_id": "e", "seq": 1, "created_at_ms": 1}),
    );
    invalid(
        &d,
        "Event",
        &json!({"id": 1, "type": "nope", "handover_id": "h", "endpoint_id": "e", "seq": 1, "created_at_ms": 1}),
    );
}

// ------------------------------------------------------------ request bodies

/// The create body the e2e harness sends, plus every optional field.
fn create_body() -> Value {
    json!({
        "session_id": "s-1", "user_id": "u-1", "channel": "webchat", "locale": "en-US",
        "user_profile": {"tier": "gold"},
        "transcript": [{"author": "user", "text": "help", "timestamp_ms": 1}, {"text": "hi"}],
        "context": {"order": 42},
        "routing": {"skills": ["billing"], "language": "en", "priority": 2, "queue": "q", "custom": {"k": "v"}},
        "accepted_message": "An agent will be with you shortly.",
        "cancel_intent": "cancel_handover", "cancel_button_text": "Cancel",
        "callback_url": "http://127.0.0.1:9000/cb", "idempotency_key": "k-1",
        "required_capabilities": ["typing", "bot_side_close"],
    })
}

/// The schema and serde agree on which bodies are well-formed.
#[test]
fn request_schemas_agree_with_serde() {
    let d = doc();
    let minimal = json!({"session_id": "s", "user_id": "u", "accepted_message": "ok"});
    let mut unknown = minimal.clone();
    unknown["colour"] = json!("red");
    let mut unknown_routing = minimal.clone();
    unknown_routing["routing"] = json!({"skill": "typo"});
    let mut bad_author = minimal.clone();
    bad_author["transcript"] = json!([{"author": "robot", "text": "x"}]);
    let mut bad_profile = minimal.clone();
    bad_profile["user_profile"] = json!({"age": 3});
    let cases = [
        (create_body(), true),
        (minimal.clone(), true),
        (json!({"session_id": "s", "user_id": "u"}), false),
        (unknown, false),
        (unknown_routing, false),
        (bad_author, false),
        (bad_profile, false),
    ];
    for (body, ok) in cases {
        let serde_ok = serde_json::from_value::<CreateRequest>(body.clone()).is_ok();
        assert_eq!(serde_ok, ok, "serde on {body}");
        let schema_ok = check(&d, &schema("CreateRequest"), &body, "CreateRequest").is_empty();
        assert_eq!(schema_ok, ok, "schema on {body}");
    }
    // What the server stores (every default filled in, Options as null) fits too.
    let parsed: CreateRequest = serde_json::from_value(minimal).unwrap();
    valid(&d, "CreateRequest", &serde_json::to_value(&parsed).unwrap());

    let inputs = [
        (json!({"text": "hello"}), true),
        (json!({"kind": "intent", "text": "cancel_handover"}), true),
        (json!({"kind": "quick_reply", "text": "Cancel"}), true),
        (
            json!({"kind": "text", "text": "see", "attachments": [{"url": "https://x/y.png", "content_type": "image/png", "name": null}]}),
            true,
        ),
        (json!({"kind": "text"}), false),
        (json!({"kind": "button", "text": "x"}), false),
        (json!({"text": "x", "extra": 1}), false),
        (json!({"text": "x", "attachments": [{"url": "u"}]}), false),
    ];
    for (body, ok) in inputs {
        let serde_ok = serde_json::from_value::<InputRequest>(body.clone()).is_ok();
        assert_eq!(serde_ok, ok, "serde on {body}");
        let schema_ok = check(&d, &schema("InputRequest"), &body, "InputRequest").is_empty();
        assert_eq!(schema_ok, ok, "schema on {body}");
    }
}

// ------------------------------------------------------------ response bodies

const HID: &str = "0190f5c2-7d1e-7a3b-9c4d-2e8f6a1b3c5d";

fn links() -> Value {
    json!({"status": format!("/v1/handovers/{HID}"), "input": format!("/v1/handovers/{HID}/input"),
           "events": format!("/v1/handovers/{HID}/events")})
}

/// Shaped like `engine::handover::view`.
fn view(status: &str, result: Value, end_reason: Value) -> Value {
    json!({
        "handover_id": HID, "endpoint_id": "support", "session_id": "s-1", "status": status,
        "queue": {"position": null, "estimated_wait_seconds": null},
        "agent": {"id": "a-1", "name": "Ann"},
        "created_at_ms": 1000, "updated_at_ms": 2000, "agent_joined_at_ms": 1500,
        "ended_at_ms": if result.is_null() { Value::Null } else { json!(2000) },
        "end_reason": end_reason, "result": result,
    })
}

#[test]
fn handler_bodies_fit_their_schemas() {
    let d = doc();
    valid(
        &d,
        "CreateResponse",
        &json!({
            "handover_id": HID, "status": "queued", "already_in_progress": false,
            "messages": [{"type": "text", "text": "An agent will be with you shortly."},
                         {"type": "quick_reply", "text": "Cancel", "payload": "Cancel"}],
            "links": links(),
        }),
    );
    valid(
        &d,
        "CreateResponse",
        &json!({
            "handover_id": HID, "status": "error", "already_in_progress": false, "messages": [], "links": links(),
            "handover": {"status": "error", "error": {"reason": "unsupported", "message": "channel `sms`"}},
            "end_reason": "unsupported",
        }),
    );
    invalid(
        &d,
        "CreateResponse",
        &json!({"handover_id": HID, "status": "queued", "messages": [], "links": links()}),
    );

    let open = view("active", Value::Null, Value::Null);
    let ended = view(
        "completed",
        json!({"handover": {"status": "completed"}}),
        json!("bot_closed"),
    );
    valid(&d, "HandoverView", &open);
    valid(&d, "HandoverView", &ended);
    let mut queued = view("queued", Value::Null, Value::Null);
    queued["agent"] = Value::Null;
    queued["queue"] = json!({"position": 3, "estimated_wait_seconds": 60});
    valid(&d, "HandoverView", &queued);
    valid(
        &d,
        "HandoverList",
        &json!({"handovers": [open.clone(), ended.clone()]}),
    );
    let mut no_result = open.clone();
    no_result.as_object_mut().unwrap().remove("result");
    invalid(&d, "HandoverView", &no_result);

    valid(
        &d,
        "InputResult",
        &json!({"result": "forwarded", "handover": open}),
    );
    valid(
        &d,
        "InputResult",
        &json!({"result": "cancelled", "handover": view("cancelled", json!({"handover": {"status": "cancelled"}}), json!("user_cancelled"))}),
    );
    valid(
        &d,
        "CloseResult",
        &json!({"result": "closed", "provider_closed": false,
        "detail": "adapter `sim` cannot close from the bot side; the handover ended on the host only", "handover": ended}),
    );
    valid(
        &d,
        "CloseResult",
        &json!({"result": "already_ended", "handover": ended}),
    );

    valid(
        &d,
        "Availability",
        &json!({"supported": false, "message": "adapter `sim` cannot check availability"}),
    );
    valid(
        &d,
        "Availability",
        &json!({"supported": true, "agents_available": true, "open": false,
        "estimated_wait_seconds": null, "message": null}),
    );

    valid(
        &d,
        "Error",
        &json!({"error": {"code": "not_found", "message": "no endpoint `x`"}}),
    );
    valid(
        &d,
        "EndedError",
        &json!({"error": {"code": "ended", "message": "the handover has already ended"},
        "handover": {"status": "error", "error": {"reason": "error", "message": "no agent joined within 30 s"}}}),
    );
    invalid(
        &d,
        "EndedError",
        &json!({"error": {"code": "ended", "message": "m"}}),
    );

    let version = json!({"name": "sim", "version": "0.1.0", "sha256": "ab", "world": "w", "loaded_at_ms": 1, "source": "config"});
    let endpoint = json!({"id": "support", "tenant": "default", "adapter_path": "/a/sim.wasm", "current": version,
        "previous": null, "capabilities": {"attachments": true, "typing": true, "queue_position": true,
        "availability_check": false, "bot_side_close": true, "transcript": true}, "channels": ["webchat"]});
    valid(&d, "EndpointList", &json!({"endpoints": [endpoint]}));
    let mut detail = endpoint.clone();
    detail["previous"] = version.clone();
    detail["history"] = json!([{"at_ms": 1, "source": "admin", "sha256": "cd", "accepted": false, "message": "refused: …"}]);
    valid(&d, "EndpointDetail", &detail);
    valid(
        &d,
        "SwapResult",
        &json!({"swapped": true, "current": version}),
    );
    valid(
        &d,
        "RollbackResult",
        &json!({"rolled_back": true, "current": version}),
    );
    // Every version source the registry serializes is documented.
    for source in [
        Source::Config,
        Source::File,
        Source::Admin,
        Source::Rollback,
        Source::Replica,
        Source::Canary,
    ] {
        valid(&d, "VersionSource", &serde_json::to_value(source).unwrap());
    }
}

// ------------------------------------------------------------ events, from the engine's code

fn row() -> HandoverRow {
    let request =
        json!({"accepted_message": "ok", "cancel_intent": "stop", "cancel_button_text": "Cancel"});
    HandoverRow::requested(HID, "support", "default", "s-1", request, 1000)
}

/// As the bot receives it: `api::event_json` of a stored event.
fn delivered(n: usize, kind: &str, payload: Value) -> Value {
    event_json(&StoredEvent {
        id: 100 + n as i64,
        handover_id: HID.into(),
        endpoint_id: "support".into(),
        seq: 1 + n as i64,
        kind: kind.into(),
        payload,
        created_at_ms: 5000,
    })
}

#[track_caller]
fn valid_event(d: &Value, e: &Value) {
    valid(d, "Event", e);
    // The discriminator names the specific schema.
    let t = e["type"].as_str().unwrap();
    let target = d["components"]["schemas"]["Event"]["discriminator"]["mapping"][t]
        .as_str()
        .unwrap_or_else(|| panic!("no discriminator mapping for `{t}`"));
    let p = check(d, &json!({"$ref": target}), e, t);
    assert!(p.is_empty(), "{e}\n{}", p.join("\n"));
}

#[test]
fn events_produced_by_the_engine_fit_the_event_schema() {
    let d = doc();
    let ann = Agent {
        id: "a-1".into(),
        name: "Ann".into(),
    };
    let bob = Agent {
        id: "a-2".into(),
        name: "Bob".into(),
    };
    let mut r = row();
    let events = rules::apply_provider_events(
        &mut r,
        &[
            ProviderEvent::Queued {
                position: Some(2),
                estimated_wait_seconds: None,
            },
            ProviderEvent::Queued {
                position: None,
                estimated_wait_seconds: None,
            },
            ProviderEvent::AgentMessage {
                agent: None,
                text: "anyone?".into(),
                attachments: vec![],
                actions: vec![],
            },
            ProviderEvent::AgentJoined { agent: ann.clone() },
            ProviderEvent::AgentTyping { typing: true },
            ProviderEvent::AgentMessage {
                agent: Some(ann.clone()),
                text: "Hi".into(),
                attachments: vec![Attachment {
                    url: "https://x/a.pdf".into(),
                    content_type: "application/pdf".into(),
                    name: None,
                }],
                actions: vec![
                    Action::QuickReply {
                        title: "Yes".into(),
                        payload: "yes".into(),
                    },
                    Action::Link {
                        title: "Terms".into(),
                        url: "https://x/terms".into(),
                    },
                ],
            },
            ProviderEvent::Receipt {
                message_ids: vec!["m-1".into()],
                status: ReceiptStatus::Read,
                timestamp_ms: Some(1900),
            },
            ProviderEvent::ProviderReference {
                kind: "ticket".into(),
                id: "T-1".into(),
                url: Some("https://x/t/1".into()),
            },
            ProviderEvent::Transferred {
                to_queue: Some("billing".into()),
                to_agent: None,
            },
            ProviderEvent::Transferred {
                to_queue: None,
                to_agent: Some(bob.clone()),
            },
            ProviderEvent::AgentLeft { agent: bob },
            ProviderEvent::AgentJoined { agent: ann },
            ProviderEvent::WrapUp {
                disposition: Some("resolved".into()),
                resolution_code: None,
                notes: Some("n".into()),
            },
            ProviderEvent::Survey {
                score: Some(9),
                scale_max: 10,
                comment: None,
            },
            ProviderEvent::Ended {
                reason: EndReason::Other {
                    detail: "timeout".into(),
                },
            },
        ],
        2000,
    );
    let mut kinds = BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        kinds.insert(e.kind.clone());
        valid_event(&d, &delivered(i, &e.kind, e.payload.clone()));
    }
    for kind in [
        "ended",
        "transferred",
        "receipt",
        "provider_reference",
        "wrap_up",
        "survey",
    ] {
        assert!(kinds.contains(kind), "{kind} not produced: {kinds:?}");
    }
    // The ended event carries what 0.2.0 adapters reported, in its own
    // fields, and a hand-back's variables.
    let ended = &events.last().unwrap().payload;
    assert_eq!(ended["survey"]["score"], 9);
    let mut r = row();
    let back = rules::apply_provider_events(
        &mut r,
        &[ProviderEvent::ReturnedToBot {
            variables: r#"{"order":"A-1","vip":true}"#.into(),
            note: None,
        }],
        2000,
    );
    let e = delivered(0, &back[0].kind, back[0].payload.clone());
    valid_event(&d, &e);
    assert_eq!(e["end_reason"], "returned_to_bot");
    assert_eq!(e["variables"]["order"], "A-1");

    // The engine's other ends: unsupported at create, cancelled with a detail,
    // bot_closed with provider_closed (as engine::handover::close adds it).
    let mut r = row();
    let e = rules::finish(
        &mut r,
        rules::Outcome::Error {
            reason: "unsupported",
            message: "channel `sms`".into(),
        },
        "unsupported",
        None,
        1500,
    );
    let ended = delivered(0, &e.kind, e.payload);
    valid_event(&d, &ended);
    valid(&d, "FinalHandover", &ended["handover"]);
    valid(&d, "FinalObject", &rules::final_object(&r).unwrap());

    let mut r = row();
    let e = rules::finish(
        &mut r,
        rules::Outcome::Cancelled,
        "user_cancelled",
        Some("the provider was not told: x".into()),
        1500,
    );
    valid_event(&d, &delivered(0, &e.kind, e.payload));

    let mut r = row();
    let mut e = rules::finish(&mut r, rules::Outcome::Completed, "bot_closed", None, 1500);
    e.payload["provider_closed"] = json!(true);
    valid_event(&d, &delivered(0, &e.kind, e.payload));

    // The start event and the timer event are built in the engine's private
    // modules (handover.rs after_start, workers.rs fire_timers); same shapes here.
    valid_event(
        &d,
        &delivered(
            0,
            "queued",
            json!({"type": "queued", "position": null, "estimated_wait_seconds": null}),
        ),
    );
    valid_event(
        &d,
        &delivered(
            0,
            "inactivity_warning",
            json!({"type": "inactivity_warning", "seconds_left": 60}),
        ),
    );
    valid_event(
        &d,
        &delivered(
            0,
            "inactivity_warning",
            json!({"type": "inactivity_warning", "seconds_left": null}),
        ),
    );

    // Every documented event type is one the engine can emit, and vice versa.
    let documented: BTreeSet<&str> =
        d["components"]["schemas"]["Event"]["discriminator"]["mapping"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
    assert_eq!(
        documented,
        BTreeSet::from([
            "queued",
            "agent_joined",
            "agent_message",
            "agent_typing",
            "agent_left",
            "receipt",
            "provider_reference",
            "wrap_up",
            "survey",
            "transferred",
            "inactivity_warning",
            "ended",
        ])
    );
}

#[test]
fn final_objects_have_exactly_the_product_shape() {
    let d = doc();
    for (outcome, want) in [
        (rules::Outcome::Completed, json!({"status": "completed"})),
        (rules::Outcome::Cancelled, json!({"status": "cancelled"})),
        (
            rules::Outcome::error("boom"),
            json!({"status": "error", "error": {"reason": "error", "message": "boom"}}),
        ),
    ] {
        let mut r = row();
        rules::finish(&mut r, outcome, "x", Some("extra".into()), 2000);
        let f = rules::final_object(&r).unwrap();
        assert_eq!(f["handover"], want);
        valid(&d, "FinalObject", &f);
    }
    // Extra fields in the final object are refused by the schema.
    invalid(
        &d,
        "FinalHandover",
        &json!({"status": "cancelled", "end_reason": "user_cancelled"}),
    );
}
