//! `handover-host inspect FILE.wasm`: what a component is and declares.
//!
//! Read-only: compiles and calls `describe` in the sandbox with no egress;
//! never writes a cache entry or touches any endpoint. Text mode names
//! `describe`'s values as the WIT spells them and prints the settings
//! schema; `--json` gives the whole `describe` record.

use crate::runtime::{LoadError, Runtime, RuntimeConfig, inspect, sha256_hex};
use std::path::Path;

/// The text to print, or the diagnosis.
pub async fn run(path: &Path, json: bool) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let diagnose = |e: LoadError| format!("{} is not a usable adapter: {e}", path.display());
    let report = inspect::check_component(&bytes).map_err(diagnose)?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 4,
        ..Default::default()
    })
    .map_err(|e| handover_core::report::chain(&e))?;
    let adapter = runtime.load(&bytes).await.map_err(diagnose)?;
    let info = &adapter.info;
    if json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "sha256": sha256_hex(&bytes),
            "size": bytes.len(),
            "world": report.world,
            "contract": {
                "version": report.version.number(),
                "status": report.version.status(),
                "served": crate::runtime::Version::ALL.iter().map(|v| v.number()).collect::<Vec<_>>(),
            },
            "describe": info,
            "imports": report.imports,
            "exports": report.exports,
        });
        return Ok(serde_json::to_string_pretty(&v).unwrap());
    }
    let c = &info.capabilities;
    let flag = |b: bool| if b { "yes" } else { "no" };
    let mut out = String::new();
    out += &format!(
        "file:      {} ({} bytes, sha256 {})\n",
        path.display(),
        bytes.len(),
        sha256_hex(&bytes)
    );
    out += &format!(
        "world:     {} (handover-adapter), contract {}: {}\n",
        report.world,
        report.version.number(),
        report.version.status_text()
    );
    out += &format!("adapter:   {} {}\n", info.name, info.version);
    out += &format!("channels:  {}\n", info.channels.join(", "));
    out += &format!(
        "capabilities: attachments={} typing={} queue-position={} availability-check={} bot-side-close={} transcript={}\n",
        flag(c.attachments),
        flag(c.typing),
        flag(c.queue_position),
        flag(c.availability_check),
        flag(c.bot_side_close),
        flag(c.transcript)
    );
    if let Some(p) = &info.permissions {
        out += &format!(
            "  (0.2.0) hand-back={} wrap-up={} receipts={} user-typing={} rich-messages={}\n",
            flag(c.hand_back),
            flag(c.wrap_up),
            flag(c.receipts),
            flag(c.user_typing),
            flag(c.rich_messages)
        );
        let list = |v: &[String]| match v {
            [] => "none".to_string(),
            v => v.join(", "),
        };
        out += &format!(
            "needs:     egress {}; secrets {}\n",
            list(&p.egress),
            list(&p.secrets)
        );
    }
    if let Some(r) = &info.webhook_routing {
        let at = |l: &handover_core::model::Locator| match l {
            handover_core::model::Locator::Header(h) => format!("header `{h}`"),
            handover_core::model::Locator::JsonPointer(p) => format!("body `{p}`"),
        };
        out += &format!(
            "routing:   declared: key at {}{}{}, answered {} (no instance runs to route)\n",
            at(&r.correlation_key),
            if r.key_prefix.is_empty() {
                String::new()
            } else {
                format!(" prefixed `{}`", r.key_prefix)
            },
            r.delivery_id
                .as_ref()
                .map(|d| format!(", delivery id at {}", at(d)))
                .unwrap_or_default(),
            r.response.status
        );
    }
    match &info.webhook_signature {
        Some(s) => {
            out += &format!(
                "webhooks:  {} in header `{}` ({}{}), signed: {}{}{}\n",
                wit::algorithm(&s.algorithm),
                s.header,
                wit::encoding(&s.encoding),
                s.prefix
                    .as_deref()
                    .map(|p| format!(", prefix `{p}`"))
                    .unwrap_or_default(),
                wit::signed(&s.signed),
                s.timestamp_header
                    .as_deref()
                    .map(|h| format!(", timestamp header `{h}`"))
                    .unwrap_or_default(),
                s.delivery_id_header
                    .as_deref()
                    .map(|h| format!(", delivery id header `{h}`"))
                    .unwrap_or_default(),
            )
        }
        None => out += "webhooks:  none\n",
    }
    out += &format!(
        "polling:   {} (interval {} ms, max wait {} ms)\n",
        wit::poll_mode(&info.polling.mode),
        info.polling.interval_ms,
        info.polling.max_wait_ms
    );
    out += "settings schema:\n";
    let schema = serde_json::from_str::<serde_json::Value>(&info.settings_schema)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| info.settings_schema.clone());
    for line in schema.lines() {
        out += &format!("  {line}\n");
    }
    out += "imports:\n";
    for i in &report.imports {
        out += &format!("  {i}\n");
    }
    out += "exports:\n";
    for e in &report.exports {
        out += &format!("  {e}\n");
    }
    Ok(out)
}

/// The WIT spellings of `describe`'s enums (what an adapter author wrote,
/// in any language), not the host's Rust names.
mod wit {
    use handover_core::model::{PollMode, SignatureAlgorithm, SignatureEncoding, SignedContent};

    pub fn algorithm(a: &SignatureAlgorithm) -> &'static str {
        match a {
            SignatureAlgorithm::HmacSha256 => "hmac-sha256",
            SignatureAlgorithm::HmacSha1 => "hmac-sha1",
            SignatureAlgorithm::HmacSha512 => "hmac-sha512",
            SignatureAlgorithm::SharedSecret => "shared-secret",
        }
    }

    pub fn encoding(e: &SignatureEncoding) -> &'static str {
        match e {
            SignatureEncoding::Hex => "hex",
            SignatureEncoding::Base64 => "base64",
        }
    }

    pub fn signed(s: &SignedContent) -> String {
        match s {
            SignedContent::Body => "body".into(),
            SignedContent::TimestampThenBody { separator } => {
                format!("timestamp-then-body (separator {separator:?})")
            }
            SignedContent::UrlThenBody => "url-then-body".into(),
        }
    }

    pub fn poll_mode(m: &PollMode) -> &'static str {
        match m {
            PollMode::None => "none",
            PollMode::Periodic => "periodic",
            PollMode::LongPoll => "long-poll",
        }
    }
}
