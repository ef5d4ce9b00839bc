//! Credentials the host adds to adapters' outgoing requests, so adapters
//! never hold secrets: a static header, HTTP Basic, or an OAuth2
//! client-credentials bearer token (fetched and cached by the host).
//!
//! A rule applies only to requests whose scheme, host and port match its
//! target (and that the egress policy already admitted); a request to any
//! other host never carries a credential. Secret values are never logged
//! and never appear in failure messages.

use super::{EgressConfig, EgressPolicy, send};
use base64::Engine as _;
use handover_core::config::{self, AuthRule, EndpointConfig};
use http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

enum Kind {
    Header(HeaderName, HeaderValue),
    OAuth {
        token_url: String,
        basic: HeaderValue,
        scope: Option<String>,
        cache: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
    },
}

struct Rule {
    target: EgressPolicy,
    kind: Kind,
}

/// An endpoint's credential rules with secrets resolved.
#[derive(Default)]
pub struct Credentials {
    rules: Vec<Rule>,
}

fn basic(user: &str, pass: &str) -> Result<HeaderValue, String> {
    let v = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    );
    HeaderValue::from_str(&v)
        .map_err(|_| "credential contains characters not allowed in a header".to_string())
}

impl Credentials {
    /// Resolve the endpoint's secrets (`env:` lookups happen here) and rules.
    pub fn from_config(ep: &EndpointConfig) -> Result<Credentials, String> {
        let secrets = resolve_secrets(&ep.secrets)?;
        let mut rules = vec![];
        for (i, r) in ep.auth.iter().enumerate() {
            rules.push(rule(r, &secrets).map_err(|e| format!("auth[{i}]: {e}"))?);
        }
        Ok(Credentials { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The header to add for a request to `uri`, if a rule targets it.
    pub async fn header_for(
        &self,
        uri: &http::Uri,
        cfg: &EgressConfig,
    ) -> Result<Option<(HeaderName, HeaderValue)>, String> {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Ok(None);
        };
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| r.target.admit("", scheme, host, uri.port_u16()).is_ok())
        else {
            return Ok(None);
        };
        match &rule.kind {
            Kind::Header(n, v) => Ok(Some((n.clone(), v.clone()))),
            Kind::OAuth {
                token_url,
                basic,
                scope,
                cache,
            } => {
                let mut cached = cache.lock().await;
                if let Some((token, until)) = cached.as_ref()
                    && Instant::now() < *until
                {
                    return Ok(Some((http::header::AUTHORIZATION, token.clone())));
                }
                let (token, ttl) = fetch_token(token_url, basic, scope.as_deref(), cfg).await?;
                let value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "the OAuth token is not a valid header value".to_string())?;
                *cached = Some((value.clone(), Instant::now() + ttl));
                Ok(Some((http::header::AUTHORIZATION, value)))
            }
        }
    }
}

pub fn resolve_secrets(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    raw.iter()
        .map(|(k, v)| {
            config::resolve_secret(v, |var| std::env::var(var).ok())
                .map(|v| (k.clone(), v))
                .map_err(|e| format!("secret `{k}`: {e}"))
        })
        .collect()
}

/// `config::expand`, its error as the message this module reports.
fn expand(template: &str, secrets: &BTreeMap<String, String>) -> Result<String, String> {
    config::expand(template, secrets).map_err(|e| e.to_string())
}

fn rule(r: &AuthRule, secrets: &BTreeMap<String, String>) -> Result<Rule, String> {
    let target = EgressPolicy::parse(&[r.target.get_ref()]).map_err(|e| e.to_string())?;
    let kind = if let Some(h) = &r.header {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("`{}` is not a valid header name", h.name))?;
        let value = HeaderValue::from_str(&expand(&h.value, secrets)?)
            .map_err(|_| "header value contains characters not allowed in a header".to_string())?;
        Kind::Header(name, value)
    } else if let Some(b) = &r.basic {
        Kind::Header(
            http::header::AUTHORIZATION,
            basic(
                &expand(&b.username, secrets)?,
                &expand(&b.password, secrets)?,
            )?,
        )
    } else if let Some(o) = &r.oauth_client_credentials {
        Kind::OAuth {
            token_url: o.token_url.clone(),
            basic: basic(
                &expand(&o.client_id, secrets)?,
                &expand(&o.client_secret, secrets)?,
            )?,
            scope: o.scope.clone(),
            cache: tokio::sync::Mutex::new(None),
        }
    } else {
        return Err("needs one of `header`, `basic`, `oauth_client_credentials`".into());
    };
    Ok(Rule { target, kind })
}

/// POST `grant_type=client_credentials` to the token URL (through the same
/// egress policy as the adapter's own requests).
async fn fetch_token(
    url: &str,
    basic: &HeaderValue,
    scope: Option<&str>,
    cfg: &EgressConfig,
) -> Result<(String, Duration), String> {
    use http_body_util::BodyExt;
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("invalid token_url `{url}`"))?;
    let target = send::admit(cfg, &uri)
        .await
        .map_err(|d| format!("token_url {d}"))?;
    let mut body = "grant_type=client_credentials".to_string();
    if let Some(s) = scope {
        body += &format!("&scope={}", s.replace(' ', "+"));
    }
    let req = http::Request::post(uri.clone())
        .header("host", uri.authority().map(|a| a.as_str()).unwrap_or(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header(http::header::AUTHORIZATION, basic.clone())
        .body(
            http_body_util::Full::new(bytes::Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| e.to_string())?;
    let (res, _) = send::send(req, target, cfg, Default::default(), None)
        .await
        .map_err(|e| format!("token request failed: {e}"))?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("token response: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("token endpoint answered HTTP {}", status.as_u16()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "token response is not JSON".to_string())?;
    let token = v["access_token"]
        .as_str()
        .ok_or("token response has no `access_token`")?
        .to_string();
    let ttl = v["expires_in"]
        .as_u64()
        .unwrap_or(300)
        .saturating_sub(30)
        .max(1);
    Ok((token, Duration::from_secs(ttl)))
}
