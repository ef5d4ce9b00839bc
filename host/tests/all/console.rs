//! The operator console on the real binary: the page and its files served
//! without a key (with their content types and Content-Security-Policy,
//! every module the page imports found), the metrics history behind its
//! charts (operator only; tenants 403; the shape in openapi.json; handovers
//! counted), and the page itself driven in Debian's headless Chromium by
//! `tests/browser/console.mjs` (Playwright): log in, the endpoints, a
//! canary of the panic fixture started through the page's form and rolled
//! back automatically with its reason shown, a live event stream, the
//! charts, a tenant that sees only its own endpoint, keyboard use.
//!
//! `scripts/test` installs Chromium (Debian's `chromium`) and the driver's
//! npm packages; without them the browser test fails and says so. With
//! `HANDOVER_CONSOLE_SCREENSHOTS=docs` it writes the README's screenshots
//! (`docs/console-*.png`); otherwise into a temporary directory.

use crate::harness::config::Endpoint as EndpointConfig;
use crate::harness::guest;
use crate::hot_swap::{ADMIN_KEY, Host};
use crate::openapi::valid;
use handover_host::api::OPENAPI;
use reqwest::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const KEY_A: &str = "console-tenant-a-key";
const KEY_B: &str = "console-tenant-b-key";

/// Endpoint `ep` (echo, a copy) of tenant `a`, `ep-b` (echo) of tenant `b`.
async fn two_tenants() -> Host {
    Host::start_with(|c, ep| {
        c.tenant("a", |t| t.key(KEY_A))
            .tenant("b", |t| t.key(KEY_B))
            .endpoint(ep.tenant("a"))
            .endpoint(EndpointConfig::new("ep-b", guest("echo")).tenant("b"))
    })
    .await
}

async fn get(host: &Host, path: &str, key: Option<&str>) -> reqwest::Response {
    host.admin(Method::GET, path, key).send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_every_file_it_loads_are_served_without_a_key() {
    let host = Host::start().await;
    let page = get(&host, "/console", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy").to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );

    // Every file the page and its modules name, transitively, is served.
    assert!(html.contains("/console/app.js") && html.contains("/console/console.css"));
    let mut todo = vec!["console.css".to_string(), "app.js".to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let r = get(&host, &format!("/console/{name}"), None).await;
        assert_eq!(r.status(), 200, "{name}");
        let want = if name.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&r, "content-type"), want, "{name}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        let text = r.text().await.unwrap();
        for html_sink in [
            ".innerHTML",
            ".outerHTML",
            "insertAdjacentHTML(",
            "document.write",
        ] {
            assert!(!text.contains(html_sink), "{name}: text only, never HTML");
        }
        for import in text.split("from './").skip(1) {
            todo.push(import.split('\'').next().unwrap().to_string());
        }
    }
    assert!(seen.len() >= 8, "{seen:?}");
    for missing in ["nope.js", "..%2Fmod.rs", "mod.rs"] {
        let r = get(&host, &format!("/console/{missing}"), None).await;
        assert_eq!(r.status(), 404, "{missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_history_is_the_operators_and_counts_what_happened() {
    let host = two_tenants().await;
    let path = "/admin/metrics/history";
    let r = get(&host, path, None).await;
    assert_eq!(r.status(), 401);
    let r = get(&host, path, Some(KEY_A)).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("every tenant"), "{msg}");

    // A candidate that panics: one handover fails at its start.
    let (code, v) = host.start_canary_of("panic", "share_percent=99").await;
    assert_eq!(code, 201, "{v}");
    let mut errors = 0;
    for i in 0..20 {
        let body = crate::harness::create_body(&format!("s-{i}"));
        let r = host
            .process
            .send(
                Method::POST,
                "/v1/endpoints/ep/handovers",
                Some(KEY_A),
                Some(body.to_string().into()),
            )
            .await;
        let v = r.body;
        assert_eq!(r.status, 201, "{v}");
        if v["handover"]["status"] == "error" {
            errors += 1;
            break;
        }
    }
    assert_eq!(errors, 1, "one handover on the panicking candidate");

    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let counted = |h: &Value, f: &dyn Fn(&Value) -> u64| -> u64 {
        let mut all: Vec<&Value> = h["samples"].as_array().unwrap().iter().collect();
        all.extend(h["current"].as_object().map(|_| &h["current"]));
        all.iter().map(|s| f(s)).sum()
    };
    let history = host
        .process
        .eventually(
            "the failed handover in the history",
            Duration::from_secs(30),
            async || {
                let r = get(&host, path, Some(ADMIN_KEY)).await;
                assert_eq!(r.status(), 200);
                let h: Value = r.json().await.unwrap();
                valid(&doc, "MetricsHistory", &h);
                let errors = counted(&h, &|s| {
                    s["ended"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|e| e["status"] == "error" && e["reason"] == "error")
                        .map(|e| e["count"].as_u64().unwrap())
                        .sum()
                });
                (errors == 1).then_some(h)
            },
        )
        .await;
    assert_eq!(history["interval_s"], 10);
    assert_eq!(history["window_s"], 3600);
    let panics = counted(&history, &|s| {
        s["traps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["cause"] == "panic")
            .map(|t| t["count"].as_u64().unwrap())
            .sum()
    });
    assert_eq!(panics, 1, "{history}");
    let calls = counted(&history, &|s| s["calls"].as_u64().unwrap());
    assert!(calls >= 1, "{history}");
}

impl Host {
    async fn start_canary_of(&self, guest_name: &str, query: &str) -> (u16, Value) {
        let path = format!("/admin/endpoints/ep/canary?{query}");
        self.send(
            self.admin(Method::POST, &path, Some(ADMIN_KEY))
                .header("content-type", "application/wasm")
                .body(crate::harness::guest_bytes(guest_name)),
        )
        .await
    }
}

/// `node`, Chromium and the driver's npm packages, or why the browser test
/// cannot run (scripts/test installs them).
fn browser_tools(root: &Path) -> Result<PathBuf, String> {
    let how = "scripts/test installs them (apt-get install chromium; npm ci in tests/browser)";
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err(format!("`node` is not installed or does not run; {how}"));
    }
    let chromium = std::env::var_os("HANDOVER_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!("no Chromium at {}; {how}", chromium.display()));
    }
    let playwright = root.join("tests/browser/node_modules/playwright-core/package.json");
    if !playwright.exists() {
        return Err(format!("no {}; {how}", playwright.display()));
    }
    Ok(chromium)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_a_failing_canary_roll_back_in_headless_chromium() {
    let root = crate::template::root();
    let chromium = browser_tools(&root)
        .unwrap_or_else(|e| panic!("the console's browser test cannot run: {e}"));
    let host = two_tenants().await;
    let temp = tempfile::tempdir().unwrap();
    let shots = match std::env::var_os("HANDOVER_CONSOLE_SCREENSHOTS") {
        Some(dir) => root.join(dir),
        None => temp.path().to_path_buf(),
    };
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root.join("tests/browser/console.mjs"))
        .args(["--url", &host.process.base])
        .args(["--operator-key", ADMIN_KEY, "--tenant-key", KEY_A])
        .args(["--endpoint", "ep", "--other-endpoint", "ep-b"])
        .arg("--candidate")
        .arg(guest("panic"))
        .arg("--screenshots")
        .arg(&shots)
        .arg("--chromium")
        .arg(&chromium)
        .kill_on_drop(true);
    // The driver stops itself after 8 minutes; this is the backstop.
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("the browser test did not finish within 10 minutes")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}\n--- host log ---\n{}",
        out.status,
        host.log()
    );
    assert!(stdout.contains("console browser test: ok"), "{stdout}");
    assert!(stdout.contains("first-paint-ms: "), "{stdout}");
    let reason = stdout
        .lines()
        .find_map(|l| l.strip_prefix("rollback-reason: "))
        .unwrap_or_else(|| panic!("no rollback reason printed:\n{stdout}"));
    assert!(reason.starts_with("error outcomes:"), "{reason}");

    // What the page showed is what the host did.
    let r = get(&host, "/admin/endpoints/ep/canary", Some(ADMIN_KEY)).await;
    let state: Value = r.json().await.unwrap();
    assert!(state["canary"].is_null(), "{state}");
    assert_eq!(state["last"]["result"], "rolled_back", "{state}");
    assert_eq!(state["last"]["by"], "auto", "{state}");
    assert_eq!(
        state["last"]["reason"], reason,
        "the page showed the host's reason"
    );
    for view in [
        "login",
        "endpoints",
        "canary",
        "rollback",
        "handovers",
        "charts",
    ] {
        let png = shots.join(format!("console-{view}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
    }
}
