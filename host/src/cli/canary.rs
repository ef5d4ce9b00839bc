//! `handover-host canary start|status|promote|abort` and `handover-host
//! replay`: the rollout admin API from the command line, against a running
//! host.
//!
//! The key comes from the environment (`HANDOVER_ADMIN_KEY`), never from
//! an argument (arguments are visible to every user in `ps`). Plain HTTP
//! only (the host serves plain HTTP; put TLS in front and use the admin API
//! directly, e.g. with curl, when it is remote). Never retries a start: a
//! refused candidate's diagnosis is printed as the host gave it.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::fmt::Write;

/// Where and as whom.
pub struct Target {
    /// `http://host:port`.
    pub url: String,
    pub endpoint: String,
    pub key: String,
}

/// The policy flags of `canary start` (`None`: the host's default).
#[derive(Default)]
pub struct Policy {
    pub share_percent: Option<f64>,
    pub min_sample: Option<u32>,
    pub margin_percent: Option<f64>,
    pub promote_after_handovers: Option<u32>,
    pub promote_after_seconds: Option<u64>,
}

impl Policy {
    fn query(&self) -> String {
        let mut q = vec![];
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                q.push(format!("{k}={v}"));
            }
        };
        put("share_percent", self.share_percent.map(|v| v.to_string()));
        put("min_sample", self.min_sample.map(|v| v.to_string()));
        put("margin_percent", self.margin_percent.map(|v| v.to_string()));
        put(
            "promote_after_handovers",
            self.promote_after_handovers.map(|v| v.to_string()),
        );
        put(
            "promote_after_seconds",
            self.promote_after_seconds.map(|v| v.to_string()),
        );
        q.join("&")
    }
}

/// The key from `HANDOVER_ADMIN_KEY`.
pub fn key_from_env() -> Result<String, String> {
    match std::env::var("HANDOVER_ADMIN_KEY") {
        Ok(k) if !k.is_empty() => Ok(k),
        _ => Err(
            "set HANDOVER_ADMIN_KEY to the operator key or the endpoint's tenant key \
                  (it is not taken as an argument: arguments are visible in `ps`)"
                .into(),
        ),
    }
}

pub async fn start(t: &Target, policy: &Policy, file: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let path = format!("/admin/endpoints/{}/canary?{}", t.endpoint, policy.query());
    let v = call(t, "POST", &path, bytes).await?;
    let mut out = String::from("canary started\n");
    out.push_str(&figures(&v["canary"], &t.endpoint));
    Ok(out)
}

pub async fn status(t: &Target) -> Result<String, String> {
    let v = call(
        t,
        "GET",
        &format!("/admin/endpoints/{}/canary", t.endpoint),
        vec![],
    )
    .await?;
    let mut out = String::new();
    if v["canary"].is_object() {
        out.push_str(&figures(&v["canary"], &t.endpoint));
    } else {
        let _ = writeln!(out, "no canary is running on `{}`", t.endpoint);
    }
    if let Some(last) = v["last"].as_object() {
        let _ = writeln!(
            out,
            "last canary: {} by {}: {}",
            last["result"].as_str().unwrap_or("?"),
            last["by"].as_str().unwrap_or("?"),
            last["reason"].as_str().unwrap_or("")
        );
    }
    Ok(out)
}

pub async fn act(t: &Target, action: &str) -> Result<String, String> {
    let path = format!("/admin/endpoints/{}/canary/{action}", t.endpoint);
    let v = call(t, "POST", &path, vec![]).await?;
    let c = &v["current"];
    let sha = c["sha256"].as_str().unwrap_or("?");
    Ok(format!(
        "canary {}: `{}` is served by {}@{} ({})",
        if action == "promote" {
            "promoted"
        } else {
            "aborted"
        },
        t.endpoint,
        c["name"].as_str().unwrap_or("?"),
        c["version"].as_str().unwrap_or("?"),
        &sha[..sha.len().min(12)]
    ))
}

/// Replay `file` against the endpoint's newest `last` recorded handovers:
/// the differences, then the summary; an error (exit 1) when anything
/// differs beyond `allow`.
pub async fn replay(
    t: &Target,
    file: &std::path::Path,
    last: u32,
    allow: &[String],
) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut path = format!("/admin/endpoints/{}/replay?last={last}", t.endpoint);
    if !allow.is_empty() {
        path.push_str(&format!("&allow={}", allow.join(",")));
    }
    let v = call(t, "POST", &path, bytes).await?;
    let mut out = String::new();
    for h in v["handovers"].as_array().into_iter().flatten() {
        if h["result"] == "same" {
            continue;
        }
        let _ = writeln!(
            out,
            "handover {}: {}",
            h["handover_id"].as_str().unwrap_or("?"),
            h["result"].as_str().unwrap_or("?")
        );
        for d in h["differences"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {}", d.as_str().unwrap_or(""));
        }
    }
    let s = &v["summary"];
    let _ = write!(
        out,
        "{} handovers replayed: {} same, {} allowed, {} different, {} failed",
        s["handovers"], s["same"], s["allowed"], s["different"], s["failed"]
    );
    if s["different"] == 0 && s["failed"] == 0 {
        Ok(out)
    } else {
        Err(out)
    }
}

/// Both versions side by side.
fn figures(c: &Value, endpoint: &str) -> String {
    let p = &c["policy"];
    let mut out = format!(
        "canary {} on `{endpoint}`: {}% of new handovers; rolls back past {} points of \
         regression after {} handovers, promotes after {}\n",
        c["id"].as_str().unwrap_or("?"),
        p["share_percent"].as_f64().unwrap_or(0.0),
        p["margin_percent"].as_f64().unwrap_or(0.0),
        p["min_sample"],
        p["promote_after_handovers"],
    );
    let (s, k) = (&c["stable"], &c["candidate"]);
    let name = |a: &Value| {
        format!(
            "{}@{}",
            a["version"]["name"].as_str().unwrap_or("?"),
            a["version"]["version"].as_str().unwrap_or("?")
        )
    };
    let row = |out: &mut String, label: &str, f: &dyn Fn(&Value) -> String| {
        let _ = writeln!(out, "  {label:<20} {:<26} {}", f(s), f(k));
    };
    row(&mut out, "", &|a| name(a));
    let n = |key: &'static str| move |a: &Value| a[key].to_string();
    row(&mut out, "handovers started", &n("handovers_started"));
    row(&mut out, "handovers ended", &n("handovers_ended"));
    row(&mut out, "error outcomes", &|a| {
        format!("{:.1}%", a["error_outcome_percent"].as_f64().unwrap_or(0.0))
    });
    row(&mut out, "calls", &n("calls"));
    row(&mut out, "traps / limit hits", &|a| {
        format!("{} / {}", a["traps"], a["limit_hits"])
    });
    row(&mut out, "denied egress", &n("egress_denied"));
    row(&mut out, "trap rate", &|a| {
        format!("{:.1}%", a["trap_percent"].as_f64().unwrap_or(0.0))
    });
    row(&mut out, "call p50 / p99 (µs)", &|a| {
        format!("{} / {}", a["call_p50_us"], a["call_p99_us"])
    });
    row(&mut out, "outcomes", &|a| {
        let o = a["outcomes"].as_object().cloned().unwrap_or_default();
        let parts: Vec<String> = o.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(", ")
        }
    });
    out
}

/// One admin API request; the JSON answer, or the API's error message.
async fn call(t: &Target, method: &str, path: &str, body: Vec<u8>) -> Result<Value, String> {
    let uri: hyper::Uri = format!("{}{path}", t.url.trim_end_matches('/'))
        .parse()
        .map_err(|e| format!("--url {}: {e}", t.url))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "--url {}: only http:// is supported (the host serves plain HTTP)",
            t.url
        ));
    }
    let host = uri.host().unwrap_or("127.0.0.1").to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", t.url))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{}: {e}", t.url))?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", format!("{host}:{port}"))
        .header("authorization", format!("Bearer {}", t.key))
        .header("content-type", "application/wasm")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{}: {e}", t.url))?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(v)
    } else {
        let msg = v["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(format!(
            "{} {}: {msg}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ))
    }
}
