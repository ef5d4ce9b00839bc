//! Static validation of a deserialized `Config`: every check that needs no
//! file, network or adapter — addresses, hashes, ids, egress entries,
//! timers, auth rules and the secrets their templates reference, limits
//! against the runtime's. Each problem is located (line, column, field).
//!
//! Must never do I/O or resolve secrets (a `{{name}}` is checked to be
//! declared, never looked up), and never stop at the first problem.

use super::errors::ConfigError;
use super::secrets::template_refs;
use super::{Config, StoreBackend};
use crate::egress_policy::AllowEntry;
use crate::limits::MAX_MEMORY_MIB;
use std::net::IpAddr;

/// The longest I/O wait a long poll may be granted.
const MAX_POLL_WAIT_S: u64 = 3600;

/// Every static problem in `cfg`, parsed from `src` (named `file`).
pub(super) fn validate(file: &str, src: &str, cfg: &Config) -> Vec<ConfigError> {
    let mut errs = vec![];
    let mut at = |span: std::ops::Range<usize>, field: String, message: String| {
        errs.push(ConfigError::at(file, src, span.start, field, message));
    };
    if cfg
        .server
        .listen
        .get_ref()
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        at(
            cfg.server.listen.span(),
            "server.listen".into(),
            format!(
                "`{}` is not an `ip:port` address",
                cfg.server.listen.get_ref()
            ),
        );
    }
    for (host, ips) in &cfg.egress.resolve {
        for ip in ips {
            if ip.get_ref().parse::<IpAddr>().is_err() {
                at(
                    ip.span(),
                    format!("egress.resolve.{host}"),
                    format!("`{}` is not an IP address", ip.get_ref()),
                );
            }
        }
    }
    if cfg.store.backend == StoreBackend::Postgres
        && cfg.store.url.as_deref().is_none_or(str::is_empty)
    {
        at(0..0, "store.url".into(), "backend \"postgres\" needs `url` (e.g. \"postgres://user@127.0.0.1:5432/handover\" or \"env:DATABASE_URL\")".into());
    }
    let m = cfg.runtime.max_memory_mib;
    if !(1..=MAX_MEMORY_MIB).contains(&m) {
        at(
            0..0,
            "runtime.max_memory_mib".into(),
            format!(
                "{m} MiB is outside 1..={MAX_MEMORY_MIB}: an adapter's linear memory is 32-bit, \
                 so no endpoint can use more than 4 GiB; use at most {MAX_MEMORY_MIB}"
            ),
        );
    }
    let w = cfg.runtime.max_poll_wait_s;
    if w > MAX_POLL_WAIT_S {
        at(
            0..0,
            "runtime.max_poll_wait_s".into(),
            format!(
                "{w} s is more than {MAX_POLL_WAIT_S} s: a long poll holds one of its tenant's call slots while it waits; use at most an hour"
            ),
        );
    }
    let s = &cfg.server;
    if s.drain_unready_ms >= s.shutdown_grace_s.saturating_mul(1000) {
        at(
            0..0,
            "server.drain_unready_ms".into(),
            format!(
                "{} ms is not less than server.shutdown_grace_s ({} s): the host would exit \
                 before it stops accepting; shorten it or raise the grace",
                s.drain_unready_ms, s.shutdown_grace_s
            ),
        );
    }
    let r = &cfg.retention;
    if r.interval_s == 0 {
        at(
            0..0,
            "retention.interval_s".into(),
            "must be at least 1 (seconds between pruning passes)".into(),
        );
    }
    if r.adapter_versions_kept != 0 && r.adapter_versions_kept < 11 {
        at(
            0..0,
            "retention.adapter_versions_kept".into(),
            format!(
                "{} is fewer than a rollback reaches (the current version and 10 before it): use at least 11, or 0 to keep every version",
                r.adapter_versions_kept
            ),
        );
    }
    if r.webhook_deliveries_s != 0
        && let Some(ep) = cfg
            .endpoints
            .iter()
            .find(|e| e.replay_window_s > r.webhook_deliveries_s)
    {
        at(
            0..0,
            "retention.webhook_deliveries_s".into(),
            format!(
                "{} s is shorter than endpoint `{}`'s replay_window_s ({} s): a replayed webhook could arrive after its delivery id was deleted; keep them at least as long",
                r.webhook_deliveries_s,
                ep.id.get_ref(),
                ep.replay_window_s
            ),
        );
    }
    let is_hash = |h: &str| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(h) = &cfg.server.admin_key_sha256
        && !is_hash(h.get_ref())
    {
        at(
            h.span(),
            "server.admin_key_sha256".into(),
            "must be 64 hex digits (`handover-host hash-key KEY` prints it)".into(),
        );
    }
    for (t, tc) in &cfg.tenants {
        for h in &tc.api_key_sha256 {
            if !is_hash(h.get_ref()) {
                at(
                    h.span(),
                    format!("tenants.{t}.api_key_sha256"),
                    "must be 64 hex digits (`handover-host hash-key KEY` prints it)".into(),
                );
            }
        }
        let q = &tc.quotas;
        if q.concurrent_calls == 0
            || q.webhooks_per_s == 0
            || q.background_in_flight == 0
            || q.cpu_ms_per_s == 0
            || q.memory_mib == 0
            || q.wall_time_ms == 0
        {
            at(
                0..0,
                format!("tenants.{t}.quotas"),
                "quotas must be greater than zero".into(),
            );
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (i, ep) in cfg.endpoints.iter().enumerate() {
        let id = ep.id.get_ref();
        let f = |name: &str| format!("endpoints[{i}].{name}");
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            at(
                ep.id.span(),
                f("id"),
                format!("`{id}` must be non-empty and use only letters, digits, `-` and `_`"),
            );
        }
        if !cfg.tenants.is_empty() && !cfg.tenants.contains_key(&ep.tenant) {
            let defined = cfg.tenants.keys().cloned().collect::<Vec<_>>().join(", ");
            at(
                ep.id.span(),
                f("tenant"),
                format!(
                    "tenant `{}` is not defined in [tenants] (defined: {defined})",
                    ep.tenant
                ),
            );
        }
        if let Some(prev) = seen.insert(id.clone(), i) {
            at(
                ep.id.span(),
                f("id"),
                format!("duplicate endpoint id `{id}` (also endpoints[{prev}])"),
            );
        }
        if ep.adapter.get_ref().is_empty() {
            at(
                ep.adapter.span(),
                f("adapter"),
                "must name a `.wasm` file".into(),
            );
        }
        if let Some(pin) = &ep.sha256 {
            let p = pin.get_ref();
            if p.len() != 64 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                at(
                    pin.span(),
                    f("sha256"),
                    format!("`{p}` is not a sha256 (64 hex digits)"),
                );
            }
        }
        for (field, list) in [
            ("egress", &ep.egress),
            ("callback_allow", &ep.callback_allow),
        ] {
            for entry in list {
                if let Err(e) = AllowEntry::parse(entry.get_ref()) {
                    at(entry.span(), f(field), e.to_string());
                }
            }
        }
        if let Some(o) = &ep.timers.no_agent_outcome
            && !matches!(o.get_ref().as_str(), "error" | "completed")
        {
            at(
                o.span(),
                f("timers.no_agent_outcome"),
                format!("`{}` must be \"error\" or \"completed\"", o.get_ref()),
            );
        }
        if let (Some(w), Some(t)) = (
            ep.timers.inactivity_warning_s,
            ep.timers.inactivity_timeout_s,
        ) && w >= t
        {
            at(
                ep.id.span(),
                f("timers.inactivity_warning_s"),
                format!("warning after {w}s must come before the timeout after {t}s"),
            );
        }
        for (j, rule) in ep.auth.iter().enumerate() {
            let field = f(&format!("auth[{j}]"));
            if let Err(e) = AllowEntry::parse(rule.target.get_ref()) {
                at(rule.target.span(), format!("{field}.target"), e.to_string());
            }
            let kinds = [
                rule.header.is_some(),
                rule.basic.is_some(),
                rule.oauth_client_credentials.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                at(
                    rule.target.span(),
                    field.clone(),
                    "needs exactly one of `header`, `basic`, `oauth_client_credentials`".into(),
                );
            }
            let mut templates: Vec<&str> = vec![];
            if let Some(h) = &rule.header {
                templates.push(&h.value);
            }
            if let Some(b) = &rule.basic {
                templates.extend([b.username.as_str(), b.password.as_str()]);
            }
            if let Some(o) = &rule.oauth_client_credentials {
                templates.extend([o.client_id.as_str(), o.client_secret.as_str()]);
                if !(o.token_url.starts_with("http://") || o.token_url.starts_with("https://")) {
                    at(
                        rule.target.span(),
                        format!("{field}.oauth_client_credentials.token_url"),
                        "must be an http(s) URL".into(),
                    );
                }
            }
            for t in templates {
                for name in template_refs(t) {
                    if !ep.secrets.contains_key(&name) {
                        at(
                            rule.target.span(),
                            field.clone(),
                            format!("references `{{{{{name}}}}}`, which is not in `secrets`"),
                        );
                    }
                }
            }
        }
        if let Some(w) = &ep.webhook_secret {
            for name in template_refs(w) {
                if !ep.secrets.contains_key(&name) {
                    at(
                        ep.id.span(),
                        f("webhook_secret"),
                        format!("references `{{{{{name}}}}}`, which is not in `secrets`"),
                    );
                }
            }
        }
        if let Some(m) = ep.limits.memory_mib
            && m > cfg.runtime.max_memory_mib
        {
            at(
                ep.id.span(),
                f("limits.memory_mib"),
                format!(
                    "{m} MiB exceeds runtime.max_memory_mib = {}",
                    cfg.runtime.max_memory_mib
                ),
            );
        }
        if ep.limits.fuel.is_some() && !cfg.runtime.fuel {
            at(
                ep.id.span(),
                f("limits.fuel"),
                "fuel limits need `runtime.fuel = true`".into(),
            );
        }
    }
    errs
}
