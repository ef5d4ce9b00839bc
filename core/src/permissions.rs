//! Declared permissions (contract 0.2.0) compared with what an endpoint
//! grants: the egress origins and secrets an adapter says it needs against
//! the endpoint's `egress` list and `secrets`.
//!
//! Pure: no I/O. Must never pass a need it cannot resolve: a template that
//! names a setting the endpoint does not have, or a declaration that is not
//! an origin, is reported as missing with the reason.

use crate::egress_policy::AllowEntry;
use crate::model::Permissions;
use serde_json::Value;

/// What an endpoint lacks for an adapter, and what it grants unneeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Needed egress not on the endpoint's list (each with what to add).
    pub missing_egress: Vec<String>,
    /// Needed secrets the endpoint does not define.
    pub missing_secrets: Vec<String>,
    /// Endpoint egress entries the adapter declares no need for.
    pub unneeded_egress: Vec<String>,
    /// Endpoint secrets the adapter declares no need for (secrets used
    /// only by `webhook_secret` are the host's own and not counted).
    pub unneeded_secrets: Vec<String>,
}

impl Comparison {
    /// Whether the endpoint grants everything the adapter needs.
    pub fn is_satisfied(&self) -> bool {
        self.missing_egress.is_empty() && self.missing_secrets.is_empty()
    }

    /// What the endpoint lacks, as one sentence an operator can act on.
    pub fn missing_text(&self) -> Option<String> {
        sentence(
            "the adapter declares needs the endpoint does not grant",
            &self.missing_egress,
            " (add to the endpoint's `egress`)",
            &self.missing_secrets,
            " (define them under the endpoint's `secrets`)",
        )
    }

    /// What the endpoint grants beyond the need, if anything.
    pub fn unneeded_text(&self) -> Option<String> {
        sentence(
            "the endpoint grants more than the adapter declares it needs (remove to narrow it)",
            &self.unneeded_egress,
            "",
            &self.unneeded_secrets,
            "",
        )
    }
}

/// "`lead`: egress a, b`egress_fix`; secrets `x``secrets_fix`", or `None`
/// when both lists are empty.
fn sentence(
    lead: &str,
    egress: &[String],
    egress_fix: &str,
    secrets: &[String],
    secrets_fix: &str,
) -> Option<String> {
    let mut parts = vec![];
    if !egress.is_empty() {
        parts.push(format!("egress {}{egress_fix}", egress.join(", ")));
    }
    if !secrets.is_empty() {
        let names: Vec<String> = secrets.iter().map(|s| format!("`{s}`")).collect();
        parts.push(format!("secrets {}{secrets_fix}", names.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("{lead}: {}", parts.join("; ")))
}

/// `need` resolved against the endpoint's `settings`: an origin, or why not.
fn resolve(need: &str, settings: &Value) -> Result<AllowEntry, String> {
    let origin = match need.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
        Some(field) => {
            let url = settings
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("`{need}` (the settings have no string field `{field}`)"))?;
            origin_of(url).ok_or_else(|| format!("`{need}` (`{url}` is not an http(s) URL)"))?
        }
        None => need.to_string(),
    };
    AllowEntry::parse(&origin).map_err(|e| format!("`{need}` ({e})"))
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    (!authority.is_empty()).then(|| format!("{}://{authority}", scheme.to_ascii_lowercase()))
}

/// Compare what `declared` needs with what the endpoint grants: its
/// `egress` entries, the names of its `secrets`, its `settings` (for
/// templates) and its `webhook_secret` (whose secrets are the host's).
pub fn compare(
    declared: &Permissions,
    settings: &Value,
    egress: &[String],
    secrets: &[String],
    webhook_secret: Option<&str>,
) -> Comparison {
    let granted: Vec<AllowEntry> = egress
        .iter()
        .filter_map(|e| AllowEntry::parse(e).ok())
        .collect();
    let mut c = Comparison::default();
    let mut needed: Vec<AllowEntry> = vec![];
    for need in &declared.egress {
        match resolve(need, settings) {
            Ok(origin) => {
                if !granted.iter().any(|g| g.covers(&origin)) {
                    let shown = if origin.as_str() == need {
                        format!("`{need}`")
                    } else {
                        format!("`{}` (from `{need}`)", origin.as_str())
                    };
                    c.missing_egress.push(shown);
                }
                needed.push(origin);
            }
            Err(why) => c.missing_egress.push(why),
        }
    }
    c.unneeded_egress = granted
        .iter()
        .filter(|g| !needed.iter().any(|n| g.covers(n)))
        .map(|g| format!("`{}`", g.as_str()))
        .collect();
    c.missing_secrets = declared
        .secrets
        .iter()
        .filter(|s| !secrets.contains(s))
        .cloned()
        .collect();
    let host_only = |s: &str| webhook_secret.is_some_and(|w| w.contains(&format!("{{{{{s}}}}}")));
    c.unneeded_secrets = secrets
        .iter()
        .filter(|s| !declared.secrets.contains(s) && !host_only(s))
        .cloned()
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perms(egress: &[&str], secrets: &[&str]) -> Permissions {
        Permissions {
            egress: egress.iter().map(|s| s.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn templates_resolve_to_the_settings_origin() {
        let settings = json!({"base_url": "https://acme.example.com:8443/api/v1"});
        let c = compare(
            &perms(&["{base_url}", "https://auth.example.com"], &["token"]),
            &settings,
            &strings(&["https://acme.example.com:8443", "https://*.example.com"]),
            &strings(&["token"]),
            None,
        );
        assert!(c.is_satisfied(), "{c:?}");
        assert_eq!(c.unneeded_egress, Vec::<String>::new());
        assert_eq!(c.missing_text(), None);
    }

    #[test]
    fn names_what_is_missing_and_what_is_beyond_the_need() {
        let settings = json!({"base_url": "http://127.0.0.1:9000"});
        let c = compare(
            &perms(&["{base_url}", "{region_url}"], &["api_key"]),
            &settings,
            &strings(&["https://other.example.com"]),
            &strings(&["signing", "spare"]),
            Some("{{signing}}"),
        );
        assert!(!c.is_satisfied());
        assert_eq!(
            c.missing_egress,
            [
                "`http://127.0.0.1:9000` (from `{base_url}`)",
                "`{region_url}` (the settings have no string field `region_url`)"
            ]
        );
        assert_eq!(c.missing_secrets, ["api_key"]);
        assert_eq!(c.unneeded_egress, ["`https://other.example.com`"]);
        // `signing` is the webhook secret's: the host's, not the adapter's.
        assert_eq!(c.unneeded_secrets, ["spare"]);
        let text = c.missing_text().unwrap();
        assert!(text.contains("add to the endpoint's `egress`"), "{text}");
        assert!(text.contains("`api_key`"), "{text}");
        assert!(c.unneeded_text().unwrap().contains("`spare`"));
    }

    #[test]
    fn wildcards_cover_their_subdomains_only() {
        let a = AllowEntry::parse("https://*.example.com").unwrap();
        assert!(a.covers(&AllowEntry::parse("https://x.example.com").unwrap()));
        assert!(a.covers(&AllowEntry::parse("https://*.a.example.com").unwrap()));
        assert!(!a.covers(&AllowEntry::parse("https://example.com").unwrap()));
        assert!(!a.covers(&AllowEntry::parse("http://x.example.com").unwrap()));
        let exact = AllowEntry::parse("https://x.example.com").unwrap();
        assert!(!exact.covers(&a));
    }
}
