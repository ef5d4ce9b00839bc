//! Hostile adapters and tenants against the real `handover-host` binary:
//! what an adapter or tenant must not get from the host beyond its limits
//! (SECURITY.md lists each boundary and the test that holds it).

use crate::harness::*;

const OP_KEY: &str = "operator-key-Lq81cV";
const KEY_A: &str = "tenant-a-key-Rt55xZ";
const KEY_B: &str = "tenant-b-key-Wm27pD";
/// Generous bound for what the host does in the background (busy machine).
const T: std::time::Duration = std::time::Duration::from_secs(90);

/// A host with endpoint `wr` on the `webhook-reply` fixture.
async fn webhook_reply_host() -> HostProcess {
    HostProcess::start(Config::new().endpoint(Endpoint::new("wr", guest("webhook-reply")))).await
}

/// The operator key and tenants `a` and `b` with their keys.
fn keyed() -> Config {
    Config::new()
        .admin_key_hashed(OP_KEY)
        .tenant("a", |t| t.key(KEY_A))
        .tenant("b", |t| t.key(KEY_B))
}

/// The `webhook-reply` fixture answers every webhook with HTML, a cookie,
/// CORS and framing headers, a redirect or a status of its choosing. The
/// host passes on a status (2xx/4xx/5xx), a JSON or plain-text content type
/// and `retry-after`, adds its own safety headers, and drops the rest.
#[tokio::test]
pub(crate) async fn an_adapter_cannot_shape_the_hosts_webhook_answer() {
    let host = webhook_reply_host().await;
    // A browser's view of the answer: no redirect followed.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, status) in [
        ("", 200),
        ("/redirect", 500),
        ("/status/101", 500),
        ("/status/304", 500),
        ("/status/429", 429),
        ("/status/503", 503),
    ] {
        let r = client
            .post(format!("{}{path}", host.webhook_url("wr")))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let h = r.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            get("content-type").as_deref(),
            Some("text/plain; charset=utf-8"),
            "{path}"
        );
        for name in [
            "set-cookie",
            "location",
            "access-control-allow-origin",
            "x-frame-options",
        ] {
            assert_eq!(get(name), None, "{path}: {name} passed through");
        }
        assert_eq!(get("retry-after").as_deref(), Some("7"), "{path}");
        assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"));
        assert!(
            get("content-security-policy").is_some_and(|v| v.contains("default-src 'none'")),
            "{path}: {h:?}"
        );
        assert_eq!(get("cache-control").as_deref(), Some("no-store"));
    }
    let log = host.log();
    assert!(
        log.contains("the adapter's webhook answer was not sent as given")
            && log.contains("set-cookie")
            && log.contains("text/html"),
        "the host should log what it changed:\n{log}"
    );
}

/// Sends `request_line` and `headers` announcing a body of `length` bytes,
/// then 1 KiB of it, and waits for an answer without sending the rest: a
/// host that reads the body before checking the caller never answers.
async fn answer_before_the_body(
    port: u16,
    request_line: &str,
    headers: &str,
    length: u64,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "{request_line} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         {headers}content-length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b' '; 1024]).await.unwrap();
    let mut answer = vec![0; 4096];
    // Generous for a busy machine; the old code never answered at all.
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), s.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("{request_line}: no answer while the body was incomplete"))
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// Uploads (up to 64 MiB) and bot API bodies (up to 2 MiB) are read only
/// after the key, the endpoint or handover and the declared size are
/// checked: unauthenticated or foreign callers are answered from the
/// headers alone, with nothing buffered (before, eight unauthenticated
/// 60 MiB uploads grew the host by 500 MB).
#[tokio::test]
pub(crate) async fn bodies_are_read_only_after_the_caller_is_checked() {
    let host =
        HostProcess::start(keyed().endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a")))
            .await;
    let bearer = |key: &str| format!("authorization: Bearer {key}\r\n");
    let upload = "PUT /admin/endpoints/ep-a/adapter";
    let create = "POST /v1/endpoints/ep-a/handovers";
    let input = "POST /v1/handovers/01890000-0000-7000-8000-000000000000/input";
    for (what, line, headers, length, expected) in [
        ("upload, no key", upload, String::new(), 60 << 20, "401"),
        ("upload, wrong key", upload, bearer("nope"), 60 << 20, "401"),
        (
            "upload, another tenant",
            upload,
            bearer(KEY_B),
            60 << 20,
            "404",
        ),
        ("upload over 64 MiB", upload, bearer(KEY_A), 65 << 20, "413"),
        (
            "upload over 64 MiB, operator",
            upload,
            bearer(OP_KEY),
            65 << 20,
            "413",
        ),
        ("create, no key", create, String::new(), 2_000_000, "401"),
        (
            "create, another tenant",
            create,
            bearer(KEY_B),
            2_000_000,
            "404",
        ),
        ("create over 2 MiB", create, bearer(KEY_A), 3 << 20, "413"),
        ("input, no key", input, String::new(), 2_000_000, "401"),
        (
            "input, unknown handover",
            input,
            bearer(KEY_A),
            2_000_000,
            "404",
        ),
    ] {
        let answer = answer_before_the_body(host.port, line, &headers, length).await;
        assert!(
            status_line(&answer).contains(expected),
            "{what}: expected {expected}, got:\n{answer}"
        );
    }
    // The host still serves a well-formed request afterwards.
    let r = host
        .send(
            reqwest::Method::POST,
            "/v1/endpoints/ep-a/handovers",
            Some(KEY_A),
            Some(create_body("s-1").to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

/// A webhook naming many correlation keys that no handover has waits one
/// correlation grace (3 s) in all, not one per key (before: 3 s × keys,
/// 192 s for the 64 here, and a store read every 25 ms for each).
#[tokio::test]
pub(crate) async fn unknown_correlation_keys_share_one_grace() {
    let host = webhook_reply_host().await;
    let started = std::time::Instant::now();
    let answers: Vec<u16> = futures::future::join_all((0..4).map(|_| async {
        host.http
            .post(format!("{}/keys/64", host.webhook_url("wr")))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }))
    .await;
    assert_eq!(answers, [200; 4]);
    // Generous for a busy machine, far below one grace per key.
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(40),
        "4 webhooks × 64 unknown keys took {took:?}"
    );
    assert!(
        host.log()
            .contains("webhook names keys of no known handover")
    );
}

/// The admin API shows a tenant its endpoints without the adapter's path on
/// the host's file system (before: `adapter_path` for everyone); the
/// operator still sees it.
#[tokio::test]
pub(crate) async fn tenants_see_no_server_paths() {
    let host =
        HostProcess::start(keyed().endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a")))
            .await;
    let path = guest("echo").display().to_string();
    let get = |path: &'static str, key: &'static str| {
        host.send(reqwest::Method::GET, path, Some(key), None)
    };
    for url in ["/admin/endpoints", "/admin/endpoints/ep-a"] {
        let tenant = get(url, KEY_A).await;
        assert_eq!(tenant.status, 200, "{tenant:?}");
        assert!(
            !tenant.text.contains(&path) && !tenant.text.contains("adapter_path"),
            "{url}: a tenant sees the server path: {}",
            tenant.text
        );
        let operator = get(url, OP_KEY).await;
        assert_eq!(operator.status, 200, "{operator:?}");
        assert!(operator.text.contains("adapter_path"), "{}", operator.text);
    }
}

/// `/metrics` (every tenant's counts) and `/openapi.json` need the operator
/// key by default (before: no credentials at all); a tenant key is refused;
/// `[server] public_metrics = true` opens them.
#[tokio::test]
pub(crate) async fn metrics_need_the_operator_key() {
    let config =
        |public: Option<bool>| keyed().server(|s| s.public_metrics = Some(public.unwrap_or(false)));
    let host = HostProcess::start(config(None)).await;
    for path in ["/metrics", "/openapi.json"] {
        for (who, key, status) in [
            ("nobody", None, 401),
            ("a tenant", Some(KEY_A), 401),
            ("the operator", Some(OP_KEY), 200),
        ] {
            let r = host.send(reqwest::Method::GET, path, key, None).await;
            assert_eq!(r.status, status, "{path} for {who}: {r:?}");
        }
    }
    let open = HostProcess::start(config(Some(true))).await;
    for path in ["/metrics", "/openapi.json"] {
        let r = open.send(reqwest::Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path} with public_metrics: {r:?}");
    }
}

/// `/admin/handovers` for a tenant lists that tenant's newest handovers even
/// when a neighbour created more than the listing's limit (500) after them
/// (before: the newest 500 of every tenant, filtered afterwards — B saw
/// nothing).
#[tokio::test]
pub(crate) async fn a_busy_neighbour_cannot_hide_a_tenants_handovers() {
    let host = HostProcess::start(
        keyed()
            .endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a"))
            .endpoint(Endpoint::new("ep-b", guest("echo")).tenant("b")),
    )
    .await;
    let create = |ep: &'static str, key: &'static str, session: String| {
        let body = create_body(&session).to_string().into_bytes();
        let path = format!("/v1/endpoints/{ep}/handovers");
        let host = &host;
        async move {
            let r = host
                .send(reqwest::Method::POST, &path, Some(key), Some(body))
                .await;
            assert_eq!(r.status, 201, "{r:?}");
            r.body["handover_id"].as_str().unwrap().to_string()
        }
    };
    let mine = create("ep-b", KEY_B, "b-1".into()).await;
    use futures::StreamExt;
    futures::stream::iter(0..510)
        .map(|i| create("ep-a", KEY_A, format!("a-{i}")))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let b = host
        .send(reqwest::Method::GET, "/admin/handovers", Some(KEY_B), None)
        .await;
    assert_eq!(b.status, 200, "{b:?}");
    let ids = strings_of(&b.body["handovers"], "handover_id");
    assert_eq!(ids, [mine.as_str()], "{}", b.text);
    let a = host
        .send(reqwest::Method::GET, "/admin/handovers", Some(KEY_A), None)
        .await;
    assert_eq!(a.body["handovers"].as_array().unwrap().len(), 500);
}

/// Compiling uploaded components runs on the blocking pool, a bounded
/// number at a time: while four large uploads compile, `/healthz` keeps
/// answering (before: cranelift ran on the async workers, and four uploads
/// took `/healthz` from 6 ms to 5.7 s — about as long as the uploads).
#[tokio::test]
pub(crate) async fn uploads_compile_off_the_request_path() {
    // Four endpoints: swaps of one endpoint are serialized anyway.
    let host = HostProcess::start(
        Config::new()
            .admin_key_hashed(OP_KEY)
            .endpoints((0..4).map(|i| Endpoint::new(&format!("ep-{i}"), guest("echo")))),
    )
    .await;
    let big = std::fs::read(guest("salesforce-miaw")).unwrap();
    let started = std::time::Instant::now();
    let uploads = futures::future::join_all((0..4).map(|i| {
        // Each one new to the compiled-component cache.
        let tag = format!("{}-{i}", uuid::Uuid::new_v4());
        let bytes = handover_guests::with_custom_section(&big, "hostile-test", tag.as_bytes());
        let path = format!("/admin/endpoints/ep-{i}/adapter");
        host.request(reqwest::Method::PUT, &path, Some(OP_KEY))
            .body(bytes)
            .send()
    }));
    let probe = async {
        let mut worst = std::time::Duration::ZERO;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let r = host
                .request(reqwest::Method::GET, "/healthz", None)
                .send()
                .await;
            assert!(r.is_ok_and(|r| r.status() == 200));
            worst = worst.max(t.elapsed());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        worst
    };
    let (answers, worst) = tokio::join!(uploads, probe);
    let took = started.elapsed();
    for a in answers {
        // Refused (the settings are echo's) after compiling: what counts
        // is that each was compiled.
        assert_eq!(a.unwrap().status().as_u16(), 422);
    }
    assert!(
        worst * 4 < took,
        "/healthz took up to {worst:?} while the uploads took {took:?}"
    );
}

/// A tenant may roll back only a version it uploaded with its own key: the
/// operator's swap stays (before: any tenant key could undo it).
#[tokio::test]
pub(crate) async fn a_tenant_cannot_roll_back_the_operators_swap() {
    let host =
        HostProcess::start(keyed().endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a")))
            .await;
    let put = |key: &'static str, bytes: Vec<u8>| {
        host.send(
            reqwest::Method::PUT,
            "/admin/endpoints/ep-a/adapter",
            Some(key),
            Some(bytes),
        )
    };
    let rollback = |key: &'static str| {
        host.send(
            reqwest::Method::POST,
            "/admin/endpoints/ep-a/rollback",
            Some(key),
            None,
        )
    };
    let version = |r: &Resp| {
        r.body["current"]["version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let v2 = std::fs::read(guest("echo-v2")).unwrap();
    let v1 = std::fs::read(guest("echo")).unwrap();

    // The operator puts 2.0.0 in place; the tenant may not undo it.
    let r = put(OP_KEY, v2.clone()).await;
    assert_eq!(
        (r.status, r.body["current"]["source"].as_str()),
        (200, Some("admin")),
        "{r:?}"
    );
    let r = rollback(KEY_A).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text.contains("only the operator can roll it back"),
        "{}",
        r.text
    );
    let show = host
        .send(
            reqwest::Method::GET,
            "/admin/endpoints/ep-a",
            Some(KEY_A),
            None,
        )
        .await;
    assert_eq!(version(&show), "2.0.0", "{show:?}");

    // Its own upload it may roll back, once; the operator may go further.
    let r = put(KEY_A, v1).await;
    assert_eq!(
        (r.status, r.body["current"]["source"].as_str()),
        (200, Some("tenant")),
        "{r:?}"
    );
    let r = rollback(KEY_A).await;
    assert_eq!((r.status, version(&r)), (200, "2.0.0".to_string()), "{r:?}");
    assert_eq!(rollback(KEY_A).await.status, 403);
    let r = rollback(OP_KEY).await;
    assert_eq!((r.status, version(&r)), (200, "1.0.0".to_string()), "{r:?}");
}

/// The `open_handovers` quota is checked by the store with the insert (one
/// counter row per tenant, locked by the create on PostgreSQL), so two
/// replicas taking concurrent creates of one tenant never overshoot it
/// (before: each process counted under its own lock — and loaded every
/// open handover of every tenant with its request JSON to do so).
#[tokio::test]
pub(crate) async fn the_open_handovers_quota_holds_across_replicas() {
    let Some(schema) = crate::harness::pg::Schema::create("quota").await else {
        return;
    };
    let config = keyed()
        .postgres(&schema.url)
        .tenant("a", |t| t.key(KEY_A).open_handovers(5))
        .endpoint(Endpoint::new("ep-a", guest("echo")).tenant("a"));
    let replicas = [
        HostProcess::start(config.clone()).await,
        HostProcess::start(config).await,
    ];
    use futures::StreamExt;
    let codes: Vec<u16> = futures::stream::iter(0..40)
        .map(|i| {
            let host = &replicas[i % 2];
            let body = create_body(&format!("s-{i}")).to_string().into_bytes();
            async move {
                host.send(
                    reqwest::Method::POST,
                    "/v1/endpoints/ep-a/handovers",
                    Some(KEY_A),
                    Some(body),
                )
                .await
                .status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let created = codes.iter().filter(|&&c| c == 201).count();
    let refused = codes.iter().filter(|&&c| c == 429).count();
    assert_eq!((created, refused), (5, 35), "{codes:?}");
}

/// A callback receiver that takes every request and never finishes its
/// answer: it reads the request head, sends a 200 head announcing a long
/// body and drips one byte a second. Counts the connections open now, the
/// most open at once, and all it took.
#[derive(Default)]
struct Drip {
    open: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

async fn drip_receiver() -> (String, std::sync::Arc<Drip>) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let drip = std::sync::Arc::new(Drip::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let d = drip.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let d = d.clone();
            tokio::spawn(async move {
                d.total.fetch_add(1, SeqCst);
                let now = d.open.fetch_add(1, SeqCst) + 1;
                d.most.fetch_max(now, SeqCst);
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut ok = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                    .await
                    .is_ok();
                // Until the host hangs up (a read sees the end at once).
                while ok {
                    tokio::select! {
                        r = conn.read(&mut buf) => ok = matches!(r, Ok(n) if n > 0),
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                            ok = conn.write_all(b"x").await.is_ok();
                        }
                    }
                }
                d.open.fetch_sub(1, SeqCst);
            });
        }
    });
    (origin, drip)
}

/// Tenant A's 110 callback receivers take every delivery and never finish
/// answering; tenant B's callback still arrives at once. A has at most its
/// `background_in_flight` (8) deliveries in flight, each cut off after the
/// delivery timeout (5 s) and retried later, and A's backlog never fills
/// the scan B's delivery is read by (before: the oldest 100 due deliveries
/// were read, A's stayed due while in flight, 100 at once, each drained
/// for up to 300 s; B's callback went from 0.03 s to not arriving in 45 s).
#[tokio::test]
pub(crate) async fn a_tenants_stuck_callbacks_do_not_hold_up_anothers() {
    use futures::StreamExt;
    use std::sync::atomic::Ordering::SeqCst;
    let (drip_origin, drip) = drip_receiver().await;
    let b_hits = std::sync::Arc::new(tokio::sync::Notify::new());
    let hits = b_hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let hits = hits.clone();
            async move {
                hits.notify_one();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let host = HostProcess::start(
        keyed()
            .tenant("a", |t| t.key(KEY_A).background_in_flight(8))
            .endpoint(
                Endpoint::new("ep-a", guest("echo"))
                    .tenant("a")
                    .callback_allow(&drip_origin),
            )
            .endpoint(
                Endpoint::new("ep-b", guest("echo"))
                    .tenant("b")
                    .callback_allow(&b_origin),
            ),
    )
    .await;
    let create = |ep: &'static str, key: &'static str, session: String, cb: String| {
        let mut body = create_body(&session);
        body["callback_url"] = cb.into();
        let path = format!("/v1/endpoints/{ep}/handovers");
        let host = &host;
        async move {
            let r = host
                .send(
                    reqwest::Method::POST,
                    &path,
                    Some(key),
                    Some(body.to_string().into_bytes()),
                )
                .await;
            assert_eq!(r.status, 201, "{r:?}");
        }
    };
    futures::stream::iter(0..110)
        .map(|i| create("ep-a", KEY_A, format!("a-{i}"), format!("{drip_origin}/cb")))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    host.eventually("A's deliveries to start", T, async || {
        (drip.open.load(SeqCst) >= 8).then_some(())
    })
    .await;

    create("ep-b", KEY_B, "b-1".into(), format!("{b_origin}/cb")).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), b_hits.notified())
        .await
        .expect("B's callback did not arrive within 10 s while A's receivers hang");

    // A's stuck deliveries are cut off and the next ones start, never more
    // than A's cap at once.
    host.eventually("A's first deliveries to be cut off", T, async || {
        (drip.total.load(SeqCst) >= 16).then_some(())
    })
    .await;
    let most = drip.most.load(SeqCst);
    assert!(
        most <= 8,
        "A had {most} deliveries in flight at once (cap 8)"
    );
}

/// Finished records are pruned in the background once past their
/// retention: an ended handover (with its events) disappears, an open one
/// stays (before: nothing was ever deleted — events, deliveries, the inbox
/// and adapter blobs grew forever).
#[tokio::test]
pub(crate) async fn finished_records_are_pruned() {
    let host = HostProcess::start(
        Config::new()
            .retention("ended_handovers_s", 1)
            .retention("callbacks_s", 1)
            .retention("inbox_s", 1)
            .retention("interval_s", 1)
            .endpoint(Endpoint::new("ep", guest("echo"))),
    )
    .await;
    let mut ids = vec![];
    for session in ["ended", "open"] {
        let (code, v) = host.create("ep", session, serde_json::json!({})).await;
        assert_eq!(code, 201, "{v}");
        ids.push(v["handover_id"].as_str().unwrap().to_string());
    }
    let (code, v) = host
        .post(
            &format!("/v1/handovers/{}/close", ids[0]),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    host.eventually("the ended handover to be pruned", T, async || {
        let (code, _) = host.get(&format!("/v1/handovers/{}", ids[0])).await;
        (code == 404).then_some(())
    })
    .await;
    let (code, v) = host.get(&format!("/v1/handovers/{}", ids[1])).await;
    assert_eq!(code, 200, "the open handover stays: {v}");
}

/// A captured webhook replayed with a new, unsigned delivery id (Chatwoot's
/// `X-Chatwoot-Delivery` is not signed) is dropped: the host also dedupes
/// on what the signature covers. The `replay-probe` fixture applies every
/// webhook it is given, so only the host stands between a replay and the
/// bot (before: the replay was a new delivery and reached the bot twice).
#[tokio::test]
pub(crate) async fn a_replayed_webhook_is_dropped_whatever_its_delivery_id() {
    const SECRET: &str = "probe-secret-Hq4";
    let host = HostProcess::start(
        Config::new().endpoint(Endpoint::new("ep", guest("replay-probe")).webhook_secret(SECRET)),
    )
    .await;
    let (code, v) = host.create("ep", "s-1", serde_json::json!({})).await;
    assert_eq!(code, 201, "{v}");
    let id = v["handover_id"].as_str().unwrap().to_string();
    let mut captured = Webhook::signed("ep", b"captured".to_vec(), SECRET, now_s());
    for delivery in ["d-1", "d-2", "d-3"] {
        captured.delivery = Some(delivery.into());
        let (code, body) = captured.send(&host).await;
        assert_eq!(code, 200, "{delivery}: {body}");
    }
    let mut marker = Webhook::signed("ep", b"marker".to_vec(), SECRET, now_s());
    marker.delivery = Some("d-4".into());
    let (code, body) = marker.send(&host).await;
    assert_eq!(code, 200, "{body}");
    let events = host
        .sse(&events_path(&id), None, T, |e| e["text"] == "marker")
        .await;
    assert_eq!(agent_texts(&events), ["captured", "marker"], "{events:?}");
}
