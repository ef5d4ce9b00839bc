//! Delivery to the bot: bot-side close, SSE resume with `Last-Event-ID`
//! (handover and endpoint streams), callbacks with a failing receiver, and
//! the availability check.

use crate::e2e::harness::*;
use crate::e2e::support::*;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------- close

#[tokio::test]
async fn bot_close_with_an_agent_active_completes() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (id, conv) = host.active_sim_handover(&sim, "s-1").await;

    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "closed", "{r}");
    assert_eq!(r["provider_closed"], true, "{r}");
    assert_eq!(r["detail"], Value::Null, "{r}");
    assert_final_object(&r["handover"]["result"], "completed", None);
    assert_eq!(r["handover"]["end_reason"], "bot_closed");

    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    assert_eq!(st["end_reason"], "bot_closed");
    let rec = sim.conversation(&conv).unwrap();
    assert_eq!(rec.status, "closed", "{rec:?}");
    assert!(
        sim.requests()
            .iter()
            .any(|q| q.method == "POST" && q.path == format!("/conversations/{conv}/close")),
        "no close request reached the provider"
    );
    let events = host.handover_events(&id, None, T).await;
    let ended = events.last().unwrap();
    assert_eq!(ended["type"], "ended");
    assert_eq!(ended["end_reason"], "bot_closed");
    assert_eq!(ended["provider_closed"], true);
    assert_eq!(ended["handover"], json!({"status": "completed"}));

    // Closing again: nothing changes.
    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "already_ended", "{r}");
    assert_final_object(&r["handover"]["result"], "completed", None);
    assert_eq!(host.status(&id).await, st);
    let again = host.handover_events(&id, None, T).await;
    assert_eq!(ids(&again), ids(&events), "a second close added events");
    // Input after the close is refused with the final object.
    let (code, r) = host.input(&id, "text", "hello?").await;
    assert_eq!(code, 409, "{r}");
    assert_eq!(r["handover"], json!({"status": "completed"}));
}

#[tokio::test]
async fn bot_close_while_queued_cancels() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim)]).await;
    let (id, conv) = host.sim_handover(&sim, "s-1").await;
    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "closed");
    assert_eq!(r["provider_closed"], true);
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "cancelled", None);
    assert_eq!(st["end_reason"], "bot_closed");
    assert!(sim.conversation(&conv).unwrap().is_terminal());
    let (_, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(r["result"], "already_ended", "{r}");
    assert_final_object(&r["handover"]["result"], "cancelled", None);
    // Unknown handover: 404.
    let (code, _) = host.post("/v1/handovers/nope/close", json!({})).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn bot_close_without_adapter_support_ends_on_the_host_only() {
    let host = Host::start(&[Endpoint::new("echo", guest("echo"))]).await;
    let id = host.create_id("echo", "s-1").await;
    // The echo adapter answers input with an agent message: an agent is active.
    let (_, r) = host.input(&id, "text", "hi").await;
    assert_eq!(r["result"], "forwarded", "{r}");
    assert_eq!(host.status(&id).await["status"], "active");
    let (code, r) = host
        .post(&format!("/v1/handovers/{id}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["result"], "closed");
    assert_eq!(r["provider_closed"], false, "{r}");
    let detail = r["detail"].as_str().expect("a detail").to_string();
    assert!(
        detail.contains("cannot close from the bot side") && detail.contains("host only"),
        "{detail}"
    );
    let st = host.status(&id).await;
    assert_final_object(&st["result"], "completed", None);
    assert_eq!(st["end_reason"], "bot_closed");
    let events = host.handover_events(&id, None, T).await;
    let ended = events.last().unwrap();
    assert_eq!(ended["provider_closed"], false);
    assert_eq!(ended["detail"], detail.as_str());
}

// ---------------------------------------------------------------- SSE resume

#[tokio::test]
async fn sse_resume_with_last_event_id() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let Resumed { id, last, rest } = resumed_stream(&host, &sim).await;
    // `?after=` resumes the same way.
    let via_query = host
        .sse(
            &format!("{}?after={last}", events_path(&id)),
            None,
            T,
            |e| e["type"] == "ended",
        )
        .await;
    assert_eq!(via_query, rest);
}

#[tokio::test]
async fn endpoint_stream_resumes_across_handovers() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    let (h1, c1) = host.sim_handover(&sim, "s-1").await;
    let (h2, c2) = host.sim_handover(&sim, "s-2").await;
    sim.agent_join(&c1, "a-1", "Alex").await;
    sim.agent_message(&c1, "h1-m1").await;
    sim.end(&c1, "agent_closed").await;
    let path = "/v1/endpoints/ep/events";
    let h1c = h1.clone();
    let part = host
        .sse(path, None, T, move |e| {
            e["handover_id"] == h1c.as_str() && e["type"] == "ended"
        })
        .await;
    let last = part.last().unwrap()["id"].as_i64().unwrap();
    sim.agent_join(&c2, "a-2", "Bo").await;
    sim.agent_message(&c2, "h2-m1").await;
    sim.end(&c2, "agent_closed").await;
    let h2c = h2.clone();
    let is_h2_end = move |e: &Value| e["handover_id"] == h2c.as_str() && e["type"] == "ended";
    let rest = host.sse(path, Some(last), T, is_h2_end.clone()).await;
    let full = host.sse(path, None, T, is_h2_end).await;
    let mut joined = part.clone();
    joined.extend(rest);
    assert_eq!(joined, full);
    assert_strictly_increasing(&full);
    // Both handovers' events, each handover's events in its own order.
    for (h, texts) in [(&h1, ["h1-m1"]), (&h2, ["h2-m1"])] {
        let mine: Vec<Value> = full
            .iter()
            .filter(|e| e["handover_id"] == h.as_str())
            .cloned()
            .collect();
        assert_eq!(agent_texts(&mine), texts);
        assert_eq!(mine.last().unwrap()["type"], "ended");
        let own = host.handover_events(h, None, T).await;
        assert_eq!(
            mine, own,
            "endpoint stream and handover stream differ for {h}"
        );
    }
    // Unknown endpoint: 404.
    let (code, _) = host.get("/v1/endpoints/nope/events").await;
    assert_eq!(code, 404);
}

// ---------------------------------------------------------------- callbacks

#[derive(Clone, Debug)]
struct Hit {
    status: u16,
    body: Value,
    event_header: Option<String>,
    handover_header: Option<String>,
}

/// A callback receiver on 127.0.0.1 that answers 500 to its first
/// `failures` requests and 200 afterwards, recording every request.
async fn receiver(failures: usize) -> (u16, Arc<Mutex<Vec<Hit>>>) {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let hits = h.clone();
            async move {
                let mut hits = hits.lock().unwrap();
                let status = if hits.len() < failures { 500 } else { 200 };
                let header = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(String::from)
                };
                hits.push(Hit {
                    status,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    event_header: header("x-handover-event-id"),
                    handover_header: header("x-handover-id"),
                });
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, hits)
}

#[tokio::test]
async fn callbacks_survive_a_failing_receiver() {
    let (port, hits) = receiver(2).await;
    let sim = sim().await;
    let mut ep = sim_ep("ep", &sim);
    ep.callback_allow = vec![format!("http://127.0.0.1:{port}")];
    let host = Host::start(&[ep]).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let (id, conv) = host
        .sim_handover_with(
            &sim,
            "s-1",
            json!({"callback_url": format!("http://127.0.0.1:{port}/cb")}),
        )
        .await;
    sim.agent_join(&conv, "a-1", "Alex").await;
    for t in ["m1", "m2", "m3"] {
        sim.agent_message(&conv, t).await;
    }
    sim.end(&conv, "agent_closed").await;
    let stream = host.handover_events(&id, None, T).await;
    assert_eq!(stream.last().unwrap()["type"], "ended");
    let end_id = stream.last().unwrap()["id"].as_i64().unwrap();

    host.eventually("the ended event to be delivered", T, async || {
        hits.lock()
            .unwrap()
            .iter()
            .any(|h| h.status == 200 && h.body["id"] == end_id)
            .then_some(())
    })
    .await;
    // A few outbox ticks more, so a late duplicate would show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = hits.lock().unwrap().clone();

    // The first two attempts failed, both for the first event.
    assert_eq!(hits[0].status, 500);
    assert_eq!(hits[1].status, 500);
    assert_eq!(hits[0].body["id"], stream[0]["id"], "{hits:?}");
    assert_eq!(hits[1].body["id"], stream[0]["id"], "{hits:?}");
    // Attempts in event order (a retry never overtakes a later event).
    let attempt_ids: Vec<i64> = hits
        .iter()
        .map(|h| h.body["id"].as_i64().unwrap())
        .collect();
    assert!(
        attempt_ids.windows(2).all(|w| w[0] <= w[1]),
        "{attempt_ids:?}"
    );
    // Every event received exactly once with 2xx, same ids and bodies as
    // the stream, in order; no duplicate after a 2xx.
    let ok: Vec<Value> = hits
        .iter()
        .filter(|h| h.status == 200)
        .map(|h| h.body.clone())
        .collect();
    assert_eq!(ids(&ok), ids(&stream), "2xx deliveries vs stream ids");
    assert_eq!(
        ok, stream,
        "callback bodies differ from the stream's events"
    );
    for h in &hits {
        assert_eq!(
            h.event_header.as_deref(),
            Some(h.body["id"].as_i64().unwrap().to_string().as_str())
        );
        assert_eq!(h.handover_header.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn callback_url_must_be_allowed() {
    let sim = sim().await;
    let mut ep = sim_ep("ep", &sim);
    ep.callback_allow = vec!["http://127.0.0.1:9".into()];
    let host = Host::start(&[ep, sim_ep("closed", &sim)]).await;
    for (endpoint, url) in [
        ("ep", "http://127.0.0.1:10/cb"),
        ("ep", "http://10.0.0.1:9/cb"),
        ("closed", "http://127.0.0.1:9/cb"),
    ] {
        let (code, r) = host
            .create(endpoint, "s-1", json!({"callback_url": url}))
            .await;
        assert_eq!(code, 400, "{endpoint} {url}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains("callback_allow"), "{msg}");
    }
    assert!(sim.conversations().is_empty());
    // The allowed one is accepted.
    let (code, r) = host
        .create(
            "ep",
            "s-1",
            json!({"callback_url": "http://127.0.0.1:9/cb"}),
        )
        .await;
    assert_eq!(code, 201, "{r}");
}

// ---------------------------------------------------------------- availability

#[tokio::test]
async fn availability() {
    let sim = sim().await;
    let host = Host::start(&[sim_ep("ep", &sim), Endpoint::new("echo", guest("echo"))]).await;
    sim.set_availability(false, false, None);
    let (code, r) = host.get("/v1/endpoints/ep/availability").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        r,
        json!({"supported": true, "agents_available": false, "open": false, "estimated_wait_seconds": null, "message": null})
    );
    sim.set_availability(true, true, Some(10));
    let (code, r) = host.get("/v1/endpoints/ep/availability").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        r,
        json!({"supported": true, "agents_available": true, "open": true, "estimated_wait_seconds": 10, "message": null})
    );
    let n = sim
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path == "/availability")
        .count();
    assert_eq!(n, 2);
    // Provider failing: 502 naming the status.
    sim.fail_next("/availability", 503, 1);
    let (code, r) = host.get("/v1/endpoints/ep/availability").await;
    assert_eq!(code, 502, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("503"),
        "{r}"
    );
    // An adapter without the capability says so.
    let (code, r) = host.get("/v1/endpoints/echo/availability").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["supported"], false, "{r}");
    let (code, _) = host.get("/v1/endpoints/nope/availability").await;
    assert_eq!(code, 404);
}

/// Many handovers with callbacks at once, a receiver answering 200 after a
/// varying delay: no event may be delivered again after a 2xx. (A delivery
/// finishing while the outbox loop is between reading the due items and
/// checking what is in flight used to be sent a second time.)
#[tokio::test]
async fn callbacks_are_not_repeated_after_a_2xx_under_load() {
    const HANDOVERS: usize = 8;
    const MESSAGES: usize = 40;
    let hits: Arc<Mutex<Vec<i64>>> = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: axum::body::Bytes| {
            let hits = h.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                let id = v["id"].as_i64().unwrap();
                // Spread completions over the outbox loop's 50 ms tick.
                tokio::time::sleep(Duration::from_millis((id * 7919 % 60) as u64)).await;
                hits.lock().unwrap().push(id);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sim = sim().await;
    let mut ep = sim_ep("ep", &sim);
    ep.callback_allow = vec![format!("http://127.0.0.1:{port}")];
    let host = Host::start(&[ep]).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    let mut hs = vec![];
    for n in 0..HANDOVERS {
        let (id, conv) = host
            .sim_handover_with(
                &sim,
                &format!("s-{n}"),
                json!({"callback_url": format!("http://127.0.0.1:{port}/cb")}),
            )
            .await;
        sim.agent_join(&conv, "a-1", "Alex").await;
        hs.push((id, conv));
    }
    for i in 0..MESSAGES {
        for (_, conv) in &hs {
            sim.agent_message(conv, &format!("m{i}")).await;
        }
    }
    let mut all_ids = vec![];
    for (id, conv) in &hs {
        sim.end(conv, "agent_closed").await;
        let stream = host.handover_events(id, None, T).await;
        assert_eq!(stream.last().unwrap()["type"], "ended");
        assert_eq!(agent_texts(&stream).len(), MESSAGES);
        all_ids.extend(ids(&stream));
    }
    all_ids.sort();
    host.eventually("every callback", Duration::from_secs(60), async || {
        let n = hits.lock().unwrap().len();
        (n >= all_ids.len()).then_some(())
    })
    .await;
    // A few outbox ticks more, so late duplicates show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = hits.lock().unwrap().clone();
    got.sort();
    let mut dups = got.clone();
    dups.dedup();
    let mut repeated: Vec<i64> = got.clone();
    for id in &dups {
        let at = repeated.iter().position(|x| x == id).unwrap();
        repeated.remove(at);
    }
    assert!(
        repeated.is_empty(),
        "events delivered again after a 2xx: {repeated:?} ({} deliveries for {} events)",
        got.len(),
        all_ids.len()
    );
    assert_eq!(got, all_ids, "deliveries differ from the streams' events");
}
