//! Egress policy enforced on real components: deny by default, allow-list
//! matching, blocked address ranges (also behind DNS), explicit allowance,
//! response cap and per-request timeout. Every test's traffic stays on
//! loopback; denied requests never leave the process.

use crate::harness::wasm::*;
use handover_host::model::FailureReason;
use handover_host::runtime::{Call, CallOutput, Limits};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Fetches `path` from the loopback server on `port`, with exactly that
/// server on the endpoint's egress list.
async fn fetch_loopback(port: u16, path: &str, limits: Limits) -> Result<Vec<u8>, String> {
    let allow = format!("http://127.0.0.1:{port}");
    fetch(&format!("{allow}{path}"), &[&allow], &[], limits).await
}

async fn fetch(
    url: &str,
    allow: &[&str],
    resolve: &[(&str, &str)],
    limits: Limits,
) -> Result<Vec<u8>, String> {
    let rt = runtime();
    let a = load(&rt, "egress").await;
    let settings = serde_json::json!({ "url": url }).to_string();
    match rt
        .invoke(
            &a,
            &env(limits, allow, resolve),
            Call::Start(ctx(&settings), conversation()),
        )
        .await
    {
        Ok(CallOutput::Step(s)) => Ok(s.state),
        Ok(o) => panic!("{o:?}"),
        Err(f) => {
            assert_eq!(f.reason, FailureReason::Error);
            Err(f.message)
        }
    }
}

#[tokio::test]
async fn explicitly_allowed_loopback_is_reached() {
    let (port, hits) = http_server(b"hello".to_vec(), Duration::ZERO).await;
    let body = fetch_loopback(port, "/x", Limits::default()).await.unwrap();
    assert_eq!(body, b"hello");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn host_not_on_the_list_is_denied_and_logged() {
    let logs = LogCapture::start();
    let msg = fetch(
        "http://example.com/",
        &["https://api.example.org"],
        &[],
        Limits::default(),
    )
    .await
    .unwrap_err();
    assert!(
        msg.contains("egress denied") && msg.contains("not on the endpoint's allow-list"),
        "{msg}"
    );
    let text = logs.text();
    assert!(
        text.contains("egress denied")
            && text.contains("tenant=t1")
            && text.contains("endpoint=ep1")
            && text.contains("adapter=fixture")
            && text.contains("http://example.com/"),
        "{text}"
    );
}

/// A guest that sends 2,000 denied requests in one call gets 8 of them
/// logged in full and one summary line with the count (before: one warning
/// and one kept record per request, 20,001 lines and 380 MB for one call).
#[tokio::test]
async fn repeated_denials_are_summarized() {
    let logs = LogCapture::start();
    let rt = runtime();
    let a = load(&rt, "egress").await;
    let settings = serde_json::json!({ "url": "http://example.com/", "repeat": 2000 }).to_string();
    let limits = Limits {
        egress_max_requests: 10_000,
        wall_time: Duration::from_secs(60),
        ..Default::default()
    };
    let f = rt
        .invoke(
            &a,
            &env(limits, &["https://api.example.org"], &[]),
            Call::Start(ctx(&settings), conversation()),
        )
        .await
        .unwrap_err();
    assert!(
        f.message.contains("not on the endpoint's allow-list"),
        "{f}"
    );
    drop(a);
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("egress denied"))
        .collect();
    assert_eq!(
        lines.len(),
        9,
        "8 in full and one summary:\n{}",
        lines.join("\n")
    );
    let summary = lines.last().unwrap();
    assert!(
        summary.contains("denied=2000") && summary.contains("not_logged=1992"),
        "{summary}"
    );
    let egress_bytes: usize = text
        .lines()
        .filter(|l| l.contains("egress"))
        .map(str::len)
        .sum();
    assert!(
        egress_bytes < 16 << 10,
        "{egress_bytes} bytes of egress log"
    );
}

#[tokio::test]
async fn empty_list_denies_everything() {
    let msg = fetch("http://example.com/", &[], &[], Limits::default())
        .await
        .unwrap_err();
    assert!(msg.contains("allows no egress"), "{msg}");
}

#[tokio::test]
async fn ip_literals_not_named_are_denied() {
    let (port, hits) = http_server(b"x".to_vec(), Duration::ZERO).await;
    let allow = ["https://*.example.com"];
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
    ] {
        let msg = fetch(&url, &allow, &[], Limits::default())
            .await
            .unwrap_err();
        assert!(msg.contains("egress denied"), "{url}: {msg}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn hostnames_resolving_to_blocked_ranges_are_denied() {
    let (port, hits) = http_server(b"x".to_vec(), Duration::ZERO).await;
    let cases = [
        ("loop.test", "127.0.0.1", "loopback"),
        ("meta.test", "169.254.169.254", "cloud metadata"),
        ("corp.test", "10.0.0.1", "private"),
        // Embedded and tunnelled IPv4, and the rarer special-purpose ranges.
        ("nat64.test", "64:ff9b::7f00:1", "loopback"),
        ("sixtofour.test", "2002:7f00:1::1", "6to4"),
        ("teredo.test", "2001::5efe:7f00:1", "Teredo"),
        ("bench.test", "198.18.0.1", "benchmarking"),
        ("ietf.test", "192.0.0.8", "IETF protocol assignments"),
    ];
    for (host, ip, range) in cases {
        let allow = format!("http://{host}:{port}");
        let msg = fetch(
            &format!("http://{host}:{port}/"),
            &[&allow],
            &[(host, ip)],
            Limits::default(),
        )
        .await
        .unwrap_err();
        assert!(msg.contains(range) && msg.contains(ip), "{host}: {msg}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a blocked address was contacted"
    );
}

#[tokio::test]
async fn response_body_over_the_cap_fails_the_call() {
    let (port, _) = http_server(vec![b'a'; 2 << 20], Duration::ZERO).await;
    let limits = Limits {
        egress_max_response_bytes: 64 << 10,
        ..Default::default()
    };
    let msg = fetch_loopback(port, "/big", limits).await.unwrap_err();
    assert!(msg.contains("exceeds the cap of 65536 bytes"), "{msg}");
}

#[tokio::test]
async fn slow_provider_hits_the_request_timeout() {
    // The provider answers after a minute; the call gives up long before
    // (the bound is generous: it includes compiling the guest on a busy
    // machine, and says only that the call did not wait for the answer).
    let (port, _) = http_server(b"late".to_vec(), Duration::from_secs(60)).await;
    let limits = Limits {
        egress_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let msg = fetch_loopback(port, "/slow", limits).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(
        msg.to_lowercase().contains("timeout") || msg.to_lowercase().contains("timed out"),
        "{msg}"
    );
}
