//! A minimal Matrix client-server API client for the driver's accounts
//! (the bot whose token the host holds, and the agent the driver plays).

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Percent-encodes one URL path segment or query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A registered user and its access token.
pub struct Account {
    pub user_id: String,
    pub token: String,
    base: String,
    http: reqwest::Client,
    txn: AtomicU64,
}

impl Account {
    /// Registers `username` with open registration (`m.login.dummy`).
    pub async fn register(base: &str, username: &str) -> anyhow::Result<Account> {
        let http = reqwest::Client::new();
        let password = format!("pw-{username}-{}", std::process::id());
        let body = json!({
            "username": username,
            "password": password,
            "auth": {"type": "m.login.dummy"},
            "initial_device_display_name": "provider-simulators",
        });
        let url = format!("{base}/_matrix/client/v3/register");
        let r = http.post(&url).json(&body).send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("registering {username} failed: HTTP {status}: {v}");
        }
        Ok(Account {
            user_id: v["user_id"].as_str().context("no user_id")?.to_string(),
            token: v["access_token"]
                .as_str()
                .context("no access_token")?
                .to_string(),
            base: base.to_string(),
            http,
            txn: AtomicU64::new(0),
        })
    }

    /// One authenticated call to `/_matrix/client/v3{path}`; returns the
    /// status and the JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/_matrix/client/v3{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    /// Like [`call`](Self::call) but fails on a non-2xx answer.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, v) = self.call(method, path, body).await;
        if !(200..300).contains(&status) {
            bail!("{} {method} {path}: HTTP {status}: {v}", self.user_id);
        }
        Ok(v)
    }

    /// Sends an `m.room.message` with a fresh transaction id.
    pub async fn send(&self, room: &str, content: Value) -> anyhow::Result<String> {
        let txn = self.txn.fetch_add(1, Ordering::SeqCst);
        let path = format!("/rooms/{}/send/m.room.message/sim-{txn}", enc(room));
        let v = self.ok("PUT", &path, Some(content)).await?;
        Ok(v["event_id"].as_str().unwrap_or_default().to_string())
    }

    /// The room's `m.room.message` events, oldest first (up to 1000).
    pub async fn messages(&self, room: &str) -> anyhow::Result<Vec<Value>> {
        let filter = enc(&json!({"types": ["m.room.message"]}).to_string());
        let path = format!(
            "/rooms/{}/messages?dir=f&limit=1000&filter={filter}",
            enc(room)
        );
        let v = self.ok("GET", &path, None).await?;
        Ok(v["chunk"].as_array().cloned().unwrap_or_default())
    }

    /// The rooms the user is joined to.
    pub async fn joined_rooms(&self) -> anyhow::Result<Vec<String>> {
        let v = self.ok("GET", "/joined_rooms", None).await?;
        Ok(v["joined_rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .collect())
    }
}
