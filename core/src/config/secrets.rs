//! Secret templating: `{{name}}` references (`template_refs`), their
//! expansion with resolved values (`expand`) and resolving one raw secret
//! (`"literal"` or `"env:VAR"`, `resolve_secret`).
//!
//! Must never read the environment (or anything else) itself: the caller
//! passes the lookup, so core stays free of I/O and tests need no
//! `set_var`. Must never log or render a secret's value in an error.

use std::collections::BTreeMap;

/// Why a secret could not be resolved or a template not expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `env:VAR` named a variable the lookup does not know.
    #[error("environment variable `{0}` is not set")]
    UnsetVariable(String),
    /// A template referenced `{{name}}` that is not among the secrets.
    #[error("unknown secret `{0}`")]
    UnknownSecret(String),
}

/// `{{name}}` references in a template.
pub fn template_refs(t: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        out.push(after[..j].trim().to_string());
        rest = &after[j + 2..];
    }
    out
}

/// Resolve one secret value: `env:VAR` through `env` (the caller's
/// environment reader, e.g. `|v| env::var(v).ok()` in the host), else the
/// literal.
pub fn resolve_secret(
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, SecretError> {
    match raw.strip_prefix("env:") {
        Some(var) => env(var).ok_or_else(|| SecretError::UnsetVariable(var.to_string())),
        None => Ok(raw.to_string()),
    }
}

/// Expand `{{name}}` with the endpoint's resolved secrets.
pub fn expand(template: &str, secrets: &BTreeMap<String, String>) -> Result<String, SecretError> {
    let mut out = template.to_string();
    for name in template_refs(template) {
        let v = secrets
            .get(&name)
            .ok_or_else(|| SecretError::UnknownSecret(name.clone()))?;
        out = out
            .replace(&format!("{{{{{name}}}}}"), v)
            .replace(&format!("{{{{ {name} }}}}"), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_secrets_come_from_the_given_lookup() {
        let env = |v: &str| (v == "TOKEN").then(|| "t0k".to_string());
        assert_eq!(resolve_secret("env:TOKEN", env).unwrap(), "t0k");
        assert_eq!(resolve_secret("plain", env).unwrap(), "plain");
        let e = resolve_secret("env:MISSING", env).unwrap_err();
        assert_eq!(e.to_string(), "environment variable `MISSING` is not set");
    }

    #[test]
    fn templates_expand_with_and_without_spaces() {
        let mut secrets = BTreeMap::new();
        secrets.insert("tok".to_string(), "abc".to_string());
        assert_eq!(template_refs("a {{tok}} b {{ x }}"), ["tok", "x"]);
        assert_eq!(expand("Bearer {{tok}}", &secrets).unwrap(), "Bearer abc");
        assert_eq!(expand("{{ tok }}!", &secrets).unwrap(), "abc!");
        assert_eq!(
            expand("{{other}}", &secrets).unwrap_err(),
            SecretError::UnknownSecret("other".into())
        );
    }
}
